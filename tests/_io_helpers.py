"""Fixture writers for the reader tests: small files in the formats' real quirks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

AU_R = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14", "AU15", "AU17", "AU20",
        "AU23", "AU25", "AU26", "AU45"]


def face_points(n: int = 68, seed: int = 0, scale: float = 100.0, offset=(200.0, 150.0)) -> np.ndarray:
    """``(n, 2)`` distinct pixel coordinates with 2 decimals."""
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform(0, scale, (n, 2)) + np.asarray(offset), 2)


def openface_csv(path: Path, rows: list[dict], mode: str = "video", groups=("gaze", "pose", "2d", "3d", "aus"),
                 face_id: bool = True, sep: str = ", ", trailing_newline: bool = True, n: int = 68) -> Path:
    """Write an OpenFace-style CSV.

    ``rows``: dicts with ``frame``, ``face_id``, ``success`` (default 1), ``confidence``,
    ``xy (n, 2)``, ``xyz (n, 3)``, ``au {"AU04": 1.5}``, ``pose (6,)``; ``zeros=True`` writes a
    failed frame's all-zero values. ``mode="image"`` writes FaceLandmarkImg's ``face, confidence``.
    """
    cols = ["face", "confidence"] if mode == "image" else \
        (["frame", "face_id"] if face_id else ["frame"]) + ["timestamp", "confidence", "success"]
    if "gaze" in groups:
        cols += [f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"] + ["gaze_angle_x", "gaze_angle_y"]
    if "pose" in groups:
        cols += ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
    if "2d" in groups:
        cols += [f"x_{i}" for i in range(n)] + [f"y_{i}" for i in range(n)]
    if "3d" in groups:
        cols += [f"{a}_{i}" for a in "XYZ" for i in range(n)]
    if "aus" in groups:
        cols += [f"{a}_r" for a in AU_R] + [f"{a}_c" for a in AU_R[:-1] + ["AU28", "AU45"]]
    lines = [sep.join(cols)]
    for r in rows:
        zeros = r.get("zeros", False)
        v: dict[str, float] = {}
        if mode == "image":
            v.update(face=r.get("face_id", 0), confidence=r.get("confidence", 0.98))
        else:
            v.update(frame=r["frame"], face_id=r.get("face_id", 0), timestamp=r.get("timestamp", (r["frame"] - 1) / 30),
                     confidence=r.get("confidence", 0.98), success=r.get("success", 1))
        xy = np.asarray(r.get("xy", np.zeros((n, 2))))
        xyz = np.asarray(r.get("xyz", np.zeros((n, 3))))
        pose = r.get("pose", [10.0, -5.0, 400.0, 0.1, -0.2, 0.05])
        for i in range(n):
            v[f"x_{i}"], v[f"y_{i}"] = xy[i]
            v[f"X_{i}"], v[f"Y_{i}"], v[f"Z_{i}"] = xyz[i]
        for k, name in enumerate(["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]):
            v[name] = pose[k]
        for a in AU_R:
            v[f"{a}_r"] = r.get("au", {}).get(a, 0.0)
            v[f"{a}_c"] = 1.0 if v[f"{a}_r"] > 1 else 0.0
        out = []
        for c in cols:
            val = v.get(c, 0.25)
            if zeros and c not in ("frame", "face_id", "timestamp", "face"):
                val = 0
            out.append(f"{val:g}" if isinstance(val, (int, float, np.floating, np.integer)) else str(val))
        lines.append(sep.join(out))
    text = "\n".join(lines) + ("\n" if trailing_newline else "")
    path.write_text(text)
    return path


def dlc_frame(bodyparts: list[str], n_frames: int, individuals: list[str] | None = None, likelihood: bool = True,
              scorer: str = "DLC_resnet50_sheepJan1shuffle1_1000", seed: int = 0, index=None) -> pd.DataFrame:
    """A DeepLabCut-style DataFrame with MultiIndex columns (scorer, [individuals], bodyparts, coords)."""
    rng = np.random.default_rng(seed)
    coords = ["x", "y", "likelihood"] if likelihood else ["x", "y"]
    inds = individuals or [None]
    tuples = [((scorer, ind, bp, c) if ind is not None else (scorer, bp, c)) for ind in inds for bp in bodyparts
              for c in coords]
    names = ["scorer", "individuals", "bodyparts", "coords"] if individuals else ["scorer", "bodyparts", "coords"]
    cols = pd.MultiIndex.from_tuples(tuples, names=names)
    data = np.round(rng.uniform(10, 300, (n_frames, len(tuples))), 3)
    if likelihood:
        data[:, 2::3] = np.round(rng.uniform(0, 1, (n_frames, len(tuples) // 3)), 4)
    return pd.DataFrame(data, columns=cols, index=index if index is not None else np.arange(n_frames))


def cat_adapter(folder: Path, n: int = 48, name: str = "catflw48", inline_scale: bool = True, mutate=None) -> Path:
    """Write a 48-point cat adapter ``folder/cat/<name>.yaml`` (one file, scale inline) and return it.

    ``mutate(data)`` may change the adapter's mapping before it is written (malformed adapters).
    """
    import yaml

    data = cat_adapter_data(n, name, inline_scale)
    if mutate is not None:
        mutate(data)
    p = folder / "cat" / f"{name}.yaml"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def cat_adapter_data(n: int = 48, name: str = "catflw48", inline_scale: bool = True) -> dict:
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    template = np.stack([5 * np.cos(ang), 5 * np.sin(ang), np.zeros(n)], 1).round(3).tolist()
    lm = [f"p{i}" for i in range(n)]
    half = n // 2
    data = {
        "species": "cat",
        "scheme": name,
        "description": "48-point cat face (CatFLW order), written by a test",
        "landmarks": lm,
        "regions": {"eyes": ["0..11"], "brows_ears": ["12..23"], "nose": ["24..31"],
                    "mouth": ["32..39"], "cheeks": ["40..45"], "jaw": [46, 47]},
        "mirror_pairs": [[i, n - 1 - i] for i in range(half)],
        "edges": {"loops": [f"0..{n - 1}"]},
        "reference_distance": ["p0", "p24"],
        "template": {"units": "cm", "coords": template},
        "measurements": [{"name": "ear_gap", "unit": "ear_position", "kind": "distance", "pairs": [["p12", "p23"]],
                          "pain_direction": "increases"}],
    }
    if inline_scale:
        data["pain_scale"] = {
            "name": "FGS", "units": {"ear_position": {"min": 0, "max": 2}, "orbital_tightening": {"min": 0, "max": 2}},
            "total": "ear_position + orbital_tightening", "range": [0, 4], "binary_threshold": 1,
            "levels": {"cut_offs": [1, 2, 3, 4]}}
    return data


def yolo_dataset(root: Path, K: int, images: dict[str, list[tuple[tuple[int, int], list[str]]]],
                 flip_idx=None, kpt_names=None, D: int = 3, extra: dict | None = None) -> Path:
    """Write a YOLO pose dataset by hand. ``images[split] = [((w, h), [label lines]), ...]``."""
    import yaml
    from PIL import Image

    for split, items in images.items():
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i, ((w, h), lines) in enumerate(items):
            Image.new("RGB", (w, h), (90, 120, 150)).save(root / "images" / split / f"im{i}.jpg")
            if lines is not None:
                (root / "labels" / split / f"im{i}.txt").write_text("".join(ln + "\n" for ln in lines))
    data = {"path": ".", "kpt_shape": [K, D], "names": {0: "face"}, **{s: f"images/{s}" for s in images}}
    if flip_idx is not None:
        data["flip_idx"] = list(flip_idx)
    if kpt_names is not None:
        data["kpt_names"] = {0: list(kpt_names)}
    data.update(extra or {})
    p = root / "data.yaml"
    p.write_text("# Ünïcode comment: café\n" + yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def yolo_line(xy_norm: np.ndarray, vis: np.ndarray | None, box=(0.5, 0.5, 0.4, 0.4), cls: int = 0) -> str:
    parts = [str(cls)] + [f"{b:.6f}" for b in box]
    for k in range(len(xy_norm)):
        parts += [f"{xy_norm[k, 0]:.6f}", f"{xy_norm[k, 1]:.6f}"]
        if vis is not None:
            parts.append(str(int(vis[k])))
    return " ".join(parts)
