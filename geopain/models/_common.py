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
                edge_attr: Tensor | None = None, pos: Tensor | None = None) -> Tensor:
        return self.head(self.embed(x, edge_index, edge_weight, edge_attr, pos))

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
