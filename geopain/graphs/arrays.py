"""The facial graph's per-frame arrays in numpy (no torch): the maths behind the transforms.

:mod:`geopain.graphs.transforms` (torch-geometric transforms) and the torch-free ONNX
inference path (:mod:`geopain.lite`) both call these functions, so the graph inputs a
model sees are computed by one implementation. Arrays have any number of leading frame
dimensions (``(..., N, 3)``); edge arrays use the undirected edge list ``(E, 2)`` of the
topology, and the directed layout ``[i->j for every edge, then j->i]`` (``2E`` columns).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ShapeError
from .weights import WEIGHTINGS

__all__ = ["fill_missing", "edge_geometry", "edge_weights", "node_features", "vertex_normals_np"]

def fill_missing(pos: np.ndarray, template: np.ndarray, reference: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pos (..., N, 3)`` with missing points (any coordinate not finite) replaced by the reference.

    Returns ``pos`` (float32), ``reference`` (the template unless given; non-finite entries
    of a given reference fall back to the template) and ``mask (..., N)`` (point observed).
    """
    pos = np.asarray(pos, dtype=np.float32)
    template = np.asarray(template, dtype=np.float32)
    ref = template if reference is None else np.asarray(reference, dtype=np.float32)
    if ref.shape[-2:] != pos.shape[-2:]:
        raise ShapeError(f"reference: expected (..., {pos.shape[-2]}, 3), got {tuple(ref.shape)}")
    if not np.isfinite(ref).all():
        ref = np.where(np.isfinite(ref), ref, template)
    fin = np.isfinite(pos)
    mask = fin[..., 0] & fin[..., 1] & fin[..., 2]
    if not mask.all():
        pos = np.where(mask[..., None], pos, ref).astype(np.float32)
    return np.ascontiguousarray(pos), np.ascontiguousarray(ref), mask


def edge_geometry(pos: np.ndarray, reference: np.ndarray, mask: np.ndarray, edges: np.ndarray,
                  reference_pair: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Edge attributes of every frame, by the fused kernel :func:`geopain.geometry.kernels.edge_kernel`.

    Args:
        pos: ``(..., N, 3)`` filled positions; reference: ``(N, 3)`` or ``(..., N, 3)``;
        mask: ``(..., N)`` observed points; edges: ``(E, 2)`` undirected edges;
        reference_pair: the two points whose distance (in the reference) makes lengths scale-free.

    Returns:
        ``attr (..., 5, 2E)`` float32 rows = length / reference distance, strain
        ``(l - l0) / l0``, unit direction x, y, z (edges touching a missing point: the
        reference's length and direction, strain 0); ``ok (..., E)`` both ends observed.
    """
    from ..geometry.kernels import edge_kernel

    pos = np.asarray(pos, dtype=np.float32)
    lead, N = pos.shape[:-2], pos.shape[-2]
    F = int(np.prod(lead)) if lead else 1
    p = np.ascontiguousarray(pos.reshape(F, N, 3))
    ref = np.asarray(reference, dtype=np.float32)
    shared = ref.ndim == 2
    r = np.ascontiguousarray(ref[None] if shared else np.broadcast_to(ref, pos.shape).reshape(F, N, 3))
    m = np.ascontiguousarray(np.broadcast_to(mask, lead + (N,)).reshape(F, N))
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    src, dst = np.ascontiguousarray(edges[:, 0]), np.ascontiguousarray(edges[:, 1])
    a, b = (int(v) for v in reference_pair)
    rl = np.linalg.norm(r[:, b].astype(np.float64) - r[:, a], axis=-1)
    ref_len = np.ascontiguousarray(np.broadcast_to(rl, (F,)), dtype=np.float64)
    attr = np.empty((F, 5, 2 * len(src)), dtype=np.float32)
    edge_kernel(p, r, 0 if shared else 1, m, src, dst, ref_len, attr)
    ok = m[:, src] & m[:, dst]
    return attr.reshape(lead + attr.shape[1:]), ok.reshape(lead + ok.shape[1:])


def edge_weights(length: np.ndarray, strain: np.ndarray, ok: np.ndarray, weighting: str = "strain",
                 **kwargs) -> np.ndarray:
    """``(..., 2E)`` float32 weights of a registered weighting
    (:data:`geopain.graphs.weights.WEIGHTINGS`) of ``length`` and ``strain`` (``(..., 2E)``,
    rows 0 and 1 of :func:`edge_geometry`); 0 where ``ok (..., E)`` is False."""
    fn = WEIGHTINGS.get(weighting)
    w = np.asarray(fn(length, strain, **kwargs), dtype=np.float32)
    mask = np.concatenate([ok, ok], -1)
    if not mask.all():
        w = np.where(mask, w, np.float32(0))
    return np.ascontiguousarray(w)


def vertex_normals_np(pos: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """``(..., N, 3)`` unit vertex normals: area-weighted sums of the incident triangles' normals."""
    tri = np.asarray(triangles, dtype=np.int64)
    a, b, c = (pos[..., tri[:, k], :] for k in range(3))
    fn = np.cross(b - a, c - a)  # (..., K, 3), length = 2 * area
    N = pos.shape[-2]
    inc = np.zeros((N, len(tri)), dtype=pos.dtype)  # incidence: vertex x triangle
    for k in range(3):
        inc[tri[:, k], np.arange(len(tri))] += 1
    out = inc @ fn  # (..., N, 3)
    return out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12)


def node_features(pos: np.ndarray, reference: np.ndarray, mask: np.ndarray, features: Sequence[str],
                  onehot: np.ndarray, ref_len: float, confidence: np.ndarray | None = None,
                  triangles: np.ndarray | None = None) -> np.ndarray:
    """``x (..., N, F)`` float32: the feature blocks in ``features`` (see
    :class:`geopain.graphs.transforms.NodeFeatures`): ``pos`` / ``ref_len``, ``disp`` (pos -
    reference) / ``ref_len`` (0 for missing points), ``region`` (``onehot (N, R)``), ``conf``
    (confidence, NaN -> 1, times ``mask``), ``normal`` (needs ``triangles``)."""
    pos = np.asarray(pos, dtype=np.float32)
    lead = pos.shape[:-2]
    inv = np.float32(1.0 / ref_len)
    blocks = []  # whole blocks, then one concatenate: faster than strided writes into x
    for f in features:
        if f == "pos":
            blocks.append(pos * inv)
        elif f == "disp":
            d = (pos - reference) * inv
            if not mask.all():
                d[~mask] = 0.0
            blocks.append(d)
        elif f == "region":
            blocks.append(np.broadcast_to(onehot.astype(np.float32, copy=False), lead + onehot.shape))
        elif f == "conf":
            m = np.asarray(mask, dtype=np.float32)
            if confidence is not None:
                c = np.asarray(confidence, dtype=np.float32)
                m = np.where(np.isnan(c), np.float32(1), c) * m
            blocks.append(np.broadcast_to(m, pos.shape[:-1])[..., None])
        elif f == "normal":
            blocks.append(vertex_normals_np(pos, triangles).astype(np.float32, copy=False))
    return np.concatenate(blocks, -1).astype(np.float32, copy=False)
