"""A scikit-learn style estimator for the whole pipeline, species-agnostic.

``PainEstimator(model="wgnn", task="binary").fit(sequences)`` builds the usual chain of
steps (:mod:`geopain.models.steps`) and runs it::

    LandmarkSequence -> Normalize (pose, position and size out, template frame)
                     -> Reference (none, or the person's own first frames / median / neutral frames)
                     -> IdentityAugment while training neural models (other identities, mirrored)
                     -> GraphFeatures (neural models; + measurements for "hybrid")
                        or MeasurementFeatures (baselines)
                     -> FeatureScaler -> model (frames, or sliding windows with temporal=True)

Neural models start from the encoder geopain ships for the scheme when there is one
(``init="auto"``, see :mod:`geopain.models.pretrained`); what is new for the task is fitted
first by scikit-learn, then trained with early stopping on held-out subjects.

Labels come from the sequences: ``pain`` (binary), ``level`` (levels; the species scale's
number of levels) and ``score`` (regression over the scale's range: PSPI 0-16, SPFES
0-10). A missing ``pain``/``level`` is derived from ``score`` with the species' scale.
Nothing depends on the species except through the scheme's data.

Parameters are stored as given (``get_params``/``set_params``); learned state ends in
``_`` (``model_``, ``scaler_``, ``history_``, ``scheme_``, ``n_classes_``).
Temporal mode (``temporal=True`` or ``"gru"``/``"lstm"``/``"cloud"``) predicts windows of
``window`` frames (``window_step`` apart); a window's training label is its centre frame's,
and each frame's prediction averages the windows that cover it.
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from ..defaults import TRAINING  # one table of defaults
from ..errors import GeopainError, InputError, SchemeError
from ..jsonio import to_jsonable
from ..landmarks import LandmarkSequence
from ..species import Scheme, convert_sequence, get_scheme
from ._common import HEADS
from .abstention import frame_status
from ..predictions import apply_temperature, frame_table, sequence_table, task_targets
from ..tasks import TASK_ALIASES, TASKS, canonical_task
from .calibration import after_fit
from .factory import MODELS, create, create_temporal
from .pretrained import resolve_init
from .serialization import WEIGHTS, read_model_dir, write_model_dir
from .steps import (REFERENCES, FeatureScaler, Frames, GraphFeatures, IdentityAugment, MeasurementFeatures, Normalize,
                    Reference, feature_blocks)

TEMPORAL = (False, True, "gru", "lstm", "cloud")


def as_sequence_list(sequences: Iterable[LandmarkSequence] | LandmarkSequence) -> list[LandmarkSequence]:
    """Sequences from sequences, one sequence, a table path or a DataFrame (:func:`geopain.io.tables.as_sequences`),
    all of one landmark scheme; :class:`GeopainError` when there are none or the schemes mix."""
    from ..io.tables import as_sequences

    seqs = as_sequences(sequences)
    if not seqs:
        raise GeopainError("no landmark sequences given")
    schemes = {s.scheme for s in seqs}
    if len(schemes) != 1:
        raise GeopainError(f"sequences mix landmark schemes {sorted(schemes)}; convert them to one scheme first")
    return seqs


def sequence_windows(n_frames: int, size: int, step: int) -> np.ndarray:
    """``(W, size)`` frame indices of sliding windows covering ``0..n_frames-1``.

    The last window ends on the last frame; sequences shorter than ``size`` give one
    window padded by repeating their first frame.
    """
    if n_frames <= 0:
        return np.zeros((0, size), dtype=np.int64)
    if n_frames <= size:
        return np.clip(np.arange(size) - (size - n_frames), 0, None)[None].astype(np.int64)
    starts = list(range(0, n_frames - size + 1, max(1, step)))
    if starts[-1] != n_frames - size:
        starts.append(n_frames - size)
    return (np.asarray(starts)[:, None] + np.arange(size)[None]).astype(np.int64)


#: The older ``baseline`` values and the ``reference`` each one means.
BASELINE_TO_REFERENCE = {"none": "none", "first": "first-frames", "subject-median": "subject-median"}


#: Folds of the inner subject-grouped cross-validation that chooses a hybrid's linear part.
INNER_FOLDS = 4


class PainEstimator:
    """Pain from landmark sequences: fit / predict / predict_proba / score / save / load.

    The usual pipeline (see :mod:`geopain.models.steps`)::

        Normalize -> Reference(reference) -> [IdentityAugment while training]
                  -> GraphFeatures (neural models; + measurements for "hybrid")
                     or MeasurementFeatures (baselines) -> FeatureScaler -> model

    Args:
        model: a registered model name (:func:`geopain.models.names`).
        task: ``"binary"``, ``"levels"`` (the ordered levels of the species' scale; formerly
            ``"five"``, still accepted with a FutureWarning) or ``"score"``.
        temporal: ``False`` (frames), ``True``/``"gru"``/``"lstm"`` (frame embeddings + RNN
            over windows; baselines use window statistics) or ``"cloud"`` (spatio-temporal
            point cloud; implied by ``model="stpointnet"``).
        hidden, layers: network size; epochs, batch_size, lr, weight_decay, patience:
            optimisation (early stopping on held-out *subjects*, ``val_fraction`` of them).
        balance: ``"weight"``, ``"sample"`` or ``None`` (class imbalance handling).
        window, window_step: temporal windows in frames.
        graph: keyword arguments of :class:`geopain.graphs.FacialGraphBuilder`.
        reference: per-person reference (:data:`~geopain.models.steps.REFERENCES`):
            ``"none"`` (default: scores any face alone, a single photo included),
            ``"first-frames"``, ``"subject-median"`` or ``"neutral-labelled"``. A model trained
            with a reference refuses inputs that cannot give one
            (:class:`~geopain.errors.ReferenceUnavailableError`, see :meth:`reference_problem`).
        head: ``"auto"`` (ordinal cumulative-link head for ``task="levels"`` where the model has
            one, else softmax), ``"softmax"`` or ``"ordinal"``.
        augment: identity augmentation while training neural models
            (:class:`~geopain.models.steps.IdentityAugment`): ``"auto"`` (on when
            ``reference="none"`` and the model sees single frames; off for windows, whose
            frames would each get another identity), ``True``, ``False``, or a dict of its options.
        init: ``"auto"`` (the encoder shipped with geopain for this scheme and model when there
            is one of this size, see ``geopain pretrain``; else random), ``None`` (random),
            ``"pretrained"`` (the shipped encoder, an error without one) or a model directory.
        finetune: what trains when starting from ``init``. Either way, what is new (the output
            layer of another task, a hybrid's measurement part) is first fitted by scikit-learn on
            the pretrained network's output, so training starts from the pretrained ranking
            calibrated to the task. ``"all"`` (default) then trains every weight, with early
            stopping on held-out subjects that also scores that starting point (so the data decide
            between the simulator-pretrained network and one adapted to them); ``"head"`` keeps
            every pretrained weight (linear probing: on faces of another generator it fits worse,
            trained on geopain's simulator alone it carries over better; see the README's
            generality table).
        model_params: extra keyword arguments of the model factory.
        device: ``"auto"`` (GPU when present), ``"cpu"``, ``"cuda"``.
        seed: seeds everything; verbose: progress bars.
        baseline: the older name of ``reference`` (``None``, ``"first"``, ``"subject-median"``).
    """

    def __init__(self, model: str = "wgnn", task: str = "binary", temporal: bool | str = False, *,
                 hidden: int = TRAINING["hidden"], layers: int = TRAINING["layers"], epochs: int = TRAINING["epochs"],
                 batch_size: int = TRAINING["batch_size"], lr: float = TRAINING["lr"],
                 weight_decay: float = TRAINING["weight_decay"], patience: int = TRAINING["patience"],
                 val_fraction: float = TRAINING["val_fraction"], balance: str | None = TRAINING["balance"],
                 window: int = TRAINING["window"], window_step: int = TRAINING["window_step"],
                 graph: dict[str, Any] | None = None, reference: str = "none", head: str = "auto",
                 augment: bool | str | dict[str, Any] = "auto", init: str | None = "auto", finetune: str = "all",
                 model_params: dict[str, Any] | None = None, device: str = "auto",
                 seed: int = 0, verbose: bool = False, baseline: str | None = None):
        self.model = model
        self.task = canonical_task(task) if task in TASK_ALIASES else task
        self.temporal = temporal
        self.hidden = hidden
        self.layers = layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.val_fraction = val_fraction
        self.balance = balance
        self.window = window
        self.window_step = window_step
        self.graph = graph
        self.reference = reference
        self.head = head
        self.augment = augment
        self.init = init
        self.finetune = finetune
        self.model_params = model_params
        self.device = device
        self.seed = seed
        self.verbose = verbose
        self.baseline = baseline

    # -- scikit-learn plumbing ------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params: Any) -> "PainEstimator":
        for k, v in params.items():
            if k not in self._param_names():
                raise GeopainError(f"PainEstimator has no parameter {k!r}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items()
                   if v != inspect.signature(type(self).__init__).parameters[k].default}
        return f"PainEstimator({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # -- validation -----------------------------------------------------------------------
    @property
    def _reference(self) -> str:
        if self.baseline is not None and self.reference == "none":
            if self.baseline not in BASELINE_TO_REFERENCE:
                raise GeopainError(f"baseline must be one of {tuple(BASELINE_TO_REFERENCE)}, got {self.baseline!r}")
            return BASELINE_TO_REFERENCE[self.baseline]
        return self.reference

    def _check_params(self) -> None:
        if self.task not in TASKS:
            raise GeopainError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.temporal not in TEMPORAL:
            raise GeopainError(f"temporal must be one of {TEMPORAL}, got {self.temporal!r}")
        if self.model not in MODELS:
            raise GeopainError(f"unknown model {self.model!r}; known: {', '.join(MODELS.names())}")
        if self._kind not in ("torch", "sklearn"):
            raise GeopainError(f"model {self.model!r} is a {self._kind} model, not a face model: build it with "
                               f"geopain.models.create({self.model!r}, ...) (it needs more than landmarks)")
        if self._reference not in REFERENCES:
            raise GeopainError(f"reference must be one of {REFERENCES}, got {self._reference!r}")
        if self.head not in ("auto", *HEADS):
            raise GeopainError(f"head must be 'auto' or one of {HEADS}, got {self.head!r}")
        if MODELS.info(self.model).get("temporal_only") and not self.temporal:
            raise GeopainError(f"model {self.model!r} works on sequences: use temporal=True (--temporal)")

    @property
    def _info(self) -> dict[str, Any]:
        return MODELS.info(self.model)

    @property
    def _kind(self) -> str:
        return self._info["kind"]

    @property
    def _rnn(self) -> str | None:
        if self._info.get("window_model"):  # takes windows (B, T, N, F) itself: temporal whatever ``temporal`` says
            return "window"
        if not self.temporal:
            return None
        if self._info.get("temporal_only") or self.temporal == "cloud":
            return "cloud"
        return "lstm" if self.temporal == "lstm" else "gru"

    @property
    def _head(self) -> str:
        heads = self._info.get("heads", ("softmax",))
        if self.head == "auto":
            return "ordinal" if self.task == "levels" and "ordinal" in heads and not self._rnn else "softmax"
        if self.head not in heads:
            raise GeopainError(f"model {self.model!r} has no {self.head!r} head (it has: {', '.join(heads)})")
        if self.head == "ordinal" and self.task != "levels":
            raise GeopainError("the ordinal head is for task='levels' (ordered levels)")
        return self.head

    @property
    def _augments(self) -> bool:
        if self._kind == "sklearn":
            return False
        if isinstance(self.augment, dict):
            return True
        if self.augment == "auto" and self._rnn is not None:
            return False  # identities are swapped per frame: inside a window that would be motion
        return self._reference == "none" if self.augment == "auto" else bool(self.augment)

    # -- pipeline steps -------------------------------------------------------------------
    def _frames(self, seqs: list[LandmarkSequence], scheme: Scheme, fitting: bool = False,
                targets: np.ndarray | None = None) -> Frames:
        """Normalise, then apply the per-person reference."""
        frames = Normalize(scheme).transform(seqs)
        return Reference(self._reference).transform(frames, fitting=fitting, labels=targets)

    def _featurizer(self, scheme: Scheme):
        if self._kind == "sklearn":
            return MeasurementFeatures()
        return GraphFeatures(scheme, self.graph, measurements=bool(self._info.get("measurements")),
                             coordinates=bool(self._info.get("coordinates")), edges=bool(self._info.get("graph")))

    def reference_problem(self, sequences: Iterable[LandmarkSequence] | LandmarkSequence) -> str | None:
        """Why ``sequences`` cannot support this model's per-person reference (one line), or ``None``."""
        self._check_fitted()
        seqs = self._in_scheme(as_sequence_list(sequences))
        return Reference(self._reference).problem(Normalize(self.scheme_obj_).transform(seqs))

    def _samples(self, seqs: list[LandmarkSequence]) -> tuple[np.ndarray, np.ndarray]:
        """``index`` ((S,) frames or (S, T) windows) and ``centre (S,)`` (frame a sample is labelled by)."""
        found = np.concatenate([s.face_found for s in seqs])
        if self._rnn is None:
            idx = np.flatnonzero(found)
            return idx, idx
        offsets = np.cumsum([0] + [s.n_frames for s in seqs])
        wins = [sequence_windows(s.n_frames, self.window, self.window_step) + offsets[i] for i, s in enumerate(seqs)]
        index = np.concatenate(wins) if wins else np.zeros((0, self.window), np.int64)
        centre = index[:, self.window // 2]
        keep = found[centre]
        return index[keep], centre[keep]

    @staticmethod
    def _window_features(features: np.ndarray, index: np.ndarray) -> np.ndarray:
        if index.ndim == 1:
            return features[index]
        w = features[index]  # (S, T, M)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                stats = [np.nanmean(w, 1), np.nanstd(w, 1), np.nanmin(w, 1), np.nanmax(w, 1)]
        return np.concatenate(stats, 1)

    # -- model ------------------------------------------------------------------------------
    def _model_kwargs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        kw = dict(self.model_params or {})
        if self._kind == "sklearn":
            return kw
        info = self._info
        kw.setdefault("hidden", self.hidden)
        if info.get("layered"):
            kw.setdefault("layers", self.layers)
        if info.get("edge_features"):
            ea = inputs.get("edge_attr")
            kw.setdefault("edge_dim", 0 if ea is None else int(ea.shape[-1]))
        if info.get("landmarks") and self._rnn in (None, "window"):
            kw.setdefault("n_nodes", int(inputs["x"].shape[1]))
        if info.get("measurements") or info.get("coordinates"):
            kw.setdefault("n_measurements", int(inputs["features"].shape[-1]))
        if info.get("scheme_arg"):  # models built per landmark scheme (e.g. the shared-region model)
            kw.setdefault("scheme", self.scheme_)
        if len(info.get("heads", ())) > 1:
            kw.setdefault("head", self._head)
        for key, value in info.get("build_defaults", {}).items():
            kw.setdefault(key, value)
        return kw

    def _build_model(self, in_channels: int, kwargs: dict[str, Any]):
        out = 1 if self.task == "score" else self.n_classes_
        if self._kind == "sklearn":
            return create(self.model, task=self.task, n_classes=max(out, 2), seed=self.seed, **kwargs)
        torch.manual_seed(self.seed)
        if self._rnn in (None, "window"):
            return create(self.model, in_channels=in_channels, out_channels=out, **kwargs)
        if self._rnn == "cloud":
            enc = {} if self._info.get("temporal_only") else {"encoder": self._info.get("cloud_encoder", "pointnet")}
            kw = {k: v for k, v in kwargs.items() if k not in ("edge_dim", "layers", "n_nodes", "head")}
            return create_temporal("stpointnet", in_channels, out, **{**enc, **kw})
        hidden = kwargs.pop("hidden", self.hidden)
        return create_temporal(self.model, in_channels, out, rnn=self._rnn, hidden=hidden, **kwargs)

    def _in_scheme(self, seqs: list[LandmarkSequence]) -> list[LandmarkSequence]:
        if seqs[0].scheme == self.scheme_:
            return seqs

        try:
            return [convert_sequence(s, self.scheme_) for s in seqs]
        except SchemeError:
            raise GeopainError(f"model was trained on scheme {self.scheme_}, got {seqs[0].scheme} "
                               f"(no conversion declared)") from None

    # -- public API -------------------------------------------------------------------------
    def fit(self, sequences: Iterable[LandmarkSequence], y: Any = None, out_dir: str | os.PathLike | None = None
            ) -> "PainEstimator":
        """Train on labelled sequences (labels from the sequences; ``y`` is ignored).

        ``out_dir``: where training curves (CSV + PNG) are written, if given.
        """
        from ..training import class_weights, fit_network, set_seed

        self._check_params()
        seqs = as_sequence_list(sequences)
        set_seed(self.seed)
        self.scheme_ = seqs[0].scheme
        scheme = self.scheme_obj_ = get_scheme(self.scheme_)
        scale = scheme.pain_scale
        if scale is None:
            raise GeopainError(f"scheme {self.scheme_} has no pain scale; cannot define {self.task} targets")
        self.n_classes_ = {"binary": 2, "levels": scale.n_levels, "score": 1}[self.task]
        self.score_range_ = tuple(float(v) for v in scale.range)
        targets = task_targets(seqs, self.task, scheme)
        frames = self._frames(seqs, scheme, fitting=True, targets=targets)
        featurizer = self._featurizer(scheme)
        inputs = featurizer.transform(frames)
        index, centre = self._samples(seqs)
        yv = targets[centre]
        ok = np.isfinite(yv)
        index, centre, yv = index[ok], centre[ok], yv[ok]
        if len(yv) == 0:
            raise GeopainError(f"no labelled frames with a face for task {self.task!r}")
        if self.task != "score" and len(np.unique(yv)) < 2:
            raise GeopainError(f"training labels for task {self.task!r} hold one class only")
        groups = frames.subject[centre]
        if self.task == "score":
            strata = scale.level(yv).astype(np.int64)
            y_fit = yv / max(self.score_range_[1], 1e-9)
        else:
            strata = yv.astype(np.int64)
            y_fit = yv.astype(np.int64)
        self.history_ = None
        if self._kind == "sklearn":
            feats = self._window_features(inputs["features"], index)
            self.model_kwargs_ = self._model_kwargs(inputs)
            self.model_ = self._build_model(feats.shape[1], dict(self.model_kwargs_))
            sw = class_weights(strata, int(strata.max()) + 1)[strata] if self.task == "score" and self.balance == "weight" else None
            self.model_.fit(feats, y_fit if self.task != "score" else yv, sample_weight=sw)
            self.n_features_ = feats.shape[1]
            self.scaler_ = {}
            after_fit(self, seqs, index, groups, y_fit, strata)  # calibration, abstention thresholds
            return self
        init = resolve_init(self.init, self)
        self.init_report_ = None
        scaler = FeatureScaler().fit(inputs, np.unique(index))
        if init:  # the encoder sees its inputs scaled as in pretraining; other inputs by this data
            scaler = FeatureScaler.from_stats({**scaler.stats_, **init.scaler})
        self.scaler_ = scaler.stats_
        scaled = scaler.transform(inputs)
        self.n_features_ = int(scaled["x"].shape[-1])
        self.edge_index_ = scaled["edge_index"].numpy()
        self.model_kwargs_ = self._model_kwargs(scaled)
        self.model_ = self._build_model(self.n_features_, dict(self.model_kwargs_))
        if init:
            self.init_report_ = init.apply(self.model_)
            if self.finetune == "head":
                frozen = set(self.init_report_["loaded"])
                for name, param in self.model_.named_parameters():
                    if name in frozen:
                        param.requires_grad_(False)
            elif self.finetune != "all":
                raise GeopainError(f"finetune must be 'head' or 'all', got {self.finetune!r}")
        self.linear_part_ = None
        if index.ndim == 1 and (hasattr(self.model_, "set_linear") or init):
            self._fit_output(scaled, index, y_fit, head_frozen=bool(init),
                             source_output=init.output_layer(self.model_) if init else None, groups=groups)
        if self._head == "ordinal" and (init or hasattr(self.model_, "set_linear")) and index.ndim == 1:
            self._init_thresholds(scaled, index, y_fit)
        augmented = self._augmenter(frames, featurizer, scaler) if self._augments else None
        self.history_ = fit_network(
            self.model_, scaled, index, y_fit, self.task, groups=groups, strata=strata, n_classes=self.n_classes_,
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
            patience=self.patience, val_fraction=self.val_fraction, balance=self.balance, seed=self.seed,
            device=self.device, verbose=self.verbose, augment=augmented)
        self.model_.to("cpu")
        after_fit(self, seqs, index, groups, y_fit, strata, scaled)  # calibration, abstention thresholds
        if out_dir is not None:
            self.history_.save(out_dir)
        return self

    def _fit_output(self, inputs: dict[str, Any], index: np.ndarray, y: np.ndarray, head_frozen: bool,
                    source_output: tuple[np.ndarray, np.ndarray] | None = None,
                    groups: np.ndarray | None = None) -> None:
        """Fit what is linear and new in the model with scikit-learn, to convergence, and copy it in.

        - a hybrid's measurement part (on the scaled measurements); the graph part's new
          output layer starts at zero, so the model starts as the logistic regression;
        - with a frozen pretrained network (``finetune="head"``) and a softmax head: the new
          output layer and a hybrid's measurement part together, on the frozen network's
          penultimate features (a convex problem, solved exactly instead of by a few noisy
          epochs on a few subjects); where the pretrained head gave one score, on that score,
          so the model starts from the pretrained ranking, calibrated to the task.
        Ordinal heads and scores keep their loaded latent; a hybrid's linear part then starts at 0.

        A hybrid's feature blocks and regularisation are chosen by an inner group k-fold over the
        training subjects ``groups (S,)`` (:func:`~geopain.models.hybrid.select_linear_part`),
        recorded in ``linear_part_``.
        """
        from sklearn.linear_model import LogisticRegression, Ridge

        from ..training import _batch
        from .hybrid import select_linear_part

        is_hybrid = hasattr(self.model_, "set_linear")
        batch = _batch(inputs, torch.as_tensor(index), torch.device("cpu"))
        features = batch["features"].numpy().astype(np.float64) if is_hybrid else np.zeros((len(index), 0))
        splits = self._inner_splits(groups) if is_hybrid else []

        def choose(fixed: np.ndarray, target: np.ndarray, make, loss) -> tuple[np.ndarray, float]:
            """The hybrid's mask and ``C`` (all features, ``C = 1`` for other models)."""
            if not is_hybrid:
                return np.ones(features.shape[1]), 1.0
            mask, C, self.linear_part_ = select_linear_part(
                features, feature_blocks(self._info, features.shape[1], int(inputs["x"].shape[1])), fixed, target,
                splits, make, loss)
            return mask, C

        if self.task == "score" or self._head == "ordinal":
            if is_hybrid and not head_frozen:  # one latent value: a ridge on the (level or score) target
                target = y if self.task == "score" else y / max(self.n_classes_ - 1, 1)
                mask, C = choose(np.zeros((len(index), 0)), target, lambda C: Ridge(alpha=1.0 / C),
                                 lambda est, X, t: np.mean((est.predict(X) - t) ** 2))
                cols = mask > 0
                lin = Ridge(alpha=1.0 / C).fit(features[:, cols], target)
                coef = np.zeros(features.shape[1])
                coef[cols] = lin.coef_.reshape(-1)
                scale = 1.0 if self.task == "score" else 4.0  # latent units: levels span a few logits
                self.model_.set_linear(scale * coef.reshape(1, -1), scale * np.atleast_1d(lin.intercept_), mask)
            return
        head = self.model_.head
        penultimate = np.zeros((len(index), 0))
        if head_frozen:
            self.model_.eval()
            with torch.no_grad():
                h = self.model_.embed(**{k: v for k, v in batch.items() if k not in ("time", "features")})
                penultimate = head.net[:-1](h).numpy()
        # a pretrained score head gives one value: start from it (a calibrated ranking of
        # thousands of identities) rather than from its 32 penultimate features re-weighted on a few
        prior = source_output if head_frozen and source_output is not None else None
        if prior is not None:
            w0, b0 = prior
            penultimate = penultimate @ w0.T + b0  # (S, 1) the pretrained score
        if penultimate.shape[1] + features.shape[1] == 0:
            return
        weight = None if self.balance in (None, "none") else "balanced"

        def logistic(C: float) -> LogisticRegression:
            return LogisticRegression(C=C, class_weight=weight, max_iter=2000, warm_start=True)

        def held_out_nll(est, X, t) -> float:
            from sklearn.metrics import log_loss
            from sklearn.utils.class_weight import compute_sample_weight

            sw = None if weight is None else compute_sample_weight("balanced", t)
            return log_loss(t, est.predict_proba(X), labels=est.classes_, sample_weight=sw)

        mask, C = choose(penultimate, y, logistic, held_out_nll)
        X = np.concatenate([penultimate, features * mask], 1)
        lin = logistic(C).fit(X, y)
        W = np.zeros((self.n_classes_, X.shape[1]))
        b = np.full(self.n_classes_, -10.0)  # a class absent from training stays unlikely
        if len(lin.classes_) == 2:
            for sign, cls in zip((-0.5, 0.5), lin.classes_):
                W[int(cls)], b[int(cls)] = sign * lin.coef_[0], sign * lin.intercept_[0]
        else:
            for row, cls in enumerate(lin.classes_):
                W[int(cls)], b[int(cls)] = lin.coef_[row], lin.intercept_[row]
        P = penultimate.shape[1]
        if P:
            last = head.net[-1]
            Wp, bp = W[:, :P], b
            if prior is not None:  # logit = a * (w0 . pen + b0) + c  ->  a w0 . pen + (a b0 + c)
                Wp, bp = W[:, :1] * w0, b + W[:, 0] * b0[0]
            with torch.no_grad():
                last.weight.copy_(torch.as_tensor(Wp, dtype=last.weight.dtype))
                last.bias.copy_(torch.as_tensor(bp, dtype=last.bias.dtype))
        if is_hybrid:
            self.model_.set_linear(W[:, P:], np.zeros(self.n_classes_) if P else b, mask)

    def _inner_splits(self, groups: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(train, held)`` sample indices of an inner group k-fold over the training subjects
        (:data:`INNER_FOLDS` folds, fewer with fewer subjects; none below 3 subjects)."""
        from ..evaluation.splits import group_kfold

        if groups is None:
            return []
        groups = np.asarray(groups).astype(str)
        subjects = np.unique(groups)
        if len(subjects) < 3:
            return []
        folds = group_kfold(subjects, k=min(INNER_FOLDS, len(subjects)), seed=self.seed)
        return [(np.flatnonzero(~np.isin(groups, f.test_subjects)), np.flatnonzero(np.isin(groups, f.test_subjects)))
                for f in folds]

    def _augmenter(self, frames: Frames, featurizer, scaler: FeatureScaler):
        """``epoch -> inputs``: the training frames with other identities (a new draw each epoch)."""
        options = self.augment if isinstance(self.augment, dict) else {}
        identities = IdentityAugment(**{"seed": self.seed, **options}).fit(frames)

        def inputs(epoch: int) -> dict[str, Any]:
            return scaler.transform(featurizer.transform(identities.transform(frames, epoch)))
        return inputs

    def _init_thresholds(self, inputs: dict[str, Any], index: np.ndarray, y: np.ndarray) -> None:
        """Ordinal thresholds from the latent values the (pretrained / pre-fitted) model gives
        the training frames, so the new levels start where that latent puts them."""
        from ..training import _batch

        self.model_.eval()
        with torch.no_grad():
            z = self.model_.latent(**{k: v for k, v in _batch(inputs, torch.as_tensor(index), torch.device("cpu")).items()
                                      if k != "time"})
        self.model_.head.init_thresholds(z, torch.as_tensor(y))

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise GeopainError("this PainEstimator is not fitted yet; call fit() or load a saved model")

    def _raw_outputs(self, seqs: list[LandmarkSequence]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(F, C)`` per-frame outputs (probabilities, or scores in scale units), ``(F,)`` valid
        mask and ``(F,)`` the per-person reference used for each frame."""
        from ..training import predict_network

        self._check_fitted()
        seqs = self._in_scheme(seqs)
        frames = self._frames(seqs, self.scheme_obj_)
        inputs = self._featurizer(self.scheme_obj_).transform(frames)
        index, centre = self._samples(seqs)
        F = len(frames)
        C = 1 if self.task == "score" else self.n_classes_
        if self._kind == "sklearn":
            feats = self._window_features(inputs["features"], index)
            if len(feats):
                out = self.model_.predict(feats)[:, None] if self.task == "score" else self.model_.predict_proba(feats)
            else:
                out = np.zeros((0, C))
        else:
            inputs = FeatureScaler.from_stats(self.scaler_).transform(inputs)
            out = self._outputs(predict_network(self.model_, inputs, index, device=self.device))
        if self.task == "score":
            out = np.clip(out, *self.score_range_)
        else:  # temperature fitted on held-out subjects (geopain.models.calibration)
            out = apply_temperature(out, getattr(self, "temperature_", 1.0))
        result = np.full((F, C), np.nan)
        if index.ndim == 1:
            result[index] = out
            return result, np.isfinite(result).all(1), frames.reference
        # windows: each frame averages the windows covering it
        acc = np.zeros((F, C))
        cnt = np.zeros(F)
        flat = index.reshape(-1)
        np.add.at(acc, flat, np.repeat(out, index.shape[1], 0))
        np.add.at(cnt, flat, 1)
        ok = (cnt > 0) & frames.found
        result[ok] = acc[ok] / cnt[ok, None]
        return result, ok, frames.reference

    def _outputs(self, raw: np.ndarray) -> np.ndarray:
        """A network's raw ``(S, out)`` outputs -> ``(S, C)`` probabilities (before the
        temperature), or ``(S, 1)`` scores in scale units (before clipping)."""
        if self.task == "score":
            return raw[:, :1].astype(np.float64) * self.score_range_[1]
        return torch.softmax(torch.as_tensor(raw, dtype=torch.float64), 1).numpy()

    def predict_proba(self, sequences: Iterable[LandmarkSequence]) -> np.ndarray:
        """``(F, n_classes)`` class probabilities of every frame (NaN where no face was found)."""
        if self.task == "score":
            raise GeopainError("predict_proba is for the binary and levels tasks; use predict for scores")
        return self._raw_outputs(as_sequence_list(sequences))[0]

    def predict(self, sequences: Iterable[LandmarkSequence]) -> np.ndarray:
        """``(F,)`` per-frame predictions: class index (float, NaN without face) or score."""
        out, ok, _ = self._raw_outputs(as_sequence_list(sequences))
        if self.task == "score":
            return out[:, 0]
        pred = np.full(len(out), np.nan)
        pred[ok] = out[ok].argmax(1)
        return pred

    def score(self, sequences: Iterable[LandmarkSequence], y: Any = None) -> float:
        """Accuracy (classification) or R^2 (score) on the labelled frames with a face."""
        seqs = as_sequence_list(sequences)
        pred = self.predict(seqs)
        true = task_targets(seqs, self.task)
        ok = np.isfinite(pred) & np.isfinite(true)
        if not ok.any():
            raise GeopainError("no labelled frames with a face to score")
        if self.task == "score":
            ss = ((true[ok] - true[ok].mean()) ** 2).sum()
            return float(1 - ((true[ok] - pred[ok]) ** 2).sum() / ss) if ss > 0 else float("nan")
        return float((pred[ok] == true[ok]).mean())

    def predict_frames(self, sequences: Iterable[LandmarkSequence]) -> pd.DataFrame:
        """One row per frame: ids, ``prediction``, ``p_<k>`` (classification) and known labels."""
        seqs = as_sequence_list(sequences)
        out, ok, reference = self._raw_outputs(seqs)
        df = frame_table(seqs, out, ok, reference, self.task)
        # scored / abstained and why (geopain.models.abstention)
        df["status"], df["reason"], _ = frame_status(self, self._in_scheme(seqs), ok)
        return df

    def predict_sequences(self, sequences: Iterable[LandmarkSequence]) -> pd.DataFrame:
        """One row per sequence: frames, frames with a face, mean per-frame outputs and the
        sequence prediction (argmax of the mean probabilities, or the mean score)."""
        return sequence_table(self.predict_frames(sequences), self.task)

    # -- persistence ------------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Everything a fitted estimator learned, as ``(config, tensors)``: a JSON-ready dict
        (parameters as given, scheme, classes, score range, feature count, model kwargs, a
        baseline's config, calibration, abstention) and named CPU tensors (``model.*`` state
        dict or ``baseline.*`` arrays, ``scaler.*``, ``edge_index``, ``ood.*``). Files are
        :mod:`geopain.models.serialization`'s business; this is the estimator's."""
        self._check_fitted()
        tensors: dict[str, torch.Tensor] = {}

        def put(prefix: str, arrays: dict[str, Any]) -> None:
            for k, v in arrays.items():
                tensors[f"{prefix}{k}"] = torch.as_tensor(np.ascontiguousarray(v))

        if self._kind == "sklearn":
            put("baseline.", self.model_.arrays_)
            baseline_config = self.model_.config()
        else:
            for k, v in self.model_.state_dict().items():
                tensors[f"model.{k}"] = v.detach().cpu().contiguous()
            tensors["edge_index"] = torch.as_tensor(np.ascontiguousarray(self.edge_index_))
            baseline_config = None
        put("scaler.", self.scaler_)
        put("ood.", getattr(self, "ood_", None) or {})  # abstention: training embedding statistics
        config = {
            "estimator": type(self).__name__,
            "params": to_jsonable(self.get_params()),
            "kind": self._kind,
            "scheme": self.scheme_,
            "n_classes": self.n_classes_,
            "score_range": list(self.score_range_),
            "n_features": self.n_features_,
            "model_kwargs": to_jsonable(self.model_kwargs_),
            "baseline": to_jsonable(baseline_config),
            # temperature fitted on held-out subjects; abstention thresholds (edit to change them)
            "calibration": to_jsonable(getattr(self, "calibration_", None)),
            "abstention": to_jsonable(getattr(self, "abstention_", None)),
            # a hybrid's linear part: the feature blocks and regularisation chosen by inner cross-validation
            "linear_part": to_jsonable(getattr(self, "linear_part_", None)),
        }
        return config, tensors

    @staticmethod
    def params_from_config(config: dict[str, Any]) -> dict[str, Any]:
        """Constructor parameters of a saved config, older spellings mapped to today's."""
        params = dict(config["params"])
        if "task" in params:  # saved as "five" before the rename
            params["task"] = canonical_task(params["task"], warn=False)
        if params.get("baseline") is not None and "reference" not in params:  # written before 'reference'
            params["reference"] = {"first": "first-frames"}.get(params["baseline"], params["baseline"])
        params.pop("subject_norm", None)
        params["baseline"] = None
        return params

    def set_state(self, config: dict[str, Any], tensors: dict[str, torch.Tensor],
                  where: str | os.PathLike | None = None) -> "PainEstimator":
        """Restore what :meth:`get_state` returned (``where`` names the source in errors); returns self."""
        from .baselines import MeasurementBaseline

        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        self.scheme_ = config["scheme"]
        self.scheme_obj_ = get_scheme(self.scheme_)
        self.n_classes_ = int(config["n_classes"])
        self.score_range_ = tuple(config["score_range"])
        self.n_features_ = int(config["n_features"])
        self.model_kwargs_ = dict(config["model_kwargs"])
        self.scaler_ = {k: v.numpy() for k, v in part("scaler.").items()}
        self.history_ = None
        self.calibration_ = config.get("calibration") or {"method": "none", "temperature": 1.0}
        self.temperature_ = float(self.calibration_.get("temperature", 1.0))
        self.abstention_ = config.get("abstention")
        self.linear_part_ = config.get("linear_part")
        self.ood_ = {k: v.double().numpy() for k, v in part("ood.").items()}
        if config["kind"] == "sklearn":
            self.model_ = MeasurementBaseline.from_arrays({k: v.numpy() for k, v in part("baseline.").items()},
                                                          config["baseline"])
        else:
            self.edge_index_ = tensors["edge_index"].numpy()
            self.model_ = self._build_model(self.n_features_, dict(self.model_kwargs_))
            try:
                self.model_.load_state_dict(part("model."))
            except RuntimeError as exc:
                raise InputError(where, f"weights do not fit the configured model ({str(exc).splitlines()[0]})") from None
            self.model_.eval()
        return self

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json`` + ``model.safetensors`` (no pickle) to ``directory``."""
        config, tensors = self.get_state()
        return write_model_dir(directory, config, tensors, self.history_)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "PainEstimator":
        """Load a model saved by :meth:`save` (never unpickles)."""
        config, tensors = read_model_dir(directory)
        return cls(**cls.params_from_config(config)).set_state(config, tensors, where=Path(directory) / WEIGHTS)
