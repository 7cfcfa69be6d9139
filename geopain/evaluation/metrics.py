"""Metrics the pain literature reports, with their spread over folds.

Classification (binary, ``positive=1``): accuracy, balanced accuracy, sensitivity (recall
of pain), specificity (recall of no pain), PPV (precision), NPV, F1, ROC AUC (from
probabilities), confusion matrix. Multi-class / ordinal (five levels): accuracy, balanced
accuracy, macro F1, mean absolute level error (``mae_level``: mean |predicted - true|
level, the ordinal error), one-vs-rest macro AUC when probabilities are given, confusion
matrix. Scores: MAE, MSE, RMSE, Pearson r and ICC.

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


def binary_metrics(y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None = None) -> dict[str, Any]:
    """Binary metrics; ``proba`` is ``P(pain)`` ``(S,)`` or ``(S, 2)``."""
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
        "confusion_matrix": cm.tolist(),
    }
    if proba is not None:
        pr = np.asarray(proba, dtype=np.float64)
        out["roc_auc"] = roc_auc(t, pr[:, 1] if pr.ndim == 2 else pr)
    return out


def multiclass_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int,
                       proba: np.ndarray | None = None) -> dict[str, Any]:
    """Ordinal / multi-class metrics: accuracy, balanced accuracy (mean recall of the
    classes present), macro F1, mean absolute level error, macro one-vs-rest AUC."""
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
        "roc_auc": float("nan"),
        "recall_per_class": recall.tolist(),
        "precision_per_class": prec.tolist(),
        "confusion_matrix": cm.tolist(),
    }
    if proba is not None:
        pr = np.asarray(proba, dtype=np.float64)
        aucs = [roc_auc(t == k, pr[:, k]) for k in range(n_classes) if present[k]]
        aucs = [a for a in aucs if np.isfinite(a)]
        out["roc_auc"] = float(np.mean(aucs)) if aucs else float("nan")
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
    """The metrics of ``task`` (``binary``, ``five`` or ``score``)."""
    if task == "binary":
        return binary_metrics(y_true, y_pred, proba)
    if task == "five":
        return multiclass_metrics(y_true, y_pred, n_classes, proba)
    if task == "score":
        return regression_metrics(y_true, y_pred)
    raise ValueError(f"unknown task {task!r}")


#: Scalar metrics shown first in tables, per task.
HEADLINE = {
    "binary": ["accuracy", "balanced_accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "roc_auc"],
    "five": ["accuracy", "balanced_accuracy", "mae_level", "f1_macro", "roc_auc"],
    "score": ["mae", "mse", "rmse", "pearson_r", "icc", "icc_agreement"],
}


def aggregate(per_fold: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean, standard deviation (ddof=1), min, max and count of defined folds for every
    scalar metric over folds (NaN folds are left out and counted in ``n_defined``)."""
    folds = list(per_fold)
    keys = [k for k in (folds[0] if folds else {}) if isinstance(folds[0][k], (int, float)) and k != "n"]
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
