"""Read and write Ultralytics YOLO pose datasets.

A dataset is a ``data.yaml`` (UTF-8) with ``path``, ``train``, ``val`` (and optional ``test``),
``kpt_shape: [K, 2|3]``, optional ``flip_idx`` (length K), ``names`` and optional
``kpt_names`` (``{class: [names]}``), and one label ``.txt`` per image (``images/`` ->
``labels/`` in the path), one line per object: ``cls cx cy w h x1 y1 [v1] ... xK yK [vK]``,
all normalised to [0, 1]. ``v`` is 0 (not labelled), 1 (occluded), 2 (visible).

Reading gives one single-frame sequence per object (``face_id`` = line number in the label
file; an image without objects gives one all-NaN frame), in pixels of the image (its size
is read from the header only, EXIF rotation applied as Ultralytics does). ``v = 0`` (or a
``0 0`` point when K has no visibility) is a missing point; ``confidence = v / 2``. The box is
kept as ``meta["box"] = [x1, y1, x2, y2]`` pixels, the class as ``meta["class"]``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from ..errors import GeopainError, InputError
from ..landmarks import LandmarkSequence
from ..media import IMAGE_EXTENSIONS, pil_open
from ..species import Scheme, get_scheme, list_schemes
from .parsing import check_file, is_number, resolve_scheme

SPLITS = ("train", "val", "test")


def read_yolo_dataset(data_yaml: str | os.PathLike, scheme: str | Scheme | None = None,
                      split: str | None = None, errors: list[InputError] | None = None) -> list[LandmarkSequence]:
    """Read a YOLO pose dataset into single-frame sequences (``coords (1, K, 3)`` pixels, dims 2).

    Args:
        data_yaml: the dataset's ``data.yaml``.
        scheme: landmark scheme; by default the yaml's ``scheme`` key (geopain writes it), else the
            one whose landmark names equal ``kpt_names``,
            else the only shipped scheme with K points (and, when given, the same ``flip_idx``).
        split: ``"train"``, ``"val"`` or ``"test"``; default every split the yaml lists.
        errors: if given, an image whose label file (or the image itself) is bad is left out and
            its :class:`InputError` appended here, so one bad file never loses the rest;
            otherwise the first one is raised.

    Raises:
        InputError: unreadable yaml, missing keys or folders, label lines of the wrong length,
            keypoint count or ``flip_idx`` that do not fit the scheme.
    """
    yp = check_file(data_yaml)
    data = _read_yaml(yp)
    K, D = _kpt_shape(yp, data)
    flip = data.get("flip_idx")
    if flip is not None and (not isinstance(flip, list) or len(flip) != K):
        raise InputError(yp, f"flip_idx must be a list of {K} indices, got {flip!r}")
    kpt_names = _kpt_names(data)
    if scheme is None and isinstance(data.get("scheme"), str):  # written by write_yolo_dataset
        scheme = data["scheme"]
    sch = _choose_scheme(yp, scheme, K, flip, kpt_names)
    if flip is not None and not np.array_equal(np.asarray(flip), sch.flip_index):
        diff = np.flatnonzero(np.asarray(flip) != sch.flip_index)[:5].tolist()
        raise InputError(yp, f"flip_idx does not match the mirror pairs of {sch.key} (differs at keypoints {diff})")
    root = _root(yp, data)
    splits = [split] if split else [s for s in SPLITS if data.get(s)]
    if not splits:
        raise InputError(yp, "lists no split (train, val or test)")
    out: list[LandmarkSequence] = []
    for sp in splits:
        if not data.get(sp):
            raise InputError(yp, f"has no split {sp!r}")
        for img in _images(yp, root, data[sp], sp):
            try:
                out.extend(_read_image_labels(img, sp, sch, K, D))
            except InputError as exc:
                if errors is None:
                    raise
                errors.append(exc)
    if not out:
        raise InputError(yp, f"no images found in split(s) {splits}")
    return out


def _read_yaml(p: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError(p, "is not UTF-8 text (a YOLO data.yaml was expected)") from None
    except yaml.YAMLError as exc:
        raise InputError(p, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise InputError(p, "is not a YOLO data.yaml (expected a mapping with kpt_shape, train, val)")
    return data


def _kpt_shape(p: Path, data: dict) -> tuple[int, int]:
    ks = data.get("kpt_shape")
    if ks is None:
        raise InputError(p, "no kpt_shape: not a YOLO pose dataset")
    if not (isinstance(ks, list) and len(ks) == 2 and all(isinstance(v, int) for v in ks) and ks[0] > 0
            and ks[1] in (2, 3)):
        raise InputError(p, f"kpt_shape must be [K, 2] or [K, 3], got {ks!r}")
    return int(ks[0]), int(ks[1])


def _kpt_names(data: dict) -> list[str] | None:
    names = data.get("kpt_names")
    if isinstance(names, dict) and names:
        names = names.get(0, next(iter(names.values())))
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return names
    return None


def _choose_scheme(p: Path, scheme, K: int, flip, kpt_names) -> Scheme:
    if scheme is not None:
        sch = resolve_scheme(scheme)
        if sch.n_points != K:
            raise InputError(p, f"kpt_shape has {K} keypoints, scheme {sch.key} has {sch.n_points}")
        return sch
    candidates = []
    for key in list_schemes():
        try:
            sch = get_scheme(key)
        except GeopainError:
            continue
        if sch.n_points != K:
            continue
        if kpt_names is not None and list(sch.landmarks) == list(kpt_names):
            return sch
        if flip is None or np.array_equal(np.asarray(flip), sch.flip_index):
            candidates.append(sch)
    if len(candidates) == 1 and kpt_names is None:
        return candidates[0]
    why = "kpt_names match no scheme" if kpt_names is not None else \
        f"{len(candidates)} schemes have {K} keypoints" if candidates else f"no scheme has {K} keypoints"
    raise InputError(p, f"cannot tell the landmark scheme ({why}): give scheme=...")


def _root(p: Path, data: dict) -> Path:
    base = data.get("path")
    if not base:
        return p.parent
    b = Path(str(base)).expanduser()
    if b.is_absolute():
        return b
    return p.parent / b if (p.parent / b).exists() else b


def _images(yp: Path, root: Path, spec: Any, split: str) -> list[Path]:
    items = spec if isinstance(spec, list) else [spec]
    out: list[Path] = []
    for item in items:
        q = Path(str(item))
        q = q if q.is_absolute() else root / q
        if q.is_dir():
            out.extend(sorted(f for f in q.rglob("*") if f.suffix.lower() in IMAGE_EXTENSIONS))
        elif q.is_file() and q.suffix == ".txt":  # a list of image paths, relative to root
            for ln in q.read_text(encoding="utf-8").splitlines():
                if ln.strip():
                    f = Path(ln.strip())
                    out.append(f if f.is_absolute() else root / f)
        else:
            raise InputError(yp, f"split {split!r}: {q} does not exist")
    return out


def label_path(image: Path) -> Path:
    """The label file Ultralytics pairs with ``image`` (last ``images`` folder -> ``labels``, ``.txt``)."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _image_size(img: Path) -> tuple[int, int]:
    from PIL import UnidentifiedImageError

    try:
        with pil_open()(img) as im:
            w, h = im.size
            try:
                if im.getexif().get(274) in (5, 6, 7, 8):
                    w, h = h, w
            except Exception:  # noqa: BLE001 - broken EXIF: keep the stored size
                pass
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(img, f"not a readable image ({type(exc).__name__})") from None
    return w, h


def _read_image_labels(img: Path, split: str, sch: Scheme, K: int, D: int) -> list[LandmarkSequence]:
    if not img.is_file():
        raise InputError(img, "image listed in the dataset does not exist")
    lp = label_path(img)
    W, H = _image_size(img)
    rows = []
    if lp.is_file():
        for ln_no, ln in enumerate(lp.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not ln.strip():
                continue
            parts = ln.split()
            if len(parts) != 5 + K * D:
                raise InputError(lp, f"line {ln_no} has {len(parts)} values, expected {5 + K * D} "
                                     f"(cls cx cy w h and {K} keypoints x y{' v' if D == 3 else ''})")
            try:
                v = np.array([float(x) for x in parts], np.float64)
            except ValueError:
                bad = next(x for x in parts if not is_number(x))
                raise InputError(lp, f"line {ln_no}: {bad!r} is not a number") from None
            if not np.isfinite(v).all():
                raise InputError(lp, f"line {ln_no}: NaN or infinite value where a number must be")
            if (v[1:] < -0.01).any() or (v[1:5] > 1.01).any() or (v[5:].reshape(K, D)[:, :2] > 1.01).any():
                raise InputError(lp, f"line {ln_no}: values outside [0, 1] (labels must be normalised)")
            rows.append(v)
    base = dict(scheme=sch.key, subject=img.stem, sequence=f"{split}/{img.stem}", units="px", dims=2,
                detector="annotation", source=str(lp if lp.is_file() else img))
    meta = {"format": "yolo", "split": split, "image": str(img), "image_size": [W, H]}
    if not rows:
        return [LandmarkSequence(coords=np.full((1, K, 2), np.nan, np.float32), meta=meta, **base)]
    arr = np.stack(rows)  # (O, 5 + K*D)
    kp = arr[:, 5:].reshape(len(arr), K, D)
    xy = kp[..., :2] * np.array([W, H], np.float64)
    if D == 3:
        vis = kp[..., 2]
        missing = vis <= 0
        conf = np.where(missing, np.nan, np.clip(vis, 0, 2) / 2.0)
    else:
        missing = (kp[..., 0] == 0) & (kp[..., 1] == 0)
        conf = np.full((len(arr), K), np.nan)
    xy[missing] = np.nan
    boxes = np.stack([(arr[:, 1] - arr[:, 3] / 2) * W, (arr[:, 2] - arr[:, 4] / 2) * H,
                      (arr[:, 1] + arr[:, 3] / 2) * W, (arr[:, 2] + arr[:, 4] / 2) * H], 1)
    return [LandmarkSequence(coords=xy[o][None].astype(np.float32), confidence=conf[o][None], face_id=o,
                             meta={**meta, "class": int(arr[o, 0]), "box": boxes[o].round(3).tolist()}, **base)
            for o in range(len(arr))]


# ----------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------


def write_yolo_dataset(out_dir: str | os.PathLike, images: Sequence[np.ndarray],
                       sequences: Sequence[LandmarkSequence | Sequence[LandmarkSequence]],
                       scheme: str | Scheme, split_fraction: float = 0.8, seed: int = 0,
                       margin: float = 0.1, class_name: str | None = None) -> Path:
    """Write an Ultralytics pose dataset: ``images/{train,val}``, ``labels/{train,val}``, ``data.yaml``.

    Args:
        out_dir: dataset folder (created).
        images: RGB uint8 images ``(H, W, 3)`` (gray ``(H, W)`` accepted).
        sequences: for each image, one single-frame sequence in pixels of that image (or a list
            of them, one per face); NaN points are written as not labelled (``v=0``), points
            outside the image too.
        scheme: the scheme of the keypoints; gives ``kpt_shape [N, 3]``, ``flip_idx`` (from its
            mirror pairs) and ``kpt_names``.
        split_fraction: share of images in ``train`` (shuffled with ``seed``; at least one image
            in each split when there are two or more).
        margin: the box is the keypoints' extent grown by this share of its size on each side,
            unless a sequence's ``meta["box"]`` gives ``[x1, y1, x2, y2]`` pixels.
        class_name: the single class's name (default: the scheme's species).

    Returns:
        the path of ``data.yaml``.
    """
    from PIL import Image

    sch = resolve_scheme(scheme)
    if len(images) != len(sequences):
        raise GeopainError(f"{len(images)} images but {len(sequences)} sequence entries")
    if not images:
        raise GeopainError("no images to write")
    if not 0 < split_fraction <= 1:
        raise GeopainError(f"split_fraction must be in (0, 1], got {split_fraction}")
    out = Path(out_dir)
    n = len(images)
    order = np.random.default_rng(seed).permutation(n)
    n_train = int(round(n * split_fraction))
    if n >= 2:
        n_train = min(max(n_train, 1), n - 1)
    split_of = np.empty(n, object)
    split_of[order[:n_train]] = "train"
    split_of[order[n_train:]] = "val"
    for sp in ("train", "val"):
        (out / "images" / sp).mkdir(parents=True, exist_ok=True)
        (out / "labels" / sp).mkdir(parents=True, exist_ok=True)
    width = max(6, len(str(n)))
    for i, (img, entry) in enumerate(zip(images, sequences)):
        arr = np.asarray(img)
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, -1)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8:
            raise GeopainError(f"image {i}: expected RGB uint8 (H, W, 3), got {arr.dtype} {arr.shape}")
        H, W = arr.shape[:2]
        seqs = [entry] if isinstance(entry, LandmarkSequence) else list(entry)
        lines = []
        for s in seqs:
            if s.scheme != sch.key:
                raise GeopainError(f"image {i}: sequence scheme {s.scheme} is not {sch.key}")
            if s.n_frames != 1:
                raise GeopainError(f"image {i}: expected a one-frame sequence, got {s.n_frames} frames")
            if s.units != "px":
                raise GeopainError(f"image {i}: keypoints must be in pixels, got units {s.units!r}")
            line = _label_line(s.coords[0, :, :2].astype(np.float64), W, H, margin, s.meta.get("box"))
            if line:
                lines.append(line)
        name = f"{i:0{width}d}"
        Image.fromarray(arr[..., :3]).save(out / "images" / split_of[i] / f"{name}.png")
        (out / "labels" / split_of[i] / f"{name}.txt").write_text("".join(lines))
    data = {
        "path": str(out.resolve()),
        "train": "images/train",
        "val": "images/val",
        "kpt_shape": [sch.n_points, 3],
        "flip_idx": sch.flip_index.tolist(),
        "names": {0: class_name or sch.species},
        "kpt_names": {0: list(sch.landmarks)},
        "scheme": sch.key,
    }
    yp = out / "data.yaml"
    yp.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None), encoding="utf-8")
    return yp


def _label_line(xy: np.ndarray, W: int, H: int, margin: float, box: Any) -> str:
    """One label line ``0 cx cy w h x y v ...`` (normalised), or "" when no keypoint is in the image."""
    inside = np.isfinite(xy).all(1) & (xy[:, 0] >= 0) & (xy[:, 0] < W) & (xy[:, 1] >= 0) & (xy[:, 1] < H)
    if not inside.any():
        return ""
    if box is not None and len(box) == 4 and np.isfinite(np.asarray(box, float)).all():
        x1, y1, x2, y2 = (float(v) for v in box)
    else:
        lo, hi = xy[inside].min(0), xy[inside].max(0)
        pad = (hi - lo) * margin + 1.0
        (x1, y1), (x2, y2) = lo - pad, hi + pad
    x1, x2 = np.clip([x1, x2], 0, W)
    y1, y2 = np.clip([y1, y2], 0, H)
    kp = np.zeros((len(xy), 3))
    kp[inside, 0] = xy[inside, 0] / W
    kp[inside, 1] = xy[inside, 1] / H
    kp[inside, 2] = 2
    head = [(x1 + x2) / 2 / W, (y1 + y2) / 2 / H, (x2 - x1) / W, (y2 - y1) / H]
    return "0 " + " ".join(f"{v:.6f}" for v in head) + " " + " ".join(
        f"{x:.6f} {y:.6f} {int(v)}" for x, y, v in kp) + "\n"
