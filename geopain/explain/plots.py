"""Plots of an :class:`~geopain.explain.attribution.Attribution` (PNG, labelled, with captions).

- :func:`plot_face_heatmap`: landmark attributions over the face: on the photo or video frame
  when there is one (pixel coordinates), on the species template otherwise;
- :func:`plot_top_edges`: the edges (graph models) or measurements (baselines) that matter most;
- :func:`plot_unit_bars`: per pain unit, signed attribution and share, with the scale's words;
- :func:`plot_unit_timeline`: unit attributions along a sequence, with the explained output.

Red is towards more pain, blue towards less.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..viz import _pyplot, _save
from .units import unit_attributions, unit_label, unit_landmark_weights

POS, NEG = "#c0392b", "#2e6fb7"


def _sym_norm(values: np.ndarray):
    from matplotlib.colors import TwoSlopeNorm

    m = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    m = m if m > 0 else 1.0
    return TwoSlopeNorm(vcenter=0.0, vmin=-m, vmax=m)


def plot_face_heatmap(att, rows: Sequence[int], path: str | os.PathLike, image: np.ndarray | None = None,
                      points: np.ndarray | None = None, title: str = "") -> Path:
    """Landmark attributions (mean over frames ``rows``) as coloured points over the face.

    ``image (H, W, 3)`` and ``points (N, 2)`` pixel positions of the landmarks in it: drawn on the
    image; otherwise on the scheme's template (front view, x to the subject's left, y up).
    """
    plt = _pyplot()
    scheme = att.scheme
    vals = np.nanmean(att.landmarks[np.asarray(rows)], 0) if len(rows) else np.zeros(scheme.n_points)
    on_image = image is not None and points is not None and np.isfinite(points).any()
    if on_image:
        h, w = image.shape[:2]
        xy = np.asarray(points, dtype=np.float64)[:, :2]
        fig, ax = plt.subplots(figsize=(6.5, 6.5 * h / w))
        ax.imshow(image)
    else:
        xy = np.asarray(scheme.template, dtype=np.float64)[:, :2] * np.array([-1.0, 1.0])  # viewer's left = subject's right
        fig, ax = plt.subplots(figsize=(6.5, 6.5))
    for a, b in scheme.edges:
        ax.plot(xy[[a, b], 0], xy[[a, b], 1], "-", color="white" if on_image else "#bbbbbb", lw=0.5, alpha=0.7, zorder=1)
    mag = np.abs(np.nan_to_num(vals))
    size = 15 + 300 * mag / (mag.max() if mag.max() > 0 else 1.0)
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=np.nan_to_num(vals), s=size, cmap="RdBu_r", norm=_sym_norm(vals),
                    edgecolors="k", linewidths=0.3, zorder=2)
    cb = fig.colorbar(sc, ax=ax, fraction=0.04, pad=0.02)
    cb.set_label(f"attribution to {att.target} (red: towards pain)")
    if on_image:
        ok = np.isfinite(xy).all(1)
        lo, hi = xy[ok].min(0), xy[ok].max(0)
        pad = (hi - lo) * 0.3
        ax.set_xlim(max(lo[0] - pad[0], 0), min(hi[0] + pad[0], w))
        ax.set_ylim(min(hi[1] + pad[1], h), max(lo[1] - pad[1], 0))
    else:
        ax.set_aspect("equal")
    ax.set_axis_off()
    where = "on the image" if on_image else f"on the {scheme.key} template"
    ax.set_title(title or f"Landmark attributions {where} ({att.method})", fontsize=9)
    return _save(fig, path)


def plot_top_edges(att, rows: Sequence[int], path: str | os.PathLike, top: int = 12, title: str = "") -> Path:
    """The ``top`` edges by |attribution| (mean over ``rows``) on the template and as bars; for
    models without edges, the top measurements."""
    plt = _pyplot()
    scheme = att.scheme
    rows = np.asarray(rows)
    names = list(scheme.landmarks)
    if att.edges.shape[1]:
        vals = np.nanmean(att.edges[rows], 0) if len(rows) else np.zeros(att.edges.shape[1])
        labels = [f"{names[a]} - {names[b]}" for a, b in att.edge_index.T]
        what = "edges"
    else:
        vals = np.nanmean(att.measurements[rows], 0) if len(rows) else np.zeros(att.measurements.shape[1])
        labels = list(att.measurement_names)
        what = "measurements"
    order = np.argsort(-np.abs(np.nan_to_num(vals)))[:top]
    fig, axes = plt.subplots(1, 2 if what == "edges" else 1, figsize=(12 if what == "edges" else 7, 5.5), squeeze=False)
    axes = axes[0]
    bar_ax = axes[-1]
    y = np.arange(len(order))[::-1]
    bar_ax.barh(y, vals[order], color=[POS if v > 0 else NEG for v in vals[order]])
    bar_ax.set_yticks(y, [labels[i] for i in order], fontsize=7)
    bar_ax.axvline(0, c="k", lw=0.6)
    bar_ax.set_xlabel(f"attribution to {att.target}")
    bar_ax.set_title(f"top {len(order)} {what}", fontsize=9)
    if what == "edges":
        ax = axes[0]
        xy = np.asarray(scheme.template, dtype=np.float64)[:, :2] * np.array([-1.0, 1.0])
        for a, b in scheme.edges:
            ax.plot(xy[[a, b], 0], xy[[a, b], 1], "-", color="#dddddd", lw=0.5, zorder=1)
        m = np.abs(vals[order]).max() if len(order) and np.abs(vals[order]).max() > 0 else 1.0
        for i in order:
            a, b = att.edge_index[:, i]
            ax.plot(xy[[a, b], 0], xy[[a, b], 1], "-", color=POS if vals[i] > 0 else NEG, lw=0.8 + 5 * abs(vals[i]) / m,
                    zorder=2)
        ax.scatter(xy[:, 0], xy[:, 1], s=6, c="k", zorder=3)
        ax.set_aspect("equal")
        ax.set_axis_off()
        ax.set_title(f"edges that matter on the {scheme.key} template (width: |attribution|)", fontsize=9)
    fig.suptitle(title or f"What the model used ({att.method})", fontsize=10)
    return _save(fig, path)


def unit_summary(att, rows: Sequence[int]) -> list[tuple[str, float, float]]:
    """``[(label, attribution, share of |attribution|)]`` per unit (mean over ``rows``), largest share first."""
    df = unit_attributions(att, include_other=False)
    vals = df.iloc[np.asarray(rows)].mean(0) if len(rows) else df.iloc[:0].sum(0)
    mag = np.abs(vals.to_numpy())
    share = mag / mag.sum() if mag.sum() > 0 else mag
    out = [(unit_label(att.scheme, u), float(v), float(s)) for u, v, s in zip(df.columns, vals.to_numpy(), share)]
    return sorted(out, key=lambda t: -t[2])


def plot_unit_bars(att, rows: Sequence[int], path: str | os.PathLike, title: str = "") -> Path:
    """Per pain unit: signed attribution (mean over ``rows``) with its share of the total, in words."""
    plt = _pyplot()
    items = unit_summary(att, rows)
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(items) + 1.6))
    y = np.arange(len(items))[::-1]
    vals = np.array([v for _, v, _ in items])
    ax.barh(y, vals, color=[POS if v > 0 else NEG for v in vals])
    ax.set_yticks(y, [f"{lab}  {100 * s:.0f}%" for lab, _, s in items], fontsize=8)
    ax.axvline(0, c="k", lw=0.6)
    ax.set_xlabel(f"attribution to {att.target} (red: towards pain; % = share of |attribution|)")
    scale = att.scheme.pain_scale.name if att.scheme.pain_scale is not None else "pain"
    words = ", ".join(f"{lab.split(' (')[0]} {100 * s:.0f}%" for lab, _, s in items[:3])
    ax.set_title(title or f"{scale} units: {words}", fontsize=9)
    return _save(fig, path)


def plot_unit_timeline(att, rows: Sequence[int], path: str | os.PathLike, title: str = "") -> Path:
    """Unit attributions over the frames ``rows`` of one sequence, and the explained output."""
    plt = _pyplot()
    rows = np.asarray(rows)
    df = unit_attributions(att, include_other=False).iloc[rows]
    t = att.frame_ids["time"][rows]
    x = t if np.isfinite(t).all() else att.frame_ids["frame"][rows].astype(float)
    xlabel = "time (s)" if np.isfinite(t).all() else "frame"
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for u in df.columns:
        ax.plot(x, df[u].to_numpy(), lw=1.4, label=unit_label(att.scheme, u))
    ax.axhline(0, c="k", lw=0.5)
    ax.set_ylabel(f"attribution to {att.target}")
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    ax.set_title(title or "Pain units over time (red/positive: towards pain)", fontsize=9)
    ax2.plot(x, att.output[rows], c="k", lw=1.2, label=f"{att.target}")
    ref = str(att.reference[rows[0]]).split(" (")[0] if len(getattr(att, "reference", ())) else "template"
    ax2.plot(x, att.reference_output[rows], c="grey", ls="--", lw=1.0, label=f"reference: {ref}")
    ax2.set_xlabel(xlabel)
    ax2.set_ylabel(att.target)
    ax2.legend(fontsize=7)
    return _save(fig, path)


__all__ = ["plot_face_heatmap", "plot_top_edges", "plot_unit_bars", "plot_unit_timeline", "unit_summary",
           "unit_landmark_weights"]
