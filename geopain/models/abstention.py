"""Knowing when not to score: a ``status`` (``scored`` / ``abstained``) and a ``reason`` per frame.

Triggers (thresholds in the model's ``config.json`` under ``abstention``, editable there):

- **occluded unit**: more than ``max_missing_fraction`` of the landmarks that a pain unit's
  measurements use (the species adapter's map, :meth:`~geopain.species.Scheme.unit_landmarks`)
  are missing or below ``min_point_confidence``: ``"occluded AU10 landmarks (mouth)"``;
- **detector confidence** of the face below ``min_detector_confidence``:
  ``"detector confidence 0.31"``;
- **extreme pose**: ``|yaw|`` beyond ``max_yaw`` or ``|pitch|`` beyond ``max_pitch`` degrees (the
  pose the normalisation estimates): ``"yaw 62° beyond 45°"``;
- **out of distribution**: the Mahalanobis distance of the frame's embedding (the neural model's
  readout; a baseline's standardised measurements) from the training frames' (Ledoit-Wolf
  covariance) beyond ``ood_margin`` times the ``ood_quantile`` quantile of the distances of
  held-out subjects (neural models: the early-stopping subjects) or of the training frames
  (baselines): ``"out of distribution (distance 9.1 > 6.2)"``. The margin (1.5): a WGNN's own
  training subjects sit at about 0.35 of the held-out quantile, its held-out subjects at 0.7-0.85,
  new simulated subjects at 0.65-1.3 (so a margin of 1 abstained on 32% of new people's clean
  frames, 1.25 on 12%, 1.5 on none) and a face of random points at 16 (human, 10 training
  subjects, measured with ``benchmarks/explanations.py``'s cohorts).

Several reasons are joined by ``"; "``. Frames without a face keep ``status`` ``"no face"``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

#: Default thresholds (stored per model at fit time; edit the model's config.json to change them).
DEFAULTS: dict[str, float] = {
    "max_missing_fraction": 0.5,
    "min_point_confidence": 0.3,
    "min_detector_confidence": 0.5,
    "max_yaw": 45.0,
    "max_pitch": 40.0,
    "ood_quantile": 0.995,
    "ood_margin": 1.5,
}


def embeddings(est, seqs, index: np.ndarray | None = None, scaled: dict[str, Any] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(S, D)`` the model's embedding of frames ``index`` (default: all frames with a face) and ``index``.

    ``scaled``: the network's scaled inputs of ``seqs`` when the caller has them already (at fit
    time), so the frames are not normalised and featurised again.
    """
    import torch

    from ..training import _batch
    from .steps import FeatureScaler

    if scaled is None or est._kind == "sklearn" or index is None:
        frames = est._frames(seqs, est.scheme_obj_)
        inputs = est._featurizer(est.scheme_obj_).transform(frames)
        if index is None:
            index = np.flatnonzero(frames.found)
    index = np.asarray(index)
    if est._kind == "sklearn":
        a = est.model_.arrays_
        X = inputs["features"][index]
        return (np.where(np.isfinite(X), X, a["median"]) - a["mean"]) / a["std"], index
    if scaled is None:
        scaled = FeatureScaler.from_stats(est.scaler_).transform(inputs)
    model = est.model_
    model.eval()
    out = []
    with torch.no_grad():
        idx = torch.as_tensor(index, dtype=torch.long)
        for start in range(0, len(idx), 4096):
            b = _batch(scaled, idx[start:start + 4096], torch.device("cpu"))
            b.pop("time", None)
            out.append(model.embed(**b).double().numpy())
    D = getattr(model, "embed_dim", 0)
    return (np.concatenate(out) if out else np.zeros((0, D))), index


def fit_abstention(est, seqs, index: np.ndarray | None = None, held_out: np.ndarray | None = None,
                   scaled: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fit the OOD reference (mean, precision, threshold); sets ``est.abstention_`` (thresholds)
    and ``est.ood_`` (arrays); returns the thresholds.

    ``index``: the training frames; ``held_out``: frames of subjects the model was not fitted on
    (a neural model's early-stopping subjects). The mean and covariance come from the frames the
    model was fitted on, the threshold is the ``ood_quantile`` quantile of the *held-out*
    subjects' distances when there are any (a network's embedding sits closer to its own training
    subjects than to any new person), else of the training frames'. ``scaled``: see :func:`embeddings`.
    """
    from sklearn.covariance import LedoitWolf

    config: dict[str, Any] = dict(DEFAULTS)
    est.ood_ = {}
    if est._rnn is not None:  # windows (temporal, or a window model such as "transformer"): no per-frame embeddings
        config["ood_quantile"] = None
        est.abstention_ = config
        return config
    frames = None if index is None else np.unique(np.asarray(index).reshape(-1))
    held = None if held_out is None or not len(held_out) else np.unique(np.asarray(held_out).reshape(-1))
    fit_rows = frames if held is None or frames is None else np.setdiff1d(frames, held)
    Z, _ = embeddings(est, seqs, fit_rows, scaled)
    Z = Z[np.isfinite(Z).all(1)]
    if len(Z) >= 10:  # Ledoit-Wolf shrinkage keeps the covariance invertible with fewer frames than dimensions
        lw = LedoitWolf().fit(Z)
        mean, precision = lw.location_, lw.precision_
        if held is not None:
            Zh, _ = embeddings(est, seqs, held, scaled)
            Zh = Zh[np.isfinite(Zh).all(1)]
            Z = Zh if len(Zh) >= 10 else Z
            config["ood_threshold_from"] = "held-out subjects" if len(Zh) >= 10 else "training frames"
        else:
            config["ood_threshold_from"] = "training frames"
        d = _mahalanobis(Z, mean, precision)
        config["ood_threshold"] = float(config["ood_margin"] * np.quantile(d, config["ood_quantile"]))
        est.ood_ = {"mean": mean.astype(np.float64), "precision": precision.astype(np.float64)}
    else:
        config["ood_quantile"] = None
    est.abstention_ = config
    return config


def _mahalanobis(Z: np.ndarray, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
    D = Z - mean
    return np.sqrt(np.maximum(np.einsum("sd,de,se->s", D, precision, D), 0.0))


def _region_words(scheme, points: Sequence[int]) -> str:
    """The regions that hold ``points`` (most first), e.g. ``"mouth"`` or ``"eyes, brows_ears"``."""
    counts: dict[str, int] = {}
    for r, idx in scheme.regions.items():
        n = len(set(idx) & set(points))
        if n:
            counts[r] = n
    return ", ".join(sorted(counts, key=lambda r: -counts[r])) or "unnamed points"


def frame_status(est, seqs, found: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(status (F,), reason (F,), details)`` of every frame of ``seqs`` (model scheme).

    ``details``: ``yaw``, ``pitch`` (degrees), ``ood_distance`` and one ``visible_<unit>``
    fraction per unit, each ``(F,)``.
    """
    from ..geometry.normalize import normalize

    cfg = {**DEFAULTS, **(getattr(est, "abstention_", None) or {})}
    scheme = est.scheme_obj_
    F = sum(s.n_frames for s in seqs)
    reasons: list[list[str]] = [[] for _ in range(F)]
    details: dict[str, np.ndarray] = {}
    coords = np.concatenate([s.coords for s in seqs], 0)
    conf = np.concatenate([np.ones(s.coords.shape[:2], np.float32) if s.confidence is None else s.confidence
                           for s in seqs], 0)
    seen = np.isfinite(coords[..., :2]).all(-1) & ~(np.nan_to_num(conf, nan=1.0) < cfg["min_point_confidence"])
    for unit, pts in scheme.unit_landmarks().items():
        vis = seen[:, pts].mean(1)
        details[f"visible_{unit}"] = vis
        bad = found & (1.0 - vis > cfg["max_missing_fraction"])
        if bad.any():
            for f in np.flatnonzero(bad):
                hidden = [p for p in pts if not seen[f, p]]
                reasons[f].append(f"occluded {unit} landmarks ({_region_words(scheme, hidden)})")
    fc = np.concatenate([np.full(s.n_frames, np.nan) if s.frame_confidence is None else s.frame_confidence
                         for s in seqs]).astype(np.float64)
    for f in np.flatnonzero(found & (fc < cfg["min_detector_confidence"])):
        reasons[f].append(f"detector confidence {fc[f]:.2f}")
    yaw, pitch = np.full(F, np.nan), np.full(F, np.nan)
    start = 0
    for s in seqs:
        pose = normalize(s).meta.get("pose", {})
        for arr, key in ((yaw, "yaw"), (pitch, "pitch")):
            if key in pose:
                arr[start:start + s.n_frames] = pose[key]
        start += s.n_frames
    details.update(yaw=yaw, pitch=pitch)
    for arr, key, limit in ((yaw, "yaw", cfg["max_yaw"]), (pitch, "pitch", cfg["max_pitch"])):
        for f in np.flatnonzero(found & (np.abs(np.nan_to_num(arr)) > limit)):
            reasons[f].append(f"{key} {arr[f]:.0f}° beyond {limit:.0f}°")
    dist = np.full(F, np.nan)
    ood = getattr(est, "ood_", None) or {}
    if ood and cfg.get("ood_threshold") is not None and est._rnn is None:
        Z, idx = embeddings(est, seqs, np.flatnonzero(found))
        dist[idx] = _mahalanobis(Z, ood["mean"], ood["precision"])
        thr = float(cfg["ood_threshold"])
        for f in np.flatnonzero(found & (dist > thr)):
            reasons[f].append(f"out of distribution (distance {dist[f]:.1f} > {thr:.1f})")
    details["ood_distance"] = dist
    status = np.where(~found, "no face", np.where([bool(r) for r in reasons], "abstained", "scored")).astype(object)
    reason = np.array(["; ".join(r) for r in reasons], dtype=object)
    return status, reason, details
