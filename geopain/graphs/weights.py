"""Edge weights: documented functions of face geometry that carry pain signal.

Why strain. Facial pain shows as muscle action that changes *distances* between
landmarks: brows lower (brow-eye edges shorten), lids tighten (eye edges shorten
vertically), the upper lip rises (nose-lip edges shorten), sheep ears rotate and nostrils
narrow. After normalisation, the relative change of an edge's length against a neutral
reference,

    strain = (l - l0) / l0        (l0: the edge on the template, or on the subject's neutral face)

is zero on a neutral face and grows with the action, independent of head pose, camera and
face size, and (with a subject baseline) of identity. An edge weight

    w = min(1 + |strain| / scale, max_weight)         (``scale`` = 0.1: 10 % strain doubles w)

is 1 on a neutral face (the graph is the plain anatomical graph), and amplifies the
messages along deforming edges, so message passing and the weights themselves (e.g. the
weighted degree of a node, spectra of the weighted Laplacian) carry the pain signal. The
``+1`` keeps every edge alive, so a network sees the same topology for every frame.

Co-movement over time. In a sequence, two landmarks driven by the same muscle move
together. The co-movement of edge (i, j) is the cosine similarity of their displacement
trajectories (from the reference) over a short window, in [-1, 1]; it multiplies the
strain weight by ``(1 - mix) + mix * (1 + c) / 2`` (see :mod:`geopain.graphs.temporal`).

A classic geometric alternative, ``distance`` (Gaussian kernel of the edge length), is
offered for comparison: it encodes face shape (identity), not expression.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..registry import Registry

if TYPE_CHECKING:  # torch is imported by comovement_factor only: the weightings run without it
    import torch

__all__ = ["WEIGHTINGS", "strain_weight", "distance_weight", "comovement_factor", "uniform_weight"]

#: Registry of edge weighting functions ``f(length, strain, **kw) -> weight`` on numpy arrays
#: of the same shape (``length`` scale-free, ``strain`` relative length change).
WEIGHTINGS: Registry = Registry("edge weighting")


@WEIGHTINGS.register("strain", temporal=False, description="1 + |strain| / scale, clipped")
def strain_weight(length: np.ndarray, strain: np.ndarray, scale: float = 0.1, max_weight: float = 10.0) -> np.ndarray:
    """``1 + |strain| / scale`` clipped to ``max_weight`` (strain = relative length change)."""
    w = np.abs(strain) * np.float32(1.0 / scale)
    w += np.float32(1.0)
    return np.minimum(w, np.float32(max_weight), out=w)


@WEIGHTINGS.register("distance", temporal=False, description="exp(-(l / sigma)^2), scale-free length")
def distance_weight(length: np.ndarray, strain: np.ndarray, sigma: float = 0.5) -> np.ndarray:
    """Gaussian kernel ``exp(-(l / sigma)^2)`` of the scale-free edge length."""
    return np.exp(-((np.asarray(length) / sigma) ** 2))


@WEIGHTINGS.register("uniform", temporal=False, description="all ones")
def uniform_weight(length: np.ndarray, strain: np.ndarray) -> np.ndarray:
    """All weights 1 (the plain anatomical graph)."""
    return np.ones_like(length)


def comovement_factor(comovement: "torch.Tensor", mix: float = 0.5) -> "torch.Tensor":
    """Multiplier ``(1 - mix) + mix * (1 + c) / 2`` for co-movement ``c`` in [-1, 1] (NaN -> 1)."""
    import torch

    c = torch.nan_to_num(comovement, nan=1.0)
    return (1.0 - mix) + mix * (1.0 + c) / 2.0
