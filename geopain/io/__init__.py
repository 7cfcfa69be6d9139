"""Reading and writing landmark tables, and readers for the formats users already have.

Names are imported on first use (:mod:`.tables` needs pandas; ``geopain info`` reads tables
through :mod:`.summary` without it).
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["read_table", "write_table", "sequences_to_frame", "sequences_from_frame"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module(".tables", __name__), name)
    raise AttributeError(f"module 'geopain.io' has no attribute {name!r}")
