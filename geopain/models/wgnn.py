"""WGNN: a weighted geometric graph network on the facial graph.

Architecture (``L`` = ``layers``, ``H`` = ``hidden``)::

    x (B,N,F) [+ mean edge features of each node (B,N,K)] -> Linear(F+K,H) + ReLU
    repeat L times:   h <- h + ReLU(W_root h + W_nbr A(w) h)
    readout: [max_n h, mean_n h] (B, 2H) -> MLP head -> (B, out)

``A(w)`` is the symmetric-normalised weighted adjacency of the facial graph,
``A_ij = w_ij / sqrt(d_i d_j)`` with ``d_i = 1 + sum_j w_ij`` (a self-loop of weight 1
keeps isolated nodes finite): the edge weights of the facial graph (e.g. strain against
the neutral template, from :class:`geopain.graphs.FacialGraphBuilder`) enter the
aggregation of every layer, per frame. With ``refine=True`` and edge features
``edge_attr (B,E,K)`` present, each weight is multiplied by ``2 * sigmoid(g(edge_attr))``
where ``g`` is a small learned MLP initialised near 0 (so training starts from the given
weights). ``uniform=True`` builds the *same* network (same inputs, including the edge features
averaged onto nodes) with every weight set to 1 and no refinement (``"wgnn-uniform"`` in the registry): comparing the two in one protocol run
measures what the weights contribute instead of assuming it.

Message passing is vectorised over the batch: the normalised adjacency is built once per
batch as a dense ``(B, N, N)`` tensor (faces have tens of nodes) and every layer aggregates
with one batched matmul. With uniform weights it is one ``(N, N)`` matrix shared by the batch.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ShapeError
from ._common import DenseModel, Head, check_dense, mlp


class WeightedGraphConv(nn.Module):
    """``h_i' = W_root h_i + W_nbr sum_j A_ij h_j`` on dense batches (GraphConv with
    a normalised weighted adjacency)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.lin_root = nn.Linear(in_channels, out_channels)
        self.lin_nbr = nn.Linear(in_channels, out_channels, bias=False)

    def forward(self, h: Tensor, adj: "Adjacency") -> Tensor:
        return adj.propagate(self.lin_nbr(h), add=self.lin_root(h))


class Adjacency:
    """The normalised weighted adjacency of a batch of same-topology graphs.

    ``edge_index (2, E)`` (source row 0, target row 1) is shared; ``weight`` is ``(B, E)``
    (per graph) or ``None`` (uniform: every weight 1). Faces are small (tens of nodes), so
    the adjacency is stored dense, ``(B, N, N)`` or one shared ``(N, N)``, and aggregation
    is a batched matmul: several times faster on CPUs than gather + scatter over edges.
    """

    def __init__(self, edge_index: Tensor, weight: Tensor | None, n_nodes: int):
        src, dst = edge_index[0], edge_index[1]
        flat = dst * n_nodes + src
        if weight is None:
            ones = torch.ones(flat.shape[0], device=edge_index.device)
            dense = torch.zeros(n_nodes * n_nodes, device=edge_index.device).index_add_(0, flat, ones)
            dense = dense.view(n_nodes, n_nodes)
            inv = (1.0 + dense.sum(1)).rsqrt()
            self.shared = True
            self.dense = inv[:, None] * dense * inv[None, :]  # (N, N)
        else:
            B = weight.shape[0]
            deg = torch.ones(B, n_nodes, device=weight.device, dtype=weight.dtype).index_add_(1, dst, weight)
            inv = deg.rsqrt()
            norm = weight * inv[:, src] * inv[:, dst]  # (B, E)
            dense = torch.zeros(B, n_nodes * n_nodes, device=weight.device, dtype=weight.dtype)
            self.shared = False
            self.dense = dense.index_add_(1, flat, norm).view(B, n_nodes, n_nodes)

    def propagate(self, h: Tensor, add: Tensor | None = None) -> Tensor:
        """``(B, N, C)`` -> ``(B, N, C)``: ``add + sum_j A_ij h_j`` (``add`` is overwritten)."""
        dense = self.dense.expand(h.shape[0], -1, -1) if self.shared else self.dense
        if add is None:
            return torch.bmm(dense, h)
        return add.baddbmm_(dense, h)


def edge_features_to_nodes(edge_attr: Tensor, edge_index: Tensor, n_nodes: int) -> Tensor:
    """``(B, E, K)`` edge features -> ``(B, N, K)``: the mean over each node's incoming edges."""
    dst = edge_index[1]
    inc = torch.zeros(n_nodes, edge_index.shape[1], device=edge_attr.device, dtype=edge_attr.dtype)
    inc[dst, torch.arange(edge_index.shape[1], device=dst.device)] = 1.0
    inc = inc / inc.sum(1, keepdim=True).clamp_min(1.0)
    B, E, K = edge_attr.shape
    out = edge_attr.transpose(1, 2).reshape(B * K, E) @ inc.t()  # (B*K, N)
    return out.view(B, K, n_nodes).transpose(1, 2)


class WGNN(DenseModel):
    """Weighted geometric GNN on facial graphs (see the module docstring).

    Args:
        in_channels: node features ``F``; out_channels: outputs.
        hidden: width ``H``; layers: message-passing layers ``L``.
        edge_dim: edge features ``K`` (averaged onto nodes as inputs, and used by the learned
            refinement of the weights; 0: none).
        refine: learn a multiplicative refinement of the weights from ``edge_attr``.
        uniform: ignore the given weights (all 1) and never refine: the ablation baseline.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 64, layers: int = 3,
                 edge_dim: int = 0, refine: bool = True, uniform: bool = False, dropout: float = 0.1):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.uniform = bool(uniform)
        self.refine = bool(refine) and not self.uniform and edge_dim > 0
        self.edge_dim = edge_dim
        # edge features (length, strain, direction) averaged onto each node join the node
        # features in both twins: only the weights of the aggregation differ between them
        self.inp = nn.Sequential(nn.Linear(in_channels + edge_dim, hidden), nn.ReLU())
        self.convs = nn.ModuleList(WeightedGraphConv(hidden, hidden) for _ in range(layers))
        if self.refine:
            self.edge_mlp = mlp([edge_dim, 16, 1], last_act=False)
            nn.init.zeros_(self.edge_mlp[-1].weight)
            nn.init.zeros_(self.edge_mlp[-1].bias)
        self.embed_dim = 2 * hidden
        self.head = Head(self.embed_dim, hidden, out_channels, dropout)

    def edge_weights(self, edge_weight: Tensor | None, edge_attr: Tensor | None, batch: int, n_edges: int) -> Tensor | None:
        """The weights that enter aggregation, ``(B, E)``, or ``None`` for uniform."""
        if self.uniform:
            return None
        if edge_weight is None:
            raise ShapeError("WGNN needs edge_weight (B, E); use 'wgnn-uniform' for unweighted graphs")
        if edge_weight.shape != (batch, n_edges):
            raise ShapeError(f"edge_weight: expected shape ({batch}, {n_edges}), got {tuple(edge_weight.shape)}")
        w = edge_weight.clamp_min(0)
        if self.refine and edge_attr is not None:
            w = w * 2 * torch.sigmoid(self.edge_mlp(edge_attr).squeeze(-1))
        return w

    def embed(self, x, edge_index=None, edge_weight=None, edge_attr=None, pos=None) -> Tensor:
        check_dense(x)
        if edge_index is None:
            raise ShapeError("WGNN needs edge_index (2, E)")
        B, N, _ = x.shape
        adj = Adjacency(edge_index, self.edge_weights(edge_weight, edge_attr, B, edge_index.shape[1]), N)
        if self.edge_dim:
            if edge_attr is None or edge_attr.shape[-1] != self.edge_dim:
                raise ShapeError(f"WGNN built with edge_dim={self.edge_dim} needs edge_attr (B, E, {self.edge_dim})")
            x = torch.cat([x, edge_features_to_nodes(edge_attr, edge_index, N)], -1)
        h = self.inp(x)
        for conv in self.convs:
            h = h + torch.relu_(conv(h, adj))
        return torch.cat([h.amax(1), h.mean(1)], -1)
