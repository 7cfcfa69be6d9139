"""``geopain demo``: the main job on embedded defaults (see :mod:`geopain.demo`)."""
from __future__ import annotations

import argparse

#: One line for ``geopain --help`` (read without importing what the command needs).
HELP = "run geopain end to end on embedded defaults (offline)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help=HELP,
        description="Detect, normalise and graph a real photo; simulate human and sheep cohorts; train and "
                    "evaluate baselines, PointNet and WGNN subject-independently; score the photo; write "
                    "report.html and metrics.json. The cohorts are simulated, not clinical data.")
    p.add_argument("-o", "--output", default="demo-output", help="output folder (default: demo-output)")
    p.add_argument("--subjects", type=int, default=16, help="simulated subjects per species")
    p.add_argument("--frames", type=int, default=24, help="frames per simulated sequence")
    p.add_argument("--epochs", type=int, default=60, help="maximum training epochs of the deep models (early stopping)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import DemoConfig, results_table, run_demo

    cfg = DemoConfig(subjects=args.subjects, frames=args.frames, epochs=args.epochs, seed=args.seed)
    results = run_demo(args.output, cfg, progress=not args.quiet)
    print(f"\nSimulated cohorts (not clinical data); subject-independent {cfg.folds}-fold results:")
    for row in results_table(results):
        print("  " + " | ".join(row))
    pred = results["photo"].get("prediction") or {}
    if pred:
        probs = ", ".join(f"{k} {v:.3f}" for k, v in pred["p_pain"].items())
        print(f"real photo (astronaut): p(pain) {probs} (models trained on {pred['trained_on']})")
    print(f"report: {args.output}/report.html  metrics: {args.output}/metrics.json")
    return 0
