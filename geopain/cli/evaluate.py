"""``geopain evaluate DATA --model M [M ...] --task T --protocol P -o RESULTS_DIR``."""
from __future__ import annotations

import argparse

from ..errors import GeopainError
from ..parallel import resolve_workers
from .train import add_training_options, estimator_params

#: One line for ``geopain --help`` (read without importing what the command needs).
HELP = "subject-independent evaluation of one or more models"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help=HELP,
                       description="Train and test models under a subject-independent protocol (leave-one-subject-"
                                   "out, grouped k-fold, a held-out subject list, or a protocol named in the table's "
                                   "metadata) and write results.json, results.md/.csv (a paper-ready table) and "
                                   "plots. Several models share the same folds, e.g. --model wgnn wgnn-uniform logreg "
                                   "measures the value of the edge weights and the gap to the baselines. Finished "
                                   "folds are reused when the same command runs again.")
    p.add_argument("data", help="labelled landmark table (.parquet or .csv)")
    p.add_argument("--model", nargs="+", default=["wgnn"],
                   help="model name(s), space- or comma-separated (default wgnn); see 'geopain train --help'")
    p.add_argument("--protocol", default="loso",
                   help="loso, kfold:K, holdout:FILE (one subject per line) or a protocol named in the table "
                        "(e.g. loso67); default loso")
    add_training_options(p)
    p.add_argument("-o", "--output", required=True, help="results directory")
    p.add_argument("--workers", type=int, default=1,
                   help="folds fitted at once, one process of one torch thread each (0: one per core; default 1); "
                        "the results are those of --workers 1")
    p.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                   help="fit the folds as tasks on a Ray cluster (ADDRESS of its head, e.g. 10.0.0.1:6379; without "
                        "one: the cluster started on this machine with 'ray start'; 'local': start Ray here); "
                        "the results are those of a local run")
    p.add_argument("--biosignals", metavar="FILE", default=None,
                   help="per-frame biosignal side table for the fusion models (fusion-late, fusion-early, "
                        "fusion-attention, biosignals); default: DATA's <stem>.biosignals.parquet, which "
                        "'geopain dataset prepare biovid' writes")
    p.add_argument("--no-estimate", action="store_true",
                   help="skip the time estimate printed before training (short probe fits on the first fold)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import markdown_table, run_protocol
    from ..evaluation.protocol import resolve_biosignals
    from ..io.tables import read_frame, sequences_from_frame
    from ..models import MODELS

    models = [m for item in args.model for m in item.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise GeopainError(f"unknown model(s) {unknown}; known: {', '.join(MODELS.names())}")
    biosignals = None
    if any(MODELS.info(m)["kind"] == "fusion" for m in models):
        biosignals = resolve_biosignals(args.biosignals, args.data)
    frame, meta = read_frame(args.data)
    seqs = sequences_from_frame(frame, meta, source=args.data)
    params = estimator_params(args)
    temporal = params.pop("temporal")
    seed = params.pop("seed")
    results = run_protocol(seqs, models, args.task, args.protocol, temporal=temporal, out_dir=args.output,
                           meta=meta, seed=seed, progress=not args.quiet,
                           estimate=not (args.quiet or args.no_estimate), workers=resolve_workers(args.workers),
                           ray_address=args.ray, biosignals=biosignals,
                           **params)
    print(markdown_table(results), end="")
    print(f"results written to {args.output}/results.json, results.md, results.csv, plots and every held-out "
          f"prediction in {args.output}/heldout_predictions.parquet")
    return 0
