"""What a landmark table holds, computed with Arrow alone (no pandas, no sequences built), so
``geopain info`` answers in a fraction of a second.

The rules are those of :func:`geopain.io.tables.sequences_from_frame`: a sequence is one
``(subject, sequence, face_id)``; a bare scheme name with a ``species`` column is
``<species>/<scheme>``; units come from the metadata, ``"unknown"`` without it; a row whose
x coordinates are all missing is a frame without a face.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import GeopainError, InputError
from ..landmarks import LABEL_COLUMNS
from ..species import scheme_key
from .meta import read_meta

if TYPE_CHECKING:
    import numpy as np

_STRING_IDS = ("subject", "sequence", "species", "scheme", "detector")


def _read(path: Path):
    """The table as an Arrow table (ids as text, like :func:`geopain.io.tables.read_frame`)."""
    import pyarrow as pa

    if not path.is_file():
        raise InputError(path, "no such file")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    try:
        if path.suffix.lower() == ".csv":
            import pyarrow.csv as pcsv

            header = path.open(encoding="utf-8", errors="replace").readline().strip().split(",")
            types = {c: pa.string() for c in _STRING_IDS if c in header}
            return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=types))
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).read()  # read_table goes through pyarrow.dataset, which imports pandas
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:  # the messages of io.tables.read_frame
        what = "not a readable CSV table" if path.suffix.lower() == ".csv" else "not a Parquet landmark table"
        raise InputError(path, f"{what} ({str(exc).splitlines()[0]})") from None


def _numbers(column) -> "np.ndarray":
    """``(R,)`` float64 of an Arrow column, NaN where null (read from the buffers: Arrow's own
    conversions to NumPy and from Python values import pandas)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pc.cast(column, pa.float64()).combine_chunks()
    out = np.frombuffer(arr.buffers()[1], np.float64, count=len(arr), offset=arr.offset * 8).copy()
    if arr.null_count:
        bits = np.unpackbits(np.frombuffer(arr.buffers()[0], np.uint8), bitorder="little")
        out[~bits[arr.offset:arr.offset + len(arr)].astype(bool)] = np.nan
    return out


def _codes(column) -> tuple["np.ndarray", list]:
    """``(codes (R,) int64, values)``: a text column dictionary-encoded (-1 where null)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    enc = pc.dictionary_encode(pc.cast(column, pa.string()).combine_chunks())
    idx = pc.cast(enc.indices, pa.int64())
    codes = np.frombuffer(idx.buffers()[1], np.int64, count=len(idx), offset=idx.offset * 8).copy()
    if idx.null_count:
        bits = np.unpackbits(np.frombuffer(idx.buffers()[0], np.uint8), bitorder="little")
        codes[~bits[idx.offset:idx.offset + len(idx)].astype(bool)] = -1
    return codes, enc.dictionary.to_pylist()


def summarize_table(path: str | os.PathLike) -> dict[str, Any]:
    """``{"rows", "subjects", "sequences", "schemes", "n_points", "detectors", "units", "dims",
    "no_face", "labels": {name: {"values": {v: n}} | {"mean", "min", "max"}, "labelled"}}``."""
    import numpy as np

    path = Path(path)
    table = _read(path)
    meta = read_meta(path)
    names = table.column_names
    rows = table.num_rows
    missing = [c for c in ("scheme", "x_0", "y_0") if c not in names]
    if missing:
        raise InputError(path, f"not a landmark table: missing columns {missing}")
    if rows == 0:
        raise InputError(path, "landmark table has no rows")
    n = sum(1 for c in names if re.fullmatch(r"x_\d+", c))
    if not {f"y_{i}" for i in range(n)} <= set(names):
        raise InputError(path, f"has {n} x columns but not the matching y columns")

    def codes(col: str) -> tuple[np.ndarray, list]:
        return _codes(table[col]) if col in names else (np.zeros(rows, np.int64), [None])

    scheme_c, scheme_v = codes("scheme")
    species_c, species_v = codes("species")
    schemes = set()
    for s_i, p_i in {(int(a), int(b)) for a, b in np.unique(np.stack([scheme_c, species_c], 1), axis=0)}:
        name = scheme_v[s_i] if s_i >= 0 else ""
        if "/" not in name:
            if "species" in names and p_i >= 0 and species_v[p_i]:
                name = f"{species_v[p_i]}/{name}"
            else:
                try:
                    scheme_key(name)
                except GeopainError as exc:
                    raise InputError(path, f"column 'scheme': {exc} (or add a 'species' column)") from None
        schemes.add(name)
    subj = codes("subject")[0]
    seq = codes("sequence")[0]
    face = codes("face_id")[0]
    sequences = len(np.unique(np.stack([subj, seq, face], 1), axis=0))
    x_missing = np.column_stack([~np.isfinite(_numbers(table[f"x_{i}"])) for i in range(n)])
    zc = [f"z_{i}" for i in range(n)]
    has_z = set(zc) <= set(names) and any(np.isfinite(_numbers(table[c])).any() for c in zc)
    seq_meta = meta.get("sequences") or []
    units = sorted({str(m.get("units", "unknown")) for m in seq_meta}) or ["unknown"]
    dims = sorted({int(m["dims"]) for m in seq_meta if "dims" in m}) or [3 if has_z else 2]
    labels: dict[str, Any] = {}
    for label in LABEL_COLUMNS:
        if label not in names:
            continue
        v = _numbers(table[label])
        ok = v[np.isfinite(v)]
        if label in ("pain", "level"):
            vals, counts = np.unique(ok, return_counts=True)
            labels[label] = {"values": {int(a): int(c) for a, c in zip(vals, counts)}, "labelled": int(ok.size)}
        else:
            labels[label] = ({"mean": float(ok.mean()), "min": float(ok.min()), "max": float(ok.max()),
                              "labelled": int(ok.size)} if ok.size else {"labelled": 0})
    det_c, det_v = codes("detector")
    detectors = sorted({det_v[i] for i in np.unique(det_c) if i >= 0 and det_v[i]})
    return {
        "rows": rows,
        "subjects": len(np.unique(subj)),
        "sequences": int(sequences),
        "schemes": sorted(schemes),
        "n_points": n,
        "detectors": detectors,
        "units": units,
        "dims": dims,
        "no_face": int(x_missing.all(1).sum()),
        "labels": labels,
    }
