"""PointNet and a PointNet++-style classifier on normalised landmark point sets.

* :class:`PointNet` (Qi et al. 2017): a shared per-point MLP, then symmetric pooling
  (max and mean over points), then an MLP head. Invariant to the order of points.
* :class:`PointNet2` (PointNet++-style, Qi et al. 2017b): two set-abstraction levels with
  local grouping. Level 1 groups the ``k`` nearest neighbours of every point, level 2
  groups around ``ceil(N / ratio)`` centroids chosen by farthest point sampling; each group
  is encoded by a shared MLP on ``[features_j, pos_j - pos_centre]`` and max-pooled.
  Neighbour search is our own (batched per-graph ``cdist`` + ``topk``), so no ``pyg-lib``.

Inputs are dense batches ``x (B, N, F)`` (see :mod:`geopain.models._common`); positions
default to ``x[..., :3]``. Edges are ignored: these are point-set models.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._common import (DenseModel, Head, LandmarkReadout, NodeIdentity, check_dense, farthest_point_sample,
                      gather_points, knn_index, make_head, mlp)


class PointNet(DenseModel):
    """Shared per-point MLP ``F -> hidden`` (``layers`` deep), pooling, MLP head.

    Args:
        in_channels: point features ``F``.
        out_channels: outputs (classes, or 1 for a score).
        hidden: width of the per-point MLP; the embedding is ``2 * hidden`` (+ ``2 * n_nodes``).
        n_nodes: landmarks of the scheme (0: a plain, order-free point set). With it, each
            landmark gets a learned identity vector after the first layer and keeps two
            channels of its own in the readout (:class:`LandmarkReadout`), so the network
            knows *which* point moved, as the facial scheme does.
        head: ``"softmax"`` or ``"ordinal"`` (cumulative link over ordered levels).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 64, layers: int = 3,
                 dropout: float = 0.1, n_nodes: int = 0, head: str = "softmax"):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.inp = nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU())
        self.identity = NodeIdentity(n_nodes, hidden)
        self.point_mlp = mlp([hidden] * layers)
        self.readout = LandmarkReadout(hidden, n_nodes)
        self.embed_dim = self.readout.out_dim
        self.head = make_head(head, self.embed_dim, hidden, out_channels, dropout)

    def embed(self, x, edge_index=None, edge_weight=None, edge_attr=None, pos=None) -> Tensor:
        check_dense(x)
        h = self.point_mlp(self.identity(self.inp(x)))  # (B, N, H)
        return self.readout(h)


class PointNet2(DenseModel):
    """PointNet++-style network: kNN grouping around every point, then around FPS centroids.

    Args:
        in_channels: point features ``F``; out_channels: outputs.
        hidden: width of the set-abstraction MLPs; k: neighbours per group;
        ratio: level-2 keeps ``ceil(N / ratio)`` centroids.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 64, k: int = 8, ratio: int = 4,
                 dropout: float = 0.1, pos_dims: int = 3):
        super().__init__()
        self.in_channels, self.out_channels, self.k, self.ratio, self.pos_dims = in_channels, out_channels, k, ratio, pos_dims
        self.sa1 = mlp([in_channels + pos_dims, hidden, hidden])
        self.sa2 = mlp([hidden + pos_dims, hidden, 2 * hidden])
        self.glob = mlp([2 * hidden + pos_dims, 2 * hidden])
        self.embed_dim = 4 * hidden
        self.head = Head(self.embed_dim, hidden, out_channels, dropout)

    def embed(self, x, edge_index=None, edge_weight=None, edge_attr=None, pos=None) -> Tensor:
        check_dense(x)
        pos = x[..., : self.pos_dims] if pos is None else pos
        # level 1: a group around every point
        nb = knn_index(pos, pos, self.k)  # (B, N, k)
        rel = gather_points(pos, nb) - pos[:, :, None]
        h = self.sa1(torch.cat([gather_points(x, nb), rel], -1)).amax(2)  # (B, N, H)
        # level 2: groups around farthest-point centroids
        m = max(1, math.ceil(pos.shape[1] / self.ratio))
        centres = farthest_point_sample(pos.detach(), m)  # (B, m)
        cpos = gather_points(pos, centres[..., None])[:, :, 0]  # (B, m, D)
        nb2 = knn_index(cpos, pos, self.k)
        rel2 = gather_points(pos, nb2) - cpos[:, :, None]
        h2 = self.sa2(torch.cat([gather_points(h, nb2), rel2], -1)).amax(2)  # (B, m, 2H)
        g = self.glob(torch.cat([h2, cpos - cpos.mean(1, keepdim=True)], -1))
        return torch.cat([g.amax(1), g.mean(1)], -1)
