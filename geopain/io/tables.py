"""Landmark tables: the Parquet (or CSV) files every geopain stage reads and writes.

One row per (sequence, frame, face). Columns, in order::

    subject, sequence, frame, face_id, timestamp, species, scheme, detector, confidence,
    x_0..x_{N-1}, y_0..y_{N-1}, z_0..z_{N-1}, [c_0..c_{N-1}], [pain, level, score]

as OpenFace / py-feat name them. Image detections are in pixels of the source image.
What columns cannot hold (units, dims, fps, provenance, sequence-level labels) is kept in
the Parquet file's key-value metadata under ``geopain``, so a round trip is lossless.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import GeopainError, InputError
from ..jsonio import dumps, write_json
from ..landmarks import LABEL_COLUMNS, LandmarkSequence

from ..species import scheme_key
from .meta import META_KEY, read_meta  # noqa: F401  (read_meta is part of this module's API)

ID_COLUMNS = ["subject", "sequence", "frame", "face_id", "timestamp", "species", "scheme", "detector", "confidence"]


def coordinate_columns(n_points: int, confidence: bool = False) -> list[str]:
    cols = [f"{a}_{i}" for a in "xyz" for i in range(n_points)]
    if confidence:
        cols += [f"c_{i}" for i in range(n_points)]
    return cols


def is_coordinate_column(name: str) -> bool:
    """``x_i``, ``y_i``, ``z_i`` or ``c_i`` (a point's coordinate or confidence column)."""
    return name[:2] in ("x_", "y_", "z_", "c_") and name[2:].isdigit()


def sequences_to_frame(sequences: Iterable[LandmarkSequence]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Flatten sequences into a table and the metadata that columns cannot hold."""
    seqs = list(sequences)
    if not seqs:
        raise InputError(None, "no landmark sequences to write")
    schemes = {s.scheme for s in seqs}
    if len(schemes) != 1:
        raise InputError(None, f"a table holds one landmark scheme, got {sorted(schemes)}")
    n = seqs[0].n_points
    lengths = [s.n_frames for s in seqs]
    coords = np.concatenate([s.coords for s in seqs], 0)  # (F, N, 3)
    conf = np.concatenate([s.confidence for s in seqs], 0)
    rep = lambda values: np.repeat(np.asarray(values, dtype=object), lengths)  # noqa: E731
    data: dict[str, Any] = {
        "subject": rep([s.subject for s in seqs]).astype(str),
        "sequence": rep([s.sequence for s in seqs]).astype(str),
        "frame": np.concatenate([s.frames for s in seqs]),
        "face_id": np.repeat([s.face_id for s in seqs], lengths).astype(np.int64),
        "timestamp": np.concatenate([s.timestamps for s in seqs]),
        "species": rep([s.species for s in seqs]).astype(str),
        "scheme": rep([s.scheme for s in seqs]).astype(str),
        "detector": rep([s.detector or "" for s in seqs]).astype(str),
        "confidence": np.concatenate([s.frame_confidence for s in seqs]),
    }
    block = np.concatenate([coords[..., 0], coords[..., 1], coords[..., 2]], 1)
    columns = coordinate_columns(n, confidence=bool(np.isfinite(conf).any()))
    if len(columns) > 3 * n:
        block = np.concatenate([block, conf], 1)
    frame = pd.DataFrame(data)
    frame = pd.concat([frame, pd.DataFrame(block.astype(np.float32), columns=columns)], axis=1)
    names = [k for k in LABEL_COLUMNS if any(k in s.labels for s in seqs)]
    names += sorted({k for s in seqs for k in s.labels} - set(LABEL_COLUMNS))  # e.g. unit intensities "AU4"
    for label in names:
        frame[label] = np.concatenate([s.labels.get(label, np.full(s.n_frames, np.nan)) for s in seqs])
    meta = {
        "geopain_version": __version__,
        "scheme": seqs[0].scheme,
        "n_points": n,
        "sequences": [
            {
                "subject": s.subject, "sequence": s.sequence, "face_id": s.face_id,
                "dims": s.dims, "units": s.units, "fps": s.fps,
                "detector_version": s.detector_version, "source": s.source,
                "sequence_labels": s.sequence_labels, "meta": s.meta,
            }
            for s in seqs
        ],
    }
    return frame, meta


def sequences_from_frame(frame: pd.DataFrame, meta: dict[str, Any] | None = None,
                         source: str | None = None) -> list[LandmarkSequence]:
    """Group a table's rows into sequences (by subject, sequence, face_id), in file order."""
    where = source
    missing = [c for c in ("scheme", "x_0", "y_0") if c not in frame.columns]
    if missing:
        raise InputError(where, f"not a landmark table: missing columns {missing}")
    if frame.empty:
        raise InputError(where, "landmark table has no rows")
    n = int(frame.columns.str.match(r"^x_\d+$").sum())
    for axis in "yz":
        cols = [f"{axis}_{i}" for i in range(n)]
        if axis == "y" and not set(cols) <= set(frame.columns):
            raise InputError(where, f"has {n} x columns but not the matching y columns")
    frame = frame.reset_index(drop=True)
    bare = ~frame["scheme"].astype(str).str.contains("/", regex=False)
    if bare.any():  # "ibug68" with a species column "human" is human/ibug68
        if "species" not in frame.columns:
            try:
                scheme_key(str(frame.loc[bare.idxmax(), "scheme"]))
            except GeopainError as exc:
                raise InputError(where, f"column 'scheme': {exc} (or add a 'species' column)") from None
        frame = frame.copy()
        frame.loc[bare, "scheme"] = frame.loc[bare, "species"].astype(str) + "/" + frame.loc[bare, "scheme"].astype(str)
    for col, default in (("subject", "unknown"), ("sequence", "0"), ("face_id", 0), ("frame", None)):
        if col not in frame.columns:
            frame[col] = np.arange(len(frame)) if default is None else default
    x = frame[[f"x_{i}" for i in range(n)]].to_numpy(np.float32)
    y = frame[[f"y_{i}" for i in range(n)]].to_numpy(np.float32)
    zc = [f"z_{i}" for i in range(n)]
    z = frame[zc].to_numpy(np.float32) if set(zc) <= set(frame.columns) else np.full_like(x, np.nan)
    cc = [f"c_{i}" for i in range(n)]
    conf = frame[cc].to_numpy(np.float32) if set(cc) <= set(frame.columns) else np.full_like(x, np.nan)
    coords = np.stack([x, y, z], -1)
    seq_meta = {}
    for m in (meta or {}).get("sequences", []):
        seq_meta[(str(m["subject"]), str(m["sequence"]), int(m["face_id"]))] = m
    coord_re = r"^[xyzc]_\d+$"
    label_cols = [c for c in frame.columns if c not in ID_COLUMNS and not pd.Series([c]).str.match(coord_re).iloc[0]
                  and pd.api.types.is_numeric_dtype(frame[c])]
    keys = frame[["subject", "sequence", "face_id"]].astype({"subject": str, "sequence": str, "face_id": np.int64})
    groups = keys.groupby(["subject", "sequence", "face_id"], sort=False).indices
    out = []
    for (subject, sequence, face_id), idx in groups.items():
        rows = frame.iloc[idx]
        m = seq_meta.get((subject, sequence, int(face_id)), {})
        schemes = rows["scheme"].unique()
        if len(schemes) != 1:
            raise InputError(where, f"sequence {subject}/{sequence} mixes schemes {list(schemes)}")
        det = rows["detector"].iloc[0] if "detector" in rows else None
        has_z = bool(np.isfinite(z[idx]).any())
        out.append(LandmarkSequence(
            coords=coords[idx],
            scheme=str(schemes[0]),
            confidence=conf[idx],
            frame_confidence=rows["confidence"].to_numpy(np.float32) if "confidence" in rows else None,
            frames=rows["frame"].to_numpy(np.int64),
            timestamps=rows["timestamp"].to_numpy(np.float64) if "timestamp" in rows else None,
            fps=m.get("fps"),
            subject=subject, sequence=sequence, face_id=int(face_id),
            labels={k: v for k in label_cols
                    for v in [rows[k].to_numpy(np.float64)] if not np.isnan(v).all()},
            sequence_labels={k: np.nan if v is None else v for k, v in (m.get("sequence_labels") or {}).items()},  # JSON null
            dims=int(m.get("dims", 3 if has_z else 2)),
            units=m.get("units", "unknown"),  # a table without its metadata: say so, do not guess px
            detector=(det or None) if isinstance(det, str) else None,
            detector_version=m.get("detector_version"),
            source=m.get("source"),
            meta=dict(m.get("meta") or {}),
        ))
    return out


def write_table(sequences: Iterable[LandmarkSequence] | pd.DataFrame, path: str | os.PathLike,
                meta: dict[str, Any] | None = None) -> Path:
    """Write sequences (or a ready table) to ``.parquet`` or ``.csv`` (metadata beside it).

    ``meta`` is merged into the file's metadata, e.g. ``{"dataset": "biovid", "protocols":
    {"loso67": {"kind": "loso", "exclude_subjects": [...]}}}`` for named evaluation protocols.
    """
    path = Path(path)
    if isinstance(sequences, pd.DataFrame):
        frame, meta = sequences, dict(meta or {})
    else:
        frame, base = sequences_to_frame(sequences)
        meta = {**base, **(meta or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
        write_json(path.with_suffix(path.suffix + ".meta.json"), meta, indent=None)
        return path
    import pyarrow as pa

    return write_parquet(pa.Table.from_pandas(frame, preserve_index=False), path, meta)


def write_parquet(table: Any, path: str | os.PathLike, meta: dict[str, Any] | None = None,
                  format: str = "parquet") -> Path:
    """An Arrow table (or a DataFrame) to ``path``, with geopain's metadata (strict JSON) in
    the file's footer when ``meta`` is given, through a temporary file and a rename: a reader
    never sees half a table, and an interrupted write leaves the old file as it was.

    ``format="arrow"`` writes an uncompressed Arrow IPC (Feather v2) file instead: several
    times faster to write and to read back (memory-mapped), for intermediate parts that are
    merged into a Parquet table later."""
    import pyarrow as pa

    path = Path(path)
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    if meta is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: dumps(meta, indent=None).encode()})
    tmp = path.with_name(path.name + ".tmp")
    if format == "arrow":
        import pyarrow.feather as feather

        feather.write_feather(table, tmp, compression="uncompressed")
    elif format == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, tmp)
    else:
        raise ValueError(f"format must be 'parquet' or 'arrow', got {format!r}")
    os.replace(tmp, path)
    return path


def read_frame(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a landmark table as a DataFrame plus its geopain metadata."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    if path.suffix.lower() == ".csv":
        try:
            # ids stay text: subject "007" must not come back as 7
            frame = pd.read_csv(path, dtype={c: str for c in ("subject", "sequence", "species", "scheme", "detector")})
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise InputError(path, f"not a readable CSV table ({str(exc).splitlines()[0]})") from None
        side = path.with_suffix(path.suffix + ".meta.json")
        meta = json.loads(side.read_text()) if side.is_file() else {}
        return frame, meta
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(path, f"not a Parquet landmark table ({str(exc).splitlines()[0]})") from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    meta = json.loads(raw) if raw else {}
    return table.to_pandas(), meta


def load_sequences(data: Any) -> tuple[list[LandmarkSequence], dict[str, Any]]:
    """``(sequences, table metadata)`` from what users pass: a list of
    :class:`~geopain.landmarks.LandmarkSequence` (or one), a path to a landmark table
    (``.parquet``/``.csv``), or a DataFrame in the table layout (metadata, if any, in
    ``df.attrs["geopain"]``). Anything else is a one-line :class:`GeopainError`."""
    if isinstance(data, LandmarkSequence):
        return [data], {}
    if isinstance(data, (str, os.PathLike)):
        frame, meta = read_frame(data)
        return sequences_from_frame(frame, meta, source=str(data)), meta
    if isinstance(data, pd.DataFrame):
        meta = dict(data.attrs.get("geopain") or {})
        return sequences_from_frame(data, meta, source="DataFrame"), meta
    if isinstance(data, (bytes, dict)) or not hasattr(data, "__iter__"):
        raise GeopainError(f"expected landmark sequences, a table path or a DataFrame, got {type(data).__name__}")
    seqs = list(data)
    bad = next((s for s in seqs if not isinstance(s, LandmarkSequence)), None)
    if bad is not None:
        raise GeopainError(f"expected LandmarkSequence items, got {type(bad).__name__}")
    return seqs, {}


def as_sequences(data: Any) -> list[LandmarkSequence]:
    """The sequences of :func:`load_sequences` (without the metadata)."""
    return load_sequences(data)[0]


def read_table(path: str | os.PathLike) -> list[LandmarkSequence]:
    """Read a landmark table into sequences."""
    frame, meta = read_frame(path)
    return sequences_from_frame(frame, meta, source=str(path))
