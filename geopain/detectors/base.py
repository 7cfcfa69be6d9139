"""The detector interface every landmark detector implements.

A :class:`Detector` takes one RGB ``uint8`` image ``(H, W, 3)`` and returns one
:class:`FaceDetection` per face: landmark coordinates ``(N, 3)`` in pixels of that image
(z in pixels too for 3D detectors, NaN for 2D ones), per-point confidence ``(N,)`` (NaN
where the detector has none), the face box ``(x0, y0, x1, y1)`` in pixels and a face score.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import ShapeError
from ..media import to_rgb_uint8
from ..species import get_scheme


@dataclass
class FaceDetection:
    """One face found in one image.

    Attributes:
        coords: ``(N, 3)`` float32 pixels of the source image (z NaN when 2D).
        confidence: ``(N,)`` float32 per-point confidence in [0, 1], NaN where unknown.
        box: ``(4,)`` float32 ``x0, y0, x1, y1`` pixels.
        score: face-level score in [0, 1] (NaN where unknown).
    """

    coords: np.ndarray
    confidence: np.ndarray
    box: np.ndarray
    score: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.coords = np.asarray(self.coords, dtype=np.float32)
        if self.coords.ndim != 2 or self.coords.shape[1] not in (2, 3):
            raise ShapeError(f"FaceDetection.coords: expected (N, 3), got {self.coords.shape}")
        if self.coords.shape[1] == 2:
            self.coords = np.concatenate([self.coords, np.full((len(self.coords), 1), np.nan, np.float32)], 1)
        n = len(self.coords)
        conf = np.full(n, np.nan, np.float32) if self.confidence is None else np.asarray(self.confidence, np.float32)
        if conf.shape != (n,):
            raise ShapeError(f"FaceDetection.confidence: expected ({n},), got {conf.shape}")
        self.confidence = conf
        self.box = np.asarray(self.box, dtype=np.float32).reshape(4)
        self.score = float(self.score)


def box_of(points: np.ndarray) -> np.ndarray:
    """``(4,)`` tight box ``x0, y0, x1, y1`` around finite ``(N, >=2)`` points."""
    xy = np.asarray(points)[:, :2]
    xy = xy[np.isfinite(xy).all(1)]
    if not len(xy):
        return np.full(4, np.nan, np.float32)
    return np.concatenate([xy.min(0), xy.max(0)]).astype(np.float32)


class Detector:
    """Base class: subclasses set ``name``, ``scheme``, ``dims`` and implement :meth:`_detect`.

    ``max_side``: images whose longer side exceeds it are detected on a downscaled copy and
    the results scaled back to source pixels (very large photos stay fast); ``None`` keeps
    the full size. ``min_side``: smaller images are upscaled first (tiny crops still work).
    """

    name: ClassVar[str] = "base"
    dims: int = 2
    scheme: str = ""

    def __init__(self, max_side: int | None = 1920, min_side: int = 64):
        self.max_side = max_side
        self.min_side = min_side

    @property
    def version(self) -> str:
        return "unknown"

    @property
    def n_points(self) -> int:
        return get_scheme(self.scheme).n_points

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """Faces in one RGB uint8 image ``(H, W, 3)``; coordinates in that image's pixels."""
        img = to_rgb_uint8(image)
        h, w = img.shape[:2]
        if h == 0 or w == 0:
            return []
        side = max(h, w)
        factor = 1.0
        if self.max_side and side > self.max_side:
            factor = self.max_side / side
        elif side < self.min_side:
            factor = self.min_side / side
        if factor != 1.0:
            import cv2

            size = (max(1, round(w * factor)), max(1, round(h * factor)))
            interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
            img = cv2.resize(img, size, interpolation=interp)
        faces = self._detect(img)
        if factor != 1.0:
            for f in faces:
                f.coords /= factor  # z was scaled like x, so it scales back the same way
                f.box /= factor
        return faces

    def _detect(self, image: np.ndarray) -> list[FaceDetection]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release native resources (graphs, sessions)."""

    def __enter__(self) -> "Detector":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, scheme={self.scheme!r}, dims={self.dims}, version={self.version!r})"
