"""``geopain extract``: landmarks from images, folders and videos into one table."""
from __future__ import annotations

import argparse
import shlex
import sys

from ..errors import GeopainError, SettingsChangedError
from ..jsonio import write_json

#: One line for ``geopain --help`` (read without importing what the command needs).
HELP = "detect landmarks in images, folders and videos into a landmark table"


def register(sub) -> None:
    p = sub.add_parser(
        "extract", help=HELP,
        description="Detect facial landmarks in images, folders (recursive) and videos and write one landmark "
                    "table (pixels of the source images). Resumable: run the same command again after an "
                    "interruption. Bad files are listed in OUT.errors.txt (e.g. out/x.parquet.errors.txt); "
                    "face images are never written. An existing OUT from other inputs or settings is kept "
                    "unless --overwrite.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image or video files, or folders")
    p.add_argument("--species", default="human", help="species whose faces to find (default: human)")
    p.add_argument("--detector", default=None, help="detector name (see 'geopain detector list'); default: the species'")
    p.add_argument("--scheme", default=None, help="convert to this landmark scheme, e.g. human/ibug68")
    p.add_argument("--stride", type=int, default=1, help="use every K-th video frame (default 1)")
    p.add_argument("--weights", default=None, help="trained weights for the detector (yolo-pose)")
    p.add_argument("--no-resume", action="store_true", help="start over instead of continuing OUT.parts/")
    p.add_argument("--overwrite", action="store_true",
                   help="replace OUT when it holds landmarks from other inputs or settings (the same run "
                        "again needs no flag)")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="detector processes working on different videos, chunks of long videos and image chunks at "
                        "once (default 0: one per core); the table is the same as with --workers 1, row for row")
    p.add_argument("--chunk-frames", type=int, default=None, metavar="K",
                   help="with several workers (or --ray), split long videos into chunks of K source frames that "
                        "run side by side (default: 3000, or finer when there are fewer videos than workers)")
    p.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                   help="one Ray task per video / image chunk on a Ray cluster (ADDRESS of its head, e.g. "
                        "10.0.0.1:6379; without one: the cluster started on this machine with 'ray start'; 'local': "
                        "start Ray here); the table is that of a local run, and a lost worker's task runs again")
    p.add_argument("--subject-from", choices=["folder", "file", "face-track", "column"], default="folder",
                   help="who is who: 'folder' (default): the folder holding each file is one subject (one person "
                        "per folder); 'file': each image or video is its own subject (a folder of photos of "
                        "different people); 'face-track': each tracked face of each file is its own subject "
                        "(<file>#face<id>); 'column' is for landmark tables only (see 'geopain predict'). Models "
                        "that compare a face with the same subject's other frames depend on this")
    p.add_argument("--min-confidence", type=float, default=None, metavar="C",
                   help="faces whose confidence is below C (0-1) become 'no face' (rows kept); the summary "
                        "says how many")
    p.add_argument("--overlays", default=None, metavar="DIR",
                   help="draw the landmarks on each image (and on sampled video frames) into PNGs in DIR, to "
                        "see what the detector found")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no quality summary")
    p.add_argument("-o", "--output", required=True, help="output table (.parquet or .csv)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..extract import extract

    kw = {"weights": args.weights} if args.weights else {}
    try:
        res = extract(args.inputs, species=args.species, detector=args.detector, scheme=args.scheme,
                      output=args.output, stride=args.stride, resume=not args.no_resume, ray_address=args.ray,
                      detector_kwargs=kw, progress=not args.quiet, subject_from=args.subject_from,
                      overwrite=args.overwrite, workers=args.workers, chunk_frames=args.chunk_frames)
    except SettingsChangedError as exc:
        raise SettingsChangedError(f"{exc}; the exact command: {rerun_command(args, '--no-resume')}") from None
    for line in res.errors:
        print(f"skipped: {line}", file=sys.stderr)
    report_quality(res.path, args.min_confidence, args.overlays, quiet=args.quiet)
    resumed = f", {res.n_resumed} item(s) resumed" if res.n_resumed else ""
    print(f"wrote {res.path}: {res.n_rows} rows from {res.n_frames} frames of {res.n_items} item(s){resumed} "
          f"in {res.seconds:.1f} s; {len(res.errors)} error(s)" + (f", see {res.error_log}" if res.error_log else ""))
    return 1 if res.errors else 0


def rerun_command(args: argparse.Namespace, *extra: str) -> str:
    """The command the user ran (``args.argv``, set by :func:`geopain.cli.main`) with ``extra``
    flags added, quoted for a shell."""
    argv = list(getattr(args, "argv", None) or sys.argv[1:])
    return shlex.join(["geopain", *argv, *[e for e in extra if e not in argv]])


def report_quality(path, min_confidence: float | None, overlays: str | None, quiet: bool = False) -> dict:
    """Apply ``--min-confidence`` to the written table, write ``OUT.quality.json`` (and
    ``--overlays``), print the summary unless ``quiet``; returns the summary."""
    from pathlib import Path

    from ..io.tables import is_coordinate_column, read_frame, sequences_from_frame, write_table
    from ..quality import draw_overlays, drop_low_confidence, format_summary, quality_summary

    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise GeopainError(f"--min-confidence must be between 0 and 1, got {min_confidence}")
    path = Path(path)
    frame, meta = read_frame(path)
    seqs = sequences_from_frame(frame, meta, source=str(path))
    dropped = 0
    if min_confidence is not None and "confidence" in frame:
        import numpy as np

        xyz = [c for c in frame.columns if is_coordinate_column(c)]
        found = np.isfinite(frame[[c for c in xyz if c.startswith("x_")]].to_numpy(float)).any(1)
        low = found & (frame["confidence"].to_numpy(float) < min_confidence)
        dropped = int(low.sum())
        if dropped:
            frame.loc[low, xyz] = np.nan
            write_table(frame, path, meta={**meta, "min_confidence": min_confidence})
            seqs, _ = drop_low_confidence(seqs, min_confidence)
    summary = quality_summary(seqs, dropped, min_confidence)
    write_json(path.with_name(path.name + ".quality.json"), summary)
    if not quiet:
        for line in format_summary(summary):
            print(line)
    if overlays:
        files = draw_overlays(seqs, overlays)
        if not quiet:
            print(f"overlays: {len(files)} image(s) in {overlays}")
    return summary
