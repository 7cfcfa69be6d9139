"""Time: co-movement of landmarks, spatio-temporal point clouds, sliding windows.

- :func:`comovement`: for each edge (i, j) and frame t, the cosine similarity of the two
  points' displacement trajectories (from a neutral reference) over a centred window of
  ``window`` frames: ``sum_w d_i . d_j / sqrt(sum_w |d_i|^2 * sum_w |d_j|^2)``. +1 when the
  two points move the same way (one muscle), -1 when they move apart, NaN when neither moves.
  Windowed sums are running means along time (no loop over frames).
- :func:`spatiotemporal_cloud`: a sequence as one point cloud ``(T*N, 4)`` of
  ``x, y, z, time`` (time in seconds, times ``time_scale``), for point-cloud models.
- :func:`sliding_windows`: ``(W, size)`` frame indices of windows over a long sequence.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import uniform_filter1d

from ..errors import GeopainError, ShapeError, check_shape

__all__ = ["comovement", "spatiotemporal_cloud", "sliding_windows"]


def comovement(coords, edges, reference, window: int = 5) -> torch.Tensor:
    """``(T, E)`` co-movement of undirected ``edges (E, 2)`` over frames ``coords (T, N, 3)``.

    ``reference``: ``(N, 3)`` or ``(T, N, 3)`` neutral positions. Missing points count as not moving.
    """
    c = np.asarray(coords, dtype=np.float32)
    check_shape("coords", c, (None, "N", 3))
    e = np.asarray(edges, dtype=np.int64)
    check_shape("edges", e, (None, 2))
    if window < 1:
        raise GeopainError(f"window must be >= 1, got {window}")
    ref = np.asarray(reference, dtype=np.float32)
    d = np.nan_to_num(c - ref)  # (T, N, 3)
    dot = (d[:, e[:, 0]] * d[:, e[:, 1]]).sum(-1)  # (T, E)
    sq = (d * d).sum(-1)  # (T, N)
    if window > 1 and c.shape[0] > 1:
        dot = uniform_filter1d(dot, window, axis=0, mode="nearest")
        sq = uniform_filter1d(sq, window, axis=0, mode="nearest")
    den = np.sqrt(sq[:, e[:, 0]] * sq[:, e[:, 1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 1e-12, dot / den, np.nan)
    return torch.from_numpy(np.clip(out, -1.0, 1.0).astype(np.float32))


def spatiotemporal_cloud(coords, timestamps, time_scale: float = 1.0, drop_missing: bool = False) -> np.ndarray:
    """``(T*N, 4)`` points ``x, y, z, time_scale * t`` of a sequence (frame-major order).

    Args:
        coords: ``(T, N, 3)`` normalised coordinates.
        timestamps: ``(T,)`` seconds; a NaN timestamp falls back to the frame index (read as seconds).
        time_scale: template units per second (how far apart frames are in the cloud).
        drop_missing: leave out points with NaN coordinates (the cloud then has fewer rows).
    """
    c = np.asarray(coords, dtype=np.float32)
    check_shape("coords", c, ("T", None, 3))
    ts = np.asarray(timestamps, dtype=np.float64)
    check_shape("timestamps", ts, (c.shape[0],))
    ts = np.where(np.isfinite(ts), ts, np.arange(len(ts), dtype=np.float64))
    T, N, _ = c.shape
    t = np.broadcast_to((ts * time_scale).astype(np.float32)[:, None, None], (T, N, 1))
    cloud = np.concatenate([c, t], -1).reshape(T * N, 4)
    if drop_missing:
        cloud = cloud[np.isfinite(cloud).all(1)]
    return cloud


def sliding_windows(T: int, size: int, step: int = 1, cover_end: bool = True) -> np.ndarray:
    """``(W, size)`` int64 frame indices of windows of ``size`` frames every ``step`` frames.

    With ``cover_end`` a last window ending at frame ``T - 1`` is added when the regular ones
    miss the end. A sequence shorter than ``size`` gives one window padded by repeating its
    last frame. ``T == 0`` gives ``(0, size)``.
    """
    if size < 1 or step < 1:
        raise GeopainError(f"window size and step must be >= 1, got size={size}, step={step}")
    if T < 0:
        raise ShapeError(f"T must be >= 0, got {T}")
    if T == 0:
        return np.zeros((0, size), dtype=np.int64)
    if T <= size:
        return np.minimum(np.arange(size), T - 1)[None].astype(np.int64)
    starts = np.arange(0, T - size + 1, step)
    if cover_end and starts[-1] != T - size:
        starts = np.append(starts, T - size)
    return (starts[:, None] + np.arange(size)[None]).astype(np.int64)
