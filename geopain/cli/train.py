"""``geopain train DATA --model M --task T [--temporal] -o MODEL_DIR``: fit and save a model."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..defaults import TRAINING
from ..errors import GeopainError

#: One line for ``geopain --help`` (read without importing what the command needs).
HELP = "train a pain model on a landmark table and save it"


def add_training_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``evaluate``."""
    from ..models import estimator
    from ..tasks import TASKS, canonical_task

    references = estimator.REFERENCES
    p.add_argument("--task", choices=list(TASKS), default="binary", type=canonical_task,
                   help="binary pain / no pain, the ordered levels of the species' scale ('levels'; formerly "
                        "'five'), or the continuous score (default: binary)")
    p.add_argument("--temporal", nargs="?", const="gru", default=None, choices=["gru", "lstm", "cloud"],
                   help="predict from windows of frames: frame embeddings + GRU (default) or LSTM, or a "
                        "spatio-temporal point cloud ('cloud')")
    d = TRAINING  # geopain.defaults: the same table PainEstimator and the training loop use
    p.add_argument("--window", type=int, default=d["window"], help=f"frames per temporal window (default {d['window']})")
    p.add_argument("--window-step", type=int, default=d["window_step"],
                   help=f"frames between window starts (default {d['window_step']})")
    p.add_argument("--epochs", type=int, default=d["epochs"], help=f"maximum training epochs (default {d['epochs']})")
    p.add_argument("--batch-size", type=int, default=d["batch_size"],
                   help=f"training batch size (default {d['batch_size']})")
    p.add_argument("--hidden", type=int, default=d["hidden"], help=f"hidden width of neural models (default {d['hidden']})")
    p.add_argument("--layers", type=int, default=d["layers"], help=f"layers of PointNet / WGNN (default {d['layers']})")
    p.add_argument("--lr", type=float, default=d["lr"], help=f"learning rate (default {d['lr']:g})")
    p.add_argument("--weight-decay", type=float, default=d["weight_decay"],
                   help=f"AdamW weight decay (default {d['weight_decay']:g})")
    p.add_argument("--patience", type=int, default=d["patience"],
                   help=f"early-stopping patience in epochs (default {d['patience']})")
    p.add_argument("--balance", choices=["weight", "sample", "none"], default=d["balance"] or "none",
                   help=f"class imbalance: weighted loss, balanced sampling or none (default {d['balance'] or 'none'})")
    p.add_argument("--reference", choices=list(references), default=None,
                   help="per-person reference the geometry is compared with: 'none' (default; works on a single "
                        "photo), 'first-frames' (each sequence's first frames), 'subject-median' (each subject's "
                        "median face over all its frames: subject-wise standardisation) or 'neutral-labelled' (the "
                        "frames marked neutral by a 'neutral' column of 1s in the table, e.g. a calm baseline; "
                        "while training, frames labelled no pain stand in). All but 'none' need several frames of "
                        "each subject at prediction too ('geopain predict --fallback' covers the rest)")
    p.add_argument("--baseline", choices=sorted(estimator.BASELINE_TO_REFERENCE), default=None,
                   help=argparse.SUPPRESS)  # deprecated alias of --reference
    p.add_argument("--init", default="auto", metavar="{auto,none,pretrained,PATH}",
                   help="initial weights: 'auto' (default: the encoder shipped with geopain for the landmark scheme "
                        "and model when there is one of this size, else random), 'none' (random), 'pretrained' "
                        "(the shipped encoder; an error without one) or a model directory written by 'geopain train' "
                        "or 'geopain pretrain'")
    p.add_argument("--finetune", choices=["all", "head"], default="all",
                   help="when starting from pretrained weights: train every weight from the calibrated pretrained "
                        "model, early stopping on held-out subjects keeping the start if nothing improves (all, "
                        "default), or keep the pretrained weights and fit only what is new (head)")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu or cuda")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def resolve_reference(args: argparse.Namespace) -> str:
    """``--reference``, or the deprecated ``--baseline`` mapped to it (with a warning)."""
    reference = getattr(args, "reference", None)
    baseline = getattr(args, "baseline", None)
    if baseline is not None:
        from ..models.estimator import BASELINE_TO_REFERENCE

        mapped = BASELINE_TO_REFERENCE[baseline]
        if reference is not None and reference != mapped:
            raise GeopainError(f"--baseline {baseline} (deprecated: --reference {mapped}) contradicts --reference "
                               f"{reference}; pass --reference only")
        print(f"warning: --baseline is deprecated; use --reference {mapped}", file=sys.stderr)
        reference = mapped
    return reference or "none"


def resolve_init(value: str | None) -> str | None:
    """``--init``: ``None`` (random), ``"auto"``, ``"pretrained"`` or a model directory (checked here)."""
    if value in (None, "", "none"):
        return None
    if value in ("auto", "pretrained"):
        return value
    if not Path(value).is_dir():
        raise GeopainError(f"--init {value}: expected auto, none, pretrained or a model directory written by 'geopain train'")
    return value


def estimator_params(args: argparse.Namespace) -> dict:
    return {
        "temporal": args.temporal or False, "window": args.window, "window_step": args.window_step,
        "epochs": args.epochs, "batch_size": args.batch_size, "hidden": args.hidden, "layers": args.layers,
        "lr": args.lr, "weight_decay": args.weight_decay, "patience": args.patience, "balance": None if args.balance == "none" else args.balance,
        "device": args.device, "seed": args.seed, "reference": resolve_reference(args),
        "init": resolve_init(getattr(args, "init", None)),
        "finetune": getattr(args, "finetune", "all"),
    }


def register(sub: argparse._SubParsersAction) -> None:
    from ..models import names

    p = sub.add_parser("train", help=HELP,
                       description="Train a pain model (normalise -> facial graphs or measurements -> model) on a "
                                   "labelled landmark table and save it as config.json + model.safetensors, with "
                                   "training curves.")
    p.add_argument("data", help="labelled landmark table (.parquet or .csv)")
    p.add_argument("--model", default="wgnn", choices=names(), help="model to train (default wgnn)")
    add_training_options(p)
    p.add_argument("-o", "--output", required=True, help="model directory to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..io.tables import read_table
    from ..models import PainEstimator

    seqs = read_table(args.data)
    params = estimator_params(args)
    est = PainEstimator(args.model, args.task, verbose=not args.quiet, **params)
    start = time.perf_counter()
    est.fit(seqs, out_dir=args.output)
    est.save(args.output)
    n_frames = sum(s.n_frames for s in seqs)
    hist = est.history_
    extra = "" if hist is None else f", best epoch {hist.best_epoch + 1}/{len(hist.rows)}"
    print(f"trained {args.model} ({args.task}{', temporal ' + str(params['temporal']) if params['temporal'] else ''}) "
          f"on {len(seqs)} sequences, {n_frames} frames, {len({s.subject for s in seqs})} subjects "
          f"in {time.perf_counter() - start:.1f} s{extra}")
    print(f"saved to {args.output}")
    return 0
