"""Fused per-frame kernels of the geometry hot path (Numba, float32 data, float64 algebra).

Why Numba and not torch or numpy: the work per frame is tiny (tens to hundreds of points,
a 4x4 eigenproblem) and numpy can only do it as a dozen separate passes over ``(F, N, 3)``
arrays plus batched LAPACK calls for ``F`` 3x3 SVDs; torch has the same structure and
would put torch into the dependency of a deployment path that must not need it. A Numba
kernel makes one pass per frame while it sits in L1 cache (statistics, closed-form fit,
aligned output) and runs frames in parallel threads (``prange``). Numba is a small
dependency (llvmlite) and compiled kernels are cached on disk (``cache=True``; set
``NUMBA_CACHE_DIR`` to choose where).

Kernels:

- :func:`align_kernel`: weighted similarity alignment of every frame to one target
  (Horn's quaternion method with Theobald's QCP: Newton on the characteristic
  polynomial of the 4x4 key matrix for the largest eigenvalue, the eigenvector from the
  adjugate of ``N - lambda I``; a Jacobi eigensolver for the rare frames where that
  eigenvector is ill-determined, e.g. collinear points). Proper rotations only (the
  reflection-safe Umeyama solution).
- :func:`measure_kernel`: the scheme's measurements from a compiled
  :class:`~geopain.geometry.measure.MeasurementPlan` in CSR form.
- :func:`edge_kernel`: edge lengths, strains and unit directions of a fixed topology
  (the facial graph's ``edge_attr``).

All take and fill preallocated arrays; the Python wrappers live in
:mod:`~geopain.geometry.align`, :mod:`~geopain.geometry.measure` and
:mod:`~geopain.geometry.graph_arrays`.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["align_kernel", "measure_kernel", "edge_kernel", "horn_rotation"]

_OPTS = dict(cache=True, error_model="numpy", nogil=True)
#: LLVM may reassociate sums (vectorised reductions) and fuse multiply-adds; no assumptions
#: about NaN or inf (missing points are NaN), so those checks survive.
_FAST = {"reassoc", "contract", "nsz"}
#: Frames per parallel task where a kernel needs per-task scratch memory.
_BLOCK = 256


@njit(inline="always", **_OPTS)
def _quat_to_rot(q0, q1, q2, q3, R, f):
    n = q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3
    inv = 1.0 / n
    R[f, 0, 0] = (q0 * q0 + q1 * q1 - q2 * q2 - q3 * q3) * inv
    R[f, 0, 1] = 2.0 * (q1 * q2 - q0 * q3) * inv
    R[f, 0, 2] = 2.0 * (q1 * q3 + q0 * q2) * inv
    R[f, 1, 0] = 2.0 * (q1 * q2 + q0 * q3) * inv
    R[f, 1, 1] = (q0 * q0 - q1 * q1 + q2 * q2 - q3 * q3) * inv
    R[f, 1, 2] = 2.0 * (q2 * q3 - q0 * q1) * inv
    R[f, 2, 0] = 2.0 * (q1 * q3 - q0 * q2) * inv
    R[f, 2, 1] = 2.0 * (q2 * q3 + q0 * q1) * inv
    R[f, 2, 2] = (q0 * q0 - q1 * q1 - q2 * q2 + q3 * q3) * inv


@njit(**_OPTS)
def _jacobi_top(N):
    """Largest eigenvalue of a symmetric 4x4 ``N`` and its eigenvector (cyclic Jacobi)."""
    A = N.copy()
    V = np.eye(4)
    for _sweep in range(50):
        off = 0.0
        for p in range(3):
            for q in range(p + 1, 4):
                off += A[p, q] * A[p, q]
        if off <= 1e-30 * (A[0, 0] ** 2 + A[1, 1] ** 2 + A[2, 2] ** 2 + A[3, 3] ** 2) + 1e-300:
            break
        for p in range(3):
            for q in range(p + 1, 4):
                apq = A[p, q]
                if apq == 0.0:
                    continue
                theta = (A[q, q] - A[p, p]) / (2.0 * apq)
                t = (1.0 if theta >= 0 else -1.0) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                for k in range(4):
                    akp, akq = A[k, p], A[k, q]
                    A[k, p] = c * akp - s * akq
                    A[k, q] = s * akp + c * akq
                for k in range(4):
                    apk, aqk = A[p, k], A[q, k]
                    A[p, k] = c * apk - s * aqk
                    A[q, k] = s * apk + c * aqk
                for k in range(4):
                    vkp, vkq = V[k, p], V[k, q]
                    V[k, p] = c * vkp - s * vkq
                    V[k, q] = s * vkp + c * vkq
    best = 0
    for k in range(1, 4):
        if A[k, k] > A[best, best]:
            best = k
    return A[best, best], V[0, best], V[1, best], V[2, best], V[3, best]


@njit(**_OPTS)
def horn_rotation(Sxx, Sxy, Sxz, Syx, Syy, Syz, Szx, Szy, Szz, bound, R, f):
    """Fill ``R[f]`` with the proper rotation maximising ``tr(R S^T)`` and return that maximum.

    ``S (3, 3)`` (given by its entries, row-major): ``sum_n w_n xc_n yc_n^T`` (source ``x``
    row index, target ``y`` column index), so that ``y ~ R x``. ``bound``: an upper bound of
    the largest eigenvalue (``sqrt(var_x var_y)``), where Newton's iteration starts.
    """
    # Horn's key matrix (symmetric, traceless)
    n00 = Sxx + Syy + Szz
    n01 = Syz - Szy
    n02 = Szx - Sxz
    n03 = Sxy - Syx
    n11 = Sxx - Syy - Szz
    n12 = Sxy + Syx
    n13 = Szx + Sxz
    n22 = -Sxx + Syy - Szz
    n23 = Syz + Szy
    n33 = -Sxx - Syy + Szz
    # characteristic polynomial lambda^4 + c2 lambda^2 + c1 lambda + c0
    c2 = -2.0 * (Sxx * Sxx + Sxy * Sxy + Sxz * Sxz + Syx * Syx + Syy * Syy + Syz * Syz
                 + Szx * Szx + Szy * Szy + Szz * Szz)
    c1 = -8.0 * (Sxx * (Syy * Szz - Syz * Szy) - Sxy * (Syx * Szz - Syz * Szx) + Sxz * (Syx * Szy - Syy * Szx))
    # det N by 2x2 minors of rows (0, 1) and rows (2, 3)
    s0 = n00 * n11 - n01 * n01
    s1 = n00 * n12 - n02 * n01
    s2 = n00 * n13 - n03 * n01
    s3 = n01 * n12 - n02 * n11
    s4 = n01 * n13 - n03 * n11
    s5 = n02 * n13 - n03 * n12
    k5 = n22 * n33 - n23 * n23
    k4 = n12 * n33 - n23 * n13
    k3 = n12 * n23 - n22 * n13
    k2 = n02 * n33 - n23 * n03
    k1 = n02 * n23 - n22 * n03
    k0 = n02 * n13 - n12 * n03
    c0 = s0 * k5 - s1 * k4 + s2 * k3 + s3 * k2 - s4 * k1 + s5 * k0
    lam = bound
    for _it in range(60):
        l2 = lam * lam
        p = (l2 + c2) * l2 + c1 * lam + c0
        dp = (4.0 * l2 + 2.0 * c2) * lam + c1
        if dp == 0.0:
            break
        step = p / dp
        lam -= step
        if abs(step) <= 1e-13 * abs(lam):
            break
    # eigenvector: a column of adj(N - lam I) (all columns are parallel when lam is simple)
    a00, a11, a22, a33 = n00 - lam, n11 - lam, n22 - lam, n33 - lam
    a01, a02, a03, a12, a13, a23 = n01, n02, n03, n12, n13, n23
    # 2x2 minors of rows (0, 1) and (2, 3) of the symmetric matrix A
    m0 = a00 * a11 - a01 * a01
    m1 = a00 * a12 - a01 * a02
    m2 = a00 * a13 - a01 * a03
    m3 = a01 * a12 - a11 * a02
    m4 = a01 * a13 - a11 * a03
    m5 = a02 * a13 - a12 * a03
    t5 = a22 * a33 - a23 * a23
    t4 = a12 * a33 - a13 * a23
    t3 = a12 * a23 - a13 * a22
    t2 = a02 * a33 - a03 * a23
    t1 = a02 * a23 - a03 * a22
    t0 = a02 * a13 - a03 * a12
    # columns 0 and 1 of adj(A) from rows (2, 3) minors; columns 2 and 3 from rows (0, 1)
    b00 = a11 * t5 - a12 * t4 + a13 * t3
    b10 = -a01 * t5 + a12 * t2 - a13 * t1
    b20 = a01 * t4 - a11 * t2 + a13 * t0
    b30 = -a01 * t3 + a11 * t1 - a12 * t0
    b11 = a00 * t5 - a02 * t2 + a03 * t1
    b21 = -a00 * t4 + a01 * t2 - a03 * t0
    b31 = a00 * t3 - a01 * t1 + a02 * t0
    b22 = a33 * m0 - a13 * m2 + a03 * m4  # rows (0, 1) minors with column 3
    b32 = -a23 * m0 + a13 * m1 - a03 * m3
    b33 = a22 * m0 - a12 * m1 + a02 * m3
    n0 = b00 * b00 + b10 * b10 + b20 * b20 + b30 * b30
    n1 = b10 * b10 + b11 * b11 + b21 * b21 + b31 * b31
    n2 = b20 * b20 + b21 * b21 + b22 * b22 + b32 * b32
    n3 = b30 * b30 + b31 * b31 + b32 * b32 + b33 * b33
    scale = abs(lam) + abs(n00) + abs(n11) + abs(n22) + abs(n33) + 1e-300
    tol = (1e-7 * scale * scale * scale) ** 2
    best = max(n0, n1, n2, n3)
    if best > tol and m5 == m5:
        if best == n0:
            _quat_to_rot(b00, b10, b20, b30, R, f)
        elif best == n1:
            _quat_to_rot(b10, b11, b21, b31, R, f)
        elif best == n2:
            _quat_to_rot(b20, b21, b22, b32, R, f)
        else:
            _quat_to_rot(b30, b31, b32, b33, R, f)
    else:  # repeated largest eigenvalue (degenerate point sets): any top eigenvector is optimal
        Nm = np.empty((4, 4))
        Nm[0, 0], Nm[0, 1], Nm[0, 2], Nm[0, 3] = n00, n01, n02, n03
        Nm[1, 0], Nm[1, 1], Nm[1, 2], Nm[1, 3] = n01, n11, n12, n13
        Nm[2, 0], Nm[2, 1], Nm[2, 2], Nm[2, 3] = n02, n12, n22, n23
        Nm[3, 0], Nm[3, 1], Nm[3, 2], Nm[3, 3] = n03, n13, n23, n33
        lam, q0, q1, q2, q3 = _jacobi_top(Nm)  # Newton is only sqrt(eps)-accurate at a double root
        _quat_to_rot(q0, q1, q2, q3, R, f)
    return lam


@njit(parallel=True, fastmath=_FAST, **_OPTS)
def align_kernel(src, w, use_w, tgt, do_scale, aligned, R, s, t, rmsd, flags):
    """Weighted similarity fit of every frame; see :func:`geopain.geometry.align.align_frames`.

    Args:
        src: ``(F, N, 3)`` float32 (NaN/inf = missing). w: ``(F, N)`` float32 weights
            (read only when ``use_w``; NaN counts as 1). tgt: ``(N, 3)`` float64 target.
        do_scale: fit the scale (else 1).
        aligned: ``(F, N, 3)`` float32 out. R ``(F, 3, 3)``, s ``(F,)``, t ``(F, 3)``,
            rmsd ``(F,)``: float64 out (NaN for frames without a fit).
        flags: ``(F,)`` int8 out: 1 where a negative weight was seen.
    """
    F, N = src.shape[0], src.shape[1]
    nan = np.nan
    tsq = np.empty(N)
    for n in range(N):
        tsq[n] = tgt[n, 0] * tgt[n, 0] + tgt[n, 1] * tgt[n, 1] + tgt[n, 2] * tgt[n, 2]
    for f in prange(F):
        W = 0.0
        cnt = 0
        neg = False
        sx0 = sx1 = sx2 = 0.0
        sy0 = sy1 = sy2 = 0.0
        c00 = c01 = c02 = c10 = c11 = c12 = c20 = c21 = c22 = 0.0
        sxx = 0.0
        syy = 0.0
        for n in range(N):
            # branch-free (vectorisable): missing points and non-positive weights count 0
            x0 = np.float64(src[f, n, 0])
            x1 = np.float64(src[f, n, 1])
            x2 = np.float64(src[f, n, 2])
            fin = math.isfinite(x0) and math.isfinite(x1) and math.isfinite(x2)
            wn = 1.0
            if use_w:
                wn = np.float64(w[f, n])
                neg |= wn < 0.0
                wn = 1.0 if wn != wn else wn
            use = fin and wn > 0.0
            wn = wn if use else 0.0
            x0 = x0 if fin else 0.0
            x1 = x1 if fin else 0.0
            x2 = x2 if fin else 0.0
            y0, y1, y2 = tgt[n, 0], tgt[n, 1], tgt[n, 2]
            cnt += 1 if use else 0
            W += wn
            wx0, wx1, wx2 = wn * x0, wn * x1, wn * x2
            sx0 += wx0
            sx1 += wx1
            sx2 += wx2
            sy0 += wn * y0
            sy1 += wn * y1
            sy2 += wn * y2
            c00 += wx0 * y0
            c01 += wx0 * y1
            c02 += wx0 * y2
            c10 += wx1 * y0
            c11 += wx1 * y1
            c12 += wx1 * y2
            c20 += wx2 * y0
            c21 += wx2 * y1
            c22 += wx2 * y2
            sxx += wx0 * x0 + wx1 * x1 + wx2 * x2
            syy += wn * tsq[n]
        flags[f] = neg
        ok = cnt >= 3 and W > 0.0
        mx0 = mx1 = mx2 = my0 = my1 = my2 = var_x = var_y = lam = sc = 0.0
        if ok:
            iw = 1.0 / W
            mx0, mx1, mx2 = sx0 * iw, sx1 * iw, sx2 * iw
            my0, my1, my2 = sy0 * iw, sy1 * iw, sy2 * iw
            var_x = sxx * iw - (mx0 * mx0 + mx1 * mx1 + mx2 * mx2)
            var_y = syy * iw - (my0 * my0 + my1 * my1 + my2 * my2)
            bound = math.sqrt(max(var_x, 0.0) * max(var_y, 0.0)) * (1.0 + 1e-9) + 1e-300
            lam = horn_rotation(c00 * iw - mx0 * my0, c01 * iw - mx0 * my1, c02 * iw - mx0 * my2,
                                c10 * iw - mx1 * my0, c11 * iw - mx1 * my1, c12 * iw - mx1 * my2,
                                c20 * iw - mx2 * my0, c21 * iw - mx2 * my1, c22 * iw - mx2 * my2, bound, R, f)
            if do_scale:  # a spread below 1e-6 of the coordinates' size is float32 rounding noise
                sc = lam / var_x if var_x > 1e-12 * sxx * iw else nan
            else:
                sc = 1.0
            ok = math.isfinite(sc) and sc > 0.0 and R[f, 0, 0] == R[f, 0, 0]
        if not ok:
            for i in range(3):
                t[f, i] = nan
                for j in range(3):
                    R[f, i, j] = nan
            s[f] = nan
            rmsd[f] = nan
            for n in range(N):
                aligned[f, n, 0] = nan
                aligned[f, n, 1] = nan
                aligned[f, n, 2] = nan
            continue
        s[f] = sc
        rmsd[f] = math.sqrt(max(sc * sc * var_x - 2.0 * sc * lam + var_y, 0.0))
        a00, a01, a02 = sc * R[f, 0, 0], sc * R[f, 0, 1], sc * R[f, 0, 2]
        a10, a11, a12 = sc * R[f, 1, 0], sc * R[f, 1, 1], sc * R[f, 1, 2]
        a20, a21, a22 = sc * R[f, 2, 0], sc * R[f, 2, 1], sc * R[f, 2, 2]
        t[f, 0] = my0 - (a00 * mx0 + a01 * mx1 + a02 * mx2)
        t[f, 1] = my1 - (a10 * mx0 + a11 * mx1 + a12 * mx2)
        t[f, 2] = my2 - (a20 * mx0 + a21 * mx1 + a22 * mx2)
        for n in range(N):
            x0 = np.float64(src[f, n, 0]) - mx0
            x1 = np.float64(src[f, n, 1]) - mx1
            x2 = np.float64(src[f, n, 2]) - mx2
            fin = math.isfinite(x0) and math.isfinite(x1) and math.isfinite(x2)
            aligned[f, n, 0] = (a00 * x0 + a01 * x1 + a02 * x2 + my0) if fin else nan
            aligned[f, n, 1] = (a10 * x0 + a11 * x1 + a12 * x2 + my1) if fin else nan
            aligned[f, n, 2] = (a20 * x0 + a21 * x1 + a22 * x2 + my2) if fin else nan


@njit(parallel=True, **_OPTS)
def measure_kernel(c, pairs, pl, tri, quad, ptr, idx, coef, dptr, didx, dcoef, by_ref, out):
    """Measurements of every frame (see :mod:`geopain.geometry.measure`).

    Primitives per frame, in one vector: pair distances (``pairs (P, 2)``, row 0 = the
    reference pair), point-line distances (``pl (Q, 3)``: point, line a, line b), angles at
    the middle point (``tri (A, 3)``) and between directed lines (``quad (L, 4)``), degrees.
    Measurement ``j`` is ``sum_k coef[k] prim[idx[k]]`` over ``k in ptr[j]:ptr[j+1]``, divided
    by the same sum over ``dptr`` (ratios) or by the reference distance (``by_ref[j]``); NaN
    when any primitive it uses is NaN.

    c: ``(F, N, 3)`` float32; out: ``(F, M)`` float32.
    """
    F = c.shape[0]
    K = pairs.shape[0] + pl.shape[0] + tri.shape[0] + quad.shape[0]
    nb = (F + _BLOCK - 1) // _BLOCK
    for blk in prange(nb):
        prim = np.empty(K)
        for f in range(blk * _BLOCK, min(F, (blk + 1) * _BLOCK)):
            _measure_frame(c, f, pairs, pl, tri, quad, ptr, idx, coef, dptr, didx, dcoef, by_ref, out, prim)


@njit(inline="always", **_OPTS)
def _measure_frame(c, f, pairs, pl, tri, quad, ptr, idx, coef, dptr, didx, dcoef, by_ref, out, prim):
    P, Q, A, L = pairs.shape[0], pl.shape[0], tri.shape[0], quad.shape[0]
    M = out.shape[1]
    rad = 180.0 / math.pi
    for k in range(P):
        i, j = pairs[k, 0], pairs[k, 1]
        d0 = np.float64(c[f, j, 0]) - c[f, i, 0]
        d1 = np.float64(c[f, j, 1]) - c[f, i, 1]
        d2 = np.float64(c[f, j, 2]) - c[f, i, 2]
        prim[k] = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
    for k in range(Q):
        p, a, b = pl[k, 0], pl[k, 1], pl[k, 2]
        u0 = np.float64(c[f, p, 0]) - c[f, a, 0]
        u1 = np.float64(c[f, p, 1]) - c[f, a, 1]
        u2 = np.float64(c[f, p, 2]) - c[f, a, 2]
        v0 = np.float64(c[f, b, 0]) - c[f, a, 0]
        v1 = np.float64(c[f, b, 1]) - c[f, a, 1]
        v2 = np.float64(c[f, b, 2]) - c[f, a, 2]
        x0, x1, x2 = u1 * v2 - u2 * v1, u2 * v0 - u0 * v2, u0 * v1 - u1 * v0
        prim[P + k] = math.sqrt((x0 * x0 + x1 * x1 + x2 * x2) / (v0 * v0 + v1 * v1 + v2 * v2))
    for k in range(A + L):
        if k < A:
            a, b, b2, d = tri[k, 1], tri[k, 0], tri[k, 1], tri[k, 2]
        else:
            a, b, b2, d = quad[k - A, 0], quad[k - A, 1], quad[k - A, 2], quad[k - A, 3]
        u0 = np.float64(c[f, b, 0]) - c[f, a, 0]
        u1 = np.float64(c[f, b, 1]) - c[f, a, 1]
        u2 = np.float64(c[f, b, 2]) - c[f, a, 2]
        v0 = np.float64(c[f, d, 0]) - c[f, b2, 0]
        v1 = np.float64(c[f, d, 1]) - c[f, b2, 1]
        v2 = np.float64(c[f, d, 2]) - c[f, b2, 2]
        x0, x1, x2 = u1 * v2 - u2 * v1, u2 * v0 - u0 * v2, u0 * v1 - u1 * v0
        prim[P + Q + k] = math.atan2(math.sqrt(x0 * x0 + x1 * x1 + x2 * x2), u0 * v0 + u1 * v1 + u2 * v2) * rad
    ref = prim[0] if P > 0 else np.nan
    if not ref > 0.0:
        ref = np.nan
    for m in range(M):
        acc = 0.0
        bad = False
        for k in range(ptr[m], ptr[m + 1]):
            v = prim[idx[k]]
            if v != v:
                bad = True
            acc += coef[k] * v
        if dptr[m + 1] > dptr[m]:
            den = 0.0
            for k in range(dptr[m], dptr[m + 1]):
                v = prim[didx[k]]
                if v != v:
                    bad = True
                den += dcoef[k] * v
            acc = acc / den
        elif by_ref[m]:
            acc = acc / ref
        out[f, m] = np.nan if bad else acc


@njit(parallel=True, **_OPTS)
def edge_kernel(pos, ref, ref_step, mask, src, dst, ref_len, attr):
    """Edge geometry of every frame: ``attr (F, 5, 2E)`` float32 out.

    Rows: length / ``ref_len[f]``, strain ``(l - l0) / l0`` against the reference, unit
    direction (x, y, z); the second half (``E:2E``) is the reverse edge (same length and
    strain, negated direction). Edges touching a missing point (``mask (F, N)`` False) take
    the reference's length and direction and strain 0. ``pos (F, N, 3)`` float32,
    ``ref (1, N, 3)`` or ``(F, N, 3)`` float32 (frame ``f`` uses ``ref[f * ref_step]``),
    ``src, dst (E,)`` the undirected edges.
    """
    F = pos.shape[0]
    E = src.shape[0]
    for f in prange(F):
        r = f * ref_step
        inv_ref = 1.0 / ref_len[f]
        for e in range(E):
            i, j = src[e], dst[e]
            w0 = np.float64(ref[r, j, 0]) - ref[r, i, 0]
            w1 = np.float64(ref[r, j, 1]) - ref[r, i, 1]
            w2 = np.float64(ref[r, j, 2]) - ref[r, i, 2]
            l0 = max(math.sqrt(w0 * w0 + w1 * w1 + w2 * w2), 1e-9)
            if mask[f, i] and mask[f, j]:
                v0 = np.float64(pos[f, j, 0]) - pos[f, i, 0]
                v1 = np.float64(pos[f, j, 1]) - pos[f, i, 1]
                v2 = np.float64(pos[f, j, 2]) - pos[f, i, 2]
                l = math.sqrt(v0 * v0 + v1 * v1 + v2 * v2)
                strain = (l - l0) / l0
            else:
                v0, v1, v2, l, strain = w0, w1, w2, l0, 0.0
            il = 1.0 / max(l, 1e-9)
            attr[f, 0, e] = l * inv_ref
            attr[f, 1, e] = strain
            attr[f, 2, e] = v0 * il
            attr[f, 3, e] = v1 * il
            attr[f, 4, e] = v2 * il
            attr[f, 0, E + e] = attr[f, 0, e]
            attr[f, 1, E + e] = attr[f, 1, e]
            attr[f, 2, E + e] = -attr[f, 2, e]
            attr[f, 3, E + e] = -attr[f, 3, e]
            attr[f, 4, E + e] = -attr[f, 4, e]
