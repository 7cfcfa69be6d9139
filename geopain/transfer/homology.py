"""Homology between species, as data: which regions and pain units correspond, and how strongly.

A species declares its homology in ``species/<species>/species.yaml`` (or inline in a one-file
species, a scheme YAML with ``pain_scale:``) under ``homology:``::

    homology:
      regions:                  # own region -> {shared region: strength in (0, 1]}
        eyes: {eyes: 1.0}
        brows_ears: {brows_ears: 0.3}     # human brows ~ sheep ears: weak
      units:                    # own pain unit -> {shared unit: strength in (0, 1]}
        AU6: {orbital_tightening: 0.5, cheek_tightening: 1.0}
        AU7: {orbital_tightening: 1.0}

Own regions are the scheme's regions (:data:`geopain.species.REGIONS`); shared regions are
the same vocabulary. Own units are the species' pain-scale units; shared units are the
vocabulary :data:`SHARED_UNITS`. Two species are compared through the shared names both
declare. Nothing here is code per species: a third species (a cat, a horse) declares its
homology in its own YAML and every transfer method works with it.

How the strengths are used (:class:`Homology`):

- ``region_pooling(scheme)``: ``(R, N)`` weights that pool a scheme's landmarks into the
  :data:`~geopain.species.REGIONS` (strength-weighted means: a weak correspondence enters
  the shared representation damped);
- ``unit_targets(labels)``: the shared-unit intensities of labelled frames,
  ``t_k = max_u s(u, k) * u / max(u)`` in ``[0, 1]`` (NaN where the species declares no
  unit for ``k``), the auxiliary targets of the shared model;
- :func:`unit_correspondence`: the unit-by-unit strengths between two species
  (``max_k s_A(u, k) s_B(v, k)``), for reports.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import SchemeError
from ..species import (REGIONS, PainScale, Scheme, default_scheme, get_scheme, get_species_scale, list_schemes,
                       read_adapter_yaml, species_dirs)

#: The shared pain-unit vocabulary: facial actions that pain scales of several species score.
SHARED_UNITS: dict[str, str] = {
    "orbital_tightening": "eye narrowed or closed (human AU6/AU7/AU43; orbital tightening of animal grimace scales)",
    "cheek_tightening": "cheek raised or tensed (human AU6; cheek tightening / flattening)",
    "brow_ear": "brow lowered (human AU4) or ears moved back / down (animal scales): a weak correspondence",
    "nose": "nose wrinkled, nostrils changed (human AU9/AU10; nostril and philtrum, nose bulge)",
    "mouth": "lips and jaw (human AU10 and mouth movements; lip and jaw profile, muzzle tension)",
}


@dataclass(frozen=True)
class Homology:
    """One species' declared correspondences (see the module docstring).

    ``regions``: own region -> {shared region: strength}; ``units``: own unit ->
    {shared unit: strength}; ``source``: the file that declared it.
    """

    species: str
    regions: dict[str, dict[str, float]]
    units: dict[str, dict[str, float]]
    source: str

    @property
    def shared_units(self) -> tuple[str, ...]:
        """Shared units this species declares, in :data:`SHARED_UNITS` order."""
        have = {k for m in self.units.values() for k in m}
        return tuple(k for k in SHARED_UNITS if k in have)

    @property
    def shared_regions(self) -> tuple[str, ...]:
        have = {k for m in self.regions.values() for k in m}
        return tuple(r for r in REGIONS if r in have)

    def region_pooling(self, scheme: Scheme) -> np.ndarray:
        """``(R, N)`` pooling weights of ``scheme``'s landmarks into :data:`REGIONS`.

        Row ``k`` averages the landmarks of every own region mapped to ``k`` (each own region
        counting equally) and multiplies by that region's strength; rows of shared regions the
        species does not map are 0.
        """
        P = np.zeros((len(REGIONS), scheme.n_points))
        for own, targets in self.regions.items():
            idx = list(scheme.regions.get(own, ()))
            if not idx:
                continue
            for shared, s in targets.items():
                P[REGIONS.index(shared), idx] += s / len(idx)
        counts = np.array([sum(1 for own, t in self.regions.items() if r in t and scheme.regions.get(own))
                           for r in REGIONS], dtype=float)
        return P / np.maximum(counts, 1.0)[:, None]

    def unit_targets(self, unit_labels: Mapping[str, np.ndarray], scale: PainScale, n_frames: int) -> np.ndarray:
        """``(F, K)`` shared-unit intensities in ``[0, 1]`` (columns :data:`SHARED_UNITS`) from the
        frames' own unit labels; NaN where no declared unit is labelled."""
        out = np.full((n_frames, len(SHARED_UNITS)), np.nan)
        names = list(SHARED_UNITS)
        for own, targets in self.units.items():
            if own not in unit_labels:
                continue
            unit = scale.units[own]
            v = (np.asarray(unit_labels[own], dtype=float) - unit.min) / max(unit.max - unit.min, 1e-12)
            for shared, s in targets.items():
                k = names.index(shared)
                out[:, k] = np.fmax(out[:, k], s * v)
        return out

    def own_units(self, shared: np.ndarray, scale: PainScale) -> dict[str, np.ndarray]:
        """The inverse of :meth:`unit_targets`: own unit intensities (scale units) from shared-unit
        intensities ``(S, K)``: ``u = min + (max - min) * clip(mean_k t_k / s(u, k), 0, 1)``."""
        names = list(SHARED_UNITS)
        out = {}
        for own, targets in self.units.items():
            unit = scale.units[own]
            v = np.mean([shared[:, names.index(k)] / s for k, s in targets.items()], axis=0)
            out[own] = unit.min + (unit.max - unit.min) * np.clip(v, 0.0, 1.0)
        return out

    def score_from_shared(self, shared: np.ndarray, scale: PainScale) -> np.ndarray:
        """``(S,)`` the species' own total score (e.g. SPFES 0-10) of shared-unit intensities, through
        :meth:`own_units` and the scale's formula; units the homology does not declare count as 0."""
        units = self.own_units(shared, scale)
        zero = np.zeros(len(shared))
        return scale.total_score({u: units.get(u, zero) for u in scale.units})


def unit_correspondence(a: Homology, b: Homology) -> dict[str, dict[str, float]]:
    """``{unit of a: {unit of b: strength}}`` through the shared units (``max_k s_a s_b``; > 0 only)."""
    out: dict[str, dict[str, float]] = {}
    for u, mu in a.units.items():
        for v, mv in b.units.items():
            s = max((mu[k] * mv[k] for k in mu if k in mv), default=0.0)
            if s > 0:
                out.setdefault(u, {})[v] = float(s)
    return out


def _strength_map(spec: Any, where: str, key: str, allowed_own: set[str], allowed_shared: Mapping | tuple,
                  own_what: str, shared_what: str) -> dict[str, dict[str, float]]:
    if not isinstance(spec, dict) or not spec:
        raise SchemeError(f"{where}: homology.{key} must map each {own_what} to {{shared {shared_what}: strength}}")
    out: dict[str, dict[str, float]] = {}
    for own, targets in spec.items():
        if own not in allowed_own:
            raise SchemeError(f"{where}: homology.{key}.{own}: not a {own_what} of this species "
                              f"(known: {', '.join(sorted(allowed_own))})")
        if not isinstance(targets, dict) or not targets:
            raise SchemeError(f"{where}: homology.{key}.{own} must map shared {shared_what}s to strengths, got {targets!r}")
        row = {}
        for shared, s in targets.items():
            if shared not in allowed_shared:
                raise SchemeError(f"{where}: homology.{key}.{own}.{shared}: not a shared {shared_what} "
                                  f"(shared {shared_what}s: {', '.join(allowed_shared)})")
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 < float(s) <= 1.0:
                raise SchemeError(f"{where}: homology.{key}.{own}.{shared}: strength must be a number in (0, 1], got {s!r}")
            row[str(shared)] = float(s)
        out[str(own)] = row
    return out


def parse_homology(spec: Any, where: str, species: str, scheme: Scheme, scale: PainScale) -> Homology:
    """Validate a ``homology:`` mapping; errors name ``where`` and the key, in one line."""
    if not isinstance(spec, dict):
        raise SchemeError(f"{where}: homology must be a mapping with 'regions' and 'units'")
    unknown = set(spec) - {"regions", "units"}
    if unknown:
        raise SchemeError(f"{where}: homology.{sorted(unknown)[0]}: unknown key (expected 'regions' and 'units')")
    for key in ("regions", "units"):
        if key not in spec:
            raise SchemeError(f"{where}: homology.{key} is missing")
    regions = _strength_map(spec["regions"], where, "regions", set(scheme.regions), REGIONS, "region", "region")
    units = _strength_map(spec["units"], where, "units", set(scale.units), SHARED_UNITS, "pain unit", "unit")
    return Homology(species=species, regions=regions, units=units, source=where)


@functools.lru_cache(maxsize=None)
def _cached(species: str, dirs: tuple[str, ...]) -> Homology:
    for d in reversed([Path(p) for p in dirs]):
        f = d / species / "species.yaml"
        if f.is_file():
            data = _read(f)
            if "homology" in data:
                return parse_homology(data["homology"], str(f), species, get_scheme(default_scheme(species)),
                                      get_species_scale(species))
    for key in [k for k in list_schemes() if k.split("/", 1)[0] == species]:  # a one-file species
        sch = get_scheme(key)
        data = _read(Path(sch.source))
        if "homology" in data and sch.pain_scale is not None:
            return parse_homology(data["homology"], sch.source, species, sch, sch.pain_scale)
    known = sorted({k.split("/", 1)[0] for k in list_schemes()})
    if species not in known:
        raise SchemeError(f"unknown species {species!r}; known: {', '.join(known)}")
    raise SchemeError(f"species {species!r} declares no homology (add a 'homology:' block with 'regions' and 'units' "
                      f"to its species.yaml); transfer needs it")


def _read(path: Path) -> dict[str, Any]:
    return read_adapter_yaml(path)


def get_homology(species: str) -> Homology:
    """The declared homology of ``species`` (``"sheep"``) or of a scheme key's species (``"sheep/spfes"``)."""
    species = species.split("/", 1)[0]
    return _cached(species, tuple(str(d) for d in species_dirs()))


def clear_cache() -> None:
    """Forget loaded homologies (after editing a species YAML in the same process)."""
    _cached.cache_clear()
