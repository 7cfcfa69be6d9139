"""BioVid Heat Pain Database, Part A: videos -> landmarks, labels, protocols, aligned biosignals.

Layout::

    samples.csv                                  TAB-separated: subject_id subject_name class_id
                                                 class_name sample_id sample_name (8,700 rows)
    video/<subject>/<sample>.mp4                 5.5 s, 25 fps
    biosignals_filtered/<subject>/<sample>_bio.csv  TAB: time gsr ecg emg_trapezius (512 Hz, time in us)
    biosignals_raw/<subject>/<sample>_bio.csv       same plus emg_corrugator emg_zygomaticus

Landmarks come from each video through :func:`geopain.extract.extract` (any detector;
resumable per video, and here per subject too), or from a table the user already extracted
(``landmarks=``, sequences named after the samples). Labels per frame: ``level`` = class id
(BL1=0, PA1..PA4=1..4), ``score`` = class id, ``pain`` = 1 for PA4, 0 for BL1 and NaN for
PA1-PA3 (the binary task BL1 vs PA4 leaves them out). Biosignals are averaged over each
video frame's interval and written to a side table for fusion.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import GeopainError, InputError
from ..io.tables import read_table
from ..landmarks import LandmarkSequence
from ._common import ErrorLog, PartStore, PrepareResult, finish, run_parts

CLASSES = ("BL1", "PA1", "PA2", "PA3", "PA4")
FPS = 25.0
SAMPLE_RATE = 512.0
SAMPLE_COLUMNS = ("subject_id", "subject_name", "class_id", "class_name", "sample_id", "sample_name")
#: The 20 low-expressive subjects removed for LOSO-67 (Werner et al.).
LOSO67_EXCLUDED = (
    "082315_w_60", "082414_m_64", "082909_m_47", "083009_w_42", "083013_w_47", "083109_m_60",
    "083114_w_55", "091914_m_46", "092009_m_54", "092014_m_56", "092509_w_51", "092714_m_64",
    "100514_w_51", "100914_m_39", "101114_w_37", "101209_w_61", "101809_m_59", "101916_m_40",
    "111313_m_64", "120614_w_61",
)
PROTOCOLS: dict[str, dict[str, Any]] = {
    "loso87": {"kind": "loso", "group": "subject",
               "description": "leave one subject out over all 87 subjects (LOSO-87)"},
    "loso67": {"kind": "loso", "group": "subject", "exclude_subjects": list(LOSO67_EXCLUDED),
               "description": "leave one subject out over 67 subjects, without the 20 low-expressive ones (LOSO-67)"},
}


# ----------------------------------------------------------------------------------------------
# samples.csv and labels
# ----------------------------------------------------------------------------------------------

def read_samples(path: str | Path) -> pd.DataFrame:
    """``samples.csv`` (TAB-separated, trailing newline optional) as a DataFrame, ids as int/str."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "missing samples.csv (is this the BioVid Part A folder?)")
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a TAB-separated samples table ({str(exc).splitlines()[0]})") from None
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in SAMPLE_COLUMNS if c not in frame.columns]
    if missing:
        hint = " (is it comma-separated? BioVid's is TAB-separated)" if len(frame.columns) == 1 else ""
        raise InputError(path, f"missing columns {missing}{hint}")
    frame = frame.dropna(how="all")
    for c in frame.columns:
        frame[c] = frame[c].astype(str).str.strip()
    bad = ~frame["class_id"].str.fullmatch(r"[0-4]")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise InputError(path, f"line {row}: class_id {frame['class_id'][bad].iloc[0]!r} is not 0-4")
    frame["class_id"] = frame["class_id"].astype(int)
    return frame.reset_index(drop=True)


def class_labels(class_id: int | np.ndarray, n_frames: int | None = None) -> dict[str, np.ndarray]:
    """Frame labels of a BioVid class: ``level`` = ``score`` = class id, ``pain`` = 1 (PA4) / 0 (BL1) / NaN."""
    cid = np.asarray(class_id, dtype=float)
    if n_frames is not None:
        cid = np.full(n_frames, float(cid))
    pain = np.where(cid == 4, 1.0, np.where(cid == 0, 0.0, np.nan))
    return {"level": cid.copy(), "score": cid.copy(), "pain": pain}


def subject_info(subject: str) -> dict[str, Any]:
    """Sex and age from a subject name such as ``071309_w_21``."""
    parts = subject.split("_")
    out: dict[str, Any] = {}
    if len(parts) == 3:
        out["sex"] = {"w": "female", "m": "male"}.get(parts[1], parts[1])
        if parts[2].isdigit():
            out["age"] = int(parts[2])
    return out


# ----------------------------------------------------------------------------------------------
# Biosignals
# ----------------------------------------------------------------------------------------------

def read_biosignals(path: str | Path) -> pd.DataFrame:
    """One ``*_bio.csv``: columns ``time`` (seconds from the first sample) and each signal."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "missing biosignal file")
    try:
        frame = pd.read_csv(path, sep="\t")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a TAB-separated biosignal table ({str(exc).splitlines()[0]})") from None
    frame.columns = [c.strip() for c in frame.columns]
    if "time" not in frame.columns or len(frame.columns) < 2:
        raise InputError(path, f"expected columns 'time gsr ecg emg_trapezius ...', got {list(frame.columns)}")
    frame = frame.apply(pd.to_numeric, errors="coerce")
    if frame["time"].isna().any() or len(frame) < 2:
        raise InputError(path, "time column is not numeric (microseconds) or has fewer than 2 rows")
    frame["time"] = (frame["time"] - frame["time"].iloc[0]) / 1e6
    return frame


def align_biosignals(signals: pd.DataFrame, timestamps: np.ndarray, fps: float = FPS) -> pd.DataFrame:
    """Resample signals onto video frames: the mean over each frame's interval.

    ``signals``: ``time`` (s) plus signal columns (from :func:`read_biosignals`);
    ``timestamps``: ``(T,)`` frame times in s from the video's start (both start together in
    BioVid's cut windows). Frame ``k`` gets the mean of samples in
    ``[t_k - 0.5/fps, t_k + 0.5/fps)``; frames outside the recording get NaN. Returns a
    ``(T, channels)`` DataFrame with the signal column names.
    """
    t = signals["time"].to_numpy(float)
    cols = [c for c in signals.columns if c != "time"]
    values = signals[cols].to_numpy(float)
    ts = np.asarray(timestamps, float)
    half = 0.5 / float(fps)
    lo = np.searchsorted(t, ts - half, side="left")
    hi = np.searchsorted(t, ts + half, side="left")
    csum = np.vstack([np.zeros((1, len(cols))), np.nancumsum(values, 0)])
    count = (hi - lo)[:, None].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (csum[hi] - csum[lo]) / count
    mean[(count[:, 0] == 0) | ~np.isfinite(ts)] = np.nan
    return pd.DataFrame(mean, columns=cols)


# ----------------------------------------------------------------------------------------------
# Preparing
# ----------------------------------------------------------------------------------------------

def _extract_videos(videos: list[Path], output: Path, detector: str | None, scheme: str | None,
                    stride: int, log: ErrorLog, progress: bool = True, workers: int | None = None
                    ) -> list[LandmarkSequence]:
    try:
        from ..extract import extract
    except ImportError:
        raise GeopainError("extracting landmarks from BioVid videos needs geopain.extract (the detectors module), "
                           "which this installation does not have; pass landmarks=<table> with landmarks "
                           "extracted elsewhere") from None
    result = extract([str(v) for v in videos], species="human", detector=detector, scheme=scheme,
                     output=output, stride=stride, resume=True, progress=progress, workers=workers)
    log.extend(getattr(result, "errors", []) or [])
    path = Path(getattr(result, "path", output))
    return read_table(path) if path.is_file() else []


def _match(seqs: list[LandmarkSequence], names: set[str]) -> dict[str, list[LandmarkSequence]]:
    """Group sequences by the sample they come from (by sequence name or source file stem)."""
    out: dict[str, list[LandmarkSequence]] = {}
    for s in seqs:
        for cand in (s.sequence, Path(s.source).stem if s.source else None, Path(s.sequence).stem):
            if cand in names:
                out.setdefault(cand, []).append(s)
                break
    return out


def _one_face(tracks: list[LandmarkSequence]) -> LandmarkSequence:
    """The participant's face: the track with the most frames with a face."""
    return max(tracks, key=lambda s: (int(s.face_found.sum()), -s.face_id))


def prepare_biovid(root: str | Path, output: str | Path, detector: str | None = "mediapipe",
                   scheme: str | None = None, stride: int = 1, biosignals: str | None = "filtered",
                   landmarks: str | Path | None = None, subjects: Sequence[str] | None = None,
                   resume: bool = True, progress: bool = True, keep_parts: bool = False,
                   workers: int | None = None, rppg: bool = False) -> PrepareResult:
    """BioVid Part A folder -> labelled landmark table (+ ``<output stem>.biosignals.parquet``).

    Args:
        detector, scheme, stride: passed to :func:`geopain.extract.extract` for each video.
        biosignals: ``"filtered"``, ``"raw"`` or None (skip); per-frame signals go to the side table.
        rppg: also read each video's skin colour under its landmarks (forehead and cheeks,
            :func:`geopain.rppg.video_skin_colour`) into the side table (``skin_r, skin_g, skin_b``),
            the camera's remote pulse that the fusion models use like the contact signals.
        landmarks: a landmark table already extracted from the videos (sequence = sample name);
            when given, no detector runs.
        subjects: restrict to these subject names.
        workers: detector processes per subject's videos (None: one per core; see
            :func:`geopain.extract.extract`).
    Resumable: each subject's extraction resumes per video, finished subjects are kept in
    ``<output>.parts/`` until the final table is written.
    """
    root, output = Path(root), Path(output)
    samples = read_samples(root / "samples.csv")
    if subjects:
        samples = samples[samples["subject_name"].isin(list(subjects))]
    if biosignals not in (None, "filtered", "raw"):
        raise GeopainError(f"biosignals must be 'filtered', 'raw' or None, got {biosignals!r}")
    settings = {"dataset": "biovid", "root": str(root.resolve()), "detector": detector, "scheme": scheme,
                "stride": stride, "biosignals": biosignals, "landmarks": str(landmarks) if landmarks else None,
                "rppg": bool(rppg)}
    store = PartStore(output, settings, resume=resume)
    log = ErrorLog()
    given = read_table(landmarks) if landmarks else None
    if given is None and not (root / "video").is_dir():
        raise InputError(root / "video", "folder missing: BioVid videos are expected in video/<subject>/<sample>.mp4 "
                                         "(or pass landmarks=<table> extracted elsewhere)")
    by_subject = {s: g for s, g in samples.groupby("subject_name", sort=True)}

    def work(subject: str, plog: ErrorLog) -> list[LandmarkSequence]:
        rows = by_subject[subject]
        present = []
        for row in rows.itertuples(index=False):
            video = root / "video" / subject / f"{row.sample_name}.mp4"
            if given is None and not video.is_file():
                plog.add(video, f"missing video (samples.csv row for sample {row.sample_name})")
                continue
            present.append((row, video))
        if not present:
            return []
        names = {row.sample_name for row, _ in present}
        if given is not None:
            found = _match(given, names)
        else:
            found = _match(_extract_videos([v for _, v in present], store.dir / f"{store._safe(subject)}.extract.parquet",
                                           detector, scheme, stride, plog, progress, workers), names)
        seqs, bio_rows = [], []
        for row, video in present:
            tracks = found.get(row.sample_name)
            if not tracks:
                plog.add(video, "no landmarks extracted from this video")
                continue
            s = _one_face(tracks)
            fps = s.fps or FPS
            ts = s.timestamps if np.isfinite(s.timestamps).all() else s.frames / fps
            info = {"subject_id": row.subject_id, "sample_id": row.sample_id, "class_id": int(row.class_id),
                    "class_name": row.class_name, **subject_info(subject)}
            seq = LandmarkSequence(
                coords=s.coords, scheme=s.scheme, confidence=s.confidence, frame_confidence=s.frame_confidence,
                frames=s.frames, timestamps=ts, fps=fps, subject=subject, sequence=row.sample_name, face_id=0,
                labels={**{k: v for k, v in s.labels.items() if k not in ("pain", "level", "score")},
                        **class_labels(int(row.class_id), s.n_frames)},
                sequence_labels=info, dims=s.dims, units=s.units, detector=s.detector,
                detector_version=s.detector_version, source=str(video), meta={**s.meta, "dataset": "biovid"})
            seqs.append(seq)
            if biosignals or rppg:
                aligned = pd.DataFrame(index=range(seq.n_frames))
                if biosignals:
                    bio_path = root / f"biosignals_{biosignals}" / subject / f"{row.sample_name}_bio.csv"
                    try:
                        aligned = align_biosignals(read_biosignals(bio_path), ts, fps)
                    except InputError as exc:
                        plog.add_error(exc)
                        if not rppg:
                            continue  # with rppg, the sample still gets its skin colour
                if rppg:
                    from ..rppg import SKIN_COLUMNS, video_skin_colour

                    try:
                        aligned[list(SKIN_COLUMNS)] = video_skin_colour(video, s)
                    except InputError as exc:  # the sample keeps its landmarks and contact signals
                        plog.add_error(exc)
                        aligned[list(SKIN_COLUMNS)] = np.nan
                aligned.insert(0, "timestamp", ts)
                aligned.insert(0, "frame", seq.frames)
                aligned.insert(0, "sequence", row.sample_name)
                aligned.insert(0, "subject", subject)
                bio_rows.append(aligned)
        if bio_rows:
            pd.concat(bio_rows, ignore_index=True).to_parquet(store.dir / f"{store._safe(subject)}.bio.parquet")
        return seqs

    seqs = run_parts(sorted(by_subject), work, store, log, desc="BioVid subjects", show_progress=progress)
    bio_path = None
    if biosignals or rppg:
        parts = [store.dir / f"{store._safe(s)}.bio.parquet" for s in sorted(by_subject)]
        frames = [pd.read_parquet(p) for p in parts if p.is_file()]
        if frames:
            bio_path = output.with_name(output.stem + ".biosignals.parquet")
            pd.concat(frames, ignore_index=True).to_parquet(bio_path, index=False)
    meta = {
        "dataset": "biovid",
        "labels": {"level": "class id: BL1=0, PA1=1, PA2=2, PA3=3, PA4=4", "score": "class id",
                   "pain": "1 for PA4, 0 for BL1, NaN for PA1-PA3 (binary BL1 vs PA4)"},
        "protocols": PROTOCOLS,
        "biosignals": str(bio_path.name) if bio_path else None,
    }
    result = finish(seqs, output, store, log, meta, keep_parts=keep_parts)
    if bio_path:
        result.extra["biosignals"] = bio_path
    return result


def read_biovid_biosignals(path: str | Path) -> pd.DataFrame:
    """The per-frame biosignal side table written by :func:`prepare_biovid`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such biosignal table")
    return pd.read_parquet(path)


__all__ = ["CLASSES", "LOSO67_EXCLUDED", "PROTOCOLS", "read_samples", "class_labels", "subject_info",
           "read_biosignals", "align_biosignals", "prepare_biovid", "read_biovid_biosignals"]
