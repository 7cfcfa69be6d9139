"""Real photos that ship inside installed packages, and small media builders for detector tests."""
from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

import numpy as np


def ultralytics_asset(name: str) -> Path:
    spec = importlib.util.find_spec("ultralytics")
    return Path(spec.origin).parent / "assets" / name


@functools.lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """RGB uint8: 'astronaut' (skimage), 'bus' and 'zidane' (ultralytics assets)."""
    if name == "astronaut":
        import skimage.data

        return skimage.data.astronaut()
    import cv2

    return cv2.imread(str(ultralytics_asset(f"{name}.jpg")))[..., ::-1].copy()


def write_video(path: Path, n: int = 16, fps: float = 10.0, size: int = 192) -> list[tuple[int, int, int]]:
    """An mp4v video from the astronaut photo: a crop moving right and shrinking (zoom in), period 24.

    Returns the crops ``(x0, y0, side)`` of each frame.
    """
    import cv2

    img = photo("astronaut")
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    crops = []
    for i in range(n):
        k = i % 24  # longer videos repeat the 24-frame motion
        side = 320 - 6 * k
        x0, y0 = 60 + 4 * k, 10 + 2 * k
        crop = img[y0:y0 + side, x0:x0 + side]
        w.write(np.ascontiguousarray(cv2.resize(crop, (size, size))[..., ::-1]))
        crops.append((x0, y0, side))
    w.release()
    assert os.path.getsize(path) > 0
    return crops


def iou(a, b) -> float:
    from geopain.extract import box_iou

    return float(box_iou(np.asarray(a)[None], np.asarray(b)[None])[0, 0])
