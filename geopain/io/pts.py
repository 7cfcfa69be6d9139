"""Read and write iBUG / 300-W ``.pts`` landmark files (one face of one image).

Layout: ``version: 1`` / ``n_points:  68`` / ``{`` / one ``x y`` a line / ``}``. The version
line may be absent, ``n_points:`` may be followed by several spaces, and the trailing
newline after ``}`` is often missing. Coordinates are pixels of the image; the original
Matlab annotations are 1-based: ``zero_based=True`` subtracts 1 for exact pixel alignment.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError, ShapeError
from ..landmarks import LandmarkSequence
from .parsing import default_ids, looks_like_json, read_text, scheme_for_points


def read_pts(path: str | os.PathLike, scheme: str | None = None, zero_based: bool = False,
             subject: str | None = None, sequence: str | None = None) -> LandmarkSequence:
    """Read a ``.pts`` file as a one-frame sequence (``coords (1, N, 3)``, ``dims=2``, pixels).

    The scheme is ``human/ibug68`` for 68 points, ``human/ibug66`` for 66, else it must be given;
    a given scheme must have as many points as the file.
    """
    p = Path(path)
    text = read_text(p, "a .pts landmark file")
    if looks_like_json(text):
        raise InputError(p, "holds JSON, not a .pts landmark file")
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    header: dict[str, str] = {}
    i = 0
    while i < len(lines) and ":" in lines[i] and lines[i] != "{":
        k, v = lines[i].split(":", 1)
        header[k.strip().lower()] = v.strip()
        i += 1
    if "n_points" not in header:
        raise InputError(p, "missing header line 'n_points: N' (not a .pts file?)")
    try:
        n = int(header["n_points"])
    except ValueError:
        raise InputError(p, f"n_points is {header['n_points']!r}, not a whole number") from None
    if n <= 0:
        raise InputError(p, f"n_points is {n}")
    if i >= len(lines) or lines[i] != "{":
        raise InputError(p, "missing '{' after the header")
    try:
        end = lines.index("}", i + 1)
    except ValueError:
        raise InputError(p, "missing closing '}'") from None
    body = lines[i + 1: end]
    if len(body) != n:
        raise InputError(p, f"n_points says {n}, the file lists {len(body)} points")
    pts = np.empty((n, 2), np.float64)
    for j, ln in enumerate(body):
        parts = ln.split()
        if len(parts) != 2:
            raise InputError(p, f"point {j}: expected 'x y', got {ln!r}")
        try:
            pts[j] = [float(parts[0]), float(parts[1])]
        except ValueError:
            raise InputError(p, f"point {j}: {ln!r} is not two numbers") from None
    if not np.isfinite(pts).all():
        j = int(np.flatnonzero(~np.isfinite(pts).all(1))[0])
        raise InputError(p, f"point {j}: NaN or infinite coordinate where a number must be")
    if zero_based:
        pts -= 1.0
    sch = scheme_for_points(p, n, scheme, "points")
    subj, seq = default_ids(p, subject, sequence)
    return LandmarkSequence(coords=pts[None].astype(np.float32), scheme=sch.key, subject=subj, sequence=seq,
                            units="px", source=str(p), detector="annotation",
                            meta={"format": "pts", "zero_based": bool(zero_based)})


def write_pts(path: str | os.PathLike, coords: np.ndarray, version: int = 1) -> Path:
    """Write ``coords (N, 2)`` (or ``(N, 3)``, z dropped) pixels as a ``.pts`` file (3 decimals).

    Raises:
        ShapeError: wrong shape, or a missing (NaN) point: ``.pts`` has no way to mark one.
    """
    c = np.asarray(coords, dtype=np.float64)
    if c.ndim == 3 and c.shape[0] == 1:
        c = c[0]
    if c.ndim != 2 or c.shape[1] not in (2, 3) or c.shape[0] == 0:
        raise ShapeError(f"coords: expected shape (N, 2), got {c.shape}")
    c = c[:, :2]
    if not np.isfinite(c).all():
        bad = int(np.flatnonzero(~np.isfinite(c).all(1))[0])
        raise ShapeError(f"coords: point {bad} is missing; .pts cannot hold it")
    body = "\n".join(f"{x:.3f} {y:.3f}" for x, y in c)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"version: {version}\nn_points: {len(c)}\n{{\n{body}\n}}\n")
    return p
