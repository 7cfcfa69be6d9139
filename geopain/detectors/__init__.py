"""Landmark detectors behind one interface, with a capabilities table.

``create(name, **kw)`` builds a :class:`~geopain.detectors.base.Detector`;
``capabilities()`` says what each one detects (points, 2D/3D, scheme, species) and where its
weights come from; ``default_detector(species)`` picks one for a species.

=============== ======== ===== ============ ==========================================
name            points   dims  scheme       weights
=============== ======== ===== ============ ==========================================
mediapipe       468      3     mediapipe468 ship inside the mediapipe 0.10.14 wheel
face-alignment  68       2/3   ibug68       $TORCH_HOME/hub/checkpoints (pre-placed)
dlib            68       2     ibug68       face-recognition-models package
yolo-pose       adapter  2     any w/ yolo: trained with ``geopain detector train``
=============== ======== ===== ============ ==========================================
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
from typing import Any

from ..errors import GeopainError
from ..registry import Registry
from ..species import default_scheme, get_scheme, list_schemes
from .base import Detector, FaceDetection
from .dlib import DlibDetector
from .fan import FANDetector
from .mediapipe import MediaPipeDetector
from .yolo import YoloPoseDetector

DETECTORS: Registry[Detector] = Registry("detector")


@DETECTORS.register("mediapipe", detects="human faces", points=468, dims="3D (z in pixels)", scheme="human/mediapipe468",
                    species=("human",), default_for=("human",), package="mediapipe",
                    weights="shipped inside the mediapipe 0.10.14 wheel (FaceMesh + full-range face detector)",
                    converts_to="human/ibug68")
def _mediapipe(**kw: Any) -> Detector:
    return MediaPipeDetector(**kw)


@DETECTORS.register("face-alignment", detects="human faces", points=68, dims="2D or 3D (dims=3)", scheme="human/ibug68",
                    species=("human",), default_for=(), package="face_alignment",
                    weights="2DFAN4/3DFAN4/depth (.pth.tar) pre-placed in $TORCH_HOME/hub/checkpoints; never downloaded")
def _fan(**kw: Any) -> Detector:
    return FANDetector(**kw)


@DETECTORS.register("dlib", detects="human faces", points=68, dims="2D", scheme="human/ibug68",
                    species=("human",), default_for=(), package="dlib",
                    weights="shape_predictor_68_face_landmarks.dat from the face-recognition-models package")
def _dlib(**kw: Any) -> Detector:
    return DlibDetector(**kw)


@DETECTORS.register("yolo-pose", detects="faces of any scheme whose adapter has a 'yolo:' section", points="scheme",
                    dims="2D", scheme="any with yolo:", species="any", default_for=(), package="ultralytics",
                    weights="trained with 'geopain detector train' (YOLOv8n-pose), given with --weights", takes_scheme=True)
def _yolo(**kw: Any) -> Detector:
    return YoloPoseDetector(**kw)


def create(name: str, **kw: Any) -> Detector:
    """Build detector ``name`` (see :func:`capabilities`) with its keyword options."""
    return DETECTORS.create(name, **kw)


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _version(package: str) -> str:
    dist = {"face_alignment": "face-alignment", "dlib": "dlib-bin"}.get(package, package)
    for d in (dist, package):
        try:
            return importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "-"


def capabilities() -> list[dict[str, Any]]:
    """One row per detector: name, detects, points, dims, scheme, weights, installed, version."""
    rows = []
    for name in DETECTORS.names():
        info = DETECTORS.info(name)
        pkg = info.pop("package")
        info.pop("default_for", None)
        info.pop("takes_scheme", None)
        rows.append({"name": name, **info, "installed": _installed(pkg), "version": _version(pkg) if _installed(pkg) else "-"})
    return rows


def default_detector(species: str, scheme: str | None = None) -> str:
    """The detector used when none is named: a human default, else YOLO pose where the scheme has ``yolo:``."""
    for name in DETECTORS.names():
        if species in DETECTORS.info(name).get("default_for", ()):
            return name

    key = scheme or default_scheme(species)
    if get_scheme(key).yolo:
        return "yolo-pose"
    raise GeopainError(f"no detector for species {species!r}: name one with --detector "
                       f"(known: {', '.join(DETECTORS.names())}; schemes: {', '.join(list_schemes())})")


__all__ = ["DETECTORS", "Detector", "FaceDetection", "capabilities", "create", "default_detector"]
