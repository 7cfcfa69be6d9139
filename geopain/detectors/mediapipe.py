"""MediaPipe FaceMesh: 468 points with z, fully offline (models ship in the 0.10.14 wheel).

The full-range face detector (``FaceDetection(model_selection=1)``) runs first so small
faces in wide shots are found; FaceMesh then runs on an enlarged crop around each face.
x, y are pixels of the source image; FaceMesh's relative z is scaled to pixels like x
(z grows away from the camera, as MediaPipe defines it).
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings

import numpy as np

from ..errors import GeopainError
from .base import Detector, FaceDetection, box_of


@contextlib.contextmanager
def _native_stderr_silenced():
    """File descriptor 2 to /dev/null for a moment: MediaPipe's TFLite/absl start-up lines
    ("Created TensorFlow Lite XNNPACK delegate", "Feedback manager requires a model ...") are
    written by C++ threads straight to the descriptor, past ``GLOG_minloglevel`` and
    ``sys.stderr``. Python exceptions still propagate; nothing else writes in between."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real descriptor 2 (embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _import_mediapipe():
    try:
        import mediapipe as mp  # noqa: F401
        from mediapipe.python.solutions import face_detection, face_mesh
    except Exception as exc:  # ImportError, or a protobuf clash
        raise GeopainError(f"the mediapipe detector needs 'mediapipe==0.10.14' (pip install 'geopain[mediapipe]'): {exc}") from None
    return mp, face_detection, face_mesh


_FIELDS = np.array([3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15, 16])
_TAGS = np.array([0x0A, 0x0F, 0x0D, 0x15, 0x1D], np.uint8)


def _landmarks_array(lm) -> np.ndarray:
    """``(K, 3)`` float32 x, y, z of a ``NormalizedLandmarkList`` without a per-point Python loop.

    Each landmark serialises as 17 bytes (x, y, z as fixed32); the layout is verified and
    the attribute loop is used whenever it differs (e.g. visibility fields present).
    """
    raw = np.frombuffer(lm.SerializeToString(), np.uint8)
    if raw.size == 17 * len(lm.landmark):
        rows = raw.reshape(-1, 17)
        if (rows[:, [0, 1, 2, 7, 12]] == _TAGS).all():
            return rows[:, _FIELDS].copy().view("<f4").reshape(-1, 3).astype(np.float32)
    return np.array([(p.x, p.y, p.z) for p in lm.landmark], dtype=np.float32)


class MediaPipeDetector(Detector):
    """FaceMesh (468 points, 3D) behind the full-range face detector.

    Args:
        max_faces: most faces returned per image.
        min_score: face detector threshold.
        crop_margin: the face box is enlarged by this fraction on each side before FaceMesh.
        full_range: run the full-range detector first (else FaceMesh's own short-range one).
        refine: FaceMesh's attention model (adds iris points; still 468 are returned).
    """

    name = "mediapipe"
    dims = 3
    scheme = "human/mediapipe468"

    def __init__(self, max_faces: int = 20, min_score: float = 0.5, crop_margin: float = 0.3,
                 full_range: bool = True, refine: bool = False, max_side: int | None = 1920, min_side: int = 64):
        super().__init__(max_side=max_side, min_side=min_side)
        mp, fd, fm = _import_mediapipe()
        self._mp = mp
        self.max_faces = int(max_faces)
        self.min_score = float(min_score)
        self.crop_margin = float(crop_margin)
        self.full_range = bool(full_range)
        with _native_stderr_silenced(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*SymbolDatabase.GetPrototype.*")
            self._face = fd.FaceDetection(model_selection=1, min_detection_confidence=self.min_score) if full_range else None
            self._mesh = fm.FaceMesh(static_image_mode=True, max_num_faces=1 if full_range else self.max_faces,
                                     refine_landmarks=refine, min_detection_confidence=0.3)
            # the graphs' threads print their start-up lines when they first run: run them here, silenced
            blank = np.zeros((64, 64, 3), np.uint8)
            for graph in (self._face, self._mesh):
                if graph is not None:
                    graph.process(blank)

    @property
    def version(self) -> str:
        return f"mediapipe {self._mp.__version__} FaceMesh+FaceDetection(full range)"

    def _boxes(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        h, w = image.shape[:2]
        res = self._face.process(image)
        out = []
        for d in res.detections or []:
            bb = d.location_data.relative_bounding_box
            box = np.array([bb.xmin * w, bb.ymin * h, (bb.xmin + bb.width) * w, (bb.ymin + bb.height) * h], np.float32)
            out.append((box, float(d.score[0])))
        out.sort(key=lambda b: -b[1])
        return out[: self.max_faces]

    def _mesh_points(self, crop: np.ndarray) -> list[np.ndarray]:
        res = self._mesh.process(crop)
        return [_landmarks_array(lm)[:468] for lm in res.multi_face_landmarks or []]

    def _detect(self, image: np.ndarray) -> list[FaceDetection]:
        with warnings.catch_warnings():  # protobuf's deprecation of a call MediaPipe makes on every image
            warnings.filterwarnings("ignore", message=".*SymbolDatabase.GetPrototype.*")
            return self._detect_faces(image)

    def _detect_faces(self, image: np.ndarray) -> list[FaceDetection]:
        h, w = image.shape[:2]
        if not self.full_range:
            return [self._face_from(p, 0, 0, w, h, float("nan")) for p in self._mesh_points(image)]
        found = []
        for box, score in self._boxes(image):
            bw, bh = box[2] - box[0], box[3] - box[1]
            side = max(bw, bh) * (1 + 2 * self.crop_margin)
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            x0, y0 = int(max(0, np.floor(cx - side / 2))), int(max(0, np.floor(cy - side / 2)))
            x1, y1 = int(min(w, np.ceil(cx + side / 2))), int(min(h, np.ceil(cy + side / 2)))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            crop = np.ascontiguousarray(image[y0:y1, x0:x1])
            pts = self._mesh_points(crop)
            if pts:
                found.append(self._face_from(pts[0], x0, y0, x1 - x0, y1 - y0, score))
        return found

    @staticmethod
    def _face_from(pts: np.ndarray, x0: int, y0: int, cw: int, ch: int, score: float) -> FaceDetection:
        coords = np.empty_like(pts)
        coords[:, 0] = pts[:, 0] * cw + x0
        coords[:, 1] = pts[:, 1] * ch + y0
        coords[:, 2] = pts[:, 2] * cw  # MediaPipe scales z like x
        return FaceDetection(coords=coords, confidence=None, box=box_of(coords), score=score)

    def close(self) -> None:
        for graph in (self._face, self._mesh):
            if graph is not None:
                graph.close()
        self._face = self._mesh = None
