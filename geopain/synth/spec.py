"""The simulator's declarative species definitions (``species/<species>/synth.yaml``).

A :class:`SynthSpec` holds what a species' simulated face can do: its actions (displacement
fields on landmarks), how the units of its pain scale are expressed, confounding behaviour
that is not pain, identity variation, head pose ranges and occluders. :func:`load_spec` reads
and validates the YAML; :class:`FaceModel` compiles the actions of one spec over its base
scheme into arrays, and deforms a neutral face by action intensities, vectorised over frames.

This module describes SIMULATION only; nothing here is clinical data.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
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
        detector={k: float(v) for k, v in (data.get("detector") or {}).items()},
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


class FaceModel:
    """The actions of a :class:`SynthSpec`, compiled over its base scheme.

    ``actions``: action names in column order. :meth:`deform` maps a neutral face ``(N, 3)``
    and action intensities ``(T, K)`` (fractions of full intensity, 0-1) to ``(T, N, 3)``.
    Anchor fields are linear (a ``(K, N, 3)`` basis); ``toward`` fields then move landmarks
    towards their targets (on the face the anchor fields produced) with per-pair caps; ``rotate`` fields rotate points
    about a pivot (angle proportional to intensity).
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
        for k, name in enumerate(self.actions):
            for fd in spec.actions[name]["fields"]:
                variants = [(fd, False)] + ([(fd, True)] if fd["mirror"] else [])
                for f, mirrored in variants:
                    if f["kind"] == "anchors":
                        anchors = [int(flip[a]) for a in f["anchors"]] if mirrored else list(f["anchors"])
                        if f["symmetric"]:
                            anchors = sorted(set(anchors) | {int(flip[a]) for a in anchors})
                        disp = f["displacement"] * (mirror_vec if mirrored else 1.0)
                        w = self._weights(anchors, f["radius"])
                        self.linear[k] += w[:, None] * disp[None]
                    elif f["kind"] == "toward":
                        for mov, tgt in f["pairs"]:
                            if mirrored:
                                mov, tgt = int(flip[mov]), tuple(int(flip[t]) for t in tgt)
                            p = pair_index.setdefault((mov, tuple(tgt)), len(pair_index))
                            fractions[k][p] = fractions[k].get(p, 0.0) + f["fraction"]
                            caps[p] = min(caps.get(p, np.inf), f["cap"])
                    else:
                        pts = [int(flip[i]) for i in f["points"]] if mirrored else list(f["points"])
                        pivot = int(flip[f["pivot"]]) if mirrored else f["pivot"]
                        # a reflection M turns a rotation about axis a by theta into one about
                        # -M a by theta (M = diag(-1, 1, 1))
                        axis = f["axis"] * np.array([1.0, -1.0, -1.0]) if mirrored else f["axis"]
                        self.rotations.append((k, pts, pivot, axis, f["degrees"]))
        P = len(pair_index)
        self.pairs = sorted(pair_index, key=pair_index.get)
        self.moving = np.array([m for m, _ in self.pairs], dtype=np.int64)
        self.target_weights = np.zeros((P, N))
        for p, (_, tgt) in enumerate(self.pairs):
            self.target_weights[p, list(tgt)] += 1.0 / len(tgt)
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

    def deform(self, neutral: np.ndarray, intensities: np.ndarray) -> np.ndarray:
        """``(T, N, 3)`` faces: ``neutral (N, 3)`` moved by ``intensities (T, K)`` (fractions)."""
        S = np.asarray(intensities, dtype=np.float64)
        if S.ndim != 2 or S.shape[1] != len(self.actions):
            raise SchemeError(f"intensities: expected shape (T, {len(self.actions)}), got {S.shape}")
        K, N = self.linear.shape[:2]
        out = neutral[None] + (S @ self.linear.reshape(K, N * 3)).reshape(-1, N, 3)
        if len(self.pairs):
            A = np.clip(S @ self.fractions, -self.caps, self.caps)  # (T, P)
            # towards the target on the face as the displacement fields left it, so that lids
            # whose caps add up to 1 meet exactly and never cross
            vec = self.target_weights @ out - out[:, self.moving]  # (T, P, 3)
            out[:, self.moved] += self.scatter @ (A[..., None] * vec)
        for k, pts, pivot, axis, deg in self.rotations:
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


__all__ = ["SynthSpec", "FaceModel", "Behaviour", "Occluder", "Timing", "load_spec", "face_model",
           "available_species", "spec_path", "geodesic_distances", "axis_angle_matrices"]
