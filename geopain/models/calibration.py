"""Calibrated probabilities: temperature scaling fitted on held-out subjects at fit time.

One scalar ``T > 0`` divides the model's log-probabilities before the softmax,
``p_k ∝ exp(log p_k / T)`` (for a softmax head, the usual ``softmax(z / T)``; for an ordinal
cumulative-link head, the same power family on its level probabilities). ``T > 1`` softens
over-confident models, ``T < 1`` sharpens timid ones; the ranking (ROC AUC) and the argmax
of a binary model at 0.5 move only where ``T`` changes which side of 0.5 a frame is on, which
it cannot: ``T`` is fitted by minimising the negative log-likelihood of frames of subjects
the model was not fitted on:

- **neural models**: the subjects the training loop held out for early stopping
  (:func:`geopain.training.subject_validation_split`; never trained on);
- **measurement baselines**: an inner group k-fold of the training subjects
  (:func:`geopain.evaluation.splits.group_kfold`, ``1 / val_fraction`` folds): for each fold a
  copy is fitted on the other folds and predicts the fold's subjects, so every training subject
  contributes out-of-fold probabilities.

``T`` and what it was fitted on are stored in the model's ``config.json`` (``calibration``)
and applied by ``predict_proba`` / ``predict_frames``. Tasks with fewer than 2 held-out
subjects, or held-out frames of one class, keep ``T = 1`` and say why.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GeopainError
from ..predictions import apply_temperature, task_targets

#: Bounds of the fitted temperature.
T_RANGE = (0.05, 20.0)


def fit_temperature(proba: np.ndarray, y: np.ndarray) -> float:
    """The ``T`` in :data:`T_RANGE` that minimises the mean NLL of ``y (S,)`` under ``proba (S, C)``."""
    from scipy.optimize import minimize_scalar

    ok = np.isfinite(proba).all(1) & np.isfinite(y)
    logp = np.log(np.clip(proba[ok], 1e-12, 1.0))
    yy = y[ok].astype(np.int64)

    def nll(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z = z - z.max(1, keepdims=True)
        lse = np.log(np.exp(z).sum(1))
        return float(np.mean(lse - z[np.arange(len(yy)), yy]))

    res = minimize_scalar(nll, bounds=tuple(np.log(T_RANGE)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


def _held_out_baseline(est, seqs) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """Out-of-fold probabilities and targets of every training subject: copies of a baseline
    fitted on the other folds of an inner group k-fold (``1 / val_fraction`` folds)."""
    from ..evaluation.splits import group_kfold

    subjects = sorted({s.subject for s in seqs})
    k = max(2, int(round(1.0 / max(est.val_fraction, 1e-3))))
    if len(subjects) < max(k, 3):
        return None
    probas, targets, held = [], [], []
    for fold in group_kfold(subjects, k=k, seed=est.seed):
        test = [s for s in seqs if s.subject in fold.test_subjects]
        inner = type(est)(**{**est.get_params(), "verbose": False})
        inner._calibrate = False
        try:
            inner.fit([s for s in seqs if s.subject not in fold.test_subjects])
        except GeopainError:  # one class only in the inner training subjects, ...
            continue
        probas.append(inner.predict_proba(test))
        targets.append(task_targets(test, est.task, est.scheme_obj_))
        held.extend(fold.test_subjects)
    if not probas:
        return None
    return np.concatenate(probas), np.concatenate(targets), sorted(held)


def _held_out_network(est, seqs, index: np.ndarray, groups: np.ndarray, y: np.ndarray, strata: np.ndarray,
                      scaled: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """Probabilities and targets of the subjects the training loop held out (same split);
    ``scaled``: the network's scaled inputs of ``seqs`` when the caller has them (fit time)."""
    from ..training import predict_network, subject_validation_split

    _, va = subject_validation_split(groups, est.val_fraction, est.seed, strata)
    if not len(va):
        return None
    flat = np.asarray(index)[va]
    if scaled is None:
        proba = est._raw_outputs(est._in_scheme(list(seqs)))[0][flat]
    else:
        proba = est._outputs(predict_network(est.model_, scaled, flat, device=est.device))
    return proba, np.asarray(y)[va], sorted(set(np.asarray(groups)[va].tolist()))


def fit_calibration(est, seqs, index: np.ndarray | None = None, groups: np.ndarray | None = None,
                    y: np.ndarray | None = None, strata: np.ndarray | None = None,
                    scaled: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fit ``est.temperature_`` on held-out subjects (see module docstring); returns the record
    stored in the model config (``method``, ``temperature``, ``subjects``, ``frames``,
    ``nll_before``/``nll_after``, or ``note`` when it could not be fitted). ``scaled``: the
    network's scaled inputs of ``seqs`` when the caller has them already."""
    est.temperature_ = 1.0
    if est.task == "score" or not getattr(est, "_calibrate", True):
        est.calibration_ = {"method": "none", "temperature": 1.0,
                            "note": "scores are not probabilities" if est.task == "score" else "inner fit"}
        return est.calibration_
    if est._kind == "sklearn":
        held = _held_out_baseline(est, seqs)
    elif index is not None and np.ndim(index) == 1 and groups is not None:
        held = _held_out_network(est, seqs, index, groups, y, strata, scaled)
    else:
        held = None
    record: dict[str, Any] = {"method": "temperature", "temperature": 1.0}
    if held is None:
        record.update(method="none", note="too few training subjects for held-out calibration")
    else:
        proba, target, subjects = held
        ok = np.isfinite(proba).all(1) & np.isfinite(target)
        if ok.sum() < 10 or len(np.unique(target[ok])) < 2:
            record.update(method="none", note="held-out frames hold one class only")
        else:
            t = fit_temperature(proba[ok], target[ok])
            yy = target[ok].astype(np.int64)
            before = float(-np.mean(np.log(np.clip(proba[ok][np.arange(len(yy)), yy], 1e-12, 1))))
            after_p = apply_temperature(proba[ok], t)
            after = float(-np.mean(np.log(np.clip(after_p[np.arange(len(yy)), yy], 1e-12, 1))))
            record.update(temperature=t, subjects=subjects, frames=int(ok.sum()), nll_before=before, nll_after=after)
    est.temperature_ = float(record["temperature"])
    est.calibration_ = record
    return record


def after_fit(est, seqs, index: np.ndarray, groups: np.ndarray, y: np.ndarray, strata: np.ndarray,
              scaled: dict[str, Any] | None = None) -> None:
    """What :meth:`PainEstimator.fit` does after training: the temperature (held-out subjects)
    and the abstention thresholds (:func:`geopain.models.abstention.fit_abstention`; for neural
    models the out-of-distribution threshold comes from the early-stopping subjects too).
    ``scaled``: the network's scaled training inputs (of ``seqs``), reused instead of recomputed."""
    from ..training import subject_validation_split
    from .abstention import fit_abstention

    fit_calibration(est, seqs, index, groups, y, strata, scaled)
    held = None
    if est._kind != "sklearn" and np.ndim(index) == 1:
        _, va = subject_validation_split(groups, est.val_fraction, est.seed, strata if est.task != "score" else None)
        held = np.asarray(index)[va]
    fit_abstention(est, seqs, index, held, scaled)
