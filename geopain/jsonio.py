"""One way to write JSON: strict (NaN and infinities become ``null``), numpy- and path-aware, atomic."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


def to_jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays as Python values, paths as strings, and non-finite floats as ``None``."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def dumps(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON text of :func:`to_jsonable` ``(obj)`` (anything else unknown becomes its ``str``)."""
    return json.dumps(to_jsonable(obj), indent=indent, default=str, allow_nan=False)


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as strict JSON to ``path`` atomically (a temporary file, then a rename)."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(dumps(obj, indent) + "\n", encoding="utf-8")
    os.replace(tmp, p)
    return p
