"""The model registry and its one factory (timm style): ``create("wgnn", in_channels=F, ...)``.

Registry metadata (``kind``, ``graph``, ``layered``, ``landmarks``, ``measurements``, ``heads``,
...) drives the estimator; no code outside this module checks a model's name.
"""
from __future__ import annotations

from typing import Any

from ..errors import GeopainError
from ..registry import Registry
from .baselines import MeasurementBaseline
from .dct import DCTWindowModel
from .dynamic import DynamicSummaryModel
from .hybrid import HybridModel
from .pointnet import PointNet, PointNet2
from .shared import SharedRegionModel
from .temporal import RecurrentModel, SpatioTemporalPointNet
from .transformer import LandmarkTransformer
from .wgnn import WGNN

MODELS: Registry = Registry("model")


# Registry metadata drives the estimator: ``kind`` (torch / sklearn), ``graph`` (needs the
# facial graph's edges), ``layered`` (takes ``layers``), ``landmarks`` (takes ``n_nodes``: learned
# landmark identities and a per-landmark readout), ``measurements`` (takes the pain-unit
# measurements as ``features``), ``heads`` (which output heads it supports), ``cloud_encoder`` (the
# point encoder a spatio-temporal cloud of this model's windows uses: temporal="cloud"),
# ``build_defaults`` (constructor arguments a new fit records in its config; a saved model without
# them keeps the constructor's own defaults, so changing these never changes a saved model).
_FRAME = dict(kind="torch", layered=True, landmarks=True, heads=("softmax", "ordinal"))


@MODELS.register("pointnet", graph=False, cloud_encoder="pointnet", **_FRAME,
                 description="PointNet: shared per-point MLP with landmark identities, pooled + per-landmark readout")
def _pointnet(in_channels: int, out_channels: int, **kw: Any) -> PointNet:
    return PointNet(in_channels, out_channels, **kw)


@MODELS.register("pointnet2", kind="torch", graph=False, cloud_encoder="pointnet2", heads=("softmax",),
                 description="PointNet++-style: kNN grouping around every point and FPS centroids")
def _pointnet2(in_channels: int, out_channels: int, **kw: Any) -> PointNet2:
    return PointNet2(in_channels, out_channels, **kw)


def _wgnn_factory(weighting: str):
    def factory(in_channels: int, out_channels: int, **kw: Any) -> WGNN:
        return WGNN(in_channels, out_channels, **{**kw, "weighting": weighting})
    return factory


#: The weighting the plain ``"wgnn"`` uses (chosen by the paired comparison in
#: ``benchmarks/edge_weights.py``; the README says by how much).
DEFAULT_WEIGHTING = "refined"

MODELS.register("wgnn", graph=True, edge_features=True, weighting=DEFAULT_WEIGHTING, **_FRAME,
                description=f"weighted geometric GNN: facial-graph edge weights ({DEFAULT_WEIGHTING}) in the aggregation"
                )(_wgnn_factory(DEFAULT_WEIGHTING))
MODELS.register("wgnn-strain", graph=True, edge_features=True, weighting="given", ablation_of="wgnn", **_FRAME,
                description="WGNN with the strain edge weights as they are (no learning)")(_wgnn_factory("given"))
MODELS.register("wgnn-learned", graph=True, edge_features=True, weighting="learned", ablation_of="wgnn", **_FRAME,
                description="WGNN with edge weights learned from edge features (attention over edges)"
                )(_wgnn_factory("learned"))
MODELS.register("wgnn-uniform", graph=True, edge_features=True, weighting="uniform", ablation_of="wgnn", **_FRAME,
                description="the WGNN network with every edge weight 1 (ablation of the weights)")(_wgnn_factory("uniform"))


@MODELS.register("hybrid", graph=True, edge_features=True, measurements=True, coordinates=True,
                 weighting=DEFAULT_WEIGHTING, pretrained_from="wgnn", **_FRAME,
                 description="WGNN plus a linear model of the pain-unit measurements and normalised coordinates (blocks and "
                             "regularisation chosen by inner subject-grouped cross-validation), summed before the output (starts as that linear model)")
def _hybrid(in_channels: int, out_channels: int, **kw: Any) -> HybridModel:
    return HybridModel(in_channels, out_channels, **{"weighting": DEFAULT_WEIGHTING, **kw})


@MODELS.register("shared-region", kind="torch", graph=True, edge_features=True, layered=True, scheme_arg=True,
                 weighting=DEFAULT_WEIGHTING, heads=("softmax",), shared_representation=True,
                 description="species-specific WGNN encoders pooled over the homologous facial regions (R x H, common to "
                             "every species) into one shared pain head (geopain.transfer)")
def _shared_region(in_channels: int, out_channels: int, **kw: Any) -> SharedRegionModel:
    return SharedRegionModel(in_channels, out_channels, **{"weighting": DEFAULT_WEIGHTING, **kw})


@MODELS.register("stpointnet", kind="torch", graph=False, temporal_only=True, heads=("softmax",),
                 description="spatio-temporal point cloud (time as a coordinate) of a window")
def _stpointnet(in_channels: int, out_channels: int, **kw: Any) -> SpatioTemporalPointNet:
    return SpatioTemporalPointNet(in_channels, out_channels, **kw)


# Window models (``window_model``): take windows ``x (B, T, N, F)`` themselves; the estimator gives
# them windows of ``window`` frames whatever ``temporal`` says (geopain.models.windows).
_WINDOW = dict(kind="torch", window_model=True, layered=True, landmarks=True, heads=("softmax",))


# 2 attention heads of width 16 rather than the constructor's 4 of width 8: ~30% less time per
# training step on CPUs (the fused attention kernel's cost is per head), same parameters
@MODELS.register("transformer", graph=False, **{**_WINDOW, "layered": False},  # its own 2 blocks
                 build_defaults={"heads": 2},
                 description="spatio-temporal transformer over landmark (region) tokens, factorised space/time "
                             "attention, window and frame outputs")
def _transformer(in_channels: int, out_channels: int, **kw: Any):
    return LandmarkTransformer(in_channels, out_channels, **kw)


@MODELS.register("dct", graph=False, **_WINDOW,
                 description="low-frequency DCT coefficients of sliding sub-windows of the normalised landmark "
                             "trajectories, aggregated to the window")
def _dct(in_channels: int, out_channels: int, **kw: Any):
    return DCTWindowModel(in_channels, out_channels, **kw)


@MODELS.register("dynamic", graph=True, edge_features=True, **_WINDOW,
                 description="hierarchical approximate rank pooling of sub-windows into dynamic shapes, each "
                             "scored by a WGNN")
def _dynamic(in_channels: int, out_channels: int, **kw: Any) -> DynamicSummaryModel:
    return DynamicSummaryModel(in_channels, out_channels, registry=MODELS, **kw)


@MODELS.register("logreg", kind="sklearn", reference_model=True,
                 description="logistic regression (ridge for scores) on pain-unit measurements")
def _logreg(task: str = "binary", n_classes: int = 2, seed: int = 0, **kw: Any) -> MeasurementBaseline:
    return MeasurementBaseline("logreg", task, n_classes, seed, **kw)


@MODELS.register("gboost", kind="sklearn", reference_model=True,
                 description="histogram gradient boosting on pain-unit measurements")
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
    """A sequence model: a ``temporal_only`` model (``"stpointnet"``) directly, or frame model
    ``name`` + a GRU/LSTM head."""
    if MODELS.info(name).get("temporal_only"):
        return create(name, in_channels=in_channels, out_channels=out_channels, hidden=hidden, **kw)
    if MODELS.info(name)["kind"] != "torch":
        raise GeopainError(f"{name!r} is not a neural frame model; temporal baselines use window statistics")
    encoder = create(name, in_channels=in_channels, out_channels=out_channels, hidden=hidden, **kw)
    return RecurrentModel(encoder, out_channels, rnn=rnn, hidden=hidden)
