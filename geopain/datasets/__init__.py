"""Real pain datasets: UNBC-McMaster, BioVid Part A and the sheep SPFES layout.

Point geopain at a dataset folder and get one labelled landmark table whose metadata names
the dataset's standard evaluation protocols::

    from geopain.datasets import prepare
    result = prepare("unbc", "/data/UNBC", "unbc.parquet")   # -> PrepareResult
    result.errors                                              # one line per bad file

``DATASETS`` is the registry (``DATASETS.info("biovid")`` describes one); each entry's
factory is its ``prepare_*`` function. :mod:`geopain.datasets.fixtures` writes toy copies of
each layout. The dataset cards in ``datasets/*.md`` describe layouts, licences, protocols and
published numbers.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from ..errors import GeopainError
from ..registry import Registry
from ._common import ErrorLog, PrepareResult
from .biovid import prepare_biovid
from .fixtures import make_fixture
from .sheep import prepare_sheep
from .unbc import prepare_unbc

DATASETS: Registry[Callable[..., PrepareResult]] = Registry("dataset")

DATASETS.register(
    "unbc", title="UNBC-McMaster Shoulder Pain Expression Archive", species="human", scheme="human/ibug66",
    card="datasets/unbc-mcmaster.md", protocols=["loso", "kfold5"],
    options=["detector", "threshold"],
)(prepare_unbc)
DATASETS.register(
    "biovid", title="BioVid Heat Pain Database, Part A", species="human", scheme="detector's scheme",
    card="datasets/biovid-part-a.md", protocols=["loso87", "loso67"],
    options=["detector", "scheme", "stride", "biosignals", "landmarks", "subjects"],
)(prepare_biovid)
DATASETS.register(
    "sheep", title="Sheep SPFES landmark dataset (user-collected, documented layout)", species="sheep",
    scheme="sheep/spfes", card="datasets/sheep-spfes.md", protocols=["loao", "animal_kfold5", "animal_holdout"],
    options=["threshold"],
)(prepare_sheep)


def prepare(name: str, root: str | os.PathLike, output: str | os.PathLike, **options: Any) -> PrepareResult:
    """Turn dataset folder ``root`` into the labelled landmark table ``output`` (Parquet or CSV).

    Args:
        name: ``"unbc"``, ``"biovid"`` or ``"sheep"`` (see ``DATASETS.names()``).
        root: the dataset folder, laid out as its card describes.
        output: the table to write; its metadata holds ``{"dataset": name, "protocols": {...}}``.
        options: the dataset's options (``detector``, ``threshold``, ``resume``, ``progress``,
            ...; see each ``prepare_<name>``). Options a dataset does not take raise an error.

    Resumable: rerunning after an interruption continues from ``<output>.parts/``.
    Problems with single files are collected in ``result.errors`` and ``<output>.errors.txt``.
    """
    import inspect

    func = DATASETS.get(name)
    accepted = set(inspect.signature(func).parameters) - {"root", "output"}
    unknown = sorted(k for k, v in options.items() if k not in accepted and v is not None)
    if unknown:
        raise GeopainError(f"dataset {name!r} takes no option {', '.join(unknown)}; "
                           f"it takes {', '.join(sorted(accepted))}")
    output = Path(output)
    parts = output.with_name(output.name + ".parts")
    existed = parts.exists()
    try:
        return func(Path(root), output, **{k: v for k, v in options.items() if k in accepted})
    except GeopainError:
        # a run that failed before finishing any part leaves nothing behind (an interrupted one keeps its parts)
        if not existed and parts.is_dir() and not any(parts.glob("*.done")):
            import shutil

            shutil.rmtree(parts, ignore_errors=True)
        raise


def list_datasets() -> list[str]:
    return DATASETS.names()


__all__ = ["DATASETS", "prepare", "list_datasets", "PrepareResult", "ErrorLog",
           "make_fixture", "prepare_unbc", "prepare_biovid", "prepare_sheep"]
