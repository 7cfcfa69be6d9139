"""``geopain extract``: landmarks from images, folders and videos into one table."""
from __future__ import annotations

import argparse
import shlex
import sys

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
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run one Ray task per video; without ADDRESS Ray starts on this machine")
    p.add_argument("--subject-from", choices=["folder", "file", "face-track", "column"], default="folder",
                   help="who is who: 'folder' (default): the folder holding each file is one subject (one person "
                        "per folder); 'file': each image or video is its own subject (a folder of photos of "
                        "different people); 'face-track': each tracked face of each file is its own subject "
                        "(<file>#face<id>); 'column' is for landmark tables only (see 'geopain predict'). Models "
                        "that compare a face with the same subject's other frames depend on this")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("-o", "--output", required=True, help="output table (.parquet or .csv)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import SettingsChangedError
    from ..extract import extract

    kw = {"weights": args.weights} if args.weights else {}
    try:
        res = extract(args.inputs, species=args.species, detector=args.detector, scheme=args.scheme,
                      output=args.output, stride=args.stride, resume=not args.no_resume, ray_address=args.ray,
                      detector_kwargs=kw, progress=not args.quiet, subject_from=args.subject_from,
                      overwrite=args.overwrite)
    except SettingsChangedError as exc:
        raise SettingsChangedError(f"{exc}; the exact command: {rerun_command(args, '--no-resume')}") from None
    for line in res.errors:
        print(f"skipped: {line}", file=sys.stderr)
    resumed = f", {res.n_resumed} item(s) resumed" if res.n_resumed else ""
    print(f"wrote {res.path}: {res.n_rows} rows from {res.n_frames} frames of {res.n_items} item(s){resumed} "
          f"in {res.seconds:.1f} s; {len(res.errors)} error(s)" + (f", see {res.error_log}" if res.error_log else ""))
    return 1 if res.errors else 0


def rerun_command(args: argparse.Namespace, *extra: str) -> str:
    """The command the user ran (``args.argv``, set by :func:`geopain.cli.main`) with ``extra``
    flags added, quoted for a shell."""
    argv = list(getattr(args, "argv", None) or sys.argv[1:])
    return shlex.join(["geopain", *argv, *[e for e in extra if e not in argv]])
