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
    import numpy as np

    from ..io.tables import read_frame, sequences_from_frame
    from ..landmarks import LABEL_COLUMNS

    frame, meta = read_frame(args.file)
    seqs = sequences_from_frame(frame, meta, source=args.file)
    n = seqs[0].n_points
    print(f"file:       {args.file}")
    print(f"rows:       {len(frame)}")
    print(f"subjects:   {frame['subject'].nunique() if 'subject' in frame else 1}")
    print(f"sequences:  {len(seqs)}")
    print(f"scheme:     {', '.join(sorted(frame['scheme'].unique()))} ({n} points)")
    dets = sorted({d for d in frame.get('detector', []) if isinstance(d, str) and d})
    print(f"detector:   {', '.join(dets) or 'unknown'}")
    print(f"units:      {', '.join(sorted({s.units for s in seqs}))}; dims {', '.join(sorted({str(s.dims) for s in seqs}))}")
    x = frame[[f"x_{i}" for i in range(n)]].to_numpy()
    print(f"no face:    {int(np.isnan(x).all(1).sum())} rows")
    for label in LABEL_COLUMNS:
        if label in frame:
            v = frame[label].to_numpy(float)
            ok = v[np.isfinite(v)]
            if label in ("pain", "level"):
                vals, counts = np.unique(ok, return_counts=True)
                desc = ", ".join(f"{int(a)}: {c}" for a, c in zip(vals, counts))
            else:
                desc = f"mean {ok.mean():.2f}, range {ok.min():.2f}-{ok.max():.2f}" if ok.size else "empty"
            print(f"{label + ':':<11} {desc} ({ok.size} labelled)")
    return 0
