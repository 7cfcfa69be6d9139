"""Metrics the pain literature reports, with their spread over folds.

Classification (binary, ``positive=1``): accuracy, balanced accuracy, sensitivity (recall
of pain), specificity (recall of no pain), PPV (precision), NPV, F1, ROC AUC (from
probabilities), confusion matrix. Multi-class / ordinal (five levels): accuracy, balanced
accuracy, macro F1, mean absolute level error (``mae_level``: mean |predicted - true|
level, the ordinal error), recall of every level (``recall_per_level``, NaN for a level
absent from the truth), quadratic weighted Cohen's kappa (``qwk``, the usual ordinal
agreement score), unweighted Cohen's kappa (``kappa``), one-vs-rest macro AUC and the
expected calibration error (``ece``, top-class confidence) when probabilities are given,
confusion matrix. Binary metrics also carry ``kappa`` and ``ece`` (calibration of
``P(pain)``). Scores: MAE, MSE, RMSE, Pearson r and ICC.

Calibration: :func:`expected_calibration_error` and :func:`reliability_curve` bin the
predicted probability into ``n_bins`` equal-width bins on [0, 1] and compare, per bin, the
mean predicted probability with the observed frequency. Binary (``proba`` of shape
``(S,)`` or ``(S, 2)``): the positive-class probability against the fraction of positives.
Multi-class (``(S, K)``, ``K > 2``): the top-class confidence against the accuracy.

ICC: ``icc`` is ICC(3,1) (two-way mixed, consistency, single rater; Shrout & Fleiss
1979), the form usually reported between predicted and observed PSPI; ``icc_agreement``
is ICC(2,1) (two-way random, absolute agreement), which also penalises a constant bias.
Both treat the truth and the prediction as two raters of the same frames.

Undefined values (e.g. sensitivity on a fold without pain frames, AUC with one class)
are NaN, never a made-up number; :func:`aggregate` averages with ``nanmean`` and reports
how many folds were defined.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

from ..errors import ShapeError
from ..tasks import canonical_task


def _div(a: float, b: float) -> float:
    return float(a) / float(b) if b else float("nan")


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` counts, rows = true class, columns = predicted class."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    if t.shape != p.shape:
        raise ShapeError(f"y_true {t.shape} and y_pred {p.shape} differ in shape")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Binary ROC AUC (Mann-Whitney, ties counted half); NaN with one class."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _finite_float(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v if np.isfinite(v) else float("nan")


def cohen_kappa(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, weights: str | None = None) -> float:
    """Cohen's kappa of truth and prediction over the labels ``0 .. n_classes - 1``.

    Computed by :func:`sklearn.metrics.cohen_kappa_score` with ``labels=range(n_classes)``
    and ``weights`` (``None``: unweighted; ``"quadratic"``: quadratic weighted kappa, QWK;
    ``"linear"``). NaN (never an exception) for empty input or when kappa is undefined,
    e.g. truth and prediction both a single class (no chance agreement to correct).
    """
    t = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(y_pred, dtype=np.int64).ravel()
    if t.shape != p.shape:
        raise ShapeError(f"y_true {t.shape} and y_pred {p.shape} differ in shape")
    if t.size == 0:
        return float("nan")
    import warnings

    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        try:
            k = cohen_kappa_score(t, p, labels=list(range(n_classes)), weights=weights)
        except (ValueError, ZeroDivisionError):
            return float("nan")
    return _finite_float(k)


def _calibration_inputs(y_true: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """``(confidence, outcome, mode)``: positive-class probability vs is-positive (binary)
    or top-class confidence vs is-correct (multi-class); rows with a non-finite value dropped."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    pr = np.asarray(proba, dtype=np.float64)
    if pr.ndim == 2 and pr.shape[1] == 1:
        pr = pr[:, 0]
    if pr.ndim == 1 or pr.shape[1] == 2:
        conf = pr if pr.ndim == 1 else pr[:, 1]
        if conf.shape[0] != y.shape[0]:
            raise ShapeError(f"y_true {y.shape} and proba {pr.shape} differ in length")
        ok = np.isfinite(conf) & np.isfinite(y)
        return conf[ok], (y[ok] == 1).astype(np.float64), "positive"
    if pr.ndim != 2 or pr.shape[0] != y.shape[0]:
        raise ShapeError(f"y_true {y.shape} and proba {pr.shape} do not match")
    ok = np.isfinite(pr).all(1) & np.isfinite(y)
    pr, y = pr[ok], y[ok]
    return pr.max(1) if len(pr) else np.zeros(0), (pr.argmax(1) == y).astype(np.float64), "top-class"


def reliability_curve(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> dict[str, Any]:
    """Per-bin calibration of predicted probabilities (see the module docstring).

    Returns ``{"bin_edges": (n_bins + 1,), "predicted": (n_bins,) mean predicted
    probability / confidence, "observed": (n_bins,) fraction of positives / accuracy,
    "count": (n_bins,) samples per bin, "ece": float, "mode": "positive" | "top-class",
    "n": int}``; empty bins have NaN ``predicted`` and ``observed``. Bins are
    ``[i / n_bins, (i + 1) / n_bins)``, the last one closed.
    """
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    n_bins = int(n_bins)
    conf, outcome, mode = _calibration_inputs(y_true, proba)
    conf = np.clip(conf, 0.0, 1.0)
    idx = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        predicted = np.bincount(idx, conf, minlength=n_bins) / count
        observed = np.bincount(idx, outcome, minlength=n_bins) / count
    predicted[count == 0] = np.nan
    observed[count == 0] = np.nan
    n = int(count.sum())
    filled = count > 0
    ece = float(np.sum(count[filled] / n * np.abs(observed[filled] - predicted[filled]))) if n else float("nan")
    return {"bin_edges": np.linspace(0.0, 1.0, n_bins + 1), "predicted": predicted, "observed": observed,
            "count": count, "ece": ece, "mode": mode, "n": n}


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error: ``sum_b (n_b / N) |observed_b - predicted_b|`` over
    ``n_bins`` equal-width bins. Binary (``proba`` ``(S,)`` = ``P(positive)`` or ``(S, 2)``):
    positive-class probability vs fraction of positives; multi-class ``(S, K>2)``: top-class
    confidence vs accuracy. 0 = perfectly calibrated; NaN for empty input."""
    return reliability_curve(y_true, proba, n_bins)["ece"]


def binary_metrics(y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None = None) -> dict[str, Any]:
    """Binary metrics; ``proba`` is ``P(pain)`` ``(S,)`` or ``(S, 2)``.

    Keys: ``n``, ``accuracy``, ``balanced_accuracy``, ``sensitivity``, ``specificity``,
    ``ppv``, ``npv``, ``f1``, ``roc_auc`` and ``ece`` (NaN without ``proba``), ``kappa``
    (unweighted Cohen's kappa) and ``confusion_matrix`` (nested list, rows = truth).
    """
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    cm = confusion_matrix(t, p, 2)
    tn, fp, fn, tp = cm.ravel()
    sens, spec = _div(tp, tp + fn), _div(tn, tn + fp)
    ppv, npv = _div(tp, tp + fp), _div(tn, tn + fn)
    out: dict[str, Any] = {
        "n": int(len(t)),
        "accuracy": _div(tp + tn, len(t)),
        "balanced_accuracy": float(np.nanmean([sens, spec])) if np.isfinite([sens, spec]).any() else float("nan"),
        "sensitivity": sens, "specificity": spec, "ppv": ppv, "npv": npv,
        "f1": _div(2 * tp, 2 * tp + fp + fn),
        "roc_auc": float("nan"),
        "kappa": cohen_kappa(t, p, 2),
        "ece": float("nan"),
        "confusion_matrix": cm.tolist(),
    }
    if proba is not None:
        pr = np.asarray(proba, dtype=np.float64)
        out["roc_auc"] = roc_auc(t, pr[:, 1] if pr.ndim == 2 else pr)
        out["ece"] = expected_calibration_error(t, pr)
    return out


def multiclass_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int,
                       proba: np.ndarray | None = None) -> dict[str, Any]:
    """Ordinal / multi-class metrics: accuracy, balanced accuracy (mean recall of the
    classes present), macro F1, mean absolute level error, macro one-vs-rest AUC.

    Keys: ``n``, ``accuracy``, ``balanced_accuracy``, ``f1_macro``, ``mae_level`` (mean
    |predicted - true| level), ``qwk`` (quadratic weighted Cohen's kappa,
    ``sklearn.metrics.cohen_kappa_score(weights="quadratic", labels=range(n_classes))``),
    ``kappa`` (unweighted Cohen's kappa), ``roc_auc`` and ``ece`` (top-class confidence;
    both NaN without ``proba``), ``recall_per_class`` / ``recall_per_level`` (the same list,
    NaN for a level absent from the truth), ``precision_per_class`` and
    ``confusion_matrix`` (nested list, rows = true level, columns = predicted level).
    """
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    cm = confusion_matrix(t, p, n_classes)
    support = cm.sum(1)
    recall = np.array([_div(cm[k, k], support[k]) for k in range(n_classes)])
    prec = np.array([_div(cm[k, k], cm[:, k].sum()) for k in range(n_classes)])
    f1 = np.array([_div(2 * cm[k, k], support[k] + cm[:, k].sum()) for k in range(n_classes)])
    present = support > 0
    out: dict[str, Any] = {
        "n": int(len(t)),
        "accuracy": _div(np.trace(cm), len(t)),
        "balanced_accuracy": float(np.mean(recall[present])) if present.any() else float("nan"),
        "f1_macro": float(np.mean(np.nan_to_num(f1[present]))) if present.any() else float("nan"),
        "mae_level": float(np.mean(np.abs(t - p))) if len(t) else float("nan"),
        "qwk": cohen_kappa(t, p, n_classes, weights="quadratic"),
        "kappa": cohen_kappa(t, p, n_classes),
        "roc_auc": float("nan"),
        "ece": float("nan"),
        "recall_per_class": recall.tolist(),
        "recall_per_level": recall.tolist(),
        "precision_per_class": prec.tolist(),
        "confusion_matrix": cm.tolist(),
    }
    if proba is not None:
        pr = np.asarray(proba, dtype=np.float64)
        aucs = [roc_auc(t == k, pr[:, k]) for k in range(n_classes) if present[k]]
        aucs = [a for a in aucs if np.isfinite(a)]
        out["roc_auc"] = float(np.mean(aucs)) if aucs else float("nan")
        out["ece"] = expected_calibration_error(t, pr) if pr.ndim == 2 and pr.shape[1] > 2 else float("nan")
    return out


def pearson_r(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def icc(y_true: np.ndarray, y_pred: np.ndarray, kind: str = "3,1") -> float:
    """Intraclass correlation of truth and prediction as two raters (Shrout & Fleiss).

    ``kind="3,1"``: consistency, ``(MSR - MSE) / (MSR + MSE)``; ``"2,1"``: absolute
    agreement, ``(MSR - MSE) / (MSR + MSE + 2 (MSC - MSE) / n)``.
    """
    Y = np.stack([np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)], 1)  # (n, k=2)
    n, k = Y.shape
    if n < 2:
        return float("nan")
    grand = Y.mean()
    ss_rows = k * ((Y.mean(1) - grand) ** 2).sum()
    ss_cols = n * ((Y.mean(0) - grand) ** 2).sum()
    ss_err = ((Y - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc, mse = ss_rows / (n - 1), ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))
    if kind == "3,1":
        den = msr + (k - 1) * mse
    elif kind == "2,1":
        den = msr + (k - 1) * mse + k * (msc - mse) / n
    else:
        raise ValueError(f"ICC kind must be '3,1' or '2,1', got {kind!r}")
    return float((msr - mse) / den) if den > 0 else float("nan")


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """MAE, MSE, RMSE, Pearson r, ICC(3,1) (``icc``) and ICC(2,1) (``icc_agreement``)."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise ShapeError(f"y_true {t.shape} and y_pred {p.shape} differ in shape")
    err = p - t
    mse = float(np.mean(err**2)) if len(t) else float("nan")
    return {
        "n": int(len(t)),
        "mae": float(np.mean(np.abs(err))) if len(t) else float("nan"),
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "pearson_r": pearson_r(t, p),
        "icc": icc(t, p, "3,1"),
        "icc_agreement": icc(t, p, "2,1"),
    }


def task_metrics(task: str, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None = None,
                 n_classes: int = 2) -> dict[str, Any]:
    """The metrics of ``task`` (``binary``, ``levels`` or ``score``)."""
    task = canonical_task(task)
    if task == "binary":
        return binary_metrics(y_true, y_pred, proba)
    if task == "levels":
        return multiclass_metrics(y_true, y_pred, n_classes, proba)
    if task == "score":
        return regression_metrics(y_true, y_pred)
    raise ValueError(f"unknown task {task!r}")


#: Scalar metrics shown first in tables, per task.
HEADLINE = {
    "binary": ["accuracy", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "roc_auc"],
    "levels": ["accuracy", "balanced_accuracy", "mae_level", "qwk", "f1_macro", "roc_auc"],
    "score": ["mae", "mse", "rmse", "pearson_r", "icc", "icc_agreement"],
}


def aggregate(per_fold: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean, standard deviation (ddof=1), min, max and count of defined folds for every
    scalar metric over folds (NaN folds are left out and counted in ``n_defined``).
    Non-scalar entries (confusion matrices, per-level lists, fold names) are skipped."""
    folds = list(per_fold)
    keys = [k for k in (folds[0] if folds else {})
            if isinstance(folds[0][k], (int, float, np.integer, np.floating)) and not isinstance(folds[0][k], bool)
            and k != "n"]
    out = {}
    for k in keys:
        v = np.array([f.get(k, np.nan) for f in folds], dtype=np.float64)
        ok = v[np.isfinite(v)]
        out[k] = {
            "mean": float(ok.mean()) if ok.size else float("nan"),
            "std": float(ok.std(ddof=1)) if ok.size > 1 else float("nan"),
            "min": float(ok.min()) if ok.size else float("nan"),
            "max": float(ok.max()) if ok.size else float("nan"),
            "n_defined": int(ok.size),
        }
    return out
