"""Pain models: one registry, one factory, and a scikit-learn style estimator.

>>> from geopain import models
>>> models.names()
['gboost', 'hybrid', 'logreg', 'pointnet', 'pointnet2', 'shared-region', 'stpointnet', 'wgnn', 'wgnn-learned', 'wgnn-strain', 'wgnn-uniform']
>>> net = models.create("wgnn", in_channels=6, out_channels=2, edge_dim=3)

Torch models take dense fixed-topology batches (``x (B, N, F)``, a shared
``edge_index (2, E)``, ``edge_weight (B, E)``, ``edge_attr (B, E, K)``); baselines take
measurement features ``(S, M)``. :class:`PainEstimator` runs the whole pipeline from
:class:`~geopain.landmarks.LandmarkSequence` objects (normalise -> graphs -> model).
"""
from __future__ import annotations

import os
from pathlib import Path

from .baselines import MeasurementBaseline
from .estimator import PainEstimator
from .factory import DEFAULT_WEIGHTING, MODELS, create, create_temporal, info, names
from .fusion import FusionEstimator, FusionModel
from .hybrid import HybridModel
from .pointnet import PointNet, PointNet2
from .shared import SharedRegionModel
from .temporal import RecurrentModel, SpatioTemporalPointNet
from .wgnn import WGNN


def save(estimator: PainEstimator, directory: str | os.PathLike) -> Path:
    """``estimator.save(directory)``: ``config.json`` + ``model.safetensors``."""
    return estimator.save(directory)


def load(directory: str | os.PathLike) -> PainEstimator:
    """``PainEstimator.load(directory)``: a model written by :func:`save` (never unpickles)."""
    return PainEstimator.load(directory)


__all__ = ["DEFAULT_WEIGHTING", "FusionEstimator", "FusionModel", "HybridModel", "MODELS", "MeasurementBaseline", "PainEstimator", "PointNet", "PointNet2",
           "RecurrentModel", "SharedRegionModel", "SpatioTemporalPointNet", "WGNN", "create", "create_temporal", "info",
           "load", "names", "save"]
