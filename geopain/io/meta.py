"""A landmark table's geopain metadata, read without pandas (the Parquet footer, or the
``.meta.json`` beside a CSV): what ``geopain info`` and the overwrite check need quickly."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import InputError

#: Key of geopain's JSON metadata in a Parquet file's schema metadata.
META_KEY = b"geopain"


def sidecar(path: str | os.PathLike) -> Path:
    """The ``.meta.json`` that holds a CSV table's metadata."""
    p = Path(path)
    return p.with_suffix(p.suffix + ".meta.json")


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """A table's geopain metadata alone (the Parquet footer or the CSV's ``.meta.json``),
    without reading its rows; ``{}`` when it has none."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        side = sidecar(path)
        try:
            return json.loads(side.read_text()) if side.is_file() else {}
        except (OSError, ValueError) as exc:
            raise InputError(side, f"unreadable metadata ({exc})") from None
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(path, f"not a Parquet landmark table ({str(exc).splitlines()[0]})") from None
    return json.loads(raw) if raw else {}
