"""Write evaluation results: ``results.json``, a paper-ready table (Markdown + CSV) and plots.

The table has one row per model and level (frame / sequence) and one column per headline
metric, written ``mean ± sd`` over folds followed by the pooled value in brackets, e.g.
``0.712 ± 0.081 [0.705]``. Plots: the headline metric per model (mean ± sd over folds),
pooled confusion matrices (classification) or predicted-vs-true scatter (scores).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .metrics import HEADLINE

LABELS = {
    "accuracy": "Acc", "balanced_accuracy": "BAcc", "sensitivity": "Sens", "specificity": "Spec", "ppv": "PPV",
    "npv": "NPV", "f1": "F1", "roc_auc": "AUC", "mae_level": "MAE(level)", "f1_macro": "F1(macro)",
    "mae": "MAE", "mse": "MSE", "rmse": "RMSE", "pearson_r": "r", "icc": "ICC(3,1)", "icc_agreement": "ICC(2,1)",
}


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items() if k != "predictions"}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    return obj


def _fmt(x: Any) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.3f}"


def results_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """Long table: model, level, metric, mean, std, n_defined, pooled."""
    rows = []
    for name, entry in results["models"].items():
        for level in ("frame", "sequence"):
            block = entry.get(level) or {}
            summary, pooled = block.get("summary") or {}, block.get("pooled") or {}
            for metric in HEADLINE[results["task"]]:
                s = summary.get(metric, {})
                rows.append({"model": name, "level": level, "metric": metric, "mean": s.get("mean", np.nan),
                             "std": s.get("std", np.nan), "n_defined": s.get("n_defined", 0),
                             "pooled": pooled.get(metric, np.nan)})
    return pd.DataFrame(rows)


def markdown_table(results: Mapping[str, Any]) -> str:
    """A Markdown table users can paste into a paper, with a caption line."""
    task = results["task"]
    metrics = HEADLINE[task]
    long = results_table(results)
    head = "| model | level | " + " | ".join(LABELS.get(m, m) for m in metrics) + " |"
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


def plot_results(results: Mapping[str, Any], out_dir: Path, predictions: Mapping[str, pd.DataFrame] | None = None
                 ) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    task = results["task"]
    metric = "mae" if task == "score" else "balanced_accuracy"
    names = list(results["models"])
    paths = []
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(names), 3.2))
    means = [results["models"][n]["frame"]["summary"].get(metric, {}).get("mean", np.nan) for n in names]
    stds = [results["models"][n]["frame"]["summary"].get(metric, {}).get("std", np.nan) for n in names]
    ax.bar(names, np.nan_to_num(means), yerr=np.nan_to_num(stds), capsize=3, color="#4c78a8")
    ax.set_ylabel(f"{LABELS.get(metric, metric)} (frames, mean ± sd over folds)")
    ax.set_title(f"{results['species']} {task}, {results['protocol']}", fontsize=9)
    ax.tick_params(axis="x", rotation=30, labelsize=8)
    fig.tight_layout()
    p = out_dir / "metric_by_model.png"
    fig.savefig(p, dpi=100)
    plt.close(fig)
    paths.append(p)
    n = len(names)
    fig, axes = plt.subplots(1, n, figsize=(3 * n, 3), squeeze=False)
    for ax, name in zip(axes[0], names):
        pooled = results["models"][name]["frame"]["pooled"] or {}
        if task == "score":
            df = (predictions or {}).get(name)
            if df is not None:
                d = df[df["face_found"] & np.isfinite(df["target"])]
                ax.scatter(d["target"], d["prediction"], s=3, alpha=0.3)
                lo, hi = results["scale"]["range"] if results.get("scale") else (0, 1)
                ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
                ax.set_xlabel("true score")
                ax.set_ylabel("predicted score")
        elif "confusion_matrix" in pooled:
            cm = np.asarray(pooled["confusion_matrix"], dtype=float)
            norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
            ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
            for i in range(cm.shape[0]):
                for j in range(cm.shape[1]):
                    ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    p = out_dir / ("scatter.png" if task == "score" else "confusion_matrices.png")
    fig.savefig(p, dpi=100)
    plt.close(fig)
    paths.append(p)
    return paths


def write_report(results: Mapping[str, Any], out_dir: str | os.PathLike,
                 predictions: Mapping[str, pd.DataFrame] | None = None) -> dict[str, Path]:
    """Write ``results.json``, ``results.md``, ``results.csv`` and PNG plots into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "results.md", "csv": out / "results.csv"}
    paths["json"].write_text(json.dumps(_clean(dict(results)), indent=1))
    paths["markdown"].write_text(markdown_table(results))
    results_table(results).to_csv(paths["csv"], index=False)
    for i, p in enumerate(plot_results(results, out, predictions)):
        paths[f"plot{i}"] = p
    return paths
