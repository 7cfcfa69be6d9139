"""Faces drawn as images from simulated landmarks: a small dataset in the YOLO pose format
for detector tests and demos (SIMULATION).

Each face is a frame of :func:`geopain.synth.simulate` (identity and pain expression of the
species' simulator), turned to a random pose with the simulator's rotation convention,
scaled into the image and drawn with OpenCV as filled shapes over a noisy background. What
to draw is data: the ``render:`` section of ``species/<species>/synth.yaml`` names the
landmarks of the head outline, flaps (ears), dark filled hulls (eyes, nostrils), closed
lines (mouth) and spots. The keypoints are the projected landmarks. Written with
:func:`geopain.io.yolo.write_yolo_dataset`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import SchemeError
from ..io.yolo import write_yolo_dataset
from ..landmarks import LandmarkSequence
from ..species import Scheme
from .simulator import rotation_matrices, simulate
from .spec import load_spec


def render_spec(species: str) -> tuple[Scheme, dict[str, Any]]:
    """The base scheme and the ``render:`` section (names resolved to indices) of ``species``."""
    spec = load_spec(species)
    data = yaml.safe_load(Path(spec.path).read_text()) or {}
    raw = data.get("render")
    if not isinstance(raw, dict):
        raise SchemeError(f"{spec.path}: no 'render:' section, so {species} faces cannot be drawn")
    sch = spec.scheme

    def idx(names) -> list[int]:
        return [sch.index(str(n)) for n in names]

    exclude = set(idx(raw.get("head_exclude", [])))
    return sch, {
        "head": [i for i in range(sch.n_points) if i not in exclude],
        "flaps": [idx(pair) for pair in raw.get("flaps", [])],
        "dark_hulls": [idx(group) for group in raw.get("dark_hulls", [])],
        "lines": [idx(group) for group in raw.get("lines", [])],
        "spots": idx(raw.get("spots", [])),
    }


def _shapes(species: str, scheme: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, N, 3)`` simulated faces (template cm), frames drawn at random from a small cohort."""
    seqs = simulate(species=species, n_subjects=max(2, n // 8), sequences_per_subject=1, frames=8,
                    seed=int(rng.integers(1 << 30)), scheme=scheme)
    pool = np.concatenate([s.coords for s in seqs], 0)
    pool = pool[np.isfinite(pool).all((1, 2))]
    return pool[rng.integers(0, len(pool), n)].astype(np.float64)


def _grow(points: np.ndarray, factor: float) -> np.ndarray:
    c = points.mean(0)
    return c + (points - c) * factor


def render_faces(n: int = 24, size: int = 128, seed: int = 0, species: str = "sheep"
                 ) -> tuple[list[np.ndarray], list[LandmarkSequence]]:
    """``n`` RGB images ``(size, size, 3)`` uint8 and their keypoints (one-frame sequences, pixels)."""
    import cv2

    sch, draw = render_spec(species)
    rng = np.random.default_rng(seed)
    shapes = _shapes(species, sch.key, n, rng)
    ang = rng.uniform([-30, -15, -15], [30, 15, 15], (n, 3))  # yaw, pitch, roll in degrees
    R = rotation_matrices(ang[:, 0], ang[:, 1], ang[:, 2])
    pts = np.einsum("fij,fnj->fni", R, shapes - shapes.mean(1, keepdims=True))
    xy = pts[..., :2] * np.array([1.0, -1.0])  # y up -> image rows down
    extent = (xy.max(1) - xy.min(1)).max(1)
    xy = xy * (rng.uniform(0.45, 0.8, n) * size / extent)[:, None, None]
    lo, hi = xy.min(1), xy.max(1)
    xy = (xy + rng.uniform(-lo + 2, size - hi - 2)[:, None]).astype(np.float32)
    dark = (25, 20, 20)
    images, seqs = [], []
    for f in range(n):  # drawing is per image by nature; geometry above is vectorised
        img = cv2.GaussianBlur(rng.integers(60, 140, (size, size, 3), dtype=np.uint8), (5, 5), 0)
        p = xy[f]
        wool = tuple(int(v) for v in rng.integers(170, 245, 3))
        skin = tuple(int(v) for v in rng.integers(120, 200, 3))
        head = p[draw["head"]]
        cv2.fillConvexPoly(img, cv2.convexHull(np.round(_grow(head, 1.12)).astype(np.int32)), wool)
        cv2.fillConvexPoly(img, cv2.convexHull(np.round(head).astype(np.int32)), skin)
        for base_i, tip_i in draw["flaps"]:
            base, tip = p[base_i], p[tip_i]
            d = tip - base
            nrm = np.array([-d[1], d[0]]) * 0.25
            poly = np.round(np.stack([base + nrm, tip, base - nrm])).astype(np.int32)
            cv2.fillConvexPoly(img, poly, wool)
            cv2.polylines(img, [poly], True, dark, 1)
        for group in draw["dark_hulls"]:
            cv2.fillConvexPoly(img, cv2.convexHull(np.round(p[group]).astype(np.int32)), dark)
        for group in draw["lines"]:
            cv2.polylines(img, [np.round(p[group]).astype(np.int32)], True, dark, 2)
        for i in draw["spots"]:
            cv2.circle(img, tuple(int(v) for v in np.round(p[i])), 2, (230, 200, 190), -1)
        images.append(img)
        seqs.append(LandmarkSequence(coords=p[None], scheme=sch.key, units="px", sequence=f"render_{f:04d}",
                                     frames=[0], timestamps=[np.nan], detector="render"))
    return images, seqs


def write_dataset(out_dir: str | os.PathLike, n: int = 24, size: int = 128, seed: int = 0,
                  species: str = "sheep", split_fraction: float = 0.75) -> Path:
    """Render ``n`` faces of ``species`` and write them as a YOLO pose dataset; returns ``data.yaml``."""
    images, seqs = render_faces(n, size, seed, species)
    return write_yolo_dataset(out_dir, images, seqs, seqs[0].scheme, split_fraction=split_fraction, seed=seed)
