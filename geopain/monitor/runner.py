"""The monitor loop: detector -> tracker -> rolling windows -> model -> database.

Frames are detected one by one (the detector takes one image); every face is tracked by box
overlap (:class:`geopain.extract.IoUTracker`) so several patients in view stay apart. Time
is cut into windows ``[k * step, k * step + window)`` in milliseconds of the source; when a
frame passes the end of window ``k``, the windows ``k`` of every face seen in it are
scored in one model call (all faces batched), stored with the sequence's resume point
in one transaction, and alerts are updated. A window where the face was found in fewer
than ``min_face_fraction`` of the processed frames is stored as ``abstained`` with the
reason. Restarting the same command resumes at the first window not stored, with the
tracker as it was at that point, so the windows come out the same and none twice.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..detectors import DETECTORS, create, default_detector
from ..errors import GeopainError
from ..extract import IoUTracker, resolve_detector_kwargs
from ..landmarks import LandmarkSequence
from ..species import convert_sequence, get_scheme, scale_levels
from ..tasks import canonical_task
from .sources import CameraSequence, Frame, Sequence, Source, _Broken

#: Latency samples kept for the percentiles (a bounded ring).
LATENCY_SAMPLES = 20_000


@dataclass
class MonitorSettings:
    """What shapes the stored windows (part of the run's identity).

    ``window_s``/``step_s``: window length and hop in seconds; ``threshold``: alert level
    in the model's output units (``None``: the task's default, see :func:`default_threshold`);
    ``alert_after_s``: the score must stay above it this long; ``min_face_fraction``: a
    window is scored when the face was found in at least this fraction of its processed
    frames; ``snapshots``: store a JPEG face crop per window.
    """

    window_s: float = 2.0
    step_s: float = 1.0
    threshold: float | None = None
    alert_after_s: float = 5.0
    min_face_fraction: float = 0.5
    detector: str | None = None
    stride: int = 1
    realtime: bool = False
    snapshots: bool = False

    def check(self) -> None:
        if not (self.window_s > 0 and self.step_s > 0):
            raise GeopainError(f"--window and --step must be > 0 seconds, got {self.window_s} and {self.step_s}")
        if self.step_s > self.window_s:
            raise GeopainError(f"--step ({self.step_s} s) must not exceed --window ({self.window_s} s)")
        if not 0 <= self.min_face_fraction <= 1:
            raise GeopainError(f"--min-face-fraction must be in [0, 1], got {self.min_face_fraction}")
        if self.alert_after_s < 0:
            raise GeopainError(f"--alert-after must be >= 0 seconds, got {self.alert_after_s}")


def default_threshold(task: str, score_range: tuple[float, float], scheme: str | None = None) -> float:
    """Alert level when none is given: p(pain) 0.5 (binary), the middle level of the scale's
    levels (levels: 2 of 0-4); for scores,
    the pain scale's own pain/no-pain threshold from the species adapter (``binary_threshold``),
    else a quarter of the scale."""
    task = canonical_task(task, warn=False)
    if task == "binary":
        return 0.5
    if task == "levels":
        return (scale_levels(scheme) - 1) / 2.0
    if scheme is not None:
        scale = get_scheme(scheme).pain_scale
        if scale is not None:
            return float(scale.binary_threshold)
    return float(score_range[0] + 0.25 * (score_range[1] - score_range[0]))


@dataclass
class MonitorStats:
    """Measurements of one monitor session (stored with the run, printed at the end)."""

    frames_read: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0
    frames_with_face: int = 0
    windows_scored: int = 0
    windows_abstained: int = 0
    windows_new: int = 0
    alerts_started: int = 0
    media_seconds: float = 0.0
    wall_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    errors: list[str] = field(default_factory=list)
    _detect_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    _lag_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    _score_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))

    def as_dict(self) -> dict[str, Any]:
        def pct(d: deque) -> dict[str, float]:
            a = np.asarray(d, np.float64)
            if not len(a):
                return {}
            return {"p50": round(float(np.percentile(a, 50)), 2), "p95": round(float(np.percentile(a, 95)), 2),
                    "max": round(float(a.max()), 2)}

        wall = max(self.wall_seconds, 1e-9)
        return {
            "frames_read": self.frames_read, "frames_processed": self.frames_processed,
            "frames_dropped": self.frames_dropped, "frames_with_face": self.frames_with_face,
            "dropped_fraction": round(self.frames_dropped / max(1, self.frames_read), 4),
            "processed_fps": round(self.frames_processed / wall, 2),
            "effective_fps": round(self.frames_read / wall, 2),
            "media_seconds": round(self.media_seconds, 3), "wall_seconds": round(self.wall_seconds, 3),
            "realtime_factor": round(self.media_seconds / wall, 3),
            "windows_scored": self.windows_scored, "windows_abstained": self.windows_abstained,
            "windows_new": self.windows_new, "alerts_started": self.alerts_started,
            "detect_ms": pct(self._detect_ms), "lag_ms": pct(self._lag_ms), "score_ms_per_batch": pct(self._score_ms),
            "peak_rss_mb": round(self.peak_rss_mb, 1), "errors": self.errors[-20:],
        }


def _rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except Exception:  # pragma: no cover - psutil is a dependency of the dev install
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_key(source: str, model_digest: str, settings: MonitorSettings) -> str:
    """The run's identity: the same source, model and window settings resume the same run."""
    keyed = {k: v for k, v in settings.__dict__.items() if k not in ("realtime",)}
    text = json.dumps({"source": source, "model": model_digest, "settings": keyed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class _Track:
    """Buffered detections of one face in the current sequence (bounded by the open windows)."""

    LISTS = ("t_ms", "frame", "coords", "score", "crops")

    def __init__(self, scheme: str, label: str) -> None:
        self.scheme = scheme
        self.label = label
        self.t_ms: list[int] = []
        self.frame: list[int] = []
        self.coords: list[np.ndarray] = []
        self.score: list[float] = []
        self.crops: list[bytes | None] = []

    def trim(self, before_ms: int) -> None:
        k = int(np.searchsorted(np.asarray(self.t_ms, np.int64), before_ms, side="left"))
        if k:
            for name in self.LISTS:
                del getattr(self, name)[:k]


class Monitor:
    """Scores sources into a :class:`geopain.store.Store` (see the module docstring).

    Args:
        store: an open store.
        model_dir: a model directory written by ``geopain train`` (or a shipped one).
        settings: :class:`MonitorSettings`.
        progress: show a tqdm bar.
        on_alert: called with one line when an alert starts (default: print to stderr).
        torch_threads: torch's intra-op threads for the model (default 1: the detector already
            keeps a core busy, and more threads on two shared cores made a window 10x slower);
            ``None`` leaves torch's setting alone.
    """

    def __init__(self, store, model_dir: str | os.PathLike, settings: MonitorSettings | None = None,
                 progress: bool = True, on_alert: Callable[[str], None] | None = None,
                 torch_threads: int | None = 1):
        from ..models import PainEstimator

        if torch_threads is not None:
            import torch

            torch.set_num_threads(int(torch_threads))

        self.store = store
        self.settings = settings or MonitorSettings()
        self.settings.check()
        self.model_dir = Path(model_dir)
        self.est = PainEstimator.load(self.model_dir)
        self.scheme = self.est.scheme_
        self.species = get_scheme(self.scheme).species
        if self.settings.threshold is None:
            self.settings.threshold = default_threshold(self.est.task, tuple(self.est.score_range_), self.scheme)
        self.model_version_id = store.model_version(self.model_dir)
        self.progress = progress
        self.on_alert = on_alert or (lambda line: print(line, file=sys.stderr, flush=True))
        self._detector = None
        self.win_ms = int(round(self.settings.window_s * 1000))
        self.step_ms = int(round(self.settings.step_s * 1000))
        self._announced: set[tuple[int, int, int]] = set()
        self._warm_up()

    def _warm_up(self) -> None:
        """Load the detector and run the model once on the scheme's template face (its output is
        discarded), so the first window of a live stream does not stall on imports."""
        self.detector.detect(np.zeros((64, 64, 3), np.uint8))
        face = get_scheme(self.scheme).template * 100 + 200  # the scheme's neutral face, in "pixels"
        self.est.predict_sequences([LandmarkSequence(coords=np.stack([face, face]).astype(np.float32),
                                                     scheme=self.scheme, subject="warm-up")])

    # -- set-up ----------------------------------------------------------------------------
    @property
    def detector(self):
        if self._detector is None:
            name = self.settings.detector or default_detector(self.species, self.scheme)
            if name not in DETECTORS:
                DETECTORS.get(name)  # raises the "unknown detector" error
            self._detector = create(name, **resolve_detector_kwargs(name, self.species, self.scheme, {}))
        return self._detector

    def close(self) -> None:
        if self._detector is not None:
            self._detector.close()
            self._detector = None

    # -- the loop --------------------------------------------------------------------------
    def run(self, source: Source, source_name: str | None = None, max_seconds: float | None = None) -> tuple[int, dict]:
        """Monitor ``source`` until it ends (or ``max_seconds`` of wall time); returns
        ``(run id, stats)``. Interrupting (Ctrl-C) stores what is complete and marks the run stopped."""
        from ..store import file_digest

        name = source_name or source.description
        digest = file_digest([self.model_dir / "config.json", *sorted(self.model_dir.glob("*.safetensors"))])
        settings = {**self.settings.__dict__, "model": str(self.model_dir.resolve()), "scheme": self.scheme,
                    "task": self.est.task}
        run_id, resumed = self.store.open_run(run_key(name, digest, self.settings), name, source.kind,
                                              self.model_version_id, settings)
        stats = MonitorStats()
        t0 = time.perf_counter()
        deadline = None if max_seconds is None else t0 + max_seconds
        status = "finished"
        try:
            for seq in source.sequences(self.store.done_sequences(run_id)):
                if deadline is not None and time.perf_counter() > deadline:
                    status = "stopped"
                    break
                try:
                    self._run_sequence(run_id, seq, stats, deadline)
                except GeopainError as exc:  # one bad file never loses the rest
                    stats.errors.append(f"{seq.name}: {exc}")
                    print(f"skipped: {seq.name}: {exc}", file=sys.stderr)
                finally:
                    seq.close()
                stats.wall_seconds = time.perf_counter() - t0
                self.store.save_stats(run_id, {**stats.as_dict(), "resumed": resumed})
            if deadline is not None and time.perf_counter() > deadline:
                status = "stopped"
        except KeyboardInterrupt:
            status = "stopped"
            raise
        finally:
            stats.wall_seconds = time.perf_counter() - t0
            stats.peak_rss_mb = max(stats.peak_rss_mb, _rss_mb())
            out = {**stats.as_dict(), "resumed": resumed}
            self.store.finish_run(run_id, status, out)
        return run_id, out

    def _run_sequence(self, run_id: int, seq: Sequence, stats: MonitorStats, deadline: float | None) -> None:
        from tqdm.auto import tqdm

        from ..store import AlertSettings

        if isinstance(seq, _Broken):
            seq.frames()
            raise GeopainError(seq.error)
        state = self.store.open_sequence(run_id, seq.name, seq.kind, seq.fps, seq.n_frames)
        if state.done and not seq.live:
            return
        if isinstance(seq, CameraSequence):
            seq.origin_at = state.origin_at
        alerts = AlertSettings(float(self.settings.threshold), int(round(self.settings.alert_after_s * 1000)))
        tracker = IoUTracker()
        _load_tracker(tracker, state.tracker)
        next_k = state.resume_ms // self.step_ms
        tracks: dict[int, _Track] = {}
        processed_t: list[int] = []  # times of processed frames (for the window frame counts)
        dropped_t: list[int] = []  # times of frames that were dropped to keep up
        checkpoints: dict[int, dict] = {}  # window index -> tracker state before its first frame
        total = None
        if seq.n_frames and seq.fps and not seq.live:
            total = max(0, seq.n_frames - int(state.resume_ms * seq.fps / 1000))
        bar = tqdm(total=total, unit="frame", desc=f"monitor {seq.name}"[:40], disable=not self.progress,
                   smoothing=0.1, mininterval=1.0)
        last_t = None
        size = None
        try:
            for frame in seq.frames(state.resume_ms):
                stats.frames_read += 1 + frame.dropped
                stats.frames_dropped += frame.dropped
                if frame.dropped:
                    dropped_t.extend([frame.t_ms] * frame.dropped)
                # windows that end at or before this frame are complete
                while frame.t_ms >= next_k * self.step_ms + self.win_ms:
                    self._flush(run_id, state.id, seq, next_k, tracks, processed_t, dropped_t, tracker,
                                checkpoints, stats, alerts, done=False, image_size=size)
                    next_k += 1
                k_here = frame.t_ms // self.step_ms
                if k_here not in checkpoints:
                    checkpoints[k_here] = _tracker_state(tracker)
                if frame.image is not None:
                    size = frame.image.shape[1], frame.image.shape[0]
                self._process(frame, tracker, tracks, stats, seq)
                processed_t.append(frame.t_ms)
                last_t = frame.t_ms
                stats.media_seconds = max(stats.media_seconds, frame.t_ms / 1000)
                bar.update(1 + frame.dropped)
                if stats.frames_processed % 50 == 0:
                    stats.peak_rss_mb = max(stats.peak_rss_mb, _rss_mb())
                    bar.set_postfix(dropped=stats.frames_dropped, refresh=False)
                if deadline is not None and time.perf_counter() > deadline:
                    break
            else:
                # the end of the sequence: the windows that started before its last frame
                while last_t is not None and next_k * self.step_ms <= last_t:
                    self._flush(run_id, state.id, seq, next_k, tracks, processed_t, dropped_t, tracker, checkpoints,
                                stats, alerts, done=False, image_size=size)
                    next_k += 1
                self.store.write_batch(run_id, state.id, seq.name, self.model_version_id, [],
                                       next_k * self.step_ms, _tracker_state(tracker), alerts, done=not seq.live)
        finally:
            bar.close()

    def _process(self, frame: Frame, tracker, tracks: dict[int, _Track], stats: MonitorStats, seq: Sequence) -> None:
        t = time.perf_counter()
        if frame.landmarks is not None:  # a landmark table: faces and their ids are given
            faces = frame.landmarks
        else:
            found = self.detector.detect(frame.image)
            ids = tracker.update(np.array([f.box for f in found]).reshape(-1, 4))
            faces = [(int(fid), f.coords, f.score, self.detector.scheme, f"{seq.name}#face{int(fid)}",
                      f.box if self.settings.snapshots else None) for f, fid in zip(found, ids)]
        stats._detect_ms.append((time.perf_counter() - t) * 1000)
        for fid, coords, score, scheme, label, box in faces:
            tr = tracks.get(fid)
            if tr is None:
                tr = tracks[fid] = _Track(scheme, label)
            tr.t_ms.append(frame.t_ms)
            tr.frame.append(frame.index)
            tr.coords.append(coords)
            tr.score.append(score)
            tr.crops.append(_crop_jpeg(frame.image, box) if box is not None and frame.image is not None else None)
        stats.frames_processed += 1
        stats.frames_with_face += bool(faces)
        stats._lag_ms.append((time.perf_counter() - frame.captured_at) * 1000)

    def _flush(self, run_id: int, seq_id: int, seq: Sequence, k: int, tracks: dict[int, _Track],
               processed_t: list[int], dropped_t: list[int], tracker, checkpoints: dict[int, dict],
               stats: MonitorStats, alerts, done: bool, image_size=None) -> None:
        """Score and store window ``k`` of every face seen in it; move the resume point to ``k + 1``."""
        start, end = k * self.step_ms, k * self.step_ms + self.win_ms
        pt = np.asarray(processed_t, np.int64)
        n_processed = int(((pt >= start) & (pt < end)).sum())
        dt = np.asarray(dropped_t, np.int64)
        n_skipped = int(((dt >= start) & (dt < end)).sum())
        records, to_score = [], []
        for fid in sorted(tracks):
            tr = tracks[fid]
            t = np.asarray(tr.t_ms, np.int64)
            sel = np.flatnonzero((t >= start) & (t < end))
            if not len(sel):
                continue
            rec, seq_obj = self._window(seq, fid, tr, sel, start, end, n_processed, n_skipped, image_size)
            records.append(rec)
            if seq_obj is not None:
                to_score.append((rec, seq_obj))
        if to_score:
            t0 = time.perf_counter()
            self._score(to_score)
            stats._score_ms.append((time.perf_counter() - t0) * 1000)
        stats.windows_scored += sum(r.status == "scored" for r in records)
        stats.windows_abstained += sum(r.status != "scored" for r in records)
        resume_k = k + 1
        state = checkpoints.get(resume_k)
        if state is None:  # no frame of window k + 1 was processed yet: the tracker is as it is now
            state = _tracker_state(tracker)
        res = self.store.write_batch(run_id, seq_id, seq.name, self.model_version_id, records, resume_k * self.step_ms,
                                     state, alerts, done=done)
        stats.windows_new += res.new_windows
        for b in res.alerts:
            key = (seq_id, b["face_id"], b["start_ms"])
            if b["open"] and key not in self._announced:
                self._announced.add(key)
                stats.alerts_started += 1
                self.on_alert(f"ALERT {seq.name}#face{b['face_id']}: score above {alerts.threshold:g} since "
                              f"{b['start_ms'] / 1000:.1f} s (peak {b['peak']:.3g} at {b['end_ms'] / 1000:.1f} s)")
        # forget what no open window needs
        keep_from = (k + 1) * self.step_ms
        for tr in tracks.values():
            tr.trim(keep_from)
        for lst in (processed_t, dropped_t):
            cut = int(np.searchsorted(np.asarray(lst, np.int64), keep_from, side="left"))
            del lst[:cut]
        for kk in [kk for kk in checkpoints if kk <= k]:
            del checkpoints[kk]

    def _window(self, seq: Sequence, fid: int, tr: _Track, sel: np.ndarray, start: int, end: int, n_processed: int,
                n_skipped: int, image_size):
        """The record of one face's window and, when it can be scored, its landmark sequence."""
        from ..store import WindowRecord

        label = tr.label
        coords = np.stack([tr.coords[i] for i in sel])
        frames = np.asarray(tr.frame, np.int64)[sel]
        t = np.asarray(tr.t_ms, np.int64)[sel]
        lseq = LandmarkSequence(coords=coords, scheme=tr.scheme, frames=frames, timestamps=t / 1000.0,
                                fps=seq.fps, frame_confidence=np.asarray(tr.score, np.float32)[sel], subject=label,
                                sequence=f"{label}@{start}", face_id=fid,
                                dims=3 if np.isfinite(coords[..., 2]).any() else 2, units="px")
        if lseq.scheme != self.scheme:
            lseq = convert_sequence(lseq, self.scheme)
        mid = int(np.argmin(np.abs(t - (start + end) / 2)))
        n_face = int(len(sel))
        need = max(1, int(np.ceil(self.settings.min_face_fraction * max(n_processed, 1))))
        rec = WindowRecord(face_id=fid, label=label, start_ms=start, end_ms=end, n_processed=n_processed,
                           n_face=n_face, n_skipped=n_skipped, value=float("nan"), status="abstained",
                           landmarks=lseq.coords[mid], landmark_frame=int(frames[mid]), landmark_ms=int(t[mid]),
                           scheme=self.scheme, image_size=image_size,
                           snapshot=tr.crops[int(sel[mid])] if self.settings.snapshots else None)
        if n_face < need:
            rec.reason = (f"face found in {n_face} of {n_processed} processed frames "
                          f"(needs {self.settings.min_face_fraction:.0%})")
            return rec, None
        problem = self.est.reference_problem([lseq])
        if problem is not None:
            rec.reason = " ".join(str(problem).split())
            return rec, None
        return rec, lseq

    def _score(self, items: list) -> None:
        """One model call for every window ready at this step (all faces together).

        A window's score is the mean over its frames the model scored; frames it abstained on
        (the ``status``/``reason`` of :func:`geopain.models.abstention.frame_status`: occluded
        units, low detector confidence, extreme pose, out of distribution) do not count, and
        a window where the model scored fewer than ``min_face_fraction`` of the face frames is
        stored as abstained with the most frequent reason.
        """
        import pandas as pd

        seqs = [s for _, s in items]
        df = self.est.predict_frames(seqs)
        task = self.est.task
        col = "p_1" if task == "binary" else "expected_level" if task == "levels" else "prediction"
        value = df[col].to_numpy(np.float64)
        found = df["face_found"].to_numpy(bool)
        status = df["status"].astype(str).to_numpy() if "status" in df else np.where(found, "scored", "no face")
        reason = df["reason"].to_numpy(object) if "reason" in df else np.full(len(df), None, object)
        ok = (status == "scored") & np.isfinite(value)
        probs = [c for c in df.columns if c.startswith("p_")]
        frame = pd.DataFrame({"sequence": df["sequence"].astype(str), "ok": ok, "face": found,
                              "value": np.where(ok, value, np.nan)})
        for c in probs:
            frame[c] = np.where(ok, df[c].to_numpy(np.float64), np.nan)
        g = frame.groupby("sequence", sort=False)
        agg = g[["value", *probs]].mean().join(g[["ok", "face"]].sum())
        bad = pd.DataFrame({"sequence": frame["sequence"], "reason": reason})[found & ~ok]
        top_reason = (bad.dropna().groupby("sequence")["reason"].agg(lambda r: r.value_counts().index[0])
                      if len(bad) else pd.Series(dtype=object))
        for rec, s in items:
            if s.sequence not in agg.index:
                rec.reason = "the model returned no prediction"
                continue
            row = agg.loc[s.sequence]
            n_ok, n_face = int(row["ok"]), int(row["face"])
            need = max(1, int(np.ceil(self.settings.min_face_fraction * max(n_face, 1))))
            if n_ok < need:
                why = top_reason.get(s.sequence, "no frame the model could use")
                rec.reason = f"model abstained on {n_face - n_ok} of {n_face} face frames: {why}"
                continue
            rec.value = float(row["value"])
            rec.status = "scored"
            rec.probs = {c: float(row[c]) for c in probs} or None


def _tracker_state(tracker) -> dict:
    return {"boxes": np.asarray(tracker._boxes, np.float64).round(3).tolist(), "ids": list(map(int, tracker._ids)),
            "age": list(map(int, tracker._age)), "next_id": int(tracker.next_id)}


def _load_tracker(tracker, state: dict | None) -> None:
    if not state:
        return
    tracker._boxes = np.asarray(state["boxes"], np.float64).reshape(-1, 4)
    tracker._ids = [int(i) for i in state["ids"]]
    tracker._age = [int(a) for a in state["age"]]
    tracker.next_id = int(state["next_id"])


def _crop_jpeg(image: np.ndarray, box: np.ndarray, margin: float = 0.2, side: int = 160) -> bytes | None:
    """A small JPEG of the face box (only with ``--snapshots``)."""
    import cv2

    h, w = image.shape[:2]
    x0, y0, x1, y1 = np.asarray(box, np.float64)
    if not np.isfinite([x0, y0, x1, y1]).all():
        return None
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    xa, ya = int(max(0, x0 - mx)), int(max(0, y0 - my))
    xb, yb = int(min(w, x1 + mx)), int(min(h, y1 + my))
    if xb - xa < 2 or yb - ya < 2:
        return None
    crop = image[ya:yb, xa:xb, ::-1]
    scale = side / max(crop.shape[:2])
    crop = cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale))))
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return buf.tobytes() if ok else None
