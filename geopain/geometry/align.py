"""Closed-form similarity alignment of landmark frames (weighted Umeyama), vectorised.

Every frame ``f`` of ``source (F, N, 3)`` is fitted to one ``target (N, 3)`` by a
similarity transform ``aligned = s_f * R_f @ x + t_f`` that minimises
``sum_n w_fn |s R x_fn + t - y_n|^2`` (Umeyama 1991, weighted). All frames are solved at
once: weighted centroids, one ``(F, 3, 3)`` cross-covariance by a batched matmul, one
batched SVD. The fit is reflection-safe (``det R = +1``: the sign of the smallest singular
direction is flipped when the best orthogonal fit would be a mirror image).

Missing points (NaN in any coordinate) get weight 0; a frame with fewer than three
weighted points has an all-NaN transform.

Head pose is read from the *head rotation* ``R_head = R.T`` (template -> observed) by
:func:`pose_angles` with the convention ``R_head = Rz(roll) @ Ry(yaw) @ Rx(pitch)`` in the
template's frame (x to the subject's left, y up, looking along +z):

- yaw: about +y; positive turns the face toward the subject's left (+x);
- pitch: about +x; positive tilts the face down (chin toward the chest: +z toward -y);
- roll: about +z; positive tilts the head toward the subject's right shoulder
  (counter-clockwise in the image as seen from the camera).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError, check_shape

#: Points (frames x landmarks) per block on the hot path: temporaries of ~2 MB stay in cache.
BLOCK_POINTS = 2048 * 68


def _block(n_points: int) -> int:
    return max(64, BLOCK_POINTS // max(n_points, 1))

__all__ = ["SimilarityTransform", "similarity_align", "align_frames", "pose_angles", "rotation_from_angles"]


@dataclass
class SimilarityTransform:
    """Per-frame similarity transforms ``y = scale * rotation @ x + translation``.

    Attributes:
        rotation: ``(F, 3, 3)`` proper rotations (source -> target frame).
        scale: ``(F,)`` target units per source unit.
        translation: ``(F, 3)`` in target units.
        rmsd: ``(F,)`` weighted root-mean-square residual after the fit, target units.
    """

    rotation: np.ndarray
    scale: np.ndarray
    translation: np.ndarray
    rmsd: np.ndarray | None = None

    def __len__(self) -> int:
        return self.rotation.shape[0]

    def apply(self, coords: np.ndarray) -> np.ndarray:
        """Map ``(F, N, 3)`` source coordinates into the target frame (NaN stays NaN)."""
        c = np.asarray(coords)
        check_shape("coords", c, (len(self), None, 3))
        out = (c @ np.swapaxes(self.rotation, 1, 2).astype(c.dtype, copy=False))
        out *= self.scale[:, None, None].astype(c.dtype, copy=False)
        out += self.translation[:, None, :].astype(c.dtype, copy=False)
        return out

    def inverse(self) -> "SimilarityTransform":
        """The transform from the target frame back to the source frame."""
        rt = np.swapaxes(self.rotation, 1, 2)
        inv_s = 1.0 / self.scale
        t = -inv_s[:, None] * np.einsum("fij,fj->fi", rt, self.translation)
        return SimilarityTransform(rt, inv_s, t, None if self.rmsd is None else self.rmsd * inv_s)

    @property
    def pose(self) -> np.ndarray:
        """``(F, 3)`` head yaw, pitch, roll in degrees (of the inverse rotation, see module doc)."""
        return pose_angles(np.swapaxes(self.rotation, 1, 2))


def similarity_align(
    source: np.ndarray,
    target: np.ndarray,
    weights: np.ndarray | None = None,
    scale: bool = True,
) -> SimilarityTransform:
    """Fit ``target ~ s R source + t`` for every frame (weighted Umeyama, closed form).

    Args:
        source: ``(F, N, 3)`` points per frame (NaN = missing), or ``(N, 3)`` for one frame.
        target: ``(N, 3)`` reference points (e.g. the scheme's template), finite.
        weights: ``(F, N)`` non-negative weights (e.g. confidence); NaN counts as 1.
        scale: fit the uniform scale (else ``s = 1``, a rigid fit).

    Returns:
        :class:`SimilarityTransform` with ``F`` frames; NaN for frames with < 3 usable points.
    """
    return align_frames(source, target, weights, scale)[0]


def align_frames(
    source: np.ndarray,
    target: np.ndarray,
    weights: np.ndarray | None = None,
    scale: bool = True,
) -> tuple[SimilarityTransform, np.ndarray]:
    """:func:`similarity_align` and the aligned ``(F, N, 3)`` float32 frames in one pass.

    The aligned frames reuse the centred coordinates of the fit (``s R (x - mu_x) + mu_y``),
    which saves passes over the data on the hot path of normalisation. Long inputs are
    processed in blocks of about :data:`BLOCK_POINTS` points so the temporaries stay in cache.
    """
    src = np.asarray(source)
    B = _block(src.shape[1]) if src.ndim == 3 else 0
    if src.ndim != 3 or src.shape[0] <= B:
        return _align(source, target, weights, scale)
    w = None if weights is None else np.asarray(weights)
    parts = [_align(src[i:i + B], target, None if w is None else w[i:i + B], scale)
             for i in range(0, src.shape[0], B)]
    tf = SimilarityTransform(*(np.concatenate([getattr(p[0], k) for p in parts])
                               for k in ("rotation", "scale", "translation", "rmsd")))
    return tf, np.concatenate([p[1] for p in parts])


def _align(source, target, weights, scale):
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


def rotation_from_angles(yaw, pitch, roll) -> np.ndarray:
    """``(F, 3, 3)`` head rotations ``Rz(roll) @ Ry(yaw) @ Rx(pitch)`` from degrees."""
    y, p, r = (np.radians(np.atleast_1d(np.asarray(a, dtype=np.float64))) for a in (yaw, pitch, roll))
    y, p, r = np.broadcast_arrays(y, p, r)
    cy, sy, cp, sp, cr, sr = np.cos(y), np.sin(y), np.cos(p), np.sin(p), np.cos(r), np.sin(r)
    R = np.empty(y.shape + (3, 3))
    R[..., 0, 0] = cr * cy
    R[..., 0, 1] = cr * sy * sp - sr * cp
    R[..., 0, 2] = cr * sy * cp + sr * sp
    R[..., 1, 0] = sr * cy
    R[..., 1, 1] = sr * sy * sp + cr * cp
    R[..., 1, 2] = sr * sy * cp - cr * sp
    R[..., 2, 0] = -sy
    R[..., 2, 1] = cy * sp
    R[..., 2, 2] = cy * cp
    return R


def pose_angles(rotation: np.ndarray) -> np.ndarray:
    """``(F, 3)`` yaw, pitch, roll (degrees) of head rotations ``(F, 3, 3)``.

    Inverse of :func:`rotation_from_angles` (yaw in [-90, 90]); NaN rotations give NaN.
    """
    R = np.asarray(rotation, dtype=np.float64)
    if R.ndim == 2:
        R = R[None]
    check_shape("rotation", R, (None, 3, 3))
    yaw = np.arcsin(np.clip(-R[:, 2, 0], -1.0, 1.0))
    pitch = np.arctan2(R[:, 2, 1], R[:, 2, 2])
    roll = np.arctan2(R[:, 1, 0], R[:, 0, 0])
    return np.degrees(np.stack([yaw, pitch, roll], 1))
