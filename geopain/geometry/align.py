"""Closed-form similarity alignment of landmark frames (weighted Umeyama), vectorised.

Every frame ``f`` of ``source (F, N, 3)`` is fitted to one ``target (N, 3)`` by a
similarity transform ``aligned = s_f * R_f @ x + t_f`` that minimises
``sum_n w_fn |s R x_fn + t - y_n|^2`` (Umeyama 1991, weighted). All frames are solved at
once by a fused Numba kernel (:mod:`geopain.geometry.kernels`): weighted moments in one
pass per frame, the rotation in closed form by Horn's quaternion method (the largest
eigenvector of a 4x4 key matrix, found by Newton on its characteristic polynomial), the
aligned frame in a second pass while the frame is in cache. The fit is reflection-safe
(``det R = +1``, the same solution as Umeyama's SVD with the mirror correction).

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

    Runs :func:`geopain.geometry.kernels.align_kernel`: per frame, one pass over the points
    for the weighted moments (float64 accumulators), Horn's closed-form quaternion fit,
    and one pass writing ``s R (x - mu_x) + mu_y``; frames in parallel threads.
    """
    src = np.asarray(source)
    if src.ndim == 2:
        src = src[None]
    tgt = np.ascontiguousarray(target, dtype=np.float64)
    check_shape("source", src, (None, "N", 3))
    check_shape("target", tgt, (src.shape[1], 3))
    if not np.isfinite(tgt).all():
        raise ShapeError("target: must be finite")
    F, N, _ = src.shape
    src = np.ascontiguousarray(src, dtype=np.float32)
    if weights is None:
        w, use_w = np.empty((1, 1), dtype=np.float32), False
    else:
        w = np.asarray(weights, dtype=np.float32)
        if w.ndim == 1:
            w = w[None]
        check_shape("weights", w, (F, N))
        w, use_w = np.ascontiguousarray(w), True
    from .kernels import align_kernel

    aligned = np.empty((F, N, 3), dtype=np.float32)
    R = np.empty((F, 3, 3))
    s, rmsd = np.empty(F), np.empty(F)
    t = np.empty((F, 3))
    flags = np.empty(F, dtype=np.int8)
    align_kernel(src, w, use_w, tgt, bool(scale), aligned, R, s, t, rmsd, flags)
    if flags.any():
        raise ShapeError("weights: must be non-negative")
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
