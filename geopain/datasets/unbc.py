"""UNBC-McMaster Shoulder Pain Expression Archive, read as distributed.

Layout (``<subject>/<sequence>/<frame>`` under each folder)::

    Images/042-ll042/ll042t1aaaff/ll042t1aaaff001.png
    AAM_landmarks/042-ll042/ll042t1aaaff/ll042t1aaaff001_aam.txt     66 lines "x y" (pixels)
    Frame_Labels/FACS/042-ll042/ll042t1aaaff/ll042t1aaaff001_facs.txt  "AU intensity a b" a line; empty = no AU
    Frame_Labels/PSPI/042-ll042/ll042t1aaaff/ll042t1aaaff001_facs.txt  one float (PSPI files end in _facs too)
    Sequence_Labels/{VAS,OPR,AFF,SEN}/042-ll042/ll042t1aaaff.txt       one float per sequence

Each sequence becomes one :class:`~geopain.landmarks.LandmarkSequence` in the
``human/ibug66`` scheme (pixels), frames numbered as in the file names (1-based), with
frame labels ``score`` (PSPI), ``pain`` (PSPI > threshold), ``level`` (the human scale's
five levels: 0 | 1-2 | 3-4 | 5-6 | 7-16), one label per PSPI action unit (``AU4``, ``AU6``,
``AU7``, ``AU9``, ``AU10``, ``AU43``; 0 when the FACS file is empty) and the sequence labels
``VAS``, ``OPR``, ``AFF``, ``SEN``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GeopainError, InputError
from ..io.parsing import is_number
from ..landmarks import LandmarkSequence
from ..media import IMAGE_EXTENSIONS
from ..species import get_scheme, get_species_scale
from ._common import ErrorLog, PartStore, PrepareResult, finish, read_number, run_parts

SCHEME = "human/ibug66"
SUBJECTS = (
    "042-ll042", "043-jh043", "047-jl047", "048-aa048", "049-bm049", "052-dr052", "059-fn059",
    "064-ak064", "066-mg066", "080-bn080", "092-ch092", "095-tv095", "096-bg096", "097-gf097",
    "101-mg101", "103-jk103", "106-nm106", "107-hs107", "108-th108", "109-ib109", "115-jy115",
    "120-kz120", "121-vw121", "123-jh123", "124-dn124",
)
SEQUENCE_LABELS = ("VAS", "OPR", "AFF", "SEN")

PROTOCOLS: dict[str, dict[str, Any]] = {
    "loso": {"kind": "loso", "group": "subject",
             "description": "leave one subject out over the 25 subjects (the usual UNBC-McMaster protocol)"},
    "kfold5": {"kind": "kfold", "k": 5, "group": "subject",
               "description": "5-fold cross-validation grouped by subject (no subject in two folds)"},
}

_AAM, _FACS = "_aam.txt", "_facs.txt"


# ----------------------------------------------------------------------------------------------
# Single files
# ----------------------------------------------------------------------------------------------

def read_aam(path: str | Path, n_points: int = 66) -> np.ndarray:
    """``(66, 2)`` float32 AAM landmarks (pixels) from one ``*_aam.txt`` file.

    Raises :class:`InputError` naming the file when it is missing or is not 66 lines of ``x y``.
    """
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        raise InputError(path, "missing landmark file") from None
    rows = [ln.split() for ln in text.splitlines() if ln.strip()]
    if len(rows) != n_points:
        raise InputError(path, f"expected {n_points} lines of 'x y', found {len(rows)}")
    try:
        xy = np.array([[float(r[0]), float(r[1])] for r in rows], dtype=np.float32)
    except (ValueError, IndexError):
        bad = next(i for i, r in enumerate(rows) if len(r) < 2 or not is_number(r[0]) or not is_number(r[1]))
        raise InputError(path, f"line {bad + 1} is not 'x y': {' '.join(rows[bad])[:40]!r}") from None
    return xy


def read_facs(path: str | Path) -> dict[str, float]:
    """AU intensities of one frame from a ``Frame_Labels/FACS`` file: ``{"AU4": 2.0, ...}``.

    Each line is ``AU intensity a b`` (4 floats); an empty file means no action unit coded.
    """
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        raise InputError(path, "missing FACS file") from None
    out: dict[str, float] = {}
    for i, line in enumerate(text.splitlines()):
        parts = line.split()
        if not parts:
            continue
        try:
            au, value = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            raise InputError(path, f"line {i + 1} is not 'AU intensity ...': {line.strip()[:40]!r}") from None
        out[f"AU{int(round(au))}"] = value
    return out


# ----------------------------------------------------------------------------------------------
# Layout discovery
# ----------------------------------------------------------------------------------------------

def find_subjects(root: str | Path, detector: str | None = None) -> list[str]:
    """Subject folders of a UNBC copy (from ``AAM_landmarks/``, or ``Images/`` when re-detecting)."""
    root = Path(root)
    base = root / ("Images" if detector else "AAM_landmarks")
    if not root.is_dir():
        raise InputError(root, "dataset folder does not exist")
    if not base.is_dir():
        raise InputError(root, f"not a UNBC-McMaster copy: no {base.name}/ folder "
                               f"(expected Images/, AAM_landmarks/, Frame_Labels/, Sequence_Labels/)")
    subjects = sorted(p.name for p in base.iterdir() if p.is_dir())
    if not subjects:
        raise InputError(base, "no subject folders")
    return subjects


def _frame_number(name: str, sequence: str) -> int | None:
    tail = name[len(sequence):] if name.startswith(sequence) else name
    m = re.search(r"(\d+)$", tail)
    return int(m.group(1)) if m else None


def _stems(folder: Path, suffix: str) -> set[str]:
    if not folder.is_dir():
        return set()
    n = len(suffix)
    return {p.name[:-n] for p in folder.iterdir() if p.name.endswith(suffix)}


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------

def read_subject(root: str | Path, subject: str, threshold: float | None = None,
                 detector: Any = None, log: ErrorLog | None = None) -> list[LandmarkSequence]:
    """Every sequence of one subject, labelled (see the module docstring).

    ``detector``: None reads the AAM points; a detector name (or a ``Detector``) re-detects
    landmarks on ``Images/`` through :func:`geopain.extract.detect_image` instead.
    Problems with single files go to ``log`` (one line each) and leave NaN where the value
    was; the other frames still load.
    """
    root = Path(root)
    log = log if log is not None else ErrorLog()
    scale = get_species_scale("human")
    threshold = scale.binary_threshold if threshold is None else float(threshold)
    n_points = get_scheme(SCHEME).n_points
    facs_root = root / "Frame_Labels" / "FACS"
    pspi_root = root / "Frame_Labels" / "PSPI"
    have_facs, have_pspi = facs_root.is_dir(), pspi_root.is_dir()
    seq_dirs: set[str] = set()
    for base in ([root / "Images"] if detector else [root / "AAM_landmarks"]) + [pspi_root]:
        d = base / subject
        if d.is_dir():
            seq_dirs.update(p.name for p in d.iterdir() if p.is_dir())

    out = []
    for sequence in sorted(seq_dirs):
        aam_dir = root / "AAM_landmarks" / subject / sequence
        img_dir = root / "Images" / subject / sequence
        pspi_dir = pspi_root / subject / sequence
        facs_dir = facs_root / subject / sequence
        if detector:
            images = {p.stem: p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS} \
                if img_dir.is_dir() else {}
            names = set(images) | _stems(pspi_dir, _FACS)
        else:
            names = _stems(aam_dir, _AAM) | _stems(pspi_dir, _FACS)
        numbered = sorted((n for n in names if _frame_number(n, sequence) is not None),
                          key=lambda n: (_frame_number(n, sequence), n))
        for bad in sorted(set(names) - set(numbered)):
            log.add(aam_dir / (bad + _AAM), "file name has no frame number; skipped")
        if not numbered:
            continue
        T = len(numbered)
        coords = np.full((T, n_points, 2), np.nan, np.float32)
        pspi = np.full(T, np.nan)
        units = {u: np.full(T, np.nan) for u in scale.units}
        scheme, det_name, det_version, dims, conf = SCHEME, None, None, 2, None
        if detector:
            coords, scheme, det_name, det_version, conf, dims = _redetect(
                [images.get(n, img_dir / f"{n}.png") for n in numbered], detector, log)
        for t, name in enumerate(numbered):
            if not detector:
                try:
                    coords[t] = read_aam(aam_dir / f"{name}{_AAM}", n_points)
                except InputError as exc:
                    log.add_error(exc)
            if have_pspi:
                pspi[t] = read_number(pspi_dir / f"{name}{_FACS}", log)
            if have_facs:
                try:
                    aus = read_facs(facs_dir / f"{name}{_FACS}")
                except InputError as exc:
                    log.add_error(exc)
                else:
                    for u in units:
                        units[u][t] = aus.get(u, 0.0)
        labels = {"score": pspi,
                  "pain": np.where(np.isnan(pspi), np.nan, (pspi > threshold).astype(float)),
                  "level": scale.level(pspi), **units}
        computed = scale.total_score(units)
        diff = np.isfinite(pspi) & np.isfinite(computed) & (np.abs(computed - pspi) > 1e-6)
        if diff.any():
            log.warn(f"{pspi_dir}: {int(diff.sum())} of {T} frames have a PSPI that differs from "
                     f"{scale.total} computed from the FACS files")
        seq_labels = {}
        for key in SEQUENCE_LABELS:
            folder = root / "Sequence_Labels" / key
            if folder.is_dir():
                value = read_number(folder / subject / f"{sequence}.txt", log)
                if np.isfinite(value):
                    seq_labels[key] = value
        out.append(LandmarkSequence(
            coords=coords, scheme=scheme, dims=dims,
            frames=np.array([_frame_number(n, sequence) for n in numbered], np.int64),
            subject=subject, sequence=sequence, labels=labels, sequence_labels=seq_labels,
            units="px", detector=det_name or "unbc-aam", detector_version=det_version,
            source=str((img_dir if detector else aam_dir)),
            frame_confidence=conf,
            meta={"dataset": "unbc"},
        ))
    if not out:
        log.add(root / ("Images" if detector else "AAM_landmarks") / subject, "no frames found")
    return out


def _redetect(paths: list[Path], detector: Any, log: ErrorLog):
    """Re-detect landmarks on frame images: ``(T, N, 3)`` px, scheme, name, version, ``(T,)`` score, dims."""
    try:
        from ..extract import detect_image
    except ImportError:
        raise GeopainError("re-detecting UNBC landmarks needs geopain.extract (the detectors module), "
                           "which this installation does not have; leave --detector out to use the AAM points") from None
    det = _make_detector(detector)
    coords, conf, scheme, name, version, dims = [], [], None, None, None, 2
    for path in paths:
        try:
            faces = detect_image(str(path), detector=det)
        except GeopainError as exc:
            log.add_error(exc, path)
            faces = []
        except FileNotFoundError:
            log.add(path, "missing image")
            faces = []
        if faces:
            best = max(faces, key=lambda s: np.nan_to_num(float(s.frame_confidence[0]), nan=0.0))
            scheme, name, version, dims = best.scheme, best.detector, best.detector_version, best.dims
            coords.append(best.coords[0])
            conf.append(float(best.frame_confidence[0]))
        else:
            coords.append(None)
            conf.append(np.nan)
    if scheme is None:
        scheme = getattr(det, "scheme", None) or "human/ibug68"
        name = getattr(det, "name", str(detector))
    n = get_scheme(scheme).n_points
    arr = np.stack([c if c is not None else np.full((n, 3), np.nan, np.float32) for c in coords])
    return arr.astype(np.float32), scheme, name, version, np.asarray(conf, np.float32), dims


def _make_detector(detector: Any) -> Any:
    if not isinstance(detector, str):
        return detector
    try:
        from ..detectors import create
    except ImportError:
        return detector
    return create(detector)


def check_folders(root: str | Path, log: ErrorLog) -> None:
    """One error line per label folder missing from the copy (its labels are then NaN everywhere)."""
    root = Path(root)
    for rel in ("Frame_Labels/PSPI", "Frame_Labels/FACS", *(f"Sequence_Labels/{k}" for k in SEQUENCE_LABELS)):
        if not (root / rel).is_dir():
            log.add(root / rel, "folder missing: these labels are left out for every frame / sequence")


def read_unbc(root: str | Path, subjects: list[str] | None = None, threshold: float | None = None,
              log: ErrorLog | None = None) -> list[LandmarkSequence]:
    """Read a whole UNBC copy (or the listed subjects) into labelled sequences, in memory."""
    log = log if log is not None else ErrorLog()
    check_folders(root, log)
    out = []
    for subject in subjects or find_subjects(root):
        out.extend(read_subject(root, subject, threshold=threshold, log=log))
    return out


def prepare_unbc(root: str | Path, output: str | Path, detector: str | None = None,
                 threshold: float | None = None, resume: bool = True, progress: bool = True,
                 keep_parts: bool = False) -> PrepareResult:
    """UNBC-McMaster folder -> one labelled landmark table with the LOSO and 5-fold protocols.

    Resumable per subject: finished subjects are kept in ``<output>.parts/`` until the table is
    written, so an interrupted run picks up where it stopped.
    """
    root, output = Path(root), Path(output)
    subjects = find_subjects(root, detector)
    unknown = [s for s in subjects if s not in SUBJECTS]
    scale = get_species_scale("human")
    threshold_v = scale.binary_threshold if threshold is None else float(threshold)
    settings = {"dataset": "unbc", "root": str(root.resolve()), "detector": detector, "threshold": threshold_v}
    store = PartStore(output, settings, resume=resume)
    log = ErrorLog()
    check_folders(root, log)
    if unknown and len(unknown) < len(subjects):
        log.warn(f"{root}: subject folders not in the published list of 25: {', '.join(unknown)}")
    det = _make_detector(detector) if detector else None
    seqs = run_parts(subjects, lambda s, plog: read_subject(root, s, threshold_v, det, plog),
                     store, log, desc="UNBC subjects", show_progress=progress)
    meta = {
        "dataset": "unbc",
        "labels": {"score": "PSPI (0-16)", "pain": f"PSPI > {threshold_v:g}",
                   "level": "0 | 1-2 | 3-4 | 5-6 | 7-16 (human scale cut-offs 1, 3, 5, 7)"},
        "protocols": PROTOCOLS,
    }
    return finish(seqs, output, store, log, meta, keep_parts=keep_parts)
