"""WGNN: a weighted geometric graph network on the facial graph.

Architecture (``L`` = ``layers``, ``H`` = ``hidden``)::

    x (B,N,F) [+ mean edge features of each node (B,N,K)] -> Linear(F+K,H) + ReLU
    repeat L times:   h <- h + ReLU(W_root h + W_nbr A(w) h)
    readout: [max_n h, mean_n h] (B, 2H) -> MLP head -> (B, out)

``A(w)`` is the symmetric-normalised weighted adjacency of the facial graph,
``A_ij = w_ij / sqrt(d_i d_j)`` with ``d_i = 1 + sum_j w_ij`` (a self-loop of weight 1
keeps isolated nodes finite). Where the weights come from is ``weighting``: the facial
graph's own (strain against the neutral template, from
:class:`geopain.graphs.FacialGraphBuilder`: ``"given"``), those times a learned
``2 * sigmoid(g(edge_attr))`` (``"refined"``; ``g`` a small MLP initialised at 0, so training
starts from the given weights), attention learned from the edge features alone
(``"learned"``), or every weight 1 (``"uniform"``). All four are the *same* network with the
same inputs (edge features are averaged onto nodes in every variant), so comparing them in
one protocol run measures what the weights contribute instead of assuming it.

Message passing is vectorised over the batch: the normalised adjacency is built once per
batch as a dense ``(B, N, N)`` tensor (faces have tens of nodes) and every layer aggregates
with one batched matmul. With uniform weights it is one ``(N, N)`` matrix shared by the batch.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ShapeError
from ._common import DenseModel, LandmarkReadout, NodeIdentity, check_dense, make_head, mlp


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
            # edge counts dst x src as a product of incidences (an ONNX export of index_add_ is wrong)
            ar = torch.arange(flat.shape[0], device=edge_index.device)
            inc_dst = torch.zeros(flat.shape[0], n_nodes, device=edge_index.device)
            inc_dst[ar, dst] = 1.0
            inc_src = torch.zeros(flat.shape[0], n_nodes, device=edge_index.device)
            inc_src[ar, src] = 1.0
            dense = inc_dst.t() @ inc_src  # (N, N)
            inv = (1.0 + dense.sum(1)).rsqrt()
            self.shared = True
            self.dense = inv[:, None] * dense * inv[None, :]  # (N, N)
        else:
            # degrees as a product with the (E, N) target incidence rather than index_add_: the same
            # sums, and an ONNX export of it is right (the TorchScript exporter writes index_add_
            # as a scatter that keeps one of several edges into the same node, not their sum)
            inc = torch.zeros(dst.shape[0], n_nodes, device=weight.device, dtype=weight.dtype)
            inc[torch.arange(dst.shape[0], device=dst.device), dst] = 1.0
            deg = 1.0 + weight @ inc  # (B, N)
            inv = deg.rsqrt()
            norm = weight * inv[:, src] * inv[:, dst]  # (B, E)
            dense = torch.zeros(weight.shape[0], n_nodes * n_nodes, device=weight.device, dtype=weight.dtype)
            self.shared = False
            self.dense = dense.index_add_(1, flat, norm).view(weight.shape[0], n_nodes, n_nodes)

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


#: How a WGNN weighs the messages along each edge.
WEIGHTINGS = ("given", "refined", "learned", "uniform")


class WGNN(DenseModel):
    """Weighted geometric GNN on facial graphs (see the module docstring).

    Args:
        in_channels: node features ``F``; out_channels: outputs.
        hidden: width ``H``; layers: message-passing layers ``L``.
        edge_dim: edge features ``K`` (averaged onto nodes as inputs, and used by learned
            weights; 0: none).
        weighting: ``"given"`` (the graph's edge weights, e.g. strain, as they are);
            ``"refined"`` (given weights times a learned ``2 sigmoid(g(edge_attr))``, starting
            at the given weights); ``"learned"`` (attention over edges from the edge features
            alone, ``2 sigmoid(g(edge_attr))``, starting at 1); ``"uniform"`` (every weight 1:
            the ablation).
        n_nodes: landmarks of the scheme: learned landmark identities and a per-landmark
            readout (see :class:`~geopain.models._common.LandmarkReadout`); 0: none.
        head: ``"softmax"`` or ``"ordinal"``.
        refine, uniform: the older switches (``uniform=True`` is ``weighting="uniform"``,
            ``refine=False`` turns ``"refined"`` into ``"given"``).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 64, layers: int = 3,
                 edge_dim: int = 0, weighting: str = "refined", dropout: float = 0.1, n_nodes: int = 0,
                 head: str = "softmax", refine: bool = True, uniform: bool = False):
        super().__init__()
        if uniform:
            weighting = "uniform"
        elif weighting == "refined" and not refine:
            weighting = "given"
        if weighting not in WEIGHTINGS:
            raise ShapeError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        if weighting in ("refined", "learned") and edge_dim <= 0:
            weighting = "given" if weighting == "refined" else "uniform"
        self.in_channels, self.out_channels = in_channels, out_channels
        self.weighting = weighting
        self.uniform = weighting == "uniform"
        self.edge_dim = edge_dim
        # edge features (length, strain, direction) averaged onto each node join the node
        # features in every variant: only the weights of the aggregation differ between them
        self.inp = nn.Sequential(nn.Linear(in_channels + edge_dim, hidden), nn.ReLU())
        self.identity = NodeIdentity(n_nodes, hidden)
        self.convs = nn.ModuleList(WeightedGraphConv(hidden, hidden) for _ in range(layers))
        if weighting in ("refined", "learned"):
            self.edge_mlp = mlp([edge_dim, 16, 1], last_act=False)
            nn.init.zeros_(self.edge_mlp[-1].weight)
            nn.init.zeros_(self.edge_mlp[-1].bias)
        self.readout = LandmarkReadout(hidden, n_nodes)
        self.embed_dim = self.readout.out_dim
        self.head = make_head(head, self.embed_dim, hidden, out_channels, dropout)

    def edge_weights(self, edge_weight: Tensor | None, edge_attr: Tensor | None, batch: int, n_edges: int) -> Tensor | None:
        """The weights that enter aggregation, ``(B, E)``, or ``None`` for uniform."""
        if self.weighting == "uniform":
            return None
        if self.weighting == "learned":
            if edge_attr is None:
                raise ShapeError(f"WGNN with learned weights needs edge_attr (B, E, {self.edge_dim})")
            return 2 * torch.sigmoid(self.edge_mlp(edge_attr).squeeze(-1))
        if edge_weight is None:
            raise ShapeError("WGNN needs edge_weight (B, E); use 'wgnn-uniform' for unweighted graphs")
        if edge_weight.shape != (batch, n_edges):
            raise ShapeError(f"edge_weight: expected shape ({batch}, {n_edges}), got {tuple(edge_weight.shape)}")
        w = edge_weight.clamp_min(0)
        if self.weighting == "refined" and edge_attr is not None:
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
        h = self.identity(self.inp(x))
        for conv in self.convs:
            h = h + torch.relu_(conv(h, adj))
        return self.readout(h)
