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
sparse combinations of those, so cost grows with frames x (distinct primitives). A fused
Numba kernel (:func:`geopain.geometry.kernels.measure_kernel`) does both per frame while the
frame is in cache, frames in parallel threads.
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


def _csr(plan: MeasurementPlan) -> tuple[np.ndarray, ...]:
    """The plan as sparse rows over one primitive vector ``[pairs, pl, tri, quad]`` (cached):
    ``ptr, idx, coef`` (numerators), ``dptr, didx, dcoef`` (ratio denominators), ``by_ref``."""
    cached = _CSR.get(id(plan))
    if cached is not None and cached[0] is plan:
        return cached[1]
    P, Q, A = len(plan.pairs), len(plan.pl), len(plan.tri)
    mats = {"distance": (plan.dist_avg, 0), "ratio": (plan.ratio_num, 0), "point_line_distance": (plan.pl_avg, P),
            "angle": (plan.tri_avg, P + Q), "line_angle": (plan.quad_avg, P + Q + A)}
    kinds = list(MEASUREMENT_KINDS)
    num, den = [[], [], []], [[], [], []]
    ptr, dptr, by_ref = [0], [0], []
    for j, k in enumerate(plan.kinds):
        kind = kinds[int(k)]
        mat, off = mats[kind]
        rows = np.flatnonzero(mat[:, j])
        num[0].extend(rows + off)
        num[1].extend(mat[rows, j].astype(np.float64))
        ptr.append(ptr[-1] + len(rows))
        if kind == "ratio":
            drows = np.flatnonzero(plan.ratio_den[:, j])
            den[0].extend(drows)
            den[1].extend(plan.ratio_den[drows, j].astype(np.float64))
        dptr.append(len(den[0]))
        by_ref.append(kind in ("distance", "point_line_distance"))
    arrays = (np.asarray(ptr, np.int64), np.asarray(num[0], np.int64), np.asarray(num[1], np.float64),
              np.asarray(dptr, np.int64), np.asarray(den[0], np.int64), np.asarray(den[1], np.float64),
              np.asarray(by_ref, np.bool_))
    _CSR[id(plan)] = (plan, arrays)
    return arrays


_CSR: dict[int, tuple[MeasurementPlan, tuple]] = {}


def measure_array(coords: np.ndarray, scheme: Scheme | str) -> np.ndarray:
    """``(F, M)`` float32 measurements of ``(F, N, 3)`` coordinates (see module doc).

    One fused kernel (:func:`geopain.geometry.kernels.measure_kernel`): per frame, every
    primitive once, then the sparse combinations; frames in parallel threads.
    """
    from .kernels import measure_kernel

    plan = compile_measurements(scheme)
    c = np.asarray(coords)
    if c.ndim == 2:
        c = c[None]
    check_shape("coords", c, (None, plan.n_points, 3))
    c = np.ascontiguousarray(c, dtype=np.float32)
    out = np.zeros((c.shape[0], len(plan.names)), dtype=np.float32)
    if len(plan.names) == 0 or c.shape[0] == 0:
        return out
    measure_kernel(c, plan.pairs, plan.pl, plan.tri, plan.quad, *_csr(plan), out)
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


def measure_sequences(sequences: Iterable, normalize_first: bool | None = None, neutral=None) -> pd.DataFrame:
    """One row per frame: ``subject, sequence, frame, face_id, timestamp``, labels, measurements.

    Sequences that are 2D or not yet in template units are normalised first
    (:func:`~geopain.geometry.normalize.normalize`, with ``neutral``) unless
    ``normalize_first=False``. Sequences may use different schemes only if their
    measurement names agree (columns are the union; absent ones are NaN).
    """
    from .normalize import normalize

    frames = []
    for s in sequences:
        need = s.units != "template" or s.dims == 2 and not s.meta.get("normalization")
        if normalize_first or (normalize_first is None and (need or neutral is not None)):
            s = normalize(s, neutral=neutral)
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
