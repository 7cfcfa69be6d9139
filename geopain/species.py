"""Declarative species adapters and landmark schemes.

A species adapter is data, not code. Each scheme is one YAML file
``species/<species>/<scheme>.yaml`` holding landmark names and order, regions,
mirror pairs, anatomical edges, a neutral 3D template, the reference distance used to
make measurements scale-free, the geometric measurements that express each pain unit,
and declared conversions to other schemes. Species-wide data (the pain scale) lives
in ``species/<species>/species.yaml`` or inline under ``pain_scale:`` in a scheme file,
so a user adds a whole species by writing one file.

Schemes are found in the package's ``species/`` folder, then in folders listed in
``$GEOPAIN_SPECIES_PATH`` (``os.pathsep``-separated) and folders given to
:func:`add_species_dir`. ``load_scheme("path/to/file.yaml")`` reads a file directly.
"""
from __future__ import annotations

import ast
import functools
import operator
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml

from .errors import SchemeError

#: The shared vocabulary of facial regions: every scheme assigns each landmark to one,
#: which is what makes regions homologous across species (human brows ~ sheep ears).
REGIONS = ("eyes", "brows_ears", "nose", "mouth", "cheeks", "jaw", "midline")

#: Measurement kinds the geometry module computes generically, with their arguments.
MEASUREMENT_KINDS: dict[str, tuple[str, ...]] = {
    "distance": ("pairs",),  # mean |a-b| over pairs / reference distance
    "ratio": ("numerator", "denominator"),  # sum |a-b| over numerator pairs / same over denominator
    "point_line_distance": ("points", "line"),  # mean distance of points to line a-b / reference
    "angle": ("triplets",),  # mean angle a-b-c at b, degrees
    "line_angle": ("lines",),  # angle between line a-b and line c-d, degrees
}

#: Arguments of a measurement kind that only fix a frame of reference (an eye-corner line, a
#: width that divides, the axis an ear's angle is taken against): the measurement reports the
#: movement of its other landmarks. ``(argument, rows)``: ``rows`` ``None`` = all of it, else
#: those rows of the argument.
MEASUREMENT_ANCHORS: dict[str, tuple[tuple[str, slice | None], ...]] = {
    "point_line_distance": (("line", None),),
    "ratio": (("denominator", None),),
    "line_angle": (("lines", slice(1, None)),),
}

_extra_dirs: list[Path] = []


def package_species_dir() -> Path:
    """The folder of shipped adapters (``species/`` in a checkout, bundled in the wheel)."""
    try:
        from importlib.resources import files

        bundled = Path(str(files("geopain") / "species_data"))
        if bundled.is_dir():
            return bundled
    except Exception:  # pragma: no cover - resources API differences
        pass
    return Path(__file__).resolve().parent.parent / "species"


def add_species_dir(path: str | os.PathLike) -> None:
    """Make adapters in ``path`` (``<species>/<scheme>.yaml``) loadable by key."""
    p = Path(path)
    if not p.is_dir():
        raise SchemeError(f"{p}: species folder does not exist")
    if p not in _extra_dirs:
        _extra_dirs.append(p)
    _clear_caches()


def species_dirs() -> list[Path]:
    env = [Path(p) for p in os.environ.get("GEOPAIN_SPECIES_PATH", "").split(os.pathsep) if p]
    return [package_species_dir(), *env, *_extra_dirs]


# ----------------------------------------------------------------------------------------
# Data classes
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PainUnit:
    name: str
    description: str
    min: float
    max: float


@dataclass(frozen=True)
class PainScale:
    """A pain scale: its units, the formula for the total and the label derivations.

    ``binary_threshold``: pain = total > threshold. ``level_cut_offs``: level = number of
    cut-offs <= total (so ``[1, 3, 5, 7]`` gives 5 levels 0-4).
    """

    name: str
    units: dict[str, PainUnit]
    total: str
    range: tuple[float, float]
    binary_threshold: float
    level_cut_offs: tuple[float, ...]
    level_names: tuple[str, ...]
    reference: str = ""

    def total_score(self, unit_scores: Mapping[str, Any]) -> np.ndarray:
        """Evaluate the total formula on unit scores (scalars or arrays, vectorised)."""
        missing = [u for u in self.units if u not in unit_scores]
        if missing:
            raise SchemeError(f"{self.name}: unit scores missing for {missing}")
        return _eval_formula(self.total, {u: np.asarray(unit_scores[u], dtype=float) for u in self.units})

    def binary(self, total: Any) -> np.ndarray:
        """0/1 pain label from totals (NaN stays NaN)."""
        t = np.asarray(total, dtype=float)
        return np.where(np.isnan(t), np.nan, (t > self.binary_threshold).astype(float))

    def level(self, total: Any) -> np.ndarray:
        """Ordinal level 0..len(cut_offs) from totals (NaN stays NaN)."""
        t = np.asarray(total, dtype=float)
        lv = np.searchsorted(np.asarray(self.level_cut_offs, float), np.nan_to_num(t), side="right")
        return np.where(np.isnan(t), np.nan, lv.astype(float))

    @property
    def n_levels(self) -> int:
        return len(self.level_cut_offs) + 1


@dataclass(frozen=True)
class Measurement:
    """One geometric measurement of a pain unit, over landmark indices of a scheme."""

    name: str
    unit: str
    kind: str
    args: dict[str, Any]
    pain_direction: int  # +1: grows with pain, -1: shrinks with pain
    description: str = ""

    @property
    def landmarks(self) -> list[int]:
        idx: set[int] = set()
        for value in self.args.values():
            idx.update(int(i) for i in np.ravel(value))
        return sorted(idx)

    @property
    def moving_landmarks(self) -> list[int]:
        """The landmarks whose movement the measurement reports: :attr:`landmarks` less its
        anchors (:data:`MEASUREMENT_ANCHORS`), unless they move too."""
        idx: set[int] = set()
        anchors = dict(MEASUREMENT_ANCHORS.get(self.kind, ()))
        for arg, value in self.args.items():
            rows = np.asarray(value)
            if arg in anchors:
                keep = anchors[arg]
                rows = rows[:0] if keep is None else np.delete(rows, np.arange(len(rows))[keep], axis=0)
            idx.update(int(i) for i in np.ravel(rows))
        return sorted(idx)


@dataclass(frozen=True)
class Scheme:
    """A named landmark set of one species, with everything geometry needs.

    Index arrays are 0-based into the scheme's landmark order.
    """

    key: str  # "<species>/<name>"
    species: str
    name: str
    description: str
    landmarks: tuple[str, ...]
    regions: dict[str, tuple[int, ...]]
    mirror_pairs: np.ndarray  # (P, 2) int
    edges: np.ndarray  # (E, 2) int, undirected, i < j, unique
    template: np.ndarray  # (N, 3) float64, neutral face, right-handed, y up, looking +z
    template_units: str
    reference_pair: tuple[int, int]
    measurements: tuple[Measurement, ...]
    pain_scale: PainScale | None
    conversions: dict[str, np.ndarray] = field(default_factory=dict)  # target key -> (N_t, N) weights
    yolo: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    derived_from: str | None = None  # key of the scheme this one is a subset of
    derived_keep: tuple[int, ...] = ()  # indices of the base scheme this one keeps
    unit_shows_on: dict[str, tuple[int, ...]] = field(default_factory=dict)  # unit -> where it shows, if declared

    @property
    def n_points(self) -> int:
        return len(self.landmarks)

    @property
    def region_index(self) -> np.ndarray:
        """``(N,)`` int: index into :data:`REGIONS` of each landmark's region."""
        out = np.full(self.n_points, -1, dtype=np.int64)
        for name, idx in self.regions.items():
            out[list(idx)] = REGIONS.index(name)
        return out

    @property
    def flip_index(self) -> np.ndarray:
        """``(N,)`` permutation that swaps left and right landmarks (YOLO ``flip_idx``)."""
        perm = np.arange(self.n_points)
        perm[self.mirror_pairs[:, 0]] = self.mirror_pairs[:, 1]
        perm[self.mirror_pairs[:, 1]] = self.mirror_pairs[:, 0]
        return perm

    def index(self, name: str | int) -> int:
        if isinstance(name, (int, np.integer)):
            if not 0 <= int(name) < self.n_points:
                raise SchemeError(f"{self.key}: landmark index {name} out of range 0..{self.n_points - 1}")
            return int(name)
        try:
            return self.landmarks.index(name)
        except ValueError:
            raise SchemeError(f"{self.key}: no landmark named {name!r}") from None

    def _per_unit(self, attribute: str) -> dict[str, set[int]]:
        """For each pain unit, the union of its measurements' ``attribute`` landmark lists."""
        out: dict[str, set[int]] = {}
        for m in self.measurements:
            out.setdefault(m.unit, set()).update(getattr(m, attribute))
        return out

    def unit_landmarks(self) -> dict[str, list[int]]:
        """For each pain unit, the landmarks its measurements use (anchors included: a unit
        cannot be measured without them)."""
        return {u: sorted(v) for u, v in self._per_unit("landmarks").items()}

    def unit_shown_landmarks(self) -> dict[str, list[int]]:
        """For each pain unit, the landmarks where it shows: what the adapter declares under
        ``unit_shows_on`` (e.g. the whole upper lip for AU10, which is measured from the nose
        base), else those its measurements report the movement of
        (:attr:`Measurement.moving_landmarks`, not their anchors). What explanations credit to
        a unit."""
        out = self._per_unit("moving_landmarks")
        out.update({unit: set(idx) for unit, idx in self.unit_shows_on.items()})
        return {u: sorted(v) for u, v in out.items()}

    def conversion_to(self, target: str) -> np.ndarray:
        """``(N_target, N)`` weights mapping this scheme's points to ``target``'s."""
        if target == self.key:
            return np.eye(self.n_points)
        if target not in self.conversions:
            other = get_scheme(target)
            if other.derived_from == self.key:  # a declared subset of this scheme
                select = np.zeros((other.n_points, self.n_points))
                select[np.arange(other.n_points), list(other.derived_keep)] = 1.0
                return select
            known = ", ".join(self.conversions) or "none"
            raise SchemeError(f"no conversion declared from {self.key} to {target} (declared: {known})")
        return self.conversions[target]

    def __repr__(self) -> str:
        return (
            f"Scheme({self.key!r}, points={self.n_points}, edges={len(self.edges)}, "
            f"measurements={len(self.measurements)}, scale={self.pain_scale.name if self.pain_scale else None})"
        )


# ----------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------


def list_schemes() -> list[str]:
    """Keys of every scheme found on the search path."""
    keys: set[str] = set()
    for d in species_dirs():
        for f in d.glob("*/*.yaml"):
            if f.name != "species.yaml" and _is_scheme_file(f):
                keys.add(f"{f.parent.name}/{f.stem}")
    return sorted(keys)


def _is_scheme_file(path: Path) -> bool:
    """A scheme file declares ``landmarks:`` or ``derive:`` at top level (other YAML, e.g. simulator
    definitions, may live beside the schemes)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"^(landmarks|derive)\s*:", text, re.MULTILINE) is not None


def get_scheme(key: str, species: str | None = None) -> Scheme:
    """Load a scheme by key (``"human/ibug68"``), by its bare name when ``species`` is known
    (``get_scheme("ibug68", species="human")``) or by path to a YAML file."""
    if key.endswith((".yaml", ".yml")) or os.path.sep in key and Path(key).exists():
        return load_scheme(key)
    return _load_by_key(scheme_key(key, species))


def list_species() -> list[str]:
    """Names of every species found on the search path (a ``species.yaml`` or scheme files)."""
    names = {f.parent.name for d in species_dirs() for f in d.glob("*/species.yaml")}
    return sorted(names | {k.split("/", 1)[0] for k in list_schemes()})


def scheme_key(name: str, species: str | None = None) -> str:
    """The full key ``"<species>/<scheme>"`` of a scheme name.

    A key with a ``/`` is returned as it is. A bare name (``"ibug68"``) is enough when the
    species is known; without it, a :class:`SchemeError` says which keys carry that name
    ("did you mean human/ibug68").
    """
    if "/" in name or not name:
        return name
    if species:
        return f"{species}/{name}"
    matches = [k for k in list_schemes() if k.split("/", 1)[1] == name]
    hint = f"did you mean {' or '.join(matches)}?" if matches else f"known: {', '.join(list_schemes())}"
    raise SchemeError(f"scheme {name!r} needs its species, as '<species>/<scheme>'; {hint}")


load_scheme_by_key = get_scheme


def load_scheme(path: str | os.PathLike) -> Scheme:
    """Load a scheme from a YAML file (not cached; for users' own adapters)."""
    p = Path(path)
    if not p.is_file():
        raise SchemeError(f"{p}: no such adapter file")
    return _build(p)


@functools.lru_cache(maxsize=None)
def _load_by_key(key: str) -> Scheme:
    if key.count("/") != 1:
        scheme_key(key)  # a bare name: says which species have it
        raise SchemeError(f"scheme key must be '<species>/<scheme>', got {key!r}")
    species, name = key.split("/")
    for d in reversed(species_dirs()):  # later folders override the package's
        f = d / species / f"{name}.yaml"
        if f.is_file():
            return _build(f)
    if species == "unknown":  # geopain.io.dlc.AdHocScheme: a file's own body-part names
        raise SchemeError(f"scheme {key!r} is a file's own body-part names (converted without --scheme); this needs "
                          f"a species' scheme: convert again with --scheme, e.g. {', '.join(list_schemes()[:3])}")
    raise SchemeError(f"unknown scheme {key!r}; known: {', '.join(list_schemes())}")


#: ordered pain levels assumed where a scheme declares no pain scale (PSPI and SPFES are binned into five)
DEFAULT_LEVELS = 5


def scale_levels(scheme: "str | Scheme | None") -> int:
    """The number of ordered pain levels of a scheme's pain scale (``levels`` task classes);
    :data:`DEFAULT_LEVELS` without a scheme, for a scheme without a scale or one not installed here."""
    if not scheme:
        return DEFAULT_LEVELS
    try:
        scale = scheme.pain_scale if isinstance(scheme, Scheme) else get_scheme(scheme).pain_scale
    except SchemeError:
        return DEFAULT_LEVELS
    return DEFAULT_LEVELS if scale is None else int(scale.n_levels)


def get_species_scale(species: str) -> PainScale:
    """The pain scale of a species (its ``species.yaml``, else a scheme file with ``pain_scale:`` inline)."""
    for d in reversed(species_dirs()):
        f = d / species / "species.yaml"
        if f.is_file():
            return _parse_scale(read_adapter_yaml(f).get("pain_scale"), f)
    for key in _species_schemes(species):  # a species written as one scheme file, scale inline
        sch = get_scheme(key)
        if sch.pain_scale is not None:
            return sch.pain_scale
    raise SchemeError(f"unknown species {species!r}: no species.yaml and no scheme with a pain_scale found")


def _species_schemes(species: str) -> list[str]:
    return [k for k in list_schemes() if k.split("/", 1)[0] == species]


def default_scheme(species: str) -> str:
    for d in reversed(species_dirs()):
        f = d / species / "species.yaml"
        if f.is_file():
            name = read_adapter_yaml(f).get("default_scheme")
            if name:
                return f"{species}/{name}"
    schemes = _species_schemes(species)
    if len(schemes) == 1:  # a species written as one scheme file
        return schemes[0]
    if not schemes:
        raise SchemeError(f"unknown species {species!r}; known: {', '.join(list_species())}")
    raise SchemeError(f"species {species!r} declares no default_scheme; give one of {', '.join(schemes)}")


def _clear_caches() -> None:
    _load_by_key.cache_clear()


def read_adapter_yaml(path: Path) -> dict[str, Any]:
    """A species or scheme adapter file as a mapping; :class:`SchemeError` naming the file when
    it is not valid YAML or not a mapping."""
    try:
        with open(path, encoding="utf-8") as fh:
            # libyaml's C parser where PyYAML has it: the same safe loading, and a 468-point
            # template reads in a tenth of the time (every extraction worker reads one)
            data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise SchemeError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise SchemeError(f"{path}: an adapter must be a YAML mapping")
    return data


def _build(path: Path) -> Scheme:
    data = read_adapter_yaml(path)
    where = str(path)
    species = data.get("species") or path.parent.name
    name = data.get("scheme") or path.stem
    key = f"{species}/{name}"

    if "derive" in data:
        return _derive(data, path, key)

    names = data.get("landmarks")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise SchemeError(f"{where}: 'landmarks' must be a non-empty list of names")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise SchemeError(f"{where}: duplicate landmark names {dup}")
    n = len(names)
    resolve = _resolver(names, where)

    regions = _parse_regions(data.get("regions"), resolve, n, where)
    mirror = _pairs(data.get("mirror_pairs", []), resolve, where, "mirror_pairs")
    if len(mirror) and len(set(mirror.ravel().tolist())) != mirror.size:
        raise SchemeError(f"{where}: a landmark appears in two mirror pairs")
    edges = _parse_edges(data.get("edges"), resolve, where)
    ref = data.get("reference_distance")
    if not isinstance(ref, list) or len(ref) != 2:
        raise SchemeError(f"{where}: 'reference_distance' must be two landmarks")
    ref_pair = (resolve(ref[0]), resolve(ref[1]))

    scale = _parse_scale(data["pain_scale"], path) if "pain_scale" in data else _species_scale_or_none(species)
    measurements = _parse_measurements(data.get("measurements", []), resolve, where, scale)
    shows_on = _parse_unit_shows_on(data.get("unit_shows_on"), resolve, where, scale)

    conversions = {}
    for target, spec in (data.get("conversions") or {}).items():
        conversions[target] = _parse_conversion(spec, resolve, n, where, target)

    template, units = _parse_template(data.get("template"), path, n, key)
    return Scheme(
        key=key,
        species=species,
        name=name,
        description=str(data.get("description", "")).strip(),
        landmarks=tuple(names),
        regions=regions,
        mirror_pairs=mirror,
        edges=edges,
        template=template,
        template_units=units,
        reference_pair=ref_pair,
        measurements=measurements,
        pain_scale=scale,
        conversions=conversions,
        yolo=dict(data.get("yolo") or {}),
        source=where,
        unit_shows_on=shows_on,
    )


def _parse_unit_shows_on(spec: Any, resolve, where: str, scale: PainScale | None) -> dict[str, tuple[int, ...]]:
    """``unit_shows_on: {unit: [landmarks]}``: where a unit shows, where its measurements do not say."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise SchemeError(f"{where}: 'unit_shows_on' must map pain units to lists of landmarks")
    out = {}
    for unit, pts in spec.items():
        if scale is not None and unit not in scale.units:
            raise SchemeError(f"{where}: 'unit_shows_on' names unit {unit!r}, not in {scale.name}")
        out[str(unit)] = tuple(sorted({resolve(p) for p in _expand(pts, f"{where}: unit_shows_on.{unit}")}))
    return out


def _species_scale_or_none(species: str) -> PainScale | None:
    try:
        return get_species_scale(species)
    except SchemeError:
        return None


def _derive(data: dict, path: Path, key: str) -> Scheme:
    """A scheme defined as a subset of another (e.g. UNBC's 66 points from iBUG 68)."""
    where = str(path)
    spec = data["derive"]
    base = get_scheme(spec.get("from", ""))
    keep_spec = spec.get("keep")
    drop_spec = spec.get("drop")
    if (keep_spec is None) == (drop_spec is None):
        raise SchemeError(f"{where}: 'derive' needs exactly one of 'keep' or 'drop'")
    resolve = _resolver(list(base.landmarks), where)
    if keep_spec is not None:
        keep = [resolve(i) for i in _expand(keep_spec, where)]
    else:
        drop = {resolve(i) for i in _expand(drop_spec, where)}
        keep = [i for i in range(base.n_points) if i not in drop]
    new_of = {old: new for new, old in enumerate(keep)}
    # Edges through a dropped point are contracted: its kept neighbours are joined.
    adj: dict[int, set[int]] = {i: set() for i in range(base.n_points)}
    for a, b in base.edges:
        adj[int(a)].add(int(b))
        adj[int(b)].add(int(a))
    for d in [i for i in range(base.n_points) if i not in new_of]:
        nbrs = adj.pop(d)
        for a in nbrs:
            adj[a].discard(d)
            adj[a].update(nbrs - {a})
    edges = {tuple(sorted((new_of[a], new_of[b]))) for a in adj for b in adj[a] if a in new_of and b in new_of}
    regions = {r: tuple(new_of[i] for i in idx if i in new_of) for r, idx in base.regions.items()}
    mirror = np.array([[new_of[a], new_of[b]] for a, b in base.mirror_pairs if a in new_of and b in new_of],
                      dtype=np.int64).reshape(-1, 2)
    measurements = []
    for m in base.measurements:
        if all(i in new_of for i in m.landmarks):
            args = {k: np.vectorize(new_of.get)(np.asarray(v)).tolist() for k, v in m.args.items()}
            measurements.append(Measurement(m.name, m.unit, m.kind, args, m.pain_direction, m.description))
    shows_on = {u: tuple(new_of[i] for i in idx if i in new_of) for u, idx in base.unit_shows_on.items()}
    if any(i not in new_of for i in base.reference_pair):
        raise SchemeError(f"{where}: derived scheme drops the reference distance points")
    n = len(keep)
    own_resolve = _resolver([base.landmarks[i] for i in keep], where)
    conversions = {t: _parse_conversion(c, own_resolve, n, where, t) for t, c in (data.get("conversions") or {}).items()}
    return Scheme(
        key=key,
        species=base.species,
        name=key.split("/")[1],
        description=str(data.get("description", "")).strip(),
        landmarks=tuple(base.landmarks[i] for i in keep),
        regions=regions,
        mirror_pairs=mirror,
        edges=np.array(sorted(edges), dtype=np.int64).reshape(-1, 2),
        template=base.template[keep],
        template_units=base.template_units,
        reference_pair=(new_of[base.reference_pair[0]], new_of[base.reference_pair[1]]),
        measurements=tuple(measurements),
        pain_scale=base.pain_scale,
        conversions=conversions,
        yolo=dict(data.get("yolo") or {}),
        source=where,
        unit_shows_on=shows_on,
        derived_from=base.key,
        derived_keep=tuple(keep),
    )


def _resolver(names: Sequence[str], where: str):
    lookup = {nm: i for i, nm in enumerate(names)}
    n = len(names)

    def resolve(item: Any) -> int:
        if isinstance(item, bool):
            raise SchemeError(f"{where}: {item!r} is not a landmark")
        if isinstance(item, (int, np.integer)):
            if not 0 <= int(item) < n:
                raise SchemeError(f"{where}: landmark index {item} out of range 0..{n - 1}")
            return int(item)
        if isinstance(item, str) and item in lookup:
            return lookup[item]
        raise SchemeError(f"{where}: unknown landmark {item!r}")

    return resolve


def _expand(spec: Any, where: str) -> list:
    """Lists may hold names, ints and inclusive ranges written ``"a..b"``."""
    if isinstance(spec, (str, int)):
        spec = [spec]
    if not isinstance(spec, list):
        raise SchemeError(f"{where}: expected a list of landmarks, got {spec!r}")
    out: list = []
    for item in spec:
        if isinstance(item, str) and ".." in item:
            a, b = item.split("..", 1)
            try:
                out.extend(range(int(a), int(b) + 1))
            except ValueError:
                raise SchemeError(f"{where}: bad range {item!r}") from None
        else:
            out.append(item)
    return out


def _parse_regions(spec: Any, resolve, n: int, where: str) -> dict[str, tuple[int, ...]]:
    if not isinstance(spec, dict):
        raise SchemeError(f"{where}: 'regions' must map region names to landmarks")
    regions: dict[str, tuple[int, ...]] = {}
    seen = np.zeros(n, dtype=int)
    for name, items in spec.items():
        if name not in REGIONS:
            raise SchemeError(f"{where}: region {name!r} is not one of {REGIONS}")
        idx = tuple(resolve(i) for i in _expand(items, where))
        regions[name] = idx
        seen[list(idx)] += 1
    if (seen != 1).any():
        bad = np.flatnonzero(seen != 1)[:5].tolist()
        raise SchemeError(f"{where}: every landmark must be in exactly one region (check indices {bad})")
    return regions


def _pairs(spec: Any, resolve, where: str, what: str) -> np.ndarray:
    if not isinstance(spec, list):
        raise SchemeError(f"{where}: '{what}' must be a list of pairs")
    out = []
    for p in spec:
        if not isinstance(p, list) or len(p) != 2:
            raise SchemeError(f"{where}: '{what}' entry {p!r} is not a pair")
        out.append((resolve(p[0]), resolve(p[1])))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def _parse_edges(spec: Any, resolve, where: str) -> np.ndarray:
    if not isinstance(spec, dict):
        raise SchemeError(f"{where}: 'edges' must have 'paths', 'loops' and/or 'pairs'")
    edges: set[tuple[int, int]] = set()
    for kind in ("paths", "loops"):
        for chain in spec.get(kind, []) or []:
            idx = [resolve(i) for i in _expand(chain, where)]
            if len(idx) < 2:
                raise SchemeError(f"{where}: edge {kind[:-1]} {chain!r} has fewer than 2 points")
            links = list(zip(idx[:-1], idx[1:]))
            if kind == "loops":
                links.append((idx[-1], idx[0]))
            edges.update(tuple(sorted(e)) for e in links)
    for a, b in _pairs(spec.get("pairs", []) or [], resolve, where, "edges.pairs"):
        edges.add(tuple(sorted((int(a), int(b)))))
    if any(a == b for a, b in edges):
        raise SchemeError(f"{where}: an edge joins a landmark to itself")
    if not edges:
        raise SchemeError(f"{where}: the scheme declares no edges")
    return np.array(sorted(edges), dtype=np.int64)


def _parse_scale(spec: Any, path: Path) -> PainScale:
    where = str(path)
    if not isinstance(spec, dict):
        raise SchemeError(f"{where}: 'pain_scale' must be a mapping")
    try:
        units = {
            u: PainUnit(u, str(v.get("description", "")), float(v["min"]), float(v["max"]))
            for u, v in spec["units"].items()
        }
        levels = spec.get("levels", {})
        scale = PainScale(
            name=str(spec["name"]),
            units=units,
            total=str(spec["total"]),
            range=(float(spec["range"][0]), float(spec["range"][1])),
            binary_threshold=float(spec["binary_threshold"]),
            level_cut_offs=tuple(float(c) for c in levels.get("cut_offs", [])),
            level_names=tuple(str(c) for c in levels.get("names", [])),
            reference=str(spec.get("reference", "")),
        )
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
        raise SchemeError(f"{where}: malformed pain_scale ({type(exc).__name__}: {exc})") from None
    if scale.level_names and len(scale.level_names) != scale.n_levels:
        raise SchemeError(f"{where}: {len(scale.level_names)} level names for {scale.n_levels} levels")
    # validate the formula now, on the unit maxima: it must give the scale's maximum
    try:
        top = float(scale.total_score({u: v.max for u, v in units.items()}))
    except SchemeError as exc:  # a bad formula: say which file holds it
        raise SchemeError(f"{where}: {exc}") from None
    if not np.isclose(top, scale.range[1]):
        raise SchemeError(f"{where}: total formula gives {top} at unit maxima, range says {scale.range[1]}")
    return scale


def _parse_measurements(spec: Any, resolve, where: str, scale: PainScale | None) -> tuple[Measurement, ...]:
    out = []
    names = set()
    for m in spec or []:
        try:
            name, unit, kind = m["name"], m["unit"], m["kind"]
        except (KeyError, TypeError):
            raise SchemeError(f"{where}: measurement {m!r} needs name, unit and kind") from None
        if name in names:
            raise SchemeError(f"{where}: measurement {name!r} defined twice")
        names.add(name)
        if kind not in MEASUREMENT_KINDS:
            raise SchemeError(f"{where}: measurement {name!r} has unknown kind {kind!r} ({list(MEASUREMENT_KINDS)})")
        if scale is not None and unit not in scale.units:
            raise SchemeError(f"{where}: measurement {name!r} names unit {unit!r}, not in {scale.name}")
        args = {}
        for arg in MEASUREMENT_KINDS[kind]:
            if arg not in m:
                raise SchemeError(f"{where}: measurement {name!r} ({kind}) needs '{arg}'")
            args[arg] = _nested_resolve(m[arg], resolve, where)
        shape_ok = {
            "pairs": lambda a: a.ndim == 2 and a.shape[1] == 2,
            "numerator": lambda a: a.ndim == 2 and a.shape[1] == 2,
            "denominator": lambda a: a.ndim == 2 and a.shape[1] == 2,
            "points": lambda a: a.ndim == 1,
            "line": lambda a: a.shape == (2,),
            "triplets": lambda a: a.ndim == 2 and a.shape[1] == 3,
            "lines": lambda a: a.shape == (2, 2),
        }
        for arg, value in args.items():
            if not shape_ok[arg](np.asarray(value)):
                raise SchemeError(f"{where}: measurement {name!r}: '{arg}' has the wrong shape")
        direction = m.get("pain_direction", "increases")
        if direction not in ("increases", "decreases"):
            raise SchemeError(f"{where}: measurement {name!r}: pain_direction must be increases or decreases")
        out.append(Measurement(name, unit, kind, args, 1 if direction == "increases" else -1,
                               str(m.get("description", ""))))
    return tuple(out)


def _nested_resolve(value: Any, resolve, where: str) -> Any:
    if isinstance(value, list):
        return [_nested_resolve(v, resolve, where) for v in value]
    return resolve(value)


def _parse_conversion(spec: Any, resolve, n: int, where: str, target: str) -> np.ndarray:
    """``indices``: one source landmark (or a list, averaged) per target landmark."""
    if not isinstance(spec, dict) or not isinstance(spec.get("indices"), list):
        raise SchemeError(f"{where}: conversion to {target} needs 'indices'")
    rows = spec["indices"]
    W = np.zeros((len(rows), n))
    for t, src in enumerate(rows):
        srcs = src if isinstance(src, list) else [src]
        if not srcs:
            raise SchemeError(f"{where}: conversion to {target}: target point {t} has no source")
        for s in srcs:
            W[t, resolve(s)] += 1.0 / len(srcs)
    return W


def _parse_template(spec: Any, path: Path, n: int, key: str) -> tuple[np.ndarray, str]:
    where = str(path)
    if not isinstance(spec, dict):
        raise SchemeError(f"{where}: 'template' must be a mapping with 'file', 'coords' or 'from'")
    units = str(spec.get("units", "template"))
    if "coords" in spec:
        coords = np.asarray(spec["coords"], dtype=float)
    elif "file" in spec:
        f = path.parent / spec["file"]
        try:
            coords = np.loadtxt(f, comments="#", dtype=float)
        except (OSError, ValueError) as exc:
            raise SchemeError(f"{f}: cannot read template ({exc})") from None
    elif "from" in spec:
        other = get_scheme(spec["from"])
        coords = other.conversion_to(key) @ other.template
        units = other.template_units
    else:
        raise SchemeError(f"{where}: 'template' needs 'file', 'coords' or 'from'")
    if coords.shape != (n, 3) or not np.isfinite(coords).all():
        raise SchemeError(f"{where}: template must be {n} finite 3D points, got shape {coords.shape}")
    return coords, units


# ----------------------------------------------------------------------------------------
# Conversion between schemes
# ----------------------------------------------------------------------------------------


def convert_coords(coords: np.ndarray, source: str, target: str) -> np.ndarray:
    """Map ``(..., N_source, 3)`` coordinates to ``target``'s ``(..., N_target, 3)``.

    Uses the declared weights; a target point averaged from several sources is NaN
    when any of them is missing.
    """
    W = get_scheme(source).conversion_to(target) if source != target else None
    if W is None:
        return np.asarray(coords)
    return _apply_conversion(W, coords).astype(np.asarray(coords).dtype)


def _apply_conversion(W: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """``(N_t, N) @ (..., N, C)`` where a missing (NaN) source coordinate makes only the target
    coordinates that use it NaN (a plain product would spread it to every target point: 0 * NaN)."""
    x = np.asarray(coords, dtype=np.float64)
    nan = np.isnan(x)
    out = np.einsum("tn,...nc->...tc", W, np.where(nan, 0.0, x))
    out[np.einsum("tn,...nc->...tc", (W != 0).astype(np.float64), nan.astype(np.float64)) > 0] = np.nan
    return out


def convert_sequence(seq, target: str):
    """A :class:`~geopain.landmarks.LandmarkSequence` in another scheme of its species."""
    W = get_scheme(seq.scheme).conversion_to(target)
    coords = _apply_conversion(W, seq.coords).astype(np.float32)
    # confidence of a combined point: the least confident of its sources
    conf = np.where(W[None] > 0, seq.confidence[:, None, :], np.inf).min(-1)
    conf = np.where(np.isinf(conf), np.nan, conf).astype(np.float32)
    return seq.with_coords(coords, scheme=target, confidence=conf)


# ----------------------------------------------------------------------------------------
# Safe evaluation of the total formula
# ----------------------------------------------------------------------------------------

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_FUNCS = {"max": np.maximum, "min": np.minimum}


def _eval_formula(expr: str, env: dict[str, np.ndarray]) -> np.ndarray:
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        raise SchemeError(f"pain scale formula {expr!r} is not an expression") from None

    def ev(node: ast.AST):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in env:
                raise SchemeError(f"formula {expr!r}: unknown unit {node.id!r}")
            return env[node.id]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS:
            args = [ev(a) for a in node.args]
            if len(args) < 2:
                raise SchemeError(f"formula {expr!r}: {node.func.id} needs two or more arguments")
            return functools.reduce(_FUNCS[node.func.id], args)
        raise SchemeError(f"formula {expr!r}: only + - * /, numbers, unit names, max() and min() are allowed")

    return np.asarray(ev(tree), dtype=float)
