"""Is an explanation faithful? Deletion and insertion curves, and known-cause checks.

- **Deletion** (:func:`deletion_curve`): remove the ``k`` landmarks with the largest
  attribution magnitude from every frame (set to missing, so the model's own missing-point
  handling applies: normalisation without them, features of missing points, NaN measurements)
  and record how far the explained output moves, against ``k`` random visible landmarks.
  A faithful explanation moves it more.
- **Occlusion** (:func:`occlusion_effects`): each landmark's own deletion effect, the ranking
  a deletion curve rewards most (the ceiling any explanation's ranking can reach there).
- **Insertion** (:func:`insertion_curve`): start from the reference face (the species template
  in the model's frame) and put back the frame's own positions of the top-``k`` landmarks; the
  output should approach the frame's own output faster than with random landmarks.
- **Known cause** (:func:`single_unit_sequences`): simulated sequences where one pain unit
  alone moves (the simulator's own fields, each subject's face and detector noise); the
  explanation's top unit should be that unit.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from ..landmarks import LandmarkSequence
from ..synth.simulator import Simulator, express


def explained_values(est, seqs: Sequence[LandmarkSequence]) -> np.ndarray:
    """``(F,)`` the output the attributions explain (pain log-odds, expected level or score),
    through the estimator's full pipeline (calibration included), NaN without a face."""
    out, ok, _ = est._raw_outputs(est._in_scheme(list(seqs)))
    if est.task == "score":
        return out[:, 0]
    p = np.clip(out, 1e-300, 1.0)
    if est.task == "binary":
        return np.log(p[:, 1]) - np.log(p[:, 0])
    return (out * np.arange(out.shape[1])).sum(1)


def _split(seqs: Sequence[LandmarkSequence], masks: np.ndarray) -> list[LandmarkSequence]:
    """Sequences with the landmarks of ``masks (F, N)`` (all frames, in order) set missing."""
    out, start = [], 0
    for s in seqs:
        m = masks[start:start + s.n_frames]
        start += s.n_frames
        coords = s.coords.copy()
        coords[m] = np.nan
        conf = (np.ones(m.shape, np.float32) if s.confidence is None else s.confidence.copy())
        conf[m] = 0.0
        out.append(replace(s, coords=coords, confidence=conf))
    return out


def occlusion_effects(est, seqs: Sequence[LandmarkSequence]) -> np.ndarray:
    """``(F, N)`` each landmark's own deletion effect on the explained output, ``f(frame without
    it) - f(frame)`` through the model's missing-point handling (single-landmark occlusion): the
    ranking a deletion curve rewards most, short of interactions. One pipeline pass over all
    ``N`` occluded copies."""
    seqs = est._in_scheme(list(seqs))
    base = explained_values(est, seqs)
    F, N = len(base), est.scheme_obj_.n_points
    eye = np.eye(N, dtype=bool)
    copies = [replace(s, subject=f"{s.subject}#occluded{i}", sequence=f"{s.sequence}#occluded{i}")  # own
              for i in range(N) for s in _split(seqs, np.broadcast_to(eye[i], (F, N)))]  # per-person references
    return explained_values(est, copies).reshape(N, F).T - base[:, None]


def _ranked(att, absolute: bool = True) -> np.ndarray:
    """``(F, N)`` landmark order, most attributed first (missing points last)."""
    a = np.abs(att.landmarks) if absolute else att.landmarks
    return np.argsort(-np.nan_to_num(a, nan=-np.inf), axis=1, kind="stable")


def deletion_curve(est, seqs: Sequence[LandmarkSequence], att, ks: Sequence[int] = (1, 2, 3, 5, 8, 12),
                   n_random: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """Mean ``|output(deleted) - output|`` over frames for the top-``k`` and ``k`` random landmarks.

    Returns ``{"k": (K,), "top": (K,), "random": (K,), "random_sd": (K,)}`` (output units).
    Only frames that were explained and still have a face after deletion count.
    """
    seqs = est._in_scheme(list(seqs))
    base = explained_values(est, seqs)
    order = _ranked(att)
    visible = np.concatenate([np.isfinite(s.coords[..., :2]).all(-1) for s in seqs])
    F, N = visible.shape
    rng = np.random.default_rng(seed)
    ok_frames = np.isfinite(base) & att.found
    top, rand, rand_sd = [], [], []
    for k in ks:
        mask = np.zeros((F, N), bool)
        np.put_along_axis(mask, order[:, :k], True, axis=1)
        mask &= visible
        d = np.abs(explained_values(est, _split(seqs, mask)) - base)
        top.append(np.nanmean(d[ok_frames]))
        runs = []
        for _ in range(n_random):
            noise = np.where(visible, rng.random((F, N)), -1.0)
            pick = np.argsort(-noise, axis=1)[:, :k]
            m = np.zeros((F, N), bool)
            np.put_along_axis(m, pick, True, axis=1)
            d = np.abs(explained_values(est, _split(seqs, m & visible)) - base)
            runs.append(np.nanmean(d[ok_frames]))
        rand.append(float(np.mean(runs)))
        rand_sd.append(float(np.std(runs)))
    return {"k": np.asarray(ks), "top": np.asarray(top), "random": np.asarray(rand), "random_sd": np.asarray(rand_sd)}


def insertion_curve(est, seqs: Sequence[LandmarkSequence], att, ks: Sequence[int] = (1, 2, 3, 5, 8, 12),
                    n_random: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    """Fraction of the way from the reference output to the frame's output recovered by putting
    back the top-``k`` (vs ``k`` random) landmarks into the template face (model frame).

    Returns ``{"k", "top", "random"}``; 1 = the frame's output is reached. Frames whose output
    differs from the reference by less than 0.05 output units are left out (nothing to recover).
    """
    from ..geometry.normalize import normalize

    seqs = est._in_scheme(list(seqs))
    base = explained_values(est, seqs)
    normed = [normalize(s) for s in seqs]
    template = np.asarray(est.scheme_obj_.template, dtype=np.float32)
    coords = np.concatenate([s.coords for s in normed], 0)  # (F, N, 3) template frame
    ref_seqs = [replace(s, coords=np.broadcast_to(template, s.coords.shape).copy(), units="cm", dims=3,
                        confidence=None) for s in normed]
    ref = explained_values(est, ref_seqs)
    gap = base - ref
    use = np.isfinite(gap) & (np.abs(gap) > 0.05) & att.found
    order = _ranked(att)
    visible = np.isfinite(coords).all(-1)
    F, N = visible.shape
    rng = np.random.default_rng(seed)

    def recovered(mask: np.ndarray) -> float:
        mixed = np.where((mask & visible)[..., None], coords, template[None])
        parts, start = [], 0
        for s in ref_seqs:
            parts.append(replace(s, coords=mixed[start:start + s.n_frames].astype(np.float32)))
            start += s.n_frames
        v = explained_values(est, parts)
        return float(np.nanmean(((v - ref) / gap)[use])) if use.any() else float("nan")

    top, rand = [], []
    for k in ks:
        m = np.zeros((F, N), bool)
        np.put_along_axis(m, order[:, :k], True, axis=1)
        top.append(recovered(m))
        runs = []
        for _ in range(n_random):
            noise = np.where(visible, rng.random((F, N)), -1.0)
            m = np.zeros((F, N), bool)
            np.put_along_axis(m, np.argsort(-noise, axis=1)[:, :k], True, axis=1)
            runs.append(recovered(m))
        rand.append(float(np.mean(runs)))
    return {"k": np.asarray(ks), "top": np.asarray(top), "random": np.asarray(rand)}


def single_unit_sequences(species: str, n_subjects: int = 4, frames: int = 24, seed: int = 0,
                          intensity: float = 0.8, scheme: str | None = None) -> list[LandmarkSequence]:
    """Simulated sequences in which exactly one pain unit moves (SIMULATION).

    For every subject (the simulator's identities, ``seed``) and every pain unit of the species'
    scale: the unit rises from 0 to ``intensity`` of its maximum and holds (the last two thirds
    of the frames), nothing else moves; frontal, with the species' detector noise. Each
    sequence's ``meta["driving_unit"]`` names the unit; frame labels hold the unit intensities.
    """
    sim = Simulator(species, scheme)
    scale = sim.scale
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, frames)
    ramp = np.clip(t * 3.0, 0.0, 1.0)
    out: list[LandmarkSequence] = []
    for si in range(n_subjects):
        state = sim.subject(si, 1, seed, n_subjects=n_subjects)
        for unit in sim.units:
            value = ramp * intensity * scale.units[unit].max
            coords = express(species, {unit: value}, neutral=state.neutral, scheme=sim.out_scheme.key,
                             variant=state.variant)
            coords = coords + rng.normal(0.0, sim.noise, coords.shape)
            labels = {u: (value if u == unit else np.zeros(frames)) for u in sim.units}
            score = np.asarray(scale.total_score(labels), dtype=np.float64)
            labels.update(score=score, pain=scale.binary(score), level=scale.level(score))
            out.append(LandmarkSequence(
                coords=coords.astype(np.float32), scheme=sim.out_scheme.key, fps=25.0, subject=state.subject,
                sequence=f"{state.subject}_{unit}", labels=labels, dims=3, units="cm", detector="synth",
                source=f"simulated:{species}:single-unit", meta={"driving_unit": unit, "simulated": True}))
    return out
