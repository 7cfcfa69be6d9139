"""Prediction tables, shared by :class:`~geopain.models.PainEstimator` and the torch-free ONNX
path (:mod:`geopain.lite`): one definition of the frame table, the sequence table, the task
targets and the calibration temperature. numpy and pandas only (no torch)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .species import get_scheme
from .tasks import SEQUENCE_TARGET, canonical_task, sequence_targets

__all__ = ["apply_temperature", "task_targets", "sequence_task_targets", "frame_table", "sequence_table"]


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """``(S, C)`` probabilities -> the same with temperature ``T`` (rows of NaN stay NaN)."""
    t = float(temperature)
    if t == 1.0 or proba.size == 0:
        return proba
    out = np.full(proba.shape, np.nan)
    ok = np.isfinite(proba).all(1)
    z = np.log(np.clip(proba[ok], 1e-300, 1.0)) / t
    e = np.exp(z - z.max(1, keepdims=True))
    out[ok] = e / e.sum(1, keepdims=True)
    return out


#: the label that carries each task's target
TASK_LABEL = {"binary": "pain", "levels": "level", "score": "score"}


def _task_label(labels: dict, task: str, scale: Any) -> Any:
    """``task``'s target in ``labels`` (a sequence's frame labels or its own ``sequence_labels``):
    the ``pain`` / ``level`` / ``score`` label, or the class of a ``score`` label on ``scale``;
    None where there is none."""
    v = labels.get(TASK_LABEL[task])
    if v is None and task != "score" and "score" in labels and scale is not None:
        v = scale.binary(labels["score"]) if task == "binary" else scale.level(labels["score"])
    return v


def task_targets(sequences: Sequence[Any], task: str, scheme: Any = None) -> np.ndarray:
    """``(F,)`` frame targets of ``task`` (NaN where unknown): the ``pain`` / ``level`` /
    ``score`` label, or the class of a ``score`` label on the species' scale."""
    if scheme is None:
        scheme = get_scheme(sequences[0].scheme)
    task = canonical_task(task)
    out = []
    for s in sequences:
        v = _task_label(s.labels, task, scheme.pain_scale)
        out.append(np.full(s.n_frames, np.nan) if v is None else np.asarray(v, dtype=np.float64))
    return np.concatenate(out) if out else np.zeros(0)


def sequence_task_targets(sequences: Sequence[Any], task: str, scheme: Any = None) -> np.ndarray:
    """``(F,)`` each frame's *sequence* target of ``task``: the same label read from the
    sequence's own ``sequence_labels`` (:func:`task_targets`' rule), repeated over its frames;
    NaN where the sequence has none."""
    if not len(sequences):
        return np.zeros(0)
    if scheme is None:
        scheme = get_scheme(sequences[0].scheme)
    task = canonical_task(task)
    values = []
    for s in sequences:
        v = _task_label(s.sequence_labels or {}, task, scheme.pain_scale)
        try:
            values.append(float(np.asarray(v, dtype=float)) if v is not None else np.nan)
        except (TypeError, ValueError):  # a label that is not a number is not a target
            values.append(np.nan)
    return np.repeat(np.asarray(values, dtype=float), [s.n_frames for s in sequences])


def frame_table(seqs: Sequence[Any], out: np.ndarray, ok: np.ndarray, reference: Any, task: str,
                scheme: Any = None) -> pd.DataFrame:
    """One row per frame: ids, ``face_found``, ``reference``, ``prediction``, ``p_<k>``
    (classification; ``expected_level`` for levels), ``target`` where known and
    ``sequence_target`` where the sequences carry their own label (:func:`sequence_task_targets`).

    ``out (F, C)`` model outputs (probabilities, or one score column), ``ok (F,)`` frames with a
    face, ``reference`` a label per frame or one for all; the targets come from the sequences'
    labels (:func:`task_targets`, :func:`sequence_task_targets`; ``scheme`` default: theirs).
    """
    targets = task_targets(seqs, task, scheme) if len(seqs) else np.zeros(0)
    seq_targets = sequence_task_targets(seqs, task, scheme)
    lengths = [s.n_frames for s in seqs]
    rep = lambda v: np.repeat(np.asarray(v, dtype=object), lengths)  # noqa: E731
    df = pd.DataFrame({
        "subject": rep([s.subject for s in seqs]).astype(str),
        "sequence": rep([s.sequence for s in seqs]).astype(str),
        "face_id": np.repeat([s.face_id for s in seqs], lengths).astype(np.int64),
        "frame": np.concatenate([s.frames for s in seqs]),
        "timestamp": np.concatenate([s.timestamps for s in seqs]),
        "face_found": ok,
        "reference": np.broadcast_to(np.asarray(reference, dtype=object), len(ok)).astype(str),
    })
    if task == "score":
        df["prediction"] = out[:, 0]
    else:
        pred = np.full(len(out), np.nan)
        pred[ok] = out[ok].argmax(1)
        df["prediction"] = pred
        for k in range(out.shape[1]):
            df[f"p_{k}"] = out[:, k]
        if task == "levels":
            df["expected_level"] = (out * np.arange(out.shape[1])).sum(1)
    if np.isfinite(targets).any():
        df["target"] = targets
    if np.isfinite(seq_targets).any():
        df[SEQUENCE_TARGET] = seq_targets
    return df


def sequence_table(frames: pd.DataFrame, task: str) -> pd.DataFrame:
    """One row per sequence of a :func:`frame_table`: frames, frames with a face, mean per-frame
    outputs, the sequence prediction (argmax of the mean probabilities, or the mean score), the
    reference and the sequence target (:func:`geopain.tasks.sequence_targets`)."""
    df = frames
    keys = ["subject", "sequence", "face_id"]
    value_cols = [c for c in df.columns if c.startswith("p_") or c == "expected_level"]
    if task == "score":
        value_cols = ["prediction"] + value_cols
    g = df[df["face_found"]].groupby(keys, sort=False)
    agg = g[value_cols].mean() if value_cols else g.size().to_frame("n")
    if "target" in df.columns or SEQUENCE_TARGET in df.columns:
        agg["target"] = sequence_targets(df, task, keys)
    counts = df.groupby(keys, sort=False).agg(frames=("frame", "size"), frames_with_face=("face_found", "sum"))
    res = counts.join(agg, how="left").reset_index()
    refs = df.groupby(keys, sort=False)["reference"].first()
    res["reference"] = refs.reindex(pd.MultiIndex.from_frame(res[keys])).to_numpy()
    if task != "score":
        probs = res[[c for c in res.columns if c.startswith("p_")]].to_numpy()
        pred = np.full(len(res), np.nan)
        okr = np.isfinite(probs).all(1)
        pred[okr] = probs[okr].argmax(1)
        res["prediction"] = pred
    return res
