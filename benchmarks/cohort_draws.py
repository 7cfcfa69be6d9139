"""The demo's model comparison over several draws of its simulated cohorts (SIMULATION).

``make demo`` compares the models on one draw of each simulated cohort (seed 0): 16 subjects in
4 subject-grouped folds, where one fold moves a mean by several points. This benchmark repeats the
demo's reference-free comparison (same sizes, models and training budget: :class:`geopain.demo.DemoConfig`)
on further draws (other subjects, other seeds) and reports, per draw and over all draws, the best
graph or point model against the best measurement baseline, paired over seeds x folds
(:func:`geopain.evaluation.compare.paired_comparison`). Issue 15's goal: the best neural model
reaches at least the best baseline's balanced accuracy.

    python benchmarks/cohort_draws.py [--species human sheep] [--seeds 0 1 2] [--tasks binary levels]

Folds are saved under ``OUT/runs`` and reused by a rerun with the same data and code. Writes
``OUT/summary.json`` and ``OUT/summary.md`` (the README's block).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "results" / "cohort_draws"


def main(argv: list[str] | None = None) -> dict:
    from geopain import jsonio
    from geopain.demo import DemoConfig, best_network_vs_baseline, model_summaries
    from geopain.evaluation import run_protocol
    from geopain.synth import simulate

    cfg = DemoConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--species", nargs="+", default=["human", "sheep"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--tasks", nargs="+", default=["binary", "levels"])
    p.add_argument("--models", nargs="+", default=list(cfg.models))
    p.add_argument("--epochs", type=int, default=cfg.epochs, help="most training epochs (default: the demo's)")
    p.add_argument("-o", "--output", default=str(OUT))
    args = p.parse_args(argv)
    out = Path(args.output)
    t0 = time.perf_counter()
    report: dict = {"simulated": True, "tasks": args.tasks, "seeds": args.seeds, "models": args.models,
                    "subjects": cfg.subjects, "sequences_per_subject": cfg.sequences_per_subject,
                    "frames": cfg.frames, "folds": cfg.folds, "epochs": args.epochs, "reference": "none",
                    "results": {}}
    for task in args.tasks:
        for species in args.species:
            draws, pooled = {}, {m: {"frame_folds": []} for m in args.models}
            for seed in args.seeds:
                seqs = simulate(species=species, n_subjects=cfg.subjects,
                                sequences_per_subject=cfg.sequences_per_subject, frames=cfg.frames, seed=seed)
                res = run_protocol(seqs, model=args.models, task=task, protocol=f"kfold:{cfg.folds}",
                                   out_dir=out / "runs" / f"{task}-{species}-seed{seed}", seed=seed, epochs=args.epochs,
                                   reference="none")
                models = model_summaries(res)
                for name, m in models.items():
                    pooled[name]["frame_folds"].extend(m["frame_folds"])
                draws[seed] = {"balanced_accuracy": {n: float(np.nanmean(m["frame_folds"])) for n, m in models.items()},
                               "best": best_network_vs_baseline(models)}
            report["results"].setdefault(task, {})[species] = {
                "draws": draws, "pooled": best_network_vs_baseline(pooled),
                "mean_over_draws": {n: float(np.nanmean(m["frame_folds"])) for n, m in pooled.items()}}
    report["seconds"] = round(time.perf_counter() - t0, 1)
    out.mkdir(parents=True, exist_ok=True)
    jsonio.write_json(out / "summary.json", report, indent=1)
    (out / "summary.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return report


def markdown(report: dict) -> str:
    models = report["models"]
    lines = [f"Simulated cohorts as in `make demo` ({report['subjects']} subjects x {report['sequences_per_subject']} "
             f"sequences x {report['frames']} frames, {report['folds']} subject-grouped folds, no per-person reference), "
             f"drawn with seeds {', '.join(map(str, report['seeds']))} (seed 0 is the demo's); frame-level balanced "
             f"accuracy, mean over folds, for binary pain and the levels of each species' scale "
             f"(`benchmarks/cohort_draws.py`).", "",
             "| task | species | draw | " + " | ".join(models) + " | best neural − best baseline |",
             "|---|---|---|" + "---:|" * (len(models) + 1)]
    for task, by_species in report["results"].items():
        for species, r in by_species.items():
            rows = [(f"seed {seed}", d["balanced_accuracy"], d["best"]) for seed, d in r["draws"].items()]
            rows.append(("all draws", r["mean_over_draws"], r["pooled"]))
            for label, ba, best in rows:
                diff = best.get("network_mean", np.nan) - best.get("baseline_mean", np.nan)
                cells = " | ".join(f"{ba.get(m, np.nan):.3f}" for m in models)
                lines.append(f"| {task} | {species} | {label} | {cells} | {diff:+.3f} ({best.get('network')} vs "
                             f"{best.get('baseline')}) |")
    lines.append("")
    for task, by_species in report["results"].items():
        for species, r in by_species.items():
            best = r["pooled"]
            met = "met" if best.get("at_least_baseline") else "NOT met"
            sentence = best.get("sentence", "").rstrip(".")
            lines.append(f"- {task}, {species}, all draws: {sentence}. Goal (best neural >= best baseline): {met}.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
