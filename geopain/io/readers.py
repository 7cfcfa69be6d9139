"""The registry of landmark readers, and batch conversion of many files.

Every reader turns one file (or one dataset description) into a list of
:class:`~geopain.landmarks.LandmarkSequence`; :func:`convert_files` runs one over files and
folders, keeps going past bad files and returns the errors as one line each
(``"path: problem"``). Readers are registered lazily so importing this module is cheap.

=========  =====================  ===============================================
format     files                  reader
=========  =====================  ===============================================
openface   ``.csv``               :func:`geopain.io.openface.read_openface`
pts        ``.pts``               :func:`geopain.io.pts.read_pts`
dlc        ``.csv``, ``.h5``      :func:`geopain.io.dlc.read_dlc`
yolo       ``.yaml``, ``.yml``    :func:`geopain.io.yolo.read_yolo_dataset`
catflw     ``.json``              :func:`geopain.io.catflw.read_catflw`
=========  =====================  ===============================================
"""
from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import GeopainError
from ..landmarks import LandmarkSequence
from ..progress import progress_bar
from ..registry import Registry
from .catflw import read_catflw
from .parsing import resolve_scheme
from .pts import read_pts
from .yolo import read_yolo_dataset

Reader = Callable[..., list[LandmarkSequence]]

#: Readers by format name; ``READERS.info(name)`` gives ``extensions``, ``options``, ``description``,
#: ``needs_scheme`` (the files do not say which landmark scheme they hold) and ``twins``
#: (``{".csv": ".h5"}``: in a folder, a ``.csv`` whose ``.h5`` twin lies beside it is skipped).
READERS: Registry[list[LandmarkSequence]] = Registry("reader")

# ----------------------------------------------------------------------------------------
# Registered readers (imported on first use)
# ----------------------------------------------------------------------------------------


@READERS.register("openface", extensions=(".csv",), options=("scheme", "coords", "subject", "sequence"),
                  description="OpenFace 2.x CSV (FeatureExtraction, FaceLandmarkVidMulti, FaceLandmarkImg)")
def _openface(path, **kw) -> list[LandmarkSequence]:
    from .openface import read_openface

    return read_openface(path, **kw)


@READERS.register("pts", extensions=(".pts",), options=("scheme", "zero_based", "subject", "sequence"),
                  description="iBUG / 300-W .pts landmark file (one image)")
def _pts(path, **kw) -> list[LandmarkSequence]:
    return [read_pts(path, **kw)]


@READERS.register("dlc", extensions=(".h5", ".csv"),
                  options=("scheme", "pcutoff", "bodypart_map", "subject", "sequence"), twins={".csv": ".h5"},
                  description="DeepLabCut analyze_videos output (CSV or H5, single or multi-animal) "
                              "or CollectedData hand labels; without a scheme the body-part names "
                              "are kept (species unknown)")
def _dlc(path, scheme=None, **kw) -> list[LandmarkSequence]:
    from .dlc import read_dlc

    return read_dlc(path, scheme, **kw)


@READERS.register("yolo", extensions=(".yaml", ".yml"), options=("scheme", "split"),
                  description="Ultralytics YOLO pose dataset (data.yaml with image and label folders)")
def _yolo(path, **kw) -> list[LandmarkSequence]:
    return read_yolo_dataset(path, **kw)


@READERS.register("catflw", extensions=(".json",), options=("scheme", "subject", "sequence"), needs_scheme=True,
                  description="CatFLW-style JSON: 48 landmarks and a bounding box per image")
def _catflw(path, scheme=None, **kw) -> list[LandmarkSequence]:
    if scheme is None:
        raise GeopainError("CatFLW files need a 48-point landmark scheme (--scheme), e.g. a cat adapter YAML")
    return [read_catflw(path, scheme, **kw)]


def read_any(path: str | os.PathLike, fmt: str, **kw: Any) -> list[LandmarkSequence]:
    """Read one file with the reader registered as ``fmt``; returns its sequences."""
    _check_options(fmt, kw)
    return READERS.create(fmt, path, **kw)


def _check_options(fmt: str, kw: dict[str, Any]) -> None:
    allowed = READERS.info(fmt)["options"]
    unknown = sorted(set(kw) - set(allowed))
    if unknown:
        raise GeopainError(f"format {fmt!r} takes no option(s) {unknown}; it takes {list(allowed)}")


def expand_inputs(inputs: Iterable[str | os.PathLike], fmt: str,
                  exclude: Iterable[str | os.PathLike] = ()) -> tuple[list[Path], list[str]]:
    """Files to read: files as given, folders searched recursively by the format's extensions.

    A file whose twin (registry ``twins``, e.g. a DeepLabCut ``.csv`` beside its ``.h5``) lies
    beside it is skipped (same data). Files in ``exclude`` (e.g. the output table) are skipped.
    Returns ``(files, errors)``.
    """
    exts = tuple(READERS.info(fmt)["extensions"])
    files: list[Path] = []
    errors: list[str] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in exts
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            twins = READERS.info(fmt).get("twins") or {}  # {".csv": ".h5"}: the .csv beside a .h5 is the same data
            found = [f for f in found if not (f.suffix.lower() in twins and f.with_suffix(twins[f.suffix.lower()]).is_file())]
            if not found:
                errors.append(f"{p}: no {'/'.join(exts)} files in this folder")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            errors.append(f"{p}: no such file or folder")
    seen: set[Path] = {Path(e).resolve() for e in exclude}
    unique = []
    for f in files:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    return unique, errors


def convert_files(inputs: Iterable[str | os.PathLike] | str | os.PathLike, fmt: str, progress: bool = False,
                  exclude: Iterable[str | os.PathLike] = (), **kw: Any) -> tuple[list[LandmarkSequence], list[str]]:
    """Read every file of ``inputs`` (files or folders) with reader ``fmt``.

    Bad files never stop the batch: each gives one line ``"path: problem"`` in ``errors``.
    Mistakes that concern every file (unknown format or option, a missing scheme) raise
    :class:`~geopain.errors.GeopainError` at once.
    Sequences from different files that would share ``(subject, sequence, face_id)`` get
    their file's path (relative to the input folder, without suffix) prefixed to ``sequence``
    (``"folder/file:sequence"``).
    Notes a reader raises as warnings (e.g. DeepLabCut bodyparts the scheme lacks) are
    kept in each sequence's ``meta["notes"]``.

    Returns:
        ``(sequences, errors)``.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = list(inputs)
    _check_options(fmt, kw)
    if READERS.info(fmt).get("needs_scheme") and kw.get("scheme") is None:
        raise GeopainError(f"format {fmt!r} needs a landmark scheme (scheme=..., --scheme): its files do not say "
                           "which landmarks they hold")
    if kw.get("scheme") is not None:  # a bad scheme is one mistake, not one per file
        kw["scheme"] = resolve_scheme(kw["scheme"])
    files, errors = expand_inputs(inputs, fmt, exclude)
    roots = [Path(i) for i in inputs if Path(i).is_dir()]
    out: list[LandmarkSequence] = []
    per_file: list[tuple[Path, list[LandmarkSequence]]] = []
    iterator: Iterable[Path] = files
    if progress and len(files) > 1:
        iterator = progress_bar(files, desc=f"reading {fmt}", unit="file")
    for f in iterator:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                seqs = read_any(f, fmt, **kw)
            notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
            for s in seqs:
                if notes:
                    s.meta.setdefault("notes", []).extend(notes)
                if s.source is None:
                    s.source = str(f)
            per_file.append((f, seqs))
        except GeopainError as exc:
            msg = " ".join(str(exc).split("\n"))
            errors.append(msg if msg.startswith(str(f)) else f"{f}: {msg}")
        except Exception as exc:  # a reader bug must not lose the rest of the batch
            errors.append(f"{f}: unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    counts = Counter(s.key() for _, seqs in per_file for s in seqs)
    for f, seqs in per_file:
        for s in seqs:
            if counts[s.key()] > 1:
                s.sequence = f"{_relative_id(f, roots)}:{s.sequence}"
        out.extend(seqs)
    return out, errors


def _relative_id(path: Path, roots: list[Path]) -> str:
    for root in roots:
        try:
            return path.relative_to(root).with_suffix("").as_posix()
        except ValueError:
            continue
    return path.with_suffix("").as_posix()
