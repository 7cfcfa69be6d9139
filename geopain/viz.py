"""Plots users can open: landmarks over a face, the weighted facial graph, measurements.

All functions write PNG files with matplotlib's Agg backend and return the path.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .species import REGIONS, Scheme

_REGION_COLOURS = {
    "eyes": "#1f77b4", "brows_ears": "#ff7f0e", "nose": "#2ca02c", "mouth": "#d62728",
    "cheeks": "#9467bd", "jaw": "#8c564b", "midline": "#7f7f7f",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_landmarks(image: np.ndarray, points: np.ndarray | Sequence[np.ndarray], scheme: Scheme,
                   path: str | os.PathLike, title: str = "", zoom: float | None = 0.5) -> Path:
    """Draw landmarks ``(N, 2|3)`` (pixels; several faces as a list) over ``image`` (H, W, 3).

    ``zoom``: crop the view to the faces' bounding box grown by this fraction (None: whole image).
    """
    plt = _pyplot()
    faces = [points] if isinstance(points, np.ndarray) and points.ndim == 2 else list(points)
    h, w = image.shape[:2]
    fig, ax = plt.subplots(figsize=(6, 6 * h / w))
    ax.imshow(image)
    region = np.array(REGIONS)[scheme.region_index]
    for pts in faces:
        pts = np.asarray(pts)
        for a, b in scheme.edges:
            ax.plot(pts[[a, b], 0], pts[[a, b], 1], "-", color="white", lw=0.4, alpha=0.6)
        for r in np.unique(region):
            sel = region == r
            ax.scatter(pts[sel, 0], pts[sel, 1], s=4, color=_REGION_COLOURS[r], label=r.replace("_", "/"))
    if zoom is not None:
        allpts = np.concatenate([np.asarray(p)[:, :2] for p in faces])
        lo, hi = np.nanmin(allpts, 0), np.nanmax(allpts, 0)
        pad = (hi - lo) * zoom
        ax.set_xlim(max(lo[0] - pad[0], 0), min(hi[0] + pad[0], w))
        ax.set_ylim(min(hi[1] + pad[1], h), max(lo[1] - pad[1], 0))
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax.legend(uniq.values(), uniq.keys(), loc="lower right", fontsize=7, markerscale=2)
    ax.set_axis_off()
    ax.set_title(title or f"{scheme.key}: {scheme.n_points} landmarks")
    return _save(fig, path)


def plot_graph(pos: np.ndarray, edge_index: np.ndarray, edge_weight: np.ndarray, scheme: Scheme,
               path: str | os.PathLike, title: str = "", template: np.ndarray | None = None) -> Path:
    """Draw a facial graph in the template frame (front view, x right, y up).

    ``pos (N, 3)`` normalised points, ``edge_index (2, E)``, ``edge_weight (E,)`` drawn as
    line width and colour; ``template (N, 3)`` is drawn faintly beneath when given.
    """
    plt = _pyplot()
    from matplotlib.collections import LineCollection

    pos = np.asarray(pos, float)
    ei = np.asarray(edge_index)
    w = np.asarray(edge_weight, float)
    keep = ei[0] < ei[1]  # each undirected edge once
    ei, w = ei[:, keep], w[keep]
    # the viewer sees the face from the front: the subject's right (x < 0) on the image's left
    fig, ax = plt.subplots(figsize=(6, 6))
    if template is not None:
        ax.scatter(template[:, 0], template[:, 1], s=6, color="#cccccc", label="template")
    segs = np.stack([pos[ei[0], :2], pos[ei[1], :2]], 1)
    finite = np.isfinite(segs).all((1, 2)) & np.isfinite(w)
    norm = (w - np.nanmin(w)) / (np.nanmax(w) - np.nanmin(w) + 1e-12)
    lc = LineCollection(segs[finite], linewidths=0.5 + 3 * norm[finite], cmap="viridis", array=w[finite])
    ax.add_collection(lc)
    fig.colorbar(lc, ax=ax, fraction=0.04, label="edge weight")
    region = np.array(REGIONS)[scheme.region_index]
    for r in np.unique(region):
        sel = region == r
        ax.scatter(pos[sel, 0], pos[sel, 1], s=10, color=_REGION_COLOURS[r], label=r.replace("_", "/"), zorder=3)
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title or f"{scheme.key} weighted graph")
    ax.set_xlabel(f"x ({scheme.template_units})")
    ax.set_ylabel(f"y ({scheme.template_units})")
    return _save(fig, path)


def plot_measurements(values: dict[str, float], reference: dict[str, float] | None, path: str | os.PathLike,
                      title: str = "Pain-unit measurements") -> Path:
    """Horizontal bars of measurement values, with the neutral template's values as markers."""
    plt = _pyplot()
    names = list(values)
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1))
    y = np.arange(len(names))
    ax.barh(y, [values[n] for n in names], color="#4c72b0", label="this face")
    if reference:
        ax.scatter([reference.get(n, np.nan) for n in names], y, color="k", marker="|", s=200, label="neutral template")
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
