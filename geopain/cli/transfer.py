"""``geopain transfer SOURCE TARGET --method M --target-subjects 1,2,4,8 -o DIR``: few-shot transfer curves."""
from __future__ import annotations

import argparse
import time

from ..errors import GeopainError

_DESCRIPTION = """\
Train a shared-region model (species-specific graph encoders -> the homologous facial regions ->
one shared pain head) on SOURCE and transfer it to TARGET: another species (through the homology
declared in each species.yaml), or the same species seen by another detector or dataset (TARGET
is mapped to SOURCE's landmark scheme through the declared conversion). For each fold of TARGET's
subjects and each count in --target-subjects, compares target-only training (random start) with
the transfer method, on the fold's held-out target subjects; zero-shot (no target label) is
reported in every fold. Writes results.json, learning_curve.png and table.md to DIR.
Binary pain (each species' own scale threshold); balanced accuracy on frames.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transfer", help="transfer a pain model across species, detectors or datasets (few-shot curves)",
                       description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="labelled source landmark table (.parquet or .csv)")
    p.add_argument("target", help="labelled target landmark table (.parquet or .csv)")
    p.add_argument("--method", choices=["zero-shot", "finetune", "dann"], default="finetune",
                   help="zero-shot (no target labels), finetune (from the source model, source replayed) or dann "
                        "(gradient reversal with the unlabelled target frames) (default finetune)")
    p.add_argument("--target-subjects", default="1,2,4,8,all",
                   help="labelled target training subjects per point of the curve, e.g. 1,2,4,8,all (default)")
    p.add_argument("--folds", type=int, default=3, help="folds over the target's subjects (default 3)")
    p.add_argument("--repeats", type=int, default=1, help="draws of the labelled subjects per fold and count (default 1)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs of source and target-only models (default 30)")
    p.add_argument("--finetune-epochs", type=int, default=30, help="epochs of fine-tuning / DANN (default 30)")
    p.add_argument("--hidden", type=int, default=32, help="hidden width (default 32)")
    p.add_argument("--batch-size", type=int, default=128, help="frames per batch and domain (default 128)")
    p.add_argument("--layers", type=int, default=3, help="message-passing layers (default 3)")
    p.add_argument("--adversarial", type=float, default=0.3, help="DANN domain-loss weight (default 0.3)")
    p.add_argument("--source-replay", type=float, default=0.5, help="weight of the source while fine-tuning (default 0.5)")
    p.add_argument("--reference", default="auto", choices=["auto", "none", "subject-median"],
                   help="per-person reference: subject-median (each subject's own median face out, label-free; needs "
                        "8+ frames per subject), none (single photos), or auto: subject-median when every subject of "
                        "both tables has 8+ frames with a face, else none (default auto)")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu or cuda")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..io.tables import read_table
    from ..species import get_scheme
    from ..transfer.core import TransferSettings, few_shot, parse_counts, prepare_domain
    from ..transfer.report import write_report

    counts = parse_counts(args.target_subjects)
    if args.folds < 2:
        raise GeopainError(f"--folds must be >= 2, got {args.folds}")
    start = time.perf_counter()
    src_seqs, tgt_seqs = read_table(args.source), read_table(args.target)
    if not src_seqs or not tgt_seqs:
        raise GeopainError(f"{args.source if not src_seqs else args.target}: the table holds no sequences")
    reference = args.reference
    if reference == "auto":
        reference = "subject-median" if all(_frames_per_subject(x) >= 8 for x in (src_seqs, tgt_seqs)) else "none"
        print(f"per-person reference: {reference}")
    source = prepare_domain(src_seqs, name=_name(args.source), reference=reference)
    tgt_species = get_scheme(tgt_seqs[0].scheme).species
    # the same species: map the target's points to the source's scheme (another detector / dataset)
    target = prepare_domain(tgt_seqs, name=_name(args.target), reference=reference,
                            scheme=source.key if tgt_species == source.scheme.species else None)
    settings = TransferSettings(hidden=args.hidden, layers=args.layers, epochs=args.epochs, batch_size=args.batch_size,
                                finetune_epochs=args.finetune_epochs, adversarial=args.adversarial,
                                source_replay=args.source_replay, device=args.device, seed=args.seed)
    result = few_shot(source, target, args.method, counts, folds=args.folds, repeats=args.repeats,
                      settings=settings, progress=not args.quiet)
    result["seconds"] = time.perf_counter() - start
    result["reference"] = reference
    paths = write_report(result, args.output)
    from ..transfer.report import markdown_table

    print(markdown_table(result))
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _frames_per_subject(seqs) -> int:
    """The fewest frames with a face of any subject in ``seqs``."""
    counts: dict[str, int] = {}
    for s in seqs:
        counts[s.subject] = counts.get(s.subject, 0) + int(s.face_found.sum())
    return min(counts.values()) if counts else 0


def _name(path: str) -> str:
    from pathlib import Path

    return Path(path).stem
