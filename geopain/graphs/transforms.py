"""Composable graph transforms (torch-geometric style) for facial landmark graphs.

Every transform is a :class:`torch_geometric.transforms.BaseTransform` with a ``repr``
and works on *any number of leading frame dimensions*: on a single
:class:`~torch_geometric.data.Data` (``pos (N, 3)``) and, unchanged, on a
:class:`~geopain.graphs.builder.GraphTensors` holding ``F`` frames at once
(``pos (F, N, 3)``, shared ``edge_index``). That is how
:class:`~geopain.graphs.FacialGraphBuilder` stays vectorised: one pass of these transforms
over all frames, no loop.

Edge convention: ``edge_index`` is ``(2, 2E)``; columns ``e`` and ``e + E`` are the two
directions of undirected edge ``e`` (``i < j`` first). The topology comes from the
template, so it is the same for every frame.

Order (see :class:`~geopain.graphs.FacialGraphBuilder`): :class:`TemplateTopology` ->
:class:`FillMissing` -> :class:`EdgeGeometry` -> :class:`EdgeWeight` [-> :class:`CoMovement`]
-> :class:`NodeFeatures`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from scipy.spatial import Delaunay, cKDTree

from ..errors import GeopainError, ShapeError
from ..species import REGIONS, Scheme, get_scheme
from ._pyg import BaseTransform
from .arrays import edge_geometry, edge_weights, fill_missing, node_features, vertex_normals_np
from .temporal import comovement
from .weights import WEIGHTINGS, comovement_factor

__all__ = ["template_edges", "template_triangles", "TemplateTopology", "FillMissing", "EdgeGeometry",
           "EdgeWeight", "CoMovement", "NodeFeatures", "NODE_FEATURES", "vertex_normals"]

#: Node feature blocks and their widths.
NODE_FEATURES = {"pos": 3, "disp": 3, "region": len(REGIONS), "conf": 1, "normal": 3}


def _scheme(scheme: Scheme | str) -> Scheme:
    return get_scheme(scheme) if isinstance(scheme, str) else scheme


def template_edges(scheme: Scheme | str, knn: int = 0, delaunay: bool = False) -> np.ndarray:
    """``(E, 2)`` undirected unique edges ``i < j``: the scheme's anatomical edges, joined by
    the ``knn`` nearest neighbours of each point on the 3D template (scipy cKDTree) and/or the
    Delaunay triangulation of the template's frontal (x, y) projection."""
    sch = _scheme(scheme)
    if knn < 0:
        raise GeopainError(f"knn must be >= 0, got {knn}")
    T = sch.template
    parts = [np.sort(np.asarray(sch.edges, dtype=np.int64), 1)]
    if knn:
        k = min(knn, sch.n_points - 1)
        _, nb = cKDTree(T).query(T, k=k + 1)
        src = np.repeat(np.arange(sch.n_points), k)
        parts.append(np.sort(np.stack([src, nb[:, 1:].ravel()], 1), 1))
    if delaunay:
        tri = Delaunay(T[:, :2]).simplices
        e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]])
        parts.append(np.sort(e, 1))
    edges = np.unique(np.concatenate(parts), axis=0)
    return edges[edges[:, 0] != edges[:, 1]].astype(np.int64)


def template_triangles(scheme: Scheme | str) -> np.ndarray:
    """``(K, 3)`` triangles for surface normals, oriented so the template normal faces +z.

    The 3-cliques of the scheme's edges when they touch every point (a mesh such as
    MediaPipe's tessellation), else the Delaunay triangulation of the frontal projection.
    """
    sch = _scheme(scheme)
    adj: list[set[int]] = [set() for _ in range(sch.n_points)]
    for a, b in sch.edges:
        adj[int(a)].add(int(b))
        adj[int(b)].add(int(a))
    tris = [(i, j, k) for i, j in sch.edges.tolist() for k in adj[i] & adj[j] if k > j]
    tri = np.array(tris, dtype=np.int64).reshape(-1, 3)
    if len(tri) == 0 or len(np.unique(tri)) < sch.n_points:
        tri = Delaunay(sch.template[:, :2]).simplices.astype(np.int64)
    T = sch.template
    n = np.cross(T[tri[:, 1]] - T[tri[:, 0]], T[tri[:, 2]] - T[tri[:, 0]])
    flip = n[:, 2] < 0
    tri[flip] = tri[flip][:, [0, 2, 1]]
    return tri


def _half(data) -> tuple[np.ndarray, np.ndarray, int]:
    ei = _np(data.edge_index)
    E = ei.shape[1] // 2
    return ei[0, :E], ei[1, :E], E


def _np(value, dtype=None) -> np.ndarray:
    """A numpy view of a (CPU) tensor or array. The per-frame maths runs in numpy, whose
    small-inner-dimension kernels (gathers along the last axis, slice writes) are several
    times faster than torch's on CPU; results go back as tensors with ``torch.from_numpy``
    (no copy)."""
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    return np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype)


class TemplateTopology(BaseTransform):
    """Sets ``edge_index (2, 2E)`` (template topology, both directions) and ``region (N,)``."""

    def __init__(self, scheme: Scheme | str, knn: int = 0, delaunay: bool = False):
        self.scheme = _scheme(scheme)
        self.knn, self.delaunay = int(knn), bool(delaunay)
        und = template_edges(self.scheme, self.knn, self.delaunay)
        self.undirected = und
        self.edge_index = torch.from_numpy(np.concatenate([und.T, und.T[::-1]], 1).copy())
        self.region = torch.from_numpy(self.scheme.region_index)

    def forward(self, data):
        data.edge_index = self.edge_index
        data.region = self.region
        return data

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.scheme.key!r}, knn={self.knn}, delaunay={self.delaunay}, "
                f"edges={len(self.undirected)})")


class FillMissing(BaseTransform):
    """Sets ``reference`` (the template unless already set: e.g. a subject's neutral shape),
    ``mask (..., N)`` (point observed) and replaces missing ``pos`` by the reference."""

    def __init__(self, scheme: Scheme | str):
        self.scheme = _scheme(scheme)
        self.template = self.scheme.template.astype(np.float32)

    def forward(self, data):
        pos = _np(data.pos, np.float32)
        if pos.shape[-2:] != (self.scheme.n_points, 3):
            raise ShapeError(f"pos: expected (..., {self.scheme.n_points}, 3) for {self.scheme.key}, got {tuple(pos.shape)}")
        ref = getattr(data, "reference", None)
        pos, ref, mask = fill_missing(pos, self.template, None if ref is None else _np(ref, np.float32))
        data.reference = torch.from_numpy(np.ascontiguousarray(ref))
        data.mask = torch.from_numpy(mask)
        data.pos = torch.from_numpy(np.ascontiguousarray(pos))
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.scheme.key!r})"


class EdgeGeometry(BaseTransform):
    """Sets ``length`` (scale-free: / the reference's reference-pair distance), ``strain``
    (``(l - l0) / l0`` against the reference), ``edge_mask`` (both ends observed) and
    ``edge_attr (..., 2E, 5)`` = length, strain, unit direction (x, y, z) of the edge
    (:func:`geopain.graphs.arrays.edge_geometry`, a fused kernel).
    Edges touching a missing point have strain 0 and the reference's length and direction.
    ``edge_attr`` is a transposed view of a contiguous ``(..., 5, 2E)`` buffer."""

    def __init__(self, scheme: Scheme | str):
        self.scheme = _scheme(scheme)

    def forward(self, data):
        src, dst, E = _half(data)
        pos, ref, mask = _np(data.pos, np.float32), _np(data.reference, np.float32), _np(data.mask)
        attr, ok = edge_geometry(pos, ref, mask, np.stack([src, dst], 1), self.scheme.reference_pair)
        buf = torch.from_numpy(attr)
        data.edge_attr = buf.transpose(-1, -2)  # (..., 2E, 5)
        data.length = buf[..., 0, :]
        data.strain = buf[..., 1, :]
        data.edge_mask = torch.from_numpy(np.concatenate([ok, ok], -1))
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(attr=[length, strain, dx, dy, dz])"


class EdgeWeight(BaseTransform):
    """Sets ``edge_weight (..., 2E)`` from a registered weighting of length and strain
    (:data:`~geopain.graphs.weights.WEIGHTINGS`); 0 on edges touching a missing point."""

    def __init__(self, weighting: str = "strain", **kwargs):
        self.fn = WEIGHTINGS.get(weighting)
        self.weighting, self.kwargs = weighting, kwargs

    def forward(self, data):
        E = data.length.shape[-1] // 2
        ok = _np(data.edge_mask)[..., :E]
        w = edge_weights(_np(data.length), _np(data.strain), ok, self.weighting, **self.kwargs)
        data.edge_weight = torch.from_numpy(np.ascontiguousarray(w))
        return data

    def __repr__(self) -> str:
        kw = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.__class__.__name__}({self.weighting!r}{kw})"


class CoMovement(BaseTransform):
    """Multiplies ``edge_weight`` by the co-movement factor of the edge's end points over a
    window of frames (:func:`~geopain.graphs.temporal.comovement`). Needs ``pos (T, N, 3)`` with
    frames in time order (one sequence); on a single frame it leaves the weights unchanged."""

    def __init__(self, window: int = 5, mix: float = 0.5):
        self.window, self.mix = int(window), float(mix)

    def forward(self, data):
        if data.pos.dim() != 3:
            return data
        src, dst, E = _half(data)
        mask = _np(data.mask)
        pos = np.where(mask[..., None], _np(data.pos), np.float32(np.nan))
        c = comovement(pos, np.stack([src, dst], 1), _np(data.reference), window=self.window)
        data.comovement = torch.cat([c, c], -1)
        data.edge_weight = data.edge_weight * comovement_factor(data.comovement, self.mix)
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(window={self.window}, mix={self.mix})"


class NodeFeatures(BaseTransform):
    """Sets ``x (..., N, F)``: the blocks named in ``features`` (see :data:`NODE_FEATURES`):
    ``pos`` position / reference distance, ``disp`` displacement from the reference / reference
    distance, ``region`` one-hot over :data:`~geopain.species.REGIONS`, ``conf`` point confidence
    (0 for missing points, 1 where unknown), ``normal`` unit surface normal from
    :func:`template_triangles`. Missing points have ``disp`` 0."""

    def __init__(self, scheme: Scheme | str, features: Sequence[str] = ("pos", "disp", "region", "conf")):
        self.scheme = _scheme(scheme)
        bad = [f for f in features if f not in NODE_FEATURES]
        if bad or not features:
            raise GeopainError(f"unknown node features {bad}; choose from {list(NODE_FEATURES)}")
        self.features = tuple(features)
        self.onehot = np.eye(len(REGIONS), dtype=np.float32)[self.scheme.region_index]
        self.triangles = torch.from_numpy(template_triangles(self.scheme)) if "normal" in self.features else None
        a, b = self.scheme.reference_pair
        self.ref_len = float(np.linalg.norm(self.scheme.template[a] - self.scheme.template[b]))

    @property
    def num_features(self) -> int:
        return sum(NODE_FEATURES[f] for f in self.features)

    def forward(self, data):
        pos, ref, mask = _np(data.pos, np.float32), _np(data.reference, np.float32), _np(data.mask)
        conf = getattr(data, "confidence", None)
        x = node_features(pos, ref, mask, self.features, self.onehot, self.ref_len,
                          None if conf is None else _np(conf, np.float32),
                          None if self.triangles is None else _np(self.triangles))
        data.x = torch.from_numpy(x)
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({list(self.features)}, dim={self.num_features})"


def vertex_normals(pos: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """``(..., N, 3)`` unit vertex normals: area-weighted sums of the incident triangles' normals."""
    return torch.from_numpy(vertex_normals_np(_np(pos), _np(triangles)))
