"""A small generated sheep-face dataset in the YOLO pose format (for tests and demos).

Faces are rendered from the scheme's 3D template (``species/sheep/spfes.yaml``), with the
SPFES expression changes of :func:`geopain.synth.simulate` where that module exists, under a
random pose and scale, and drawn with OpenCV as filled shapes (head, ears, eyes, nostrils,
mouth) over a noisy background, so a detector has something real to learn. The keypoints
are the projected landmarks. Written with :func:`geopain.io.yolo.write_yolo_dataset`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..landmarks import LandmarkSequence
from ..species import get_scheme


def _rotation(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """``(F, 3, 3)`` rotations from angles in radians (y up, looking +z)."""
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    o, z = np.ones_like(yaw), np.zeros_like(yaw)
    Ry = np.stack([np.stack([cy, z, sy], -1), np.stack([z, o, z], -1), np.stack([-sy, z, cy], -1)], -2)
    Rx = np.stack([np.stack([o, z, z], -1), np.stack([z, cp, -sp], -1), np.stack([z, sp, cp], -1)], -2)
    Rz = np.stack([np.stack([cr, -sr, z], -1), np.stack([sr, cr, z], -1), np.stack([z, z, o], -1)], -2)
    return Rz @ Rx @ Ry


def _shapes(scheme: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, N, 3)`` face shapes in template cm: simulated expressions if available, else jittered template."""
    sch = get_scheme(scheme)
    try:
        from ..synth import simulate  # the simulator, when its engineer has committed it

        seqs = simulate(species=sch.species, n_subjects=max(2, n // 8), sequences_per_subject=1, frames=8,
                        seed=int(rng.integers(1 << 30)), scheme=sch.key)
        pool = np.concatenate([s.coords for s in seqs], 0)
        pool = pool[np.isfinite(pool).all((1, 2))]
        if len(pool) >= 1 and pool.shape[1:] == sch.template.shape:
            return pool[rng.integers(0, len(pool), n)].astype(np.float64)
    except Exception:
        pass
    jitter = rng.normal(0, 0.03, (n, 1, 3)) * np.abs(sch.template).max() * rng.normal(1, 0.1, (n, sch.n_points, 1))
    return sch.template[None] + jitter


def render_faces(n: int = 24, size: int = 128, seed: int = 0, scheme: str = "sheep/spfes"
                 ) -> tuple[list[np.ndarray], list[LandmarkSequence]]:
    """``n`` RGB images ``(size, size, 3)`` and their keypoints (one-frame sequences, pixels)."""
    import cv2

    sch = get_scheme(scheme)
    rng = np.random.default_rng(seed)
    shapes = _shapes(sch.key, n, rng)
    ang = np.deg2rad(rng.uniform([-30, -15, -15], [30, 15, 15], (n, 3)))
    R = _rotation(ang[:, 0], ang[:, 1], ang[:, 2])
    pts = np.einsum("fij,fnj->fni", R, shapes - shapes.mean(1, keepdims=True))
    xy = pts[..., :2] * np.array([1.0, -1.0])  # y up -> image rows down
    extent = (xy.max(1) - xy.min(1)).max(1)
    scale = rng.uniform(0.45, 0.8, n) * size / extent
    xy = xy * scale[:, None, None]
    lo, hi = xy.min(1), xy.max(1)
    shift = rng.uniform(-lo + 2, size - hi - 2)
    xy = (xy + shift[:, None]).astype(np.float32)
    idx = {name: i for i, name in enumerate(sch.landmarks)}
    ears = [k for k in idx if k.startswith("ear_")]
    images, seqs = [], []
    for f in range(n):
        img = rng.integers(60, 140, (size, size, 3), dtype=np.uint8)
        img = cv2.GaussianBlur(img, (5, 5), 0)
        p = xy[f]
        wool = tuple(int(v) for v in rng.integers(170, 245, 3))
        skin = tuple(int(v) for v in rng.integers(120, 200, 3))
        dark = (25, 20, 20)
        head = [i for k, i in idx.items() if k not in ears]
        hull = cv2.convexHull(np.round(p[head]).astype(np.int32))
        cv2.fillConvexPoly(img, cv2.convexHull(np.round(_grow(p[head], 1.12)).astype(np.int32)), wool)
        cv2.fillConvexPoly(img, hull, skin)
        for side in ("r", "l"):
            if f"ear_tip_{side}" in idx and f"ear_base_{side}" in idx:
                tip, base = p[idx[f"ear_tip_{side}"]], p[idx[f"ear_base_{side}"]]
                d = tip - base
                nrm = np.array([-d[1], d[0]]) * 0.25
                poly = np.round(np.stack([base + nrm, tip, base - nrm])).astype(np.int32)
                cv2.fillConvexPoly(img, poly, wool)
                cv2.polylines(img, [poly], True, dark, 1)
        for group in ("eye_", "nostril_"):
            for side in ("r", "l"):
                members = [i for k, i in idx.items() if k.startswith(group) and k.endswith(f"_{side}")]
                if len(members) >= 3:
                    cv2.fillConvexPoly(img, cv2.convexHull(np.round(p[members]).astype(np.int32)), dark)
        mouth = [idx[k] for k in ("upper_lip", "mouth_corner_r", "lower_lip", "mouth_corner_l") if k in idx]
        if len(mouth) >= 3:
            cv2.polylines(img, [np.round(p[mouth]).astype(np.int32)], True, dark, 2)
        for k in ("cheek_r", "cheek_l", "mid_forehead", "chin"):
            if k in idx:
                cv2.circle(img, tuple(int(v) for v in np.round(p[idx[k]])), 2, (230, 200, 190), -1)
        images.append(img)
        seqs.append(LandmarkSequence(coords=p[None], scheme=sch.key, units="px", sequence=f"render_{f:04d}",
                                     frames=[0], timestamps=[np.nan], detector="render"))
    return images, seqs


def _grow(points: np.ndarray, factor: float) -> np.ndarray:
    c = points.mean(0)
    return c + (points - c) * factor


def write_dataset(out_dir: str | os.PathLike, n: int = 24, size: int = 128, seed: int = 0,
                  scheme: str = "sheep/spfes", split_fraction: float = 0.75) -> Path:
    """Render ``n`` faces and write them as a YOLO pose dataset; returns ``data.yaml``."""
    from ..io.yolo import write_yolo_dataset

    images, seqs = render_faces(n, size, seed, scheme)
    return write_yolo_dataset(out_dir, images, seqs, scheme, split_fraction=split_fraction, seed=seed)
