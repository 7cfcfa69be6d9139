"""``geopain detector list|train``: what each detector does, and training YOLO pose models."""
from __future__ import annotations

import argparse

from ..errors import GeopainError

#: One line for ``geopain --help`` (read without importing what the command needs).
HELP = "list landmark detectors or train a YOLO pose model"


def register(sub) -> None:
    p = sub.add_parser("detector", help=HELP,
                       description="Landmark detectors: list their capabilities, or train a YOLO pose model for a "
                                   "species' scheme offline.")
    s = p.add_subparsers(dest="detector_command", metavar="ACTION")
    ls = s.add_parser("list", help="capabilities table of the detectors",
                      description="What each detector finds (points, 2D/3D, scheme) and where its weights come from.")
    ls.set_defaults(func=run_list)
    tr = s.add_parser("train", help="train a YOLO pose model offline",
                      description="Train YOLOv8n-pose on a YOLO pose dataset (data.yaml) whose keypoints follow the "
                                  "species' scheme; from scratch, or from --weights. Offline, on the CPU by default.")
    tr.add_argument("--data", required=True, help="the dataset's data.yaml (kpt_shape and flip_idx are checked)")
    tr.add_argument("--species", required=True, help="species (its default scheme unless --scheme)")
    tr.add_argument("--scheme", default=None, help="keypoint scheme, e.g. sheep/spfes")
    tr.add_argument("--weights", default=None, help="start from these weights (default: from scratch, yolov8n-pose.yaml)")
    tr.add_argument("--epochs", type=int, default=50)
    tr.add_argument("--imgsz", type=int, default=640)
    tr.add_argument("--batch", type=int, default=16)
    tr.add_argument("--device", default="cpu")
    tr.add_argument("--quiet", action="store_true", help="only warnings and errors (no per-epoch lines)")
    tr.add_argument("-o", "--output", required=True, help="output folder (weights in OUT/weights/best.pt)")
    tr.set_defaults(func=run_train)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def run_list(args: argparse.Namespace) -> int:
    from ..detectors import capabilities

    rows = capabilities()
    cols = ["name", "points", "dims", "scheme", "installed", "version", "weights"]
    table = [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip())
    for t in table:
        print("  ".join(v.ljust(w) for v, w in zip(t, widths)).rstrip())
    return 0


def run_train(args: argparse.Namespace) -> int:
    from ..detectors.yolo import train_yolo_pose
    from ..species import default_scheme, get_scheme, scheme_key

    scheme = scheme_key(args.scheme, args.species) if args.scheme else default_scheme(args.species)
    sch = get_scheme(scheme)
    if sch.species != args.species:
        raise GeopainError(f"scheme {scheme} is for {sch.species}, not {args.species}")
    best = train_yolo_pose(args.data, scheme, args.output, weights=args.weights, epochs=args.epochs,
                           imgsz=args.imgsz, batch=args.batch, device=args.device, quiet=args.quiet)
    print(f"trained {scheme} pose model: {best}")
    print(f"use it with: geopain extract INPUT --species {args.species} --detector yolo-pose --weights {best} -o OUT.parquet")
    return 0
