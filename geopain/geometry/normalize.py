"""Normalisation: landmarks in any camera frame -> the scheme's template frame.

What is removed and what is kept:

- **3D input** (``dims=3``): every frame is fitted to the scheme's template by a weighted
  similarity transform (:func:`~geopain.geometry.align.similarity_align`; weights = point
  confidence, missing points left out). The aligned frame has the template's position,
  orientation and size, so what remains is shape: identity plus expression. The transform
  is kept as head pose (yaw, pitch, roll in degrees), ``scale`` (input units per template
  unit, e.g. pixels per cm: how large the face is) and ``rmsd`` (template units).
- **2D input** (``dims=2``, z NaN): the pose is estimated against the 3D template with a
  scaled-orthographic (weak-perspective) camera, ``p = s * R[:2] @ X + t``: a weighted
  affine least-squares fit, projected to the nearest scaled rotation, then re-fitted a few
  times with robust (Huber) weights so that a few wrong points do not tilt the pose. The
  observed x, y are brought into the template frame with the depth of the fitted template
  (``z`` is estimated, not observed); the sequence's ``meta["normalization"]`` says so.
- **Image coordinates** (units ``px`` or ``normalized``: x right, y down, z away from the
  camera) are first turned into the template's right-handed convention (x right, y up,
  z toward the camera) by negating y and z; without that, no rotation could fit.

Per-subject neutral baselining (removing identity) is a separate, optional step: see
:mod:`geopain.geometry.neutral` and ``normalize(seq, neutral=...)``.
"""
from __future__ import annotations

import warnings

from typing import Any

import numpy as np

from ..errors import ShapeError, check_shape
from ..species import Scheme, get_scheme
from .align import align_frames, pose_angles

__all__ = ["normalize_coords", "normalize", "fit_weak_perspective", "IMAGE_UNITS"]

#: Units whose axes follow the image convention (y down, z away from the camera).
IMAGE_UNITS = ("px", "normalized")


def _scheme(scheme: Scheme | str) -> Scheme:
    return get_scheme(scheme) if isinstance(scheme, str) else scheme


def _weights(valid: np.ndarray, confidence: np.ndarray | None) -> np.ndarray:
    if confidence is None:
        return valid.astype(np.float64)
    c = np.asarray(confidence, dtype=np.float64)
    check_shape("confidence", c, valid.shape)
    c = np.where(np.isnan(c), 1.0, np.clip(c, 0.0, None))
    return np.where(valid, c, 0.0)


def fit_weak_perspective(
    points: np.ndarray,
    template: np.ndarray,
    weights: np.ndarray | None = None,
    iterations: int = 2,
) -> dict[str, np.ndarray]:
    """Fit ``points ~ s * R[:2] @ template + t`` for every frame (scaled orthographic).

    Args:
        points: ``(F, N, 2)`` observed x, y (y up), NaN = missing.
        template: ``(N, 3)`` 3D model points.
        weights: ``(F, N)`` non-negative (confidence); missing points get 0.
        iterations: robust re-fits after the first (Huber weights on the residuals).

    Returns:
        dict with ``rotation (F, 3, 3)`` (head rotation template -> camera), ``scale (F,)``
        (input units per template unit), ``translation (F, 2)``, ``rmsd (F,)`` (input units).
        Frames with fewer than 4 usable points are NaN.
    """
    p = np.asarray(points, dtype=np.float64)
    X = np.asarray(template, dtype=np.float64)
    check_shape("points", p, (None, "N", 2))
    check_shape("template", X, (p.shape[1], 3))
    valid = np.isfinite(p[..., 0]) & np.isfinite(p[..., 1])
    w0 = _weights(valid, weights)
    # x and y as separate contiguous (F, N) arrays: every per-point step is a flat ufunc
    px = np.where(valid, p[..., 0], 0.0)
    py = np.where(valid, p[..., 1], 0.0)
    ok = (w0 > 0).sum(1) >= 4
    w = w0
    XX = (X[:, :, None] * X[:, None, :]).reshape(-1, 9)  # (N, 9) outer products of the template
    eye = np.eye(3)
    for it in range(iterations + 1):
        wn = w / np.where(ok, w.sum(1), 1.0)[:, None]
        wx, wy = wn * px, wn * py
        mu_p = np.stack([wx.sum(1), wy.sum(1)], 1)  # (F, 2)
        mu_X = wn @ X  # (F, 3)
        # sums over points against the shared template are GEMMs
        A = np.stack([wx @ X, wy @ X], 1) - mu_p[:, :, None] * mu_X[:, None, :]  # sum w pc Xc^T
        B = (wn @ XX).reshape(-1, 3, 3) - mu_X[:, :, None] * mu_X[:, None, :]  # sum w Xc Xc^T
        B[~ok] = eye
        B += 1e-9 * eye
        M = np.swapaxes(np.linalg.solve(B, np.swapaxes(A, 1, 2)), 1, 2)  # affine camera A B^-1
        R12 = _orthonormal_rows(M)  # nearest pair of orthonormal rows (polar factor)
        off = np.matmul(R12, mu_X[:, :, None])[:, :, 0]  # (F, 2)
        qx = R12[:, 0] @ X.T - off[:, :1]  # (F, N) projected centred template
        qy = R12[:, 1] @ X.T - off[:, 1:]
        cx = px - mu_p[:, :1]
        cy = py - mu_p[:, 1:]
        s = ((wn * (cx * qx + cy * qy)).sum(1)) / np.maximum((wn * (qx * qx + qy * qy)).sum(1), 1e-12)
        rx = cx - s[:, None] * qx
        ry = cy - s[:, None] * qy
        res = np.sqrt(rx * rx + ry * ry)  # (F, N)
        if it == iterations:
            break
        # Huber weights; robust residual scale ~ 1.25 * weighted mean absolute residual
        k = 1.5 * 1.25 * (wn * res).sum(1, keepdims=True) + 1e-9
        w = w0 * np.minimum(1.0, k / np.maximum(res, 1e-12))
    r3 = np.cross(R12[:, 0], R12[:, 1])
    R = np.concatenate([R12, r3[:, None]], 1)
    t = mu_p - s[:, None] * off
    rmsd = np.sqrt((w0 / np.where(ok, w0.sum(1), 1.0)[:, None] * res**2).sum(1))
    bad = ~ok | ~(s > 0)
    R[bad] = np.nan
    return {
        "rotation": R,
        "scale": np.where(bad, np.nan, s),
        "translation": np.where(bad[:, None], np.nan, t),
        "rmsd": np.where(bad, np.nan, rmsd),
    }


def _orthonormal_rows(M: np.ndarray) -> np.ndarray:
    """Nearest ``(F, 2, 3)`` matrices with orthonormal rows: ``(M M^T)^(-1/2) M`` in closed form."""
    C = M @ np.swapaxes(M, 1, 2)  # (F, 2, 2) symmetric positive
    det = np.clip(C[:, 0, 0] * C[:, 1, 1] - C[:, 0, 1] * C[:, 1, 0], 0, None)
    sd = np.sqrt(det)
    tr = np.sqrt(np.maximum(C[:, 0, 0] + C[:, 1, 1] + 2 * sd, 1e-300))
    Sq = (C + sd[:, None, None] * np.eye(2)) / tr[:, None, None]  # sqrt(C) for 2x2 SPD
    dS = Sq[:, 0, 0] * Sq[:, 1, 1] - Sq[:, 0, 1] * Sq[:, 1, 0]
    inv = np.empty_like(Sq)
    inv[:, 0, 0], inv[:, 1, 1] = Sq[:, 1, 1], Sq[:, 0, 0]
    inv[:, 0, 1], inv[:, 1, 0] = -Sq[:, 0, 1], -Sq[:, 1, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        inv /= dS[:, None, None]
    return inv @ M


def normalize_coords(
    coords: np.ndarray,
    scheme: Scheme | str,
    confidence: np.ndarray | None = None,
    *,
    image: bool = False,
    dims: int | None = None,
    scale: bool = True,
    camera: dict[str, Any] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Bring ``(F, N, 3)`` landmarks into the scheme's template frame.

    Args:
        coords: ``(F, N, 3)`` (or ``(N, 3)``) coordinates, NaN = missing; ``z`` all NaN = 2D.
        scheme: a :class:`~geopain.species.Scheme` or its key.
        confidence: ``(F, N)`` point confidence used as fit weights.
        image: coordinates follow the image convention (y down, z away): negate y, z first.
        dims: 2 or 3; by default 2 when every z is NaN.
        scale: remove size (similarity fit); ``False`` keeps it (rigid fit, 3D only).
        camera: for 2D pixels from a known pinhole camera, ``{"focal_px": f, "image_size": (w, h)}``
            (or ``"principal_point": (cx, cy)``): the weak-perspective pose is seen along the ray
            to the face, not the optical axis; this turns it into the pose in camera axes
            (a face 30 cm off-axis at 1 m is otherwise off by ~17 degrees). Needs ``image=True``.

    Returns:
        ``aligned (F, N, 3)`` float32 in template units and ``pose``: dict of ``(F,)``
        float64 arrays ``yaw, pitch, roll`` (degrees), ``scale`` (input units per template
        unit), ``rmsd`` (template units).
    """
    sch = _scheme(scheme)
    c = np.asarray(coords, dtype=np.float32)
    if c.ndim == 2:
        c = c[None]
    check_shape("coords", c, (None, sch.n_points, 3))
    if image:
        c = c * np.array([1.0, -1.0, -1.0], dtype=np.float32)
    if dims is None:
        # 2D when every z is NaN; one finite z in the first frame settles it without a pass over all
        dims = 2 if c.shape[0] and np.isnan(c[0, :, 2]).all() and np.isnan(c[..., 2]).all() else 3
    if dims not in (2, 3):
        raise ShapeError(f"dims must be 2 or 3, got {dims}")
    template = sch.template
    if dims == 3:
        tf, aligned = align_frames(c, template, confidence, scale=scale)
        angles = tf.pose
        pose = {"yaw": angles[:, 0], "pitch": angles[:, 1], "roll": angles[:, 2],
                "scale": 1.0 / tf.scale, "rmsd": tf.rmsd}
        return aligned, pose
    xy = c[..., :2].astype(np.float64)
    conf = None if confidence is None else np.asarray(confidence)
    B = max(64, (2048 * 68) // sch.n_points)  # blocks of frames keep the temporaries in cache
    fits = [fit_weak_perspective(xy[i:i + B], template, None if conf is None else conf[i:i + B])
            for i in range(0, max(len(xy), 1), B)]
    fit = {k: np.concatenate([f[k] for f in fits]) for k in fits[0]}
    R, s, t = fit["rotation"], fit["scale"], fit["translation"]
    depth = template @ np.swapaxes(R[:, 2:3], 1, 2)  # (F, N, 1): z of the rotated template
    cam = np.concatenate([(xy - t[:, None]) / s[:, None, None], depth], -1)  # unscaled camera frame
    aligned = (cam @ R).astype(np.float32)  # R^T applied to row vectors
    aligned[~np.isfinite(xy).all(-1)] = np.nan
    R_pose = R if camera is None else _view_rotation(t, camera) @ R
    angles = pose_angles(R_pose)
    pose = {"yaw": angles[:, 0], "pitch": angles[:, 1], "roll": angles[:, 2],
            "scale": s, "rmsd": fit["rmsd"] / s}
    return aligned, pose


def _view_rotation(t: np.ndarray, camera: dict[str, Any]) -> np.ndarray:
    """``(F, 3, 3)`` rotations taking +z to the direction from the face to the camera.

    ``t (F, 2)``: the projected face origin in flipped image coordinates (x, -y) pixels.
    """
    try:
        f = float(camera["focal_px"])
        if "principal_point" in camera:
            cx, cy = (float(v) for v in camera["principal_point"])
        else:
            w, h = camera["image_size"]
            cx, cy = float(w) / 2, float(h) / 2
    except (KeyError, TypeError, ValueError):
        raise ShapeError("camera: needs 'focal_px' and 'image_size' (w, h) or 'principal_point' (cx, cy)") from None
    u, v = t[:, 0], -t[:, 1]  # back to image pixels (y down)
    d = np.stack([-(u - cx) / f, (v - cy) / f, np.ones_like(u)], 1)  # face -> camera, template axes
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(z, d)  # (F, 3)
    sin = np.linalg.norm(axis, axis=1)
    cos = d[:, 2]
    k = axis / np.where(sin > 1e-12, sin, 1.0)[:, None]
    K = np.zeros((len(t), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    K[:, 1, 0], K[:, 2, 0], K[:, 2, 1] = k[:, 2], -k[:, 1], k[:, 0]
    return np.eye(3) + sin[:, None, None] * K + (1 - cos)[:, None, None] * (K @ K)


def _image_axes_fit_better(seq, sch) -> bool:
    """For coordinates in unknown units: whether they follow image axes (y down).

    The 2D Procrustes cross-covariance ``H = sum (xy - mean)^T (template_xy - mean)`` of each
    frame with the template (y up) has a negative determinant when only a reflection maps one
    onto the other: the y axis points down. Decided by the majority of frames with a face; a
    rotation (head roll) never changes the sign."""
    xy = np.asarray(seq.coords, np.float64)[..., :2]  # (F, N, 2)
    tpl = np.asarray(sch.template, np.float64)[:, :2]  # (N, 2)
    ok = np.isfinite(xy).all(-1)  # (F, N)
    w = ok.astype(np.float64)
    n = np.maximum(w.sum(1, keepdims=True), 1.0)
    x = np.where(ok[..., None], xy, 0.0)
    xc = (x - (x * w[..., None]).sum(1, keepdims=True) / n[..., None]) * w[..., None]
    tc = (tpl[None] * w[..., None]) - (tpl[None] * w[..., None]).sum(1, keepdims=True) / n[..., None] * w[..., None]
    det = np.linalg.det(np.einsum("fni,fnj->fij", xc, tc))
    usable = ok.sum(1) >= 3
    return bool((det[usable] < 0).sum() > (det[usable] > 0).sum())


def normalize(seq, neutral: Any = None, *, image: bool | None = None, scale: bool = True,
              baseline: Any = None):
    """A normalised copy of a :class:`~geopain.landmarks.LandmarkSequence`.

    Coordinates are in the template frame (``units="template"``); ``meta["pose"]`` holds the
    ``(T,)`` arrays of :func:`normalize_coords`, ``meta["normalization"]`` what was done
    (and, for 2D input, what was estimated).

    Args:
        seq: the sequence.
        neutral: ``None`` (no identity removal); ``"auto"``, ``"lowest"`` or ``"first"`` to
            estimate this sequence's neutral shape (:func:`~geopain.geometry.neutral.neutral_shape`)
            and subtract it; or an ``(N, 3)`` neutral shape in template units (e.g. a
            subject's, from :func:`~geopain.geometry.neutral.subject_neutrals`).
        image: image axis convention; default: ``seq.units`` in ``("px", "normalized")``, and
            for ``units="unknown"`` the convention that fits the template better.
        scale: remove size (default).
        baseline: the older name of ``neutral`` (a FutureWarning says so).
    """
    from .neutral import neutral_shape, subtract_neutral

    if baseline is not None:
        warnings.warn("normalize(baseline=...) is now normalize(neutral=...)", FutureWarning, stacklevel=2)
        neutral = baseline if neutral is None else neutral

    sch = get_scheme(seq.scheme)
    if image is None:
        image = seq.units in IMAGE_UNITS if seq.units != "unknown" else _image_axes_fit_better(seq, sch)
    dims = seq.dims if not (seq.units == "template" and seq.meta.get("normalization")) else 3
    camera = None
    if dims == 2 and image and seq.units == "px" and "focal_px" in seq.meta and "image_size" in seq.meta:
        camera = {"focal_px": seq.meta["focal_px"], "image_size": seq.meta["image_size"]}
    aligned, pose = normalize_coords(seq.coords, sch, seq.confidence, image=image, dims=dims, scale=scale,
                                     camera=camera)
    info: dict[str, Any] = {
        "method": "similarity (weighted Umeyama)" if dims == 3 else "weak-perspective fit to the 3D template",
        "template": sch.key,
        "input_units": seq.units,
        "image_axes": bool(image),
        "estimated": ["yaw", "pitch", "roll", "scale"] + (["z"] if dims == 2 else []),
    }
    if dims == 2:
        info["z"] = "depth of the fitted template (not observed)"
        info["camera"] = ("pinhole from meta (focal_px, image_size): pose turned to camera axes" if camera
                          else "unknown: pose relative to the line of sight")
    if neutral is not None:
        if isinstance(neutral, str):
            info["neutral"] = f"neutral shape of this sequence ({neutral}) subtracted"
            neutral = neutral_shape(aligned, seq.labels.get("score"), method=neutral)
        else:
            neutral = np.asarray(neutral, dtype=np.float64)
            info["neutral"] = "given neutral shape subtracted"
        aligned = subtract_neutral(aligned, neutral, sch.template)
    meta = dict(seq.meta)
    meta["pose"] = pose
    meta["normalization"] = info
    return seq.with_coords(aligned, units="template", meta=meta)
