"""Reading images and videos as users have them.

:func:`read_image` returns RGB ``uint8 (H, W, 3)`` whatever the file holds: grayscale,
palette, RGBA (composited over white), 16-bit or float, CMYK, EXIF-rotated. :func:`iter_video`
yields ``(frame_index, timestamp_s, rgb)`` for every ``stride``-th frame. Problems are
:class:`~geopain.errors.InputError` naming the file and what is wrong with it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import InputError, ShapeError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})

#: Pillow's decompression-bomb guard, raised so real large photos (e.g. 200 MP scans) open.
MAX_IMAGE_PIXELS = 400_000_000


def media_kind(path: str | os.PathLike) -> str | None:
    """``"image"``, ``"video"`` or ``None`` from the file extension."""
    ext = Path(path).suffix.lower()
    return "image" if ext in IMAGE_EXTENSIONS else "video" if ext in VIDEO_EXTENSIONS else None


def to_rgb_uint8(array: np.ndarray) -> np.ndarray:
    """Any image array as RGB ``uint8 (H, W, 3)``: the one converter every path uses
    (files, arrays given to :func:`geopain.extract.detect_image` and to ``Detector.detect``).

    * gray ``(H, W)`` / ``(H, W, 1)`` is repeated to three channels;
    * alpha (``(H, W, 2)`` gray + alpha, ``(H, W, 4)`` RGBA) is composited over white;
    * float in ``[0, 1]`` is scaled by 255, float in ``(1, 255]`` is taken as 0-255 values,
      larger floats are scaled by their maximum; NaN becomes 0;
    * 16-bit (or 10/12-bit in 16-bit containers) integers are rescaled to 8 bits by their
      bit depth (``>> 8`` would darken 12-bit data to a sixteenth); bool is 0/255.

    Raises :class:`~geopain.errors.ShapeError` for shapes that are not an image.
    """
    a = np.asarray(array)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 2, 3, 4)):
        raise ShapeError(f"image: expected (H, W), (H, W, 3) RGB or (H, W, 4) RGBA, got shape {a.shape}")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    if a.dtype == np.uint8:
        pass
    elif np.issubdtype(a.dtype, np.floating):
        finite = a[np.isfinite(a)]
        hi = float(finite.max()) if finite.size else 1.0
        scale = 255.0 if hi <= 1.0 else 1.0 if hi <= 255.0 else 255.0 / hi
        a = np.clip(np.nan_to_num(a, nan=0.0, posinf=255.0 / scale, neginf=0.0) * scale + 0.5, 0, 255).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.integer):
        hi = int(a.max()) if a.size else 0
        if a.dtype.itemsize >= 2 and hi > 255:
            bits = 16 if hi > 4095 else 12 if hi > 1023 else 10
            a = (a.astype(np.float32) * (255.0 / (2 ** bits - 1)) + 0.5).clip(0, 255).astype(np.uint8)
        else:
            a = a.clip(0, 255).astype(np.uint8)
    else:
        raise ShapeError(f"image: unsupported dtype {a.dtype}")
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[2] in (2, 4):  # composite the alpha channel over white
        alpha = a[..., -1:].astype(np.float32) / 255.0
        a = (a[..., :-1] * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as RGB ``uint8 (H, W, 3)``, EXIF orientation applied."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file")
    if p.is_dir():
        raise InputError(p, "is a folder, not an image")
    if p.stat().st_size == 0:
        raise InputError(p, "empty file")
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with pil_open()(p) as im:
            im = ImageOps.exif_transpose(im)
            mode = im.mode
            if mode in ("RGB", "L"):
                arr = np.asarray(im)
            elif mode in ("RGBA", "LA", "I;16", "I;16B", "I;16L", "I", "F"):
                arr = np.asarray(im)
                if mode.startswith("I;16"):
                    arr = arr.astype(np.uint16)
            elif mode == "P" and "transparency" in im.info:
                arr = np.asarray(im.convert("RGBA"))
            else:  # P, CMYK, YCbCr, 1, ...
                arr = np.asarray(im.convert("RGB"))
    except UnidentifiedImageError:
        raise InputError(p, "not an image (unknown or wrong format)") from None
    except Image.DecompressionBombError as exc:
        raise InputError(p, f"image too large ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(p, f"corrupt or truncated image ({exc})") from None
    except Exception as exc:  # a plugin failing on a file it cannot read
        raise InputError(p, f"not a readable image ({type(exc).__name__}: {exc})") from None
    if arr.size == 0:
        raise InputError(p, "image has no pixels")
    return to_rgb_uint8(arr)


def pil_open():
    """Pillow's own ``Image.open``: ultralytics replaces it with one that tries to install a
    HEIF plugin (pip, network) on any unidentified file; geopain never wants that."""
    import sys

    from PIL import Image

    patched = sys.modules.get("ultralytics.utils.patches")
    return getattr(patched, "_image_open", None) or Image.open


@dataclass
class VideoInfo:
    fps: float
    n_frames: int
    width: int
    height: int


def video_info(path: str | os.PathLike) -> VideoInfo:
    """Frame rate, frame count (as the container says) and size of a video."""
    cap = _open(path)
    try:
        return VideoInfo(_fps(cap), int(cap.get(_cv2().CAP_PROP_FRAME_COUNT) or 0),
                         int(cap.get(_cv2().CAP_PROP_FRAME_WIDTH)), int(cap.get(_cv2().CAP_PROP_FRAME_HEIGHT)))
    finally:
        cap.release()


def iter_video(path: str | os.PathLike, stride: int = 1, start: int = 0,
               stop: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(frame_index, timestamp_s, rgb uint8 (H, W, 3))`` for frames ``start, start+stride, ...``
    before ``stop`` (default: the end of the stream).

    Timestamps are ``frame_index / fps``. A video whose stream ends well before the frame
    count its container declares (or before ``stop``) raises :class:`InputError` ("truncated")
    after the frames that could be read were yielded. Frames before ``start`` are grabbed, not
    seeked to: exact on every codec, at the cost of decoding them.
    """
    if stride < 1:
        raise InputError(path, f"stride must be >= 1, got {stride}")
    cv2 = _cv2()
    cap = _open(path)
    try:
        fps = _fps(cap)
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        index = 0
        read = 0
        while stop is None or index < stop:
            if index < start or (index - start) % stride:
                ok = cap.grab()
                if not ok:
                    break
            else:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    break
                read += 1
                yield index, index / fps if fps else float("nan"), np.ascontiguousarray(bgr[..., ::-1])
            index += 1
        if index == 0:
            raise InputError(path, "video has no readable frames (corrupt or truncated)")
        end = declared if stop is None else min(stop, declared)
        if declared > 0 and index < end - max(2, declared // 100):
            raise InputError(path, f"video ended at frame {index} of {declared} (truncated)")
    finally:
        cap.release()


def _cv2():
    import cv2

    return cv2


def _fps(cap) -> float:
    fps = float(cap.get(_cv2().CAP_PROP_FPS) or 0.0)
    return fps if np.isfinite(fps) and 0 < fps < 10000 else 0.0


def _open(path: str | os.PathLike):
    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file")
    if p.stat().st_size == 0:
        raise InputError(p, "empty file")
    cv2 = _cv2()
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        cap.release()
        raise InputError(p, "cannot open video (corrupt, truncated or unsupported format)")
    return cap
