"""Pain-unit measurements, computed generically from a scheme's declarations.

Each :class:`~geopain.species.Measurement` of a scheme has a ``kind`` from
:data:`~geopain.species.MEASUREMENT_KINDS`:

============================  ==========================================================
``distance`` (pairs)          mean ``|a - b|`` over pairs / reference distance
``ratio`` (numerator, den.)   ``sum |a - b|`` over numerator pairs / same over denominator
``point_line_distance``       mean distance of the points to the (infinite) line a-b /
                              reference distance
``angle`` (triplets)          mean angle a-b-c at b, degrees (0-180)
``line_angle`` (lines)        angle between the directed lines a->b and c->d, degrees
============================  ==========================================================

All values are scale-free (the reference distance is the scheme's ``reference_pair``
measured in the same frame) and invariant to rotation and translation, so in 3D they can
be computed before or after normalisation. 2D detections must be normalised first (their
``z`` is NaN). A measurement is NaN in a frame where any of its points is missing.

The scheme is compiled once into gather indices and averaging matrices
(:class:`MeasurementPlan`): every pair distance, point-line distance and angle any
measurement needs is computed once for all frames, and the measurements are matrix
products of those, so cost grows with frames x (distinct primitives), with no Python loop
over frames or measurements.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from ..errors import GeopainError, ShapeError, check_shape
from ..species import MEASUREMENT_KINDS, Scheme, get_scheme

__all__ = ["MeasurementPlan", "compile_measurements", "measure", "measure_array", "measure_sequences",
           "unit_scores", "template_measurements"]


@dataclass(frozen=True)
class MeasurementPlan:
    """Gather indices and combination matrices for a scheme's measurements."""

    names: tuple[str, ...]
    units: tuple[str, ...]
    directions: np.ndarray  # (M,) +1/-1
    pairs: np.ndarray  # (P, 2) distinct pairs; row 0 is the reference pair
    dist_avg: np.ndarray  # (P, M) mean over pairs (distance kind, divided by reference later)
    ratio_num: np.ndarray  # (P, M)
    ratio_den: np.ndarray  # (P, M)
    pl: np.ndarray  # (Q, 3) point, line a, line b
    pl_avg: np.ndarray  # (Q, M)
    tri: np.ndarray  # (A, 3) a, b (vertex), c
    tri_avg: np.ndarray  # (A, M)
    quad: np.ndarray  # (L, 4) a, b, c, d
    quad_avg: np.ndarray  # (L, M)
    kinds: np.ndarray  # (M,) index into MEASUREMENT_KINDS
    n_points: int


_PLANS: dict[tuple, MeasurementPlan] = {}


def _scheme(scheme: Scheme | str) -> Scheme:
    return get_scheme(scheme) if isinstance(scheme, str) else scheme


def compile_measurements(scheme: Scheme | str) -> MeasurementPlan:
    """The (cached) :class:`MeasurementPlan` of a scheme."""
    sch = _scheme(scheme)
    cache_key = (sch.key, sch.source, len(sch.measurements))
    plan = _PLANS.get(cache_key)
    if plan is not None:
        return plan
    ms = sch.measurements
    M = len(ms)
    pairs: dict[tuple[int, int], int] = {tuple(sorted(sch.reference_pair)): 0}
    pls: dict[tuple, int] = {}
    tris: dict[tuple, int] = {}
    quads: dict[tuple, int] = {}

    def add(table: dict, key: tuple) -> int:
        return table.setdefault(key, len(table))

    entries: list[tuple[str, int, int, float]] = []  # (matrix, row, col, value)
    kinds = np.zeros(M, dtype=np.int64)
    kind_names = list(MEASUREMENT_KINDS)
    for j, m in enumerate(ms):
        if m.kind not in MEASUREMENT_KINDS:
            raise GeopainError(f"{sch.key}: measurement {m.name!r} has unknown kind {m.kind!r}")
        kinds[j] = kind_names.index(m.kind)
        a = m.args
        try:
            if m.kind == "distance":
                pp = np.asarray(a["pairs"], dtype=np.int64).reshape(-1, 2)
                for p in pp:
                    entries.append(("dist", add(pairs, tuple(sorted(p.tolist()))), j, 1.0 / len(pp)))
            elif m.kind == "ratio":
                for name, mat in (("numerator", "num"), ("denominator", "den")):
                    pp = np.asarray(a[name], dtype=np.int64).reshape(-1, 2)
                    for p in pp:
                        entries.append((mat, add(pairs, tuple(sorted(p.tolist()))), j, 1.0))
            elif m.kind == "point_line_distance":
                pts = np.ravel(np.asarray(a["points"], dtype=np.int64))
                la, lb = (int(v) for v in np.ravel(a["line"]))
                for p in pts:
                    entries.append(("pl", add(pls, (int(p), la, lb)), j, 1.0 / len(pts)))
            elif m.kind == "angle":
                tt = np.asarray(a["triplets"], dtype=np.int64).reshape(-1, 3)
                for t in tt:
                    entries.append(("tri", add(tris, tuple(t.tolist())), j, 1.0 / len(tt)))
            elif m.kind == "line_angle":
                ll = np.asarray(a["lines"], dtype=np.int64).reshape(-1, 4)
                for q in ll:
                    entries.append(("quad", add(quads, tuple(q.tolist())), j, 1.0 / len(ll)))
        except (KeyError, ValueError, TypeError) as exc:
            raise GeopainError(f"{sch.key}: measurement {m.name!r} ({m.kind}) has bad arguments: {exc}") from None

    def mat(name: str, table: dict) -> np.ndarray:
        out = np.zeros((len(table), M), dtype=np.float32)
        for mname, r, c, v in entries:
            if mname == name:
                out[r, c] += v
        return out

    def idx(table: dict, width: int) -> np.ndarray:
        arr = np.zeros((len(table), width), dtype=np.int64)
        for key, r in table.items():
            arr[r] = key
        return arr

    plan = MeasurementPlan(
        names=tuple(m.name for m in ms),
        units=tuple(m.unit for m in ms),
        directions=np.array([m.pain_direction for m in ms], dtype=np.float64),
        pairs=idx(pairs, 2),
        dist_avg=mat("dist", pairs),
        ratio_num=mat("num", pairs),
        ratio_den=mat("den", pairs),
        pl=idx(pls, 3),
        pl_avg=mat("pl", pls),
        tri=idx(tris, 3),
        tri_avg=mat("tri", tris),
        quad=idx(quads, 4),
        quad_avg=mat("quad", quads),
        kinds=kinds,
        n_points=sch.n_points,
    )
    _PLANS[cache_key] = plan
    return plan


def _angle(u: tuple, v: tuple) -> np.ndarray:
    """Degrees between vectors given as component arrays ``(ux, uy, uz)``, ``(vx, vy, vz)``
    (atan2 form, accurate near 0 and 180)."""
    ux, uy, uz = u
    vx, vy, vz = v
    cx, cy, cz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
    cross = np.sqrt(cx * cx + cy * cy + cz * cz)
    return np.degrees(np.arctan2(cross, ux * vx + uy * vy + uz * vz))


def _combine(prim: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """``prim (F, P) @ mat (P, M)``, NaN in a column when any primitive it uses is NaN."""
    bad = np.isnan(prim)
    if not bad.any():
        return prim @ mat
    vals = np.where(bad, np.float32(0), prim) @ mat
    anybad = (bad.astype(np.float32) @ (mat != 0).astype(np.float32)) > 0
    return np.where(anybad, np.float32(np.nan), vals)


#: Points (frames x landmarks) per block: temporaries stay in cache.
BLOCK_POINTS = 4096 * 68


def measure_array(coords: np.ndarray, scheme: Scheme | str) -> np.ndarray:
    """``(F, M)`` float32 measurements of ``(F, N, 3)`` coordinates (see module doc)."""
    plan = compile_measurements(scheme)
    c = np.asarray(coords)
    if c.ndim == 2:
        c = c[None]
    check_shape("coords", c, (None, plan.n_points, 3))
    B = max(64, BLOCK_POINTS // max(c.shape[1], 1))
    if c.shape[0] > B:
        return np.concatenate([_measure_block(c[i:i + B], plan) for i in range(0, c.shape[0], B)])
    return _measure_block(c, plan)


def _measure_block(c: np.ndarray, plan: MeasurementPlan) -> np.ndarray:
    if c.dtype != np.float32:
        c = c.astype(np.float32)
    F = c.shape[0]
    M = len(plan.names)
    out = np.zeros((F, M), dtype=np.float32)
    if M == 0:
        return out
    # coordinate-major layout: x, y, z rows of (F, N); gathers along the last axis are fast and
    # every vector formula below works on contiguous (F, K) component arrays
    ct = np.ascontiguousarray(c.transpose(0, 2, 1))
    X, Y, Z = ct[:, 0], ct[:, 1], ct[:, 2]

    def diff(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (np.take(X, j, axis=1) - np.take(X, i, axis=1), np.take(Y, j, axis=1) - np.take(Y, i, axis=1),
                np.take(Z, j, axis=1) - np.take(Z, i, axis=1))

    dx, dy, dz = diff(plan.pairs[:, 0], plan.pairs[:, 1])
    dist = np.sqrt(dx * dx + dy * dy + dz * dz)  # (F, P)
    ref = dist[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = np.where(ref > 0, ref, np.nan)[:, None]
        if plan.dist_avg.any():
            cols = plan.dist_avg.any(0)
            out[:, cols] = (_combine(dist, plan.dist_avg) / ref)[:, cols]
        if plan.ratio_num.any():
            cols = plan.ratio_num.any(0)
            out[:, cols] = (_combine(dist, plan.ratio_num)[:, cols] / _combine(dist, plan.ratio_den)[:, cols])
        if len(plan.pl):
            ux, uy, uz = diff(plan.pl[:, 1], plan.pl[:, 0])  # a -> p
            vx, vy, vz = diff(plan.pl[:, 1], plan.pl[:, 2])  # a -> b
            cx, cy, cz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
            dl = np.sqrt((cx * cx + cy * cy + cz * cz) / (vx * vx + vy * vy + vz * vz))
            cols = plan.pl_avg.any(0)
            out[:, cols] = (_combine(dl, plan.pl_avg) / ref)[:, cols]
        if len(plan.tri):
            ang = _angle(diff(plan.tri[:, 1], plan.tri[:, 0]), diff(plan.tri[:, 1], plan.tri[:, 2]))
            cols = plan.tri_avg.any(0)
            out[:, cols] = _combine(ang, plan.tri_avg)[:, cols]
        if len(plan.quad):
            ang = _angle(diff(plan.quad[:, 0], plan.quad[:, 1]), diff(plan.quad[:, 2], plan.quad[:, 3]))
            cols = plan.quad_avg.any(0)
            out[:, cols] = _combine(ang, plan.quad_avg)[:, cols]
    return out


def measure(coords: np.ndarray, scheme: Scheme | str) -> pd.DataFrame:
    """``(F, n_measurements)`` DataFrame of the scheme's measurements, columns = names.

    ``coords`` are ``(F, N, 3)`` (3D, any pose, or normalised 2D); NaN where points miss.
    """
    plan = compile_measurements(scheme)
    return pd.DataFrame(measure_array(coords, scheme), columns=list(plan.names))


def template_measurements(scheme: Scheme | str) -> pd.Series:
    """The scheme's measurements on its own neutral template."""
    sch = _scheme(scheme)
    return measure(sch.template[None], sch).iloc[0]


def measure_sequences(sequences: Iterable, normalize_first: bool | None = None, baseline=None) -> pd.DataFrame:
    """One row per frame: ``subject, sequence, frame, face_id, timestamp``, labels, measurements.

    Sequences that are 2D or not yet in template units are normalised first
    (:func:`~geopain.geometry.normalize.normalize`, with ``baseline``) unless
    ``normalize_first=False``. Sequences may use different schemes only if their
    measurement names agree (columns are the union; absent ones are NaN).
    """
    from .normalize import normalize

    frames = []
    for s in sequences:
        need = s.units != "template" or s.dims == 2 and not s.meta.get("normalization")
        if normalize_first or (normalize_first is None and (need or baseline is not None)):
            s = normalize(s, baseline=baseline)
        elif s.dims == 2 and not s.meta.get("normalization"):
            raise ShapeError(f"{s.subject}/{s.sequence}: 2D landmarks must be normalised before measuring")
        df = measure(s.coords, s.scheme)
        head = pd.DataFrame({
            "subject": s.subject, "sequence": s.sequence, "frame": s.frames, "face_id": s.face_id,
            "timestamp": s.timestamps, "scheme": s.scheme,
        })
        labels = pd.DataFrame({k: v for k, v in s.labels.items()}, index=head.index)
        frames.append(pd.concat([head, labels, df], axis=1))
    if not frames:
        raise ShapeError("no sequences given")
    return pd.concat(frames, ignore_index=True)


def unit_scores(
    measurements: pd.DataFrame,
    scheme: Scheme | str,
    zscore: bool = False,
    reference: pd.Series | None = None,
) -> pd.DataFrame:
    """Per pain unit, the mean of its measurements' signed deviations from a reference.

    For measurement ``m`` of unit ``u``: ``d_m = pain_direction_m * (m - reference_m)``,
    so larger always means "more like pain". ``reference`` defaults to the measurements of
    the scheme's template (neutral face). With ``zscore=True`` each ``d_m`` is divided by its
    standard deviation over the rows before averaging (units mixing degrees and ratios stay
    balanced); otherwise angles count in degrees and distances in reference units.

    Returns:
        DataFrame ``(F, n_units)`` with the scheme's pain-unit names as columns.
    """
    sch = _scheme(scheme)
    plan = compile_measurements(sch)
    missing = [n for n in plan.names if n not in measurements.columns]
    if missing:
        raise ShapeError(f"measurements: columns missing for {missing}")
    ref = template_measurements(sch) if reference is None else reference
    vals = measurements[list(plan.names)].to_numpy(np.float64)
    d = plan.directions * (vals - ref[list(plan.names)].to_numpy(np.float64))
    if zscore:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            sd = np.nanstd(d, axis=0)
        d = d / np.where(sd > 0, sd, 1.0)
    units = list(dict.fromkeys(plan.units))
    out = {}
    for u in units:
        cols = [i for i, un in enumerate(plan.units) if un == u]
        block = d[:, cols]
        n = np.isfinite(block).sum(1)
        out[u] = np.where(n > 0, np.nansum(block, axis=1) / np.maximum(n, 1), np.nan)
    return pd.DataFrame(out, index=measurements.index)
