"""The simulator's declarative species definitions (``species/<species>/synth.yaml``).

A :class:`SynthSpec` holds what a species' simulated face can do: its actions (displacement
fields on landmarks), how the units of its pain scale are expressed, confounding behaviour
that is not pain, identity variation, head pose ranges and occluders. :func:`load_spec` reads
and validates the YAML; :class:`FaceModel` compiles the actions of one spec over its base
scheme into arrays, and deforms a neutral face by action intensities, vectorised over frames.
:meth:`FaceModel.perturb` draws a :class:`FaceVariant`: the same actions with randomised fields
(direction, extent, falloff radius, an extra component on neighbours, lid closure amounts, rotation
axes and angles), so that a subject's geometry-to-intensity mapping is its own (generator
randomisation, ``SynthConfig.variability``).

This module describes SIMULATION only; nothing here is clinical data.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import SchemeError
from ..species import PainScale, Scheme, get_scheme, species_dirs

#: Temporal patterns a behaviour can follow.
PATTERNS = ("episode", "oscillation", "blinks")


@dataclass(frozen=True)
class Timing:
    """Episode timing ranges in seconds: onset (rise), apex (plateau), offset (fall)."""

    onset_s: tuple[float, float] = (0.3, 0.8)
    apex_s: tuple[float, float] = (0.4, 1.5)
    offset_s: tuple[float, float] = (0.3, 1.0)
    lag_s: float = 0.0


@dataclass(frozen=True)
class Behaviour:
    """A confounder or background behaviour: which actions, with which temporal pattern."""

    name: str
    actions: dict[str, float]
    pattern: str
    weight: float = 1.0
    peak: tuple[float, float] = (0.5, 1.0)
    timing: Timing = Timing()
    frequency_hz: tuple[float, float] = (3.0, 5.0)
    rate_hz: tuple[float, float] = (0.2, 0.4)
    duration_s: tuple[float, float] = (0.1, 0.3)


@dataclass(frozen=True)
class Occluder:
    name: str
    landmarks: tuple[int, ...]  # base-scheme indices (both sides when side is random)
    weight: float = 1.0
    side: str = "both"  # both | right | left | random
    whole_sequence: bool = True
    duration_s: tuple[float, float] = (0.5, 1.5)
    description: str = ""


@dataclass(frozen=True)
class SynthSpec:
    """A species' simulator definition (see ``species/human/synth.yaml`` for the format)."""

    species: str
    base_scheme: str
    path: str
    cutoff: float
    fixed: tuple[int, ...]  # landmarks no anchor field moves (e.g. eye corners, held by ligaments)
    actions: dict[str, dict[str, Any]]  # name -> raw definition (fields resolved to indices)
    pain_units: dict[str, dict[str, Any]]  # scale unit -> {action, propensity}
    expressiveness_sd: float
    episode_jitter_sd: float
    episodes: tuple[int, int]
    max_total: float | None
    pain_timing: Timing
    confounders: tuple[Behaviour, ...]
    background: tuple[Behaviour, ...]
    identity: dict[str, Any]
    pose: dict[str, float]
    occluders: tuple[Occluder, ...]
    detector: dict[str, float]  # default detector noise: noise_cm (3D), noise_px (2D)
    #: relative detector noise sd per base-scheme region or landmark (e.g. the jaw contour is
    #: noisier); applied with generator randomisation (``SynthConfig.variability``) only
    landmark_noise: dict[str, float] = field(default_factory=dict)

    @property
    def scheme(self) -> Scheme:
        return get_scheme(self.base_scheme)

    @property
    def scale(self) -> PainScale:
        scale = self.scheme.pain_scale
        if scale is None:  # pragma: no cover - validated at load
            raise SchemeError(f"{self.path}: {self.base_scheme} has no pain scale")
        return scale


# ----------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------


def spec_path(species: str) -> Path:
    """The ``synth.yaml`` of ``species`` (package folder first, then extra species folders)."""
    for d in species_dirs():
        p = Path(d) / species / "synth.yaml"
        if p.is_file():
            return p
    known = sorted({p.parent.name for d in species_dirs() if Path(d).is_dir() for p in Path(d).glob("*/synth.yaml")})
    raise SchemeError(f"no simulator definition for species {species!r} (species/{species}/synth.yaml); "
                      f"simulated species: {known}")


def available_species() -> list[str]:
    """Species that have a simulator definition."""
    return sorted({p.parent.name for d in species_dirs() if Path(d).is_dir() for p in Path(d).glob("*/synth.yaml")})


@functools.lru_cache(maxsize=None)
def _load_cached(path: str, mtime: float) -> SynthSpec:
    return _parse(Path(path))


def load_spec(species_or_path: str | os.PathLike) -> SynthSpec:
    """Read and validate a simulator definition, by species name or file path."""
    p = Path(species_or_path)
    path = p if p.suffix in (".yaml", ".yml") else spec_path(str(species_or_path))
    if not path.is_file():
        raise SchemeError(f"{path}: no such simulator definition")
    return _load_cached(str(path.resolve()), path.stat().st_mtime)


def _range(value: Any, where: str, what: str, lo: float | None = 0.0) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        value = [value, value]
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SchemeError(f"{where}: {what} must be a number or a [low, high] pair, got {value!r}") from None
    if b < a or (lo is not None and a < lo):
        raise SchemeError(f"{where}: {what} range {value!r} is not increasing and >= {lo}")
    return a, b


def _timing(spec: Any, where: str, default: Timing = Timing()) -> Timing:
    if spec is None:
        return default
    if not isinstance(spec, dict):
        raise SchemeError(f"{where}: timing must be a mapping")
    return Timing(
        onset_s=_range(spec.get("onset_s", default.onset_s), where, "onset_s"),
        apex_s=_range(spec.get("apex_s", default.apex_s), where, "apex_s"),
        offset_s=_range(spec.get("offset_s", default.offset_s), where, "offset_s"),
        lag_s=float(spec.get("lag_s", default.lag_s)),
    )


def _parse(path: Path) -> SynthSpec:
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SchemeError(f"{where}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise SchemeError(f"{where}: expected a mapping")
    for key in ("species", "base_scheme", "actions", "pain"):
        if key not in data:
            raise SchemeError(f"{where}: missing '{key}'")
    scheme = get_scheme(str(data["base_scheme"]))
    if scheme.pain_scale is None:
        raise SchemeError(f"{where}: base scheme {scheme.key} has no pain scale")
    lookup = {nm: i for i, nm in enumerate(scheme.landmarks)}

    def resolve(item: Any) -> int:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 0 <= int(item) < scheme.n_points:
            return int(item)
        if isinstance(item, str) and item in lookup:
            return lookup[item]
        raise SchemeError(f"{where}: unknown landmark {item!r} in {scheme.key}")

    actions: dict[str, dict[str, Any]] = {}
    raw_actions = data["actions"]
    if not isinstance(raw_actions, dict) or not raw_actions:
        raise SchemeError(f"{where}: 'actions' must map action names to definitions")
    for name, a in raw_actions.items():
        if not isinstance(a, dict):
            raise SchemeError(f"{where}: action {name!r} must be a mapping")
        if "like" in a:
            continue
        fields = a.get("fields")
        if not isinstance(fields, list) or not fields:
            raise SchemeError(f"{where}: action {name!r} needs a non-empty 'fields' list (or 'like')")
        actions[name] = {"description": str(a.get("description", "")),
                         "fields": [_parse_field(f, resolve, f"{where}: action {name!r}") for f in fields]}
    for name, a in raw_actions.items():
        if isinstance(a, dict) and "like" in a:
            if a["like"] not in actions:
                raise SchemeError(f"{where}: action {name!r} is like unknown action {a['like']!r}")
            actions[name] = {"description": str(a.get("description", "")), "fields": actions[a["like"]]["fields"]}

    scale = scheme.pain_scale
    pain = data["pain"]
    units = pain.get("units") if isinstance(pain, dict) else None
    if not isinstance(units, dict):
        raise SchemeError(f"{where}: 'pain.units' must map the scale's units to actions")
    if set(units) != set(scale.units):
        raise SchemeError(f"{where}: pain.units {sorted(units)} must be exactly the units of {scale.name} "
                          f"{sorted(scale.units)}")
    pain_units = {}
    for u, v in units.items():
        if not isinstance(v, dict) or v.get("action") not in actions:
            raise SchemeError(f"{where}: pain unit {u!r} needs an 'action' defined under actions")
        pain_units[u] = {"action": v["action"], "propensity": float(v.get("propensity", 1.0))}
    episodes = tuple(int(x) for x in _range(pain.get("episodes", [1, 1]), where, "pain.episodes", lo=1))

    def behaviours(section: str) -> tuple[Behaviour, ...]:
        out = []
        for name, b in (data.get(section) or {}).items():
            w = f"{where}: {section}.{name}"
            if not isinstance(b, dict) or not isinstance(b.get("actions"), dict) or not b["actions"]:
                raise SchemeError(f"{w}: needs 'actions' mapping action names to strengths")
            for act in b["actions"]:
                if act not in actions:
                    raise SchemeError(f"{w}: unknown action {act!r}")
            pattern = b.get("pattern", "episode")
            if pattern not in PATTERNS:
                raise SchemeError(f"{w}: pattern must be one of {PATTERNS}, got {pattern!r}")
            out.append(Behaviour(
                name=name, actions={k: float(v) for k, v in b["actions"].items()}, pattern=pattern,
                weight=float(b.get("weight", 1.0)), peak=_range(b.get("peak", [0.5, 1.0]), w, "peak"),
                timing=_timing(b.get("timing"), w),
                frequency_hz=_range(b.get("frequency_hz", [3.0, 5.0]), w, "frequency_hz"),
                rate_hz=_range(b.get("rate_hz", [0.2, 0.4]), w, "rate_hz"),
                duration_s=_range(b.get("duration_s", [0.1, 0.3]), w, "duration_s"),
            ))
        return tuple(out)

    occluders = []
    for name, o in (data.get("occluders") or {}).items():
        w = f"{where}: occluders.{name}"
        if not isinstance(o, dict):
            raise SchemeError(f"{w}: must be a mapping")
        idx: set[int] = set()
        for r in o.get("regions", []) or []:
            if r not in scheme.regions:
                raise SchemeError(f"{w}: {scheme.key} has no region {r!r}")
            idx.update(scheme.regions[r])
        idx.update(resolve(i) for i in o.get("landmarks", []) or [])
        if not idx:
            raise SchemeError(f"{w}: covers no landmarks (give regions and/or landmarks)")
        side = str(o.get("side", "both"))
        if side not in ("both", "right", "left", "random"):
            raise SchemeError(f"{w}: side must be both, right, left or random")
        occluders.append(Occluder(name, tuple(sorted(idx)), float(o.get("weight", 1.0)), side,
                                  bool(o.get("whole_sequence", False)),
                                  _range(o.get("duration_s", [0.5, 1.5]), w, "duration_s"),
                                  str(o.get("description", ""))))

    identity = dict(data.get("identity") or {})
    for r in (identity.get("regions") or {}):
        if r not in scheme.regions:
            raise SchemeError(f"{where}: identity region {r!r} not in {scheme.key}")
    resting = identity.get("resting") or {}
    if not isinstance(resting, dict):
        raise SchemeError(f"{where}: identity.resting must map actions to subject_sd / sequence_sd")
    for act, v in resting.items():
        if act not in actions or not isinstance(v, dict):
            raise SchemeError(f"{where}: identity.resting: {act!r} must be an action with subject_sd / sequence_sd")
    pose = {k: float(v) for k, v in (data.get("pose") or {}).items()}
    detector = data.get("detector") or {}
    if not isinstance(detector, dict):
        raise SchemeError(f"{where}: detector must be a mapping")
    landmark_noise = detector.get("landmark_noise") or {}
    if not isinstance(landmark_noise, dict):
        raise SchemeError(f"{where}: detector.landmark_noise must map regions or landmarks to relative noise sd")
    for key, value in landmark_noise.items():
        if key not in scheme.regions:
            resolve(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise SchemeError(f"{where}: detector.landmark_noise.{key} must be a number > 0, got {value!r}")
    landmark_noise = {str(k): float(v) for k, v in landmark_noise.items()}
    return SynthSpec(
        species=str(data["species"]), base_scheme=scheme.key, path=where, cutoff=float(data.get("cutoff", 0.05)),
        fixed=tuple(sorted({resolve(i) for i in (data.get("fixed") or [])} | {int(scheme.flip_index[resolve(i)])
                                                                             for i in (data.get("fixed") or [])})),
        actions=actions, pain_units=pain_units,
        expressiveness_sd=float(pain.get("expressiveness_sd", 0.5)),
        episode_jitter_sd=float(pain.get("episode_jitter_sd", 0.2)),
        episodes=(episodes[0], episodes[1]),
        max_total=float(pain["max_total"]) if pain.get("max_total") is not None else None,
        pain_timing=_timing(pain.get("timing"), f"{where}: pain"),
        confounders=behaviours("confounders"), background=behaviours("background"),
        identity=identity, pose=pose, occluders=tuple(occluders),
        detector={k: float(v) for k, v in detector.items() if k != "landmark_noise"},
        landmark_noise=landmark_noise,
    )


def _vec3(value: Any, where: str, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.shape != (3,) or not np.isfinite(arr).all():
        raise SchemeError(f"{where}: {what} must be three numbers, got {value!r}")
    return arr


def _parse_field(f: Any, resolve, where: str) -> dict[str, Any]:
    if not isinstance(f, dict):
        raise SchemeError(f"{where}: each field must be a mapping")
    kinds = [k for k in ("anchors", "toward", "rotate") if k in f]
    if len(kinds) != 1:
        raise SchemeError(f"{where}: a field needs exactly one of 'anchors', 'toward' or 'rotate'")
    kind = kinds[0]
    out: dict[str, Any] = {"kind": kind, "mirror": bool(f.get("mirror", False)),
                           "symmetric": bool(f.get("symmetric", False))}
    if out["mirror"] and out["symmetric"]:
        raise SchemeError(f"{where}: a field is either mirror or symmetric, not both")
    if kind == "anchors":
        out["anchors"] = [resolve(i) for i in f["anchors"]]
        out["displacement"] = _vec3(f.get("displacement"), where, "displacement")
        out["radius"] = float(f.get("radius", 0.0))
        if out["radius"] < 0:
            raise SchemeError(f"{where}: radius must be >= 0")
        if out["symmetric"] and out["displacement"][0] != 0:
            raise SchemeError(f"{where}: a symmetric field needs displacement x = 0")
    elif kind == "toward":
        pairs = []
        for p in f["toward"]:
            if not isinstance(p, list) or len(p) != 2:
                raise SchemeError(f"{where}: toward entry {p!r} must be [moving, target]")
            tgt = p[1] if isinstance(p[1], list) else [p[1]]
            pairs.append((resolve(p[0]), tuple(resolve(t) for t in tgt)))
        out["pairs"] = pairs
        out["fraction"] = float(f.get("fraction", 1.0))
        out["cap"] = float(f.get("cap", 1.0))
        if out["symmetric"]:
            raise SchemeError(f"{where}: toward fields use mirror, not symmetric")
    else:
        r = f["rotate"]
        if not isinstance(r, dict) or "points" not in r or "pivot" not in r:
            raise SchemeError(f"{where}: rotate needs points, pivot, axis and degrees")
        out["points"] = [resolve(i) for i in r["points"]]
        out["pivot"] = resolve(r["pivot"])
        axis = _vec3(r.get("axis"), where, "rotate.axis")
        if np.linalg.norm(axis) == 0:
            raise SchemeError(f"{where}: rotate.axis is zero")
        out["axis"] = axis / np.linalg.norm(axis)
        out["degrees"] = float(r.get("degrees", 0.0))
        if out["symmetric"]:
            raise SchemeError(f"{where}: rotate fields use mirror, not symmetric")
    return out


# ----------------------------------------------------------------------------------------
# The compiled face model
# ----------------------------------------------------------------------------------------


def geodesic_distances(scheme: Scheme, sources: list[int]) -> np.ndarray:
    """``(N,)`` shortest-path distance (template units) over the scheme's edges to the nearest source."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    t, e = scheme.template, scheme.edges
    length = np.linalg.norm(t[e[:, 0]] - t[e[:, 1]], axis=1)
    n = scheme.n_points
    graph = coo_matrix((np.r_[length, length], (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), shape=(n, n))
    return dijkstra(graph.tocsr(), directed=False, indices=sorted(set(sources)), min_only=True)


def axis_angle_matrices(axis: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` rotations about a unit ``axis`` by ``degrees (T,)`` (Rodrigues)."""
    th = np.radians(np.asarray(degrees, dtype=float))
    k = np.asarray(axis, dtype=float)
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    s, c = np.sin(th)[:, None, None], np.cos(th)[:, None, None]
    return np.eye(3)[None] + s * K[None] + (1 - c) * (K @ K)[None]


#: Generator randomisation (:meth:`FaceModel.perturb`), at ``variability`` 1 (scaled linearly):
#: direction tilt of displacement fields and rotation axes (degrees: ``sd * |g|`` for a 2D
#: standard normal ``g``, at most ``max``), log-normal sd of field extents / lid closure amounts /
#: rotation angles, the falloff radius factor range, the sd of the extra random component on the
#: neighbours of a field's anchors (a fraction of its displacement), and the share of variance
#: that a field and its mirror image have in common (subjects are mostly, not exactly, symmetric).
VARIATION: dict[str, Any] = {
    "tilt_sd_deg": 10.0,
    "tilt_max_deg": 25.0,
    "extent_sd": 0.3,
    "radius": (0.6, 1.6),
    "neighbour_sd": 0.15,
    "closure_sd": 0.2,
    "angle_sd": 0.3,
    "twin_shared": 0.75,
}
#: The largest ``variability`` (``SynthConfig.validate`` enforces it; bounds field supports).
MAX_VARIABILITY = 2.0


@dataclass(frozen=True)
class FaceVariant:
    """One subject's randomised actions (:meth:`FaceModel.perturb`); pass to :meth:`FaceModel.deform`.

    ``linear (K, N, 3)``: the anchor fields' displacement basis; ``fractions (K, P)``: the
    ``toward`` fractions (lid closure amounts; caps unchanged); ``rotations``: ``(k, points,
    pivot, axis, degrees)`` per rotate field.
    """

    linear: np.ndarray
    fractions: np.ndarray
    rotations: tuple[tuple[int, list[int], int, np.ndarray, float], ...]
    variability: float


def _tilt(directions: np.ndarray, g: np.ndarray, variability: float) -> np.ndarray:
    """Unit vectors ``(M, 3)`` tilted away from ``directions (M, 3)`` towards ``g``'s perpendicular part."""
    norm = np.linalg.norm(directions, axis=1, keepdims=True)
    d = directions / np.maximum(norm, 1e-12)
    perp = g - (g * d).sum(1, keepdims=True) * d
    size = np.linalg.norm(perp, axis=1, keepdims=True)
    u = perp / np.maximum(size, 1e-12)
    theta = variability * np.radians(np.minimum(VARIATION["tilt_max_deg"], VARIATION["tilt_sd_deg"] * size))
    return np.cos(theta) * d + np.sin(theta) * u


class _Variation:
    """Per field instance arrays for :meth:`FaceModel.perturb` (compiled on first use)."""

    def __init__(self, model: "FaceModel", anchor_rec: list, toward_rec: list, rot_rec: list, n_src: int):
        scheme, spec = model.scheme, model.spec
        K, N = model.linear.shape[:2]
        self.n_src = n_src
        self.K, self.N = K, N
        F = len(anchor_rec)
        self.k = np.array([r[0] for r in anchor_rec], dtype=np.int64)
        self.src = np.array([r[1] for r in anchor_rec], dtype=np.int64)
        mirrored = np.array([r[2] for r in anchor_rec], dtype=bool)
        # a mirrored field's displacement is M d (M = diag(-1, 1, 1)): so is its shared tilt
        self.sign = np.where(mirrored[:, None], [-1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
        self.symmetric = np.array([r[3] for r in anchor_rec], dtype=bool)
        self.disp = np.array([r[5] for r in anchor_rec], dtype=np.float64).reshape(F, 3)
        self.radius = np.array([r[6] for r in anchor_rec], dtype=np.float64)
        self.anchor = np.zeros((F, N), bool)
        self.dist = np.full((F, N), np.inf)
        for f, r in enumerate(anchor_rec):
            self.anchor[f, r[4]] = True
            self.dist[f] = geodesic_distances(scheme, r[4])
        t, e = scheme.template, scheme.edges
        self.edge = float(np.median(np.linalg.norm(t[e[:, 0]] - t[e[:, 1]], axis=1))) if len(e) else 1.0
        # (field, landmark) pairs a perturbed field can ever move (largest radius factor): the
        # anchors and their neighbours; everything else stays exactly 0
        reach = np.sqrt(-2.0 * np.log(spec.cutoff)) if 0 < spec.cutoff < 1 else 3.0
        grow = 1.0 + MAX_VARIABILITY * (VARIATION["radius"][1] - 1.0)
        rmax = np.maximum(self.radius * grow, self.edge)
        fixed = np.zeros(N, bool)
        fixed[list(spec.fixed)] = True
        pf, pn = np.nonzero(((self.dist <= (reach * rmax)[:, None]) | self.anchor) & ~fixed[None])
        self.pf, self.pn = pf, pn
        self.pd = self.dist[pf, pn]
        self.p_anchor = self.anchor[pf, pn]
        self.p_near = (~self.p_anchor).astype(np.float64)  # neighbours get the extra component
        # flat index into linear (K, N, 3) of each pair's x, y, z
        self.p_out = ((self.k[pf] * N + pn)[:, None] * 3 + np.arange(3)[None]).ravel()
        self.cutoff = spec.cutoff
        # toward contributions: (action, pair, fraction, instance, source)
        self.t_k = np.array([r[0] for r in toward_rec], dtype=np.int64)
        self.t_p = np.array([r[1] for r in toward_rec], dtype=np.int64)
        self.t_val = np.array([r[2] for r in toward_rec], dtype=np.float64)
        # fields that reach their cap at full intensity (eyes closed) still do: never less closure
        self.t_full = np.abs(self.t_val) >= model.caps[self.t_p] if len(toward_rec) else np.zeros(0, bool)
        inst = [r[3] for r in toward_rec]
        keys = sorted(set(inst))
        self.t_inst = np.array([keys.index(i) for i in inst], dtype=np.int64)
        self.t_src = np.array([i[1] for i in keys], dtype=np.int64)
        self.P = model.fractions.shape[1]
        # rotations: source and mirror (a mirrored axis is -M a: signs (1, -1, -1))
        self.r_src = np.array([r[0] for r in rot_rec], dtype=np.int64)
        self.r_sign = np.where(np.array([r[1] for r in rot_rec], dtype=bool).reshape(-1, 1),
                               [1.0, -1.0, -1.0], [1.0, 1.0, 1.0])

    def draw(self, model: "FaceModel", rng: np.random.Generator, v: float) -> FaceVariant:
        """A subject's variant; every draw below happens whatever ``v`` is (fixed stream layout)."""
        a = np.sqrt(VARIATION["twin_shared"])
        b = np.sqrt(1.0 - VARIATION["twin_shared"])
        F, N, K = len(self.k), self.N, self.K
        # shared (per source field) draws, then per instance
        g_src = rng.standard_normal((self.n_src, 3))
        z_src = rng.standard_normal(self.n_src)
        radius_src = rng.uniform(*VARIATION["radius"], self.n_src)
        # anchor fields: direction, extent, radius, neighbours
        g = a * self.sign * g_src[self.src] + b * rng.standard_normal((F, 3))
        g[self.symmetric, 0] = 0.0  # midline fields stay symmetric
        extent = np.exp(v * VARIATION["extent_sd"] * (a * z_src[self.src] + b * rng.standard_normal(F)))
        size = np.linalg.norm(self.disp, axis=1)
        disp = _tilt(self.disp, g, v) * (size * extent)[:, None]
        radius = self.radius * (1.0 + v * (radius_src[self.src] - 1.0))
        # sparse over the (field, landmark) pairs that can move (fixed landmarks excluded)
        pf = self.pf
        r = np.where(radius > 0, radius, 1e-150)[pf]  # radius 0: the anchors alone
        w = np.exp(-0.5 * (self.pd / r) ** 2)
        w[w < self.cutoff] = 0.0
        w[self.p_anchor] = 1.0
        wn = np.exp(-0.5 * (self.pd / np.maximum(radius, self.edge)[pf]) ** 2)
        wn[wn < self.cutoff] = 0.0
        extra = (v * VARIATION["neighbour_sd"]) * (size[pf] * wn * self.p_near)[:, None] * \
            rng.standard_normal((pf.size, 3))
        contrib = w[:, None] * disp[pf] + extra  # (Q, 3)
        linear = np.bincount(self.p_out, weights=contrib.ravel(), minlength=K * N * 3).reshape(K, N, 3)
        # toward fields: lid closure amounts
        n_inst = len(self.t_src)
        zt = a * z_src[self.t_src] + b * rng.standard_normal(n_inst)
        closure = np.exp(v * VARIATION["closure_sd"] * zt)[self.t_inst]
        closure[self.t_full] = np.maximum(closure[self.t_full], 1.0)
        fractions = np.zeros((K, self.P))
        np.add.at(fractions, (self.t_k, self.t_p), self.t_val * closure)
        # rotate fields: axis and angle
        R = len(self.r_src)
        rotations: tuple = ()
        if R:
            axes = np.array([r[3] for r in model.rotations], dtype=np.float64)
            gr = a * self.r_sign * g_src[self.r_src] + b * rng.standard_normal((R, 3))
            axes = _tilt(axes, gr, v)
            deg = np.exp(v * VARIATION["angle_sd"] * (a * z_src[self.r_src] + b * rng.standard_normal(R)))
            rotations = tuple((k, pts, pivot, axes[i], float(d0 * deg[i]))
                              for i, (k, pts, pivot, _, d0) in enumerate(model.rotations))
        return FaceVariant(linear=linear, fractions=fractions, rotations=rotations, variability=float(v))


class FaceModel:
    """The actions of a :class:`SynthSpec`, compiled over its base scheme.

    ``actions``: action names in column order. :meth:`deform` maps a neutral face ``(N, 3)``
    and action intensities ``(T, K)`` (fractions of full intensity, 0-1) to ``(T, N, 3)``.
    Anchor fields are linear (a ``(K, N, 3)`` basis); ``toward`` fields then move landmarks
    towards their targets (on the face the anchor fields produced) with per-pair caps; ``rotate`` fields rotate points
    about a pivot (angle proportional to intensity). :meth:`perturb` draws a subject's
    randomised version of the same actions (a :class:`FaceVariant`) that :meth:`deform` accepts.
    """

    def __init__(self, spec: SynthSpec):
        self.spec = spec
        scheme = spec.scheme
        self.scheme = scheme
        self.actions = tuple(spec.actions)
        K, N = len(self.actions), scheme.n_points
        flip = scheme.flip_index
        mirror_vec = np.array([-1.0, 1.0, 1.0])
        self.linear = np.zeros((K, N, 3))
        pair_index: dict[tuple[int, tuple[int, ...]], int] = {}
        fractions: list[dict[int, float]] = [dict() for _ in range(K)]
        caps: dict[int, float] = {}
        self.rotations: list[tuple[int, list[int], int, np.ndarray, float]] = []
        # field instances, for perturb(): a source id per (action, field) shared by its mirror image
        anchor_rec: list[tuple] = []
        toward_rec: list[tuple] = []
        rot_rec: list[tuple[int, bool]] = []
        src = -1
        for k, name in enumerate(self.actions):
            for fd in spec.actions[name]["fields"]:
                src += 1
                variants = [(fd, False)] + ([(fd, True)] if fd["mirror"] else [])
                for f, mirrored in variants:
                    if f["kind"] == "anchors":
                        anchors = [int(flip[a]) for a in f["anchors"]] if mirrored else list(f["anchors"])
                        if f["symmetric"]:
                            anchors = sorted(set(anchors) | {int(flip[a]) for a in anchors})
                        disp = f["displacement"] * (mirror_vec if mirrored else 1.0)
                        w = self._weights(anchors, f["radius"])
                        self.linear[k] += w[:, None] * disp[None]
                        anchor_rec.append((k, src, mirrored, f["symmetric"], anchors, disp, f["radius"]))
                    elif f["kind"] == "toward":
                        for mov, tgt in f["pairs"]:
                            if mirrored:
                                mov, tgt = int(flip[mov]), tuple(int(flip[t]) for t in tgt)
                            p = pair_index.setdefault((mov, tuple(tgt)), len(pair_index))
                            fractions[k][p] = fractions[k].get(p, 0.0) + f["fraction"]
                            caps[p] = min(caps.get(p, np.inf), f["cap"])
                            toward_rec.append((k, p, f["fraction"], (k, src, mirrored)))
                    else:
                        pts = [int(flip[i]) for i in f["points"]] if mirrored else list(f["points"])
                        pivot = int(flip[f["pivot"]]) if mirrored else f["pivot"]
                        # a reflection M turns a rotation about axis a by theta into one about
                        # -M a by theta (M = diag(-1, 1, 1))
                        axis = f["axis"] * np.array([1.0, -1.0, -1.0]) if mirrored else f["axis"]
                        self.rotations.append((k, pts, pivot, axis, f["degrees"]))
                        rot_rec.append((src, mirrored))
        self._records = (anchor_rec, toward_rec, rot_rec, src + 1)
        self._variation: _Variation | None = None
        P = len(pair_index)
        self.pairs = sorted(pair_index, key=pair_index.get)
        self.moving = np.array([m for m, _ in self.pairs], dtype=np.int64)
        self.target_weights = np.zeros((P, N))
        for p, (_, tgt) in enumerate(self.pairs):
            self.target_weights[p, list(tgt)] += 1.0 / len(tgt)
        # the target points alone, for one (P, n) @ (n, T * 3) product in deform
        self._target_cols = np.flatnonzero(self.target_weights.any(0))
        self._target_w = np.ascontiguousarray(self.target_weights[:, self._target_cols])
        self.fractions = np.zeros((K, P))
        for k in range(K):
            for p, v in fractions[k].items():
                self.fractions[k, p] = v
        self.caps = np.array([caps[p] for p in range(P)]) if P else np.zeros(0)
        fixed = list(spec.fixed)
        self.linear[:, fixed] = 0.0
        if set(fixed) & set(self.moving.tolist()) or any(set(fixed) & set(r[1]) for r in self.rotations):
            raise SchemeError(f"{spec.path}: a toward or rotate field moves a landmark listed as fixed")
        # scatter of pair displacements onto the (unique) moving points
        self.moved, inverse = np.unique(self.moving, return_inverse=True)
        self.scatter = np.zeros((len(self.moved), P))
        self.scatter[inverse, np.arange(P)] = 1.0

    def _weights(self, anchors: list[int], radius: float) -> np.ndarray:
        n = self.scheme.n_points
        w = np.zeros(n)
        if radius > 0:
            d = geodesic_distances(self.scheme, anchors)
            w = np.exp(-0.5 * (d / radius) ** 2)
            w[w < self.spec.cutoff] = 0.0
        w[anchors] = 1.0
        return w

    def index(self, name: str) -> int:
        try:
            return self.actions.index(name)
        except ValueError:
            raise SchemeError(f"{self.spec.path}: no action {name!r} (actions: {list(self.actions)})") from None

    def support(self, name: str) -> np.ndarray:
        """``(N,)`` bool: the base-scheme landmarks that action ``name`` can move."""
        k = self.index(name)
        s = np.abs(self.linear[k]).sum(-1) > 0
        active = self.fractions[k] != 0
        s[self.moving[active]] = True
        for kk, pts, _, _, deg in self.rotations:
            if kk == k and deg != 0:
                s[pts] = True
        return s

    def perturb(self, rng: np.random.Generator, variability: float = 1.0) -> FaceVariant:
        """A subject's randomised actions (generator randomisation), scaled by ``variability``.

        Per anchor field (each action's, and its mirror image's, mostly shared): the displacement
        direction tilted by up to ~25 degrees (at ``variability`` 1), its extent times a log-normal
        factor (sd 0.3), its falloff radius times U(0.6, 1.6) (which neighbours follow) and a small
        random extra displacement of the landmarks next to the anchors (sd 15 % of the field's,
        fading with geodesic distance). ``toward`` fractions (lid closure amounts) times a
        log-normal factor (sd 0.2; caps unchanged, so lids never cross; a field that reaches its
        cap at full intensity, e.g. eyes closed, is never weakened); rotation axes
        tilted like displacements and angles times a log-normal factor (sd 0.3). Landmarks listed
        as ``fixed`` stay fixed. See :data:`VARIATION`; ``variability`` 0 gives the model's own fields.
        """
        if self._variation is None:
            anchor_rec, toward_rec, rot_rec, n_src = self._records
            self._variation = _Variation(self, anchor_rec, toward_rec, rot_rec, n_src)
        return self._variation.draw(self, rng, float(variability))

    def deform(self, neutral: np.ndarray, intensities: np.ndarray, variant: FaceVariant | None = None) -> np.ndarray:
        """``(T, N, 3)`` faces: ``neutral (N, 3)`` moved by ``intensities (T, K)`` (fractions).

        ``variant``: a subject's randomised actions (:meth:`perturb`); ``None``: the model's own.
        """
        S = np.asarray(intensities, dtype=np.float64)
        if S.ndim != 2 or S.shape[1] != len(self.actions):
            raise SchemeError(f"intensities: expected shape (T, {len(self.actions)}), got {S.shape}")
        linear, fractions, rotations = ((self.linear, self.fractions, self.rotations) if variant is None
                                        else (variant.linear, variant.fractions, variant.rotations))
        K, N = linear.shape[:2]
        out = neutral[None] + (S @ linear.reshape(K, N * 3)).reshape(-1, N, 3)
        if len(self.pairs):
            A = np.clip(S @ fractions, -self.caps, self.caps)  # (T, P)
            # towards the target on the face as the displacement fields left it, so that lids
            # whose caps add up to 1 meet exactly and never cross
            T, n = out.shape[0], len(self._target_cols)
            src = out[:, self._target_cols].transpose(1, 0, 2).reshape(n, T * 3)
            target = (self._target_w @ src).reshape(-1, T, 3).transpose(1, 0, 2)  # target_weights @ out
            vec = target - out[:, self.moving]  # (T, P, 3)
            out[:, self.moved] += self.scatter @ (A[..., None] * vec)
        for k, pts, pivot, axis, deg in rotations:
            if not S[:, k].any():
                continue
            R = axis_angle_matrices(axis, S[:, k] * deg)  # (T, 3, 3)
            v = neutral[pts] - neutral[pivot]  # (Q, 3)
            out[:, pts] += v[None] @ R.transpose(0, 2, 1) - v[None]
        return out


@functools.lru_cache(maxsize=None)
def _model_cached(path: str, mtime: float) -> FaceModel:
    return FaceModel(_load_cached(path, mtime))


def face_model(species_or_path: str | os.PathLike) -> FaceModel:
    """The compiled (and cached) :class:`FaceModel` of a species."""
    spec = load_spec(species_or_path)
    return _model_cached(spec.path, Path(spec.path).stat().st_mtime)


__all__ = ["SynthSpec", "FaceModel", "FaceVariant", "VARIATION", "Behaviour", "Occluder", "Timing", "load_spec", "face_model",
           "available_species", "spec_path", "geodesic_distances", "axis_angle_matrices"]
