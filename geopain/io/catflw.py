"""Read CatFLW-style JSON landmark files (one cat face per image, 48 landmarks).

One JSON per image: ``{"labels": [[x, y] x 48], "bounding_boxes": [x1, y1, x2, y2]}``, pixels.
geopain ships no cat adapter: the scheme must be given (a 48-point adapter YAML, by path or
by key after :func:`geopain.species.add_species_dir`). ``null`` points are missing (NaN).
The box is kept as ``meta["box"]``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..landmarks import LandmarkSequence
from ..species import Scheme
from .parsing import default_ids, read_text, resolve_scheme

N_POINTS = 48


def read_catflw(path: str | os.PathLike, scheme: str | Scheme, subject: str | None = None,
                sequence: str | None = None) -> LandmarkSequence:
    """Read one CatFLW JSON as a one-frame sequence (``coords (1, N, 3)`` pixels, ``dims=2``).

    ``scheme`` must have as many points as the file lists (48 in CatFLW).
    """
    p = Path(path)
    sch = resolve_scheme(scheme)
    text = read_text(p, "a CatFLW JSON file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(p, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict) or "labels" not in data:
        raise InputError(p, "not a CatFLW file: no 'labels' list of [x, y] points")
    labels = data["labels"]
    if not isinstance(labels, list) or not labels:
        raise InputError(p, "'labels' must be a non-empty list of [x, y] points")
    pts = np.full((len(labels), 2), np.nan)
    for i, pt in enumerate(labels):
        if pt is None:
            continue
        if not isinstance(pt, (list, tuple)) or len(pt) != 2:
            raise InputError(p, f"label {i}: expected [x, y], got {pt!r}")
        if any(v is None for v in pt):
            continue
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pt):
            raise InputError(p, f"label {i}: {pt!r} is not two numbers")
        pts[i] = pt
    meta: dict = {"format": "catflw"}
    box = data.get("bounding_boxes")
    if box is not None:
        flat = np.asarray(box, dtype=object).ravel().tolist()
        if len(flat) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
            raise InputError(p, f"'bounding_boxes' must be [x1, y1, x2, y2], got {box!r}")
        meta["box"] = [float(v) for v in flat]
    if len(labels) != sch.n_points:
        raise InputError(p, f"{len(labels)} landmarks, scheme {sch.key} has {sch.n_points}")
    subj, seq = default_ids(p, subject, sequence)
    conf = np.where(np.isfinite(pts[:, 0]), 1.0, np.nan)[None]
    return LandmarkSequence(coords=pts[None].astype(np.float32), scheme=sch.key, confidence=conf, subject=subj,
                            sequence=seq, units="px", detector="annotation", source=str(p), meta=meta)
