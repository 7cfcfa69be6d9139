"""The functions of the top-level API that accept what users hold (paths, DataFrames,
sequences) and hand it to the one implementation underneath.

``geopain.measure`` is here because the geometry's :func:`~geopain.geometry.measure.measure`
takes an array and a scheme, while users mostly hold a table or sequences.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .detectors import create, default_detector
from .errors import GeopainError


def measure(data: Any, scheme: Any = None, **kw: Any):
    """The species' pain-unit measurements.

    * ``measure(coords (F, N, 3), scheme)``: an ``(F, M)`` DataFrame, columns = measurement
      names (:func:`geopain.geometry.measure.measure`);
    * ``measure(sequences | "table.parquet" | DataFrame)``: one row per frame with ids, labels
      and measurements, normalised first where needed
      (:func:`geopain.geometry.measure.measure_sequences`, ``kw`` passed on).
    """
    from .geometry.measure import measure as measure_array_frame
    from .geometry.measure import measure_sequences
    from .io.tables import as_sequences

    if isinstance(data, np.ndarray):
        if scheme is None:
            raise GeopainError("measure(coords, scheme): an array needs its landmark scheme, e.g. 'human/ibug68'")
        return measure_array_frame(data, scheme)
    return measure_sequences(as_sequences(data), **kw)


def create_detector(name: str | None = None, species: str = "human", **kw: Any):
    """A landmark detector by name (``"mediapipe"``, ``"dlib"``, ``"fan"``, ``"yolo-pose"``), or
    the species' default when ``name`` is ``None``."""
    return create(name or default_detector(species), **kw)
