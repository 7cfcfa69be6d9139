"""Edge weights shown, not assumed: WGNN weightings compared with a paired test.

For each species, simulated demo-size cohorts (several seeds: a new cohort and new folds per
seed), subject-grouped k-fold, binary pain, reference-free, every network trained from random
weights (only ``wgnn`` has a shipped encoder, which would make the comparison unfair); every
weighting is trained on the same folds, so each (seed, fold) is a pair. Reports per weighting the mean balanced accuracy
and, against the others, the mean paired difference, a bootstrap CI and a Wilcoxon signed-rank
p-value (:func:`geopain.evaluation.compare.paired_comparison`).

    python benchmarks/edge_weights.py [-o benchmarks/results] [--seeds 0 1 2] [--species human sheep]

Writes ``edge_weights.json`` and ``edge_weights.md``; the README's sentence on edge weights is
read from that file. Takes tens of minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

WEIGHTINGS = ("wgnn-strain", "wgnn-learned", "wgnn-uniform", "wgnn")


def run(species: str, seeds: list[int], models: tuple[str, ...], folds: int, subjects: int) -> dict:
    from geopain.evaluation import run_protocol
    from geopain.synth import simulate

    scores: dict[str, list[float]] = {m: [] for m in models}
    seconds: dict[str, float] = {m: 0.0 for m in models}
    for seed in seeds:
        seqs = simulate(species=species, n_subjects=subjects, sequences_per_subject=4, frames=24, seed=100 + seed)
        res = run_protocol(seqs, model=list(models), task="binary", protocol=f"kfold:{folds}", seed=seed,
                           progress=False, reference="none", init=None)  # architectures compared from scratch
        for m in models:
            scores[m] += [f.get("balanced_accuracy", np.nan) for f in res["models"][m]["frame"]["folds"]]
            seconds[m] += float(np.sum(res["models"][m].get("train_seconds", [])))
        print(f"{species} seed {seed}: " + ", ".join(f"{m} {np.nanmean(scores[m][-folds:]):.3f}" for m in models),
              flush=True)
    return {"scores": scores, "train_seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    from geopain.evaluation.compare import best_by_paired, compare_many

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-o", "--output", default=str(Path(__file__).resolve().parent / "results"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--species", nargs="+", default=["human", "sheep"])
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--subjects", type=int, default=16)
    args = p.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report: dict = {"task": "binary", "reference": "none", "metric": "balanced_accuracy", "seeds": args.seeds,
                    "folds": args.folds, "subjects": args.subjects, "species": {}}
    lines = ["# WGNN edge weightings, paired over seeds x folds", ""]
    for species in args.species:
        r = run(species, args.seeds, WEIGHTINGS, args.folds, args.subjects)
        r["comparisons"] = {ref: compare_many(r["scores"], ref) for ref in ("wgnn-uniform", "wgnn-strain")}
        r["best"] = best_by_paired(r["scores"])
        r["means"] = {m: float(np.nanmean(v)) for m, v in r["scores"].items()}
        report["species"][species] = r
        lines += [f"## {species}", "", "| weighting | balanced accuracy (mean over pairs) |", "|---|---|"]
        lines += [f"| {m} | {v:.3f} |" for m, v in r["means"].items()]
        lines += [""] + [f"- {c['sentence']}" for c in r["comparisons"]["wgnn-uniform"] if c["names"][0] != c["names"][1]]
        lines += [f"- best: {r['best']['sentence']}", ""]
    report["seconds"] = round(time.perf_counter() - started, 1)
    from geopain.jsonio import write_json

    write_json(out / "edge_weights.json", report)
    (out / "edge_weights.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
