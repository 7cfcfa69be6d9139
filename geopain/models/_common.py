"""Shared pieces of the torch models: per-point MLPs, heads, dense batches and neighbour search.

Every torch model in :mod:`geopain.models` works on *dense, fixed-topology* batches::

    x            (B, N, F)   node / point features (normalised landmark geometry)
    edge_index   (2, E)      one directed edge list shared by every graph of the batch
    edge_weight  (B, E)      per-graph edge weights (e.g. strain), optional
    edge_attr    (B, E, K)   per-graph edge features, optional
    pos          (B, N, 3)   point positions (defaults to ``x[..., :3]``)

Facial graphs of one scheme all have the same nodes and edges, so a batch is a tensor and
message passing is one gather/scatter over ``E`` for the whole batch: no Python list of
``Data`` on the hot path. :func:`dense_from_batch` turns a torch-geometric ``Batch`` of
such graphs into these tensors for users who hold ``Data`` objects.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ShapeError


def mlp(channels: list[int], dropout: float = 0.0, last_act: bool = True) -> nn.Sequential:
    """Linear layers with ReLU (applied on the last dim, so it works per point)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(channels[:-1], channels[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(channels) - 2 or last_act:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Head(nn.Module):
    """Embedding ``(B, D)`` -> outputs ``(B, out)`` (logits or a regression value)."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, out_channels))

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)


class CumulativeLinkHead(nn.Module):
    """Ordered levels: a cumulative link (proportional odds) head.

    One latent pain value ``z = f(h)`` and ``K - 1`` ordered thresholds
    ``t_1 < t_2 < ... < t_{K-1}`` (``t_1`` free, the gaps ``softplus``-positive), so
    ``P(y > k) = sigmoid(z - t_{k+1})`` decreases with ``k`` for every input: the level
    probabilities can never contradict the order of the levels. ``forward`` returns the
    **log** level probabilities ``(B, K)``; cross-entropy on them is the model's exact
    likelihood and ``softmax`` of them gives the probabilities back.
    """

    def __init__(self, in_channels: int, hidden: int, n_levels: int, dropout: float = 0.1):
        super().__init__()
        if n_levels < 2:
            raise ShapeError(f"an ordinal head needs at least 2 levels, got {n_levels}")
        self.n_levels = n_levels
        self.net = nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))
        self.first = nn.Parameter(torch.zeros(1))
        self.gaps = nn.Parameter(torch.zeros(n_levels - 2))
        self.log_scale = nn.Parameter(torch.zeros(1))

    def thresholds(self) -> Tensor:
        """``(K - 1,)`` strictly increasing thresholds."""
        return torch.cat([self.first, self.first + torch.cumsum(nn.functional.softplus(self.gaps) + 1e-3, 0)])

    def latent(self, h: Tensor) -> Tensor:
        """``(B,)`` latent pain value."""
        return self.net(h)[:, 0]

    @torch.no_grad()
    def init_thresholds(self, z: Tensor, y: Tensor) -> None:
        """Start the scale and thresholds from latent values ``z (S,)`` of training samples with
        levels ``y (S,)``: thresholds at the quantiles of ``z`` given by the cumulative level
        frequencies, the scale so that the latent spread is a few logits. For a latent that was
        learned elsewhere (a pretrained encoder's score), whose units the new levels do not know."""
        z, y = z.double().flatten(), y.long().flatten()
        ok = torch.isfinite(z)
        z, y = z[ok], y[ok]
        if len(z) < 2:
            return
        spread = float(z.std())
        scale = 3.0 / spread if spread > 1e-9 else 1.0
        cum = torch.cumsum(torch.bincount(y, minlength=self.n_levels).double(), 0)[:-1] / len(y)
        q = torch.quantile(z, cum.clamp(0.01, 0.99)) * scale
        gaps = torch.clamp(q[1:] - q[:-1] - 1e-3, min=1e-3)
        self.log_scale.fill_(float(np.log(scale)))
        self.first.fill_(float(q[0]))
        self.gaps.copy_(gaps + torch.log(-torch.expm1(-gaps)))  # inverse softplus

    def log_probs(self, z: Tensor) -> Tensor:
        """``(B, K)`` log level probabilities of latent values ``z (B,)``."""
        above = torch.sigmoid(z[:, None] * self.log_scale.exp() - self.thresholds()[None])  # (B, K-1) P(y > k)
        ones, zeros = torch.ones_like(above[:, :1]), torch.zeros_like(above[:, :1])
        cum = torch.cat([ones, above, zeros], 1)
        return torch.log((cum[:, :-1] - cum[:, 1:]).clamp_min(1e-7))

    def forward(self, h: Tensor) -> Tensor:
        return self.log_probs(self.latent(h))


#: Output heads by name (``head=`` of every frame model).
HEADS = ("softmax", "ordinal")


def make_head(kind: str, in_channels: int, hidden: int, out_channels: int, dropout: float = 0.1) -> nn.Module:
    """``"softmax"`` (logits, or one regression value) or ``"ordinal"`` (:class:`CumulativeLinkHead`)."""
    if kind == "softmax":
        return Head(in_channels, hidden, out_channels, dropout)
    if kind == "ordinal":
        return CumulativeLinkHead(in_channels, hidden, out_channels, dropout)
    raise ShapeError(f"head must be one of {HEADS}, got {kind!r}")


class LandmarkReadout(nn.Module):
    """Readout of a fixed-topology face: ``[max_n h, mean_n h]`` plus, with ``n_nodes``,
    a few channels of every landmark kept in place (``(B, N, r)`` flattened).

    Faces of one scheme share their nodes, so *which* landmark moved is information that
    symmetric pooling throws away (PointNet's max+mean cannot tell a lowered brow from a
    raised lip corner of the same size). The per-landmark channels keep it.
    """

    def __init__(self, hidden: int, n_nodes: int = 0, per_node: int = 2):
        super().__init__()
        self.n_nodes, self.per_node = int(n_nodes), int(per_node) if n_nodes else 0
        self.proj = nn.Linear(hidden, self.per_node) if self.per_node else None
        self.out_dim = 2 * hidden + self.n_nodes * self.per_node

    def forward(self, h: Tensor) -> Tensor:
        pooled = [h.amax(1), h.mean(1)]
        if self.proj is not None:
            if h.shape[1] != self.n_nodes:
                raise ShapeError(f"the landmark readout was built for {self.n_nodes} nodes, got {h.shape[1]}")
            pooled.append(self.proj(h).flatten(1))
        return torch.cat(pooled, -1)


class NodeIdentity(nn.Module):
    """A learned vector per landmark added to its hidden features (``n_nodes`` 0: none)."""

    def __init__(self, n_nodes: int, hidden: int):
        super().__init__()
        self.n_nodes = int(n_nodes)
        self.weight = nn.Parameter(torch.randn(n_nodes, hidden) * 0.1) if n_nodes else None

    def forward(self, h: Tensor) -> Tensor:
        if self.weight is None:
            return h
        if h.shape[1] != self.n_nodes:
            raise ShapeError(f"node identities were built for {self.n_nodes} landmarks, got {h.shape[1]}")
        return h + self.weight


def check_dense(x: Tensor, name: str = "x") -> None:
    if x.dim() != 3:
        raise ShapeError(f"{name}: expected a dense batch (B, N, F), got shape {tuple(x.shape)}")


def dense_from_batch(batch: Any) -> dict[str, Tensor]:
    """A torch-geometric ``Batch`` (or ``Data``) of graphs with the same nodes -> dense tensors.

    Returns ``{"x": (B,N,F), "edge_index": (2,E), "edge_weight": (B,E)|None,
    "edge_attr": (B,E,K)|None, "pos": (B,N,3)|None}``. Every graph must have the same
    number of nodes and the same edge list (the facial graph of one scheme).
    """
    num_graphs = int(getattr(batch, "num_graphs", 1) or 1)
    x = batch.x
    total = x.shape[0]
    if total % num_graphs:
        raise ShapeError(f"graphs of a batch must have the same number of nodes ({total} nodes, {num_graphs} graphs)")
    n = total // num_graphs
    e_total = batch.edge_index.shape[1]
    if e_total % num_graphs:
        raise ShapeError("graphs of a batch must have the same number of edges")
    e = e_total // num_graphs
    edge_index = batch.edge_index[:, :e]
    offsets = (batch.edge_index.view(2, num_graphs, e) - edge_index[:, None, :])
    expected = (torch.arange(num_graphs, device=x.device) * n)[None, :, None]
    if not torch.equal(offsets, expected.expand_as(offsets)):
        raise ShapeError("graphs of a batch must share one edge list (fixed facial topology)")
    out: dict[str, Tensor | None] = {"x": x.view(num_graphs, n, -1), "edge_index": edge_index}
    ew = getattr(batch, "edge_weight", None)
    out["edge_weight"] = None if ew is None else ew.view(num_graphs, e)
    ea = getattr(batch, "edge_attr", None)
    out["edge_attr"] = None if ea is None else ea.view(num_graphs, e, -1)
    pos = getattr(batch, "pos", None)
    out["pos"] = None if pos is None else pos.view(num_graphs, n, -1)
    return out  # type: ignore[return-value]


class DenseModel(nn.Module):
    """Base class: ``forward(x, edge_index, edge_weight, edge_attr, pos) -> (B, out)``,
    ``embed(...) -> (B, embed_dim)`` and ``forward_batch(batch)`` for PyG batches."""

    embed_dim: int

    def embed(self, x: Tensor, edge_index: Tensor | None = None, edge_weight: Tensor | None = None,
              edge_attr: Tensor | None = None, pos: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, edge_index: Tensor | None = None, edge_weight: Tensor | None = None,
                edge_attr: Tensor | None = None, pos: Tensor | None = None, features: Tensor | None = None) -> Tensor:
        """``features (B, M)`` (per-frame measurements) are used by hybrid models only."""
        return self.head(self.embed(x, edge_index, edge_weight, edge_attr, pos))

    def latent(self, x: Tensor, edge_index: Tensor | None = None, edge_weight: Tensor | None = None,
               edge_attr: Tensor | None = None, pos: Tensor | None = None, features: Tensor | None = None) -> Tensor:
        """``(B,)`` the ordinal head's latent pain value (models with a :class:`CumulativeLinkHead`)."""
        return self.head.latent(self.embed(x, edge_index, edge_weight, edge_attr, pos))

    def forward_batch(self, batch: Any) -> Tensor:
        """Run on a torch-geometric ``Batch`` of same-topology graphs (see :func:`dense_from_batch`)."""
        return self(**dense_from_batch(batch))


def knn_index(query: Tensor, points: Tensor, k: int) -> Tensor:
    """``(B, M, k)`` indices of the ``k`` nearest ``points (B, N, D)`` of each ``query (B, M, D)``.

    Per-graph distances (a batched ``cdist`` over ``(B, M, N)``, small for faces), then ``topk``.
    The query point itself is included when it is among ``points``.
    """
    k = min(k, points.shape[1])
    d = torch.cdist(query, points)
    return d.topk(k, dim=-1, largest=False).indices


def gather_points(values: Tensor, index: Tensor) -> Tensor:
    """``values (B, N, C)`` at ``index (B, M, k)`` -> ``(B, M, k, C)``."""
    b = torch.arange(values.shape[0], device=values.device).view(-1, *([1] * (index.dim() - 1)))
    return values[b, index]


def farthest_point_sample(pos: Tensor, m: int) -> Tensor:
    """``(B, m)`` indices chosen by farthest point sampling, vectorised over the batch.

    Starts at the point nearest each cloud's centroid, so the result is deterministic.
    """
    B, N, _ = pos.shape
    m = min(m, N)
    ar = torch.arange(B, device=pos.device)
    idx = torch.zeros(B, m, dtype=torch.long, device=pos.device)
    far = (pos - pos.mean(1, keepdim=True)).pow(2).sum(-1).argmin(1)
    dist = torch.full((B, N), float("inf"), device=pos.device, dtype=pos.dtype)
    for i in range(m):
        idx[:, i] = far
        d = (pos - pos[ar, far][:, None]).pow(2).sum(-1)
        dist = torch.minimum(dist, d)
        far = dist.argmax(1)
    return idx
