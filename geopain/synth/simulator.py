"""Simulated labelled face-landmark sequences (SIMULATION, NOT CLINICAL DATA).

The generative model, per species (everything species-specific comes from
``species/<species>/synth.yaml``, see :mod:`geopain.synth.spec`):

1. **Identity.** Each subject's neutral face is the base scheme's template plus a smooth
   shape variation: low-order polynomial displacement fields over the template (mirror-symmetric
   and asymmetric parts, at the RMS sizes the YAML gives, times ``config.identity_scale``) and
   relative size variation of regions (eyes, nose, mouth, ...), and an unlabelled resting posture
   (small signed offsets of some actions per subject, e.g. a habitually lowered brow or low ear
   carriage, varying a little per sequence). Subjects also differ in how they show pain: a
   log-normal factor per subject and unit multiplies each unit's propensity.
2. **Condition.** Each subject's sequences are split into pain and no-pain sequences
   (``config.pain_prevalence``, stochastic rounding per subject).
3. **Pain episodes** (pain sequences only, 1-2 per sequence by default). An episode aims at a
   peak score drawn from a target level (``config.level_weights`` over levels 1..4): the apex
   intensity of every unit is ``min(1, g * propensity * subject factor * jitter)`` of the unit's
   maximum, with the gain ``g`` chosen so that the scale formula on the quantised apex
   intensities gives the target score. Intensities rise (onset), hold (apex) and fall (offset)
   with raised-cosine ramps; units start with small lags. The first episode's apex covers a
   random frame, so every pain sequence reaches its apex.
4. **Confounders** that are not pain (smile, surprise, talking for humans; chewing, ear flicks,
   alertness for sheep) occur equally in pain and no-pain sequences: Poisson
   (``config.confounder_rate`` per sequence) episodes or oscillations; spontaneous blinks
   always (``config.blinks``).
5. **Geometry.** Action intensities deform the subject's neutral face (displacement fields,
   eyelid closure towards the opposite lid, rotations of ears); the base scheme is converted to
   the output scheme (e.g. MediaPipe 468 -> iBUG 68 through the declared table).
6. **Pose and camera.** Head yaw/pitch/roll per sequence (uniform within the YAML ranges times
   ``config.pose_scale``) plus smooth motion; in 3D a translation (cm); with ``config.project``
   a pinhole camera (``image_size``, focal length, the face ``face_size_px`` wide) gives 2D
   pixels (``dims=2``, ``units="px"``), points outside the image are NaN.
7. **Detector artefacts.** Gaussian noise (``noise_cm`` in 3D, ``noise_px`` in 2D; defaults from
   the YAML's ``detector`` section: human 0.04 cm / 1 px, sheep 0.3 cm / 3 px), independently
   dropped points (``drop_rate``), dropped frames (``frame_drop_rate``: no face), and occluders
   (``occlusion_rate``; e.g. a tube over the mouth: those landmarks are NaN for the whole
   sequence; a hand over one eye for a window of frames).
8. **Generator randomisation** (``config.variability`` > 0; 0 reproduces steps 1-7 exactly, 1 is
   strong, the ``pretrain`` preset). Steps 1-7 are one generator; a model trained on it can learn
   that generator's particular fields. With variability ``v`` every subject gets its own
   generator, drawn from separate random streams, so for a seed the subjects' conditions and
   pain intensities, hence all labels, are those drawn at ``v = 0``; the geometry that expresses
   them differs (and, as confounder counts differ, so do the later draws: pose, camera, noise):

   - *actions* (``FaceModel.perturb``; pain units and confounders alike: smile, surprise,
     talking; chewing, ear flicks, alertness): each displacement field's direction is tilted
     (``v * min(25, 10 |g|)`` degrees, ``g`` a 2D standard normal), its extent scaled
     (log-normal, sd ``0.3 v``), its falloff radius scaled (``1 + v (U(0.6, 1.6) - 1)``: which
     neighbours follow) and the landmarks next to its anchors get a small random extra
     displacement (sd ``0.15 v`` of the field, fading with distance); lid closure fractions
     (log-normal sd ``0.2 v``; caps unchanged, so lids still never cross, and closed eyes at full
     intensity still close) and rotation axes and angles (ears; tilt as above, angle sd
     ``0.3 v``) likewise. A field and its mirror image share
     75 % of their variance (faces are mostly symmetric); midline fields stay symmetric; ``fixed``
     landmarks stay fixed. The labels are still defined by the intensities (step 3), so the
     geometry-to-label mapping differs between subjects;
   - *behaviour rates*: per subject the confounder rate (``confounder_rate`` times a log-normal
     factor, sd ``0.5 v``), which confounder (weights times log-normal, sd ``0.5 v``) and the
     blink rate (sd ``0.3 v``);
   - *detector*: per sequence the noise sd is ``noise_*`` times ``exp(v U(-ln 2, ln 2))`` (1/2-2x
     log-uniform at ``v = 1``); per landmark a relative sd (the YAML's
     ``detector.landmark_noise`` to the power ``v``, e.g. the human face contour and the sheep
     ears noisier, times a per-subject log-normal factor, sd ``0.2 v``), and a systematic
     per-subject landmark offset (sd ``0.5 v`` times the noise sd times the landmark's scale: a
     detector that places the jawline a little off);
   - *identity*: regions' relative size variation times ``1 + 0.5 v``.

   ``meta["detector_noise"]`` holds the sequence's drawn noise sd. Generation stays vectorised
   (one ``(K, N, 3)`` basis per subject; no per-frame loops).

Labels follow the scale's formula exactly: per frame each unit's intensity is the rounded
(FACS 0-5 / SPFES 0-2 integers; ``quantize_labels``) latent intensity, ``score`` is
``PainScale.total_score`` of the unit labels (PSPI 0-16, SPFES 0-10), ``pain`` is
``PainScale.binary(score)`` (PSPI > 0; SPFES > 1.5) and ``level`` is ``PainScale.level(score)``
(PSPI cut-offs 1, 3, 5, 7; SPFES 2, 4, 6, 8). Per sequence, ``sequence_labels`` hold
``score`` = the peak frame score, ``pain`` = ``binary(peak)``, ``level`` = ``level(peak)`` and
``mean_score``; ``meta["condition"]`` is the condition the generator drew (for no-pain sequences
every pain unit is 0, so ``sequence_labels["pain"]`` equals the condition). ``meta`` also holds
``true_pose`` (per-frame yaw/pitch/roll, :data:`POSE_CONVENTION`), the confounders, the occluder
with its frames and points, and the camera (``image_size``, ``focal_px``) when projected.

Default difficulty (measured on this machine, 20 subjects x 4 sequences x 60 frames, seed 0;
frame-level pain, logistic regression, grouped 5-fold by subject; balanced accuracy):

=================  ==========  ===============  ==========================
data               raw coords  measurements     measurements - subject median
=================  ==========  ===============  ==========================
human 3D (cm)      0.70        0.80             0.83
human 2D (px)      0.64        0.73             0.75
sheep 3D (cm)      0.82        0.88             0.91
sheep 2D (px)      0.73        0.80             0.87
=================  ==========  ===============  ==========================

Learnable, not saturated, and raw coordinates (identity, pose, camera) do worse than normalised,
subject-baselined geometry. Knobs that make it easier: ``pose_scale``, ``identity_scale``,
``confounder_rate``, ``noise_*``, ``occlusion_rate`` towards 0; ``level_weights`` towards the
high levels. ``variability`` (step 8) makes it harder in a different way: what separates pain from
no pain varies between subjects, as it does between generators and real detectors. These are
properties of the simulator, not clinical accuracies.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Sequence

import numpy as np

from .. import __version__
from ..errors import GeopainError, SchemeError
from ..landmarks import LandmarkSequence
from ..species import Scheme, default_scheme, get_scheme, scheme_key
from .spec import MAX_VARIABILITY, Behaviour, FaceModel, FaceVariant, SynthSpec, Timing, face_model

#: Head-rotation convention (same as geopain.geometry.align.rotation_from_angles).
POSE_CONVENTION = "R = Rz(roll) @ Ry(yaw) @ Rx(pitch), degrees, applied as p @ R.T about the face centroid"


@dataclass
class SynthConfig:
    """Difficulty knobs of the simulator. Defaults give a realistic, non-saturated problem.

    Attributes:
        fps: frames per second of the simulated recording.
        pain_prevalence: fraction of each subject's sequences in the pain condition (0-1).
        level_weights: relative frequency of the target peak level of pain episodes, one weight
            per level 1..n_levels-1 (None: equal).
        confounder_rate: mean number of non-pain behaviour episodes per sequence (Poisson).
        blinks: spontaneous blinks in every sequence.
        identity_scale: multiplies identity shape variation (0: every subject is the template).
        expressiveness_sd: overrides the YAML's spread of per-subject pain expression (log sd).
        pose_scale: multiplies the YAML's head pose ranges and motion (0: frontal, still).
        translation_scale: multiplies the YAML's 3D head translation (cm).
        noise_cm: detector noise sd for 3D output (cm); None: the species' ``detector.noise_cm``.
        noise_px: detector noise sd for projected output (pixels); None: ``detector.noise_px``.
        noise_correlation: frame-to-frame correlation of the detector noise (AR(1), 0-0.99; trackers
            drift slowly rather than jitter independently); the noise sd stays ``noise_*``.
        drop_rate: probability that a point is missing (NaN) in a frame.
        frame_drop_rate: probability that a frame has no face (all NaN).
        occlusion_rate: probability that a sequence has an occluder (tube over the mouth, ...).
        project: project to 2D pixels with a pinhole camera (dims=2, units "px").
        image_size: (width, height) in pixels of the simulated camera.
        face_size_px: range of the face's width in pixels (uniform per sequence).
        focal_px: focal length in pixels (None: the image width, about 53 degrees across).
        quantize_labels: unit labels are integers (FACS / SPFES scores); else continuous.
        variability: generator randomisation (0-2; 0: the YAML's fields exactly, 1: strong):
            per subject, every action's displacement field (direction, extent, falloff radius,
            neighbours), lid closure amounts and ear rotation axes are perturbed, confounder
            rates are drawn, and the detector gets per-sequence noise levels, per-landmark noise
            scales and a per-subject landmark bias (step 8 of the module docstring). Labels
            keep their meaning; only the geometry that expresses them varies between subjects.
        pain_rhythm_hz: temporal dynamics of pain (None: the YAML's onset/apex/offset episodes).
            A ``(low, high)`` range: pain builds and releases slowly and repeatedly, the apex
            intensities times ``0.5 - 0.5 cos(2 pi f t + phase)`` with ``f`` drawn per sequence.
        mimic_rate: probability that a no-pain sequence shows a *mimic*: the subject's pain apex
            shape (drawn exactly as a pain episode's apex, same units and intensities) with the
            dynamics of a non-pain behaviour from ``mimic_rhythm_hz``. Mimics never count in the
            labels. With ``pain_rhythm_hz`` the two conditions share apex shapes and the
            distribution of intensities over frames (both raised cosines), so only the dynamics
            tell them apart (the ``dynamics`` preset).
        mimic_rhythm_hz: ``{kind: (low, high) Hz}`` of the mimics' raised-cosine dynamics, one kind
            drawn per mimic (None: ``talking`` 3-5 Hz, fast and rhythmic; ``grimace`` 1.2-2 Hz,
            builds and releases).
        label_level: ``"frame"`` (each frame's labels from its own intensities) or ``"sequence"``
            (every frame carries its sequence's labels: ``pain``/``level``/``score`` of the peak,
            as BioVid's labels per 5.5 s sample).
        noise_scale: multiplies the detector noise sd (``noise_*`` or the species' default).
    """

    fps: float = 25.0
    pain_prevalence: float = 0.5
    level_weights: tuple[float, ...] | None = None
    confounder_rate: float = 0.8
    blinks: bool = True
    identity_scale: float = 1.0
    expressiveness_sd: float | None = None
    pose_scale: float = 1.0
    translation_scale: float = 1.0
    noise_cm: float | None = None
    noise_px: float | None = None
    noise_correlation: float = 0.0
    drop_rate: float = 0.005
    frame_drop_rate: float = 0.0
    occlusion_rate: float = 0.1
    project: bool = False
    image_size: tuple[int, int] = (640, 480)
    face_size_px: tuple[float, float] = (140.0, 260.0)
    focal_px: float | None = None
    quantize_labels: bool = True
    variability: float = 0.0
    pain_rhythm_hz: tuple[float, float] | None = None
    mimic_rate: float = 0.0
    mimic_rhythm_hz: dict[str, tuple[float, float]] | None = None
    label_level: str = "frame"
    noise_scale: float = 1.0

    def validate(self) -> "SynthConfig":
        """Raise :class:`~geopain.errors.GeopainError` for values out of range; return self."""
        def bad(name: str, why: str) -> None:
            raise GeopainError(f"SynthConfig.{name}: {why} (got {getattr(self, name)!r})")

        if not self.fps > 0:
            bad("fps", "must be > 0")
        for name in ("pain_prevalence", "drop_rate", "frame_drop_rate", "occlusion_rate"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                bad(name, "must be in [0, 1]")
        for name in ("confounder_rate", "identity_scale", "pose_scale", "translation_scale", "noise_cm", "noise_px",
                     "noise_scale"):
            if getattr(self, name) is not None and not float(getattr(self, name)) >= 0.0:
                bad(name, "must be >= 0")
        if not 0.0 <= float(self.noise_correlation) < 1.0:
            bad("noise_correlation", "must be in [0, 1)")
        if not 0.0 <= float(self.variability) <= MAX_VARIABILITY:
            bad("variability", f"must be in [0, {MAX_VARIABILITY:g}]")
        if self.expressiveness_sd is not None and self.expressiveness_sd < 0:
            bad("expressiveness_sd", "must be >= 0")
        if self.level_weights is not None:
            w = np.asarray(self.level_weights, float)
            if w.ndim != 1 or (w < 0).any() or w.sum() <= 0:
                bad("level_weights", "must be non-negative weights, not all zero")
        if len(self.image_size) != 2 or min(self.image_size) < 16:
            bad("image_size", "must be (width, height) of at least 16 pixels")
        lo, hi = self.face_size_px
        if not 0 < lo <= hi:
            bad("face_size_px", "must be an increasing (low, high) pair > 0")
        if self.focal_px is not None and not self.focal_px > 0:
            bad("focal_px", "must be > 0")
        if not 0.0 <= float(self.mimic_rate) <= 1.0:
            bad("mimic_rate", "must be in [0, 1]")
        for name, ranges in (("pain_rhythm_hz", {"pain": self.pain_rhythm_hz}),
                             ("mimic_rhythm_hz", self.mimic_rhythm_hz or {})):
            if not isinstance(ranges, Mapping):
                bad(name, "must map behaviour names to (low, high) Hz")
            for r in ranges.values():
                if r is not None and (len(r) != 2 or not 0 < float(r[0]) <= float(r[1])):
                    bad(name, "must be an increasing (low, high) pair of frequencies > 0 Hz")
        if self.label_level not in ("frame", "sequence"):
            bad("label_level", "must be 'frame' or 'sequence'")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "SynthConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise GeopainError(f"SynthConfig: unknown option(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    @classmethod
    def preset(cls, name: str, **changes: Any) -> "SynthConfig":
        """A named difficulty (:data:`PRESETS`: ``easy``, ``default``, ``hard``, ``pretrain``) with ``changes``."""
        if name not in PRESETS:
            raise GeopainError(f"unknown difficulty {name!r}; choose one of {sorted(PRESETS)}")
        return cls.from_dict({**PRESETS[name], **changes})


#: ``dynamics``: pain and its mimics share apex shapes and intensity distributions but differ in
#: dynamics (pain builds and releases at 0.25-0.5 Hz; mimics in every no-pain sequence at 1.2-5 Hz),
#: with sequence-level labels: a per-frame model cannot tell them apart, a temporal one can.
#: Named difficulties. ``easy``: frontal, still, template faces, no confounders, noise or missing
#: points (the pain signal alone); ``hard``: wider pose, more identity spread, confounders,
#: noise, occlusion and dropped points than the default; ``pretrain``: for pretraining neural
#: models on large cohorts, strong generator randomisation (``variability`` 1: every subject's
#: face expresses pain through its own perturbed fields and detector) with more identity, pose,
#: confounders, correlated noise and missing frames, so a model learns the family of pain
#: geometries rather than one generator's fields.
PRESETS: dict[str, dict[str, Any]] = {
    "easy": {"pose_scale": 0.0, "translation_scale": 0.0, "identity_scale": 0.0, "confounder_rate": 0.0,
             "blinks": False, "noise_cm": 0.0, "noise_px": 0.0, "drop_rate": 0.0, "occlusion_rate": 0.0},
    "default": {},
    "hard": {"pose_scale": 1.5, "identity_scale": 1.5, "confounder_rate": 1.6, "expressiveness_sd": 0.8,
             "drop_rate": 0.02, "frame_drop_rate": 0.02, "occlusion_rate": 0.3, "level_weights": (3.0, 2.0, 1.0, 1.0)},
    "pretrain": {"variability": 1.0, "confounder_rate": 1.2, "identity_scale": 1.5, "pose_scale": 1.2,
                 "noise_correlation": 0.5, "occlusion_rate": 0.1, "frame_drop_rate": 0.02},
    "dynamics": {"pain_rhythm_hz": (0.25, 0.5), "mimic_rate": 1.0, "label_level": "sequence", "noise_scale": 0.25,
                 "level_weights": (1.0, 1.0, 2.0, 2.0)},
}

#: Default mimic dynamics (``SynthConfig.mimic_rhythm_hz``): talking is fast and rhythmic, a
#: grimace builds and releases; pain (``pain_rhythm_hz`` of the ``dynamics`` preset) is slower.
MIMIC_RHYTHMS: dict[str, tuple[float, float]] = {"talking": (3.0, 5.0), "grimace": (1.2, 2.0)}


# ----------------------------------------------------------------------------------------
# Schemes and conversion
# ----------------------------------------------------------------------------------------


def resolve_scheme(species: str, scheme: str | None) -> Scheme:
    """The output scheme: ``None`` -> the species' default; ``"ibug68"`` or ``"human/ibug68"``."""
    if scheme is None:
        return get_scheme(default_scheme(species))
    key = scheme_key(scheme, species)
    out = get_scheme(key)
    if out.species != species:
        raise GeopainError(f"scheme {key} is not a {species} scheme")
    return out


def conversion_matrix(source: Scheme, target: Scheme) -> np.ndarray:
    """``(N_target, N_source)`` weights from the base scheme to an output scheme.

    Uses a declared conversion, or one to the scheme the target is derived from (then keeps
    the derived points), e.g. MediaPipe 468 -> iBUG 68 -> UNBC 66.
    """
    if source.key == target.key:
        return np.eye(source.n_points)
    try:
        return source.conversion_to(target.key)
    except SchemeError:
        if target.derived_from:
            base = conversion_matrix(source, get_scheme(target.derived_from))
            return base[list(target.derived_keep)]
        raise GeopainError(f"cannot simulate {target.key}: no conversion from {source.key}") from None


def _converter(W: np.ndarray):
    """A function ``coords (T, N, 3) -> W @ coords``; a gather when every row picks one source."""
    if W.shape[0] == W.shape[1] and np.array_equal(W, np.eye(W.shape[0])):
        return lambda coords: coords
    if ((W == 0) | (W == 1)).all() and (W.sum(1) == 1).all():
        pick = W.argmax(1)
        return lambda coords: coords[:, pick]
    cols = np.flatnonzero((W != 0).any(0))  # the source points used
    Wc = np.ascontiguousarray(W[:, cols])

    def convert(coords: np.ndarray) -> np.ndarray:
        # one (N_out, n) @ (n, T * 3) product rather than T small ones
        T = coords.shape[0]
        src = coords[:, cols].transpose(1, 0, 2).reshape(len(cols), T * 3)
        return np.ascontiguousarray((Wc @ src).reshape(-1, T, 3).transpose(1, 0, 2))

    return convert


def _single_thread():
    """Small matrix products run fastest on one BLAS thread (and do not fight other jobs)."""
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(1)
    except Exception:  # pragma: no cover - threadpoolctl missing
        import contextlib

        return contextlib.nullcontext()


# ----------------------------------------------------------------------------------------
# Building blocks (vectorised over frames)
# ----------------------------------------------------------------------------------------


def rotation_matrices(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` rotations ``Rz(roll) @ Ry(yaw) @ Rx(pitch)`` from angles in degrees: the
    pose convention of :mod:`geopain.geometry.align`, so simulated poses are what it recovers."""
    from ..geometry.align import rotation_from_angles

    return rotation_from_angles(yaw, pitch, roll)


def envelope(t: np.ndarray, apex_start: float, apex_end: float, onset, offset) -> np.ndarray:
    """``(T,)`` in [0, 1]: raised-cosine rise over ``onset`` s, 1 on the apex, fall over ``offset`` s.

    ``onset`` and ``offset`` may be arrays that broadcast with ``t`` (e.g. ``t[:, None]`` and
    ``(U,)`` per-unit lags give ``(T, U)``).
    """
    t = np.asarray(t, dtype=np.float64)
    onset, offset = np.asarray(onset, dtype=np.float64), np.asarray(offset, dtype=np.float64)
    rise = np.clip((t - (apex_start - onset)) / np.maximum(onset, 1e-9), 0.0, 1.0)
    fall = np.clip(((apex_end + offset) - t) / np.maximum(offset, 1e-9), 0.0, 1.0)
    e = np.minimum(0.5 - 0.5 * np.cos(np.pi * rise), 0.5 - 0.5 * np.cos(np.pi * fall))
    e[np.broadcast_to((t >= apex_start) & (t <= apex_end), e.shape)] = 1.0
    return e


def _uniform(rng: np.random.Generator, lo_hi: Sequence[float]) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1])) if lo_hi[1] > lo_hi[0] else float(lo_hi[0])


def _episode_window(rng: np.random.Generator, timing: Timing, center: float) -> tuple[float, float, float, float]:
    apex = _uniform(rng, timing.apex_s)
    start = center - apex * rng.uniform()
    return start, start + apex, _uniform(rng, timing.onset_s), _uniform(rng, timing.offset_s)


def quantize(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Round half up to integers within [lo, hi] (a coder's FACS / SPFES score)."""
    return np.clip(np.floor(np.asarray(values, dtype=np.float64) + 0.5), lo, hi)


class _Identity:
    """Polynomial identity modes over a scheme's template (cached per spec)."""

    def __init__(self, spec: SynthSpec):
        t = spec.scheme.template
        self.center = t.mean(0)
        half = np.maximum((t.max(0) - t.min(0)) / 2, 1e-9)
        u = (t - self.center) / half
        deg = int(spec.identity.get("degree", 3))
        exps = [(a, b, c) for a in range(deg + 1) for b in range(deg + 1) for c in range(deg + 1) if 1 <= a + b + c <= deg]
        self.exps = np.array(exps)
        self.phi = np.stack([u[:, 0] ** a * u[:, 1] ** b * u[:, 2] ** c for a, b, c in exps], 1)  # (N, J)
        self.sd = 1.0 / self.exps.sum(1)  # lower frequencies vary more
        odd = self.exps[:, 0] % 2 == 1
        # symmetric deformations: x displacement odd in x, y and z displacements even in x
        self.sym_mask = np.stack([odd, ~odd, ~odd], 1)  # (J, 3)
        power = (self.phi ** 2).mean(0)[:, None] * self.sd[:, None] ** 2  # (J, 1) expected mean square
        self.sym_norm = np.sqrt((power * self.sym_mask).sum())
        self.asym_norm = np.sqrt((power * ~self.sym_mask).sum())
        self.sym_rms = float(spec.identity.get("symmetric_rms_cm", 0.0))
        self.asym_rms = float(spec.identity.get("asymmetric_rms_cm", 0.0))
        scheme = spec.scheme
        x = t[:, 0]
        self.groups: list[tuple[list[np.ndarray], float]] = []  # per region: index groups, relative sd
        for region, opts in (spec.identity.get("regions") or {}).items():
            idx = np.asarray(scheme.regions[region], dtype=np.int64)
            sd = float(opts.get("sd", 0.0))
            parts = [idx[x[idx] < -1e-6], idx[x[idx] > 1e-6]] if opts.get("split_sides") else [idx]
            self.groups.append(([p for p in parts if p.size], sd))
        self.template = t

    def sample(self, rng: np.random.Generator, scale: float, region_scale: float = 1.0) -> np.ndarray:
        """``(N, 3)`` a subject's neutral face (template units); ``region_scale`` multiplies the
        regions' relative size variation (generator randomisation)."""
        J = self.phi.shape[1]
        coef = rng.standard_normal((J, 3)) * self.sd[:, None]
        sym = (coef * self.sym_mask) * (self.sym_rms / max(self.sym_norm, 1e-12))
        asym = (coef * ~self.sym_mask) * (self.asym_rms / max(self.asym_norm, 1e-12))
        disp = self.phi @ (sym + asym)
        face = self.template + scale * disp
        for parts, sd in self.groups:
            common = rng.standard_normal()  # both sides of a feature mostly vary together
            for idx in parts:
                s = scale * sd * region_scale * (common + 0.25 * rng.standard_normal())
                centroid = face[idx].mean(0)
                face[idx] = centroid + (1.0 + s) * (face[idx] - centroid)
        return face


_identity_cache: dict[str, _Identity] = {}


def _identity(spec: SynthSpec) -> _Identity:
    key = f"{spec.path}#{id(spec)}"  # a reloaded (edited) spec is a new object
    if key not in _identity_cache:
        _identity_cache[key] = _Identity(spec)
    return _identity_cache[key]


# ----------------------------------------------------------------------------------------
# Pain episodes
# ----------------------------------------------------------------------------------------


def _target_score(rng: np.random.Generator, spec: SynthSpec, weights: np.ndarray, scale=None) -> float:
    """A peak score for a pain episode: a level drawn by ``weights``, then a score within it."""
    scale = spec.scale if scale is None else scale
    cuts = list(scale.level_cut_offs)
    top = spec.max_total if spec.max_total is not None else scale.range[1]
    if not cuts:  # a scale without levels: anywhere above the pain threshold
        lo, hi = scale.binary_threshold, top
    else:
        level = int(rng.choice(np.arange(1, len(cuts) + 1), p=weights))
        lo = cuts[level - 1]
        hi = cuts[level] - 1 if level < len(cuts) else max(top, lo)
    lo_i, hi_i = int(np.ceil(max(lo, scale.binary_threshold + 1e-9))), int(np.floor(hi))
    return float(rng.integers(lo_i, max(lo_i, hi_i) + 1))


def _apex_fractions(spec: SynthSpec, base: np.ndarray, target: float, rng: np.random.Generator,
                    scale=None) -> np.ndarray:
    """Apex intensity fractions ``(U,)`` whose quantised scale total is closest to ``target``.

    The fractions are ``min(1, g * base)``; among the gains ``g`` that come closest, one is drawn
    at random, so latent intensities spread over their label's rounding interval (not biased to
    its lower edge).
    """
    scale = spec.scale if scale is None else scale
    units = list(spec.pain_units)
    maxima = np.array([scale.units[u].max for u in units])
    minima = np.array([scale.units[u].min for u in units])
    gains = np.linspace(0.0, 4.0 / max(base.max(), 1e-6), 400)
    frac = np.clip(gains[:, None] * base[None, :], 0.0, 1.0)  # (G, U)
    q = quantize(frac * maxima, minima, maxima)
    err = np.abs(scale.total_score({u: q[:, i] for i, u in enumerate(units)}) - target)
    best = np.flatnonzero(err == err.min())
    return frac[int(rng.choice(best))]


# ----------------------------------------------------------------------------------------
# The simulator
# ----------------------------------------------------------------------------------------


def simulate(
    species: str = "human",
    n_subjects: int = 10,
    sequences_per_subject: int = 4,
    frames: int = 60,
    seed: int = 0,
    scheme: str | None = None,
    config: SynthConfig | None = None,
) -> list[LandmarkSequence]:
    """Simulate labelled landmark sequences of ``species`` (SIMULATION, not clinical data).

    Returns ``n_subjects * sequences_per_subject`` sequences of ``frames`` frames in ``scheme``
    (default: the species' default scheme, e.g. ``human/ibug68``; ``human/mediapipe468`` keeps
    all 468 points). 3D coordinates in cm (posed, ``units="cm"``) by default; with
    ``config.project`` 2D pixels (``dims=2``, ``units="px"``) as a 2D detector gives.
    Frame labels: ``score``, ``pain``, ``level`` and each pain unit's intensity under its name
    (``AU4``, ... / ``orbital_tightening``, ...). Subject ids ``"S01"``...; sequence ids
    ``"S01_01"``...; the same seed gives identical arrays. Subject ``i`` of a seed is the same
    face whatever ``n_subjects`` is.
    """
    for name, value in (("n_subjects", n_subjects), ("sequences_per_subject", sequences_per_subject)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise GeopainError(f"{name} must be an integer >= 1, got {value!r}")
    sim = Simulator(species, scheme=scheme, config=config, frames=frames)
    return sim.run(int(n_subjects), int(sequences_per_subject), seed=int(seed))


@dataclass
class _SubjectState:
    index: int
    subject: str
    neutral: np.ndarray  # (Nb, 3) neutral face in the base scheme
    style: np.ndarray  # (U,) propensity x the subject's expressiveness per unit
    rest_subject: np.ndarray  # (R,) resting action offsets
    conditions: np.ndarray  # (M,) bool: pain condition per sequence
    generator: "_SubjectGenerator | None" = None  # generator randomisation (variability > 0)

    @property
    def variant(self) -> FaceVariant | None:
        """The subject's randomised actions (None at variability 0: the species' own fields)."""
        return None if self.generator is None else self.generator.variant


#: Entropy word that separates generator-randomisation streams from the base streams
#: ([seed, subject] and [seed, subject, sequence + 1]; a trailing 0 would collide with them), so
#: that variability does not change the conditions and pain intensities (labels) a seed draws.
_VARIATION_STREAM = 0x7A41


@dataclass
class _SubjectGenerator:
    """A subject's randomised generator (step 8): actions, behaviour rates and detector."""

    variant: FaceVariant  # perturbed action fields
    confounder_rate: float  # mean confounder episodes per sequence
    confounder_p: np.ndarray  # (B,) which confounder
    background_rate: float  # multiplies blink rates
    noise_scale: np.ndarray  # (N_out, 1) relative detector noise sd per output landmark
    bias: np.ndarray  # (N_out, 3) systematic detector offset (output units)


class Simulator:
    """A prepared simulator for one species, output scheme, configuration and length.

    :func:`simulate` is ``Simulator(species, scheme, config, frames).run(n_subjects, m, seed)``.
    ``subject(index, m, seed)`` draws one subject and ``sequence(state, j, seed)`` one of its
    sequences, so callers can stream subjects without holding them all.
    """

    def __init__(self, species: str = "human", scheme: str | None = None, config: SynthConfig | None = None,
                 frames: int = 60):
        if isinstance(frames, bool) or int(frames) != frames or frames < 1:
            raise GeopainError(f"frames must be an integer >= 1, got {frames!r}")
        self.config = cfg = (config or SynthConfig()).validate()
        self.species = species
        self.model = model = face_model(species)
        self.spec = spec = model.spec
        self.scale = scale = spec.scale
        self.out_scheme = resolve_scheme(species, scheme)
        W = conversion_matrix(model.scheme, self.out_scheme)
        self.convert = _converter(W)
        n_lv = max(scale.n_levels - 1, 1)
        w = np.ones(n_lv) if cfg.level_weights is None else np.asarray(cfg.level_weights, float)
        if w.shape != (n_lv,):
            raise GeopainError(f"SynthConfig.level_weights: {scale.name} needs {n_lv} weights "
                               f"(levels 1..{n_lv}), got {len(w)}")
        self.level_weights = w / w.sum()
        self.identity = _identity(spec)
        self.units = list(spec.pain_units)
        self.unit_cols = np.array([model.index(spec.pain_units[u]["action"]) for u in self.units])
        self.maxima = np.array([scale.units[u].max for u in self.units])
        self.minima = np.array([scale.units[u].min for u in self.units])
        self.propensity = np.array([spec.pain_units[u]["propensity"] for u in self.units])
        self.expressiveness_sd = spec.expressiveness_sd if cfg.expressiveness_sd is None else cfg.expressiveness_sd
        rest = spec.identity.get("resting") or {}
        self.rest_cols = np.array([model.index(a) for a in rest], dtype=np.int64)
        self.rest_subject_sd = cfg.identity_scale * np.array([float(v.get("subject_sd", 0.0)) for v in rest.values()])
        self.rest_sequence_sd = cfg.identity_scale * np.array([float(v.get("sequence_sd", 0.0)) for v in rest.values()])
        self.confounder_p = _probabilities([b.weight for b in spec.confounders])
        self.occluder_p = _probabilities([o.weight for o in spec.occluders])
        self.occluder_masks = [_occluder_masks(model.scheme, o, W) for o in spec.occluders]
        self.T = int(frames)
        self.t = np.arange(self.T) / cfg.fps
        self.duration = self.T / cfg.fps
        self.center = self.identity.center
        self.width_cm = float(np.ptp(model.scheme.template[:, 0]))
        self.height_cm = float(np.ptp(model.scheme.template[:, 1]))
        if cfg.project:
            self.noise = spec.detector.get("noise_px", 1.0) if cfg.noise_px is None else cfg.noise_px
        else:
            self.noise = spec.detector.get("noise_cm", 0.04) if cfg.noise_cm is None else cfg.noise_cm
        if cfg.noise_scale != 1.0:
            self.noise = self.noise * float(cfg.noise_scale)
        self.variability = float(cfg.variability)
        if self.variability > 0:
            self.landmark_noise = _landmark_noise(spec, W)  # (N_out,) relative detector noise sd
            self.region_scale = 1.0 + 0.5 * self.variability

    def run(self, n_subjects: int, sequences_per_subject: int, seed: int = 0) -> list[LandmarkSequence]:
        seqs = []
        with _single_thread():
            for si in range(n_subjects):
                state = self.subject(si, sequences_per_subject, seed, n_subjects=n_subjects)
                seqs.extend(self.sequence(state, qi, seed) for qi in range(sequences_per_subject))
        return seqs

    def subject(self, index: int, sequences_per_subject: int, seed: int = 0,
                n_subjects: int | None = None) -> _SubjectState:
        """Draw subject ``index`` (its face, expressiveness, resting posture, conditions)."""
        cfg = self.config
        rng = np.random.default_rng([int(seed), int(index)])
        v = self.variability
        neutral = self.identity.sample(rng, cfg.identity_scale, self.region_scale if v > 0 else 1.0)
        style = self.propensity * np.exp(self.expressiveness_sd * rng.standard_normal(len(self.units)))
        rest = self.rest_subject_sd * rng.standard_normal(len(self.rest_cols))
        m = int(sequences_per_subject)
        n_pain = int(np.floor(cfg.pain_prevalence * m))
        n_pain += int(rng.uniform() < cfg.pain_prevalence * m - n_pain)  # stochastic rounding
        conditions = np.zeros(m, bool)
        conditions[rng.permutation(m)[:n_pain]] = True
        width = max(2, len(str(n_subjects or index + 1)))
        generator = self._generator(int(seed), int(index)) if v > 0 else None
        return _SubjectState(int(index), f"S{index + 1:0{width}d}", neutral, style, rest, conditions, generator)

    def _generator(self, seed: int, index: int) -> _SubjectGenerator:
        """Step 8: a subject's randomised actions, behaviour rates and detector (own stream)."""
        v, spec = self.variability, self.spec
        rng = np.random.default_rng([seed, index, 0, _VARIATION_STREAM])
        variant = self.model.perturb(rng, v)
        rate = self.config.confounder_rate * float(np.exp(v * 0.5 * rng.standard_normal()))
        p = _probabilities(np.array([b.weight for b in spec.confounders]) *
                           np.exp(v * 0.5 * rng.standard_normal(len(spec.confounders))))
        background = float(np.exp(v * 0.3 * rng.standard_normal()))
        n = self.landmark_noise.size
        scale = self.landmark_noise ** v * np.exp(v * 0.2 * rng.standard_normal(n))
        bias = (0.5 * v * self.noise) * scale[:, None] * rng.standard_normal((n, 3))
        return _SubjectGenerator(variant, rate, p, background, scale[:, None], bias)

    def sequence(self, state: _SubjectState, index: int, seed: int = 0) -> LandmarkSequence:
        """Simulate sequence ``index`` of a subject."""
        cfg, T = self.config, self.T
        rng = np.random.default_rng([int(seed), state.index, int(index) + 1])
        gen = state.generator
        pain = bool(state.conditions[index])
        S = np.zeros((T, len(self.model.actions)))
        if pain:
            unit_frac = self._pain(rng, state.style) if cfg.pain_rhythm_hz is None else \
                self._rhythm(rng, state.style, cfg.pain_rhythm_hz)
        else:
            unit_frac = np.zeros((T, len(self.units)))
        S[:, self.unit_cols] = unit_frac
        mimic = None
        if not pain and cfg.mimic_rate > 0 and rng.uniform() < cfg.mimic_rate:
            kinds = cfg.mimic_rhythm_hz or MIMIC_RHYTHMS
            mimic = sorted(kinds)[int(rng.integers(len(kinds)))]
            S[:, self.unit_cols] += self._rhythm(rng, state.style, kinds[mimic])  # not in the labels
        names = self._behaviour(rng, S, gen)
        np.clip(S, 0.0, 1.0, out=S)
        if len(self.rest_cols):  # resting posture (unlabelled), varying a little per sequence
            S[:, self.rest_cols] += state.rest_subject + self.rest_sequence_sd * rng.standard_normal(len(self.rest_cols))
        coords = self.convert(self.model.deform(state.neutral, S, state.variant))  # (T, N, 3) in the output scheme
        detector = None
        if gen is not None:  # this sequence's detector noise level: log-uniform 1/2-2x at variability 1
            vrng = np.random.default_rng([int(seed), state.index, int(index) + 1, _VARIATION_STREAM])
            level = float(np.exp(self.variability * vrng.uniform(-np.log(2.0), np.log(2.0))))
            detector = (self.noise * level, gen.noise_scale, gen.bias)
        out, meta = self._pose_and_camera(rng, coords, detector)
        meta.update(simulated=True, generator="geopain.synth", condition="pain" if pain else "no_pain",
                    confounders=names, seed=int(seed))
        if mimic is not None:
            meta["mimic"] = mimic
        self._missing(rng, out, meta)
        labels, seq_labels = self._labels(unit_frac)
        if cfg.label_level == "sequence":
            labels.update({k: np.full(T, float(seq_labels[k])) for k in ("pain", "level", "score")})
        valid = np.isfinite(out[..., :2]).all(-1)
        return LandmarkSequence(
            coords=out.astype(np.float32),
            scheme=self.out_scheme.key,
            confidence=valid.astype(np.float32),
            frame_confidence=valid.any(1).astype(np.float32),
            fps=cfg.fps,
            subject=state.subject,
            sequence=f"{state.subject}_{index + 1:02d}",
            labels=labels,
            sequence_labels=seq_labels,
            dims=2 if cfg.project else 3,
            units="px" if cfg.project else "cm",
            detector="synth",
            detector_version=f"geopain-{__version__}",
            source=f"simulated:{self.species}:seed={int(seed)}",
            meta=meta,
        )

    # -- steps ---------------------------------------------------------------------------
    def _pain(self, rng: np.random.Generator, style: np.ndarray) -> np.ndarray:
        """``(T, U)`` unit intensities (fractions of each unit's maximum) of a pain sequence."""
        spec, t, T = self.spec, self.t, self.T
        unit_frac = np.zeros((T, len(self.units)))
        n_ep = int(rng.integers(spec.episodes[0], spec.episodes[1] + 1))
        first = _target_score(rng, spec, self.level_weights, self.scale)
        for e in range(n_ep):
            target = first if e == 0 else float(rng.integers(1, int(first) + 1))
            jitter = np.exp(spec.episode_jitter_sd * rng.standard_normal(len(self.units)))
            apex = _apex_fractions(spec, style * jitter, target, rng, self.scale)
            # the first episode's apex covers a random frame: every pain sequence reaches it
            center = t[rng.integers(T)] if e == 0 else rng.uniform(0, self.duration)
            a0, a1, on, off = _episode_window(rng, spec.pain_timing, center)
            lags = rng.uniform(0, spec.pain_timing.lag_s, len(self.units))
            env = envelope(t[:, None], a0, a1, on + lags, np.maximum(off - lags, 1e-3))  # (T, U)
            unit_frac = np.maximum(unit_frac, apex[None] * env)
        return unit_frac

    def _rhythm(self, rng: np.random.Generator, style: np.ndarray, hz: Sequence[float]) -> np.ndarray:
        """``(T, U)`` a pain apex (drawn as :meth:`_pain` draws one) that builds and releases as a
        raised cosine of a frequency drawn in ``hz`` with a random phase (units lag a little)."""
        spec = self.spec
        target = _target_score(rng, spec, self.level_weights, self.scale)
        jitter = np.exp(spec.episode_jitter_sd * rng.standard_normal(len(self.units)))
        apex = _apex_fractions(spec, style * jitter, target, rng, self.scale)
        f = _uniform(rng, hz)
        apex_time = self.t[rng.integers(self.T)]  # the apex falls on a random frame: every sequence reaches it
        lags = rng.uniform(0, spec.pain_timing.lag_s, len(self.units))
        phase = np.pi - 2 * np.pi * f * (apex_time + lags)
        return apex[None] * (0.5 - 0.5 * np.cos(2 * np.pi * f * self.t[:, None] + phase[None]))

    def _behaviour(self, rng: np.random.Generator, S: np.ndarray, gen: _SubjectGenerator | None = None) -> list[str]:
        """Add confounders (Poisson count) and background behaviour to ``S``; their names."""
        cfg, spec = self.config, self.spec
        names: list[str] = []
        rate, p = (cfg.confounder_rate, self.confounder_p) if gen is None else (gen.confounder_rate, gen.confounder_p)
        if len(spec.confounders) and rate > 0:
            for _ in range(int(rng.poisson(rate))):
                b = spec.confounders[int(rng.choice(len(spec.confounders), p=p))]
                names.append(b.name)
                _add_behaviour(S, self.model, b, rng, self.t, self.duration)
        if cfg.blinks:
            for b in spec.background:
                _add_behaviour(S, self.model, b, rng, self.t, self.duration,
                               1.0 if gen is None else gen.background_rate)
        return names

    def _pose_and_camera(self, rng: np.random.Generator, coords: np.ndarray,
                         detector: tuple[float, np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Head pose, camera and detector noise; ``detector``: (sd, per-landmark scale, bias) of a
        randomised detector (step 8), else the configured noise."""
        cfg, pose = self.config, self.spec.pose
        ps = cfg.pose_scale
        base = [ps * rng.uniform(-1, 1) * pose.get(k, 0.0) for k in ("yaw_deg", "pitch_deg", "roll_deg")]
        motion = ps * pose.get("motion_deg", 0.0)
        yaw, pitch, roll = (b + _smooth_motion(rng, self.t, motion) for b in base)
        R = rotation_matrices(yaw, pitch, roll)
        posed = (coords - self.center) @ R.transpose(0, 2, 1)  # about the face centre, at the origin
        meta: dict[str, Any] = {
            "true_pose": {"yaw": yaw.round(3).tolist(), "pitch": pitch.round(3).tolist(), "roll": roll.round(3).tolist()},
            "pose_convention": POSE_CONVENTION, "occluder": None,
        }
        if cfg.project:
            out, cam = _project(posed, rng, cfg, self.width_cm, self.height_cm)
            meta.update(cam)
        else:
            shift = rng.normal(0.0, cfg.translation_scale * pose.get("translation_cm", 0.0), 3)
            out = posed + self.center + shift
            meta["translation_cm"] = shift.round(4).tolist()
        if detector is not None:
            sd, scale, bias = detector
            if sd > 0:
                out = out + _noise(rng, out.shape, sd, cfg.noise_correlation) * scale + bias
            meta["detector_noise"] = round(sd, 6)
        elif self.noise > 0:
            out = out + _noise(rng, out.shape, self.noise, cfg.noise_correlation)
        if cfg.project:
            out[..., 2] = np.nan
            w, h = cfg.image_size
            inside = (out[..., 0] >= 0) & (out[..., 0] <= w) & (out[..., 1] >= 0) & (out[..., 1] <= h)
            out[~inside] = np.nan
        return out, meta

    def _missing(self, rng: np.random.Generator, out: np.ndarray, meta: dict[str, Any]) -> None:
        """Occluders, dropped points and dropped frames (NaN), in place."""
        cfg, spec, T, t = self.config, self.spec, self.T, self.t
        if len(spec.occluders) and rng.uniform() < cfg.occlusion_rate:
            oi = int(rng.choice(len(spec.occluders), p=self.occluder_p))
            occ = spec.occluders[oi]
            side = occ.side if occ.side != "random" else ("right", "left")[int(rng.integers(2))]
            pts = self.occluder_masks[oi][side]
            if occ.whole_sequence:
                rows = np.ones(T, bool)
            else:
                a0, a1, _, _ = _episode_window(rng, Timing(apex_s=occ.duration_s), rng.uniform(0, self.duration))
                rows = (t >= a0) & (t <= a1)
                if not rows.any():
                    rows[int(np.clip(round(a0 * cfg.fps), 0, T - 1))] = True
            out[np.ix_(rows, pts)] = np.nan
            meta["occluder"] = occ.name if occ.side != "random" else f"{occ.name}:{side}"
            meta["occluded_frames"] = np.flatnonzero(rows).tolist()
            meta["occluded_points"] = np.flatnonzero(pts).tolist()
        if cfg.drop_rate > 0:
            out[rng.uniform(size=out.shape[:2]) < cfg.drop_rate] = np.nan
        if cfg.frame_drop_rate > 0:
            out[rng.uniform(size=T) < cfg.frame_drop_rate] = np.nan

    def _labels(self, unit_frac: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Frame labels from the scale's formula and the sequence labels from the peak score."""
        scale = self.scale
        latent = unit_frac * self.maxima
        values = quantize(latent, self.minima, self.maxima) if self.config.quantize_labels else latent
        labels = {u: values[:, i] for i, u in enumerate(self.units)}
        score = np.asarray(scale.total_score(labels), dtype=np.float64)
        labels.update(score=score, pain=scale.binary(score), level=scale.level(score))
        peak = float(score.max())
        seq = {"pain": int(scale.binary(peak)), "level": int(scale.level(peak)), "score": peak,
               "mean_score": float(score.mean())}
        return labels, seq


def _noise(rng: np.random.Generator, shape: tuple[int, ...], sd: float, rho: float) -> np.ndarray:
    """Gaussian noise ``shape (T, ...)`` with sd ``sd``, AR(1)-correlated over frames by ``rho``."""
    w = rng.normal(0.0, sd, shape)
    if rho <= 0 or shape[0] < 2:
        return w
    from scipy.signal import lfilter

    # stationary AR(1): e_0 = w_0, e_t = rho e_(t-1) + sqrt(1 - rho^2) w_t
    k = np.sqrt(1.0 - rho * rho)
    return lfilter([k], [1.0, -rho], w, axis=0, zi=(1.0 - k) * w[:1])[0]


def _probabilities(weights: Sequence[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum() if w.size and w.sum() > 0 else np.full(w.size, 1.0 / max(w.size, 1))


def _smooth_motion(rng: np.random.Generator, t: np.ndarray, amplitude: float) -> np.ndarray:
    """``(T,)`` smooth head motion: two sinusoids of 0.1-0.6 Hz with random phase."""
    if amplitude <= 0:
        return np.zeros_like(t)
    f = rng.uniform(0.1, 0.6, 2)
    a = amplitude * rng.uniform(0.3, 1.0, 2) / np.sqrt(2)
    ph = rng.uniform(0, 2 * np.pi, 2)
    return (a[:, None] * np.sin(2 * np.pi * f[:, None] * t[None] + ph[:, None])).sum(0)


def _add_behaviour(S: np.ndarray, model: FaceModel, b: Behaviour, rng: np.random.Generator,
                   t: np.ndarray, duration: float, rate_factor: float = 1.0) -> None:
    """Add one occurrence of a behaviour's action intensities to ``S (T, K)`` in place."""
    cols = [model.index(a) for a in b.actions]
    strength = np.array(list(b.actions.values()))
    if b.pattern == "blinks":
        rate = _uniform(rng, b.rate_hz) * rate_factor
        n = int(rng.poisson(rate * max(duration, 1e-9)))
        env = np.zeros_like(t)
        for c in rng.uniform(0, duration, n):
            d = _uniform(rng, b.duration_s)
            env = np.maximum(env, _uniform(rng, b.peak) * envelope(t, c, c, d / 2, d / 2))
    else:
        a0, a1, on, off = _episode_window(rng, b.timing, rng.uniform(0, duration))
        env = _uniform(rng, b.peak) * envelope(t, a0, a1, on, off)
        if b.pattern == "oscillation":
            f = _uniform(rng, b.frequency_hz)
            env = env * (0.5 - 0.5 * np.cos(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)))
    S[:, cols] += env[:, None] * strength[None]


def _landmark_noise(spec: SynthSpec, W: np.ndarray) -> np.ndarray:
    """``(N_out,)`` relative detector noise sd of the output landmarks from the YAML's
    ``detector.landmark_noise`` (base-scheme regions or landmarks; 1 elsewhere)."""
    scheme = spec.scheme
    base = np.ones(scheme.n_points)
    names = {nm: i for i, nm in enumerate(scheme.landmarks)}
    for key, value in spec.landmark_noise.items():
        idx = scheme.regions[key] if key in scheme.regions else [names[key] if key in names else int(key)]
        base[list(idx)] = value
    weights = np.abs(W)
    return (weights @ base) / np.maximum(weights.sum(1), 1e-12)


def _occluder_masks(scheme: Scheme, occ, W: np.ndarray) -> dict[str, np.ndarray]:
    """Output-scheme masks of an occluder per side: a point is hidden if any source is."""
    x = scheme.template[:, 0]
    idx = np.asarray(occ.landmarks, dtype=np.int64)
    masks = {}
    for side, keep in (("both", np.ones(idx.size, bool)), ("right", x[idx] < 1e-6), ("left", x[idx] > -1e-6)):
        base = np.zeros(scheme.n_points, bool)
        base[idx[keep]] = True
        masks[side] = (W[:, base] > 0).any(1)
    return masks


def _project(posed: np.ndarray, rng: np.random.Generator, cfg: SynthConfig, width_cm: float,
             height_cm: float) -> tuple[np.ndarray, dict[str, Any]]:
    """Pinhole projection of faces centred at the origin (template axes) to pixels."""
    w, h = cfg.image_size
    f = float(cfg.focal_px or w)
    cx, cy = w / 2.0, h / 2.0
    face_px = _uniform(rng, cfg.face_size_px)
    dist = f * width_cm / face_px  # camera distance (cm) giving that face width
    face_h = face_px * height_cm / width_cm
    mx, my = 0.6 * face_px, 0.6 * face_h
    u0 = rng.uniform(mx, w - mx) if w > 2 * mx else cx
    v0 = rng.uniform(my, h - my) if h > 2 * my else cy
    # camera looks at the face along -z; image x = subject's left, image y = down
    xc = posed[..., 0] + (u0 - cx) * dist / f
    yc = -posed[..., 1] + (v0 - cy) * dist / f
    zc = dist - posed[..., 2]
    out = np.stack([cx + f * xc / zc, cy + f * yc / zc, np.full_like(xc, np.nan)], -1)
    meta = {"image_size": [int(w), int(h)], "focal_px": f, "camera_distance_cm": round(dist, 3),
            "face_size_px": round(face_px, 2)}
    return out, meta


def express(
    species: str = "human",
    intensities: Mapping[str, Any] | None = None,
    *,
    neutral: np.ndarray | None = None,
    scheme: str | None = None,
    variant: FaceVariant | None = None,
) -> np.ndarray:
    """``(T, N, 3)`` faces (template cm, frontal, no noise) showing the given intensities.

    ``intensities`` maps a pain-unit name (``"AU4"``, ``"orbital_tightening"``; values on the
    unit's scale, e.g. FACS 0-5) or an action name of the species' ``synth.yaml`` (``"AU12"``;
    fractions 0-1) to a scalar or a ``(T,)`` array. ``neutral``: the base scheme's neutral face
    (default: the template). ``scheme``: output scheme (default: the species' default).
    ``variant``: a subject's randomised actions (``FaceModel.perturb``, or ``Simulator.subject(...)
    .variant`` at ``variability`` > 0); default: the species' own fields.
    """
    model = face_model(species)
    spec = model.spec
    scale = spec.scale
    out_scheme = resolve_scheme(species, scheme)
    items = dict(intensities or {})
    T = max([np.size(v) for v in items.values()] + [1])
    S = np.zeros((T, len(model.actions)))
    for name, value in items.items():
        v = np.broadcast_to(np.asarray(value, dtype=np.float64), (T,)) if np.ndim(value) <= 1 else None
        if v is None:
            raise GeopainError(f"intensity of {name!r} must be a scalar or a (T,) array")
        if name in spec.pain_units:
            S[:, model.index(spec.pain_units[name]["action"])] += v / scale.units[name].max
        else:
            S[:, model.index(name)] += v
    base_neutral = model.scheme.template if neutral is None else np.asarray(neutral, dtype=np.float64)
    face = model.deform(base_neutral, S, variant)
    return _converter(conversion_matrix(model.scheme, out_scheme))(face)


def action_support(species: str, name: str, scheme: str | None = None) -> np.ndarray:
    """``(N,)`` bool: the output scheme's landmarks that a pain unit or action can move."""
    model = face_model(species)
    spec = model.spec
    action = spec.pain_units[name]["action"] if name in spec.pain_units else name
    base = model.support(action)
    W = conversion_matrix(model.scheme, resolve_scheme(species, scheme))
    return (W[:, base] > 0).any(1)
