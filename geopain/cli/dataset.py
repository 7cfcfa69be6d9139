"""``geopain dataset``: turn UNBC-McMaster, BioVid Part A or a sheep SPFES folder into a landmark table."""
from __future__ import annotations

import argparse
import sys

#: One line for ``geopain --help`` (read without importing what the command needs).
HELP = "prepare a pain dataset (UNBC-McMaster, BioVid, sheep SPFES) as a labelled landmark table"

NAMES = ("unbc", "biovid", "sheep")


def register(sub) -> None:
    p = sub.add_parser(
        "dataset", help=HELP,
        description="Read a pain dataset folder as distributed and write one labelled landmark table whose "
                    "metadata names the dataset's evaluation protocols (for 'geopain evaluate'). "
                    "See datasets/*.md for layouts, licences and published numbers.")
    ds = p.add_subparsers(dest="action", metavar="ACTION")

    prep = ds.add_parser(
        "prepare", help="dataset folder -> labelled landmark table",
        description="Read the dataset folder ROOT and write OUT (.parquet or .csv). Resumable: run the same "
                    "command again after an interruption (finished subjects are kept in OUT.parts/). Bad files "
                    "are printed one per line and listed in OUT.errors.txt; the rest of the dataset still "
                    "loads (exit status 1 when there were errors, 0 when clean).")
    prep.add_argument("name", choices=NAMES, help="which dataset")
    prep.add_argument("root", metavar="ROOT", help="the dataset folder")
    prep.add_argument("-o", "--output", required=True, metavar="OUT", help="table to write (.parquet or .csv)")
    prep.add_argument("--detector", default=None,
                      help="unbc: re-detect landmarks on Images/ with this detector instead of the AAM points; "
                           "biovid: the detector run on the videos (default mediapipe)")
    prep.add_argument("--threshold", type=float, default=None,
                      help="pain = score > T (default: the species scale's, PSPI > 0 / SPFES > 1.5); unbc, sheep")
    prep.add_argument("--scheme", default=None, help="biovid: convert detections to this scheme, e.g. human/ibug68")
    prep.add_argument("--stride", type=int, default=None, help="biovid: use every K-th video frame")
    prep.add_argument("--biosignals", choices=("filtered", "raw", "none"), default=None,
                      help="biovid: which biosignals to align to the frames (default filtered; none to skip)")
    prep.add_argument("--rppg", action="store_true", default=None,
                      help="biovid: also read each video's forehead and cheek colour into the biosignal side table "
                           "(the camera's remote pulse, fused like the contact signals)")
    prep.add_argument("--landmarks", default=None,
                      help="biovid: a landmark table already extracted from the videos (no detector runs)")
    prep.add_argument("--workers", type=int, default=None, metavar="N",
                      help="biovid: detector processes working on different videos at once (default: one per core)")
    prep.add_argument("--no-resume", action="store_true", help="start over instead of continuing OUT.parts/")
    prep.add_argument("--quiet", action="store_true", help="no progress bar")
    prep.set_defaults(func=run_prepare)

    fix = ds.add_parser(
        "fixture", help="write a toy copy of a dataset's layout",
        description="Write a small synthetic copy of a dataset's folder layout (same file names and quirks, "
                    "made-up values) into DIR, to try 'geopain dataset prepare' without the licensed data.")
    fix.add_argument("name", choices=NAMES, help="which dataset")
    fix.add_argument("dir", metavar="DIR", help="folder to write")
    fix.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fix.set_defaults(func=run_fixture)

    lst = ds.add_parser("list", help="list the datasets geopain can prepare",
                        description="List the datasets with their protocols and cards.")
    lst.set_defaults(func=run_list)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_prepare(args: argparse.Namespace) -> int:
    from ..datasets import prepare

    options = {"detector": args.detector, "threshold": args.threshold, "scheme": args.scheme,
               "stride": args.stride, "landmarks": args.landmarks, "workers": args.workers, "rppg": args.rppg}
    if args.biosignals is not None:
        options["biosignals"] = None if args.biosignals == "none" else args.biosignals
    options = {k: v for k, v in options.items() if v is not None or k == "biosignals"}
    res = prepare(args.name, args.root, args.output, resume=not args.no_resume, progress=not args.quiet, **options)
    for line in res.errors:
        print(f"error: {line}", file=sys.stderr)
    for line in res.warnings:
        print(f"warning: {line}", file=sys.stderr)
    extra = "".join(f"; {k}: {v}" for k, v in res.extra.items())
    print(f"wrote {res.path}: {res.n_frames} frames, {res.n_sequences} sequences, {res.n_subjects} subjects; "
          f"protocols {', '.join(res.protocols)}; {len(res.errors)} error(s)"
          + (f", see {res.error_log}" if res.error_log else "") + extra)
    return 1 if res.errors else 0


def run_fixture(args: argparse.Namespace) -> int:
    from ..datasets.fixtures import make_fixture

    root = make_fixture(args.name, args.dir, seed=args.seed)
    print(f"wrote a toy {args.name} copy to {root}; try: geopain dataset prepare {args.name} {root} -o {args.name}.parquet")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from ..datasets import DATASETS

    for name in DATASETS.names():
        info = DATASETS.info(name)
        print(f"{name:<7} {info['title']}; protocols: {', '.join(info['protocols'])}; card: {info['card']}")
    return 0
