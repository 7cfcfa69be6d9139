"""How good were the detections of a run: a summary, a confidence filter and overlays.

A detector's mistakes are silent in a table of numbers (a "face" on a mission patch, 468
points collapsed on a profile, a missed face). These make them visible:

* :func:`quality_summary`: frames, faces per frame, the face-confidence histogram and the
  faces a ``min_confidence`` dropped, as a JSON-ready dict (``geopain extract`` prints it
  and writes ``OUT.quality.json``);
* :func:`drop_low_confidence`: faces whose confidence is below a threshold become "no face"
  (their rows stay, so no frame is lost);
* :func:`draw_overlays`: the landmarks drawn on each image, or on evenly sampled frames of
  each video, as PNG files in a folder the user names (captioned with file, frame, face and
  confidence).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import GeopainError
from .landmarks import LandmarkSequence
from .media import iter_video, media_kind, read_image

#: Edges of the face-confidence histogram.
CONFIDENCE_BINS = np.round(np.linspace(0.0, 1.0, 11), 2)


def _faces(seqs: Sequence[LandmarkSequence]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(file_frame_keys (R,), found (R,), confidence (R,))`` over every row of ``seqs``."""
    keys = np.concatenate([np.char.add(f"{s.source or s.sequence}#", s.frames.astype(str)) for s in seqs])
    found = np.concatenate([s.face_found for s in seqs])
    conf = np.concatenate([s.frame_confidence if s.frame_confidence is not None else np.full(s.n_frames, np.nan)
                           for s in seqs])
    return keys, found, conf.astype(np.float64)


def quality_summary(seqs: Sequence[LandmarkSequence], dropped: int = 0,
                    min_confidence: float | None = None) -> dict[str, Any]:
    """Detection quality of one run.

    Returns ``{"frames", "frames_without_face", "faces", "faces_per_frame": {k: frames},
    "confidence_histogram": {"edges", "counts", "unknown"}, "min_confidence", "dropped"}``;
    confidence is each face's frame confidence (the detector's face score or mean point
    confidence), ``unknown`` counts faces without one.
    """
    keys, found, conf = _faces(seqs)
    uniq, inv = np.unique(keys, return_inverse=True)
    per_frame = np.bincount(inv, weights=found.astype(np.float64), minlength=len(uniq)).astype(int)
    counts = np.bincount(per_frame)
    c = conf[found]
    hist, _ = np.histogram(c[np.isfinite(c)], bins=CONFIDENCE_BINS)
    return {
        "frames": int(len(uniq)),
        "frames_without_face": int((per_frame == 0).sum()),
        "faces": int(found.sum()),
        "faces_per_frame": {str(k): int(n) for k, n in enumerate(counts) if n},
        "confidence_histogram": {"edges": CONFIDENCE_BINS.tolist(), "counts": hist.astype(int).tolist(),
                                 "unknown": int((~np.isfinite(c)).sum())},
        "min_confidence": min_confidence,
        "dropped": int(dropped),
    }


def format_summary(summary: dict[str, Any]) -> list[str]:
    """The summary as a few lines for a terminal."""
    per = ", ".join(f"{k} face{'s' if k != '1' else ''}: {n}" for k, n in summary["faces_per_frame"].items())
    hist = summary["confidence_histogram"]
    edges, counts = hist["edges"], hist["counts"]
    bars = " ".join(f"{edges[i]:.1f}-{edges[i + 1]:.1f}:{n}" for i, n in enumerate(counts) if n)
    lines = [f"quality: {summary['frames']} frames, {summary['faces']} faces ({per})",
             f"quality: face confidence {bars or 'n/a'}" + (f"; {hist['unknown']} without one" if hist["unknown"] else "")]
    if summary["min_confidence"] is not None:
        lines.append(f"quality: {summary['dropped']} face(s) below --min-confidence {summary['min_confidence']:g} "
                     "dropped (rows kept as 'no face')")
    return lines


def drop_low_confidence(seqs: Sequence[LandmarkSequence], min_confidence: float) -> tuple[list[LandmarkSequence], int]:
    """Faces whose frame confidence is below ``min_confidence`` become "no face" (NaN points);
    rows stay. Faces without a confidence are kept. Returns ``(sequences, faces dropped)``."""
    out, dropped = [], 0
    for s in seqs:
        conf = s.frame_confidence
        if conf is None:
            out.append(s)
            continue
        low = s.face_found & np.isfinite(conf) & (conf < min_confidence)
        if not low.any():
            out.append(s)
            continue
        coords = s.coords.copy()
        coords[low] = np.nan
        dropped += int(low.sum())
        out.append(s.with_coords(coords))
    return out, dropped


def _draw(image: np.ndarray, faces: list[tuple[np.ndarray, float, int]], caption: str) -> Any:
    """``image (H, W, 3)`` with each face's points (``(N, 2)`` pixels) drawn and a caption strip."""
    from PIL import Image, ImageDraw

    h, w = image.shape[:2]
    strip = 18 + 14 * max(1, len(faces))
    canvas = Image.new("RGB", (w, h + strip), "white")
    canvas.paste(Image.fromarray(image), (0, 0))
    draw = ImageDraw.Draw(canvas)
    r = max(1.0, min(h, w) / 300)
    colours = [(0, 200, 0), (230, 120, 0), (0, 120, 230), (200, 0, 200)]
    lines = [caption]
    for pts, conf, face_id in faces:
        col = colours[face_id % len(colours)]
        ok = np.isfinite(pts).all(1)
        for x, y in pts[ok]:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=col)
        if ok.any():
            x0, y0 = pts[ok].min(0)
            draw.text((x0, max(0, y0 - 12)), f"face {face_id}", fill=col)
        lines.append(f"face {face_id}: {ok.sum()} points, confidence {conf:.2f}" if np.isfinite(conf)
                     else f"face {face_id}: {ok.sum()} points, confidence unknown")
    if not faces:
        lines.append("no face found")
    for i, line in enumerate(lines):
        draw.text((4, h + 2 + 14 * i), line, fill=(0, 0, 0))
    return canvas


def draw_overlays(seqs: Sequence[LandmarkSequence], folder: str | os.PathLike, frames_per_video: int = 6,
                  max_files: int = 200) -> list[Path]:
    """PNG overlays of the landmarks on their source images (and on ``frames_per_video`` evenly
    spaced frames of each video) in ``folder``; returns the files written.

    Coordinates must be in pixels of the source (a fresh extraction, ``units="px"``); sequences
    without a readable source are skipped. At most ``max_files`` images are written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    by_source: dict[str, list[LandmarkSequence]] = {}
    for s in seqs:
        if s.source and s.units == "px":
            by_source.setdefault(s.source, []).append(s)
    written: list[Path] = []
    for source, group in by_source.items():
        if len(written) >= max_files:
            break
        kind = media_kind(source)
        stem = Path(source).name.replace(os.sep, "_")
        if kind == "image":
            try:
                image = read_image(source)
            except GeopainError:  # the source moved or is unreadable: no overlay for it, the rest go on
                continue
            faces = [(s.coords[0, :, :2], float(s.frame_confidence[0]) if s.frame_confidence is not None else np.nan,
                      s.face_id) for s in group if s.face_found[0]]
            path = folder / f"{stem}.png"
            _draw(image, faces, Path(source).name).save(path)
            written.append(path)
        elif kind == "video":
            all_frames = np.unique(np.concatenate([s.frames for s in group]))
            pick = set(all_frames[np.unique(np.linspace(0, len(all_frames) - 1,
                                                        min(frames_per_video, len(all_frames))).round().astype(int))].tolist())
            try:
                for idx, t, rgb in iter_video(source):
                    if idx not in pick:
                        continue
                    faces = []
                    for s in group:
                        row = np.flatnonzero(s.frames == idx)
                        if row.size and s.face_found[row[0]]:
                            conf = float(s.frame_confidence[row[0]]) if s.frame_confidence is not None else np.nan
                            faces.append((s.coords[row[0], :, :2], conf, s.face_id))
                    path = folder / f"{stem}_frame{idx:06d}.png"
                    _draw(rgb, faces, f"{Path(source).name} frame {idx} ({t:.2f} s)").save(path)
                    written.append(path)
                    if len(written) >= max_files or idx >= max(pick):
                        break
            except GeopainError:  # a video that stops decoding: keep the overlays made so far
                continue
    return written
