"""Where the monitor's frames come from: a video file, a stream, a camera, one image, a folder.

A source yields *sequences* (a video file, a camera, an image); each sequence yields
:class:`Frame` objects from a resume point in milliseconds. Files are read frame by frame
(every ``stride``-th frame, deterministic, resumable by seeking). Live sequences (a camera,
or a video file played as a stream with ``realtime=True``) are read by a background thread
into a one-frame slot: when processing is slower than the source, the older frame is
replaced and counted as dropped, so the lag never exceeds one frame plus one processing
step, whatever the length of the stream.
"""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError
from ..media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, iter_video, media_kind, read_image, video_info


@dataclass
class Frame:
    """One frame: ``index`` in the source, ``t_ms`` its time, ``image`` RGB uint8 ``(H, W, 3)``,
    ``captured_at`` (``time.perf_counter()`` when it was read) and ``dropped`` (frames of
    the source replaced before this one could be processed, because processing was behind).
    Frames of a landmark table carry no image but ``landmarks``: one
    ``(face_id, coords (N, 3), score, scheme, label, None)`` per face found."""

    index: int
    t_ms: int
    image: np.ndarray | None
    captured_at: float
    dropped: int = 0
    landmarks: list | None = None


class Sequence:
    """One stream of frames with a name (the unit of resume)."""

    name: str
    kind: str  # "video", "stream", "camera", "image"
    fps: float | None = None
    n_frames: int | None = None
    live: bool = False

    def frames(self, start_ms: int = 0) -> Iterator[Frame]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Stop background readers."""


class VideoFileSequence(Sequence):
    """Every ``stride``-th frame of a video file, as fast as processing allows."""

    kind = "video"

    def __init__(self, path: str | os.PathLike, name: str | None = None, stride: int = 1):
        self.path = Path(path)
        info = video_info(self.path)
        self.fps = float(info.fps) if info.fps else 25.0
        self.n_frames = int(info.n_frames) or None
        self.stride = max(1, int(stride))
        self.name = name or self.path.name

    def frames(self, start_ms: int = 0) -> Iterator[Frame]:
        start = math.ceil(start_ms * self.fps / 1000 - 1e-6)
        start = -(-start // self.stride) * self.stride  # on the stride grid counted from frame 0
        for index, _t, image in iter_video(self.path, stride=self.stride, start=start):
            yield Frame(index, int(round(index * 1000 / self.fps)), image, time.perf_counter())


class _LatestSlot:
    """A one-frame mailbox: ``put`` replaces an unread frame (counted as dropped)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._dropped = 0
        self.closed = False
        self.error: BaseException | None = None

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self._dropped += 1
            self._frame = frame
            self._cond.notify()

    def close(self, error: BaseException | None = None) -> None:
        with self._cond:
            self.closed = True
            self.error = error
            self._cond.notify()

    def get(self) -> Frame | None:
        with self._cond:
            while self._frame is None and not self.closed:
                self._cond.wait(0.5)
            if self._frame is None:
                return None
            frame, self._frame = self._frame, None
            frame.dropped, self._dropped = self._dropped, 0
            return frame


class _LiveSequence(Sequence):
    live = True

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _reader(self, slot: _LatestSlot, start_ms: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def frames(self, start_ms: int = 0) -> Iterator[Frame]:
        slot = _LatestSlot()
        self._stop.clear()

        def target() -> None:
            try:
                self._reader(slot, start_ms)
                slot.close()
            except BaseException as exc:  # reported in the consumer's thread
                slot.close(exc)

        self._thread = threading.Thread(target=target, name=f"geopain-{self.kind}-reader", daemon=True)
        self._thread.start()
        try:
            while True:
                frame = slot.get()
                if frame is None:
                    break
                yield frame
            if slot.error is not None:
                raise slot.error
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None


class StreamSequence(_LiveSequence):
    """A video file played as a live stream: frame ``i`` arrives at ``i / (fps * speed)``
    seconds after the start, whether or not the monitor is ready for it (a virtual camera
    for tests and for replaying recordings in real time)."""

    kind = "stream"

    def __init__(self, path: str | os.PathLike, name: str | None = None, speed: float = 1.0):
        super().__init__()
        if speed <= 0:
            raise InputError(path, f"--speed must be > 0, got {speed}")
        self.path = Path(path)
        info = video_info(self.path)
        self.fps = float(info.fps) if info.fps else 25.0
        self.n_frames = int(info.n_frames) or None
        self.speed = float(speed)
        self.name = name or self.path.name

    def _reader(self, slot: _LatestSlot, start_ms: int) -> None:
        start = math.ceil(start_ms * self.fps / 1000 - 1e-6)
        t0 = time.perf_counter()
        period = 1.0 / (self.fps * self.speed)
        for k, (index, _t, image) in enumerate(iter_video(self.path, start=start)):
            if self._stop.is_set():
                return
            due = t0 + k * period
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            slot.put(Frame(index, int(round(index * 1000 / self.fps)), image, time.perf_counter()))


class CameraSequence(_LiveSequence):
    """A camera (``/dev/video0`` or an OpenCV device number); times are milliseconds since
    the run first opened this camera, so a restarted monitor continues the same timeline."""

    kind = "camera"

    def __init__(self, device: str, origin_at: float | None = None, max_seconds: float | None = None):
        super().__init__()
        import cv2

        self.device = device
        self.name = device
        dev: int | str = int(device) if str(device).isdigit() else str(device)
        self._cap = cv2.VideoCapture(dev)
        if not self._cap.isOpened():
            raise InputError(device, "cannot open the camera (no such device, or it is busy)")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0)
        self.fps = fps if 0 < fps < 1000 else None
        self.origin_at = origin_at
        self.max_seconds = max_seconds

    def _reader(self, slot: _LatestSlot, start_ms: int) -> None:
        origin = self.origin_at or time.time()
        began = time.time()
        index = 0
        while not self._stop.is_set():
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                raise InputError(self.device, "the camera stopped delivering frames")
            now = time.time()
            slot.put(Frame(index, int((now - origin) * 1000), np.ascontiguousarray(bgr[..., ::-1]), time.perf_counter()))
            index += 1
            if self.max_seconds is not None and now - began >= self.max_seconds:
                return

    def close(self) -> None:
        super().close()
        self._cap.release()


class ImageSequence(Sequence):
    """One image: a single frame at time 0."""

    kind = "image"

    def __init__(self, path: str | os.PathLike, name: str | None = None):
        self.path = Path(path)
        self.name = name or self.path.name
        self.n_frames = 1

    def frames(self, start_ms: int = 0) -> Iterator[Frame]:
        if start_ms <= 0:
            yield Frame(0, 0, read_image(self.path), time.perf_counter())


class TableSequence(Sequence):
    """The frames of one sequence of a landmark table (every face of it), for scoring a table
    the way a video is scored: the same windows, the same model call, no detector."""

    kind = "table"

    def __init__(self, name: str, faces: list):
        self.name = name
        self.faces = faces  # LandmarkSequence objects sharing this sequence id
        self.fps = next((float(f.fps) for f in faces if f.fps), None) or 25.0
        allf = np.unique(np.concatenate([f.frames for f in faces]))
        self.n_frames = int(len(allf))

    def frames(self, start_ms: int = 0) -> Iterator[Frame]:
        times = []
        for f in self.faces:
            ts = np.where(np.isfinite(f.timestamps), f.timestamps, f.frames / self.fps)
            times.append(np.round(ts * 1000).astype(np.int64))
        index = np.unique(np.concatenate([f.frames for f in self.faces]))
        t_of = {}
        for f, t in zip(self.faces, times):
            t_of.update(zip(f.frames.tolist(), t.tolist()))
        pos = [dict(zip(f.frames.tolist(), range(f.n_frames))) for f in self.faces]
        found = [f.face_found for f in self.faces]
        for i in index.tolist():
            t = int(t_of[i])
            if t < start_ms:
                continue
            faces = []
            for f, p, ok in zip(self.faces, pos, found):
                j = p.get(i)
                if j is not None and ok[j]:
                    faces.append((int(f.face_id), f.coords[j], float(f.frame_confidence[j]), f.scheme,
                                  f"{f.subject}#face{int(f.face_id)}" if f.subject else f"{self.name}#face{f.face_id}",
                                  None))
            yield Frame(int(i), t, None, time.perf_counter(), landmarks=faces)


class TableSource:
    """Every sequence of a landmark table (``.parquet``/``.csv`` written by ``geopain extract``)."""

    kind = "table"

    def __init__(self, path: str | os.PathLike):
        from ..io.tables import read_table

        self.path = Path(path)
        self.description = str(self.path.resolve())
        try:
            seqs = read_table(self.path)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(self.path, f"not a landmark table: {type(exc).__name__}: {exc}") from None
        groups: dict[str, list] = {}
        for s in seqs:
            groups.setdefault(s.sequence, []).append(s)
        self.groups = groups

    def sequences(self, done: set[str]) -> Iterator[Sequence]:
        for name, faces in self.groups.items():
            if name not in done:
                yield TableSequence(name, faces)


class Source:
    """What ``geopain monitor SOURCE`` reads: one or more sequences."""

    kind = "file"
    description = ""

    def sequences(self, done: set[str]) -> Iterator[Sequence]:  # pragma: no cover - abstract
        raise NotImplementedError


class SingleSource(Source):
    def __init__(self, seq: Sequence, description: str):
        self.seq = seq
        self.kind = seq.kind
        self.description = description

    def sequences(self, done: set[str]) -> Iterator[Sequence]:
        if self.seq.name not in done or self.seq.live:
            yield self.seq


class FolderSource(Source):
    """Videos and images in a folder (recursive), each once; with ``watch``, new files as they
    arrive (a file is taken once its size stopped changing between two polls) until
    ``idle_exit_s`` pass without one (``None``: until interrupted)."""

    kind = "folder"

    def __init__(self, folder: str | os.PathLike, watch: bool = False, poll_s: float = 1.0,
                 idle_exit_s: float | None = None, stride: int = 1):
        self.folder = Path(folder)
        self.watch = watch
        self.poll_s = float(poll_s)
        self.idle_exit_s = idle_exit_s
        self.stride = stride
        self.description = str(self.folder.resolve())

    def _listing(self) -> dict[str, tuple[Path, int]]:
        out = {}
        for f in sorted(self.folder.rglob("*")):
            if f.is_file() and media_kind(f) is not None and not f.name.startswith("."):
                try:
                    out[f.relative_to(self.folder).as_posix()] = (f, f.stat().st_size)
                except OSError:
                    continue
        return out

    def _open(self, name: str, path: Path) -> Sequence:
        if media_kind(path) == "video":
            return VideoFileSequence(path, name=name, stride=self.stride)
        return ImageSequence(path, name=name)

    def sequences(self, done: set[str]) -> Iterator[Sequence]:
        seen = set(done)
        sizes: dict[str, int] = {}
        last_new = time.monotonic()
        while True:
            listing = self._listing()
            for name, (path, size) in listing.items():
                if name in seen:
                    continue
                if self.watch and sizes.get(name) != size:  # still being written, or new: look again
                    sizes[name] = size
                    continue
                seen.add(name)
                last_new = time.monotonic()
                try:
                    yield self._open(name, path)
                except InputError as exc:
                    yield _Broken(name, str(exc))
            if not self.watch:
                return
            if self.idle_exit_s is not None and time.monotonic() - last_new > self.idle_exit_s:
                return
            time.sleep(self.poll_s)


class _Broken(Sequence):
    """A file that could not be opened: the monitor records the error and goes on."""

    kind = "error"

    def __init__(self, name: str, error: str):
        self.name = name
        self.error = error

    def frames(self, start_ms: int = 0) -> Iterator[Frame]:
        raise InputError(None, self.error)


def open_source(spec: str, realtime: bool = False, speed: float = 1.0, stride: int = 1, watch: bool = False,
                poll_s: float = 1.0, idle_exit_s: float | None = None, max_seconds: float | None = None) -> Source:
    """The source named by ``spec``: ``/dev/videoN`` or a device number (camera), a folder,
    a video file (``realtime``: played as a live stream at ``speed`` x its frame rate), an
    image, or a landmark table (``.parquet``/``.csv``)."""
    text = str(spec)
    if text.startswith("/dev/video") or text.isdigit():
        return SingleSource(CameraSequence(text, max_seconds=max_seconds), text)
    p = Path(text)
    if p.suffix.lower() in (".parquet", ".csv") and p.is_file():
        return TableSource(p)
    if p.is_dir():
        return FolderSource(p, watch=watch, poll_s=poll_s, idle_exit_s=idle_exit_s, stride=stride)
    if not p.exists():
        raise InputError(p, "no such file, folder or camera")
    kind = media_kind(p)
    if kind == "video":
        seq = StreamSequence(p, speed=speed) if realtime else VideoFileSequence(p, stride=stride)
        return SingleSource(seq, str(p.resolve()))
    if kind == "image":
        return SingleSource(ImageSequence(p), str(p.resolve()))
    raise InputError(p, f"not a video ({', '.join(sorted(VIDEO_EXTENSIONS))}), an image "
                        f"({', '.join(sorted(IMAGE_EXTENSIONS))}), a folder or a camera")
