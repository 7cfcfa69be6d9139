"""dlib: HOG face detector and the 68-point shape predictor of ``face-recognition-models``."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import GeopainError, MissingWeightsError
from .base import Detector, FaceDetection


def predictor_path() -> Path:
    """Where ``shape_predictor_68_face_landmarks.dat`` lies (found without importing the package)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MissingWeightsError(
            "the dlib detector needs 'face-recognition-models' (pip install 'geopain[dlib]'), "
            "which ships shape_predictor_68_face_landmarks.dat")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise MissingWeightsError(f"{path}: dlib's 68-point predictor is missing; reinstall face-recognition-models")
    return path


class DlibDetector(Detector):
    """HOG face detector + 68-point predictor (iBUG 68, 2D).

    Args:
        upsample: times the image is upsampled before HOG (1 finds faces down to ~40 px).
        min_score: HOG score threshold (dlib's ``adjust_threshold``).
    """

    name = "dlib"
    dims = 2
    scheme = "human/ibug68"

    def __init__(self, upsample: int = 1, min_score: float = 0.0, max_side: int | None = 1600, min_side: int = 80):
        super().__init__(max_side=max_side, min_side=min_side)
        try:
            import dlib
        except ImportError as exc:
            raise GeopainError(f"the dlib detector needs dlib (pip install 'geopain[dlib]'): {exc}") from None
        self._dlib = dlib
        self.upsample = int(upsample)
        self.min_score = float(min_score)
        self._hog = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(predictor_path()))

    @property
    def version(self) -> str:
        return f"dlib {self._dlib.__version__} HOG+shape_predictor_68"

    def _detect(self, image: np.ndarray) -> list[FaceDetection]:
        rects, scores, _ = self._hog.run(image, self.upsample, self.min_score)
        faces = []
        for rect, score in zip(rects, scores):
            shape = self._predictor(image, rect)
            xy = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
            box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], np.float32)
            # HOG margin mapped to (0, 1) so it reads as a score
            faces.append(FaceDetection(coords=xy, confidence=None, box=box, score=float(1 / (1 + np.exp(-score)))))
        return faces
