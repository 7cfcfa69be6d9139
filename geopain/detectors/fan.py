"""face-alignment (FAN, Bulat & Tzimiropoulos 2017): 68 points, 2D or 3D.

Weights come only from the torch hub checkpoints folder
(``$TORCH_HOME/hub/checkpoints``); geopain never downloads them. When they are missing a
:class:`~geopain.errors.MissingWeightsError` names the exact files and the folder.
CPU-sane defaults: ``device="cpu"``, ``compile=False``, ``flip_input=False``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import GeopainError, MissingWeightsError
from .base import Detector, FaceDetection, box_of

#: The files face-alignment 1.5 loads, by role.
FAN_FILES = {
    "2d": "2DFAN4-11f355bf06.pth.tar",
    "3d": "3DFAN4-7835d9f11d.pth.tar",
    "depth": "depth-2a464da4ea.pth.tar",
    "sfd": "s3fd-619a316812.pth",
}


def checkpoints_dir() -> Path:
    """``torch.hub.get_dir()/checkpoints`` (follows ``$TORCH_HOME``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def required_files(dims: int = 2, face_detector: str = "dlib") -> list[str]:
    files = [FAN_FILES["2d"]] if dims == 2 else [FAN_FILES["3d"], FAN_FILES["depth"]]
    if face_detector == "sfd":
        files.append(FAN_FILES["sfd"])
    return files


def check_weights(dims: int = 2, face_detector: str = "dlib") -> Path:
    """Raise :class:`MissingWeightsError` unless every weight file is in the checkpoints folder."""
    folder = checkpoints_dir()
    missing = [f for f in required_files(dims, face_detector) if not (folder / f).is_file()]
    if missing:
        raise MissingWeightsError(
            f"face-alignment weights missing: place {', '.join(missing)} in {folder} "
            f"(from https://www.adrianbulat.com/downloads/python-fan/; set TORCH_HOME to use another folder)")
    return folder


def _without_numba() -> None:
    """Run face-alignment's small numba helpers (heatmap peaks, point transforms) as plain Python.

    They are compiled on first use in every process without a cache (~15 s on two cores), while
    their plain-Python cost is a few ms per face next to the network's hundreds of ms.
    """
    import face_alignment.api as api
    import face_alignment.utils as utils

    for name in dir(utils):
        obj = getattr(utils, name)
        py = getattr(obj, "py_func", None)
        if callable(py) and type(obj).__module__.startswith("numba"):
            setattr(utils, name, py)
            if getattr(api, name, None) is obj:
                setattr(api, name, py)


class FANDetector(Detector):
    """FAN 68-point landmarks (iBUG 68) with the library's own face detector.

    Args:
        dims: 2 (2DFAN4) or 3 (3DFAN4 + depth network; z in pixels).
        face_detector: ``"dlib"`` (HOG, no weights), ``"sfd"`` (needs ``s3fd`` weights), or any
            other face-alignment detector module name.
        device, compile, flip_input: passed to ``face_alignment.FaceAlignment``.
        jit: keep face-alignment's numba-compiled helpers (default False: see :func:`_without_numba`).
    """

    name = "face-alignment"
    scheme = "human/ibug68"

    def __init__(self, dims: int = 2, face_detector: str = "dlib", device: str = "cpu", compile: bool = False,
                 flip_input: bool = False, jit: bool = False, max_side: int | None = 1600, min_side: int = 80):
        super().__init__(max_side=max_side, min_side=min_side)
        if dims not in (2, 3):
            raise GeopainError(f"face-alignment: dims must be 2 or 3, got {dims}")
        try:
            import face_alignment
        except ImportError as exc:
            raise GeopainError(f"the face-alignment detector needs 'face-alignment' (pip install 'geopain[fan]'): {exc}") from None
        check_weights(dims, face_detector)
        if not jit:
            _without_numba()
        self.dims = dims
        self.face_detector = face_detector
        self._fa_version = getattr(face_alignment, "__version__", "unknown")
        kind = face_alignment.LandmarksType.TWO_D if dims == 2 else face_alignment.LandmarksType.THREE_D
        os.environ.setdefault("TORCH_HOME", str(checkpoints_dir().parent.parent))
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the dlib detector warns it is deprecated
            self._fa = face_alignment.FaceAlignment(kind, device=device, flip_input=flip_input,
                                                    face_detector=face_detector, compile=compile)

    @property
    def version(self) -> str:
        return f"face-alignment {self._fa_version} {'2DFAN4' if self.dims == 2 else '3DFAN4'}+{self.face_detector}"

    def _detect(self, image: np.ndarray) -> list[FaceDetection]:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "No faces were detected."
            boxes = self._fa.face_detector.detect_from_image(image.copy())
            if len(boxes) == 0:
                return []
            pts, scores, boxes = self._fa.get_landmarks_from_image(
                image, detected_faces=boxes, return_bboxes=True, return_landmark_score=True)
        faces = []
        for p, s, b in zip(pts or [], scores or [], boxes or []):
            p = np.asarray(p, np.float32)
            conf = np.clip(np.asarray(s, np.float32).reshape(-1), 0, 1)
            box = np.asarray(b[:4], np.float32)
            score = float(b[4]) if len(b) > 4 else float(np.nanmean(conf))
            if not np.isfinite(box).all():
                box = box_of(p)
            faces.append(FaceDetection(coords=p, confidence=conf, box=box, score=score))
        return faces
