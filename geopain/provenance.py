"""What produced a result: a fingerprint of geopain's own code.

Cached results (held-out predictions of an evaluation, resumable benchmark folds) are keyed by
their settings *and* by :func:`source_digest`, so a result computed by other code is never
reused as if this code had produced it.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

#: files whose content decides what geopain computes (code, species adapters, shipped configs)
SOURCE_SUFFIXES = (".py", ".yaml", ".yml", ".json")


@lru_cache(maxsize=4)
def source_digest(root: Path | None = None) -> str:
    """12 hex digits of a SHA-1 over the source files below ``root`` (default: geopain's own
    package), their relative paths and contents, sorted; compiled files are not sources."""
    root = Path(__file__).resolve().parent if root is None else Path(root)
    h = hashlib.sha1()
    for path in sorted(p for p in root.rglob("*") if p.suffix in SOURCE_SUFFIXES and p.is_file()):
        if "__pycache__" in path.parts:
            continue
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()[:12]
