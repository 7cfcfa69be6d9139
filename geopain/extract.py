"""Extraction: images, folders and videos in, one landmark table out.

``extract(inputs, species, detector, scheme, output)`` walks the inputs (folders
recursively), runs a detector on every image and on every ``stride``-th video frame, tracks
several faces across frames by box overlap (IoU) into face ids, and writes the landmark
table (``geopain.io.tables``) in pixels of the source images. A frame without a face is a
row of NaN. Work is written in parts (``OUT.parts/``: one Arrow part per video or per
chunk of images, a done-list, an error log) so an interrupted run continues where it
stopped when the same command runs again, and the final table holds every frame once.
With several workers (``workers``) or ``ray_address``, each video, chunk of a long video or
chunk of images is one task, with the same parts; a long video's faces are tracked across
its chunks once all of them are done.
Face images are never written.

Who is who (``subject_from``, see :func:`assign_subjects`): ``"folder"`` (default) makes the
parent folder of each file one subject; ``"file"`` makes each image or video its own
subject; ``"face-track"`` each tracked face of each file. Models that compare a face with
the same person's other frames (a per-subject reference) depend on this being right.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Sequence

import numpy as np

from .detectors import DETECTORS, Detector, FaceDetection, create, default_detector
from .errors import GeopainError, InputError, OutputExistsError, SettingsChangedError, error_log_path
from .landmarks import LandmarkSequence
from .media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, iter_video, media_kind, read_image, to_rgb_uint8, video_info
from .parallel import resolve_workers, run_tasks
from .progress import progress_bar
from .species import convert_sequence, default_scheme, get_scheme, scheme_key

#: Images per part (and per Ray task) when extracting from many images.
IMAGE_CHUNK = 64

#: Source frames per chunk of a long video when extracting in parallel (a part each: bounded
#: memory per worker, resumable pieces); fewer videos than workers split them finer, down to
#: :data:`MIN_VIDEO_CHUNK` frames, so that one long video keeps every worker busy.
VIDEO_CHUNK = 3000
MIN_VIDEO_CHUNK = 64

#: Where subjects (persons, animals) come from: see :func:`assign_subjects`.
SUBJECT_SOURCES = ("folder", "file", "face-track", "column")


# ----------------------------------------------------------------------------------------
# Single images
# ----------------------------------------------------------------------------------------


def _get_detector(detector: str | Detector, **kw: Any) -> tuple[Detector, bool]:
    if isinstance(detector, Detector):
        return detector, False
    return create(detector, **kw), True


def faces_to_sequences(faces: Sequence[FaceDetection], detector: Detector, scheme: str | None = None,
                       **fields: Any) -> list[LandmarkSequence]:
    """One single-frame sequence per face (face ids left to right), converted to ``scheme``."""
    order = sorted(range(len(faces)), key=lambda i: float(faces[i].box[0]))
    out = []
    for fid, i in enumerate(order):
        f = faces[i]
        seq = LandmarkSequence(coords=f.coords[None], scheme=detector.scheme, confidence=f.confidence[None],
                               frame_confidence=[f.score], face_id=fid, dims=detector.dims, units="px",
                               detector=detector.name, detector_version=detector.version,
                               meta={"box": f.box.tolist()}, **fields)
        out.append(_convert(seq, scheme))
    return out


def _convert(seq: LandmarkSequence, scheme: str | None) -> LandmarkSequence:
    if scheme is None or scheme == seq.scheme:
        return seq
    return convert_sequence(seq, scheme)


def detect_image(path_or_array: str | os.PathLike | np.ndarray, detector: str | Detector = "mediapipe",
                 scheme: str | None = None, **detector_kw: Any) -> list[LandmarkSequence]:
    """Landmarks of every face in one image: a list of single-frame sequences (pixels).

    ``path_or_array``: a file (any format :func:`geopain.media.read_image` reads) or an RGB
    array ``(H, W, 3)``. ``scheme``: convert to this scheme (e.g. ``"human/ibug68"``).
    An image without a face gives an empty list.
    """
    if isinstance(path_or_array, (str, os.PathLike)):
        image, source = read_image(path_or_array), str(path_or_array)
        name = Path(path_or_array).name
    else:
        image, source, name = to_rgb_uint8(np.asarray(path_or_array)), None, "array"
    det, own = _get_detector(detector, **detector_kw)
    try:
        faces = det.detect(image)
        return faces_to_sequences(faces, det, scheme, sequence=name, source=source, frames=[0], timestamps=[np.nan])
    finally:
        if own:
            det.close()


# ----------------------------------------------------------------------------------------
# Tracking
# ----------------------------------------------------------------------------------------


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(A, B)`` IoU of boxes ``a (A, 4)`` and ``b (B, 4)`` given as ``x0, y0, x1, y1``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: np.clip(x[:, 2:] - x[:, :2], 0, None).prod(-1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


class IoUTracker:
    """Greedy IoU matching of this frame's boxes to the last boxes of live tracks.

    A track survives ``max_gap`` processed frames without a match; unmatched boxes start
    new face ids (numbered left to right within a frame).
    """

    def __init__(self, iou_threshold: float = 0.2, max_gap: int = 30):
        self.iou_threshold = iou_threshold
        self.max_gap = max_gap
        self._boxes = np.zeros((0, 4))
        self._ids: list[int] = []
        self._age: list[int] = []
        self.next_id = 0

    def update(self, boxes: np.ndarray) -> list[int]:
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        ids = [-1] * len(boxes)
        if len(boxes) and len(self._ids):
            iou = box_iou(boxes, self._boxes)
            flat = np.argsort(-iou, axis=None)
            used_b, used_t = set(), set()
            for k in flat:
                i, j = divmod(int(k), iou.shape[1])
                if iou[i, j] < self.iou_threshold:
                    break
                if i in used_b or j in used_t:
                    continue
                used_b.add(i)
                used_t.add(j)
                ids[i] = self._ids[j]
                self._boxes[j] = boxes[i]
                self._age[j] = 0
        for i in sorted((i for i in range(len(boxes)) if ids[i] < 0), key=lambda i: boxes[i, 0]):
            ids[i] = self.next_id
            self.next_id += 1
            self._ids.append(ids[i])
            self._boxes = np.vstack([self._boxes, boxes[i]])
            self._age.append(0)
        matched = set(ids)
        self._age = [0 if t in matched else a + 1 for t, a in zip(self._ids, self._age)]
        keep = [k for k, a in enumerate(self._age) if a <= self.max_gap]
        self._boxes = self._boxes[keep]
        self._ids = [self._ids[k] for k in keep]
        self._age = [self._age[k] for k in keep]
        return ids


# ----------------------------------------------------------------------------------------
# Work items
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkItem:
    """One video, or a chunk of images: the unit of a part, of resume and of a Ray task."""

    kind: str  # "video" | "images"
    paths: tuple[str, ...]
    names: tuple[str, ...]  # sequence ids (path relative to the input given)
    subjects: tuple[str, ...]
    #: ``True`` when each face of a file is its own subject (``<subject>#face<id>``).
    per_face: bool = False
    #: a chunk of a video: source frames ``[start, stop)`` (``stop=None``: to the end)
    start: int = 0
    stop: int | None = None

    @property
    def is_chunk(self) -> bool:
        return self.kind == "video" and (self.start > 0 or self.stop is not None)

    @property
    def key(self) -> str:
        # names and subjects are written into the part: a different subject setting (or the same
        # file reached from another input folder) must not reuse it
        text = "\n".join((self.kind, *self.paths, "", *self.names, "", *self.subjects, str(self.per_face)))
        if self.is_chunk:
            text += f"\n{self.start}:{self.stop}"
            return f"chunk-{hashlib.sha1(text.encode()).hexdigest()[:16]}"
        return f"{self.kind}-{hashlib.sha1(text.encode()).hexdigest()[:16]}"

    def chunks(self, n_frames: int, size: int) -> list["WorkItem"]:
        """A video's chunks of ``size`` source frames (the last one runs to the end of the stream)."""
        starts = list(range(0, max(n_frames, 1), size))
        return [replace(self, start=a, stop=b if b < n_frames else None)
                for a, b in zip(starts, starts[1:] + [n_frames])]

    def subject(self, i: int, face_id: int = 0) -> str:
        """Subject of the ``i``-th file's face ``face_id``."""
        return face_subject(self.subjects[i], face_id) if self.per_face else self.subjects[i]


def face_subject(file_subject: str, face_id: int) -> str:
    """``<file>#face<id>``: the subject of one tracked face of one file (``--subject-from face-track``)."""
    return f"{file_subject}#face{int(face_id)}"


def check_subject_from(subject_from: str, media: bool = True) -> None:
    """Raise a one-line :class:`GeopainError` unless ``subject_from`` fits images/videos (``media``) or tables."""
    if subject_from not in SUBJECT_SOURCES:
        raise GeopainError(f"subject_from must be one of {', '.join(SUBJECT_SOURCES)}, got {subject_from!r}")
    if media and subject_from == "column":
        raise GeopainError("--subject-from column reads subjects from a column of a landmark table; images and "
                           "videos have none: use folder, file or face-track")


def _strip_media_ext(name: str) -> str:
    p = PurePosixPath(name)
    return p.with_suffix("").as_posix() if media_kind(p) is not None else p.as_posix()


def assign_subjects(names: Sequence[str], subject_from: str = "folder", folders: Sequence[str] | None = None,
                    paths: Sequence[str] | None = None) -> list[str]:
    """Subject of each file from its name relative to the input (the sequence id).

    ``"folder"``: the parent folder (``folders[i]``, the folder of the input itself, for
    files at the top); ``"file"``: the name without its extension, each file its own
    subject; ``"face-track"``: the same per file, and each face of it becomes
    ``<file>#face<id>`` when faces are found (:func:`face_subject`). Two different files
    never share a ``file`` subject: on a clash (``a.png`` and ``a.jpg``) the extension
    stays, and files of the same name under two inputs take their ``paths``.
    """
    check_subject_from(subject_from)
    names = [PurePosixPath(n).as_posix() for n in names]
    folders = list(folders) if folders is not None else [""] * len(names)
    if subject_from == "folder":
        return [PurePosixPath(n).parent.name or f or "unknown" for n, f in zip(names, folders)]
    paths = [Path(p).as_posix() for p in paths] if paths is not None else names
    subjects = [_strip_media_ext(n) for n in names]
    for fallback in (names, [_strip_media_ext(p) for p in paths]):
        owners: dict[str, set[str]] = {}
        for s, p in zip(subjects, paths):
            owners.setdefault(s, set()).add(p)
        subjects = [s if len(owners[s]) == 1 else f for s, f in zip(subjects, fallback)]
    return subjects


def collect_inputs(inputs: Iterable[str | os.PathLike], chunk: int = IMAGE_CHUNK, *,
                   subject_from: str = "folder") -> tuple[list[WorkItem], list[str]]:
    """Expand files and folders (recursive) into work items; unusable inputs become error lines.

    ``subject_from``: who is who, see :func:`assign_subjects`.
    """
    check_subject_from(subject_from)
    errors: list[str] = []
    found: list[tuple[Path, str, str]] = []  # (file, name relative to its input, folder of a top-level file)
    for inp in inputs:
        p = Path(inp)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and media_kind(f) is not None)
            if not files:
                errors.append(str(InputError(p, "folder holds no images or videos")))
            found.extend((f, f.relative_to(p).as_posix(), f.parent.name) for f in files)
        elif p.is_file():
            if media_kind(p) is None:
                errors.append(str(InputError(p, "unsupported format (expected an image: "
                                                f"{', '.join(sorted(IMAGE_EXTENSIONS))}; or a video: "
                                                f"{', '.join(sorted(VIDEO_EXTENSIONS))})")))
                continue
            found.append((p, p.name, p.parent.name))
        else:
            errors.append(str(InputError(p, "no such file or folder")))
    subjects = assign_subjects([x[1] for x in found], subject_from, [x[2] for x in found], [str(x[0]) for x in found])
    per_face = subject_from == "face-track"
    items: list[WorkItem] = []
    images: list[tuple[str, str, str]] = []
    for (f, name, _), subject in zip(found, subjects):
        if media_kind(f) == "video":
            items.append(WorkItem("video", (str(f),), (name,), (subject,), per_face))
        else:
            images.append((str(f), name, subject))
    for start in range(0, len(images), chunk):
        part = images[start:start + chunk]
        items.append(WorkItem("images", tuple(x[0] for x in part), tuple(x[1] for x in part),
                              tuple(x[2] for x in part), per_face))
    return items, errors


def read_table_subjects(path: str | os.PathLike, subject_from: str = "column",
                        column: str = "subject") -> list[LandmarkSequence]:
    """Read a landmark table with its subjects taken from ``column`` or derived anew.

    ``"column"``: subjects from the column ``column`` (default ``subject``, the table's own);
    ``"folder"``/``"file"``/``"face-track"``: from the ``sequence`` ids (for tables written by
    :func:`extract`, the file paths relative to the input) as :func:`assign_subjects` does
    for files. Sequences that would merge with another subject's keep it as a prefix.
    """
    import pandas as pd

    from .io.tables import read_frame, sequences_from_frame

    check_subject_from(subject_from, media=False)
    frame, meta = read_frame(path)
    for col, default in (("subject", "unknown"), ("sequence", "0"), ("face_id", 0)):
        if col not in frame.columns:
            frame[col] = default
    old = frame["subject"].astype(str)
    seq = frame["sequence"].astype(str)
    if subject_from == "column":
        if column not in frame.columns:
            raise InputError(path, f"no column {column!r} to take subjects from (--subject-column); columns: "
                                   f"{', '.join(c for c in frame.columns if c[:2] not in ('x_', 'y_', 'z_', 'c_'))}")
        if column == "subject":
            return sequences_from_frame(frame, meta, source=str(path))
        values = frame[column]
        if values.isna().any():
            raise InputError(path, f"column {column!r} is empty in {int(values.isna().sum())} row(s); every row "
                                   f"needs a subject")
        new = values.astype(str)
    else:
        keys = pd.DataFrame({"sequence": seq, "face_id": frame["face_id"].astype(np.int64)})
        uniq = keys.drop_duplicates()
        names = uniq["sequence"].tolist()
        if subject_from == "folder":
            derived = [PurePosixPath(n).parent.name or "" for n in names]
        else:
            derived = [_strip_media_ext(n) for n in names]
            if subject_from == "face-track":
                derived = [face_subject(d, f) for d, f in zip(derived, uniq["face_id"])]
        lookup = dict(zip(zip(names, uniq["face_id"].tolist()), derived))
        new = pd.Series([lookup[k] for k in zip(seq, keys["face_id"].tolist())], index=frame.index)
        new = new.where(new != "", old)  # a sequence id without a folder keeps its subject
        # one derived subject must not join sequences of different original subjects
        owners = pd.DataFrame({"new": new, "old": old}).groupby("new")["old"].nunique()
        clash = new.map(owners) > 1
        new = new.where(~clash, old + "/" + new)
    face = frame["face_id"].astype(np.int64)
    # two recordings of one new subject with the same sequence id stay two sequences
    owners = pd.DataFrame({"new": new, "seq": seq, "face": face, "old": old}).groupby(["new", "seq", "face"])["old"]
    merged = owners.transform("nunique") > 1
    new_seq = seq.where(~merged, old + "/" + seq)
    remap = pd.DataFrame({"old": old, "seq": seq, "face": face, "to": list(zip(new, new_seq))})
    per_seq = remap.groupby(["old", "seq", "face"])["to"].unique()
    rename = {k: v[0] for k, v in per_seq.items() if len(v) == 1}
    for m in (meta or {}).get("sequences", []):  # keep fps, sources, ... of each sequence
        k = (str(m.get("subject")), str(m.get("sequence")), int(m.get("face_id", 0)))
        if k in rename:
            m["subject"], m["sequence"] = map(str, rename[k])
    frame = frame.copy()
    frame["subject"] = new.to_numpy()
    frame["sequence"] = new_seq.to_numpy()
    return sequences_from_frame(frame, meta, source=str(path))


def _nan_sequence(n: int, detector: Detector, frames, timestamps, **fields: Any) -> LandmarkSequence:
    t = len(frames)
    return LandmarkSequence(coords=np.full((t, n, 3), np.nan, np.float32), scheme=detector.scheme,
                            frames=frames, timestamps=timestamps, dims=detector.dims, units="px",
                            detector=detector.name, detector_version=detector.version, **fields)


def process_images(item: WorkItem, detector: Detector, scheme: str | None, progress=None) -> tuple[list[LandmarkSequence], list[str], int]:
    """Detect in each image of ``item``: sequences (one per face, or one NaN row), errors, frames done."""
    seqs: list[LandmarkSequence] = []
    errors: list[str] = []
    n_done = 0
    n_pts = detector.n_points
    for i, (path, name) in enumerate(zip(item.paths, item.names)):
        fields = dict(subject=item.subject(i), sequence=name, source=path, frames=[0], timestamps=[np.nan])
        try:
            image = read_image(path)
            faces = detector.detect(image)
        except InputError as exc:
            errors.append(str(exc))
            continue
        except Exception as exc:  # a detector failing on one image must not stop the batch
            errors.append(str(InputError(path, f"detector {detector.name} failed ({type(exc).__name__}: {exc})")))
            continue
        finally:
            n_done += 1
            if progress is not None:
                progress.update(1)
        found = faces_to_sequences(faces, detector, scheme, **fields)
        if not found:
            found = [_convert(_nan_sequence(n_pts, detector, **fields), scheme)]
        for s in found:
            s.meta["image_size"] = [int(image.shape[1]), int(image.shape[0])]
            s.subject = item.subject(i, s.face_id)
        seqs.extend(found)
    return seqs, errors, n_done


@dataclass
class VideoDetections:
    """What a detector found in a run of video frames, before tracking: ``T`` frames read,
    ``K`` faces in all (rows ascending; the detector's order within a frame)."""

    frames: np.ndarray      # (T,) source frame index
    timestamps: np.ndarray  # (T,) seconds
    rows: np.ndarray        # (K,) frame row of each face
    boxes: np.ndarray       # (K, 4) x0, y0, x1, y1
    coords: np.ndarray      # (K, N, 3)
    confidence: np.ndarray  # (K, N)
    score: np.ndarray       # (K,)
    errors: list[str] = field(default_factory=list)
    #: the detector's ``scheme``, ``name``, ``version``, ``dims``; the video's ``fps``, ``size``
    meta: dict[str, Any] = field(default_factory=dict)

    ARRAYS = ("frames", "timestamps", "rows", "boxes", "coords", "confidence", "score")

    @classmethod
    def concat(cls, parts: Sequence["VideoDetections"]) -> "VideoDetections":
        """The detections of consecutive chunks as one run (rows renumbered; errors once each)."""
        offsets = np.cumsum([0] + [len(p.frames) for p in parts])
        arrays = {k: np.concatenate([getattr(p, k) for p in parts]) for k in cls.ARRAYS if k != "rows"}
        rows = np.concatenate([p.rows + o for p, o in zip(parts, offsets)])
        errors = list(dict.fromkeys(e for p in parts for e in p.errors))
        return cls(rows=rows, errors=errors, meta=dict(parts[0].meta), **arrays)

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **{k: getattr(self, k) for k in self.ARRAYS},
                 info=np.array(json.dumps({"errors": self.errors, "meta": self.meta})))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "VideoDetections":
        with np.load(path) as z:
            info = json.loads(str(z["info"]))
            return cls(errors=info["errors"], meta=info["meta"], **{k: z[k] for k in cls.ARRAYS})


def detect_video(item: WorkItem, detector: Detector, stride: int = 1, progress=None) -> VideoDetections:
    """Run ``detector`` on every ``stride``-th frame of ``item`` (a video or a chunk of one);
    a frame the detector fails on is a frame without faces and an error line."""
    path = item.paths[0]
    n = detector.n_points
    meta = {"scheme": detector.scheme, "name": detector.name, "version": detector.version, "dims": detector.dims}
    frames: list[int] = []
    stamps: list[float] = []
    found: list[tuple[int, FaceDetection]] = []
    errors: list[str] = []
    try:
        info = video_info(path)
        meta.update(fps=info.fps, size=[info.width, info.height])
        for index, ts, rgb in iter_video(path, stride=stride, start=item.start, stop=item.stop):
            row = len(frames)
            frames.append(index)
            stamps.append(ts)
            try:
                faces = detector.detect(rgb)
            except Exception as exc:
                errors.append(str(InputError(path, f"frame {index}: detector {detector.name} failed ({type(exc).__name__}: {exc})")))
                faces = []
            found.extend((row, f) for f in faces)
            if progress is not None:
                progress.update(1)
    except InputError as exc:
        errors.append(str(exc))
    K = len(found)
    return VideoDetections(
        frames=np.asarray(frames, np.int64), timestamps=np.asarray(stamps, np.float64),
        rows=np.asarray([r for r, _ in found], np.int64),
        boxes=np.stack([f.box for _, f in found]).astype(np.float64) if K else np.zeros((0, 4)),
        coords=np.stack([f.coords for _, f in found]).astype(np.float32) if K else np.zeros((0, n, 3), np.float32),
        confidence=np.stack([f.confidence for _, f in found]).astype(np.float32) if K else np.zeros((0, n), np.float32),
        score=np.asarray([f.score for _, f in found], np.float32), errors=errors, meta=meta)


def track_faces(rows: np.ndarray, boxes: np.ndarray, n_frames: int, tracker: IoUTracker | None = None
                ) -> tuple[np.ndarray, int]:
    """Face ids ``(K,)`` of boxes ``(K, 4)`` on frame rows ``(K,)`` (ascending), tracked frame by
    frame in order (:class:`IoUTracker`), and the number of ids."""
    tracker = tracker or IoUTracker()
    ids = np.zeros(len(rows), np.int64)
    bounds = np.searchsorted(rows, np.arange(n_frames + 1))
    for r in range(n_frames):  # tracking is sequential: each frame's matches depend on the last
        a, b = bounds[r], bounds[r + 1]
        ids[a:b] = tracker.update(boxes[a:b])
    return ids, tracker.next_id


def video_sequences(item: WorkItem, det: VideoDetections, scheme: str | None, stride: int = 1) -> list[LandmarkSequence]:
    """Faces of a whole video's detections tracked into face ids: one sequence per face, each
    spanning every frame read (NaN where that face was not found)."""
    T = len(det.frames)
    if not T:
        return []
    m = det.meta
    ids, n_ids = track_faces(det.rows, det.boxes, T)
    n_ids = max(n_ids, 1)
    N = det.coords.shape[1]
    coords = np.full((n_ids, T, N, 3), np.nan, np.float32)
    conf = np.full((n_ids, T, N), np.nan, np.float32)
    score = np.full((n_ids, T), np.nan, np.float32)
    coords[ids, det.rows] = det.coords
    conf[ids, det.rows] = det.confidence
    score[ids, det.rows] = det.score
    seqs = []
    for fid in range(n_ids):
        seq = LandmarkSequence(coords=coords[fid], scheme=m["scheme"], confidence=conf[fid], frame_confidence=score[fid],
                               frames=det.frames, timestamps=det.timestamps, fps=m.get("fps") or None,
                               subject=item.subject(0, fid), sequence=item.names[0], face_id=fid, dims=m["dims"],
                               units="px", detector=m["name"], detector_version=m["version"], source=item.paths[0],
                               meta={"image_size": list(m.get("size", [0, 0])), "stride": stride})
        seqs.append(_convert(seq, scheme))
    return seqs


def process_video(item: WorkItem, detector: Detector, scheme: str | None, stride: int = 1,
                  progress=None) -> tuple[list[LandmarkSequence], list[str], int]:
    """Detect in every ``stride``-th frame; faces tracked into face ids; every face spans every frame."""
    det = detect_video(item, detector, stride, progress)
    return video_sequences(item, det, scheme, stride), det.errors, len(det.frames)


# ----------------------------------------------------------------------------------------
# The resumable pipeline
# ----------------------------------------------------------------------------------------


@dataclass
class ExtractResult:
    """What an extraction produced: the table's path, frames processed, error lines."""

    path: Path
    n_frames: int
    errors: list[str] = field(default_factory=list)
    n_rows: int = 0
    n_items: int = 0
    n_resumed: int = 0
    seconds: float = 0.0
    error_log: Path | None = None

    @property
    def fps(self) -> float:
        return self.n_frames / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class _Settings:
    species: str
    detector: str
    scheme: str | None
    stride: int
    detector_kw: dict[str, Any]
    subject_from: str = "folder"

    def fingerprint(self) -> dict[str, Any]:
        return {"species": self.species, "detector": self.detector, "scheme": self.scheme, "stride": self.stride,
                "detector_kw": {k: str(v) for k, v in sorted(self.detector_kw.items())},
                "subject_from": self.subject_from}


class _Parts:
    """``OUT.parts/``: ``manifest.json`` (settings), ``<key>.arrow`` parts (Arrow IPC), ``<key>.npz``
    detections of video chunks, ``done.txt``, ``errors.jsonl``."""

    def __init__(self, output: Path, settings: _Settings, resume: bool):
        self.dir = output.with_name(output.name + ".parts")
        manifest = self.dir / "manifest.json"
        fp = settings.fingerprint()
        if self.dir.exists() and not resume:
            shutil.rmtree(self.dir)
        if self.dir.exists() and manifest.is_file():
            old = json.loads(manifest.read_text())
            if old != fp:
                changed = ", ".join(f"{k} {old.get(k)!r} -> {fp.get(k)!r}" for k in sorted(set(old) | set(fp))
                                    if old.get(k) != fp.get(k))
                raise SettingsChangedError(f"{self.dir} holds a partial run with other settings ({changed}); start "
                                           f"over with --no-resume (resume=False), or delete {self.dir}")
        self.dir.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps(fp))
        self.done: dict[str, int] = {}
        done = self.dir / "done.txt"
        if done.is_file():
            failed = self._error_keys()
            for line in done.read_text().splitlines():
                key, _, n = line.partition("\t")
                # an item that gave nothing because it failed is tried again (the file may be fixed)
                if key and (self.part(key).is_file() or (n.endswith("!") and key not in failed)):
                    self.done[key] = int(n.rstrip("!") or 0)

    def _error_keys(self) -> set[str]:
        f = self.dir / "errors.jsonl"
        return {json.loads(line)["key"] for line in f.read_text().splitlines() if line.strip()} if f.is_file() else set()

    def part(self, key: str) -> Path:
        """An item's part (Arrow IPC); a video chunk's detections (``.npz``, tracked when its video is whole)."""
        return self.dir / (f"{key}.npz" if key.startswith("chunk-") else f"{key}.arrow")

    def record(self, key: str, n_frames: int, errors: list[str], has_part: bool) -> None:
        if errors:
            with open(self.dir / "errors.jsonl", "a", encoding="utf-8") as fh:
                for e in errors:
                    fh.write(json.dumps({"key": key, "error": e}) + "\n")
        with open(self.dir / "done.txt", "a", encoding="utf-8") as fh:
            fh.write(f"{key}\t{n_frames}{'' if has_part else '!'}\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.done[key] = n_frames

    def errors(self, keys: set[str]) -> list[str]:
        f = self.dir / "errors.jsonl"
        if not f.is_file():
            return []
        out, seen = [], set()
        for line in f.read_text().splitlines():
            rec = json.loads(line)
            if rec["key"] in keys and (rec["key"], rec["error"]) not in seen:
                seen.add((rec["key"], rec["error"]))
                out.append(rec["error"])
        return out


def _write_part(path: Path, seqs: list[LandmarkSequence]) -> bool:
    """Write sequences as one part: an Arrow IPC file with the columns and metadata of
    ``write_table``, except that missing coordinates stay NaN here (:func:`_merge` turns them
    into nulls once, for the whole table).

    Columns go to Arrow straight from NumPy (column-major), not through pandas' per-column
    conversion, which costs more than the detector on short videos.
    """
    import pyarrow as pa

    from .io.tables import is_coordinate_column, sequences_to_frame, write_parquet

    if not seqs:
        return False
    frame, meta = sequences_to_frame(seqs)
    coord = [c for c in frame.columns if is_coordinate_column(c)]
    coord_set = set(coord)
    other = [c for c in frame.columns if c not in coord_set]
    n = len(frame)
    # one Arrow array of all coordinates, column after column, sliced (zero-copy) into columns
    block = pa.array(frame[coord].to_numpy(np.float32).ravel(order="F"))
    arrays = {c: pa.array(frame[c].to_numpy(), from_pandas=True) for c in other}  # NaN -> null, as pandas does
    arrays.update({c: block.slice(j * n, n) for j, c in enumerate(coord)})
    table = pa.table({c: arrays[c] for c in frame.columns})
    write_parquet(table, path, meta, format="arrow")
    return True


def _nan_to_null(table):
    """``table`` with NaN coordinates as nulls (what pandas' conversion in ``write_table`` gives)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .io.tables import is_coordinate_column

    # one new table from all columns: set_column per column copies the table's column list each
    # time, quadratic in the columns (1,404 for MediaPipe's 468 points)
    columns = [pc.if_else(pc.is_nan(col), None, col) if is_coordinate_column(name) else col
               for name, col in zip(table.column_names, table.columns)]
    return pa.Table.from_arrays(columns, schema=table.schema)


_WORKER_DETECTORS: dict[str, Detector] = {}


def loaded_detectors() -> list[Detector]:
    """The detectors ``extract`` keeps loaded in this process, in the order they were loaded."""
    return list(_WORKER_DETECTORS.values())


def release_detectors() -> None:
    """Close the detectors ``extract`` keeps loaded in this process (one per detector setting,
    reused by later runs); the next run loads them again."""
    for det in _WORKER_DETECTORS.values():
        close = getattr(det, "close", None)
        if close is not None:
            close()
    _WORKER_DETECTORS.clear()


def _run_item(item: WorkItem, settings: _Settings, part: Path, progress=None) -> tuple[str, int, list[str], bool]:
    """Process one item and write its part (used locally and as the Ray task)."""
    key = json.dumps(settings.fingerprint(), sort_keys=True)
    det = _WORKER_DETECTORS.get(key)
    if det is None:
        det = _WORKER_DETECTORS[key] = create(settings.detector, **settings.detector_kw)
    if item.is_chunk:  # detections only: faces are tracked across chunks when the video is whole
        found = detect_video(item, det, settings.stride, progress)
        found.save(part)
        return item.key, len(found.frames), [], True
    if item.kind == "video":
        seqs, errors, n = process_video(item, det, settings.scheme, settings.stride, progress)
    else:
        seqs, errors, n = process_images(item, det, settings.scheme, progress)
    has_part = _write_part(part, seqs)
    return item.key, n, errors, has_part


def _source_frames(item: WorkItem) -> int:
    """Images of an image chunk; frames a video's container declares (0 when unknown or unreadable)."""
    if item.kind == "images":
        return len(item.paths)
    try:
        return max(0, video_info(item.paths[0]).n_frames)
    except InputError:
        return 0


def _chunk_size(n_frames: int, n_items: int, workers: int, stride: int, chunk_frames: int | None) -> int:
    """Source frames per chunk of a video of ``n_frames`` (a multiple of ``stride``, so the chunks
    read the frames one pass would): ``chunk_frames``, else :data:`VIDEO_CHUNK`, split finer when
    there are fewer items than workers."""
    size = chunk_frames or VIDEO_CHUNK
    if not chunk_frames and n_items < workers:
        size = min(size, max(MIN_VIDEO_CHUNK, -(-n_frames // workers)))
    return max(stride, size - size % stride)


def _plan(items: list[WorkItem], todo: list[WorkItem], lengths: dict[str, int], parts: "_Parts", workers: int,
          stride: int, chunk_frames: int | None) -> tuple[list[WorkItem], dict[WorkItem, list[WorkItem]]]:
    """What to run: ``todo`` with its long videos split into chunks when ``workers > 1``
    (chunks already done are skipped), and each split video's chunks."""
    units: list[WorkItem] = []
    split: dict[WorkItem, list[WorkItem]] = {}
    for it in todo:
        n = lengths[it.key]
        if workers > 1 and it.kind == "video" and n > (size := _chunk_size(n, len(items), workers, stride, chunk_frames)):
            split[it] = it.chunks(n, size)
            units.extend(c for c in split[it] if c.key not in parts.done)
        else:
            units.append(it)
    return units, split


def _assemble(video: WorkItem, chunks: list[WorkItem], settings: "_Settings", parts: "_Parts") -> None:
    """A split video whose chunks are all done: their detections joined, faces tracked across
    the chunk borders as in one pass, the video's part written. A chunk whose worker failed
    leaves the video to the next run."""
    raw = [parts.part(c.key) for c in chunks]
    if not all(c.key in parts.done and r.is_file() for c, r in zip(chunks, raw)):
        return
    det = VideoDetections.concat([VideoDetections.load(r) for r in raw])
    seqs = video_sequences(video, det, settings.scheme, settings.stride)
    has_part = _write_part(parts.part(video.key), seqs)
    if not has_part:  # nothing read (e.g. unreadable): the chunks run again next time, as a whole video would
        for r in raw:
            r.unlink(missing_ok=True)
    parts.record(video.key, len(det.frames), det.errors, has_part)


def resolve_detector_kwargs(name: str, species: str, scheme: str | None, kw: dict[str, Any]) -> dict[str, Any]:
    """``kw`` without unset (None) values, plus the species' scheme for detectors that take one
    (registry metadata ``takes_scheme``)."""
    kw = {k: v for k, v in kw.items() if v is not None}
    if DETECTORS.info(name).get("takes_scheme"):
        kw.setdefault("scheme", scheme or default_scheme(species))
    return kw


def extract(inputs: Iterable[str | os.PathLike], species: str = "human", detector: str | None = None,
            scheme: str | None = None, output: str | os.PathLike = "landmarks.parquet", stride: int = 1,
            resume: bool = True, ray_address: str | None = None, detector_kwargs: dict[str, Any] | None = None,
            progress: bool = True, keep_parts: bool = False, ray_num_cpus: int | None = None,
            subject_from: str = "folder", overwrite: bool = False, workers: int | None = 1,
            chunk_frames: int | None = None) -> ExtractResult:
    """Extract landmarks from images, folders (recursive) and videos into one table.

    Args:
        inputs: files and folders.
        species: whose faces (``"human"``, ``"sheep"``, ...); picks the default detector.
        detector: a name from :data:`geopain.detectors.DETECTORS` (default: the species').
        scheme: convert the detector's points to this scheme (e.g. ``"human/ibug68"``).
        output: the ``.parquet`` (or ``.csv``) table to write.
        stride: every ``stride``-th video frame.
        resume: continue from ``OUTPUT.parts/`` when it holds a run with the same settings.
        ray_address: run one Ray task per video / image chunk on that cluster (``"auto"``: the one
            started on this machine; ``"local"``: a Ray instance started here; see
            :class:`geopain.parallel.RayTasks`).
        detector_kwargs: options for the detector (e.g. ``{"weights": "best.pt"}``).
        subject_from: who is who: ``"folder"`` (each file's parent folder is one subject),
            ``"file"`` (each image/video its own subject) or ``"face-track"`` (each tracked face
            of each file, ``<file>#face<id>``); see :func:`assign_subjects`. Recorded in the
            table's metadata (``extraction.subject_from``) and part of the resume key.
        workers: detector processes running items (videos, image chunks) side by side
            (``None``: one per core). Parts, resume and the table's row order are those of one
            worker: each item writes its own part, and the parts are merged in input order.
            With more than one worker (or Ray) long videos are split into chunks of source
            frames that run side by side; their faces are tracked across the chunk borders once
            the video is whole, so the table equals one worker's.
        chunk_frames: source frames per chunk of a split video (default :data:`VIDEO_CHUNK`,
            finer when there are fewer items than workers).
        overwrite: replace an existing ``output`` that was extracted from other inputs or with
            other settings (or is not an extraction at all); without it that is an
            :class:`~geopain.errors.OutputExistsError`. The same run again rewrites it freely.

    Returns:
        :class:`ExtractResult`; bad items are listed in ``errors`` (and in ``OUT.errors.txt``,
        :func:`geopain.errors.error_log_path`).
    """
    t0 = time.perf_counter()
    if stride < 1:
        raise GeopainError(f"stride must be >= 1, got {stride}")
    check_subject_from(subject_from)
    scheme = scheme_key(scheme, species) if scheme else scheme  # "ibug68" is enough with the species known
    name = detector or default_detector(species, scheme)
    if name not in DETECTORS:
        DETECTORS.get(name)  # raises the "unknown detector" error
    det_kw = resolve_detector_kwargs(name, species, scheme, dict(detector_kwargs or {}))
    det_scheme = det_kw.get("scheme") or DETECTORS.info(name).get("scheme")
    if isinstance(det_scheme, str) and "/" in det_scheme and get_scheme(det_scheme).species != species:
        raise GeopainError(f"detector {name} finds {get_scheme(det_scheme).species} faces, not {species}")
    if scheme is not None:
        target = get_scheme(scheme)
        if target.species != species:
            raise GeopainError(f"scheme {scheme} is for {target.species}, not {species}")
    output = Path(output)
    if output.suffix.lower() not in (".parquet", ".csv"):
        raise GeopainError(f"{output}: output must end in .parquet or .csv")
    output.parent.mkdir(parents=True, exist_ok=True)
    settings = _Settings(species, name, scheme, int(stride), det_kw, subject_from)
    items, input_errors = collect_inputs(inputs, subject_from=subject_from)
    if not items and input_errors:
        raise GeopainError("nothing to extract: " + "; ".join(input_errors))
    if output.exists() and not overwrite:
        _check_same_run(output, settings, items)
    parts = _Parts(output, settings, resume)
    todo = [it for it in items if it.key not in parts.done]
    n_resumed = len(items) - len(todo)
    if chunk_frames is not None and chunk_frames < 1:
        raise GeopainError(f"chunk_frames must be >= 1, got {chunk_frames}")

    n_workers = resolve_workers(workers)
    parallel = ray_address is not None or n_workers > 1
    lengths = {it.key: _source_frames(it) for it in todo}
    units, split = _plan(items, todo, lengths, parts, max(n_workers, 2) if ray_address is not None else n_workers,
                         stride, chunk_frames)
    total = sum(max(1, -(-lengths[it.key] // stride)) if it.kind == "video" else lengths[it.key] for it in todo)
    bar = progress_bar(total=total, unit="frame", desc=f"extract ({name})", enabled=progress, smoothing=0.1)
    bar.update(sum(parts.done.get(c.key, 0) for chunks in split.values() for c in chunks))  # chunks of a resumed video
    try:
        if units and parallel and len(units) > 1:
            _run_parallel(units, settings, parts, bar, n_workers, ray_address, ray_num_cpus)
        else:
            for item in units:
                key, n, errors, has_part = _run_item(item, settings, parts.part(item.key), bar)
                parts.record(key, n, errors, has_part)
        for video, chunks in split.items():
            _assemble(video, chunks, settings, parts)
    finally:
        bar.close()
    chunk_keys = {c.key for chunks in split.values() for c in chunks}
    return _merge(output, items, parts, settings, input_errors, n_resumed, t0, keep_parts, chunk_keys)


def inputs_fingerprint(items: Sequence[WorkItem]) -> str:
    """One hash of what an extraction reads (files, sequence names, subjects)."""
    return hashlib.sha1("\n".join(sorted(it.key for it in items)).encode()).hexdigest()[:16]


def _check_same_run(output: Path, settings: _Settings, items: Sequence[WorkItem]) -> None:
    """Raise :class:`OutputExistsError` unless ``output`` was written by this same extraction."""
    from .io.tables import read_meta

    try:
        old = read_meta(output).get("extraction") or {}
    except GeopainError:
        old = {}
    same = old.get("inputs") == inputs_fingerprint(items) and all(old.get(k) == v for k, v in settings.fingerprint().items())
    if not same:
        what = "from other inputs or settings" if old else "not written by 'geopain extract'"
        raise OutputExistsError(f"{output} exists ({what}); pass --overwrite (overwrite=True) to replace it, "
                                f"or choose another output")


def _run_parallel(todo: list[WorkItem], settings: _Settings, parts: _Parts, bar, workers: int,
                  ray_address: str | None, ray_num_cpus: int | None) -> None:
    """Items in ``workers`` fresh local processes or as Ray tasks (:func:`geopain.parallel.run_tasks`);
    each finished item is recorded at once, so an interrupted run resumes from the parts written,
    and a crashed worker costs its item only."""
    jobs = [(it, settings, parts.part(it.key)) for it in todo]
    for i, result, error in run_tasks(_run_item, jobs, workers=workers, ray_address=ray_address,
                                      ray_num_cpus=ray_num_cpus):
        item = todo[i]
        if error is not None:
            where = f" (frames {item.start}-{'end' if item.stop is None else item.stop - 1})" if item.is_chunk else ""
            key, n, errors, has_part = item.key, 0, [f"{item.paths[0]}{where}: worker failed ({type(error).__name__}: {error})"], False
        else:
            key, n, errors, has_part = result
        parts.record(key, n, errors, has_part)
        bar.update(n)


def _merge(output: Path, items: list[WorkItem], parts: _Parts, settings: _Settings, input_errors: list[str],
           n_resumed: int, t0: float, keep_parts: bool, chunk_keys: set[str] = frozenset()) -> ExtractResult:
    """Concatenate the parts (as Arrow tables, no per-row Python) into the final table;
    ``chunk_keys``: chunks of split videos, whose failures are errors of this run too."""
    import pyarrow as pa
    import pyarrow.feather as feather

    from .io.tables import META_KEY, write_parquet, write_table

    keys = {it.key for it in items} | set(chunk_keys)
    errors = input_errors + parts.errors(keys)
    tables, metas = [], []
    for it in items:
        part = parts.part(it.key)
        if part.is_file():
            t = feather.read_table(part, memory_map=True)
            metas.append(json.loads((t.schema.metadata or {}).get(META_KEY, b"{}")))
            tables.append(t.replace_schema_metadata(None))
    err_log = error_log_path(output)
    if not tables:  # a failed run that wrote nothing leaves nothing behind (but the list of errors)
        shutil.rmtree(parts.dir, ignore_errors=True)
        more = ""
        if len(errors) > 5:
            err_log.write_text("\n".join(errors) + "\n", encoding="utf-8")
            more = f" ... ({len(errors)} in all, see {err_log})"
        raise GeopainError("no frames could be read: " + "; ".join(errors[:5]) + more)
    if errors:
        err_log.write_text("\n".join(errors) + "\n", encoding="utf-8")
    elif err_log.exists():
        err_log.unlink()
    table = _nan_to_null(pa.concat_tables(tables, promote_options="default"))
    n_points = int(metas[0].get("n_points", 0))
    coord_cols = [f"{a}_{i}" for a in "xyzc" for i in range(n_points)]
    names = table.column_names
    ordered = [c for c in names if c not in coord_cols[3 * n_points:] and not c.startswith("c_")]
    cut = ordered.index(f"z_{n_points - 1}") + 1 if f"z_{n_points - 1}" in ordered else len(ordered)
    conf_cols = [c for c in coord_cols[3 * n_points:] if c in names]
    table = table.select(ordered[:cut] + conf_cols + ordered[cut:])
    meta = {**metas[0], "sequences": [m for md in metas for m in md.get("sequences", [])],
            "extraction": {**settings.fingerprint(), "errors": len(errors), "items": len(items),
                           "inputs": inputs_fingerprint(items)}}
    if output.suffix.lower() == ".parquet":
        write_parquet(table.replace_schema_metadata(None), output, meta)
    else:
        write_table(table.to_pandas(), output, meta=meta)
    n_frames = sum(parts.done.get(it.key, 0) for it in items)
    if not keep_parts:
        shutil.rmtree(parts.dir, ignore_errors=True)
    return ExtractResult(path=output, n_frames=n_frames, errors=errors, n_rows=table.num_rows,
                         n_items=len(items), n_resumed=n_resumed, seconds=time.perf_counter() - t0,
                         error_log=err_log if errors else None)
