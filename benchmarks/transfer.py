"""Transfer benchmark on SIMULATED cohorts (geopain.synth): human -> sheep few-shot curves and a
detector shift within humans. Writes results under benchmarks/results/transfer/.

    python benchmarks/transfer.py                 # the committed size (CPU, some minutes)
    python benchmarks/transfer.py --quick         # a smoke-sized run

1. **human -> sheep** (independent draws: different seeds, each species' own simulator
   definition; see the README on what the simulator shares between species). The source is a
   human cohort (iBUG 68 points), the target a sheep cohort (SPFES 28 points). For each fold of the
   sheep subjects and each count of labelled training animals, sheep-only training (the same
   shared-region model from random weights) is compared with fine-tuning from the human model
   (``finetune``) and with DANN (``dann``); zero-shot (no sheep label) is reported per fold.
2. **detector shift** (humans): the source is a 3D tracker's points in iBUG 68 (the simulator's
   own geometry), the target the same people seen by a 2D detector (pinhole projection to pixels,
   MediaPipe 468 points mapped to iBUG 68 through the declared table, with per-subject landmark
   bias and per-sequence noise levels: ``variability=1``). "No adaptation" is the source model on
   the target; "recovered" is what DANN (unlabelled target frames) and fine-tuning (labelled
   target subjects) add back, as a fraction of the drop from the source's own held-out accuracy.

Balanced accuracy of binary pain on frames of held-out subjects; mean and sd over folds.
SIMULATION: these numbers are properties of geopain's simulator, not clinical accuracies.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "results" / "transfer"


def _cohorts(args):
    from geopain.synth import SynthConfig, simulate
    from geopain.transfer.core import prepare_domain

    ref = args.reference
    human = simulate("human", n_subjects=args.human_subjects, sequences_per_subject=4, frames=args.frames,
                     seed=args.seed + 1000, config=SynthConfig.preset(args.difficulty))
    sheep = simulate("sheep", n_subjects=args.sheep_subjects, sequences_per_subject=4, frames=args.frames,
                     seed=args.seed + 2000, config=SynthConfig.preset(args.difficulty))
    return (prepare_domain(human, "simulated human", reference=ref),
            prepare_domain(sheep, "simulated sheep", reference=ref))


def _detector_cohorts(args):
    from geopain.synth import SynthConfig, simulate
    from geopain.transfer.core import prepare_domain

    ref = args.reference
    n = args.detector_subjects
    seed = args.seed + 3000
    tracker = simulate("human", n_subjects=n, sequences_per_subject=4, frames=args.frames, seed=seed)
    detector = simulate("human", n_subjects=n, sequences_per_subject=4, frames=args.frames, seed=seed,
                        scheme="human/mediapipe468", config=SynthConfig(project=True, variability=1.0))
    return (prepare_domain(tracker, "3D tracker (iBUG 68)", reference=ref),
            prepare_domain(detector, "2D detector (MediaPipe 468 -> iBUG 68)", scheme="human/ibug68", reference=ref))


def _agg(rows, key, sub="balanced_accuracy"):
    v = np.array([r[key][sub] for r in rows if key in r], float)
    return {"mean": float(np.nanmean(v)) if np.isfinite(v).any() else float("nan"),
            "sd": float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else float("nan"), "n": int(np.isfinite(v).sum())}


def main() -> None:
    import torch

    from geopain.jsonio import write_json
    from geopain.transfer.core import TransferSettings, few_shot
    from geopain.transfer.report import markdown_table, plot_learning_curve

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke size")
    ap.add_argument("--human-subjects", type=int, default=16)
    ap.add_argument("--sheep-subjects", type=int, default=15)
    ap.add_argument("--detector-subjects", type=int, default=12)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--counts", default="1,2,4,all")
    ap.add_argument("--dann-counts", default="0,2,4", help="labelled sheep for DANN (0: unlabelled sheep only)")
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--reference", default="subject-median")
    ap.add_argument("--difficulty", default="default", help="simulator preset of both cohorts (default, hard, pretrain)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: shared machines)")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: finetune,dann,detector")
    ap.add_argument("-o", "--output", default=str(OUT))
    args = ap.parse_args()
    if args.quick:
        args.human_subjects, args.sheep_subjects, args.detector_subjects = 6, 6, 6
        args.frames, args.epochs, args.counts = 10, 3, "1,all"
    if args.frames < 8:
        ap.error("--frames must be >= 8 (the subject-median reference needs 8 frames of each subject)")
    torch.set_num_threads(args.threads)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    settings = TransferSettings(hidden=16, layers=2, batch_size=64, epochs=args.epochs, finetune_epochs=args.epochs,
                                min_steps=6, seed=args.seed)
    import json

    previous = out / "summary.json"  # a partial rerun (--skip) keeps the other parts' summaries
    summary: dict = json.loads(previous.read_text()) if previous.is_file() and skip else {}
    summary.update({"settings": vars(args), "simulation": True})
    t0 = time.perf_counter()
    human, sheep = _cohorts(args)
    counts = [c.strip() for c in args.counts.split(",")]
    for method in ("finetune", "dann"):
        if method in skip:
            continue
        cts = counts if method == "finetune" else [c.strip() for c in args.dann_counts.split(",")]
        res = few_shot(human, sheep, method, cts, folds=args.folds, settings=settings, progress=True)
        res["seconds"] = time.perf_counter() - t0
        write_json(out / f"human_to_sheep_{method}.json", res)
        plot_learning_curve(res, out / f"human_to_sheep_{method}.png")
        (out / f"human_to_sheep_{method}.md").write_text(markdown_table(res), encoding="utf-8")
        summary[f"human_to_sheep_{method}"] = res["summary"]
        print(markdown_table(res), flush=True)
    if "detector" not in skip:
        tracker, detector = _detector_cohorts(args)
        det = {}
        for method, cts in (("dann", ["0"]), ("finetune", ["2", "all"])):
            res = few_shot(tracker, detector, method, cts, folds=args.folds, settings=settings, progress=True)
            write_json(out / f"detector_shift_{method}.json", res)
            det[method] = res
        rows = det["dann"]["rows"]
        in_domain = _agg(rows, "source_in_domain")
        none = _agg(rows, "zero_shot_uncalibrated")
        drop = in_domain["mean"] - none["mean"]
        table = {"source_in_domain": in_domain, "no_adaptation": none,
                 "prior_matched_threshold": _agg(rows, "zero_shot"),
                 "dann_unlabelled": _agg(rows, "transfer_uncalibrated"),
                 "dann_unlabelled_prior_matched": _agg(rows, "transfer")}
        for c in ("2", "all"):
            sel = [r for r in det["finetune"]["rows"] if str(r["count"]) == c]
            table[f"finetune_{c}_subjects"] = _agg(sel, "transfer")
            table[f"target_only_{c}_subjects"] = _agg(sel, "target_only")
        table["drop"] = drop
        table["recovered_fraction"] = {k: (v["mean"] - none["mean"]) / drop if drop > 0 else float("nan")
                                       for k, v in table.items() if isinstance(v, dict) and k not in ("source_in_domain", "no_adaptation")}
        summary["detector_shift"] = table
        lines = ["| detector shift (humans, 3D tracker -> 2D detector) | balanced accuracy | recovered of the drop |",
                 "|---|---:|---:|"]
        for k, v in table.items():
            if isinstance(v, dict) and "mean" in v:
                rec = table["recovered_fraction"].get(k, float("nan"))
                lines.append(f"| {k} | {v['mean']:.3f} ± {v['sd']:.3f} (n={v['n']}) | "
                             f"{'' if not np.isfinite(rec) else f'{rec:.2f}'} |")
        lines.append(f"\ndrop without adaptation: {drop:.3f}")
        (out / "detector_shift.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print("\n".join(lines), flush=True)
    summary["seconds"] = time.perf_counter() - t0
    write_json(out / "summary.json", summary)
    print(f"wrote {out} in {summary['seconds']:.0f} s")


if __name__ == "__main__":
    main()
