"""Toy copies of each dataset's layout, for tests, notebooks and trying the commands.

The real datasets are licensed; these generators write a few subjects and frames in the
same folder layout and with the same file quirks (PSPI files ending in ``_facs.txt``, empty
FACS files for frames without action units, Matlab-style numbers, TAB-separated
``samples.csv`` without a trailing newline, biosignals in microseconds at 512 Hz, YOLO-pose
labels and a DeepLabCut project). The values are synthetic, not the datasets' data:
landmarks are the species template projected to pixels plus noise, labels are random but
consistent (PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43; SPFES total = sum of units).

``make_fixture("unbc", folder)`` (or ``geopain dataset fixture unbc FOLDER``) writes one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import GeopainError
from ..species import get_scheme, get_species_scale

#: Two low-expressive BioVid subjects (excluded by LOSO-67) and two others.
BIOVID_SUBJECTS = ("071309_w_21", "082315_w_60", "112914_m_20", "100914_m_39")
BIOVID_CLASSES = ("BL1", "PA1", "PA2", "PA3", "PA4")
UNBC_SUBJECTS = ("042-ll042", "043-jh043", "047-jl047")


def _matlab(values: Sequence[float]) -> str:
    """Numbers as Matlab's ``save -ascii`` writes them: ``   1.4210000e+02``."""
    return "".join(f"{v:16.7e}" for v in values)


def _project(scheme_key: str, rng: np.random.Generator, center: tuple[float, float], px_per_unit: float,
             noise: float = 0.6) -> np.ndarray:
    """``(N, 2)`` pixels: the scheme's template seen from the front (x right on the image = subject's left)."""
    t = get_scheme(scheme_key).template
    xy = np.stack([center[0] + t[:, 0] * px_per_unit, center[1] - t[:, 1] * px_per_unit], -1)
    return xy + rng.normal(0, noise, xy.shape)


def _astronaut_face(size: int) -> np.ndarray:
    """A real frontal face photo (skimage's astronaut), cropped around the face, RGB uint8."""
    import cv2
    from skimage import data

    img = data.astronaut()
    crop = img[0:300, 110:380]  # head and shoulders
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


# ----------------------------------------------------------------------------------------------
# UNBC-McMaster
# ----------------------------------------------------------------------------------------------

def make_unbc(root: str | Path, subjects: Sequence[str] = UNBC_SUBJECTS, sequences: int = 2,
              frames: int = 6, images: bool = False, seed: int = 0) -> Path:
    """Write a toy UNBC-McMaster copy: ``subjects x sequences x frames`` frames; returns ``root``.

    Every third frame has no action unit (an empty FACS file and PSPI 0). ``images=True``
    also writes ``Images/`` (a real face photo, shifted per frame) for re-detection.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    scale = get_species_scale("human")
    face = _astronaut_face(240) if images else None
    brows = [17, 18, 19, 20, 21, 22, 23, 24, 25, 26]  # same indices in ibug66 (drops 60, 64 only)
    for subject in subjects:
        code = subject.split("-", 1)[1]
        for k in range(1, sequences + 1):
            seq = f"{code}t{k}{'aa' if k % 2 else 'af'}{'aff' if k % 2 else 'unaff'}"
            rel = Path(subject) / seq
            for d in ("AAM_landmarks", "Frame_Labels/FACS", "Frame_Labels/PSPI", *(["Images"] if images else [])):
                (root / d / rel).mkdir(parents=True, exist_ok=True)
            for key, lo, hi in (("VAS", 0, 10), ("OPR", 0, 5), ("AFF", 1, 14), ("SEN", 1, 14)):
                (root / "Sequence_Labels" / key / subject).mkdir(parents=True, exist_ok=True)
                (root / "Sequence_Labels" / key / subject / f"{seq}.txt").write_text(
                    _matlab([float(rng.integers(lo, hi + 1))]) + "\n")
            for f in range(1, frames + 1):
                name = f"{seq}{f:03d}"
                aus: dict[str, float] = {}
                if f % 3:
                    for au in ("AU4", "AU6", "AU7", "AU9", "AU10", "AU12", "AU25", "AU43"):
                        if rng.random() < 0.5:
                            aus[au] = float(rng.integers(0, 2)) if au == "AU43" else float(rng.integers(1, 6))
                pspi = float(scale.total_score({u: aus.get(u, 0.0) for u in scale.units}))
                facs_lines = [_matlab([float(au[2:]), v, 0.0, 0.0]) for au, v in aus.items()]
                (root / "Frame_Labels/FACS" / rel / f"{name}_facs.txt").write_text(
                    "".join(line + "\n" for line in facs_lines))  # empty when no AU
                (root / "Frame_Labels/PSPI" / rel / f"{name}_facs.txt").write_text(_matlab([pspi]) + "\n")
                xy = _project("human/ibug66", rng, (160.0 + f, 120.0), 9.0)
                xy[brows, 1] += 0.8 * aus.get("AU4", 0.0)  # brows lowered with AU4
                (root / "AAM_landmarks" / rel / f"{name}_aam.txt").write_text(
                    "".join(_matlab(p) + "\n" for p in xy))
                if images:
                    import cv2

                    shifted = np.roll(face, (f % 4) * 2, axis=1)
                    cv2.imwrite(str(root / "Images" / rel / f"{name}.png"), shifted[..., ::-1])
    return root


# ----------------------------------------------------------------------------------------------
# BioVid Heat Pain Database, Part A
# ----------------------------------------------------------------------------------------------

def make_biovid(root: str | Path, subjects: Sequence[str] = BIOVID_SUBJECTS[:3],
                classes: Sequence[str] = ("BL1", "PA1", "PA4"), frames: int = 6, fps: float = 25.0,
                size: int = 192, biosignals: bool = True, seed: int = 0) -> Path:
    """Write a toy BioVid Part A copy: ``samples.csv``, tiny mp4 videos of a real face, biosignals.

    One sample per class per subject; each video has ``frames`` frames at ``fps`` (``mp4v``).
    Biosignals (``time gsr ecg emg_trapezius``, raw also ``emg_corrugator emg_zygomaticus``)
    cover the video's duration at 512 Hz with time in microseconds.
    """
    import cv2

    root = Path(root)
    rng = np.random.default_rng(seed)
    face = _astronaut_face(size)
    rows = ["subject_id\tsubject_name\tclass_id\tclass_name\tsample_id\tsample_name"]
    sample_id = 0
    for sid, subject in enumerate(subjects):
        trials = rng.permutation(np.arange(1, 100))[: len(classes)]
        for cls, trial in zip(classes, trials):
            cid = BIOVID_CLASSES.index(cls)
            sample = f"{subject}-{cls}-{trial:03d}"
            rows.append(f"{sid}\t{subject}\t{cid}\t{cls}\t{sample_id}\t{sample}")
            sample_id += 1
            vdir = root / "video" / subject
            vdir.mkdir(parents=True, exist_ok=True)
            writer = cv2.VideoWriter(str(vdir / f"{sample}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                     (size, size))
            if not writer.isOpened():  # pragma: no cover - codec missing from this OpenCV build
                raise GeopainError("OpenCV cannot write mp4v videos here; the BioVid fixture needs it")
            for f in range(frames):
                dx, dy = int(3 * np.sin(f / 2)), int(2 * np.cos(f / 3))
                img = np.roll(face, (dy, dx), axis=(0, 1))
                writer.write(np.ascontiguousarray(img[..., ::-1]))
            writer.release()
            if biosignals:
                n = int(round(frames / fps * 512))
                t = np.arange(n) / 512.0
                gsr = 2.0 + 0.2 * cid + 0.05 * np.sin(2 * np.pi * 0.2 * t) + rng.normal(0, 0.005, n)
                ecg = np.sin(2 * np.pi * 1.2 * t) ** 15 * 40 + rng.normal(0, 1, n)
                emg = rng.normal(0, 3 + cid, n)
                for kind, extra in (("biosignals_filtered", 0), ("biosignals_raw", 2)):
                    bdir = root / kind / subject
                    bdir.mkdir(parents=True, exist_ok=True)
                    cols = [np.round(t * 1e6).astype(np.int64), gsr, ecg, emg]
                    header = ["time", "gsr", "ecg", "emg_trapezius"]
                    if extra:
                        cols += [rng.normal(0, 2, n), rng.normal(0, 2, n)]
                        header += ["emg_corrugator", "emg_zygomaticus"]
                    lines = ["\t".join(header)] + [
                        "\t".join([str(int(cols[0][i]))] + [f"{c[i]:.6f}" for c in cols[1:]]) for i in range(n)]
                    (bdir / f"{sample}_bio.csv").write_text("\n".join(lines))
    root.mkdir(parents=True, exist_ok=True)
    (root / "samples.csv").write_text("\n".join(rows))  # no trailing newline, as in some copies
    return root


# ----------------------------------------------------------------------------------------------
# Sheep SPFES (the documented layout for data users collect)
# ----------------------------------------------------------------------------------------------

SPFES_UNITS = ("orbital_tightening", "cheek_tightening", "ear_position", "lip_jaw_profile", "nostril_philtrum")


def _sheep_images(rng: np.random.Generator, n: int, size: int, scheme: str):
    """``n`` textured images with the sheep template drawn in, and their ``(N, 2)`` pixel landmarks."""
    out = []
    for _ in range(n):
        img = np.clip(rng.normal(150, 25, (size, size, 3)), 0, 255).astype(np.uint8)
        xy = _project(scheme, rng, (size / 2 + rng.normal(0, 1), size * 0.4 + rng.normal(0, 1)), size / 40.0, 0.5)
        for x, y in xy.astype(int):
            img[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] = (60, 40, 30)
        out.append((img, xy))
    return out


def make_sheep(root: str | Path, animals: int = 4, images_per_animal: int = 3, size: int = 96,
               dlc: bool = True, seed: int = 0) -> Path:
    """Write a toy sheep SPFES dataset in the documented layout; returns ``root``.

    ``root/data.yaml`` + ``images/{train,val}/`` + ``labels/{train,val}/`` (YOLO pose,
    ``sheep/spfes``, 28 keypoints with visibility), ``root/spfes_scores.csv`` (``image,
    animal_id, <five units>, total``, image paths relative to ``root``), and with ``dlc=True``
    a DeepLabCut project ``root/dlc/`` (``config.yaml``,
    ``labeled-data/<video>/CollectedData_<scorer>.csv``) for two more animals, scored in the
    same table. The last YOLO animal is the validation split.
    """
    import cv2
    import yaml

    root = Path(root)
    rng = np.random.default_rng(seed)
    key = "sheep/spfes"
    scheme = get_scheme(key)
    K = scheme.n_points
    rows = ["image,animal_id," + ",".join(SPFES_UNITS) + ",total"]

    def score_row(image: str, animal: str) -> str:
        units = rng.integers(0, 3, len(SPFES_UNITS))
        return f"{image},{animal}," + ",".join(str(int(u)) for u in units) + f",{int(units.sum())}"

    for a in range(animals):
        animal = f"ewe{a + 1:02d}"
        split = "val" if a == animals - 1 else "train"
        for d in ("images", "labels"):
            (root / d / split).mkdir(parents=True, exist_ok=True)
        for i, (img, xy) in enumerate(_sheep_images(rng, images_per_animal, size, key)):
            name = f"{animal}_{i + 1:03d}"
            cv2.imwrite(str(root / "images" / split / f"{name}.png"), img[..., ::-1])
            lo, hi = xy.min(0), xy.max(0)
            box = [(lo[0] + hi[0]) / 2 / size, (lo[1] + hi[1]) / 2 / size,
                   (hi[0] - lo[0] + 6) / size, (hi[1] - lo[1] + 6) / size]
            kp = " ".join(f"{x / size:.6f} {y / size:.6f} 2" for x, y in xy)
            (root / "labels" / split / f"{name}.txt").write_text(
                "0 " + " ".join(f"{v:.6f}" for v in box) + " " + kp + "\n")
            rows.append(score_row(f"images/{split}/{name}.png", animal))
    data = {"path": ".", "train": "images/train", "val": "images/val", "kpt_shape": [K, 3],
            "flip_idx": scheme.flip_index.tolist(), "names": {0: "sheep_face"},
            "kpt_names": {0: list(scheme.landmarks)}}
    (root / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    if dlc:
        proj = root / "dlc"
        scorer = "annotator"
        cfg = {"Task": "sheep-spfes", "scorer": scorer, "bodyparts": list(scheme.landmarks),
               "skeleton": [[scheme.landmarks[i], scheme.landmarks[j]] for i, j in scheme.edges[:5]],
               "pcutoff": 0.6, "multianimalproject": False, "video_sets": {}}
        proj.mkdir(parents=True, exist_ok=True)
        (proj / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        for a in range(min(animals, 2)):
            animal = f"ram{a + 1:02d}"
            video = f"{animal}_pen"
            vdir = proj / "labeled-data" / video
            vdir.mkdir(parents=True, exist_ok=True)
            lines = [",".join(["scorer"] + [scorer] * (2 * K)),
                     ",".join(["bodyparts"] + [b for b in scheme.landmarks for _ in (0, 1)]),
                     ",".join(["coords"] + ["x", "y"] * K)]
            for i, (img, xy) in enumerate(_sheep_images(rng, images_per_animal, size, key)):
                name = f"img{i:03d}.png"
                cv2.imwrite(str(vdir / name), img[..., ::-1])
                rel = f"labeled-data/{video}/{name}"
                cells = [f"{v:.2f}" for v in xy.ravel()]
                if i == 0:
                    cells[2 * 2] = cells[2 * 2 + 1] = ""  # an unlabelled ear tip: empty cells
                lines.append(",".join([rel] + cells))
                rows.append(score_row(f"dlc/{rel}", animal))
            (vdir / f"CollectedData_{scorer}.csv").write_text("\n".join(lines) + "\n")
    (root / "spfes_scores.csv").write_text("\n".join(rows) + "\n")
    return root


FIXTURES: dict[str, Callable[..., Path]] = {"unbc": make_unbc, "biovid": make_biovid, "sheep": make_sheep}


def make_fixture(name: str, root: str | Path, **kwargs: Any) -> Path:
    """Write the toy copy of dataset ``name`` (``unbc``, ``biovid``, ``sheep``) into ``root``."""
    try:
        factory = FIXTURES[name]
    except KeyError:
        raise GeopainError(f"unknown dataset {name!r}; known: {', '.join(FIXTURES)}") from None
    return factory(root, **kwargs)
