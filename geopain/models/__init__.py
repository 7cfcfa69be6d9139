"""Pain models: one registry, one factory, and a scikit-learn style estimator.

>>> from geopain import models
>>> models.names()
['gboost', 'logreg', 'pointnet', 'pointnet2', 'stpointnet', 'wgnn', 'wgnn-uniform']
>>> net = models.create("wgnn", in_channels=6, out_channels=2, edge_dim=3)

Torch models take dense fixed-topology batches (``x (B, N, F)``, a shared
``edge_index (2, E)``, ``edge_weight (B, E)``, ``edge_attr (B, E, K)``); baselines take
measurement features ``(S, M)``. :class:`PainEstimator` runs the whole pipeline from
:class:`~geopain.landmarks.LandmarkSequence` objects (normalise -> graphs -> model).
"""
from __future__ import annotations

from typing import Any

from ..registry import Registry
from .baselines import MeasurementBaseline
from .pointnet import PointNet, PointNet2
from .temporal import RecurrentModel, SpatioTemporalPointNet
from .wgnn import WGNN

MODELS: Registry = Registry("model")


@MODELS.register("pointnet", kind="torch", graph=False, description="PointNet: shared per-point MLP, max+mean pooling")
def _pointnet(in_channels: int, out_channels: int, **kw: Any) -> PointNet:
    return PointNet(in_channels, out_channels, **kw)


@MODELS.register("pointnet2", kind="torch", graph=False,
                 description="PointNet++-style: kNN grouping around every point and FPS centroids")
def _pointnet2(in_channels: int, out_channels: int, **kw: Any) -> PointNet2:
    return PointNet2(in_channels, out_channels, **kw)


@MODELS.register("wgnn", kind="torch", graph=True,
                 description="weighted geometric GNN: facial-graph edge weights in the aggregation")
def _wgnn(in_channels: int, out_channels: int, **kw: Any) -> WGNN:
    return WGNN(in_channels, out_channels, **{**kw, "uniform": False})


@MODELS.register("wgnn-uniform", kind="torch", graph=True,
                 description="the WGNN network with every edge weight 1 (ablation of the weights)")
def _wgnn_uniform(in_channels: int, out_channels: int, **kw: Any) -> WGNN:
    return WGNN(in_channels, out_channels, **{**kw, "uniform": True})


@MODELS.register("stpointnet", kind="torch", graph=False, temporal_only=True,
                 description="spatio-temporal point cloud (time as a coordinate) of a window")
def _stpointnet(in_channels: int, out_channels: int, **kw: Any) -> SpatioTemporalPointNet:
    return SpatioTemporalPointNet(in_channels, out_channels, **kw)


@MODELS.register("logreg", kind="sklearn", description="logistic regression (ridge for scores) on pain-unit measurements")
def _logreg(task: str = "binary", n_classes: int = 2, seed: int = 0, **kw: Any) -> MeasurementBaseline:
    return MeasurementBaseline("logreg", task, n_classes, seed, **kw)


@MODELS.register("gboost", kind="sklearn", description="histogram gradient boosting on pain-unit measurements")
def _gboost(task: str = "binary", n_classes: int = 2, seed: int = 0, **kw: Any) -> MeasurementBaseline:
    return MeasurementBaseline("gboost", task, n_classes, seed, **kw)


def create(name: str, **kw: Any):
    """Build a registered model: ``create("wgnn", in_channels=F, out_channels=C, ...)``."""
    return MODELS.create(name, **kw)


def names() -> list[str]:
    return MODELS.names()


def info(name: str) -> dict[str, Any]:
    return MODELS.info(name)


def create_temporal(name: str, in_channels: int, out_channels: int, rnn: str = "gru", hidden: int = 64,
                    **kw: Any):
    """A sequence model: ``"stpointnet"`` directly, or frame model ``name`` + a GRU/LSTM head."""
    if name == "stpointnet":
        return create(name, in_channels=in_channels, out_channels=out_channels, hidden=hidden, **kw)
    if MODELS.info(name)["kind"] != "torch":
        from ..errors import GeopainError

        raise GeopainError(f"{name!r} is not a neural frame model; temporal baselines use window statistics")
    encoder = create(name, in_channels=in_channels, out_channels=out_channels, hidden=hidden, **kw)
    return RecurrentModel(encoder, out_channels, rnn=rnn, hidden=hidden)


from .estimator import PainEstimator  # noqa: E402  (needs the registry above)
from .serialization import load, save  # noqa: E402

__all__ = ["MODELS", "create", "create_temporal", "names", "info", "PainEstimator", "PointNet", "PointNet2", "WGNN",
           "RecurrentModel", "SpatioTemporalPointNet", "MeasurementBaseline", "save", "load"]
