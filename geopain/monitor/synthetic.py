"""Test videos made from one real photo: the photo panned and zoomed over time (OpenCV writer).

A stand-in for a recording where faces move, for tests, benchmarks and the README's
example: the faces are real (the photo's), the motion is known.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..media import read_image, to_rgb_uint8


def photo_video(image: np.ndarray, path: str | os.PathLike, seconds: float = 4.0, fps: float = 25.0,
                size: tuple[int, int] = (640, 480), shift: float = 0.06, zoom: float = 0.05,
                period_s: float = 4.0) -> Path:
    """Write an MP4 (``mp4v``) of ``image`` (RGB uint8 ``(H, W, 3)``) drifting on a ``size = (W, H)``
    canvas: a horizontal pan of ``shift`` x W and a zoom of ``zoom`` (fractions), one cycle per
    ``period_s`` seconds. Returns the path."""
    import cv2

    img = to_rgb_uint8(np.asarray(image))
    W, H = int(size[0]), int(size[1])
    base = min(W / img.shape[1], H / img.shape[0]) * 0.9
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (W, H))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {path}")
    bgr = np.ascontiguousarray(img[..., ::-1])
    cx, cy = img.shape[1] / 2, img.shape[0] / 2
    try:
        for i in range(int(round(seconds * fps))):
            phase = 2 * np.pi * i / (fps * period_s)
            s = base * (1 + zoom * np.sin(phase))
            tx = W / 2 + shift * W * np.sin(phase) - s * cx
            ty = H / 2 - s * cy
            M = np.array([[s, 0, tx], [0, s, ty]], np.float64)
            writer.write(cv2.warpAffine(bgr, M, (W, H), flags=cv2.INTER_LINEAR, borderValue=(40, 40, 40)))
    finally:
        writer.release()
    return path


def zidane() -> np.ndarray:
    """``ultralytics/assets/zidane.jpg`` (two people) as RGB, from the installed package."""
    from importlib.util import find_spec

    spec = find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("ultralytics is not installed (it ships assets/zidane.jpg)")
    return read_image(Path(list(spec.submodule_search_locations)[0]) / "assets" / "zidane.jpg")
