"""Remote pulse (rPPG) from the face: skin regions from iBUG-68 landmarks, POS and CHROM.

    regions = skin_regions(landmarks68 (T, 68, 2), (H, W))   # (T, 3, H, W) forehead, left, right cheek
    rgb = region_means(frames (T, H, W, 3), regions)         # (T, 3) mean skin colour per frame
    pulse = pos(rgb, fps) | chrom(rgb, fps)                  # (T,) pulse signal
    estimate_heart_rate(frames, landmarks68, fps, method="pos") -> {"hr_bpm", "snr_db", "quality", ...}
    video_skin_colour(video, sequence) -> (T, 3) per-frame skin colour of a video with its landmarks:
        the ``skin_r, skin_g, skin_b`` columns that geopain's biosignal features and fusion read

- **POS** (plane-orthogonal-to-skin, Wang et al. 2017): in windows of 1.6 s the colour is
  divided by its mean, projected on ``[[0, 1, -1], [-2, 1, 1]]``, the two projections combined
  with the ratio of their standard deviations, overlap-added.
- **CHROM** (de Haan & Jeanne 2013): chrominance ``X = 3R - 2G``, ``Y = 1.5R + G - 1.5B`` of the
  normalised colour, band-passed 0.7-4 Hz, ``S = X - (sd X / sd Y) Y`` per window, overlap-added.

The heart rate is the peak of the pulse's spectrum in 0.7-4 Hz (42-240 bpm); its quality is the
SNR of de Haan: power within 0.1 Hz of the peak and 0.2 Hz of its first harmonic over the rest
of the band, in dB (for pulses shorter than 10 s, within ``1 / seconds`` Hz, see
:func:`spectrum_heart_rate`). Below ``min_snr_db`` there is no heart rate: ``hr_bpm`` is None and
``quality`` is ``"low"`` (a face without a pulse gets a refusal, not a number).
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
from scipy import signal

from ..errors import GeopainError, InputError, SchemeError, ShapeError
from ..media import iter_video
from ..species import convert_sequence

BAND_HZ = (0.7, 4.0)
#: SNR (dB) below which no heart rate is reported.
MIN_SNR_DB = 0.0
REGIONS = ("forehead", "left_cheek", "right_cheek")
#: The landmark layout the skin regions are drawn from.
IBUG68 = "human/ibug68"


def _shrink(poly: np.ndarray, factor: float) -> np.ndarray:
    c = poly.mean(-2, keepdims=True)
    return c + factor * (poly - c)


def region_polygons(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """``{region: (T, P, 2)}`` x, y polygons of the forehead and cheeks from iBUG-68 ``(T, 68, 2)``."""
    lm = np.asarray(landmarks, float)[..., :2]
    if lm.ndim == 2:
        lm = lm[None]
    if lm.shape[1:] != (68, 2):
        raise ShapeError(f"landmarks: expected iBUG 68 points (T, 68, 2), got {lm.shape}")
    brow = lm[:, 19:25]  # inner brows
    d = np.linalg.norm(lm[:, 30] - lm[:, 27], axis=-1)[:, None, None]  # nose length: the face's scale
    up = np.array([0.0, -1.0])
    forehead = np.concatenate([brow + up * 0.15 * d, (brow + up * 0.6 * d)[:, ::-1]], 1)
    left = lm[:, [1, 2, 3, 48, 31, 40, 36]]
    right = lm[:, [15, 14, 13, 54, 35, 47, 45]]
    return {"forehead": _shrink(forehead, 0.9), "left_cheek": _shrink(left, 0.7), "right_cheek": _shrink(right, 0.7)}


def skin_regions(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(T, 3, H, W)`` bool masks of :data:`REGIONS` per frame."""
    from skimage.draw import polygon

    polys = region_polygons(landmarks)
    T = polys["forehead"].shape[0]
    H, W = shape
    masks = np.zeros((T, len(REGIONS), H, W), bool)
    for r, name in enumerate(REGIONS):
        for t in range(T):  # rasterising one polygon per frame (skimage has no batched version)
            rr, cc = polygon(polys[name][t, :, 1], polys[name][t, :, 0], shape=(H, W))
            masks[t, r, rr, cc] = True
    return masks


def region_means(frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """``(T, 3)`` mean RGB over the union of the regions of each frame (``frames (T, H, W, 3)``)."""
    f = np.asarray(frames)
    if f.ndim != 4 or f.shape[-1] != 3:
        raise ShapeError(f"frames: expected (T, H, W, 3) RGB, got {f.shape}")
    m = np.asarray(masks).any(1) if masks.ndim == 4 else np.asarray(masks)
    n = m.sum((1, 2))
    if (n == 0).any():
        raise GeopainError(f"no skin pixels in {int((n == 0).sum())} frame(s): the face regions are outside the image")
    return np.einsum("thw,thwc->tc", m.astype(np.float64), f.astype(np.float64)) / n[:, None]


def _windows(T: int, size: int) -> np.ndarray:
    from ..graphs.temporal import sliding_windows

    return sliding_windows(T, size, max(1, size // 2))


def pos(rgb: np.ndarray, fps: float, window_s: float = 1.6) -> np.ndarray:
    """``(T,)`` POS pulse of mean skin colour ``rgb (T, 3)``."""
    c = np.asarray(rgb, float)
    T = len(c)
    size = min(T, max(2, int(round(window_s * fps))))
    idx = _windows(T, size)  # (W, L)
    win = c[idx]  # (W, L, 3)
    cn = win / np.maximum(win.mean(1, keepdims=True), 1e-9)
    s1 = cn[..., 1] - cn[..., 2]
    s2 = -2 * cn[..., 0] + cn[..., 1] + cn[..., 2]
    h = s1 + (s1.std(1, keepdims=True) / np.maximum(s2.std(1, keepdims=True), 1e-12)) * s2
    h = h - h.mean(1, keepdims=True)
    out = np.zeros(T)
    np.add.at(out, idx.ravel(), h.ravel())
    return out


def chrom(rgb: np.ndarray, fps: float, window_s: float = 1.6) -> np.ndarray:
    """``(T,)`` CHROM pulse of mean skin colour ``rgb (T, 3)``."""
    c = np.asarray(rgb, float)
    T = len(c)
    cn = c / np.maximum(c.mean(0, keepdims=True), 1e-9)
    x = 3 * cn[:, 0] - 2 * cn[:, 1]
    y = 1.5 * cn[:, 0] + cn[:, 1] - 1.5 * cn[:, 2]
    if T > 3 * fps:
        b, a = signal.butter(3, [BAND_HZ[0] / (fps / 2), min(BAND_HZ[1] / (fps / 2), 0.99)], "bandpass")
        x, y = signal.filtfilt(b, a, x), signal.filtfilt(b, a, y)
    size = min(T, max(2, int(round(window_s * fps))))
    idx = _windows(T, size)
    xw, yw = x[idx], y[idx]
    s = xw - (xw.std(1, keepdims=True) / np.maximum(yw.std(1, keepdims=True), 1e-12)) * yw
    s = (s - s.mean(1, keepdims=True)) * np.hanning(size)[None]
    out = np.zeros(T)
    np.add.at(out, idx.ravel(), s.ravel())
    return out


METHODS = {"pos": pos, "chrom": chrom}


def spectrum_heart_rate(pulse: np.ndarray, fps: float, min_snr_db: float = MIN_SNR_DB) -> dict[str, Any]:
    """Peak frequency of ``pulse`` in :data:`BAND_HZ` and de Haan's SNR; refuses below ``min_snr_db``.

    The signal bins are within ``w`` of the peak and ``2 w`` of its first harmonic, ``w = 0.1`` Hz
    (de Haan's) for 10 s or more; a shorter pulse's spectral line is wider (the window's main
    lobe spans ``2 / seconds`` Hz), so ``w = 1 / seconds`` there, and the refusal threshold rises by
    ``10 log10(w / 0.1)`` dB: noise alone keeps the same chance of passing at any duration.
    """
    x = signal.detrend(np.asarray(pulse, float))
    n = max(len(x), int(fps * 60))  # zero-padded to 1/60 Hz (1 bpm) bins
    f = np.fft.rfftfreq(n, 1 / fps)
    p = np.abs(np.fft.rfft(x * np.hanning(len(x)), n)) ** 2
    band = (f >= BAND_HZ[0]) & (f <= BAND_HZ[1])
    if not band.any() or p[band].sum() <= 0:
        return {"hr_bpm": None, "snr_db": float("-inf"), "quality": "low", "peak_bpm": None}
    peak = f[band][np.argmax(p[band])]
    width = max(0.1, fps / max(len(x), 1))
    signal_bins = band & ((np.abs(f - peak) <= width) | (np.abs(f - 2 * peak) <= 2 * width))
    noise = p[band & ~signal_bins].sum()
    snr = 10 * np.log10(p[signal_bins].sum() / max(noise, 1e-30))
    ok = bool(snr >= min_snr_db + 10 * np.log10(width / 0.1))
    return {"hr_bpm": float(60 * peak) if ok else None, "snr_db": float(snr), "quality": "ok" if ok else "low",
            "peak_bpm": float(60 * peak)}


def estimate_heart_rate(frames: np.ndarray, landmarks: np.ndarray, fps: float, method: str = "pos",
                        min_snr_db: float = MIN_SNR_DB) -> dict[str, Any]:
    """Heart rate of a face video: ``frames (T, H, W, 3)`` RGB, ``landmarks (T, 68, 2)`` iBUG-68 pixels.

    Returns ``{"hr_bpm": float | None, "snr_db", "quality": "ok" | "low", "peak_bpm", "method", "seconds"}``.
    """
    if method not in METHODS:
        raise GeopainError(f"method must be one of {tuple(METHODS)}, got {method!r}")
    if not fps > 0:
        raise GeopainError(f"fps must be > 0, got {fps!r}")
    frames = np.asarray(frames)
    if len(frames) < 4 * fps:
        raise GeopainError(f"a heart rate needs at least 4 s of video, got {len(frames) / fps:.1f} s")
    rgb = region_means(frames, skin_regions(landmarks, frames.shape[1:3]))
    out = spectrum_heart_rate(METHODS[method](rgb, fps), fps, min_snr_db)
    out.update(method=method, seconds=len(frames) / fps)
    return out


#: Columns of the per-frame skin colour in a biosignal side table (:mod:`geopain.biosignals`).
SKIN_COLUMNS = ("skin_r", "skin_g", "skin_b")


def video_skin_colour(video: str | os.PathLike, sequence: Any) -> np.ndarray:
    """``(T, 3)`` mean RGB of the forehead and cheeks in each frame of ``sequence`` (NaN where it
    has no face or a region leaves the image), read from ``video`` (one decoding pass).

    ``sequence``: a :class:`~geopain.landmarks.LandmarkSequence` extracted from that video, in
    image pixels (``units="px"``), of a scheme with iBUG-68 points or a conversion to them
    (``human/ibug68``, ``human/mediapipe468``).
    """
    if sequence.units != "px":
        raise InputError(video, f"skin colour needs landmarks in image pixels, the sequence's are in {sequence.units!r}")
    if sequence.scheme != IBUG68:
        try:
            sequence = convert_sequence(sequence, IBUG68)
        except SchemeError:
            raise InputError(video, f"skin colour needs iBUG-68 points; scheme {sequence.scheme} has no conversion "
                                    "to them") from None
    frames = np.asarray(sequence.frames, dtype=np.int64)
    row = {int(f): i for i, f in enumerate(frames)}
    out = np.full((len(frames), 3), np.nan)
    if not len(frames):
        return out
    for index, _, rgb in iter_video(video, start=int(frames.min()), stop=int(frames.max()) + 1):
        i = row.get(index)
        if i is None or not sequence.face_found[i]:
            continue
        lm = sequence.coords[i, :, :2]
        if not np.isfinite(lm).all():
            continue
        masks = skin_regions(lm[None], rgb.shape[:2])
        if masks[0].any((1, 2)).all():  # every region inside the image
            out[i] = region_means(rgb[None], masks)[0]
    return out


def render_pulse_video(image: np.ndarray, landmarks: np.ndarray, fps: float = 30.0, seconds: float = 10.0,
                       hr_bpm: float | None = 72.0, amplitude: float = 0.01, motion_px: float = 0.0,
                       noise: float = 2.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A validation video from one photo: the skin inside the face (the landmarks' hull) pulses at
    ``hr_bpm`` (None: no pulse) with the blood-volume colour signature (relative amplitudes
    R 0.33, G 0.77, B 0.53 times ``amplitude``), under slow illumination drift, camera noise
    (sd ``noise`` grey levels, 8-bit) and a slow head translation of up to ``motion_px`` pixels.

    Returns ``frames (T, H, W, 3) uint8`` and ``landmarks (T, 68, 2)`` moved with the head.
    """
    from scipy.spatial import Delaunay

    img = np.asarray(image, float)
    lm = np.asarray(landmarks, float)[:, :2]
    H, W = img.shape[:2]
    T = int(round(seconds * fps))
    t = np.arange(T) / fps
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    skin = Delaunay(lm[:17].tolist() + (lm[17:27] - [0, 0.6 * np.linalg.norm(lm[30] - lm[27])]).tolist()
                    ).find_simplex(np.stack([xx.ravel(), yy.ravel()], 1)).reshape(H, W) >= 0
    pulse = np.zeros(T) if hr_bpm is None else (np.sin(2 * np.pi * hr_bpm / 60 * t) +
                                                0.3 * np.sin(4 * np.pi * hr_bpm / 60 * t + 0.8))
    light = 1 + 0.01 * np.sin(2 * np.pi * 0.1 * t + rng.uniform(0, 2 * np.pi))
    gain = light[:, None] * (1 + amplitude * np.array([0.33, 0.77, 0.53])[None] * pulse[:, None])  # (T, 3)
    shift = np.round(motion_px * np.stack([np.sin(2 * np.pi * 0.2 * t), 0.5 * np.sin(2 * np.pi * 0.13 * t)], 1)).astype(int)
    frames = np.empty((T, H, W, 3), np.uint8)
    for k in range(T):  # one frame at a time keeps memory at one float image
        f = img * np.where(skin[..., None], gain[k], light[k])
        f = np.roll(f, (shift[k, 1], shift[k, 0]), axis=(0, 1)) + rng.normal(0, noise, f.shape)
        frames[k] = np.clip(np.round(f), 0, 255)
    return frames, lm[None] + shift[:, None, :]
