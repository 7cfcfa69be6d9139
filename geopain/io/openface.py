"""Read OpenFace 2.x CSV files (FeatureExtraction, FaceLandmarkVidMulti, FaceLandmarkImg).

Columns are selected by name (header names carry a leading space, values are separated
by ``", "``), so every layout of ``formats.md`` reads: any group may be absent, files from
``FaceLandmarkImg`` start with ``face, confidence`` (no frame, timestamp or success), older
files lack ``face_id``. What becomes of each group:

* ``x_i, y_i`` (pixels) -> ``coords`` with ``dims=2``, ``units="px"`` (default), or with
  ``coords="3d"`` ``X_i, Y_i, Z_i`` (mm, camera frame) -> ``dims=3``, ``units="mm"``.
* ``confidence`` -> ``frame_confidence``; per-point confidence is unknown (NaN).
* failed frames (``success`` 0, or every landmark value 0) -> all points NaN, labels NaN.
* ``face_id`` (or ``face`` in single-image mode) -> one sequence per face id, holding the
  frames where that face was tracked (frame numbers may skip).
* AU intensities ``AU04_r`` -> label ``AU4`` (leading zero stripped, the names of the PSPI
  units), AU presence ``AU04_c`` -> label ``AU4_c``.
* head pose ``pose_Tx, pose_Ty, pose_Tz`` (mm), ``pose_Rx, pose_Ry, pose_Rz`` (radians) and
  ``gaze_angle_x, gaze_angle_y`` (radians) -> labels of the same names, so they follow
  frame selection and land in the landmark table as extra columns.
  Eye landmarks, gaze vectors and the PDM parameters ``p_*`` are not kept.

No ``score`` is computed from OpenFace's AU estimates: they are predictions, not FACS codes.
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import GeopainError, InputError
from ..landmarks import LandmarkSequence
from .parsing import (check_field_counts, default_ids, is_number, looks_like_json, non_numeric_cell, read_text,
                      scheme_for_points)

_POSE = ("pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz", "gaze_angle_x", "gaze_angle_y")
_AU = re.compile(r"^AU(\d+)_([rc])$")


def read_openface(path: str | os.PathLike, scheme: str | None = None, coords: str = "2d",
                  subject: str | None = None, sequence: str | None = None) -> list[LandmarkSequence]:
    """Read one OpenFace CSV into one sequence per face id.

    Args:
        path: the CSV file.
        scheme: landmark scheme; by default ``human/ibug68`` for 68 points (``human/ibug66`` for 66).
        coords: ``"2d"`` (``x_i, y_i`` pixels) or ``"3d"`` (``X_i, Y_i, Z_i`` mm).
        subject, sequence: ids; default the file's stem.

    Returns:
        sequences ordered by face id, each ``coords (T, N, 3)``.

    Raises:
        InputError: the file is empty, binary, not an OpenFace CSV, has rows of the wrong
            length, or text/NaN where a number must be.
    """
    p = Path(path)
    if coords not in ("2d", "3d"):
        raise GeopainError(f"coords must be '2d' or '3d', got {coords!r}")
    text = read_text(p, "an OpenFace CSV")
    if looks_like_json(text):
        raise InputError(p, "holds JSON, not an OpenFace CSV")
    lines = text.splitlines()
    header = [h.strip() for h in lines[0].split(",")]
    if "frame" not in header and "face" not in header:
        if is_number(header[0]):
            raise InputError(p, "missing header row (the first line holds numbers, expected 'frame, face_id, ...')")
        raise InputError(p, f"not an OpenFace CSV: no 'frame' or 'face' column (header starts {', '.join(header[:4])})")
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise InputError(p, f"duplicate columns {dup[:5]}")
    check_field_counts(p, lines[1:], 2, len(header))
    try:
        df = pd.read_csv(io.StringIO(text), skipinitialspace=True, low_memory=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(p, f"not a readable CSV ({str(exc).strip().splitlines()[0]})") from None
    df.columns = [str(c).strip() for c in df.columns]
    if df.empty:
        raise InputError(p, "has a header but no rows")

    names = ("x", "y") if coords == "2d" else ("X", "Y", "Z")
    n = sum(1 for c in df.columns if re.fullmatch(rf"{names[0]}_\d+", c))
    if n == 0:
        raise InputError(p, _no_landmarks_message(df.columns, coords))
    point_cols = [f"{a}_{i}" for a in names for i in range(n)]
    missing = [c for c in point_cols if c not in df.columns]
    if missing:
        raise InputError(p, f"landmark columns incomplete: {n} {names[0]}_* columns but {missing[:3]} missing")
    sch = scheme_for_points(p, n, scheme, "landmarks per face")

    image_mode = "frame" not in df.columns
    id_cols = [c for c in ("frame", "face_id", "face", "timestamp", "success", "confidence") if c in df.columns]
    label_cols = [c for c in df.columns if _AU.match(c) or c in _POSE]
    bad = non_numeric_cell(df, id_cols + point_cols + label_cols)
    if bad:
        raise InputError(p, bad)

    R = len(df)
    values = df[point_cols].to_numpy(np.float64).reshape(R, len(names), n).transpose(0, 2, 1)
    failed = np.all(values == 0, axis=(1, 2))
    if "success" in df:
        failed |= df["success"].to_numpy(float) == 0
    xyz = np.full((R, n, 3), np.nan, np.float32)
    xyz[..., : len(names)] = values
    xyz[failed] = np.nan

    labels = {}
    for c in label_cols:
        m = _AU.match(c)
        name = c if m is None else f"AU{int(m.group(1))}" + ("_c" if m.group(2) == "c" else "")
        v = df[c].to_numpy(np.float64).copy()
        v[failed] = np.nan
        labels[name] = v

    frames = np.zeros(R, np.int64) if image_mode else df["frame"].to_numpy(np.float64).astype(np.int64)
    face = df["face"] if image_mode else df["face_id"] if "face_id" in df else pd.Series(np.zeros(R))
    face_ids = face.to_numpy(np.float64).astype(np.int64)
    ts = df["timestamp"].to_numpy(np.float64) if "timestamp" in df else np.full(R, np.nan)
    conf = df["confidence"].to_numpy(np.float32) if "confidence" in df else np.full(R, np.nan, np.float32)
    fps = _estimate_fps(frames, ts, face_ids)
    subj, seq_id = default_ids(p, subject, sequence)

    out = []
    for fid in np.unique(face_ids):
        idx = np.flatnonzero(face_ids == fid)
        out.append(LandmarkSequence(
            coords=xyz[idx],
            scheme=sch.key,
            frame_confidence=conf[idx],
            frames=frames[idx],
            timestamps=ts[idx],
            fps=fps,
            subject=subj,
            sequence=seq_id,
            face_id=int(fid),
            labels={k: v[idx] for k, v in labels.items()},
            dims=3 if coords == "3d" else 2,
            units="mm" if coords == "3d" else "px",
            detector="openface",
            source=str(p),
            meta={"format": "openface", "mode": "image" if image_mode else "video",
                  "failed_frames": int(failed[idx].sum())},
        ))
    return out


def _no_landmarks_message(columns, coords: str) -> str:
    cols = set(columns)
    groups = [g for g, test in (
        ("2D landmarks x_*/y_*", "x_0" in cols), ("3D landmarks X_*/Y_*/Z_*", "X_0" in cols),
        ("AUs", any(_AU.match(c) for c in cols)), ("head pose", "pose_Rx" in cols),
        ("gaze", any(c.startswith("gaze_") for c in cols)), ("eye landmarks", "eye_lmk_x_0" in cols),
    ) if test]
    want = "x_0.., y_0.." if coords == "2d" else "X_0.., Y_0.., Z_0.."
    hint = " (read it with coords='3d')" if coords == "2d" and "X_0" in cols else \
        " (read it with coords='2d')" if coords == "3d" and "x_0" in cols else ""
    return f"no landmark columns {want}{hint}; the file holds: {', '.join(groups) or 'no known OpenFace group'}"


def _estimate_fps(frames: np.ndarray, ts: np.ndarray, face_ids: np.ndarray) -> float | None:
    """Frames per second from frame numbers and timestamps of one face (None if unknown)."""
    sel = face_ids == face_ids[0]
    f, t = frames[sel].astype(float), ts[sel]
    if len(f) < 2 or not np.isfinite(t).all():
        return None
    df, dt = np.diff(f), np.diff(t)
    ok = (df > 0) & (dt > 0)
    if not ok.any():
        return None
    return float(np.round(np.median(df[ok] / dt[ok]), 3))
