"""Ultralytics YOLO pose models (YOLOv8n-pose) for any scheme whose adapter has a ``yolo:`` section.

A model's keypoints must match the scheme: the count (``kpt_shape``) and, where the model
records it, the left/right flip order (``flip_idx``) derived from the adapter's mirror pairs.
:func:`train_yolo_pose` trains one offline from scratch (``yolov8n-pose.yaml``) or from
given weights, and records the scheme beside the weights (``geopain.yaml``).
"""
from __future__ import annotations

import contextlib

import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import GeopainError, InputError, MissingWeightsError
from ..species import Scheme, get_scheme
from .base import Detector, FaceDetection

SIDECAR = "geopain.yaml"


def prepare_ultralytics_env() -> None:
    """Offline settings: no DNS probe, config inside the cache, a local font for plots."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    cache = os.environ.get("GEOPAIN_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "geopain"))
    cfg = Path(os.environ.setdefault("YOLO_CONFIG_DIR", os.path.join(cache, "ultralytics")))
    font = cfg / "Ultralytics" / "Arial.ttf"
    if not font.is_file():
        try:
            import matplotlib

            src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
            font.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, font)
        except Exception:  # plots are optional; training and inference do not need the font
            pass


def _yolo():
    prepare_ultralytics_env()
    try:
        import ultralytics
        from ultralytics import YOLO
    except ImportError as exc:
        raise GeopainError(f"the yolo-pose detector needs 'ultralytics' (pip install 'geopain[yolo]'): {exc}") from None
    return ultralytics, YOLO


def _resolve_data_paths(data: Path, spec: dict, out: Path) -> Path:
    """``out/data.yaml``: ``spec`` with ``path`` made absolute relative to ``data``'s folder;
    an :class:`InputError` naming the split when a listed image folder is missing."""
    root = Path(str(spec.get("path") or "."))
    if not root.is_absolute():
        root = (data.parent / root).resolve()
    for split in ("train", "val", "test"):
        entries = spec.get(split)
        if entries is None:
            if split != "test":
                raise InputError(data, f"no '{split}:' entry")
            continue
        for entry in entries if isinstance(entries, list) else [entries]:
            where = Path(str(entry)) if Path(str(entry)).is_absolute() else root / str(entry)
            if not where.exists():
                raise InputError(data, f"{split}: {where} not found (paths are relative to {root})")
    out.mkdir(parents=True, exist_ok=True)
    resolved = out / "data.yaml"
    resolved.write_text(yaml.safe_dump({**spec, "path": str(root)}, sort_keys=False))
    return resolved


class _DropArgumentDump:
    """A logging filter that drops Ultralytics' one-line dump of every training argument."""

    def filter(self, record) -> bool:
        return "engine/trainer: " not in str(record.getMessage())


@contextlib.contextmanager
def _ultralytics_logging(quiet: bool):
    """Ultralytics' logger without the argument dump (and at warning level when ``quiet``)."""
    import logging

    logger = logging.getLogger("ultralytics")
    level, flt = logger.level, _DropArgumentDump()
    logger.addFilter(flt)
    for h in logger.handlers:
        h.addFilter(flt)
    if quiet:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():  # Ultralytics' Ray Tune callback asks Ray for a trial outside a tuner
            warnings.filterwarnings("ignore", message=".*get_trial_id.*")
            yield
    finally:
        logger.removeFilter(flt)
        for h in logger.handlers:
            h.removeFilter(flt)
        logger.setLevel(level)


def check_yolo_scheme(scheme: Scheme, kpt_shape: Any, flip_idx: Any = None, where: str = "model") -> None:
    """Raise unless ``kpt_shape``/``flip_idx`` agree with ``scheme`` (count, then mirror pairs)."""
    n = int(list(kpt_shape)[0])
    if n != scheme.n_points:
        raise GeopainError(f"{where}: {n} keypoints, but scheme {scheme.key} has {scheme.n_points}")
    want = scheme.yolo.get("kpt_shape")
    if want is not None and list(kpt_shape) != list(want):
        raise GeopainError(f"{where}: kpt_shape {list(kpt_shape)} differs from the adapter's {list(want)}")
    if flip_idx is not None and list(map(int, flip_idx)) != scheme.flip_index.tolist():
        raise GeopainError(f"{where}: flip_idx {list(flip_idx)} does not match the mirror pairs of {scheme.key} "
                           f"(expected {scheme.flip_index.tolist()})")


def _read_sidecar(weights: Path, model: Any = None) -> dict:
    """What was recorded about a model's keypoints: geopain's sidecar, else the training data.yaml."""
    for folder in (weights.parent, weights.parent.parent):
        f = folder / SIDECAR
        if f.is_file():
            return yaml.safe_load(f.read_text()) or {}
    data = ((getattr(model, "ckpt", None) or {}).get("train_args") or {}).get("data")
    if data and Path(str(data)).is_file():
        try:
            spec = yaml.safe_load(Path(str(data)).read_text()) or {}
            return {"flip_idx": spec.get("flip_idx")} if isinstance(spec, dict) else {}
        except (OSError, yaml.YAMLError):
            return {}
    return {}


class YoloPoseDetector(Detector):
    """A YOLO pose model whose keypoints are a geopain scheme (default ``sheep/spfes``).

    Args:
        weights: a trained ``.pt`` file; defaults to the adapter's ``yolo: weights:`` entry.
        scheme: the scheme the keypoints follow (checked against the model).
        conf: box score threshold. imgsz: inference size. device: ``"cpu"`` by default.
    """

    name = "yolo-pose"
    dims = 2

    def __init__(self, weights: str | os.PathLike | None = None, scheme: str = "sheep/spfes", conf: float = 0.25,
                 imgsz: int = 640, device: str = "cpu", max_side: int | None = None, min_side: int = 32):
        super().__init__(max_side=max_side, min_side=min_side)
        sch = get_scheme(scheme)
        if not sch.yolo:
            raise GeopainError(f"scheme {sch.key} has no 'yolo:' section, so no YOLO pose model fits it")
        self.scheme = sch.key
        if weights is None:
            weights = sch.yolo.get("weights")
            if weights is not None and not Path(weights).is_absolute():
                weights = Path(sch.source).parent / weights
        if weights is None or not Path(weights).is_file():
            raise MissingWeightsError(
                f"yolo-pose for {sch.key}: no trained weights{f' at {weights}' if weights else ''}; train one with "
                f"'geopain detector train --data data.yaml --species {sch.species} -o DIR' and pass --weights DIR/weights/best.pt")
        self.weights = Path(weights)
        ultralytics, YOLO = _yolo()
        self._ul_version = ultralytics.__version__
        try:
            self._model = YOLO(str(self.weights), task="pose")
        except Exception as exc:
            raise InputError(self.weights, f"not a YOLO model ({type(exc).__name__}: {exc})") from None
        kpt_shape = getattr(self._model.model, "kpt_shape", None) or self._model.model.yaml.get("kpt_shape")
        if kpt_shape is None:
            raise GeopainError(f"{self.weights}: not a pose model (no kpt_shape)")
        side = _read_sidecar(self.weights, self._model)
        if side.get("scheme") and side["scheme"] != sch.key:
            raise GeopainError(f"{self.weights}: trained for scheme {side['scheme']}, not {sch.key}")
        check_yolo_scheme(sch, kpt_shape, side.get("flip_idx"), where=str(self.weights))
        self.conf, self.imgsz, self.device = float(conf), int(imgsz), device

    @property
    def version(self) -> str:
        return f"ultralytics {self._ul_version} {self.weights.name}"

    def _detect(self, image: np.ndarray) -> list[FaceDetection]:
        res = self._model.predict(np.ascontiguousarray(image[..., ::-1]), conf=self.conf, imgsz=self.imgsz,
                                  device=self.device, verbose=False)[0]
        if res.keypoints is None or res.boxes is None or len(res.boxes) == 0:
            return []
        kp = res.keypoints.data.cpu().numpy()  # (F, K, 3): x, y, conf (x, y unzeroed)
        boxes = res.boxes.xyxy.cpu().numpy()
        scores = res.boxes.conf.cpu().numpy()
        if kp.shape[-1] == 3:
            xy, conf = kp[..., :2], kp[..., 2]
        else:
            xy, conf = kp, np.full(kp.shape[:2], np.nan, np.float32)
        return [FaceDetection(coords=xy[i], confidence=conf[i], box=boxes[i], score=float(scores[i]))
                for i in range(len(boxes))]


def train_yolo_pose(data: str | os.PathLike, scheme: str, out_dir: str | os.PathLike, weights: str | os.PathLike | None = None,
                    epochs: int = 50, imgsz: int = 640, batch: int = 16, device: str = "cpu", seed: int = 0,
                    quiet: bool = False, **train_kw: Any) -> Path:
    """Train a YOLO pose model for ``scheme`` offline; returns the path of the best weights.

    From scratch (``yolov8n-pose.yaml``) unless ``weights`` names a ``.pt`` file to start from.
    The dataset's ``kpt_shape`` and ``flip_idx`` are checked against the scheme first. Paths in
    ``data`` (``path:``, ``train:``, ``val:``) are relative to the YAML's folder, wherever the
    command runs (a resolved copy is written to ``out_dir/data.yaml``). Ultralytics' argument
    dump is never shown; ``quiet`` hides its per-epoch lines too.
    """
    sch = get_scheme(scheme)
    data = Path(data)
    if not data.is_file():
        raise InputError(data, "no such data.yaml")
    try:
        spec = yaml.safe_load(data.read_text())
    except yaml.YAMLError as exc:
        raise InputError(data, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(spec, dict) or "kpt_shape" not in spec:
        raise InputError(data, "not a YOLO pose data.yaml (no kpt_shape)")
    check_yolo_scheme(sch, spec["kpt_shape"], spec.get("flip_idx"), where=str(data))
    if weights is not None and not Path(weights).is_file():
        raise InputError(weights, "no such weights file")
    out = Path(out_dir).resolve()
    resolved = _resolve_data_paths(data, spec, out)
    _, YOLO = _yolo()
    kw = dict(data=str(resolved), epochs=int(epochs), imgsz=int(imgsz), batch=int(batch), device=device,
              workers=0, seed=seed, project=str(out.parent), name=out.name, exist_ok=True, plots=False,
              verbose=False, amp=False)
    kw.update(train_kw)
    with _ultralytics_logging(quiet):
        model = YOLO(str(weights) if weights else "yolov8n-pose.yaml", task="pose")
        try:
            model.train(**kw)
        except (RuntimeError, FileNotFoundError, OSError, ValueError, KeyError) as exc:  # the library's, one line
            first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
            raise GeopainError(f"YOLO training on {data} failed: {first}") from None
    best = out / "weights" / "best.pt"
    if not best.is_file():
        best = out / "weights" / "last.pt"
    if not best.is_file():
        raise GeopainError(f"{out}: training finished without writing weights")
    (out / SIDECAR).write_text(yaml.safe_dump({"scheme": sch.key, "kpt_shape": list(spec["kpt_shape"]),
                                               "flip_idx": sch.flip_index.tolist(), "data": str(data.resolve())}))
    return best
