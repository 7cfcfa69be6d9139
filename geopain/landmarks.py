"""The landmark sequence: geopain's core data type.

A :class:`LandmarkSequence` is one face tracked over ``T`` frames: coordinates
``(T, N, 3)`` in the units named by ``units``, per-point confidence ``(T, N)``, the
landmark scheme (``"human/ibug68"``), timing, identity and optional labels. A single
image is a sequence of length 1; several faces in one image are several sequences with
distinct ``face_id``. 2D detections keep ``z`` as NaN and set ``dims=2``.
Missing points are NaN in ``coords``; a frame with no face has every point NaN.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

import numpy as np

from .errors import ShapeError

#: Frame-level label names understood across geopain (binary, five-level, continuous).
LABEL_COLUMNS = ("pain", "level", "score")
#: Units coordinates can be expressed in (``"unknown"``: a table without the metadata that says;
#: geopain never guesses pixels for it).
UNITS = ("px", "mm", "cm", "normalized", "template", "unknown")


@dataclass
class LandmarkSequence:
    """One face over time.

    Attributes:
        coords: ``(T, N, 3)`` float32 coordinates; z is NaN for 2D detections.
        scheme: landmark scheme key, ``"<species>/<scheme>"`` (e.g. ``"human/ibug68"``).
        confidence: ``(T, N)`` per-point confidence in [0, 1], NaN where unknown.
        frame_confidence: ``(T,)`` face-level confidence (detector score), NaN where unknown.
        frames: ``(T,)`` int64 frame indices in the source (may skip).
        timestamps: ``(T,)`` float64 seconds from the source's start, NaN where unknown.
        fps: frames per second of the source, if known.
        subject, sequence: identity and recording ids (strings).
        face_id: which face in the frame this track is.
        labels: frame labels, each ``(T,)`` float: ``pain`` (0/1), ``level`` (0-4),
            ``score`` (continuous, PSPI 0-16 or SPFES 0-10); NaN where unknown.
        sequence_labels: labels of the whole sequence (e.g. ``{"vas": 3.0}``).
        dims: 3, or 2 when z was not observed.
        units: one of :data:`UNITS` (``"px"`` for detections in pixels of the source image).
        detector, detector_version, source: provenance.
        meta: free-form extras (pose estimates, image size, ...).
    """

    coords: np.ndarray
    scheme: str
    confidence: np.ndarray | None = None
    frame_confidence: np.ndarray | None = None
    frames: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    fps: float | None = None
    subject: str = "unknown"
    sequence: str = "0"
    face_id: int = 0
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    sequence_labels: dict[str, Any] = field(default_factory=dict)
    dims: int = 3
    units: str = "px"
    detector: str | None = None
    detector_version: str | None = None
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        coords = np.asarray(self.coords, dtype=np.float32)
        if coords.ndim == 2:  # a single frame
            coords = coords[None]
        if coords.ndim != 3 or coords.shape[-1] not in (2, 3):
            raise ShapeError(f"coords: expected shape (T, N, 3) or (T, N, 2), got {coords.shape}")
        if coords.shape[-1] == 2:
            coords = np.concatenate([coords, np.full(coords.shape[:2] + (1,), np.nan, np.float32)], -1)
            self.dims = 2
        self.coords = coords
        T, N, _ = coords.shape
        if self.dims not in (2, 3):
            raise ShapeError(f"dims must be 2 or 3, got {self.dims}")
        if not isinstance(self.scheme, str) or self.scheme.count("/") != 1 or not all(self.scheme.split("/")):
            raise ShapeError(f"scheme must be '<species>/<scheme>', got {self.scheme!r}")
        if self.units not in UNITS:
            raise ShapeError(f"units must be one of {UNITS}, got {self.units!r}")
        self.confidence = _per(self.confidence, (T, N), "confidence", np.float32)
        self.frame_confidence = _per(self.frame_confidence, (T,), "frame_confidence", np.float32)
        if self.frames is None:
            self.frames = np.arange(T, dtype=np.int64)
        self.frames = _per(self.frames, (T,), "frames", np.int64)
        if self.timestamps is None:
            ts = self.frames / self.fps if self.fps else np.full(T, np.nan)
            self.timestamps = ts
        self.timestamps = _per(self.timestamps, (T,), "timestamps", np.float64)
        self.labels = {k: _per(v, (T,), f"labels[{k!r}]", np.float64) for k, v in self.labels.items()}
        self.subject, self.sequence = str(self.subject), str(self.sequence)
        self.face_id = int(self.face_id)

    # -- shape helpers -------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return self.coords.shape[0]

    @property
    def n_points(self) -> int:
        return self.coords.shape[1]

    @property
    def species(self) -> str:
        return self.scheme.split("/", 1)[0]

    @property
    def valid(self) -> np.ndarray:
        """``(T, N)`` bool: the point was observed (x and y finite)."""
        return np.isfinite(self.coords[..., :2]).all(-1)

    @property
    def face_found(self) -> np.ndarray:
        """``(T,)`` bool: at least one point was observed in the frame."""
        return self.valid.any(-1)

    def __len__(self) -> int:
        return self.n_frames

    def __getitem__(self, index) -> "LandmarkSequence":
        """Select frames (int, slice, bool mask or index array); returns a sequence."""
        idx = np.arange(self.n_frames)[index]
        idx = np.atleast_1d(idx)
        return replace(
            self,
            coords=self.coords[idx],
            confidence=self.confidence[idx],
            frame_confidence=self.frame_confidence[idx],
            frames=self.frames[idx],
            timestamps=self.timestamps[idx],
            labels={k: v[idx] for k, v in self.labels.items()},
            sequence_labels=dict(self.sequence_labels),
            meta=dict(self.meta),
        )

    def with_coords(self, coords: np.ndarray, **changes: Any) -> "LandmarkSequence":
        """A copy with new coordinates (same frames), e.g. after normalisation."""
        return replace(self, coords=coords, **changes)

    def key(self) -> tuple[str, str, int]:
        return (self.subject, self.sequence, self.face_id)

    def __repr__(self) -> str:
        labels = ",".join(self.labels) or "none"
        return (
            f"LandmarkSequence(scheme={self.scheme!r}, frames={self.n_frames}, points={self.n_points}, "
            f"dims={self.dims}, units={self.units!r}, subject={self.subject!r}, sequence={self.sequence!r}, "
            f"face_id={self.face_id}, labels={labels})"
        )


def _per(value: Any, shape: tuple[int, ...], name: str, dtype) -> np.ndarray:
    if value is None:
        return np.full(shape, np.nan if np.dtype(dtype).kind == "f" else 0, dtype=dtype)
    arr = np.asarray(value, dtype=dtype)
    if arr.shape != shape:
        raise ShapeError(f"{name}: expected shape {shape}, got {arr.shape}")
    return arr


def stack_coords(sequences: Iterable[LandmarkSequence]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate frames of sequences with the same scheme.

    Returns ``coords (F, N, 3)`` and ``sequence_index (F,)`` (which input each frame is from).
    """
    seqs = list(sequences)
    if not seqs:
        raise ShapeError("no sequences given")
    schemes = {s.scheme for s in seqs}
    if len(schemes) > 1:
        raise ShapeError(f"sequences have different schemes: {sorted(schemes)}")
    coords = np.concatenate([s.coords for s in seqs], 0)
    index = np.repeat(np.arange(len(seqs)), [s.n_frames for s in seqs])
    return coords, index


def frame_labels(sequences: Iterable[LandmarkSequence], name: str) -> np.ndarray:
    """``(F,)`` concatenated frame label ``name`` (NaN where a sequence lacks it)."""
    return np.concatenate([s.labels.get(name, np.full(s.n_frames, np.nan)) for s in sequences])


def sequences_digest(sequences: Iterable[LandmarkSequence]) -> str:
    """A hex digest of what models learn from: each sequence's ids, scheme, coordinates,
    confidences and frame labels, in order (equal digests: the same training data)."""
    h = hashlib.sha1()
    for s in sequences:
        h.update(f"{s.subject}|{s.sequence}|{s.face_id}|{s.scheme}|{s.coords.shape}|".encode())
        for arr in (s.coords, s.confidence, s.frame_confidence):
            h.update(np.ascontiguousarray(arr).tobytes())
        for key in sorted(s.labels):
            h.update(key.encode() + np.ascontiguousarray(s.labels[key], dtype=np.float64).tobytes())
    return h.hexdigest()


def summarize(sequences: Iterable[LandmarkSequence]) -> Mapping[str, Any]:
    """Counts users want to see first: frames, sequences, subjects, schemes, labels."""
    seqs = list(sequences)
    return {
        "sequences": len(seqs),
        "frames": int(sum(s.n_frames for s in seqs)),
        "subjects": len({s.subject for s in seqs}),
        "schemes": sorted({s.scheme for s in seqs}),
        "labels": sorted({k for s in seqs for k in s.labels}),
        "faces_missing": int(sum((~s.face_found).sum() for s in seqs)),
    }
