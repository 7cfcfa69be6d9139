"""``geopain info FILE``: what a landmark table holds."""
from __future__ import annotations

import argparse

#: One line for ``geopain --help`` (read without importing what the command needs).
HELP = "print what a landmark table holds"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help=HELP,
                       description="Print rows, subjects, sequences, scheme, detector, units and labels of a table.")
    p.add_argument("file", help="a landmark table (.parquet or .csv)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..io.summary import summarize_table  # Arrow only: no pandas, no torch

    t = summarize_table(args.file)
    print(f"file:       {args.file}")
    print(f"rows:       {t['rows']}")
    print(f"subjects:   {t['subjects']}")
    print(f"sequences:  {t['sequences']}")
    print(f"scheme:     {', '.join(t['schemes'])} ({t['n_points']} points)")
    print(f"detector:   {', '.join(t['detectors']) or 'unknown'}")
    print(f"units:      {', '.join(t['units'])}; dims {', '.join(str(d) for d in t['dims'])}")
    print(f"no face:    {t['no_face']} rows")
    for label, info in t["labels"].items():
        if "values" in info:
            desc = ", ".join(f"{v}: {c}" for v, c in info["values"].items())
        else:
            desc = f"mean {info['mean']:.2f}, range {info['min']:.2f}-{info['max']:.2f}" if info["labelled"] else "empty"
        print(f"{label + ':':<11} {desc} ({info['labelled']} labelled)")
    return 0
