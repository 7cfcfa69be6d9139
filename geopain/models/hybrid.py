"""A hybrid that cannot lose to its own parts: a facial-graph network plus the pain-unit measurements.

::

    graph part:        WGNN on the facial graph              -> logits (or an ordinal latent)
    linear part:       Linear(measurements, coordinates)     -> logits (or an ordinal latent)
    output = graph part + linear part            (summed before the softmax / cumulative link)

The linear part sees the pain-unit measurements (the logistic regression that clinicians'
baselines use) and the flattened normalised coordinates (the similarity-aligned linear model
that geometric-morphometrics users reach for first); with a reference, both are per-person
deltas. Which of the two blocks it keeps, and how strongly it is regularised, is chosen on the
training subjects by an inner subject-grouped k-fold (:func:`select_linear_part`): on one cohort the
measurements carry the pain, on another the raw geometry does, and a fixed choice loses on one of
them. The estimator fits that linear model first (scikit-learn, to convergence) and copies it
in, the unused block masked to zero; the graph part's last layer starts at zero, so before
training the hybrid *is* that linear model. The graph part can start from the shipped
pretrained WGNN (:attr:`HybridModel.init_prefix`), and early stopping on held-out subjects
(which also scores the starting point) keeps what helps. One name (``"hybrid"``) gives users
the best of both.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
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
        # which features the linear part uses (1) or ignores (0); saved with the weights
        self.register_buffer("feature_mask", torch.ones(n_measurements))
        for layer in (self.linear, self.graph.head.net[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.setdefault(prefix + "feature_mask", torch.ones(self.n_measurements))  # saved before the mask
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def head(self) -> nn.Module:
        return self.graph.head

    def set_linear(self, weight, bias, mask=None) -> None:
        """Start the linear part from a fitted linear model: ``weight (out, M)``, ``bias (out,)``;
        ``mask (M,)``: 1 for the features it uses, 0 for those it ignores (default: all)."""
        with torch.no_grad():
            if mask is not None:
                self.feature_mask.copy_(torch.as_tensor(mask, dtype=self.feature_mask.dtype).reshape(-1))
            self.linear.weight.copy_(torch.as_tensor(weight, dtype=self.linear.weight.dtype).reshape(self.linear.weight.shape))
            self.linear.bias.copy_(torch.as_tensor(bias, dtype=self.linear.bias.dtype).reshape(self.linear.bias.shape))

    def _features(self, features: Tensor | None, batch: int) -> Tensor:
        if features is None or features.shape != (batch, self.n_measurements):
            got = None if features is None else tuple(features.shape)
            raise ShapeError(f"the hybrid model needs features ({batch}, {self.n_measurements}), got {got}")
        return features * self.feature_mask

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


#: Inverse regularisation strengths (scikit-learn's ``C``) tried for the linear part.
LINEAR_C = (0.01, 0.1, 1.0)


def select_linear_part(features: np.ndarray, blocks: Mapping[str, np.ndarray], fixed: np.ndarray, y: np.ndarray,
                       splits: Sequence[tuple[np.ndarray, np.ndarray]], make: Callable[[float], Any],
                       loss: Callable[[Any, np.ndarray, np.ndarray], float],
                       grid: tuple[float, ...] = LINEAR_C) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Choose the linear part's feature blocks and regularisation by subject-grouped cross-validation.

    Args:
        features: ``(S, M)`` the linear part's features (scaled).
        blocks: ``{name: (M,) bool}`` which feature columns each block holds (e.g.
            ``measurements``, ``coordinates``); every non-empty union of blocks is a candidate.
        fixed: ``(S, P)`` columns every candidate keeps (a pretrained network's score; P may be 0).
        y: ``(S,)`` targets.
        splits: ``(train, held)`` sample indices, held-out subjects never in their train part
            (the folds of an inner group k-fold); a candidate's loss is the mean over splits.
        make: ``C -> unfitted scikit-learn estimator`` (with ``warm_start`` it continues from the
            previous ``C``'s fit); ``loss(est, X, y)``: lower is better.

    Returns:
        ``mask (M,)`` float (1 = used), the chosen ``C``, and a record of every candidate's loss.
        Without splits, every block and the largest ``C`` (the least regularised).
    """
    names = list(blocks)
    full = np.ones(features.shape[1])
    splits = [(tr, va) for tr, va in splits if len(tr) and len(va)]
    if not splits or not names:
        return full, max(grid), {"blocks": names, "C": max(grid), "note": "no held-out subjects: all blocks"}
    order = np.argsort(grid)  # weakest C first; a warm-started estimator continues from the last fit
    tried, best = [], (np.inf, None, None, None)
    for pick in range(1, 2 ** len(names)):
        chosen = [n for i, n in enumerate(names) if pick >> i & 1]
        cols = np.any([blocks[n] for n in chosen], 0)
        X = np.concatenate([fixed, features[:, cols]], 1)
        losses = np.zeros((len(splits), len(grid)))
        for f, (train, held) in enumerate(splits):
            est = None
            for j in order:
                try:
                    est = make(grid[j]) if est is None else est.set_params(**make(grid[j]).get_params())
                    est.fit(X[train], y[train])
                    losses[f, j] = float(loss(est, X[held], y[held]))
                except ValueError:  # one class only among a split's training samples, ...
                    losses[f, j] = np.nan
        for j, C in enumerate(grid):
            value = float(np.nanmean(losses[:, j])) if np.isfinite(losses[:, j]).any() else np.inf
            tried.append({"blocks": chosen, "C": C, "held_out_loss": value})
            if value < best[0] - 1e-9:
                best = (value, chosen, cols, C)
    if best[1] is None:
        return full, max(grid), {"blocks": names, "C": max(grid), "note": "no candidate could be fitted"}
    return best[2].astype(np.float64), best[3], {"blocks": best[1], "C": best[3], "held_out_loss": best[0],
                                                 "folds": len(splits), "tried": tried}
