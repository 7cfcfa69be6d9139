"""Temporal models vs per-frame models on the simulator's dynamics-only cohort (SIMULATION).

The ``dynamics`` preset (:data:`geopain.synth.PRESETS`): pain builds and releases slowly
(0.25-0.5 Hz), every no-pain sequence shows the same apex shape as a mimic with non-pain
dynamics (talking 3-5 Hz, grimace 1.2-2 Hz), labels per sequence. Per-frame models see the
same shapes and intensity distribution in both conditions; temporal models see the dynamics.

All models share subject-grouped folds in one :func:`geopain.evaluation.run_protocol` call
(the same as ``geopain evaluate TABLE --model logreg pointnet wgnn transformer dct dynamic
--protocol kfold:K``); the report keeps frame-level and sequence-level metrics apart.
Goals (issue 12): every temporal model beats the best per-frame model at sequence level by
>= 0.05 balanced accuracy, and trains within 2x the WGNN's time.

    python benchmarks/temporal.py [--subjects 12] [--frames 48] [--folds 3] [--epochs 60]

Every model trains with the estimator's own budget (``geopain.defaults.TRAINING["epochs"]``,
early stopping on held-out subjects): a shorter one stops the window models before they learn.

writes ``benchmarks/results/temporal/`` (results.json/.md/.csv and plots from the evaluation
report, ``summary.json`` and ``summary.md`` with the goal checks).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from geopain.defaults import TRAINING

FRAME_MODELS = ("logreg", "pointnet", "wgnn")
TEMPORAL_MODELS = ("transformer", "dct", "dynamic")


def main(argv: list[str] | None = None) -> dict:
    from geopain import jsonio
    from geopain.evaluation import run_protocol
    from geopain.synth import SynthConfig, simulate

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subjects", type=int, default=12)
    p.add_argument("--sequences", type=int, default=4, help="sequences per subject")
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=TRAINING["epochs"], help="most epochs (default: the estimator's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", nargs="+", default=[*FRAME_MODELS, *TEMPORAL_MODELS])
    p.add_argument("-o", "--output", default=str(Path(__file__).parent / "results" / "temporal"))
    args = p.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="mpl-"))  # no cache inside the results

    cfg = SynthConfig.preset("dynamics")
    seqs = simulate("human", args.subjects, args.sequences, args.frames, seed=args.seed, config=cfg)
    start = time.perf_counter()
    res = run_protocol(seqs, list(args.models), "binary", f"kfold:{args.folds}", out_dir=out / "evaluation",
                       seed=args.seed, epochs=args.epochs)
    seconds = time.perf_counter() - start

    def value(name: str, level: str) -> tuple[float, float]:
        s = res["models"][name][level]["summary"].get("balanced_accuracy", {})
        return float(s.get("mean", np.nan)), float(s.get("std", np.nan))

    rows = {}
    for name in res["models"]:
        fm, fs = value(name, "frame")
        sm, ss = value(name, "sequence")
        rows[name] = {"frame_ba_mean": fm, "frame_ba_sd": fs, "sequence_ba_mean": sm, "sequence_ba_sd": ss,
                      "train_seconds_mean": float(np.nanmean(res["models"][name]["train_seconds"])),
                      "temporal": name in TEMPORAL_MODELS, "errors": res["models"][name]["errors"]}
    frame_models = [m for m in rows if not rows[m]["temporal"]]
    best = max(frame_models, key=lambda m: rows[m]["sequence_ba_mean"]) if frame_models else None
    wgnn_time = rows.get("wgnn", {}).get("train_seconds_mean", np.nan)
    checks = []
    for m in rows:
        if not rows[m]["temporal"] or best is None:
            continue
        gain = rows[m]["sequence_ba_mean"] - rows[best]["sequence_ba_mean"]
        ratio = rows[m]["train_seconds_mean"] / wgnn_time
        checks.append({"model": m, "best_frame_model": best, "sequence_ba_gain": gain, "gain_goal_met": bool(gain >= 0.05),
                       "train_time_ratio_to_wgnn": ratio, "time_goal_met": bool(ratio <= 2.0)})
    summary = {"cohort": {"species": "human", "subjects": args.subjects, "sequences_per_subject": args.sequences,
                          "frames": args.frames, "fps": cfg.fps, "preset": "dynamics", "config": cfg.to_dict(),
                          "seed": args.seed},
               "protocol": f"kfold:{args.folds} (subject-grouped)", "epochs": args.epochs, "seconds": seconds,
               "models": rows, "checks": checks}
    jsonio.write_json(out / "summary.json", summary)
    lines = [f"Dynamics-only simulated cohort (human, {args.subjects} subjects x {args.sequences} sequences x "
             f"{args.frames} frames at {cfg.fps:g} fps, preset 'dynamics'), subject-grouped {args.folds}-fold, "
             f"{args.epochs} epochs max; balanced accuracy mean ± sd over folds; {seconds:.0f} s on this machine.", "",
             "| model | kind | frame-level BA | sequence-level BA | train s / fold |", "|---|---|---|---|---|"]
    for m, r in rows.items():
        lines.append(f"| {m} | {'temporal (windows)' if r['temporal'] else 'per frame'} | "
                     f"{r['frame_ba_mean']:.3f} ± {r['frame_ba_sd']:.3f} | {r['sequence_ba_mean']:.3f} ± "
                     f"{r['sequence_ba_sd']:.3f} | {r['train_seconds_mean']:.0f} |")
    lines.append("")
    for c in checks:
        lines.append(f"- {c['model']} vs best per-frame model {c['best_frame_model']}: sequence-level BA "
                     f"{c['sequence_ba_gain']:+.3f} (goal >= +0.05: {'met' if c['gain_goal_met'] else 'NOT met'}); "
                     f"training time {c['train_time_ratio_to_wgnn']:.2f}x the WGNN's (goal <= 2x: "
                     f"{'met' if c['time_goal_met'] else 'NOT met'})")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return summary


if __name__ == "__main__":
    main()
