"""geopain: pain assessment from the geometry of faces.

The everyday API, imported on first use so ``import geopain`` stays fast::

    import geopain
    seqs = geopain.read_table("landmarks.parquet")          # or geopain.simulate("human")
    faces = geopain.detect_image("photo.jpg", scheme="human/ibug68")
    est = geopain.PainEstimator("wgnn", "binary").fit("train.parquet")   # paths, DataFrames or sequences
    results = geopain.run_protocol("train.parquet", ["wgnn", "logreg"], "binary", "loso")

Tables: ``read_table``, ``write_table``, ``read_frame``; data: ``LandmarkSequence``,
``get_scheme``, ``list_schemes``, ``list_species``; detection: ``create_detector``,
``detect_image``, ``extract``; geometry: ``normalize``, ``measure``, ``FacialGraphBuilder``;
models: ``PainEstimator``, ``create_model``, ``list_models``; ``simulate``; ``run_protocol``.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

#: Public name -> (module, attribute); resolved lazily by :func:`__getattr__`.
_API: dict[str, tuple[str, str]] = {
    "read_table": ("geopain.io.tables", "read_table"),
    "write_table": ("geopain.io.tables", "write_table"),
    "read_frame": ("geopain.io.tables", "read_frame"),
    "LandmarkSequence": ("geopain.landmarks", "LandmarkSequence"),
    "get_scheme": ("geopain.species", "get_scheme"),
    "list_schemes": ("geopain.species", "list_schemes"),
    "list_species": ("geopain.species", "list_species"),
    "create_detector": ("geopain.api", "create_detector"),
    "detect_image": ("geopain.extract", "detect_image"),
    "extract": ("geopain.extract", "extract"),
    "normalize": ("geopain.geometry.normalize", "normalize"),
    "measure": ("geopain.api", "measure"),
    "FacialGraphBuilder": ("geopain.graphs.builder", "FacialGraphBuilder"),
    "PainEstimator": ("geopain.models", "PainEstimator"),
    "create_model": ("geopain.models", "create"),
    "list_models": ("geopain.models", "names"),
    "simulate": ("geopain.synth", "simulate"),
    "run_protocol": ("geopain.evaluation.protocol", "run_protocol"),
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _API[name]
    except KeyError:
        raise AttributeError(f"module 'geopain' has no attribute {name!r}") from None
    value = getattr(import_module(module), attr)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
