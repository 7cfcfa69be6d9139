"""Training time of the neural models on the demo cohorts, against another checkout of geopain.

Issue 15 asks that training on the demo cohorts stays within 1.5x of the time before its work.
Each configuration (model, task, species) is fitted once, in a fresh process per checkout, on
the demo cohort (``geopain.synth.simulate``, 16 subjects x 4 sequences x 24 frames, seed 0) less
its first 4 subjects, up to 60 epochs, 1 torch thread, after a 1-epoch warm-up fit (imports and
compilation excluded). Reported: wall and CPU seconds, epochs run, seconds per epoch, and the
balanced accuracy on the 4 held-out subjects (a model that stops early because it learns
nothing is fast for a reason).

With ``--fixed-epochs N`` (default 20) each checkout also trains exactly N epochs (early stopping off):
the same work on both sides, so the ratio says what one epoch (and the fixed cost of a fit) costs now.
Every measurement is the fastest of ``--repeats`` fits.

Run ``python benchmarks/training_time.py [--against PATH] [--fixed-epochs N] [-o OUT]``. ``--against`` is another
checkout's root (e.g. ``git worktree add /tmp/before 09b4944``); its ``geopain`` is imported in
the child process instead of this one. Writes ``OUT/training_time.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

# "five" (not "levels"): the name every checkout understands, the older ones before the rename too
CONFIGS = [("pointnet", "binary", "human"), ("wgnn", "binary", "human"), ("wgnn", "five", "human"),
           ("pointnet", "five", "sheep"), ("wgnn", "binary", "sheep")]

CHILD = r"""
import json, sys, time
import numpy as np, torch
torch.set_num_threads(1)
from geopain.synth import simulate
from geopain.models.estimator import PainEstimator
try:
    from geopain.predictions import task_targets
except ImportError:  # checkouts before geopain.predictions
    from geopain.models.estimator import task_targets
model, task, species, root, fixed = sys.argv[1:6]
fixed = int(fixed)  # > 0: exactly this many epochs (early stopping off), the same work in both checkouts
stop = {"epochs": fixed, "patience": fixed} if fixed else {"epochs": 60}
import geopain, pathlib
assert pathlib.Path(geopain.__file__).resolve().is_relative_to(pathlib.Path(root).resolve()), geopain.__file__
seqs = simulate(species=species, n_subjects=16, sequences_per_subject=4, frames=24, seed=0)
subjects = sorted({s.subject for s in seqs})
test = [s for s in seqs if s.subject in subjects[:4]]
train = [s for s in seqs if s.subject not in subjects[:4]]
PainEstimator(model, task, epochs=1, seed=0, device="cpu").fit(train)
c0, w0 = time.process_time(), time.perf_counter()
est = PainEstimator(model, task, seed=0, device="cpu", **stop).fit(train)
cpu, wall = time.process_time() - c0, time.perf_counter() - w0
pred, true = est.predict(test), task_targets(test, task)
ok = np.isfinite(pred) & np.isfinite(true)
bacc = float(np.mean([np.mean(pred[ok][true[ok] == c] == c) for c in np.unique(true[ok])]))
rows = est.history_.rows
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "epochs": len(rows),
                  "s_per_epoch": float(np.mean([r["seconds"] for r in rows])), "bacc": bacc}))
"""


def measure(root: Path, model: str, task: str, species: str, fixed_epochs: int = 0) -> dict[str, float]:
    """One fit in a child process that imports ``geopain`` from ``root`` (``fixed_epochs`` > 0:
    exactly that many epochs, no early stopping)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    # cwd=root: ``python -c`` puts the working directory first on sys.path
    out = subprocess.run([sys.executable, "-c", CHILD, model, task, species, str(root), str(fixed_epochs)], env=env, cwd=root,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_of(repeats: int, root: Path, model: str, task: str, species: str, fixed_epochs: int = 0) -> dict[str, float]:
    """The fastest of ``repeats`` fits (other jobs share these cores; the fastest is the least disturbed)."""
    return min((measure(root, model, task, species, fixed_epochs) for _ in range(repeats)), key=lambda r: r["wall_s"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", default=None, help="root of another geopain checkout to compare with")
    ap.add_argument("--fixed-epochs", type=int, default=20,
                    help="also fit exactly this many epochs in each checkout (the same work; 0: skip)")
    ap.add_argument("--repeats", type=int, default=2, help="fits per measurement, the fastest kept")
    ap.add_argument("-o", "--out", default=str(Path(__file__).resolve().parent / "results" / "training_time"))
    args = ap.parse_args(argv)
    here = Path(__file__).resolve().parent.parent
    roots = {"now": here} | ({"before": Path(args.against).resolve()} if args.against else {})
    rows = []
    for model, task, species in CONFIGS:
        row: dict = {"model": model, "task": task, "species": species}
        for label, root in roots.items():
            row[label] = best_of(args.repeats, root, model, task, species)
            if args.fixed_epochs:
                row[f"{label}_fixed"] = best_of(args.repeats, root, model, task, species, args.fixed_epochs)
        if "before" in row:
            row["ratio_wall"] = row["now"]["wall_s"] / row["before"]["wall_s"]
            if args.fixed_epochs:
                row["ratio_fixed"] = row["now_fixed"]["wall_s"] / row["before_fixed"]["wall_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "training_time.json").write_text(json.dumps({"against": args.against, "fixed_epochs": args.fixed_epochs,
                                                        "repeats": args.repeats, "rows": rows}, indent=1))
    fixed = [f"{k}, {args.fixed_epochs} epochs: wall s (held-out bacc)" for k in roots] if args.fixed_epochs else []
    ratios = (["ratio", f"ratio at {args.fixed_epochs} epochs"] if args.fixed_epochs else ["ratio"]) if args.against else []
    header = ["model", "task", "species", *[f"{k}: wall s (epochs, held-out bacc)" for k in roots], *fixed, *ratios]
    lines = ["| " + " | ".join(header) + " |", "|---|---|---|" + "---:|" * (len(header) - 3)]
    for r in rows:
        cells = [f"{r[k]['wall_s']:.2f} ({r[k]['epochs']}, {r[k]['bacc']:.2f})" for k in roots]
        if args.fixed_epochs:
            cells += [f"{r[k + '_fixed']['wall_s']:.2f} ({r[k + '_fixed']['bacc']:.2f})" for k in roots]
        if "ratio_wall" in r:
            cells.append(f"{r['ratio_wall']:.2f}x")
            if "ratio_fixed" in r:
                cells.append(f"{r['ratio_fixed']:.2f}x")
        lines.append("| " + " | ".join([r["model"], r["task"], r["species"], *cells]) + " |")
    lines.append("")
    lines.append(f"Fastest of {args.repeats} fits each. 'ratio': the fits as users run them (up to 60 epochs, "
                 "early stopping after 10 without improvement), so a checkout whose model learns nothing and stops "
                 "early looks fast; 'ratio at N epochs': both checkouts train exactly N epochs, the same work.")
    (out / "training_time.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
