"""``geopain pretrain --species S [--model M] -o DIR``: pretrain an encoder on a large simulated cohort."""
from __future__ import annotations

import argparse

#: One line for ``geopain --help`` (read without importing what the command needs).
HELP = "pretrain a model on a large simulated cohort (thousands of identities)"


def register(sub: argparse._SubParsersAction) -> None:
    from ..tasks import TASKS, canonical_task

    p = sub.add_parser("pretrain", help=HELP,
                       description="Simulate a large cohort of one species (randomised generator, every confounder) "
                                   "and train a reference-free model on it; writes a model directory plus "
                                   "pretrain.json, the settings that reproduce it exactly. Start training from it "
                                   "with 'geopain train ... --init DIR'.")
    p.add_argument("--species", default="human", help="species to simulate (default human)")
    p.add_argument("--scheme", default=None, help="landmark scheme (default: the species')")
    p.add_argument("--model", default="wgnn", help="model to pretrain (default wgnn)")
    p.add_argument("--task", default="score", choices=list(TASKS), type=canonical_task,
                   help="pretraining target (default score: the scale's total, the richest signal)")
    p.add_argument("--subjects", type=int, default=None, help="simulated identities (default 1000)")
    p.add_argument("--sequences", type=int, default=None, help="sequences per identity (default 2)")
    p.add_argument("--frames", type=int, default=None, help="frames per sequence (default 12)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the cohort and the training (default 0)")
    p.add_argument("--config", default=None, help="a pretrain.json to reproduce (options given here override it)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("-o", "--output", required=True, help="model directory to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..pretrain import PretrainConfig, pretrain

    cfg = PretrainConfig.read(args.config) if args.config else PretrainConfig()
    if not args.config:
        cfg.species, cfg.scheme, cfg.model, cfg.task, cfg.seed = args.species, args.scheme, args.model, args.task, args.seed
    for attr, value in (("subjects", args.subjects), ("sequences_per_subject", args.sequences), ("frames", args.frames)):
        if value is not None:
            setattr(cfg, attr, value)
    if args.epochs is not None:
        cfg.estimator = {**cfg.estimator, "epochs": args.epochs}
    out = pretrain(cfg, args.output, verbose=not args.quiet)
    print(f"wrote {out} ({cfg.model} pretrained on {cfg.subjects} simulated {cfg.species} identities)")
    return 0
