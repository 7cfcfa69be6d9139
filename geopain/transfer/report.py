"""Outputs of a transfer run: ``results.json``, a learning-curve PNG and a Markdown table."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..jsonio import write_json


def _x(summary: Sequence[dict[str, Any]]) -> np.ndarray:
    return np.array([s["n_subjects"] for s in summary], float)


def plot_learning_curve(result: dict[str, Any], path: str | os.PathLike, metric_label: str = "balanced accuracy") -> Path:
    """Target-only vs transfer balanced accuracy (mean, +-1 sd over folds x repeats) against the
    number of labelled target subjects; zero-shot (no target labels) as a dashed line, chance at 0.5."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = result["summary"]
    x = _x(summary)
    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    for key, label, colour in (("target_only", "target-only (random start)", "tab:gray"),
                               ("transfer", f"transfer: {result['method']}", "tab:blue")):
        m = np.array([s[f"{key}_mean"] for s in summary], float)
        sd = np.nan_to_num(np.array([s[f"{key}_sd"] for s in summary], float))
        ax.plot(x, m, "o-", color=colour, label=label)
        ax.fill_between(x, m - sd, m + sd, color=colour, alpha=0.2)
    zs = np.array([s["zero_shot_mean"] for s in summary], float)
    if np.isfinite(zs).any():
        ax.axhline(float(np.nanmean(zs)), color="tab:green", ls="--", lw=1.2,
                   label=f"zero-shot (no target labels): {np.nanmean(zs):.2f}")
    ax.axhline(0.5, color="black", ls=":", lw=1, label="chance (0.5)")
    ax.set_xscale("symlog", base=2, linthresh=1)  # 0 labelled subjects (DANN, zero-shot) stays on the axis
    ax.set_xticks(x)
    ax.set_xticklabels([str(int(v)) if float(v).is_integer() else f"{v:.1f}" for v in x])
    ax.set_xlabel("labelled target training subjects")
    ax.set_ylabel(f"{metric_label} on held-out target subjects")
    ax.set_ylim(0.3, 1.0)
    src, tgt = result["source"], result["target"]
    ax.set_title(f"{src['name']} ({src['scheme']}) -> {tgt['name']} ({tgt['scheme']})\n"
                 f"mean +- 1 sd over {result['folds']} folds x {result['repeats']} draws", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p


def markdown_table(result: dict[str, Any]) -> str:
    """One row per target-subject count: target-only, transfer and their paired difference (mean +- sd)."""
    f = lambda m, s: "n/a" if not np.isfinite(m) else (f"{m:.3f}" if not np.isfinite(s) else f"{m:.3f} ± {s:.3f}")  # noqa: E731
    src, tgt = result["source"], result["target"]
    lines = [f"Transfer {src['name']} ({src['scheme']}, {src['subjects']} subjects) -> {tgt['name']} "
             f"({tgt['scheme']}, {tgt['subjects']} subjects), method **{result['method']}**; balanced accuracy "
             f"(binary pain, frames of held-out target subjects), mean ± sd over {result['folds']} folds x "
             f"{result['repeats']} draws. Zero-shot uses no target label.", "",
             "| target subjects | runs | target-only | transfer | transfer − target-only | zero-shot |",
             "|---:|---:|---:|---:|---:|---:|"]
    for s in result["summary"]:
        lines.append(f"| {s['count']} ({s['n_subjects']:.0f}) | {s['runs']} | {f(s['target_only_mean'], s['target_only_sd'])} | "
                     f"{f(s['transfer_mean'], s['transfer_sd'])} | {f(s['difference_mean'], s['difference_sd'])} | "
                     f"{f(s['zero_shot_mean'], s['zero_shot_sd'])} |")
    return "\n".join(lines) + "\n"


def write_report(result: dict[str, Any], out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``results.json``, ``learning_curve.png`` and ``table.md`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": write_json(out / "results.json", result),
             "plot": plot_learning_curve(result, out / "learning_curve.png")}
    md = out / "table.md"
    md.write_text(markdown_table(result), encoding="utf-8")
    paths["table"] = md
    return paths
