"""Weighted facial graphs for F frames at once, as PyG ``Batch``/``Data`` or networkx.

Graph (documented in :mod:`geopain.graphs.transforms` and :mod:`geopain.graphs.weights`):

- nodes = the scheme's landmarks; ``x`` = normalised position, displacement from the
  reference (template, or a subject's neutral shape), one-hot region, confidence
  (optionally surface normal); ``pos`` = normalised coordinates (missing points filled
  with the reference and flagged by confidence 0);
- edges = the scheme's anatomical edges, optionally joined by k nearest neighbours and/or
  Delaunay edges *on the template*: one topology for every frame, stored once;
- ``edge_weight`` = ``1 + |strain| / 0.1`` (strain = relative change of edge length against
  the reference), optionally times temporal co-movement; ``edge_attr`` = length
  (scale-free), strain, unit direction.

:meth:`FacialGraphBuilder.tensors` runs the transforms once over all frames;
:meth:`FacialGraphBuilder.to_batch` lays them out as a PyG ``Batch`` with index offsets
computed by broadcasting (no per-graph Python work), which is what keeps graph building
far above the models' inference rate.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from ..errors import ShapeError
from ..species import Scheme, get_scheme
from ._pyg import Batch, Compose, Data
from .transforms import CoMovement, EdgeGeometry, EdgeWeight, FillMissing, NodeFeatures, TemplateTopology

__all__ = ["GraphTensors", "FacialGraphBuilder", "graphs_from_sequences"]


@dataclass
class GraphTensors:
    """Graphs of ``F`` frames sharing one topology (all torch tensors).

    ``pos (F, N, 3)``, ``x (F, N, Fn)``, ``edge_index (2, E)`` directed (shared),
    ``edge_weight (F, E)``, ``edge_attr (F, E, 5)``, ``region (N,)``, ``mask (F, N)``
    (observed points), ``reference (N, 3)`` or ``(F, N, 3)``, ``length``/``strain (F, E)``,
    ``confidence (F, N)`` or None, ``comovement (F, E)`` or None.
    """

    pos: torch.Tensor
    x: torch.Tensor | None = None
    edge_index: torch.Tensor | None = None
    edge_weight: torch.Tensor | None = None
    edge_attr: torch.Tensor | None = None
    region: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    reference: torch.Tensor | None = None
    length: torch.Tensor | None = None
    strain: torch.Tensor | None = None
    edge_mask: torch.Tensor | None = None
    confidence: torch.Tensor | None = None
    comovement: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.pos.shape[0]

    @property
    def num_nodes(self) -> int:
        return self.pos.shape[1]

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]

    def __getitem__(self, index) -> "GraphTensors":
        """The graphs of some frames (int, slice, mask or index array)."""
        idx = torch.as_tensor(np.atleast_1d(np.arange(len(self))[index]))
        per_frame = {"pos", "x", "edge_weight", "edge_attr", "mask", "length", "strain", "edge_mask",
                     "confidence", "comovement"}
        changes = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None:
                continue
            if f.name in per_frame or (f.name == "reference" and v.dim() == 3):
                changes[f.name] = v[idx]
        return replace(self, **changes)

    def __repr__(self) -> str:
        parts = [f"{f.name}={list(getattr(self, f.name).shape)}" for f in fields(self) if getattr(self, f.name) is not None]
        return f"GraphTensors({', '.join(parts)})"


class FacialGraphBuilder:
    """Builds weighted facial graphs of a scheme (see module doc).

    Args:
        scheme: a :class:`~geopain.species.Scheme` or its key.
        knn: join each point to its ``knn`` nearest neighbours on the template (0 = off).
        delaunay: join the Delaunay edges of the template's frontal projection.
        weighting: a name in :data:`~geopain.graphs.weights.WEIGHTINGS` (``strain``, ``distance``, ``uniform``).
        features: node feature blocks (:data:`~geopain.graphs.transforms.NODE_FEATURES`).
        comovement: multiply weights by temporal co-movement (frames must be one sequence in order).
        window, mix: co-movement window (frames) and mixing factor.
        weight_kwargs: extra arguments of the weighting (e.g. ``{"scale": 0.2}``).
        edges: compute the per-frame edge geometry and weights (``edge_attr``, ``edge_weight``);
            ``False`` for models that read node features only (registry ``graph=False``), whose
            graphs then carry the shared ``edge_index`` but no per-frame edge tensors.
    """

    def __init__(
        self,
        scheme: Scheme | str,
        knn: int = 0,
        delaunay: bool = False,
        weighting: str = "strain",
        features: Sequence[str] = ("pos", "disp", "region", "conf"),
        comovement: bool = False,
        window: int = 5,
        mix: float = 0.5,
        weight_kwargs: dict[str, Any] | None = None,
        edges: bool = True,
    ):
        self.scheme = get_scheme(scheme) if isinstance(scheme, str) else scheme
        self.knn, self.delaunay, self.weighting = knn, delaunay, weighting
        self.features, self.comovement = tuple(features), comovement
        self.window, self.mix, self.weight_kwargs = window, mix, dict(weight_kwargs or {})
        self.edges = bool(edges)
        self.topology = TemplateTopology(self.scheme, knn=knn, delaunay=delaunay)
        self.node_features = NodeFeatures(self.scheme, self.features)
        steps = [self.topology, FillMissing(self.scheme)]
        if self.edges:
            steps += [EdgeGeometry(self.scheme), EdgeWeight(weighting, **self.weight_kwargs)]
        if self.edges and comovement:
            steps.append(CoMovement(window, mix))
        steps.append(self.node_features)
        self.transform = Compose(steps)

    # -- shapes ---------------------------------------------------------------------------
    @property
    def num_node_features(self) -> int:
        return self.node_features.num_features

    @property
    def num_edge_features(self) -> int:
        return 5

    @property
    def edge_index(self) -> torch.Tensor:
        """``(2, 2E)`` directed edges shared by every graph."""
        return self.topology.edge_index

    # -- building -------------------------------------------------------------------------
    def tensors(self, coords, reference=None, confidence=None) -> GraphTensors:
        """Graphs of ``coords (F, N, 3)`` (normalised, template frame; NaN = missing), all at once.

        ``reference``: ``(N, 3)`` or ``(F, N, 3)`` neutral shape (default: the template);
        ``confidence``: ``(F, N)`` point confidence for the ``conf`` feature.
        """
        pos = torch.as_tensor(np.asarray(coords) if not torch.is_tensor(coords) else coords, dtype=torch.float32)
        if pos.dim() == 2:
            pos = pos.unsqueeze(0)
        if pos.dim() != 3 or pos.shape[1:] != (self.scheme.n_points, 3):
            raise ShapeError(f"coords: expected (F, {self.scheme.n_points}, 3) for {self.scheme.key}, got {tuple(pos.shape)}")
        gt = GraphTensors(pos=pos)
        if reference is not None:
            gt.reference = torch.as_tensor(np.asarray(reference, dtype=np.float32))
        if confidence is not None:
            conf = torch.as_tensor(np.asarray(confidence, dtype=np.float32))
            if conf.shape != pos.shape[:2]:
                raise ShapeError(f"confidence: expected {tuple(pos.shape[:2])}, got {tuple(conf.shape)}")
            gt.confidence = conf
        return self.transform(gt)

    def to_batch(self, tensors: GraphTensors, y=None, **graph_attrs) -> Batch:
        """A PyG ``Batch`` of the ``F`` graphs in ``tensors`` (offsets by broadcasting).

        ``y``: ``(F,)`` or ``(F, k)`` graph labels; ``graph_attrs``: further ``(F, ...)`` tensors.
        ``batch.to_data_list()`` and ``batch[i]`` work as for ``Batch.from_data_list``.
        """
        F, N = len(tensors), tensors.num_nodes
        E = tensors.num_edges
        offsets = torch.arange(F, dtype=torch.long) * N
        ei = (tensors.edge_index.unsqueeze(1) + offsets.view(1, F, 1)).reshape(2, F * E)
        b = Batch(_base_cls=Data)
        b.x = tensors.x.reshape(F * N, tensors.x.shape[-1])
        b.pos = tensors.pos.reshape(F * N, 3)
        b.edge_index = ei
        b.edge_weight = tensors.edge_weight.reshape(F * E)
        b.edge_attr = tensors.edge_attr.reshape(F * E, tensors.edge_attr.shape[-1])
        b.batch = torch.arange(F).repeat_interleave(N)
        b.ptr = torch.arange(F + 1) * N
        node_slice, edge_slice = torch.arange(F + 1) * N, torch.arange(F + 1) * E
        zeros = torch.zeros(F, dtype=torch.long)
        slices = {"x": node_slice, "pos": node_slice, "edge_index": edge_slice, "edge_weight": edge_slice,
                  "edge_attr": edge_slice}
        incs = {"x": zeros, "pos": zeros, "edge_index": offsets, "edge_weight": zeros, "edge_attr": zeros}
        extra = dict(graph_attrs)
        if y is not None:
            extra["y"] = y
        for key, value in extra.items():
            v = torch.as_tensor(np.asarray(value) if not torch.is_tensor(value) else value)
            if v.shape[0] != F:
                raise ShapeError(f"{key}: expected {F} values (one per graph), got shape {tuple(v.shape)}")
            b[key] = v
            slices[key] = torch.arange(F + 1)
            incs[key] = zeros
        b._slice_dict, b._inc_dict, b._num_graphs = slices, incs, F
        return b

    def to_data_list(self, tensors: GraphTensors, y=None, **graph_attrs) -> list[Data]:
        """One ``Data`` per frame (``x, pos, edge_index, edge_weight, edge_attr[, y]`` plus
        ``graph_attrs``; per-frame arrays are indexed, scalars and strings are copied)."""
        F = len(tensors)
        yv = None if y is None else torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y)
        out = []
        for i in range(F):
            d = Data(x=tensors.x[i], pos=tensors.pos[i], edge_index=tensors.edge_index,
                     edge_weight=tensors.edge_weight[i], edge_attr=tensors.edge_attr[i])
            if yv is not None:
                d.y = yv[i:i + 1]
            for k, v in graph_attrs.items():
                d[k] = v[i] if isinstance(v, (np.ndarray, torch.Tensor, list, tuple)) else v
            out.append(d)
        return out

    def __call__(self, coords, y=None, reference=None, confidence=None) -> list[Data]:
        """``Data`` graphs of ``coords (F, N, 3)``."""
        return self.to_data_list(self.tensors(coords, reference=reference, confidence=confidence), y=y)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.scheme.key!r}, transform={self.transform!r})"


def graphs_from_sequences(
    sequences: Iterable,
    builder: FacialGraphBuilder,
    label: str = "pain",
    neutral: Any = None,
    neutrals: dict[str, np.ndarray] | None = None,
) -> list[Data]:
    """``Data`` graphs of every frame of ``sequences`` (normalised first when needed).

    Each graph has ``y`` (the frame's ``label``, NaN if unknown) and ``subject``,
    ``sequence``, ``frame``, ``face_id``. ``neutral`` is passed to
    :func:`~geopain.geometry.normalize.normalize`; ``neutrals`` (``{subject: (N, 3)}``, see
    :func:`~geopain.geometry.neutral.subject_neutrals`) makes each subject's neutral shape
    the graph reference (strain and displacement against the subject, not the template).
    Co-movement, when enabled, is computed within each sequence.
    """
    from ..geometry.normalize import normalize

    out: list[Data] = []
    for s in sequences:
        if s.scheme != builder.scheme.key:
            raise ShapeError(f"{s.subject}/{s.sequence}: scheme {s.scheme} but the builder is for {builder.scheme.key}")
        if s.units != "template" or neutral is not None:
            s = normalize(s, neutral=neutral)
        ref = None if not neutrals or s.subject not in neutrals else neutrals[s.subject]
        gt = builder.tensors(s.coords, reference=ref, confidence=s.confidence)
        y = s.labels.get(label, np.full(s.n_frames, np.nan)).astype(np.float32)
        out.extend(builder.to_data_list(gt, y=y, subject=s.subject, sequence=s.sequence,
                                        frame=[int(f) for f in s.frames], face_id=s.face_id))
    return out
