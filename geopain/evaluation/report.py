"""Write evaluation results: ``results.json``, a paper-ready table (Markdown + CSV) and plots.

The table has one row per model and level (frame / sequence) and one column per headline
metric, written ``mean ± sd`` over folds followed by the pooled value in brackets, e.g.
``0.712 ± 0.081 [0.705]``; column headers are words from :data:`METRIC_LABELS`
("balanced accuracy", "ROC AUC", "mean abs. level error", "quadratic weighted kappa").

Plots, written to be read by a clinician (class names on the axes, counts in the cells,
labelled axes and reference lines):

- ``metric_by_model.png``: the main metric per model, frames and sequences (mean ± sd
  over folds), with a dashed chance line (0.5 balanced accuracy for pain / no pain,
  1/n for n levels);
- ``confusion_matrices.png`` (classification): pooled held-out confusion matrix per
  model, rows "true", columns "predicted", class names on the ticks, counts and row
  percentages in the cells; ``scatter.png`` (scores): predicted vs true score;
- ``roc_curves.png`` (binary, needs predictions): pooled ROC curve per model with the
  chance diagonal;
- ``reliability.png`` (classification, needs predictions): reliability diagram per
  model (predicted probability vs observed frequency, the "perfect calibration"
  diagonal, ECE in the title; top-class confidence for five levels).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..jsonio import write_json
from ..species import DEFAULT_LEVELS
from ..tasks import canonical_task
from .metrics import HEADLINE, reliability_curve, roc_auc

#: Metric key -> words for table headers, axis labels and sentences (reuse it elsewhere).
METRIC_LABELS: dict[str, str] = {
    "accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "sensitivity": "sensitivity",
    "specificity": "specificity", "ppv": "PPV (precision)", "npv": "NPV", "f1": "F1", "roc_auc": "ROC AUC",
    "mae_level": "mean abs. level error", "f1_macro": "macro F1", "qwk": "quadratic weighted kappa",
    "kappa": "Cohen's kappa", "ece": "expected calibration error", "mae": "mean abs. error",
    "mse": "mean squared error", "rmse": "root mean squared error", "pearson_r": "Pearson r",
    "icc": "ICC(3,1) consistency", "icc_agreement": "ICC(2,1) agreement",
}
#: Task key -> words for plot titles.
TASK_WORDS = {"binary": "pain vs no pain", "levels": "levels of the pain scale", "score": "pain score"}
#: Former name of :data:`METRIC_LABELS`.
LABELS = METRIC_LABELS


def _task(results: Mapping[str, Any]) -> str:
    """The results' task by its current name (results saved with ``"five"`` read as ``"levels"``)."""
    return canonical_task(results["task"], warn=False)


def default_class_names(n_classes: int, level_names: Sequence[str] | None = None) -> list[str]:
    """Class names for plots: ``["no pain", "pain"]`` for two classes, otherwise
    ``"level 0" .. "level n-1"`` (with the scale's level name in brackets when given,
    e.g. ``"level 1 (trace)"``)."""
    if n_classes == 2:
        return ["no pain", "pain"]
    names = list(level_names or [])
    if len(names) != n_classes:
        names = []
    return [f"level {k}" + (f" ({names[k]})" if names and names[k] else "") for k in range(n_classes)]


def _class_names(results: Mapping[str, Any], n_classes: int, class_names: Sequence[str] | None) -> list[str]:
    if class_names is not None:
        names = [str(c) for c in class_names]
        if len(names) != n_classes:
            raise ValueError(f"{len(names)} class names for {n_classes} classes")
        return names
    scale = results.get("scale") or {}
    return default_class_names(n_classes, scale.get("level_names") if _task(results) == "levels" else None)


def _n_classes(results: Mapping[str, Any]) -> int:
    if _task(results) == "binary":
        return 2
    scale = results.get("scale") or {}
    return int(scale.get("n_levels") or DEFAULT_LEVELS)


def _fmt(x: Any) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.3f}"


def results_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """Long table: model, level, metric, mean, std, n_defined, pooled."""
    rows = []
    for name, entry in results["models"].items():
        for level in ("frame", "sequence"):
            block = entry.get(level) or {}
            summary, pooled = block.get("summary") or {}, block.get("pooled") or {}
            for metric in HEADLINE[_task(results)]:
                s = summary.get(metric, {})
                rows.append({"model": name, "level": level, "metric": metric, "mean": s.get("mean", np.nan),
                             "std": s.get("std", np.nan), "n_defined": s.get("n_defined", 0),
                             "pooled": pooled.get(metric, np.nan)})
    return pd.DataFrame(rows)


def markdown_table(results: Mapping[str, Any]) -> str:
    """A Markdown table users can paste into a paper, with a caption line."""
    task = _task(results)
    metrics = HEADLINE[task]
    long = results_table(results)
    head = "| model | level | " + " | ".join(METRIC_LABELS.get(m, m) for m in metrics) + " |"
    lines = [head, "|" + "---|" * (len(metrics) + 2)]
    for (name, level), g in long.groupby(["model", "level"], sort=False):
        cells = []
        for m in metrics:
            r = g[g["metric"] == m].iloc[0]
            sd = "" if not np.isfinite(r["std"]) else f" ± {r['std']:.3f}"
            cells.append(f"{_fmt(r['mean'])}{sd} [{_fmt(r['pooled'])}]")
        lines.append(f"| {name} | {level} | " + " | ".join(cells) + " |")
    scale = results.get("scale") or {}
    caption = (f"Table: {results['species']} ({results['scheme']}), task {task}"
               f"{' (' + scale.get('name', '') + ')' if scale else ''}, protocol {results['protocol']} "
               f"({len(results['folds'])} folds, {results['n_subjects']} subjects, subject-independent); "
               f"mean ± sd over folds [pooled held-out predictions].")
    out = [caption, "", *lines]
    if results.get("comparisons"):
        out += ["", *[f"- {c}" for c in results["comparisons"]]]
    return "\n".join(out) + "\n"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def _main_metric(task: str) -> str:
    return "mae" if task == "score" else "balanced_accuracy"


def chance_level(task: str, n_classes: int) -> float | None:
    """Balanced accuracy of guessing: 0.5 (binary), ``1 / n_classes`` (levels), None (scores)."""
    if task == "score":
        return None
    return 1.0 / n_classes


def plot_confusion_matrix(cm: Any, class_names: Sequence[str] | None = None, ax: Any = None,
                          title: str | None = None) -> Any:
    """Draw one confusion matrix (rows "true", columns "predicted") on ``ax``: cells
    coloured by row percentage, annotated with the count and the row percentage, class
    names on integer tick positions. Returns the axes."""
    plt = _plt()
    m = np.asarray(cm, dtype=float)
    k = m.shape[0]
    names = list(class_names) if class_names is not None else default_class_names(k)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.9 * k, 0.8 + 0.8 * k))
    rows = m.sum(1, keepdims=True)
    norm = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            pct = f"\n{100 * norm[i, j]:.0f}%" if rows[i, 0] > 0 else ""
            ax.text(j, i, f"{int(m[i, j])}{pct}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.6 else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(names, rotation=30 if k > 2 else 0, ha="right" if k > 2 else "center", fontsize=7)
    ax.set_yticklabels(names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_metric_bars(results: Mapping[str, Any], out_dir: str | os.PathLike, metric: str | None = None) -> Path:
    """``metric_by_model.png``: ``metric`` (default: balanced accuracy, MAE for scores) per
    model for frames and sequences, mean ± sd over folds, with a dashed chance line."""
    plt = _plt()
    task = _task(results)
    metric = metric or _main_metric(task)
    names = list(results["models"])
    levels = [lv for lv in ("frame", "sequence")
              if any((results["models"][n].get(lv) or {}).get("summary") for n in names)] or ["frame"]
    fig, ax = plt.subplots(figsize=(2.0 + 1.2 * len(names), 3.4))
    x = np.arange(len(names))
    width = 0.8 / len(levels)
    colors = {"frame": "#4c78a8", "sequence": "#f58518"}
    for i, lv in enumerate(levels):
        summ = [((results["models"][n].get(lv) or {}).get("summary") or {}).get(metric, {}) for n in names]
        means = np.array([s.get("mean", np.nan) for s in summ], dtype=float)
        stds = np.array([s.get("std", np.nan) for s in summ], dtype=float)
        ax.bar(x + (i - (len(levels) - 1) / 2) * width, np.nan_to_num(means), width, yerr=np.nan_to_num(stds),
               capsize=3, color=colors.get(lv), label=f"{lv}s")
    chance = chance_level(task, _n_classes(results)) if metric == "balanced_accuracy" else None
    if chance is not None:
        ax.axhline(chance, color="0.3", ls="--", lw=1, label=f"chance ({chance:.2f})")
    if metric in ("balanced_accuracy", "accuracy", "roc_auc", "sensitivity", "specificity", "f1", "f1_macro"):
        ax.set_ylim(0, 1)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=30 if len(names) > 2 else 0, ha="right" if len(names) > 2 else "center",
                       fontsize=8)
    ax.set_xlabel("model")
    ax.set_ylabel(f"{METRIC_LABELS.get(metric, metric)}\n(mean ± sd over folds)")
    ax.set_title(f"{results['species']}: {TASK_WORDS.get(task, task)}, protocol {results['protocol']}", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    return _save(fig, Path(out_dir) / "metric_by_model.png")


def plot_confusion_matrices(results: Mapping[str, Any], out_dir: str | os.PathLike,
                            class_names: Sequence[str] | None = None) -> Path | None:
    """``confusion_matrices.png``: the pooled frame confusion matrix of every model."""
    plt = _plt()
    names = [n for n in results["models"]
             if "confusion_matrix" in ((results["models"][n].get("frame") or {}).get("pooled") or {})]
    if not names:
        return None
    k = _n_classes(results)
    labels = _class_names(results, k, class_names)
    side = 1.3 + 0.8 * k
    fig, axes = plt.subplots(1, len(names), figsize=(side * len(names), side), squeeze=False)
    for ax, name in zip(axes[0], names):
        plot_confusion_matrix(results["models"][name]["frame"]["pooled"]["confusion_matrix"], labels, ax=ax,
                              title=f"{name} (frames)")
    fig.tight_layout()
    return _save(fig, Path(out_dir) / "confusion_matrices.png")


def _valid(df: pd.DataFrame) -> pd.DataFrame:
    ok = np.ones(len(df), bool)
    if "face_found" in df:
        ok &= df["face_found"].to_numpy(bool)
    if "target" in df:
        ok &= np.isfinite(df["target"].to_numpy(float))
    return df[ok]


def _proba(df: pd.DataFrame, n_classes: int) -> np.ndarray | None:
    cols = [f"p_{k}" for k in range(n_classes)]
    if not all(c in df for c in cols) or "target" not in df:
        return None
    return df[cols].to_numpy(float)


def _roc_points(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold (ties handled)."""
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    return np.r_[0.0, fp / max(fp[-1], 1)], np.r_[0.0, tp / max(tp[-1], 1)]


def plot_roc_curves(results: Mapping[str, Any], predictions: Mapping[str, pd.DataFrame] | None,
                    out_dir: str | os.PathLike) -> Path | None:
    """``roc_curves.png`` (binary only): pooled frame ROC curve per model, AUC in the legend,
    the chance diagonal labelled. None without predictions or for other tasks."""
    if _task(results) != "binary" or not predictions:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    drawn = 0
    for name in results["models"]:
        df = predictions.get(name)
        if df is None:
            continue
        d = _valid(df)
        pr = _proba(d, 2)
        if pr is None:
            continue
        y = d["target"].to_numpy(float).astype(int) == 1
        s = pr[:, 1]
        ok = np.isfinite(s)
        y, s = y[ok], s[ok]
        if y.all() or not y.any():
            continue
        fpr, tpr = _roc_points(y, s)
        ax.plot(fpr, tpr, lw=1.5, label=f"{name} (AUC {roc_auc(y, s):.3f})")
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.plot([0, 1], [0, 1], color="0.5", ls="--", lw=1, label="chance (AUC 0.5)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false-positive rate (1 - specificity)")
    ax.set_ylabel("true-positive rate (sensitivity)")
    ax.set_title(f"ROC, pain vs no pain (frames), {results['protocol']}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, Path(out_dir) / "roc_curves.png")


def plot_reliability(results: Mapping[str, Any], predictions: Mapping[str, pd.DataFrame] | None,
                     out_dir: str | os.PathLike, n_bins: int = 10) -> Path | None:
    """``reliability.png`` (classification): per model, observed frequency against predicted
    probability (binary: ``P(pain)`` vs fraction of pain frames; levels: top-class
    confidence vs accuracy) per bin, bar width = bin, the "perfect calibration" diagonal
    and the ECE in the title. None without predictions or for scores."""
    if _task(results) == "score" or not predictions:
        return None
    plt = _plt()
    k = _n_classes(results)
    curves = []
    for name in results["models"]:
        df = predictions.get(name)
        if df is None:
            continue
        d = _valid(df)
        pr = _proba(d, k)
        if pr is None or not len(d):
            continue
        curves.append((name, reliability_curve(d["target"].to_numpy(float), pr, n_bins)))
    if not curves:
        return None
    fig, axes = plt.subplots(1, len(curves), figsize=(3.4 * len(curves), 3.5), squeeze=False)
    binary = k == 2
    for ax, (name, c) in zip(axes[0], curves):
        edges = c["bin_edges"]
        centers, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        filled = c["count"] > 0
        ax.bar(centers[filled], c["observed"][filled], width[filled] * 0.9, color="#4c78a8", alpha=0.8,
               edgecolor="#2b4a6f", label="observed, per bin")
        for x, y, n in zip(centers[filled], c["observed"][filled], c["count"][filled]):
            ax.text(x, min(y, 0.93) + 0.02, f"n={n}", ha="center", va="bottom", fontsize=5, color="0.25")
        ax.plot([0, 1], [0, 1], color="#e45756", ls="--", lw=1.2, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("predicted probability of pain" if binary else "confidence (top-level probability)")
        ax.set_ylabel("observed fraction with pain" if binary else "observed accuracy")
        ece = c["ece"]
        ax.set_title(f"{name}: ECE {ece:.3f}" if np.isfinite(ece) else f"{name}: ECE n/a", fontsize=9)
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    fig.tight_layout()
    return _save(fig, Path(out_dir) / "reliability.png")


def plot_score_scatter(results: Mapping[str, Any], predictions: Mapping[str, pd.DataFrame] | None,
                       out_dir: str | os.PathLike) -> Path:
    """``scatter.png`` (scores): predicted vs true score per model with the identity line."""
    plt = _plt()
    names = list(results["models"])
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.2), squeeze=False)
    lo, hi = (results.get("scale") or {}).get("range") or (0, 1)
    for ax, name in zip(axes[0], names):
        df = (predictions or {}).get(name)
        if df is not None and "prediction" in df:
            d = _valid(df)
            ax.scatter(d["target"], d["prediction"], s=3, alpha=0.3)
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="perfect prediction")
        ax.set_xlabel("true score")
        ax.set_ylabel("predicted score")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return _save(fig, Path(out_dir) / "scatter.png")


def plot_results(results: Mapping[str, Any], out_dir: Path, predictions: Mapping[str, pd.DataFrame] | None = None,
                 class_names: Sequence[str] | None = None) -> list[Path]:
    """Write every plot that the task and the available data allow; returns their paths.

    ``predictions`` (model -> per-frame table with ``target``, ``face_found``,
    ``prediction`` and ``p_k`` columns, as :func:`~geopain.evaluation.run_protocol`
    returns under ``"predictions"``) default to ``results["predictions"]``; the ROC and
    reliability plots need them. ``class_names`` override :func:`default_class_names`.
    """
    out_dir = Path(out_dir)
    if predictions is None:
        predictions = results.get("predictions") or None
    paths = [plot_metric_bars(results, out_dir)]
    if _task(results) == "score":
        paths.append(plot_score_scatter(results, predictions, out_dir))
    else:
        for p in (plot_confusion_matrices(results, out_dir, class_names),
                  plot_roc_curves(results, predictions, out_dir),
                  plot_reliability(results, predictions, out_dir)):
            if p is not None:
                paths.append(p)
    return paths


def write_report(results: Mapping[str, Any], out_dir: str | os.PathLike,
                 predictions: Mapping[str, pd.DataFrame] | None = None,
                 class_names: Sequence[str] | None = None) -> dict[str, Path]:
    """Write ``results.json``, ``results.md``, ``results.csv`` and PNG plots into ``out_dir``.

    Returns ``{"json", "markdown", "csv", "plot0", "plot1", ...}`` paths (see
    :func:`plot_results` for the plots and ``class_names``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "results.md", "csv": out / "results.csv"}
    write_json(paths["json"], {k: v for k, v in results.items() if k != "predictions"}, indent=1)
    paths["markdown"].write_text(markdown_table(results))
    results_table(results).to_csv(paths["csv"], index=False)
    for i, p in enumerate(plot_results(results, out, predictions, class_names)):
        paths[f"plot{i}"] = p
    return paths
