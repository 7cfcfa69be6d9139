"""What each prediction task predicts: class names and the per-sequence target.

One definition for every place that needs it (``geopain evaluate``'s sequence table,
:meth:`PainEstimator.predict_sequences`, the columns ``geopain predict`` writes), so a
sequence's target is the same number wherever it is shown.

* ``"binary"``: classes ``no_pain``, ``pain``;
* ``"levels"``: the ordered levels of the species' scale, ``level_0`` ... ``level_{K-1}``
  (called ``"five"`` before; that name is still read, see :func:`canonical_task`);
* ``"score"``: the continuous pain score (no classes).
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from .errors import GeopainError

#: The tasks a model can be trained for.
TASKS = ("binary", "levels", "score")

#: Former task names, still read in models, results and monitor runs saved with them.
TASK_ALIASES = {"five": "levels"}


def canonical_task(task: str, warn: bool = True) -> str:
    """``task``'s current name (one of :data:`TASKS`). A former name maps to its new one, with a
    FutureWarning when ``warn`` (a name a user typed; files saved with it are read silently).
    Any other name is a one-line :class:`~geopain.errors.GeopainError`."""
    if task in TASKS:
        return task
    if task in TASK_ALIASES:
        new = TASK_ALIASES[task]
        if warn:
            warnings.warn(f"task {task!r} is now called {new!r} (the ordered levels of the species' scale); "
                          f"{task!r} will stop working in a later release", FutureWarning, stacklevel=3)
        return new
    raise GeopainError(f"task must be one of {', '.join(TASKS)}, got {task!r}")

#: Columns that identify one sequence of one face.
SEQUENCE_KEYS = ["subject", "sequence", "face_id"]


def class_names(task: str, n_classes: int) -> list[str]:
    """Readable names of the ``n_classes`` classes of ``task`` (``[]`` for ``"score"``)."""
    if task == "score":
        return []
    if task == "binary" and n_classes == 2:
        return ["no_pain", "pain"]
    return [f"level_{k}" for k in range(n_classes)]


#: Column of a frame table that carries its sequence's own target, where the data give one.
SEQUENCE_TARGET = "sequence_target"


def sequence_targets(frames: pd.DataFrame, task: str, keys: Sequence[str] = SEQUENCE_KEYS) -> pd.Series:
    """Per-sequence target. Where the data label the sequence itself (column
    :data:`SEQUENCE_TARGET`: a simulated sequence's label, a sample's class), that label;
    otherwise the median of the per-frame ``target`` labels over the frames with a face and a
    finite label, rounded to a class for ``binary`` and ``levels`` (a five-level sequence's
    target is a level, never 3.42). Indexed by ``keys``; sequences without either are absent.

    A sequence whose pain episode is short is a pain sequence: its frames' median says no pain.
    """
    t = frames["target"].to_numpy(float) if "target" in frames else np.full(len(frames), np.nan)
    ok = np.isfinite(t)
    if "face_found" in frames:
        ok &= frames["face_found"].to_numpy(bool)
    med = frames.loc[ok, list(keys)].assign(target=t[ok]).groupby(list(keys), sort=False)["target"].median()
    med = med if task == "score" else np.round(med)
    if SEQUENCE_TARGET not in frames:
        return med
    own = frames.groupby(list(keys), sort=False)[SEQUENCE_TARGET].first()  # first finite value
    own = own[np.isfinite(own.to_numpy(float))]
    if own.empty:
        return med
    out = pd.concat([own, med[~med.index.isin(own.index)]])
    return out.rename("target")


def readable_columns(df: pd.DataFrame, task: str) -> pd.DataFrame:
    """``df`` with ``p_0..p_{K-1}`` renamed ``p_<class name>`` and class predictions and
    targets as (nullable) integers, for tables users open; a new frame."""
    import re

    pattern = re.compile(r"^(|.*_)p_(\d+)$")  # p_1, and prefixed variants such as calibrated_p_1
    ks = [int(m.group(2)) for c in df.columns if (m := pattern.match(str(c)))]
    names = class_names(task, max(ks) + 1 if ks else 0)
    rename = {}
    for c in df.columns:
        m = pattern.match(str(c))
        if m and int(m.group(2)) < len(names):
            rename[c] = f"{m.group(1)}p_{names[int(m.group(2))]}"
    out = df.rename(columns=rename)
    if task != "score":
        for col in ("prediction", "target", SEQUENCE_TARGET):
            if col in out.columns:
                v = out[col].to_numpy(float)
                out[col] = pd.array(np.where(np.isfinite(v), np.round(v), np.nan), dtype="Float64").astype("Int64")
    return out
