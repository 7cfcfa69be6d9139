"""Sheep SPFES datasets: the documented layout for sheep face data a user collects.

Layout (see ``datasets/sheep-spfes.md``)::

    <root>/spfes_scores.csv      image, animal_id, orbital_tightening, cheek_tightening, ear_position,
                                 lip_jaw_profile, nostril_philtrum, total [, face_id, any other columns]
    <root>/data.yaml             Ultralytics YOLO pose dataset, kpt_shape [28, 3], sheep/spfes order
    <root>/images/{train,val}/   images
    <root>/labels/{train,val}/   one label .txt per image
    <root>/dlc/config.yaml       optional DeepLabCut project (bodyparts named after the scheme's landmarks)
    <root>/dlc/labeled-data/<video>/CollectedData_<scorer>.csv   (and the images)

``image`` in the scores table is the image path relative to ``<root>`` (the file name alone
also matches when it is unique). Each labelled face becomes a one-frame sequence with
``subject`` = animal id, frame labels = the five unit scores (0-2, under their unit names),
``score`` = their sum (0-10), ``pain`` = score > threshold (1.5 by default, from the sheep
scale) and ``level`` = the scale's five levels (0-1 | 2-3 | 4-5 | 6-7 | 8-10).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..errors import GeopainError, InputError
from ..io.yolo import label_path, read_yolo_dataset
from ..landmarks import LandmarkSequence
from ..media import IMAGE_EXTENSIONS
from ..species import get_scheme, get_species_scale
from ._common import ErrorLog, PartStore, PrepareResult, finish

SCHEME = "sheep/spfes"
SCORES_FILE = "spfes_scores.csv"

PROTOCOLS: dict[str, dict[str, Any]] = {
    "animal_kfold5": {"kind": "kfold", "k": 5, "group": "subject",
                      "description": "5-fold cross-validation grouped by animal (no animal in two folds)"},
    "loao": {"kind": "loso", "group": "subject", "description": "leave one animal out"},
}


# ----------------------------------------------------------------------------------------------
# Scores
# ----------------------------------------------------------------------------------------------

def read_scores(path: str | Path, log: ErrorLog | None = None) -> pd.DataFrame:
    """The SPFES score table, validated: units 0-2, ``total`` equal to their sum.

    Rows with a problem are reported in ``log`` (file and line) and keep NaN where the value is
    bad; ``score`` is the sum of the units (NaN if any unit is bad). Returns columns ``image,
    animal_id, face_id, <units>, total, score, line``.
    """
    path = Path(path)
    log = log if log is not None else ErrorLog()
    units = list(get_species_scale("sheep").units)
    if not path.is_file():
        raise InputError(path, "missing SPFES score table")
    try:
        frame = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a readable CSV ({str(exc).splitlines()[0]})") from None
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in ["image", "animal_id", *units] if c not in frame.columns]
    if missing:
        raise InputError(path, f"missing columns {missing} (expected image, animal_id, {', '.join(units)}, total)")
    frame = frame.apply(lambda s: s.str.strip())
    problems: list[tuple[int, str]] = []  # (line, problem), reported in file order
    frame["line"] = np.arange(len(frame)) + 2
    frame["face_id"] = pd.to_numeric(frame["face_id"], errors="coerce").fillna(0).astype(int) \
        if "face_id" in frame.columns else 0
    for u in units:
        vals = pd.to_numeric(frame[u], errors="coerce")
        bad = vals.isna() | ~vals.isin([0, 1, 2])
        for line, raw in zip(frame["line"][bad], frame[u][bad]):
            problems.append((line, f"{u} is {raw!r}, expected 0, 1 or 2"))
        frame[u] = vals.where(~bad)
    frame["score"] = frame[units].sum(axis=1, min_count=len(units))
    if "total" in frame.columns:
        total = pd.to_numeric(frame["total"], errors="coerce")
        bad = (total != frame["score"]) & frame["score"].notna()
        for line, t, s in zip(frame["line"][bad], frame["total"][bad], frame["score"][bad]):
            problems.append((line, f"total {t!r} is not the sum of the five units ({s:g}); using the sum"))
        frame["total"] = total
    no_id = frame["animal_id"] == ""
    for line in frame["line"][no_id]:
        problems.append((line, "no animal_id"))
    dup = frame.duplicated(["image", "face_id"], keep="first")
    for line, img in zip(frame["line"][dup], frame["image"][dup]):
        problems.append((line, f"image {img!r} is scored twice; the first row is used"))
    for line, problem in sorted(problems, key=lambda p: p[0]):
        log.add(f"{path}:{line}", problem)
    return frame[~no_id & ~dup].reset_index(drop=True)


def _keys(rel: str) -> list[str]:
    p = Path(rel.replace("\\", "/"))
    return [p.as_posix(), "/".join(p.parts[-2:]), p.name]


class _ScoreIndex:
    """Find a score row by relative image path, the last two path parts, or the unique file name."""

    def __init__(self, scores: pd.DataFrame):
        self.rows = scores
        self.map: dict[tuple[str, int], int] = {}
        ambiguous: set[tuple[str, int]] = set()
        for i, (img, fid) in enumerate(zip(scores["image"], scores["face_id"])):
            for k in _keys(img):
                key = (k, int(fid))
                if key in self.map and self.map[key] != i:
                    ambiguous.add(key)
                self.map.setdefault(key, i)
        for key in ambiguous:
            del self.map[key]
        self.used: set[int] = set()

    def find(self, rel: str, face_id: int) -> int | None:
        for k in _keys(rel):
            i = self.map.get((k, face_id))
            if i is not None:
                self.used.add(i)
                return i
        return None


# ----------------------------------------------------------------------------------------------
# Landmarks: YOLO pose and DeepLabCut
# ----------------------------------------------------------------------------------------------

def _yolo_root(data_yaml: Path, data: dict) -> Path:
    base = data.get("path")
    if not base:
        return data_yaml.parent
    b = Path(str(base)).expanduser()
    return b if b.is_absolute() else data_yaml.parent / b


def _split_images(data_yaml: Path) -> dict[str, list[Path]]:
    """Images of each split folder the yaml names (for the every-image-labelled check)."""
    data = yaml.safe_load(data_yaml.read_text(encoding="utf-8-sig")) or {}
    root = _yolo_root(data_yaml, data)
    out: dict[str, list[Path]] = {}
    for split in ("train", "val", "test"):
        spec = data.get(split)
        for item in spec if isinstance(spec, list) else [spec] if spec else []:
            q = Path(str(item))
            q = q if q.is_absolute() else root / q
            if q.is_dir():
                out.setdefault(split, []).extend(
                    sorted(f for f in q.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS))
    return out


def read_yolo_landmarks(data_yaml: str | Path, log: ErrorLog, work_dir: Path | None = None,
                        scheme: str = SCHEME, excluded: set[Path] | None = None) -> list[LandmarkSequence]:
    """Read the YOLO pose dataset with :func:`geopain.io.yolo.read_yolo_dataset`, file by file tolerant.

    Every image must have a label file whose lines hold the scheme's keypoints; images without
    one, and label files the reader rejects, are reported in ``log`` and left out, so the rest
    of the dataset still loads. The images left out are added to ``excluded``.
    (``work_dir`` is unused and kept for callers of the earlier signature.)
    """
    data_yaml = Path(data_yaml)
    images = _split_images(data_yaml)
    excluded = excluded if excluded is not None else set()
    for imgs in images.values():
        for img in imgs:
            if not label_path(img).is_file():
                log.add(img, "image has no YOLO label file (expected "
                             f"{label_path(img)}); left out")
                excluded.add(img)
    problems: list[InputError] = []
    seqs = read_yolo_dataset(data_yaml, scheme=get_scheme(scheme), errors=problems)
    by_path = {p.resolve(): img for imgs in images.values() for img in imgs
               for p in (img, label_path(img))}
    for exc in problems:
        log.add_error(exc)
        img = by_path.get(Path(exc.source).resolve()) if exc.source else None
        if img is not None:
            excluded.add(img)
    left_out = {p.resolve() for p in excluded}
    return [s for s in seqs if not (s.source and Path(s.source).resolve() in left_out)]


def find_dlc_project(root: Path) -> Path | None:
    for cand in (root / "dlc", root):
        if (cand / "config.yaml").is_file() and (cand / "labeled-data").is_dir():
            return cand
    return None


def read_dlc_project(project: str | Path, log: ErrorLog, scheme: str = SCHEME,
                     excluded: set[Path] | None = None) -> list[LandmarkSequence]:
    """Hand labels of a DeepLabCut project as one-frame sequences (``meta["image"]`` = image path).

    Reads ``labeled-data/<video>/CollectedData_*.csv`` (or ``.h5``) with
    :func:`geopain.io.dlc.read_dlc`; images in the folders without labels are reported.
    """
    import warnings

    from ..io.dlc import read_dlc

    project = Path(project)
    excluded = excluded if excluded is not None else set()
    out = []
    for video in sorted(p for p in (project / "labeled-data").iterdir() if p.is_dir()):
        files = sorted(video.glob("CollectedData_*.csv")) or sorted(video.glob("CollectedData_*.h5"))
        pictures = sorted(f for f in video.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            if pictures:
                log.add(video, f"{len(pictures)} images but no CollectedData_*.csv / .h5 labels")
                excluded.update(pictures)
            continue
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                seqs = read_dlc(files[0], scheme)
        except InputError as exc:
            log.add_error(exc)
            excluded.update(pictures)
            continue
        for w in caught:
            log.warn(str(w.message))
        labelled = set()
        for s in seqs:
            names = s.meta.get("images") or [str(f) for f in s.frames]
            for t, name in enumerate(names):
                img = project / name if not Path(name).is_absolute() else Path(name)
                labelled.add(img.name)
                one = s[t]
                one.meta = {**{k: v for k, v in s.meta.items() if k != "images"}, "image": str(img)}
                if not one.face_found.all():
                    log.add(img, f"no labelled point in {files[0].name}")
                    excluded.add(img)
                    continue
                out.append(one)
            missing = s.meta.get("missing_landmarks") or []
            if missing:
                log.warn(f"{files[0]}: landmarks of {scheme} never labelled: {', '.join(missing)}")
        for pic in pictures:
            if pic.name not in labelled:
                log.add(pic, f"image has no labels in {files[0].name}")
                excluded.add(pic)
    return out


# ----------------------------------------------------------------------------------------------
# Joining and preparing
# ----------------------------------------------------------------------------------------------

def read_sheep(root: str | Path, threshold: float | None = None, log: ErrorLog | None = None,
               work_dir: str | Path | None = None) -> list[LandmarkSequence]:
    """Read and validate a sheep SPFES folder: landmarks (YOLO and/or DLC) joined with the scores.

    Problems (unlabelled images, label files that do not fit the scheme, images without
    scores, scores without images, totals that are not the sum of the units) are reported in
    ``log`` one per line; the rest loads.
    """
    root = Path(root)
    log = log if log is not None else ErrorLog()
    if not root.is_dir():
        raise InputError(root, "dataset folder does not exist")
    scale = get_species_scale("sheep")
    threshold = scale.binary_threshold if threshold is None else float(threshold)
    scores = read_scores(root / SCORES_FILE, log)
    index = _ScoreIndex(scores)
    units = list(scale.units)
    import tempfile

    tmp = None if work_dir else tempfile.TemporaryDirectory(prefix="geopain-sheep-")
    work = Path(work_dir) if work_dir else Path(tmp.name)
    raw: list[LandmarkSequence] = []
    excluded: set[Path] = set()  # images already reported as unusable
    data_yaml = root / "data.yaml"
    project = find_dlc_project(root)
    if not data_yaml.is_file() and project is None:
        raise InputError(root, "not a sheep SPFES folder: no data.yaml (YOLO pose) and no DeepLabCut project "
                               "(dlc/config.yaml with labeled-data/)")
    try:
        if data_yaml.is_file():
            raw += read_yolo_landmarks(data_yaml, log, work, excluded=excluded)
        if project is not None:
            raw += read_dlc_project(project, log, excluded=excluded)
    finally:
        if tmp is not None:
            tmp.cleanup()

    out, split_of = [], {}
    for s in raw:
        img = Path(s.meta.get("image", s.source or ""))
        try:
            rel = img.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            rel = img.as_posix()
        if not s.face_found.any():
            continue  # an image without objects: reported by the label check
        i = index.find(rel, s.face_id)
        if i is None:
            log.add(img, f"no SPFES scores in {SCORES_FILE} for this image (face {s.face_id}); left out")
            continue
        row = scores.iloc[i]
        labels = {u: np.array([row[u]], float) for u in units}
        score = np.array([row["score"]], float)
        labels.update(score=score, pain=np.where(np.isnan(score), np.nan, (score > threshold).astype(float)),
                      level=scale.level(score))
        animal = str(row["animal_id"])
        if "split" in s.meta:
            split_of.setdefault(animal, set()).add(s.meta["split"])
        out.append(LandmarkSequence(
            coords=s.coords, scheme=s.scheme, confidence=s.confidence, frame_confidence=s.frame_confidence,
            frames=np.array([0]), subject=animal, sequence=rel.rsplit(".", 1)[0], face_id=s.face_id,
            labels=labels, sequence_labels={"image": rel}, dims=s.dims, units=s.units, detector=s.detector,
            detector_version=s.detector_version, source=str(img),
            meta={**s.meta, "dataset": "sheep", "image": rel}))
    reported = {p.resolve() for p in excluded}
    for i, (line, img) in enumerate(zip(scores["line"], scores["image"])):
        if i not in index.used and (root / img).resolve() not in reported:
            log.add(f"{root / SCORES_FILE}:{line}", f"scores image {img!r}, which has no landmarks")
    leaks = sorted(a for a, sp in split_of.items() if len(sp) > 1)
    if leaks:
        log.warn(f"{data_yaml}: animals in more than one YOLO split ({', '.join(leaks)}); a landmark detector "
                 "trained on this split is not animal-independent")
    return out


def animal_split(subjects: Any, test_fraction: float = 0.2, seed: int = 0) -> tuple[list[str], list[str]]:
    """An animal-independent holdout: ``(train_animals, test_animals)``, at least one of each."""
    animals = sorted({str(s) for s in np.asarray(subjects).ravel()})
    if len(animals) < 2:
        raise GeopainError(f"an animal-independent split needs at least 2 animals, got {len(animals)}")
    n_test = min(max(1, int(round(test_fraction * len(animals)))), len(animals) - 1)
    order = np.random.default_rng(seed).permutation(len(animals))
    test = sorted(animals[i] for i in order[:n_test])
    return [a for a in animals if a not in test], test


def prepare_sheep(root: str | Path, output: str | Path, threshold: float | None = None,
                  resume: bool = True, progress: bool = True, keep_parts: bool = False) -> PrepareResult:
    """Sheep SPFES folder -> labelled landmark table with animal-independent protocols.

    Images are small and read in one pass (no parts to resume); the protocols are leave one
    animal out (``loao``), grouped 5-fold (``animal_kfold5``, k lowered to the number of
    animals when fewer) and a fixed holdout of 20% of the animals (``animal_holdout``).
    """
    root, output = Path(root), Path(output)
    scale = get_species_scale("sheep")
    threshold_v = scale.binary_threshold if threshold is None else float(threshold)
    store = PartStore(output, {"dataset": "sheep", "root": str(root.resolve()), "threshold": threshold_v},
                      resume=resume)
    log = ErrorLog()
    seqs = read_sheep(root, threshold_v, log, work_dir=store.dir / "yolo")
    animals = sorted({s.subject for s in seqs})
    protocols = {k: dict(v) for k, v in PROTOCOLS.items()}
    if 2 <= len(animals) < 5:
        protocols["animal_kfold5"]["k"] = len(animals)
    elif len(animals) < 2:
        protocols.pop("animal_kfold5")
    if len(animals) >= 2:
        test = animal_split(animals, 0.2, seed=0)[1]
        protocols["animal_holdout"] = {"kind": "holdout", "group": "subject", "test_subjects": test,
                                       "description": "one animal-independent split: 20% of the animals "
                                                      "(at least one) held out for testing"}
    meta = {
        "dataset": "sheep",
        "labels": {"score": "SPFES total (sum of five units 0-2)", "pain": f"SPFES total > {threshold_v:g}",
                   "level": "0-1 | 2-3 | 4-5 | 6-7 | 8-10 (sheep scale cut-offs 2, 4, 6, 8)"},
        "protocols": protocols,
    }
    return finish(seqs, output, store, log, meta, keep_parts=keep_parts)
