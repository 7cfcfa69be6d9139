"""A subject's neutral shape, subtracted: an optional step that removes identity.

After normalisation (:mod:`geopain.geometry.normalize`) a frame still holds the subject's
face shape (identity) plus the expression. Facial pain is a change of shape, so geopain
can subtract the subject's *neutral shape* and put the remaining displacement back on the
scheme's template::

    relative = aligned - neutral + template

The result has the template's identity and the subject's expression; measurements and
graphs computed on it are comparable across subjects. This is optional because it needs
neutral frames of the subject (and a subject id). The neutral shape is estimated from:

- ``"lowest"``: the frames at the subject's lowest ``score`` label (all ties; with few ties,
  the ``min(k, 10 %)`` lowest-scored frames), when scores are known;
- ``"first"``: the first ``k`` frames (e.g. a recording that starts at rest);
- ``"auto"``: ``"lowest"`` when scores are available, else ``"first"``.

The per-point median over those frames is used (robust to blinks and noise). Using
labels to pick neutral frames is a form of supervision: under a subject-independent
evaluation, estimate a test subject's neutral only from frames whose labels would be
available in practice (or use ``"first"``).
"""
from __future__ import annotations

import warnings
from typing import Iterable

import numpy as np

from ..errors import GeopainError, ShapeError, check_shape
from ..species import get_scheme

__all__ = ["neutral_shape", "subtract_neutral", "subject_neutrals", "subtract_subject_neutrals"]


def _nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=axis)


def neutral_shape(
    coords: np.ndarray,
    scores: np.ndarray | None = None,
    method: str = "auto",
    k: int = 30,
) -> np.ndarray:
    """``(N, 3)`` neutral shape from normalised frames ``(T, N, 3)``.

    Args:
        coords: normalised coordinates (template frame).
        scores: ``(T,)`` pain scores (NaN = unknown); used by ``"lowest"``/``"auto"``.
        method: ``"auto"``, ``"lowest"``, ``"first"`` or ``"median"`` (the median of every frame
            with a face: label-free, the usual subject-wise standardisation).
        k: number of frames for ``"first"``; for ``"lowest"``, at most ``k`` frames are added
            to the ties at the minimum score (up to 10 % of the scored frames).
    """
    c = np.asarray(coords, dtype=np.float64)
    check_shape("coords", c, (None, None, 3))
    if method not in ("auto", "lowest", "first", "median"):
        raise GeopainError(f"neutral-shape method must be 'auto', 'lowest', 'first' or 'median', got {method!r}")
    if k < 1:
        raise GeopainError(f"k must be >= 1, got {k}")
    T = c.shape[0]
    has_face = np.isfinite(c).all(-1).any(-1)
    sc = None if scores is None else np.asarray(scores, dtype=np.float64)
    if sc is not None:
        check_shape("scores", sc, (T,))
    usable = sc is not None and np.isfinite(sc[has_face]).any()
    if method == "lowest" and not usable:
        raise GeopainError("neutral shape 'lowest' needs score labels on frames with a face")
    if method == "median":
        idx = np.flatnonzero(has_face)
    elif method == "first" or (method == "auto" and not usable):
        idx = np.flatnonzero(has_face)[:k]
    else:
        s = np.where(has_face & np.isfinite(sc), sc, np.inf)
        order = np.argsort(s, kind="stable")
        n_min = int((s == s[order[0]]).sum())
        n_finite = int(np.isfinite(s).sum())
        n = min(max(n_min, min(k, int(np.ceil(0.1 * n_finite)))), n_finite)
        idx = order[:n]
    if idx.size == 0:
        raise GeopainError("no frame with a face to estimate a neutral shape from")
    return _nanmedian(c[idx], axis=0)


def subtract_neutral(coords: np.ndarray, neutral: np.ndarray, template: np.ndarray) -> np.ndarray:
    """``coords - neutral + template`` for ``(F, N, 3)`` coords (float32 out).

    A neutral point that could not be estimated (NaN) falls back to the template (no change).
    """
    c = np.asarray(coords)
    n = np.asarray(neutral, dtype=np.float64)
    t = np.asarray(template, dtype=np.float64)
    check_shape("coords", c, (None, "N", 3))
    check_shape("neutral", n, (c.shape[1], 3))
    check_shape("template", t, (c.shape[1], 3))
    shift = np.where(np.isfinite(n), t - n, 0.0)
    return (c + shift[None]).astype(np.float32)


def subject_neutrals(sequences: Iterable, method: str = "auto", k: int = 30) -> dict[str, np.ndarray]:
    """``{subject: (N, 3)}`` neutral shapes pooled over each subject's normalised sequences.

    Sequences must be normalised (``units == "template"``); use
    :func:`~geopain.geometry.normalize.normalize` first.
    """
    seqs = list(sequences)
    by_subject: dict[str, list] = {}
    for s in seqs:
        if s.units != "template":
            raise ShapeError(f"{s.subject}/{s.sequence}: normalise sequences before estimating neutral shapes")
        by_subject.setdefault(s.subject, []).append(s)
    out = {}
    for subject, group in by_subject.items():
        coords = np.concatenate([g.coords for g in group], 0)
        scores = np.concatenate([g.labels.get("score", np.full(g.n_frames, np.nan)) for g in group])
        if method == "first":  # the first k frames of each recording
            coords = np.concatenate([g.coords[:k] for g in group], 0)
            scores = None
        out[subject] = neutral_shape(coords, scores, method=method, k=k)
    return out


def subtract_subject_neutrals(sequences: Iterable, method: str = "auto", k: int = 30,
                       neutrals: dict[str, np.ndarray] | None = None) -> list:
    """Normalised sequences with each subject's neutral shape removed (see module doc).

    ``neutrals`` may be given (e.g. estimated on training data only); subjects missing from it
    are estimated from their own frames.
    """
    seqs = list(sequences)
    est = dict(neutrals or {})
    todo = [s for s in seqs if s.subject not in est]
    if todo:
        est.update(subject_neutrals(todo, method=method, k=k))
    out = []
    for s in seqs:
        sch = get_scheme(s.scheme)
        meta = dict(s.meta)
        info = dict(meta.get("normalization", {}))
        info["neutral"] = f"subject neutral shape ({method}, k={k}) subtracted"
        meta["normalization"] = info
        out.append(s.with_coords(subtract_neutral(s.coords, est[s.subject], sch.template), meta=meta))
    return out
