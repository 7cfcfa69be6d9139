"""Reference implementations for parity tests: geopain's geometry before the fused kernels.

``reference_align`` is the batched-LAPACK weighted Umeyama fit (float32 data, one SVD per
frame) and ``reference_measure`` the numpy gather/matmul measurements, as they were in
geopain.geometry.align / .measure before :mod:`geopain.geometry.kernels` replaced them.
They are kept here only as the reference the fast path is checked against.
"""
import numpy as np

from geopain.errors import ShapeError, check_shape
from geopain.geometry.align import SimilarityTransform


def reference_align(source, target, weights=None, scale=True):
    """One block of :func:`align_frames` (arguments and result as :func:`similarity_align`)."""
    src = np.asarray(source)
    if src.ndim == 2:
        src = src[None]
    tgt = np.asarray(target, dtype=np.float64)
    check_shape("source", src, (None, "N", 3))
    check_shape("target", tgt, (src.shape[1], 3))
    if not np.isfinite(tgt).all():
        raise ShapeError("target: must be finite")
    F, N, _ = src.shape
    # Large (F, N, 3) work in float32 with contiguous batched matmuls; 3x3 algebra in float64.
    src = src.astype(np.float32, copy=False)
    fin = np.isfinite(src)
    valid = fin[..., 0] & fin[..., 1] & fin[..., 2]
    if weights is None:
        w = valid.astype(np.float32)
    else:
        w = np.asarray(weights, dtype=np.float32)
        if w.ndim == 1:
            w = w[None]
        check_shape("weights", w, (F, N))
        w = np.where(np.isnan(w), np.float32(1.0), w)
        if (w < 0).any():
            raise ShapeError("weights: must be non-negative")
        w = np.where(valid, w, np.float32(0.0))
    x = np.where(valid[..., None], src, np.float32(0.0)) if not valid.all() else src
    wsum = w.sum(1, dtype=np.float64)  # (F,)
    ok = ((w > 0).sum(1) >= 3) & (wsum > 0)
    wn = (w / np.where(ok, wsum, 1.0)[:, None].astype(np.float32))  # rows sum to 1
    mu_x = (wn[:, None, :] @ x)[:, 0].astype(np.float64)  # (F, 3)
    mu_y = wn.astype(np.float64) @ tgt  # (F, 3)
    xc = x - mu_x[:, None, :].astype(np.float32)
    wxc = wn[..., None] * xc
    # cross-covariance sum_n w (y_n - mu_y)(x_n - mu_x)^T = Y^T (w * xc)   (sum w xc = 0)
    cov = np.matmul(tgt.T.astype(np.float32)[None], wxc).astype(np.float64)  # (F, 3, 3)
    var_x = (wxc * xc).sum((1, 2), dtype=np.float64)
    U, S, Vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(U) * np.linalg.det(Vt))
    d = np.where(d == 0, 1.0, d)
    U[:, :, 2] *= d[:, None]  # U @ diag(1, 1, d): reflection-safe
    R = U @ Vt
    tr = S[:, 0] + S[:, 1] + d * S[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        s = tr / np.where(var_x > 0, var_x, np.nan) if scale else np.ones(F)
    t = mu_y - s[:, None] * (R @ mu_x[:, :, None])[:, :, 0]
    # residual: sum w |s R xc - yc|^2 = s^2 var_x - 2 s tr(SD) + var_y  (closed form)
    var_y = wn.astype(np.float64) @ (tgt * tgt).sum(-1) - (mu_y * mu_y).sum(-1)
    rmsd = np.sqrt(np.clip(s * s * var_x - 2 * s * tr + var_y, 0, None))
    bad = ~ok | ~np.isfinite(s) | ~(s > 0)
    if bad.any():
        R[bad] = np.nan
        s = np.where(bad, np.nan, s)
        t[bad] = np.nan
        rmsd = np.where(bad, np.nan, rmsd)
    A = (s[:, None, None] * R).astype(np.float32)  # (F, 3, 3)
    aligned = xc @ np.swapaxes(A, 1, 2)
    aligned += mu_y[:, None, :].astype(np.float32)
    if not valid.all():
        aligned[~valid] = np.nan
    return SimilarityTransform(R, s, t, rmsd), aligned


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


def reference_measure(c: np.ndarray, plan) -> np.ndarray:
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


def reference_edge_geometry(pos, ref, mask, src, dst, reference_pair):
    """The numpy edge geometry of geopain.graphs.transforms.EdgeGeometry before the kernel:
    ``attr (..., 5, 2E)``, ``ok (..., E)``."""
    E = len(src)
    lead = pos.shape[:-2]
    a, b = reference_pair
    ref_len = np.linalg.norm(ref[..., b, :] - ref[..., a, :], axis=-1)[..., None]
    pt = np.ascontiguousarray(np.swapaxes(pos, -1, -2))
    vec = np.take(pt, dst, axis=-1)
    vec -= np.take(pt, src, axis=-1)
    rt = np.swapaxes(ref, -1, -2)
    vec0 = np.take(rt, dst, axis=-1) - np.take(rt, src, axis=-1)
    l = np.sqrt(np.einsum("...ce,...ce->...e", vec, vec))
    l0 = np.maximum(np.sqrt(np.einsum("...ce,...ce->...e", vec0, vec0)), 1e-9)
    ok = np.take(mask, src, axis=-1) & np.take(mask, dst, axis=-1)
    strain = np.where(ok, (l - l0) / l0, np.float32(0))
    l = np.where(ok, l, l0)
    vec = np.where(ok[..., None, :], vec, vec0)
    attr = np.empty(lead + (5, 2 * E), dtype=np.float32)
    np.divide(l, ref_len, out=attr[..., 0, :E])
    attr[..., 1, :E] = strain
    np.multiply(vec, (1.0 / np.maximum(l, 1e-9))[..., None, :], out=attr[..., 2:, :E])
    attr[..., :2, E:] = attr[..., :2, :E]
    np.negative(attr[..., 2:, :E], out=attr[..., 2:, E:])
    return attr, ok
