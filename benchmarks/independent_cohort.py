"""An independent generator of labelled facial-landmark sequences (SIMULATION, NOT CLINICAL DATA).

geopain ships its own simulator (``geopain.synth``); a model tuned on it may only have learnt
that simulator's habits. This module is a second, deliberately different generator, written
without importing or copying anything from ``geopain.synth``: it uses only the published
landmark layouts and neutral templates (``geopain.species``), the pain scales' cut-offs and the
:class:`~geopain.landmarks.LandmarkSequence` container.

Generative model (per species; human ``human/ibug68`` with PSPI, sheep ``sheep/spfes`` with SPFES):

1. **Identity: a random linear shape model.** A fixed "population" (``population_seed``) draws
   10 smooth deformation fields; each mixes a Gaussian radial-basis warp (random centre
   landmark, radius and 3D direction), a scale-and-shift of one random part (an eye, a brow,
   the nose, the mouth, ...), a global aspect-ratio change (x/y/z stretch) and a left/right
   asymmetry. Species fields are added (human eye height; sheep ear carriage). A subject is
   the template plus ``sum_k c_k * field_k`` with ``c_k ~ N(0, 1)``; the model is rescaled so
   that the expected identity RMS *after similarity alignment* is ``identity_rms`` of the face
   width (default 6 %, ~0.9 cm on a human face: larger than any expression).
2. **Units.** Every pain unit (AU4, AU6, AU7, AU9, AU10, AU43; orbital tightening, ear
   position, cheek tightening, lip & jaw profile, nostril & philtrum) is a hand-written
   displacement of the relevant landmarks at the unit's maximum; eyelid moves are fractions of
   the subject's own lid gap. Subjects differ in expressiveness (log-normal gain per unit).
   Displacements add linearly; lids cannot cross and sheep ears keep their length.
3. **Pain sequences** (half of each subject's sequences) hold 1-2 smooth episodes: a Gaussian
   rise, a plateau and a Gaussian decay; units join an episode with their own probability,
   apex and lag. Unit labels are the rounded intensities (FACS 0-5, AU43 0/1; SPFES 0-2);
   the total follows the scale's formula; ``pain`` and ``level`` use the scale's binary
   threshold and level cut-offs (``geopain.species``). No-pain sequences have no pain unit.
4. **Nuisances** in both conditions: human smile (AU12 with an AU6-like cheek raise that
   narrows the eyes), surprise (brows up, jaw drop), talking (jaw oscillation), blinks; sheep
   chewing, ear flicks, alertness (ears forward, eyes wide), blinks.
5. **Pose and camera.** Yaw/pitch/roll uniform in +-25/15/10 degrees per sequence plus a
   linear drift and smooth jitter, face size factor 0.7-1.4, translation. ``dims=3`` gives
   camera-frame cm (x right, y up, z toward the camera; the face sits 45-90 cm in front);
   ``dims=2`` projects with a pinhole camera to pixels (x right, y down, z NaN).
6. **Detector.** Gaussian noise whose RMS in-plane point error is 0.8-1.6 % of the face width
   per sequence (human; sheep 1.2-2.4 %), twice that on the human jaw contour, plus a fixed
   per-sequence bias per point (0.3 of it); 1 % of points missing (NaN) and 0.5 % of frames
   without a face.

Default difficulty (20 subjects x 4 sequences x 30 frames, 3D, frame-level pain, grouped
5-fold by subject, seeds 0/1/2): a plain reference (similarity-aligned coordinates, balanced
logistic regression) reaches balanced accuracy 0.81/0.88/0.86 on humans and 0.85/0.87/0.84 on
sheep. :class:`Difficulty` scales noise, nuisances, pose and expression.

The same ``seed`` gives identical arrays. ``meta`` holds ``generator``, ``condition``,
``nuisances``, ``true_pose`` (degrees, ``R = Ry(yaw) @ Rx(pitch) @ Rz(roll)``) and ``face_scale``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from geopain.landmarks import LandmarkSequence
from geopain.species import get_scheme

__all__ = ["make_cohort", "make_sheep_cohort", "similarity_align", "Difficulty", "ShapeModel", "GENERATOR"]

GENERATOR = "benchmarks.independent_cohort"
FPS = 25.0
#: Seed of the random shape model (the "population"); cohorts of any ``seed`` share it.
POPULATION_SEED = 72031


@dataclass(frozen=True)
class Difficulty:
    """Knobs of the generator's difficulty (1 = the documented defaults, 0 = none).

    Attributes:
        noise: multiplies the detector noise.
        nuisances: multiplies the rate of nuisance behaviours and blinks.
        pose: multiplies head rotation ranges, drift and jitter.
        expression: multiplies every pain unit's displacement (labels unchanged).
    """

    noise: float = 1.0
    nuisances: float = 1.0
    pose: float = 1.0
    expression: float = 1.0


# ----------------------------------------------------------------------------------------
# Similarity alignment (Umeyama 1991), used to measure identity size and by the benchmark
# ----------------------------------------------------------------------------------------


def similarity_align(points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity alignment (scale, rotation, translation) of every frame.

    Args:
        points: ``(F, N, d)`` coordinates, NaN = missing (``d`` = 2 or 3).
        target: ``(N, d)`` reference shape.

    Returns:
        ``(F, N, d)`` aligned frames (missing points stay NaN; frames with < 3 points are NaN).
    """
    P = np.asarray(points, dtype=np.float64)
    Q = np.asarray(target, dtype=np.float64)
    w = np.isfinite(P).all(-1).astype(np.float64)  # (F, N)
    n = np.maximum(w.sum(1), 1.0)[:, None]
    Pz = np.where(w[..., None] > 0, P, 0.0)
    mp = (w[..., None] * Pz).sum(1) / n  # (F, d)
    mq = (w @ Q) / n  # (F, d): target mean over the same points
    Pc = (Pz - mp[:, None]) * w[..., None]
    Qc = (Q[None] - mq[:, None]) * w[..., None]
    C = np.einsum("fni,fnj->fij", Qc, Pc)  # cross-covariance target x points
    U, S, Vt = np.linalg.svd(C)
    D = np.ones_like(S)
    D[:, -1] = np.sign(np.linalg.det(U) * np.linalg.det(Vt))
    R = U @ (D[..., None] * Vt)
    s = (S * D).sum(1) / np.maximum((Pc**2).sum((1, 2)), 1e-12)
    out = s[:, None, None] * np.einsum("fij,fnj->fni", R, P - mp[:, None]) + mq[:, None]
    out[w.sum(1) < 3] = np.nan
    return out


# ----------------------------------------------------------------------------------------
# Identity: a random linear shape model
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShapeModel:
    """Neutral faces ``template + sum_k c_k * basis[k]``, ``c ~ N(0, 1)``.

    Attributes:
        template: ``(N, 3)`` neutral template (cm).
        basis: ``(K, N, 3)`` displacement fields (cm per unit coefficient).
        width: face width (cm) that ``identity_rms`` is relative to.
    """

    template: np.ndarray
    basis: np.ndarray
    width: float

    @classmethod
    def random(cls, template: np.ndarray, width: float, parts: Mapping[str, np.ndarray],
               rng: np.random.Generator, identity_rms: float, n_fields: int = 10,
               extra: Sequence[np.ndarray] = ()) -> "ShapeModel":
        """Draw a population model of ``n_fields`` smooth deformations plus ``extra`` fields.

        Each field mixes a Gaussian radial-basis warp (random centre landmark, radius 15-50 %
        of the face width, random 3D direction), a scale-and-shift of one random part (``parts``:
        landmark groups such as an eye or the mouth), an aspect-ratio change (x/y/z stretch
        about the centre) and a left/right asymmetry. The model is rescaled so that the expected
        identity RMS after similarity alignment is ``identity_rms`` x ``width``.
        """
        T = np.asarray(template, dtype=np.float64)
        N = len(T)
        centre = T.mean(0)
        part_list = [np.asarray(p) for p in parts.values()]
        side = np.tanh((T[:, 0] - centre[0]) / (0.15 * width))
        fields: list[np.ndarray] = []
        for _ in range(n_fields):
            c = T[rng.integers(N)]
            r = rng.uniform(0.15, 0.5) * width
            warp = np.exp(-((T - c) ** 2).sum(1) / (2 * r * r))[:, None] * (rng.standard_normal(3) * [1.0, 1.0, 0.6])
            idx = part_list[rng.integers(len(part_list))]
            part = np.zeros_like(T)
            part[idx] = rng.standard_normal() * (T[idx] - T[idx].mean(0))
            part[idx, :2] += 0.5 * rng.standard_normal(2) * np.ptp(T[idx, :2], 0).mean()
            aspect = (T - centre) * rng.standard_normal(3) * [1.0, 1.0, 0.7]
            asym = side[:, None] * (rng.standard_normal(3) * [0.2, 1.0, 1.0])
            fields.append(_unit_rms(warp) + 0.6 * _unit_rms(part) + 0.5 * _unit_rms(aspect) + 0.3 * _unit_rms(asym))
        fields.extend(np.asarray(f, dtype=np.float64) for f in extra)
        basis = np.stack(fields)
        # rescale so the expected RMS after similarity alignment is identity_rms * width
        probe = T[None] + np.einsum("sk,knc->snc", rng.standard_normal((256, len(basis))), basis)
        rms = np.sqrt(np.mean((similarity_align(probe, T) - T) ** 2) * 3)
        return cls(T, basis * (identity_rms * width / rms), float(width))

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One subject's neutral face ``(N, 3)`` (cm)."""
        return self.template + np.einsum("k,knc->nc", rng.standard_normal(len(self.basis)), self.basis)


def _unit_rms(f: np.ndarray) -> np.ndarray:
    """``f`` scaled to RMS point displacement 1."""
    rms = np.sqrt((f**2).sum(1).mean())
    return f / rms if rms > 0 else f


Move = tuple[float, float, float]  # a landmark displacement (dx, dy, dz), cm


def _disp(n: int, moves: Mapping[int, Move]) -> np.ndarray:
    """``(n, 3)`` field from ``{landmark: (dx, dy, dz)}``."""
    f = np.zeros((n, 3))
    for i, d in moves.items():
        f[i] += d
    return f


def _mirror(moves: Mapping[int, Move], pairs: Mapping[int, int]) -> dict[int, Move]:
    """Add the mirror image (x negated) of moves given for one side; ``pairs`` maps side -> other."""
    out = dict(moves)
    for i, (dx, dy, dz) in moves.items():
        if i in pairs:
            out[pairs[i]] = (-dx, dy, dz)
    return out


# ----------------------------------------------------------------------------------------
# Species descriptions
# ----------------------------------------------------------------------------------------

#: A subject-dependent displacement at full intensity: ``f(neutral (N, 3)) -> (N, 3)`` cm.
FieldFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class _Species:
    """Everything the generic generator needs to know about one species."""

    scheme: str
    width: float  # face width (cm) of the template
    shape: ShapeModel
    actions: dict[str, FieldFn]  # pain units and nuisances, displacement at intensity 1
    units: dict[str, dict]  # pain unit -> {max: label maximum, p: joins an episode, gain: apex factor}
    total: Callable[[dict[str, np.ndarray]], np.ndarray]
    nuisances: Callable[[np.random.Generator, int, float], tuple[dict[str, np.ndarray], list[str]]]
    lids: np.ndarray  # (P, 2) upper, lower lid landmark pairs (cannot cross)
    segments: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))  # rigid (base, tip)
    contour: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # noisier points
    noise: tuple[float, float] = (0.008, 0.016)  # detector noise: RMS in-plane point error, fraction of face width
    expressiveness_sd: float = 0.25


def _gap_field(pairs: np.ndarray, upper: float, lower: float) -> FieldFn:
    """Lid moves as fractions of the subject's lid gap: upper lids move ``upper`` of the
    gap towards the lower ones, lower lids ``lower`` of it towards the upper ones."""

    def f(neutral: np.ndarray) -> np.ndarray:
        d = np.zeros_like(neutral)
        gap = neutral[pairs[:, 0]] - neutral[pairs[:, 1]]  # lower -> upper
        np.add.at(d, pairs[:, 0], -upper * gap)
        np.add.at(d, pairs[:, 1], lower * gap)
        return d

    return f


def _plus(*fns: FieldFn) -> FieldFn:
    return lambda neutral: sum(f(neutral) for f in fns)


def _const(field_: np.ndarray) -> FieldFn:
    return lambda neutral: field_


def _episode(rng: np.random.Generator, T: int, peak: float | None = None) -> np.ndarray:
    """``(T,)`` smooth 0-1 envelope: Gaussian rise, plateau, Gaussian decay (frames)."""
    t = np.arange(T, dtype=np.float64)
    p = rng.uniform(0.15, 0.75) * T if peak is None else peak
    rise, hold, decay = rng.uniform(0.1, 0.4) * T, rng.uniform(0.0, 0.45) * T, rng.uniform(0.15, 0.5) * T
    e = np.ones(T)
    e[t < p] = np.exp(-0.5 * ((t[t < p] - p) / rise) ** 2)
    late = t > p + hold
    e[late] = np.exp(-0.5 * ((t[late] - p - hold) / decay) ** 2)
    return e


def _blinks(rng: np.random.Generator, T: int, rate_hz: float = 0.3) -> np.ndarray:
    """``(T,)`` eyelid closure of spontaneous blinks (0-1, ~0.25 s each)."""
    c = np.zeros(T)
    for _ in range(rng.poisson(rate_hz * T / FPS)):
        start = rng.integers(-3, T)
        shape = np.array([0.4, 0.9, 1.0, 0.8, 0.45, 0.15])
        for k, v in enumerate(shape):
            if 0 <= start + k < T:
                c[start + k] = max(c[start + k], v)
    return c


# -- human (iBUG 68) ------------------------------------------------------------------------

_HUMAN_MIRROR = {17: 26, 18: 25, 19: 24, 20: 23, 21: 22, 36: 45, 37: 44, 38: 43, 39: 42, 40: 47, 41: 46,
                 31: 35, 32: 34, 48: 54, 49: 53, 50: 52, 59: 55, 58: 56, 60: 64, 61: 63, 67: 65,
                 0: 16, 1: 15, 2: 14, 3: 13, 4: 12, 5: 11, 6: 10, 7: 9}
_HUMAN_LIDS = np.array([[37, 41], [38, 40], [43, 47], [44, 46]])


def _human(identity_rms: float, population_seed: int) -> _Species:
    sch = get_scheme("human/ibug68")
    T = sch.template
    n = len(T)
    width = float(np.ptp(T[:17, 0]))  # jaw contour width, ~15.5 cm
    m = lambda moves: _disp(n, _mirror(moves, _HUMAN_MIRROR))  # noqa: E731 - right side given, x<0

    # displacements at the unit's maximum, cm; right side (x < 0) written, left mirrored
    au4 = m({17: (0.08, -0.55, 0.0), 18: (0.15, -0.7, 0.08), 19: (0.25, -0.85, 0.15), 20: (0.4, -1.0, 0.25),
             21: (0.55, -1.15, 0.3), 37: (0.0, -0.12, 0.0), 38: (0.03, -0.15, 0.0)})
    au4[27] = (0.0, -0.2, 0.08)
    cheek = m({1: (0.08, 0.55, 0.15), 2: (0.08, 0.55, 0.15), 3: (0.05, 0.3, 0.08), 36: (0.0, 0.12, 0.0),
               31: (-0.05, 0.08, 0.0), 48: (-0.08, 0.2, 0.0)})
    au6 = _plus(_const(cheek), _gap_field(_HUMAN_LIDS, 0.0, 0.35))
    au7 = _plus(_const(m({36: (0.1, 0.03, 0.0), 39: (-0.06, 0.0, 0.0)})), _gap_field(_HUMAN_LIDS, 0.15, 0.45))
    au9 = m({31: (-0.15, 0.5, 0.0), 32: (-0.08, 0.4, 0.08), 28: (0.0, 0.08, -0.08), 29: (0.0, 0.08, -0.08),
             21: (0.15, -0.3, 0.0), 49: (0.0, 0.25, 0.0), 50: (0.0, 0.3, 0.0), 39: (0.0, -0.05, 0.0)})
    au9[33] = (0.0, 0.4, 0.08)
    au9[51] = (0.0, 0.3, 0.0)
    au10 = m({50: (0.0, 0.7, 0.15), 49: (-0.08, 0.55, 0.15), 61: (0.0, 0.65, 0.15), 48: (-0.15, 0.25, 0.0),
              60: (-0.15, 0.25, 0.0), 31: (0.0, 0.12, 0.0), 32: (0.0, 0.12, 0.0)})
    au10[51] = au10[62] = (0.0, 0.7, 0.15)
    au10[33] = (0.0, 0.12, 0.0)
    closure = _gap_field(_HUMAN_LIDS, 0.85, 0.15)
    smile = _plus(_const(m({48: (-0.45, 0.45, -0.2), 60: (-0.4, 0.4, -0.15), 49: (-0.2, 0.15, 0.0),
                            59: (-0.25, 0.1, 0.0), 58: (-0.1, 0.0, 0.0), 2: (-0.1, 0.3, 0.05),
                            3: (-0.1, 0.3, 0.05), 31: (-0.1, 0.0, 0.0), 36: (0.0, 0.05, 0.0)})),
                  _gap_field(_HUMAN_LIDS, 0.0, 0.25))  # AU12 with an AU6-like cheek raise
    jaw = m({8: (0.0, -0.8, -0.2), 7: (0.0, -0.75, -0.2), 6: (0.0, -0.5, -0.15), 5: (0.0, -0.25, -0.1),
             57: (0.0, -0.75, 0.0), 58: (0.0, -0.72, 0.0), 59: (0.05, -0.5, 0.0), 66: (0.0, -0.75, 0.0),
             67: (0.0, -0.72, 0.0), 48: (0.05, -0.25, 0.0), 60: (0.05, -0.25, 0.0)})
    jaw[8] = (0.0, -0.8, -0.2)
    brows_up = m({17: (0.0, 0.45, 0.0), 18: (0.0, 0.55, 0.0), 19: (0.0, 0.65, 0.0), 20: (0.0, 0.65, 0.0),
                  21: (0.0, 0.55, 0.0)})
    surprise = _plus(_const(brows_up + 0.7 * jaw), _gap_field(_HUMAN_LIDS, -0.25, 0.0))
    round_lips = m({48: (0.25, 0.0, 0.1), 60: (0.2, 0.0, 0.1)})

    parts = {"eye_r": np.arange(36, 42), "eye_l": np.arange(42, 48), "brow_r": np.arange(17, 22),
             "brow_l": np.arange(22, 27), "nose": np.arange(27, 36), "mouth": np.arange(48, 68),
             "chin": np.arange(5, 12)}
    eyes = np.arange(36, 48)
    height = np.zeros_like(T)  # eye height (lid gap) varies between people, both eyes alike
    height[eyes, 1] = T[eyes, 1] - np.where(eyes < 42, T[36:42, 1].mean(), T[42:48, 1].mean())
    extra = [0.4 * _unit_rms(height)]
    rng = np.random.default_rng(population_seed)
    shape = ShapeModel.random(T, width, parts, rng, identity_rms, extra=extra)

    def total(u: dict[str, np.ndarray]) -> np.ndarray:
        return u["AU4"] + np.maximum(u["AU6"], u["AU7"]) + np.maximum(u["AU9"], u["AU10"]) + u["AU43"]

    def nuisances(rng: np.random.Generator, T_: int, rate: float) -> tuple[dict[str, np.ndarray], list[str]]:
        out = {k: np.zeros(T_) for k in ("smile", "surprise", "jaw", "round_lips")}
        names = []
        for _ in range(rng.poisson(1.0 * rate)):
            kind = rng.choice(["smile", "surprise", "talking"], p=[0.4, 0.25, 0.35])
            a = rng.uniform(0.3, 1.0) * _episode(rng, T_)
            names.append(str(kind))
            if kind == "talking":
                t = np.arange(T_) / FPS
                osc = 0.5 - 0.5 * np.cos(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 2 * np.pi))
                out["jaw"] += 0.45 * a * osc
                out["round_lips"] += 0.5 * a * (1 - osc)
            else:
                out[str(kind)] += a
        out["closure"] = _blinks(rng, T_, rate_hz=0.3 * rate)
        return out, names

    return _Species(
        scheme=sch.key, width=width, shape=shape,
        actions={"AU4": _const(au4), "AU6": au6, "AU7": au7, "AU9": _const(au9), "AU10": _const(au10),
                 "AU43": closure, "closure": closure, "smile": smile, "surprise": surprise,
                 "jaw": _const(jaw), "round_lips": _const(round_lips)},
        units={"AU4": dict(max=5, p=0.85, gain=0.9), "AU6": dict(max=5, p=0.55, gain=0.8),
               "AU7": dict(max=5, p=0.75, gain=0.85), "AU9": dict(max=5, p=0.35, gain=0.7),
               "AU10": dict(max=5, p=0.45, gain=0.75), "AU43": dict(max=1, p=0.25, gain=1.0)},
        total=total, nuisances=nuisances, lids=_HUMAN_LIDS, contour=np.arange(17), noise=(0.008, 0.016),
    )


# -- sheep (SPFES 28) ------------------------------------------------------------------------

_SHEEP_MIRROR = {2: 4, 3: 5, 6: 10, 7: 11, 8: 12, 9: 13, 14: 15, 16: 19, 17: 20, 18: 21, 24: 25}
_SHEEP_LIDS = np.array([[7, 9], [11, 13]])
_SHEEP_EARS = np.array([[3, 2], [5, 4]])  # (base, tip)


def _sheep(identity_rms: float, population_seed: int) -> _Species:
    sch = get_scheme("sheep/spfes")
    T = sch.template
    n = len(T)
    face = np.setdiff1d(np.arange(n), [2, 3, 4, 5])
    width = float(np.ptp(T[face, 0]))  # without the ears, ~14.4 cm
    m = lambda moves: _disp(n, _mirror(moves, _SHEEP_MIRROR))  # noqa: E731 - right side (x < 0) given
    ear_len = float(np.linalg.norm(T[2] - T[3]))

    ears_back = m({2: (0.1 * ear_len, -0.45 * ear_len, -0.35 * ear_len), 3: (0.0, -0.3, -0.3)})
    cheek = m({14: (0.6, 0.2, -0.6)})
    lip_jaw = m({24: (-0.2, -0.7, -0.6)})
    lip_jaw[26] = (0.0, -0.3, -0.3)
    lip_jaw[27] = (0.0, -0.2, -0.4)
    nostril = m({17: (0.55, 0.15, 0.0), 18: (0.15, 0.1, 0.0), 16: (0.1, 0.2, 0.0)})
    nostril[22] = (0.0, 0.25, 0.1)
    orbital = _gap_field(_SHEEP_LIDS, 0.45, 0.2)
    closure = _gap_field(_SHEEP_LIDS, 0.85, 0.15)
    chew_down = m({24: (0.0, -0.5, 0.0)})
    chew_down[26], chew_down[27] = (0.0, -0.8, 0.0), (0.0, -0.7, -0.1)
    chew_side = np.zeros((n, 3))
    chew_side[[24, 25, 26, 27], 0] = [0.4, 0.4, 0.5, 0.5]
    alert = _plus(_const(m({2: (-0.05 * ear_len, 0.25 * ear_len, 0.3 * ear_len)})), _gap_field(_SHEEP_LIDS, -0.2, 0.0))
    flick_r, flick_l = np.zeros((n, 3)), np.zeros((n, 3))
    flick_r[2] = (0.0, 0.35 * ear_len, 0.25 * ear_len)
    flick_l[4] = (0.0, 0.35 * ear_len, 0.25 * ear_len)

    parts = {"eye_r": np.arange(6, 10), "eye_l": np.arange(10, 14), "nostril_r": np.arange(16, 19),
             "nostril_l": np.arange(19, 22), "mouth": np.arange(23, 28), "muzzle": np.arange(16, 28),
             "ear_r": np.array([2, 3]), "ear_l": np.array([4, 5]), "cheeks": np.array([14, 15])}
    extra = []
    for axis in (1, 2):  # ear carriage varies between animals: both tips up/down, forward/back
        f = np.zeros_like(T)
        f[[2, 4], axis] = 0.12 * ear_len
        extra.append(f)
    rng = np.random.default_rng(population_seed + 1)
    shape = ShapeModel.random(T, width, parts, rng, identity_rms, extra=extra)

    def total(u: dict[str, np.ndarray]) -> np.ndarray:
        return sum(u[k] for k in ("orbital_tightening", "cheek_tightening", "ear_position", "lip_jaw_profile",
                                  "nostril_philtrum"))

    def nuisances(rng: np.random.Generator, T_: int, rate: float) -> tuple[dict[str, np.ndarray], list[str]]:
        out = {k: np.zeros(T_) for k in ("chew_down", "chew_side", "alert", "flick_r", "flick_l")}
        names = []
        t = np.arange(T_) / FPS
        for _ in range(rng.poisson(1.1 * rate)):
            kind = str(rng.choice(["chewing", "ear_flick", "alert"], p=[0.4, 0.35, 0.25]))
            names.append(kind)
            if kind == "chewing":
                a = rng.uniform(0.4, 1.0) * _episode(rng, T_)
                ph = 2 * np.pi * rng.uniform(1.2, 2.2) * t + rng.uniform(0, 2 * np.pi)
                out["chew_down"] += a * (0.5 - 0.5 * np.cos(ph))
                out["chew_side"] += a * np.sin(ph)
            elif kind == "ear_flick":
                side = "flick_r" if rng.uniform() < 0.5 else "flick_l"
                start, dur = rng.integers(0, T_), rng.integers(3, 9)
                k = np.arange(T_) - start
                out[side] += rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0) * np.where(
                    (k >= 0) & (k < dur), np.sin(np.pi * np.clip(k, 0, dur) / dur), 0.0)
            else:
                out["alert"] += rng.uniform(0.4, 1.0) * _episode(rng, T_)
        out["closure"] = _blinks(rng, T_, rate_hz=0.2 * rate)
        return out, names

    return _Species(
        scheme=sch.key, width=width, shape=shape,
        actions={"orbital_tightening": orbital, "ear_position": _const(ears_back), "cheek_tightening": _const(cheek),
                 "lip_jaw_profile": _const(lip_jaw), "nostril_philtrum": _const(nostril), "closure": closure,
                 "chew_down": _const(chew_down), "chew_side": _const(chew_side), "alert": alert,
                 "flick_r": _const(flick_r), "flick_l": _const(flick_l)},
        units={"orbital_tightening": dict(max=2, p=0.8, gain=0.85), "ear_position": dict(max=2, p=0.8, gain=0.85),
               "cheek_tightening": dict(max=2, p=0.5, gain=0.75), "lip_jaw_profile": dict(max=2, p=0.5, gain=0.75),
               "nostril_philtrum": dict(max=2, p=0.6, gain=0.8)},
        total=total, nuisances=nuisances, lids=_SHEEP_LIDS, segments=_SHEEP_EARS, noise=(0.012, 0.024),
    )


# ----------------------------------------------------------------------------------------
# The generic generator
# ----------------------------------------------------------------------------------------


def _rot(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` rotations ``Ry(yaw) @ Rx(pitch) @ Rz(roll)`` from degrees."""
    y, p, r = (np.deg2rad(np.asarray(a, dtype=np.float64)) for a in (yaw, pitch, roll))
    one, zero = np.ones_like(y), np.zeros_like(y)
    Ry = np.stack([np.stack([np.cos(y), zero, np.sin(y)], -1), np.stack([zero, one, zero], -1),
                   np.stack([-np.sin(y), zero, np.cos(y)], -1)], -2)
    Rx = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, np.cos(p), -np.sin(p)], -1),
                   np.stack([zero, np.sin(p), np.cos(p)], -1)], -2)
    Rz = np.stack([np.stack([np.cos(r), -np.sin(r), zero], -1), np.stack([np.sin(r), np.cos(r), zero], -1),
                   np.stack([zero, zero, one], -1)], -2)
    return Ry @ Rx @ Rz


def _smooth_walk(rng: np.random.Generator, T: int, sd: float) -> np.ndarray:
    """``(T,)`` smooth zero-start random motion (cumulated, box-smoothed noise)."""
    w = np.cumsum(rng.normal(0.0, sd, T + 4))
    return np.convolve(w, np.ones(5) / 5, mode="valid")[:T] - w[:5].mean()


def _detector_noise(rng: np.random.Generator, shape: tuple[int, ...], sd: np.ndarray) -> np.ndarray:
    """``shape = (T, N, d)`` Gaussian jitter of per-point sd ``sd (N,)`` plus a per-sequence bias (0.3 sd)."""
    return sd[None, :, None] * (rng.standard_normal(shape) + 0.3 * rng.standard_normal(shape[1:]))


def _sequence(sp: _Species, neutral: np.ndarray, gains: dict[str, float], subject: str, index: int,
              pain: bool, frames: int, dims: int, rng: np.random.Generator, seed: int,
              knobs: Difficulty) -> LandmarkSequence:
    T_ = int(frames)
    scale = get_scheme(sp.scheme).pain_scale
    # -- unit intensities (0-1 of each unit's maximum)
    latent = {u: np.zeros(T_) for u in sp.units}
    if pain:
        for e in range(rng.choice([1, 2], p=[0.6, 0.4])):
            severity = rng.uniform(0.3, 1.0)
            env = _episode(rng, T_, peak=rng.uniform(0.2, 0.7) * T_ if e == 0 else None)
            for u, spec in sp.units.items():
                if rng.uniform() > spec["p"]:
                    continue
                lag = int(rng.integers(0, 4))
                shifted = np.concatenate([np.zeros(lag), env[: T_ - lag]])
                if spec["max"] == 1:  # a 0/1 unit (AU43): closes during the apex only
                    if severity < 0.5:
                        continue
                    latent[u] = np.maximum(latent[u], shifted**3)
                    continue
                apex = severity * spec["gain"] * np.exp(0.25 * rng.standard_normal())
                latent[u] = np.maximum(latent[u], np.clip(apex, 0, 1) * shifted)
    unit_labels = {u: np.rint(latent[u] * spec["max"]) for u, spec in sp.units.items()}
    for u, spec in sp.units.items():
        if spec["max"] == 1:
            unit_labels[u] = (latent[u] > 0.5).astype(float)
    score = np.asarray(sp.total(unit_labels), dtype=np.float64)
    # -- nuisances and geometry in the face frame
    nuis, names = sp.nuisances(rng, T_, knobs.nuisances)
    latent_disp = {u: knobs.expression * a for u, a in latent.items()}
    intens = {**latent_disp, **nuis}
    disp = np.zeros((T_,) + neutral.shape)
    for name, a in intens.items():
        if np.any(a):
            disp += a[:, None, None] * (gains.get(name, 1.0) * sp.actions[name](neutral))[None]
    face = neutral[None] + disp
    for up, lo in sp.lids:  # lids cannot cross: a crossed pair meets in the middle
        crossed = face[:, up, 1] < face[:, lo, 1]
        mid = 0.5 * (face[:, up] + face[:, lo])
        face[crossed, up] = mid[crossed]
        face[crossed, lo] = mid[crossed]
    for base, tip in sp.segments:  # rigid segments (ears) keep their neutral length
        v = face[:, tip] - face[:, base]
        L0 = np.linalg.norm(neutral[tip] - neutral[base])
        face[:, tip] = face[:, base] + v * (L0 / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9))
    # -- pose, size, position
    t = np.arange(T_) / FPS
    ang = []
    for rng_deg, drift_sd in ((25.0, 6.0), (15.0, 4.0), (10.0, 3.0)):
        a0 = rng.uniform(-rng_deg, rng_deg)
        ang.append(knobs.pose * (a0 + rng.normal(0.0, drift_sd) * t + _smooth_walk(rng, T_, 0.3)))
    yaw, pitch, roll = ang
    R = _rot(yaw, pitch, roll)
    size = float(np.exp(rng.uniform(np.log(0.7), np.log(1.4))))
    centre = neutral.mean(0)
    depth = rng.uniform(45.0, 90.0)
    trans = np.array([rng.normal(0, 3.0), rng.normal(0, 3.0), -depth])
    bob = np.stack([_smooth_walk(rng, T_, 0.05) for _ in range(3)], -1)
    cam = size * np.einsum("tij,tnj->tni", R, face - centre) + trans + bob[:, None]
    width = sp.width * size
    noise_frac = knobs.noise * rng.uniform(*sp.noise)
    point_sd = np.ones(len(neutral))
    point_sd[sp.contour] = 2.0
    meta: dict = {}
    if dims == 3:
        sd = noise_frac * width / np.sqrt(2)
        out = cam + _detector_noise(rng, cam.shape, sd * point_sd)
        units = "cm"
    elif dims == 2:
        f_px, (W, H) = 900.0, (1280, 960)
        d = -cam[..., 2]
        px = np.stack([W / 2 + f_px * cam[..., 0] / d, H / 2 - f_px * cam[..., 1] / d], -1)
        sd = noise_frac * f_px * width / depth / np.sqrt(2)
        px = px + _detector_noise(rng, px.shape, sd * point_sd)
        outside = (px[..., 0] < 0) | (px[..., 0] >= W) | (px[..., 1] < 0) | (px[..., 1] >= H)
        px[outside] = np.nan
        out = np.concatenate([px, np.full(px.shape[:2] + (1,), np.nan)], -1)
        units = "px"
        meta.update(image_size=[W, H], focal_px=f_px)
    else:
        raise ValueError(f"dims must be 2 or 3, got {dims!r}")
    out[rng.uniform(size=out.shape[:2]) < 0.01] = np.nan  # missing points
    out[rng.uniform(size=T_) < 0.005] = np.nan  # frames without a face
    valid = np.isfinite(out[..., :2]).all(-1)
    labels = {"score": score, "pain": scale.binary(score), "level": scale.level(score), **unit_labels}
    peak = float(score.max())
    meta.update(generator=GENERATOR, simulated=True, condition="pain" if pain else "no_pain", nuisances=names,
                true_pose=np.stack([yaw, pitch, roll], -1).tolist(), face_scale=size, noise_fraction=noise_frac,
                seed=int(seed))
    return LandmarkSequence(
        coords=out.astype(np.float32), scheme=sp.scheme, confidence=valid.astype(np.float32),
        frame_confidence=valid.any(1).astype(np.float32), fps=FPS, subject=subject,
        sequence=f"{subject}-Q{index + 1:02d}", labels=labels,
        sequence_labels={"score": peak, "pain": float(scale.binary(peak)), "level": float(scale.level(peak)),
                         "mean_score": float(score.mean())},
        dims=dims, units=units, detector="independent", detector_version="1",
        source=f"{GENERATOR}:{sp.scheme}:seed={int(seed)}",
        meta=meta,
    )


def _cohort(sp: _Species, n_subjects: int, sequences_per_subject: int, frames: int, seed: int, dims: int,
            prefix: str, knobs: Difficulty | None) -> list[LandmarkSequence]:
    knobs = knobs or Difficulty()
    for name, v in (("n_subjects", n_subjects), ("sequences_per_subject", sequences_per_subject), ("frames", frames)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    seqs = []
    for si in range(int(n_subjects)):
        rng = np.random.default_rng([int(seed), 1000 + si])
        neutral = sp.shape.sample(rng)
        overall = rng.normal(0.0, 0.2)
        gains = {u: float(np.exp(overall + sp.expressiveness_sd * rng.standard_normal())) for u in sp.units}
        m = int(sequences_per_subject)
        n_pain = m // 2 + int(m % 2 == 1 and rng.uniform() < 0.5)
        cond = np.zeros(m, bool)
        cond[rng.permutation(m)[:n_pain]] = True
        subject = f"{prefix}-S{si + 1:02d}"
        for qi in range(m):
            qrng = np.random.default_rng([int(seed), 1000 + si, qi + 1])
            seqs.append(_sequence(sp, neutral, gains, subject, qi, bool(cond[qi]), frames, dims, qrng, seed, knobs))
    return seqs


_CACHE: dict[tuple, _Species] = {}


def _species(kind: str, identity_rms: float, population_seed: int) -> _Species:
    key = (kind, float(identity_rms), int(population_seed))
    if key not in _CACHE:
        _CACHE[key] = (_human if kind == "human" else _sheep)(identity_rms, population_seed)
    return _CACHE[key]


def make_cohort(n_subjects: int = 20, sequences_per_subject: int = 4, frames: int = 30, seed: int = 0,
                dims: int = 3, identity_rms: float = 0.06, population_seed: int = POPULATION_SEED,
                difficulty: Difficulty | None = None) -> list[LandmarkSequence]:
    """Labelled human sequences (``human/ibug68``, 68 points) from the independent generator.

    Args:
        n_subjects, sequences_per_subject, frames: cohort size (frames at 25 fps).
        seed: everything random about the cohort (subjects, sequences, pose, noise).
        dims: 3 -> camera-frame cm (``units="cm"``); 2 -> pinhole pixels (``units="px"``, z NaN).
        identity_rms: expected identity shape RMS after similarity alignment, fraction of the
            face width (jaw contour, ~15.5 cm).
        population_seed: seed of the random shape model shared by all cohorts.
        difficulty: noise / nuisance / pose / expression knobs (:class:`Difficulty`).

    Returns:
        ``n_subjects * sequences_per_subject`` sequences, ``(frames, 68, 3)`` coordinates each;
        subjects ``"IND-S01"``...; labels ``score`` (PSPI 0-16), ``pain``, ``level`` (0-4) and
        ``AU4``, ``AU6``, ``AU7``, ``AU9``, ``AU10``, ``AU43`` per frame.
    """
    return _cohort(_species("human", identity_rms, population_seed), n_subjects, sequences_per_subject,
                   frames, seed, dims, "IND", difficulty)


def make_sheep_cohort(n_subjects: int = 20, sequences_per_subject: int = 4, frames: int = 30, seed: int = 0,
                      dims: int = 3, identity_rms: float = 0.06, population_seed: int = POPULATION_SEED,
                      difficulty: Difficulty | None = None) -> list[LandmarkSequence]:
    """Labelled sheep sequences (``sheep/spfes``, 28 points) from the independent generator.

    Same arguments as :func:`make_cohort` (face width without the ears, ~14.4 cm). Subjects
    ``"INDSHEEP-S01"``...; labels ``score`` (SPFES 0-10), ``pain`` (score > 1.5), ``level``
    (cut-offs 2, 4, 6, 8) and the five unit scores (0-2) per frame.
    """
    return _cohort(_species("sheep", identity_rms, population_seed), n_subjects, sequences_per_subject,
                   frames, seed, dims, "INDSHEEP", difficulty)
