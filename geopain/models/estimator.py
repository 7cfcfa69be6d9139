"""A scikit-learn style estimator for the whole pipeline, species-agnostic.

``PainEstimator(model="wgnn", task="binary").fit(sequences)`` runs::

    LandmarkSequence -> geopain.geometry.normalize (pose and scale removed)
                     -> neural models: geopain.graphs.FacialGraphBuilder tensors (x, edge weights, edge features)
                        baselines:     geopain.geometry.measure pain-unit measurements
                     -> model (frames, or sliding windows with temporal=True)

Labels come from the sequences: ``pain`` (binary), ``level`` (five; the species scale's
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

from ..errors import GeopainError
from ..landmarks import LandmarkSequence, stack_coords
from ..species import get_scheme

TASKS = ("binary", "five", "score")
TEMPORAL = (False, True, "gru", "lstm", "cloud")


def _as_list(sequences: Iterable[LandmarkSequence] | LandmarkSequence) -> list[LandmarkSequence]:
    seqs = [sequences] if isinstance(sequences, LandmarkSequence) else list(sequences)
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


def task_targets(sequences: Sequence[LandmarkSequence], task: str) -> np.ndarray:
    """``(F,)`` frame targets of ``task`` (NaN where unknown), from labels or the species' scale."""
    scheme = get_scheme(sequences[0].scheme)
    scale = scheme.pain_scale
    out = []
    for s in sequences:
        name = {"binary": "pain", "five": "level", "score": "score"}[task]
        v = s.labels.get(name)
        if v is None and task != "score" and "score" in s.labels and scale is not None:
            v = scale.binary(s.labels["score"]) if task == "binary" else scale.level(s.labels["score"])
        out.append(np.full(s.n_frames, np.nan) if v is None else np.asarray(v, dtype=np.float64))
    return np.concatenate(out)


def _subject_centre(values: np.ndarray, subjects: np.ndarray) -> np.ndarray:
    """``values (F, ...)`` minus each subject's mean over its frames (NaN-aware)."""
    out = np.array(values, dtype=np.float64 if values.dtype == np.float64 else np.float32, copy=True)
    import warnings

    for subj in np.unique(subjects):
        rows = subjects == subj
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(out[rows], 0)
        out[rows] -= np.nan_to_num(mean)
    return out


#: Label-free identity removal methods of :class:`PainEstimator`.
IDENTITY_BASELINES = (None, "first", "subject-median")


class PainEstimator:
    """Pain from landmark sequences: fit / predict / predict_proba / score / save / load.

    Args:
        model: a registered model name (:func:`geopain.models.names`).
        task: ``"binary"``, ``"five"`` or ``"score"``.
        temporal: ``False`` (frames), ``True``/``"gru"``/``"lstm"`` (frame embeddings + RNN
            over windows; baselines use window statistics) or ``"cloud"`` (spatio-temporal
            point cloud; implied by ``model="stpointnet"``).
        hidden, layers: network size; epochs, batch_size, lr, weight_decay, patience:
            optimisation (early stopping on held-out *subjects*, ``val_fraction`` of them).
        balance: ``"weight"``, ``"sample"`` or ``None`` (class imbalance handling).
        window, window_step: temporal windows in frames.
        graph: keyword arguments of :class:`geopain.graphs.FacialGraphBuilder`.
        baseline: label-free identity removal, so predictions never use labels: ``None``;
            ``"first"`` (each sequence's first frames as its neutral face); or
            ``"subject-median"`` (each subject's median normalised shape over all of its frames
            is replaced by the template: subject-wise standardisation of the geometry, so node
            features and strain edge weights measure change against the person's own face).
            ``"subject-median"`` needs several frames of a subject, including at prediction.
        model_params: extra keyword arguments of the model factory.
        subject_norm: subtract each subject's mean node/edge features (or measurements) over
            all of that subject's frames with a face, at fit and at predict time: removes
            identity, label-free, but needs several frames per subject (transductive).
        device: ``"auto"`` (GPU when present), ``"cpu"``, ``"cuda"``.
        seed: seeds everything; verbose: progress bars.
    """

    def __init__(self, model: str = "wgnn", task: str = "binary", temporal: bool | str = False, *,
                 hidden: int = 32, layers: int = 3, epochs: int = 60, batch_size: int = 64, lr: float = 5e-4,
                 weight_decay: float = 1e-2, patience: int = 10, val_fraction: float = 0.2,
                 balance: str | None = "weight", window: int = 16, window_step: int = 8,
                 graph: dict[str, Any] | None = None, baseline: str | None = None,
                 model_params: dict[str, Any] | None = None, subject_norm: bool = False, device: str = "auto",
                 seed: int = 0, verbose: bool = False):
        self.model = model
        self.task = task
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
        self.baseline = baseline
        self.model_params = model_params
        self.subject_norm = subject_norm
        self.device = device
        self.seed = seed
        self.verbose = verbose

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
    def _check_params(self) -> None:
        from . import MODELS

        if self.task not in TASKS:
            raise GeopainError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.temporal not in TEMPORAL:
            raise GeopainError(f"temporal must be one of {TEMPORAL}, got {self.temporal!r}")
        if self.model not in MODELS:
            raise GeopainError(f"unknown model {self.model!r}; known: {', '.join(MODELS.names())}")
        if self.baseline not in IDENTITY_BASELINES:
            raise GeopainError(f"baseline must be one of {IDENTITY_BASELINES} (label-free identity removal), got {self.baseline!r}")
        if MODELS.info(self.model).get("temporal_only") and not self.temporal:
            raise GeopainError(f"model {self.model!r} works on sequences: use temporal=True (--temporal)")

    @property
    def _kind(self) -> str:
        from . import MODELS

        return MODELS.info(self.model)["kind"]

    @property
    def _rnn(self) -> str | None:
        if not self.temporal:
            return None
        if self.model == "stpointnet" or self.temporal == "cloud":
            return "cloud"
        return "lstm" if self.temporal == "lstm" else "gru"

    # -- features -------------------------------------------------------------------------
    def _normalise(self, seqs: list[LandmarkSequence]) -> tuple[np.ndarray, np.ndarray]:
        """``coords (F, N, 3)`` in template units and ``confidence (F, N)`` of every frame."""
        from ..geometry.normalize import normalize

        if self.baseline == "subject-median":
            from ..geometry.baseline import baseline_sequences

            normed = baseline_sequences([normalize(s) for s in seqs], method="median")
        else:
            normed = [normalize(s, baseline=self.baseline) for s in seqs]
        coords, _ = stack_coords(normed)
        return coords, np.concatenate([s.confidence for s in normed], 0)

    def _builder(self, scheme: str):
        from ..graphs import FacialGraphBuilder

        return FacialGraphBuilder(get_scheme(scheme), **(self.graph or {}))

    def _frame_inputs(self, seqs: list[LandmarkSequence]) -> dict[str, Any]:
        """Per-frame features of every frame of ``seqs`` (normalised), unscaled."""
        coords, confidence = self._normalise(seqs)
        scheme = seqs[0].scheme
        subjects = np.concatenate([[s.subject] * s.n_frames for s in seqs])
        if self._kind == "sklearn":
            from ..geometry.measure import measure_array

            feats = np.asarray(measure_array(coords, scheme), dtype=np.float64)
            if self.subject_norm:
                feats = _subject_centre(feats, subjects)
            return {"features": feats}
        gt = self._builder(scheme).tensors(coords, confidence=confidence)

        def t(v):
            return None if v is None else torch.as_tensor(np.asarray(v) if not torch.is_tensor(v) else v).float()

        out = {"x": t(gt.x), "edge_index": torch.as_tensor(np.asarray(gt.edge_index)).long(),
               "edge_weight": t(getattr(gt, "edge_weight", None)), "edge_attr": t(getattr(gt, "edge_attr", None)),
               "pos": t(getattr(gt, "pos", None))}
        if self.subject_norm:
            for key in ("x", "edge_attr"):
                if out[key] is not None:
                    out[key] = torch.as_tensor(_subject_centre(out[key].numpy(), subjects), dtype=torch.float32)
        ts = np.concatenate([s.timestamps for s in seqs])
        fr = np.concatenate([s.frames for s in seqs]).astype(np.float64)
        fps = np.concatenate([np.full(s.n_frames, s.fps or 25.0) for s in seqs])
        time = np.where(np.isfinite(ts), ts, fr / fps)
        out["time"] = torch.as_tensor(time, dtype=torch.float32)
        return out

    def _samples(self, seqs: list[LandmarkSequence]) -> tuple[np.ndarray, np.ndarray]:
        """``index`` ((S,) frames or (S, T) windows) and ``centre (S,)`` (frame a sample is labelled by)."""
        found = np.concatenate([s.face_found for s in seqs])
        if not self.temporal:
            idx = np.flatnonzero(found)
            return idx, idx
        offsets = np.cumsum([0] + [s.n_frames for s in seqs])
        wins = [sequence_windows(s.n_frames, self.window, self.window_step) + offsets[i] for i, s in enumerate(seqs)]
        index = np.concatenate(wins) if wins else np.zeros((0, self.window), np.int64)
        centre = index[:, self.window // 2]
        keep = found[centre]
        return index[keep], centre[keep]

    def _scale_fit(self, inputs: dict[str, Any], frames: np.ndarray) -> None:
        """Per-channel mean/std of node and edge features over the training frames."""
        scaler: dict[str, np.ndarray] = {}
        for key in ("x", "edge_attr"):
            t = inputs.get(key)
            if t is None:
                continue
            v = t[torch.as_tensor(frames)].reshape(-1, t.shape[-1]).double()
            mean = torch.nanmean(v, 0)
            std = torch.sqrt(torch.nanmean((v - mean) ** 2, 0))
            std = torch.where(torch.isfinite(std) & (std > 1e-8), std, torch.ones_like(std))
            scaler[f"{key}_mean"] = torch.nan_to_num(mean).numpy()
            scaler[f"{key}_std"] = std.numpy()
        self.scaler_ = scaler

    def _scale_apply(self, inputs: dict[str, Any]) -> dict[str, Any]:
        out = dict(inputs)
        for key in ("x", "edge_attr"):
            if out.get(key) is not None and f"{key}_mean" in self.scaler_:
                mean = torch.as_tensor(self.scaler_[f"{key}_mean"], dtype=torch.float32)
                std = torch.as_tensor(self.scaler_[f"{key}_std"], dtype=torch.float32)
                out[key] = torch.nan_to_num((out[key] - mean) / std).contiguous()  # row-major: faster batches
        for key in ("edge_weight", "pos"):
            if out.get(key) is not None:
                out[key] = torch.nan_to_num(out[key])
        return out

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
        kw.setdefault("hidden", self.hidden)
        if self.model.startswith("wgnn"):
            kw.setdefault("layers", self.layers)
            ea = inputs.get("edge_attr")
            kw.setdefault("edge_dim", 0 if ea is None else int(ea.shape[-1]))
        elif self.model == "pointnet":
            kw.setdefault("layers", self.layers)
        return kw

    def _build_model(self, in_channels: int, kwargs: dict[str, Any]):
        from . import create, create_temporal

        out = 1 if self.task == "score" else self.n_classes_
        if self._kind == "sklearn":
            return create(self.model, task=self.task, n_classes=max(out, 2), seed=self.seed, **kwargs)
        torch.manual_seed(self.seed)
        if self._rnn is None:
            return create(self.model, in_channels=in_channels, out_channels=out, **kwargs)
        if self._rnn == "cloud":
            name = "stpointnet" if self.model == "stpointnet" else "stpointnet"
            enc = {} if self.model == "stpointnet" else {"encoder": "pointnet2" if self.model == "pointnet2" else "pointnet"}
            kw = {k: v for k, v in kwargs.items() if k not in ("edge_dim", "layers")}
            return create_temporal(name, in_channels, out, **{**enc, **kw})
        hidden = kwargs.pop("hidden", self.hidden)
        return create_temporal(self.model, in_channels, out, rnn=self._rnn, hidden=hidden, **kwargs)

    # -- public API -------------------------------------------------------------------------
    def fit(self, sequences: Iterable[LandmarkSequence], y: Any = None, out_dir: str | os.PathLike | None = None
            ) -> "PainEstimator":
        """Train on labelled sequences (labels from the sequences; ``y`` is ignored).

        ``out_dir``: where training curves (CSV + PNG) are written, if given.
        """
        from ..training import fit_network, set_seed

        self._check_params()
        seqs = _as_list(sequences)
        set_seed(self.seed)
        self.scheme_ = seqs[0].scheme
        scheme = get_scheme(self.scheme_)
        scale = scheme.pain_scale
        if scale is None:
            raise GeopainError(f"scheme {self.scheme_} has no pain scale; cannot define {self.task} targets")
        self.n_classes_ = {"binary": 2, "five": scale.n_levels, "score": 1}[self.task]
        self.score_range_ = tuple(float(v) for v in scale.range)
        targets = task_targets(seqs, self.task)
        inputs = self._frame_inputs(seqs)
        index, centre = self._samples(seqs)
        yv = targets[centre]
        ok = np.isfinite(yv)
        index, centre, yv = index[ok], centre[ok], yv[ok]
        if len(yv) == 0:
            raise GeopainError(f"no labelled frames with a face for task {self.task!r}")
        if self.task != "score" and len(np.unique(yv)) < 2:
            raise GeopainError(f"training labels for task {self.task!r} hold one class only")
        groups = np.concatenate([[s.subject] * s.n_frames for s in seqs])[centre]
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
            sw = None
            if self.task == "score" and self.balance == "weight":
                from ..training import class_weights

                sw = class_weights(strata, int(strata.max()) + 1)[strata]
            self.model_.fit(feats, y_fit if self.task != "score" else yv, sample_weight=sw)
            self.n_features_ = feats.shape[1]
            self.scaler_ = {}
            return self
        frames = np.unique(index)
        self._scale_fit(inputs, frames)
        inputs = self._scale_apply(inputs)
        self.n_features_ = int(inputs["x"].shape[-1])
        self.edge_index_ = inputs["edge_index"].numpy()
        self.model_kwargs_ = self._model_kwargs(inputs)
        self.model_ = self._build_model(self.n_features_, dict(self.model_kwargs_))
        self.history_ = fit_network(
            self.model_, inputs, index, y_fit, self.task, groups=groups, strata=strata, n_classes=self.n_classes_,
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
            patience=self.patience, val_fraction=self.val_fraction, balance=self.balance, seed=self.seed,
            device=self.device, verbose=self.verbose)
        self.model_.to("cpu")
        if out_dir is not None:
            self.history_.save(out_dir)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise GeopainError("this PainEstimator is not fitted yet; call fit() or load a saved model")

    def _raw_outputs(self, seqs: list[LandmarkSequence]) -> tuple[np.ndarray, np.ndarray]:
        """``(F, C)`` per-frame outputs (probabilities, or scores in scale units) and ``(F,)`` valid mask."""
        from ..training import predict_network

        self._check_fitted()
        if seqs[0].scheme != self.scheme_:
            from ..errors import SchemeError
            from ..species import convert_sequence

            try:
                seqs = [convert_sequence(s, self.scheme_) for s in seqs]
            except SchemeError:
                raise GeopainError(f"model was trained on scheme {self.scheme_}, got {seqs[0].scheme} "
                                   f"(no conversion declared)") from None
        inputs = self._frame_inputs(seqs)
        index, centre = self._samples(seqs)
        F = sum(s.n_frames for s in seqs)
        C = 1 if self.task == "score" else self.n_classes_
        if self._kind == "sklearn":
            feats = self._window_features(inputs["features"], index)
            if len(feats):
                out = self.model_.predict(feats)[:, None] if self.task == "score" else self.model_.predict_proba(feats)
            else:
                out = np.zeros((0, C))
        else:
            inputs = self._scale_apply(inputs)
            raw = predict_network(self.model_, inputs, index, device=self.device)
            if self.task == "score":
                out = raw[:, :1].astype(np.float64) * self.score_range_[1]
            else:
                out = torch.softmax(torch.as_tensor(raw, dtype=torch.float64), 1).numpy()
        if self.task == "score":
            out = np.clip(out, *self.score_range_)
        result = np.full((F, C), np.nan)
        if index.ndim == 1:
            result[index] = out
            return result, np.isfinite(result).all(1)
        # windows: each frame averages the windows covering it
        acc = np.zeros((F, C))
        cnt = np.zeros(F)
        flat = index.reshape(-1)
        np.add.at(acc, flat, np.repeat(out, index.shape[1], 0))
        np.add.at(cnt, flat, 1)
        found = np.concatenate([s.face_found for s in seqs])
        ok = (cnt > 0) & found
        result[ok] = acc[ok] / cnt[ok, None]
        return result, ok

    def predict_proba(self, sequences: Iterable[LandmarkSequence]) -> np.ndarray:
        """``(F, n_classes)`` class probabilities of every frame (NaN where no face was found)."""
        if self.task == "score":
            raise GeopainError("predict_proba is for the binary and five tasks; use predict for scores")
        return self._raw_outputs(_as_list(sequences))[0]

    def predict(self, sequences: Iterable[LandmarkSequence]) -> np.ndarray:
        """``(F,)`` per-frame predictions: class index (float, NaN without face) or score."""
        out, ok = self._raw_outputs(_as_list(sequences))
        if self.task == "score":
            return out[:, 0]
        pred = np.full(len(out), np.nan)
        pred[ok] = out[ok].argmax(1)
        return pred

    def score(self, sequences: Iterable[LandmarkSequence], y: Any = None) -> float:
        """Accuracy (classification) or R^2 (score) on the labelled frames with a face."""
        seqs = _as_list(sequences)
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
        seqs = _as_list(sequences)
        out, ok = self._raw_outputs(seqs)
        lengths = [s.n_frames for s in seqs]
        rep = lambda v: np.repeat(np.asarray(v, dtype=object), lengths)  # noqa: E731
        df = pd.DataFrame({
            "subject": rep([s.subject for s in seqs]).astype(str),
            "sequence": rep([s.sequence for s in seqs]).astype(str),
            "face_id": np.repeat([s.face_id for s in seqs], lengths).astype(np.int64),
            "frame": np.concatenate([s.frames for s in seqs]),
            "timestamp": np.concatenate([s.timestamps for s in seqs]),
            "face_found": ok,
        })
        if self.task == "score":
            df["prediction"] = out[:, 0]
        else:
            pred = np.full(len(out), np.nan)
            pred[ok] = out[ok].argmax(1)
            df["prediction"] = pred
            for k in range(out.shape[1]):
                df[f"p_{k}"] = out[:, k]
            if self.task == "five":
                df["expected_level"] = (out * np.arange(out.shape[1])).sum(1)
        true = task_targets(seqs, self.task)
        if np.isfinite(true).any():
            df["target"] = true
        return df

    def predict_sequences(self, sequences: Iterable[LandmarkSequence]) -> pd.DataFrame:
        """One row per sequence: frames, frames with a face, mean per-frame outputs and the
        sequence prediction (argmax of the mean probabilities, or the mean score)."""
        df = self.predict_frames(sequences)
        keys = ["subject", "sequence", "face_id"]
        value_cols = [c for c in df.columns if c.startswith("p_") or c in ("expected_level", "target")]
        if self.task == "score":
            value_cols = ["prediction"] + value_cols
        g = df[df["face_found"]].groupby(keys, sort=False)
        agg = g[value_cols].mean() if value_cols else g.size().to_frame("n")
        counts = df.groupby(keys, sort=False).agg(frames=("frame", "size"), frames_with_face=("face_found", "sum"))
        res = counts.join(agg, how="left").reset_index()
        if self.task != "score":
            probs = res[[c for c in res.columns if c.startswith("p_")]].to_numpy()
            pred = np.full(len(res), np.nan)
            okr = np.isfinite(probs).all(1)
            pred[okr] = probs[okr].argmax(1)
            res["prediction"] = pred
        return res

    # -- persistence ------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json`` + ``model.safetensors`` (no pickle) to ``directory``."""
        from .serialization import save

        return save(self, directory)

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "PainEstimator":
        """Load a model saved by :meth:`save` (never unpickles)."""
        from .serialization import load

        return load(directory)
