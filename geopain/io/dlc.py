"""Read DeepLabCut outputs and hand labels (CSV or H5; single or multi-animal).

* ``analyze_videos`` CSV: three header rows ``scorer``, ``bodyparts``, ``coords`` (``x, y,
  likelihood``), the first column the frame index; multi-animal files add ``individuals``
  (as the second row). The ``.h5`` twin holds the same table under key ``df_with_missing``.
* Hand labels ``labeled-data/<video>/CollectedData_<scorer>.csv`` (or ``.h5``): the same
  header rows, ``x, y`` only, indexed by image path (one column, or DLC >= 2.2's three
  columns ``labeled-data, <video>, <image>``); missing points are empty cells.

Bodyparts are matched to the scheme's landmark names (case, ``-`` and spaces ignored, or an
explicit ``bodypart_map``). Bodyparts the scheme lacks are reported (a ``UserWarning`` and
``meta["unmatched_bodyparts"]``); scheme landmarks absent from the file are NaN (listed in
``meta["missing_landmarks"]``). ``likelihood`` becomes the per-point ``confidence``, and its
mean over the matched points the frame confidence; ``pcutoff`` turns points below it into NaN.
Hand-labelled points get confidence 1. Each individual becomes one sequence (``face_id``
in the order individuals appear, name in ``meta["individual"]``).
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from ..landmarks import LandmarkSequence
from ..species import Scheme
from .parsing import (check_field_counts, check_file, default_ids, is_hdf5, looks_like_json, read_text,
                      resolve_scheme)

_LEVELS = ("scorer", "individuals", "bodyparts", "coords")


#: Species part of the key of an ad-hoc scheme (a file's own body-part names, no adapter).
ADHOC_SPECIES = "unknown"


@dataclass(frozen=True)
class AdHocScheme:
    """The body parts of a DeepLabCut file, in file order, as a scheme with no adapter: enough
    to convert, inspect and plot; analyses that need a species' scheme ask for ``--scheme``.
    Key ``"unknown/dlc-<hash of the names>"``; the names go into each sequence's
    ``meta["landmark_names"]``."""

    landmarks: tuple[str, ...]

    @property
    def key(self) -> str:
        digest = hashlib.sha1("\n".join(self.landmarks).encode()).hexdigest()[:8]
        return f"{ADHOC_SPECIES}/dlc-{digest}"

    @property
    def n_points(self) -> int:
        return len(self.landmarks)

    def index(self, name: str) -> int:
        try:
            return self.landmarks.index(name)
        except ValueError:
            raise InputError(None, f"no body part named {name!r} in {self.key}") from None


def read_dlc(path: str | os.PathLike, scheme: str | Scheme | None = None, pcutoff: float | None = None,
             bodypart_map: Mapping[str, str] | None = None, subject: str | None = None,
             sequence: str | None = None) -> list[LandmarkSequence]:
    """Read a DeepLabCut CSV or H5 file into one sequence per individual.

    Args:
        path: ``.csv`` or ``.h5`` (analyze_videos output or CollectedData hand labels).
        scheme: landmark scheme whose names the bodyparts are matched to (key, path or Scheme);
            ``None`` keeps the file's own body-part names as an :class:`AdHocScheme` (species
            unknown): convert and info work, analyses ask for a scheme.
        pcutoff: points with likelihood below it become NaN (default: keep all).
        bodypart_map: explicit ``{bodypart: landmark name}`` renames, tried before name matching.
        subject, sequence: ids; default the file's stem (for CollectedData files, the video folder).

    Returns:
        sequences with ``coords (T, N, 3)`` pixels, ``dims=2``.
    """
    p = check_file(path)
    sch = resolve_scheme(scheme) if scheme is not None else None
    if p.suffix.lower() in (".h5", ".hdf5", ".hdf"):
        if not is_hdf5(p):
            raise InputError(p, "is not an HDF5 file (a DeepLabCut .h5 was expected)")
        cols, values, index = _read_h5(p)
    elif is_hdf5(p):
        cols, values, index = _read_h5(p)
    else:
        cols, values, index = _read_csv(p)
    return _to_sequences(p, sch, cols, values, index, pcutoff, bodypart_map, subject, sequence)


def _read_csv(p: Path) -> tuple[list[tuple[str, str, str, str]], np.ndarray, list[str]]:
    text = read_text(p, "a DeepLabCut CSV")
    if looks_like_json(text):
        raise InputError(p, "holds JSON, not a DeepLabCut CSV")
    lines = text.splitlines()
    rows = [next(csv.reader([ln])) if ln.strip() else [""] for ln in lines[:4]]
    levels: list[list[str]] = []
    for r in rows:
        if r and r[0].strip().lower() in _LEVELS:
            levels.append([c.strip() for c in r])
        else:
            break
    names = [r[0].lower() for r in levels]
    if not names or names[0] != "scorer" or "bodyparts" not in names or names[-1] != "coords":
        raise InputError(p, "missing DeepLabCut header rows (scorer, [individuals], bodyparts, coords)")
    nh = len(levels)
    ncols = len(levels[-1])
    for r in levels:
        if len(r) != ncols:
            raise InputError(p, f"header row {r[0]!r} has {len(r)} columns, 'coords' has {ncols}")
    n_idx = 1
    while n_idx < ncols and levels[-1][n_idx] == "":
        n_idx += 1
    if n_idx == ncols:
        raise InputError(p, "the 'coords' header row names no x/y columns")
    if len(lines) <= nh or not any(ln.strip() for ln in lines[nh:]):
        raise InputError(p, "has DeepLabCut header rows but no data rows")
    check_field_counts(p, lines[nh:], nh + 1, ncols)
    try:
        body = pd.read_csv(io.StringIO(text), header=None, skiprows=nh, dtype={i: str for i in range(n_idx)},
                           skipinitialspace=True, skip_blank_lines=True, low_memory=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(p, f"not a readable CSV ({str(exc).strip().splitlines()[0]})") from None
    if body.shape[1] != ncols:
        raise InputError(p, f"rows have {body.shape[1]} values, the header has {ncols} columns")
    num = body.iloc[:, n_idx:]
    for c in range(num.shape[1]):  # only a column with text in it is not parsed as numbers
        col = num.iloc[:, c]
        if not pd.api.types.is_numeric_dtype(col):
            raw = col.astype(str).str.strip()
            parsed = pd.to_numeric(raw, errors="coerce")
            text_cells = parsed.isna().to_numpy() & col.notna().to_numpy() & (raw.str.lower() != "nan").to_numpy()
            bad = np.flatnonzero(text_cells)
            if bad.size:
                r = int(bad[0])
                name = " ".join(levels[k][n_idx + c] for k in range(1, nh))
                raise InputError(p, f"line {nh + 1 + r}, column {n_idx + c + 1} ({name}): "
                                    f"{raw.iat[r]!r} is not a number")
    num = num.apply(pd.to_numeric, errors="coerce")
    values = num.to_numpy(np.float64)
    get = {nm: levels[k] for k, nm in enumerate(names)}
    cols = [(get["scorer"][j], get.get("individuals", [""] * ncols)[j], get["bodyparts"][j], get["coords"][j].lower())
            for j in range(n_idx, ncols)]
    idx = body.iloc[:, :n_idx].fillna("").astype(str)
    index = idx.apply(lambda s: s.str.strip()).agg("/".join, axis=1).tolist()
    return cols, values, index


def _read_h5(p: Path) -> tuple[list[tuple[str, str, str, str]], np.ndarray, list[str]]:
    import importlib.util

    if importlib.util.find_spec("tables") is None:
        raise InputError(p, "reading DeepLabCut .h5 files needs the 'tables' package (pip install 'geopain[h5]'); "
                            "or convert the .csv twin")
    try:
        with pd.HDFStore(p, mode="r") as store:
            keys = store.keys()
            key = "df_with_missing" if "/df_with_missing" in keys else (keys[0] if keys else None)
            if key is None:
                raise InputError(p, "HDF5 file holds no pandas table (expected key 'df_with_missing')")
            df = store[key]
    except InputError:
        raise
    except Exception as exc:  # tables raises several unrelated types for damaged files
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise InputError(p, f"cannot read the HDF5 table ({type(exc).__name__}: {first})") from None
    if not isinstance(df, pd.DataFrame) or df.columns.nlevels not in (3, 4):
        raise InputError(p, "HDF5 table has no DeepLabCut columns (scorer, [individuals], bodyparts, coords)")
    if df.empty:
        raise InputError(p, "HDF5 table has no rows")
    lv = list(df.columns.names)
    if all(n in _LEVELS for n in lv if n):
        order = {n: i for i, n in enumerate(lv)}
    else:
        order = dict(zip(("scorer", "bodyparts", "coords") if df.columns.nlevels == 3 else _LEVELS, range(4)))
    cols = [(str(c[order["scorer"]]), str(c[order["individuals"]]) if "individuals" in order else "",
             str(c[order["bodyparts"]]), str(c[order["coords"]]).lower()) for c in df.columns]
    try:
        values = df.apply(pd.to_numeric, errors="raise").to_numpy(np.float64)
    except (ValueError, TypeError) as exc:
        raise InputError(p, f"non-numeric values in the table ({exc})") from None
    if isinstance(df.index, pd.MultiIndex):
        index = ["/".join(str(v) for v in t) for t in df.index]
    else:
        index = [str(v) for v in df.index]
    return cols, values, index


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _to_sequences(p: Path, sch: Scheme | AdHocScheme | None, cols, values: np.ndarray, index: list[str], pcutoff,
                  bodypart_map, subject, sequence) -> list[LandmarkSequence]:
    if sch is None:
        sch = AdHocScheme(tuple(dict.fromkeys(c[2] for c in cols)))
    lookup = {_norm(n): i for i, n in enumerate(sch.landmarks)}
    explicit = {k: sch.index(v) for k, v in (bodypart_map or {}).items()}
    bodyparts = list(dict.fromkeys(c[2] for c in cols))
    match = {bp: explicit.get(bp, lookup.get(_norm(bp))) for bp in bodyparts}
    unmatched = [bp for bp, k in match.items() if k is None]
    if len(unmatched) == len(bodyparts):
        raise InputError(p, f"no bodypart matches a landmark of {sch.key} (file has {bodyparts[:6]}"
                            f"{'...' if len(bodyparts) > 6 else ''})")
    found = {k for k in match.values() if k is not None}
    missing = [sch.landmarks[i] for i in range(sch.n_points) if i not in found]
    if unmatched:
        warnings.warn(f"{p}: bodyparts not in scheme {sch.key}, left out: {', '.join(unmatched)}", UserWarning,
                      stacklevel=3)
    labelled = not any(c[3] == "likelihood" for c in cols)
    R, N = values.shape[0], sch.n_points
    individuals = list(dict.fromkeys(c[1] for c in cols))
    scorer = cols[0][0]

    frames, images = _frames_from_index(index)
    collected = p.stem.startswith("CollectedData")
    subj, seq_id = default_ids(p, subject, sequence if sequence is not None else (p.parent.name if collected else None))
    out = []
    for face_id, ind in enumerate(individuals):
        xyl = np.full((3, R, N), np.nan)
        for j, (_, c_ind, bp, coord) in enumerate(cols):
            k = match[bp]
            if c_ind != ind or k is None or coord not in ("x", "y", "likelihood"):
                continue
            xyl["xy".find(coord) if coord != "likelihood" else 2, :, k] = values[:, j]
        xy = np.stack([xyl[0], xyl[1]], -1)
        xy[~np.isfinite(xy).all(-1)] = np.nan
        if labelled:
            conf = np.where(np.isfinite(xy[..., 0]), 1.0, np.nan)
        else:
            conf = xyl[2]
            if pcutoff is not None:
                xy[~(conf >= pcutoff)] = np.nan
        if not np.isfinite(xy).any():
            continue  # an individual never labelled or detected in this file
        have = np.isfinite(conf)
        frame_conf = np.full(R, np.nan)
        if not labelled:
            cnt = have.sum(1)
            frame_conf[cnt > 0] = np.where(have, conf, 0).sum(1)[cnt > 0] / cnt[cnt > 0]
        meta = {"format": "dlc", "scorer": scorer, "unmatched_bodyparts": unmatched, "missing_landmarks": missing}
        if isinstance(sch, AdHocScheme):
            meta["landmark_names"] = list(sch.landmarks)
        if ind:
            meta["individual"] = ind
        if images is not None:
            meta["images"] = images
        out.append(LandmarkSequence(
            coords=xy.astype(np.float32), scheme=sch.key, confidence=conf.astype(np.float32),
            frame_confidence=frame_conf.astype(np.float32), frames=frames, subject=subj, sequence=seq_id,
            face_id=face_id, units="px", detector="annotation" if labelled else "deeplabcut",
            detector_version=None if labelled else scorer, source=str(p), meta=meta,
        ))
    if not out:
        raise InputError(p, "no labelled or detected points for any individual")
    return out


def _frames_from_index(index: list[str]) -> tuple[np.ndarray, list[str] | None]:
    """Frame numbers from an integer index, or from the digits ending image names (``img0042.png``)."""
    try:
        return np.array([int(float(v)) for v in index], np.int64), None
    except ValueError:
        pass
    nums = [re.search(r"(\d+)\D*$", Path(v).name) for v in index]
    if all(nums):
        frames = np.array([int(m.group(1)) for m in nums], np.int64)
        if len(np.unique(frames)) == len(frames):
            return frames, list(index)
    return np.arange(len(index), dtype=np.int64), list(index)
