"""``geopain predict MODEL_DIR INPUT -o OUT``: per-frame and per-sequence pain predictions.

INPUT is a landmark table (.parquet/.csv), an image or a video (landmarks found by the
detector that fits the model's species, through :mod:`geopain.extract`). OUT is a folder
(``frames.csv`` + ``sequences.csv``, or ``.parquet`` with ``--format parquet``) or a file
name ending in ``.csv``/``.parquet`` (sequences go beside it as ``<name>.sequences.<ext>``).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
VIDEO_EXT = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
TABLE_EXT = {".parquet", ".csv"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="score landmark tables, images or videos with a trained model",
                       description="Predict pain per frame and per sequence with a model saved by 'geopain train'. "
                                   "INPUT is a landmark table, an image or a video (faces found by the default "
                                   "detector of the model's species, or --detector).")
    p.add_argument("model", help="model directory written by 'geopain train'")
    p.add_argument("input", help="landmark table (.parquet/.csv), image or video")
    p.add_argument("-o", "--output", required=True, help="output folder, or a .csv/.parquet file for the frames")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv", help="table format in a folder (default csv)")
    p.add_argument("--detector", default=None, help="landmark detector for images and videos (default: the species')")
    p.add_argument("--stride", type=int, default=1, help="use every STRIDE-th video frame (default 1)")
    p.set_defaults(func=run)


def load_input(path: Path, scheme: str, detector: str | None = None, stride: int = 1) -> list:
    """Landmark sequences of a table, an image or a video, in ``scheme`` where convertible."""
    from ..errors import InputError
    from ..io.tables import read_table
    from ..species import convert_sequence, get_scheme

    if not path.exists():
        raise InputError(path, "no such file")
    ext = path.suffix.lower()
    species = get_scheme(scheme).species
    if ext in TABLE_EXT:
        seqs = read_table(path)
    elif ext in IMAGE_EXT:
        from ..extract import detect_image

        kw = {"detector": detector} if detector else {}
        if not detector:
            from ..detectors import default_detector

            kw["detector"] = default_detector(species, scheme)
        seqs = detect_image(path, scheme=scheme, **kw)
        if not seqs:
            raise InputError(path, "no face found in the image")
    elif ext in VIDEO_EXT:
        from ..extract import extract

        with tempfile.TemporaryDirectory(prefix="geopain-predict-") as tmp:
            res = extract([path], species=species, detector=detector, scheme=scheme,
                          output=Path(tmp) / "landmarks.parquet", stride=stride, resume=False, progress=True)
            if not res.n_rows:
                raise InputError(path, "; ".join(res.errors) or "no frames could be read")
            seqs = read_table(res.path)
    else:
        raise InputError(path, f"unknown input type {ext!r}: expected a table ({', '.join(sorted(TABLE_EXT))}), "
                               f"an image or a video")
    out = []
    for s in seqs:
        out.append(s if s.scheme == scheme else convert_sequence(s, scheme))
    return out


def run(args: argparse.Namespace) -> int:
    from ..models import PainEstimator

    est = PainEstimator.load(args.model)
    seqs = load_input(Path(args.input), est.scheme_, args.detector, args.stride)
    frames = est.predict_frames(seqs)
    sequences = est.predict_sequences(seqs)
    out = Path(args.output)
    if out.suffix.lower() in TABLE_EXT:
        fmt = out.suffix.lower()[1:]
        frame_path, seq_path = out, out.with_name(f"{out.stem}.sequences{out.suffix}")
    else:
        fmt = args.format
        frame_path, seq_path = out / f"frames.{fmt}", out / f"sequences.{fmt}"
    frame_path.parent.mkdir(parents=True, exist_ok=True)
    for df, path in ((frames, frame_path), (sequences, seq_path)):
        if fmt == "parquet":
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, index=False)
    task = est.task
    what = "score" if task == "score" else ("pain probability" if task == "binary" else "level")
    print(f"{len(frames)} frames, {len(sequences)} sequences ({int(frames['face_found'].sum())} frames with a face)")
    col = "prediction" if task != "binary" else "p_1"
    for _, r in sequences.head(10).iterrows():
        print(f"  {r['subject']}/{r['sequence']} face {r['face_id']}: {what} {r[col]:.3f}")
    print(f"wrote {frame_path} and {seq_path}")
    return 0
