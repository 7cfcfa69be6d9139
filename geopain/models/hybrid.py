"""A hybrid that cannot lose to its own parts: facial-graph readout + pain-unit measurements.

::

    graph:         WGNN embedding of the facial graph            (B, D)
    measurements:  the species' pain-unit measurements            (B, M)
    output = Head([graph embedding, MLP(measurements)]) + Linear(measurements)

The linear path on the measurements is the logistic regression that clinicians' baselines
use (with a reference, the measurements are per-person deltas). The estimator fits it first
(scikit-learn, to convergence) and copies it into :attr:`HybridModel.linear`; the head's last
layer starts at zero, so before training the hybrid *is* that logistic regression, and early
stopping on held-out subjects (which also scores the starting point) keeps the graph part only
where it helps. One name (``"hybrid"``) gives users the best of both.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ShapeError
from ._common import DenseModel, make_head, mlp
from .wgnn import WGNN


class HybridModel(DenseModel):
    """WGNN graph embedding joined with measurement features (see module docstring).

    Args:
        in_channels: node features ``F``; out_channels: outputs.
        n_measurements: measurement features ``M`` per frame (``features`` of ``forward``).
        hidden, layers, edge_dim, weighting, n_nodes, dropout: of the graph encoder (:class:`WGNN`).
        head: ``"softmax"`` or ``"ordinal"`` (for ``"ordinal"`` the linear path adds to the latent value).
    """

    def __init__(self, in_channels: int, out_channels: int, n_measurements: int, hidden: int = 64, layers: int = 3,
                 edge_dim: int = 0, weighting: str = "refined", n_nodes: int = 0, dropout: float = 0.1,
                 head: str = "softmax"):
        super().__init__()
        if n_measurements <= 0:
            raise ShapeError("the hybrid model needs measurement features (n_measurements > 0)")
        self.in_channels, self.out_channels, self.n_measurements = in_channels, out_channels, n_measurements
        self.graph = WGNN(in_channels, out_channels, hidden=hidden, layers=layers, edge_dim=edge_dim,
                          weighting=weighting, dropout=dropout, n_nodes=n_nodes)
        self.graph.head = nn.Identity()  # only its embedding is used
        self.measure = mlp([n_measurements, hidden, hidden], dropout=dropout)
        self.embed_dim = self.graph.embed_dim + hidden
        self.head = make_head(head, self.embed_dim, hidden, out_channels, dropout)
        self.ordinal = head == "ordinal"
        self.linear = nn.Linear(n_measurements, 1 if self.ordinal else out_channels)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        last = self.head.net[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    #: where a pretrained graph encoder's weights go (see :mod:`geopain.models.pretrained`)
    init_prefix = "graph."

    def set_linear(self, weight, bias) -> None:
        """Start the linear path from a fitted linear model: ``weight (out, M)``, ``bias (out,)``."""
        with torch.no_grad():
            self.linear.weight.copy_(torch.as_tensor(weight, dtype=self.linear.weight.dtype).reshape(self.linear.weight.shape))
            self.linear.bias.copy_(torch.as_tensor(bias, dtype=self.linear.bias.dtype).reshape(self.linear.bias.shape))

    def _features(self, features: Tensor | None, batch: int) -> Tensor:
        if features is None or features.shape != (batch, self.n_measurements):
            got = None if features is None else tuple(features.shape)
            raise ShapeError(f"the hybrid model needs features ({batch}, {self.n_measurements}), got {got}")
        return features

    def embed(self, x, edge_index=None, edge_weight=None, edge_attr=None, pos=None, features=None) -> Tensor:
        f = self._features(features, x.shape[0])
        return torch.cat([self.graph.embed(x, edge_index, edge_weight, edge_attr, pos), self.measure(f)], -1)

    def forward(self, x, edge_index=None, edge_weight=None, edge_attr=None, pos=None, features=None) -> Tensor:
        f = self._features(features, x.shape[0])
        h = self.embed(x, edge_index, edge_weight, edge_attr, pos, f)
        if self.ordinal:
            return self.head.log_probs(self.head.latent(h) + self.linear(f)[:, 0])
        return self.head(h) + self.linear(f)
