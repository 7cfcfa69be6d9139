"""Torch-free inference of exported models: numpy + onnxruntime (+ a detector for media).

``geopain export MODEL_DIR -o model.onnx`` (:mod:`geopain.export`) writes the network as
ONNX and everything around it that the estimator computes (scheme, task, graph settings,
edge list, feature scalers, calibration temperature) into the file's metadata. This module
reads that file and runs the same pipeline as :class:`geopain.models.PainEstimator` for a
frame model with ``reference="none"``:

    sequences -> normalise (geopain.geometry) -> graph arrays (geopain.graphs.arrays)
              [-> measurements] -> feature scaling -> ONNX Runtime -> softmax / score
              -> temperature

Nothing here imports torch or torch-geometric (checked by a test that blocks them), so
``pip install geopain[lite]`` is enough to score landmark tables, images and videos.

>>> model = OnnxPainModel("model.onnx")          # doctest: +SKIP
>>> model.predict_frames(sequences)               # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .errors import GeopainError, InputError
from .graphs.arrays import edge_geometry, edge_weights, fill_missing, node_features
from .landmarks import LandmarkSequence
from .predictions import apply_temperature, frame_table, sequence_table
from .species import REGIONS, convert_sequence, get_scheme
from .tasks import canonical_task

__all__ = ["OnnxPainModel", "FORMAT", "METADATA_KEY", "is_onnx"]

#: Format tag of the metadata written by :func:`geopain.export.export_onnx`.
FORMAT = "geopain-onnx/1"
#: The ONNX ``metadata_props`` key holding the JSON.
METADATA_KEY = "geopain"
#: Frames per ONNX Runtime call.
BATCH = 4096


def is_onnx(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an ONNX model file (by its extension)."""
    return Path(path).suffix.lower() == ".onnx"


class OnnxPainModel:
    """A model exported by ``geopain export``, with the estimator's prediction interface.

    Args:
        path: the ``.onnx`` file.
        threads: ONNX Runtime intra-op threads (default: its own choice, all cores).

    Attributes mirror :class:`~geopain.models.PainEstimator` where the CLI reads them:
    ``task``, ``scheme_``, ``n_classes_``, ``reference`` (always ``"none"``).
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise GeopainError("ONNX models need onnxruntime: pip install 'geopain[lite]'") from None

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(self.path, "no such ONNX model file")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own error types
            raise InputError(self.path, f"not a readable ONNX model ({str(exc).splitlines()[0]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if meta is None:
            raise InputError(self.path, "an ONNX file without geopain metadata (write it with 'geopain export')")
        cfg = json.loads(meta)
        if cfg.get("format") != FORMAT:
            raise InputError(self.path, f"unknown geopain ONNX format {cfg.get('format')!r} (expected {FORMAT})")
        self.config = cfg
        self.task = canonical_task(cfg["task"], warn=False)  # files exported with "five" too
        self.model = cfg["model"]
        self.scheme_ = cfg["scheme"]
        self.scheme_obj_ = get_scheme(self.scheme_)
        self.n_classes_ = int(cfg["n_classes"])
        self.score_range_ = tuple(cfg["score_range"])
        self.temperature_ = float(cfg.get("temperature", 1.0))
        self.reference = "none"
        self.graph = dict(cfg.get("graph") or {})
        self.edges = np.asarray(cfg["edges"], dtype=np.int64).reshape(-1, 2)
        self.triangles = None if cfg.get("triangles") is None else np.asarray(cfg["triangles"], dtype=np.int64)
        self.scaler = {k: np.asarray(v, dtype=np.float32) for k, v in cfg["scaler"].items()}
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __repr__(self) -> str:
        return f"OnnxPainModel({str(self.path)!r}, model={self.model!r}, task={self.task!r}, scheme={self.scheme_!r})"

    # -- the estimator's pipeline, in numpy ----------------------------------------------------------
    def _in_scheme(self, seqs: list) -> list:
        return [s if s.scheme == self.scheme_ else convert_sequence(s, self.scheme_) for s in seqs]

    def features(self, seqs: Sequence) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Scaled model inputs of every frame (``x (F, N, Fn)``, ``edge_weight (F, 2E)``,
        ``edge_attr (F, 2E, 5)``, ``pos (F, N, 3)``, ``features (F, M)`` when the model takes
        them) and ``found (F,)``, computed as :class:`~geopain.models.steps.GraphFeatures` does."""
        from .geometry.measure import measure_array
        from .geometry.normalize import normalize

        sch = self.scheme_obj_
        normed = [normalize(s) for s in seqs]
        coords = np.concatenate([s.coords for s in normed], 0).astype(np.float32)
        conf = np.concatenate([s.confidence for s in normed], 0)
        found = np.concatenate([s.face_found for s in normed])
        g = self.graph
        pos, ref, mask = fill_missing(coords, sch.template)
        attr, ok = edge_geometry(pos, ref, mask, self.edges, sch.reference_pair)
        w = edge_weights(attr[:, 0], attr[:, 1], ok, g.get("weighting", "strain"), **(g.get("weight_kwargs") or {}))
        onehot = np.eye(len(REGIONS), dtype=np.float32)[sch.region_index]
        a, b = sch.reference_pair
        ref_len = float(np.linalg.norm(sch.template[a] - sch.template[b]))
        feats = tuple(g.get("features", ("pos", "disp", "region", "conf")))
        x = node_features(pos, ref, mask, feats, onehot, ref_len, conf, self.triangles)
        out = {"x": x, "edge_weight": w, "edge_attr": attr.transpose(0, 2, 1), "pos": pos}
        linear = []
        if self.config.get("measurements"):
            linear.append(measure_array(coords, sch).astype(np.float64).astype(np.float32))
        if self.config.get("coordinates"):
            linear.append(pos.reshape(len(pos), -1))
        if linear:
            out["features"] = np.concatenate(linear, 1)
        for key in ("x", "edge_attr", "features"):  # FeatureScaler.transform
            if key in out and f"{key}_mean" in self.scaler:
                v = (out[key] - self.scaler[f"{key}_mean"]) / self.scaler[f"{key}_std"]
                out[key] = np.ascontiguousarray(np.nan_to_num(v.astype(np.float32)))
        for key in ("edge_weight", "pos"):
            out[key] = np.ascontiguousarray(np.nan_to_num(out[key]))
        return out, found

    def run(self, inputs: dict[str, np.ndarray], index: np.ndarray | None = None) -> np.ndarray:
        """Raw network outputs ``(S, C)`` of frames ``index`` (default: all), in batches."""
        n = len(inputs["x"])
        idx = np.arange(n) if index is None else np.asarray(index)
        outs = []
        for start in range(0, len(idx), BATCH):
            sel = idx[start:start + BATCH]
            feed = {k: np.ascontiguousarray(inputs[k][sel], dtype=np.float32) for k in self.input_names}
            outs.append(self.session.run(None, feed)[0])
        C = 1 if self.task == "score" else self.n_classes_
        return np.concatenate(outs) if outs else np.zeros((0, C), np.float32)

    def _raw_outputs(self, seqs: list) -> tuple[np.ndarray, np.ndarray]:
        seqs = self._in_scheme(seqs)
        inputs, found = self.features(seqs)
        index = np.flatnonzero(found)
        raw = self.run(inputs, index)
        C = 1 if self.task == "score" else self.n_classes_
        if self.task == "score":
            out = np.clip(raw[:, :1].astype(np.float64) * self.score_range_[1], *self.score_range_)
        else:
            z = raw.astype(np.float64)
            e = np.exp(z - z.max(1, keepdims=True))
            out = apply_temperature(e / e.sum(1, keepdims=True), self.temperature_)
        result = np.full((len(found), C), np.nan)
        result[index] = out
        return result, np.isfinite(result).all(1)

    # -- the estimator's interface --------------------------------------------------------------------
    def reference_problem(self, sequences: Iterable) -> str | None:
        """Exported models use no per-person reference: never a problem."""
        return None

    def predict_proba(self, sequences: Iterable) -> np.ndarray:
        """``(F, n_classes)`` class probabilities (NaN where no face was found)."""
        if self.task == "score":
            raise GeopainError("predict_proba is for the binary and five tasks; use predict for scores")
        return self._raw_outputs(_as_list(sequences))[0]

    def predict(self, sequences: Iterable) -> np.ndarray:
        """``(F,)`` class index (float, NaN without a face) or score."""
        out, ok = self._raw_outputs(_as_list(sequences))
        if self.task == "score":
            return out[:, 0]
        pred = np.full(len(out), np.nan)
        pred[ok] = out[ok].argmax(1)
        return pred

    def predict_frames(self, sequences: Iterable) -> pd.DataFrame:
        """One row per frame, the columns of :meth:`PainEstimator.predict_frames` (without the
        abstention columns ``status``/``reason``, which need the training data's statistics)."""
        seqs = _as_list(sequences)
        out, ok = self._raw_outputs(seqs)
        return frame_table(seqs, out, ok, "none", self.task, self.scheme_obj_)

    def predict_sequences(self, sequences: Iterable) -> pd.DataFrame:
        """One row per sequence, as :meth:`PainEstimator.predict_sequences`."""
        return sequence_table(self.predict_frames(sequences), self.task)


def _as_list(sequences: Any) -> list:
    if isinstance(sequences, LandmarkSequence):
        return [sequences]
    out = list(sequences)
    if not out:
        raise GeopainError("no sequences given")
    return out
