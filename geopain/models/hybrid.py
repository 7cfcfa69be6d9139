"""A hybrid that cannot lose to its own parts: a facial-graph network plus the pain-unit measurements.

::

    graph part:        WGNN on the facial graph              -> logits (or an ordinal latent)
    measurement part:  Linear(measurements)                  -> logits (or an ordinal latent)
    output = graph part + measurement part       (summed before the softmax / cumulative link)

The measurement part is the logistic regression that clinicians' baselines use (with a
reference, the measurements are per-person deltas). The estimator fits it first (scikit-learn,
to convergence) and copies it in; the graph part's last layer starts at zero, so before
training the hybrid *is* that logistic regression. The graph part can start from the shipped
pretrained WGNN (:attr:`HybridModel.init_prefix`), and early stopping on held-out subjects
(which also scores the starting point) keeps what helps. One name (``"hybrid"``) gives users
the best of both.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ShapeError
from ._common import CumulativeLinkHead, DenseModel
from .wgnn import WGNN


class HybridModel(DenseModel):
    """WGNN logits plus a linear model of the measurement features (see module docstring).

    Args:
        in_channels: node features ``F``; out_channels: outputs.
        n_measurements: measurement features ``M`` per frame (``features`` of ``forward``).
        hidden, layers, edge_dim, weighting, n_nodes, dropout, head: of the graph part (:class:`WGNN`).
    """

    #: where a pretrained WGNN's weights go (see :mod:`geopain.models.pretrained`)
    init_prefix = "graph."

    def __init__(self, in_channels: int, out_channels: int, n_measurements: int, hidden: int = 64, layers: int = 3,
                 edge_dim: int = 0, weighting: str = "refined", n_nodes: int = 0, dropout: float = 0.1,
                 head: str = "softmax"):
        super().__init__()
        if n_measurements <= 0:
            raise ShapeError("the hybrid model needs measurement features (n_measurements > 0)")
        self.in_channels, self.out_channels, self.n_measurements = in_channels, out_channels, n_measurements
        self.graph = WGNN(in_channels, out_channels, hidden=hidden, layers=layers, edge_dim=edge_dim,
                          weighting=weighting, dropout=dropout, n_nodes=n_nodes, head=head)
        self.embed_dim = self.graph.embed_dim
        self.ordinal = isinstance(self.graph.head, CumulativeLinkHead)
        self.linear = nn.Linear(n_measurements, 1 if self.ordinal else out_channels)
        for layer in (self.linear, self.graph.head.net[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    @property
    def head(self) -> nn.Module:
        return self.graph.head

    def set_linear(self, weight, bias) -> None:
        """Start the measurement part from a fitted linear model: ``weight (out, M)``, ``bias (out,)``."""
        with torch.no_grad():
            self.linear.weight.copy_(torch.as_tensor(weight, dtype=self.linear.weight.dtype).reshape(self.linear.weight.shape))
            self.linear.bias.copy_(torch.as_tensor(bias, dtype=self.linear.bias.dtype).reshape(self.linear.bias.shape))

    def _features(self, features: Tensor | None, batch: int) -> Tensor:
        if features is None or features.shape != (batch, self.n_measurements):
            got = None if features is None else tuple(features.shape)
            raise ShapeError(f"the hybrid model needs features ({batch}, {self.n_measurements}), got {got}")
        return features

    def embed(self, x, edge_index=None, edge_weight=None, edge_attr=None, pos=None, features=None) -> Tensor:
        return self.graph.embed(x, edge_index, edge_weight, edge_attr, pos)

    def latent(self, x, edge_index=None, edge_weight=None, edge_attr=None, pos=None, features=None) -> Tensor:
        f = self._features(features, x.shape[0])
        return self.graph.head.latent(self.graph.embed(x, edge_index, edge_weight, edge_attr, pos)) + self.linear(f)[:, 0]

    def forward(self, x, edge_index=None, edge_weight=None, edge_attr=None, pos=None, features=None) -> Tensor:
        f = self._features(features, x.shape[0])
        h = self.graph.embed(x, edge_index, edge_weight, edge_attr, pos)
        if self.ordinal:
            return self.graph.head.log_probs(self.graph.head.latent(h) + self.linear(f)[:, 0])
        return self.graph.head(h) + self.linear(f)
