"""``geopain predict MODEL_DIR INPUT -o OUT``: per-frame and per-sequence pain predictions.

INPUT is a landmark table (.parquet/.csv), an image, a video, or a folder of images and
videos (landmarks found by the detector that fits the model's species, through
:func:`geopain.extract.extract`, the same extensions as ``geopain extract``). OUT is a
folder (``frames.csv`` + ``sequences.csv``, or ``.parquet`` with ``--format parquet``) or a
file name ending in ``.csv``/``.parquet`` (sequences go beside it as
``<name>.sequences.<ext>``).

Who is who matters to models with a per-person reference (``--reference`` at training):
photos and videos are each their own subject unless ``--subject-from`` says otherwise, and
when the input cannot support the model's reference (one photo of a person, for a model
that compares each face with the person's median face) predict refuses in one line, or
scores with the reference-free ``--fallback`` model and says so in the ``reference`` column.
Never a silent constant.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..errors import GeopainError, InputError, ReferenceUnavailableError, SchemeError

#: One line for ``geopain --help`` (read without importing what the command needs).
HELP = "score landmark tables, images, videos or folders with a trained model"

TABLE_EXT = {".parquet", ".csv"}
#: Sequences printed after a prediction (the rest are in the written table).
SHOWN_ROWS = 10
#: What to do when the model's reference cannot be computed.
FALLBACK_HINT = "train a model with --reference none, or pass --fallback MODEL_DIR"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help=HELP,
                       description="Predict pain per frame and per sequence with a model saved by 'geopain train'. "
                                   "INPUT is a landmark table, an image, a video or a folder of images and videos "
                                   "(faces found by the default detector of the model's species, or --detector). "
                                   "A model trained with a per-person reference (--reference first-frames, "
                                   "subject-median, neutral-labelled) needs enough frames of each subject; when the "
                                   "input has too few, predict stops with the reason, or scores with --fallback.")
    p.add_argument("model", help="model directory written by 'geopain train', or a .onnx file from 'geopain export' "
                                 "(then only numpy, onnxruntime and the detector are needed)")
    p.add_argument("input", help="landmark table (.parquet/.csv), image, video, or a folder of images and videos")
    p.add_argument("-o", "--output", required=True, help="output folder, or a .csv/.parquet file for the frames")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv", help="table format in a folder (default csv)")
    p.add_argument("--detector", default=None, help="landmark detector for images and videos (default: the species')")
    p.add_argument("--stride", type=int, default=1, help="use every STRIDE-th video frame (default 1)")
    p.add_argument("--subject-from", choices=["folder", "file", "face-track", "column"], default=None,
                   help="who is who. Images, videos and folders: 'file' (default: each image or video is its own "
                        "person, so a folder of photos of different people is never pooled into one), 'folder' "
                        "(the folder holding the files is one person), 'face-track' (each tracked face of each "
                        "file, <file>#face<id>). Tables: 'column' (default: the column --subject-column), or "
                        "'folder'/'file'/'face-track' derived from the table's sequence ids")
    p.add_argument("--subject-column", default="subject", metavar="NAME",
                   help="table column holding the subject with --subject-from column (default: subject)")
    p.add_argument("--fallback", default=None, metavar="MODEL_DIR",
                   help="a reference-free model (trained with --reference none) to score the subjects whose frames "
                        "cannot support the model's reference; their rows say 'none (fallback: <reason>)' in the "
                        "reference column. Without it such input is an error")
    p.add_argument("--quiet", action="store_true", help="no progress bar while detecting")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="detector processes for images and videos (default 0: one per core)")
    p.set_defaults(func=run)


def load_input(path: Path, scheme: str, detector: str | None = None, stride: int = 1, subject_from: str | None = None,
               subject_column: str = "subject", progress: bool = True, workers: int | None = 1) -> list:
    """Landmark sequences of a table, an image, a video or a folder, in ``scheme`` where convertible.

    ``subject_from``: see :func:`geopain.extract.assign_subjects` (default ``"file"`` for
    images, videos and folders; ``"column"`` with ``subject_column`` for tables).
    """
    from ..extract import check_subject_from, read_table_subjects
    from ..io.tables import read_table
    from ..media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, media_kind
    from ..species import convert_sequence, get_scheme

    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    ext = path.suffix.lower()
    species = get_scheme(scheme).species
    if path.is_file() and ext in TABLE_EXT:
        seqs = read_table_subjects(path, subject_from or "column", subject_column)
    elif path.is_dir() or media_kind(path) is not None:
        from ..extract import extract

        subject_from = subject_from or "file"
        check_subject_from(subject_from)
        with tempfile.TemporaryDirectory(prefix="geopain-predict-") as tmp:
            res = extract([path], species=species, detector=detector, scheme=scheme,
                          output=Path(tmp) / "landmarks.parquet", stride=stride, resume=False, progress=progress,
                          subject_from=subject_from, workers=workers)
            for line in res.errors:
                print(f"skipped: {line}", file=sys.stderr)
            if not res.n_rows:
                raise InputError(path, "; ".join(res.errors) or "no frames could be read")
            seqs = read_table(res.path)
        if media_kind(path) == "image" and not any(s.face_found.any() for s in seqs):
            raise InputError(path, "no face found in the image")
    else:
        raise InputError(path, f"unknown input type {ext!r}: expected a table ({', '.join(sorted(TABLE_EXT))}), "
                               f"an image ({', '.join(sorted(IMAGE_EXTENSIONS))}), a video "
                               f"({', '.join(sorted(VIDEO_EXTENSIONS))}) or a folder of them")
    return [s if s.scheme == scheme else convert_sequence(s, scheme) for s in seqs]


def reference_problem(est, seqs: list) -> str | None:
    """Why ``seqs`` cannot support ``est``'s reference (one line), or ``None``."""
    reason = est.reference_problem(seqs)
    return None if reason is None else " ".join(str(reason).split())


def reference_name(est) -> str:
    return str(getattr(est, "reference", None) or "none")


def _predict(est, seqs: list, reference: str | None = None):
    """Frames and sequences of one model; ``reference`` overrides the ``reference`` column."""
    frames = est.predict_frames(seqs)
    sequences = est.predict_sequences(seqs)
    if reference is not None or "reference" not in frames.columns:
        frames["reference"] = reference if reference is not None else reference_name(est)
    if reference is not None or "reference" not in sequences.columns:
        keys = ["subject", "sequence", "face_id"]
        first = frames.groupby(keys, sort=False)["reference"].first()
        sequences["reference"] = [first.get(tuple(k), reference_name(est)) for k in sequences[keys].itertuples(index=False)]
    return frames, sequences


def predict_with_reference(est, seqs: list, model_name: str, fallback=None, fallback_name: str | None = None,
                           warn=None):
    """``(frames, sequences)`` of ``est`` on ``seqs``, honest about the model's reference.

    When the sequences cannot support the model's reference: without ``fallback`` a
    one-line :class:`~geopain.errors.ReferenceUnavailableError`; with it, the subjects that
    lack what the reference needs are scored by ``fallback`` (their ``reference`` column
    says ``"<fallback reference> (fallback: <reason>)"``) and ``warn`` gets one line.
    """
    import numpy as np
    import pandas as pd

    problem = reference_problem(est, seqs)
    if problem is None:
        return _predict(est, seqs)
    if fallback is None:
        raise ReferenceUnavailableError(f"{model_name}: {problem}; {FALLBACK_HINT}")
    if fallback.task != est.task:
        raise GeopainError(f"--fallback {fallback_name} predicts the {fallback.task} task, {model_name} the {est.task} "
                           f"task; the fallback must predict the same")
    groups: dict[str, list] = {}
    for s in seqs:
        groups.setdefault(s.subject, []).append(s)
    bad = {subj: r for subj, group in groups.items() if (r := reference_problem(est, group)) is not None}
    if not bad:  # the problem is not one of single subjects: the whole input falls back
        bad = {subj: problem for subj in groups}
    good = [s for s in seqs if s.subject not in bad]
    rest = [s for s in seqs if s.subject in bad]
    fb_scheme = getattr(fallback, "scheme_", None)
    if fb_scheme and any(s.scheme != fb_scheme for s in rest):
        from ..species import convert_sequence

        try:
            rest = [s if s.scheme == fb_scheme else convert_sequence(s, fb_scheme) for s in rest]
        except SchemeError:
            raise GeopainError(f"--fallback {fallback_name} was trained on scheme {fb_scheme}, {model_name} on "
                               f"{rest[0].scheme} (no conversion declared)") from None
    fb_problem = reference_problem(fallback, rest)
    if fb_problem is not None:
        raise ReferenceUnavailableError(f"{model_name}: {problem}; the fallback {fallback_name} cannot score them "
                                        f"either: {fb_problem}")
    if warn is not None:
        warn(f"warning: {model_name}: {problem}; {len(bad)} of {len(groups)} subject(s) scored with the fallback "
             f"model {fallback_name} (reference {reference_name(fallback)})")
    parts_f, parts_s = [], []
    if good:
        f, s = _predict(est, good)
        parts_f.append(f)
        parts_s.append(s)
    fb_ref = reference_name(fallback)
    for reason in dict.fromkeys(bad.values()):
        chunk = [s for s in rest if bad[s.subject] == reason]
        f, s = _predict(fallback, chunk, reference=f"{fb_ref} (fallback: {reason})")
        parts_f.append(f)
        parts_s.append(s)
    order = {(s.subject, s.sequence, int(s.face_id)): i for i, s in enumerate(seqs)}

    def in_input_order(parts):
        df = pd.concat(parts, ignore_index=True)
        pos = np.array([order.get((str(a), str(b), int(c)), len(order))
                        for a, b, c in zip(df["subject"], df["sequence"], df["face_id"])])
        return df.iloc[np.argsort(pos, kind="stable")].reset_index(drop=True)

    return in_input_order(parts_f), in_input_order(parts_s)


def run(args: argparse.Namespace) -> int:
    from ..lite import OnnxPainModel, is_onnx

    def load(path: str):
        """A model directory (torch) or an exported .onnx file (numpy + onnxruntime only)."""
        if is_onnx(path):
            return OnnxPainModel(path)
        from ..models import PainEstimator

        return PainEstimator.load(path)

    est = load(args.model)
    fallback = load(args.fallback) if args.fallback else None
    seqs = load_input(Path(args.input), est.scheme_, args.detector, args.stride, args.subject_from,
                      args.subject_column, progress=not args.quiet, workers=args.workers)
    frames, sequences = predict_with_reference(est, seqs, args.model, fallback, args.fallback,
                                               warn=lambda line: print(line, file=sys.stderr))
    from ..tasks import class_names, readable_columns

    task = est.task
    frames, sequences = readable_columns(frames, task), readable_columns(sequences, task)  # p_pain, integer levels
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
    what = "score" if task == "score" else ("pain probability" if task == "binary" else "level")
    print(f"{len(frames)} frames, {len(sequences)} sequences of {sequences['subject'].nunique()} subject(s) "
          f"({int(frames['face_found'].sum())} frames with a face)")
    col = "prediction" if task != "binary" else f"p_{class_names(task, 2)[1]}"
    for _, r in sequences.head(SHOWN_ROWS).iterrows():
        ref = r.get("reference")
        note = f" [{ref.split(' (', 1)[0]} reference of the fallback model]" if isinstance(ref, str) and "(fallback" in ref else ""
        value = r[col]
        shown = "no face" if value is None or value != value else f"{value}" if task == "levels" else f"{value:.3f}"
        print(f"  {r['subject']}/{r['sequence']} face {r['face_id']}: {what} {shown}{note}")
    if len(sequences) > SHOWN_ROWS:
        print(f"  ... {len(sequences) - SHOWN_ROWS} more sequence(s) in {seq_path}")
    print(f"wrote {frame_path} and {seq_path}")
    return 0
