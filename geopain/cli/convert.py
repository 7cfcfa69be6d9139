"""``geopain convert INPUT... --format F -o OUT.parquet``: landmark files users have -> one table.

Folders are searched recursively for the format's files. Files that cannot be read are
listed on stderr, one line each (``path: problem``), and the rest is still written.
Exit code: 0 all read, 1 some failed (the table holds the rest), 2 none could be read.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import GeopainError

#: One line for ``geopain --help`` (read without importing what the command needs).
HELP = "convert OpenFace, .pts, DeepLabCut, YOLO or CatFLW landmarks into a landmark table"


def register(sub: argparse._SubParsersAction) -> None:
    from ..io.readers import READERS

    formats = READERS.names()
    lines = "\n".join(f"  {f:<9} {', '.join(READERS.info(f)['extensions'])}: {READERS.info(f)['description']}"
                      for f in formats)
    p = sub.add_parser(
        "convert", help=HELP,
        description="Read landmark files in the formats users already have and write one geopain landmark\n"
                    "table (Parquet, or CSV when OUT ends in .csv). Folders are searched recursively.\n"
                    "Bad files are listed on stderr, one line each; the rest is written.\n"
                    "Exit code 0: all read, 1: some failed, 2: none could be read.",
        epilog="formats:\n" + lines, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files or folders (searched recursively)")
    p.add_argument("--format", "-f", required=True, choices=formats, help="input format")
    p.add_argument("--scheme", "-s", default=None,
                   help="landmark scheme key (e.g. sheep/spfes) or adapter YAML path; needed for catflw; dlc "
                        "without it keeps the file's body-part names (species unknown: enough for convert "
                        "and info, analyses need a scheme)")
    p.add_argument("--output", "-o", required=True, help="output table (.parquet or .csv)")
    p.add_argument("--coords", choices=("2d", "3d"), default=None,
                   help="openface: 2D pixel landmarks x_i,y_i (default) or 3D X_i,Y_i,Z_i in mm")
    p.add_argument("--split", choices=("train", "val", "test"), default=None,
                   help="yolo: read only this split (default: all listed in data.yaml)")
    p.add_argument("--pcutoff", type=float, default=None,
                   help="dlc: points with likelihood below this become missing (default: keep all)")
    p.add_argument("--zero-based", action="store_true", help="pts: subtract 1 from the 1-based coordinates")
    p.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..io.readers import READERS, convert_files
    from ..io.tables import write_table

    kw = {"coords": args.coords, "split": args.split, "pcutoff": args.pcutoff,
          "zero_based": args.zero_based or None, "scheme": args.scheme}
    allowed = READERS.info(args.format)["options"]
    given = {k: v for k, v in kw.items() if v is not None}
    wrong = sorted(set(given) - set(allowed))
    if wrong:
        flags = ", ".join("--" + w.replace("_", "-") for w in wrong)
        raise GeopainError(f"{flags} does not apply to --format {args.format}")
    if not args.output.lower().endswith((".parquet", ".csv")):
        raise GeopainError(f"output {args.output}: must end in .parquet or .csv")
    seqs, errors = convert_files(args.inputs, args.format, progress=not args.quiet and sys.stderr.isatty(),
                                 exclude=[args.output], **given)
    for line in errors:
        print(f"geopain convert: error: {line}", file=sys.stderr)
    if not args.quiet:
        notes = dict.fromkeys(n for s in seqs for n in s.meta.get("notes", []))
        for note in notes:
            print(f"geopain convert: note: {note}", file=sys.stderr)
    if not seqs:
        print(f"geopain convert: nothing converted ({len(errors)} input(s) failed)", file=sys.stderr)
        return 2
    schemes = sorted({s.scheme for s in seqs})
    if len(schemes) > 1:
        raise GeopainError(f"the inputs hold several landmark schemes {schemes}; convert them separately "
                           "or give --scheme")
    path = write_table(seqs, args.output)
    if not args.quiet:
        frames = sum(s.n_frames for s in seqs)
        files = len({s.source for s in seqs})
        print(f"wrote {path}: {len(seqs)} sequences, {frames} frames from {files} file(s), scheme {schemes[0]}"
              + (f"; {len(errors)} input(s) failed" if errors else ""))
    return 1 if errors else 0
