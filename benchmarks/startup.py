"""How long the command line takes to start: ``geopain --help``, ``geopain info TABLE`` and
``python -c "import geopain"``, in fresh processes.

Each command runs ``--repeats`` times; wall and CPU seconds (user + system of the child,
from ``resource.getrusage``) are recorded, and the best of each is reported: on a shared
machine the wall time mostly measures the other load, the CPU time what the command costs.
With ``--baseline DIR`` (a checkout of an older geopain, e.g. ``git archive REV geopain |
tar -x -C DIR``) the same commands run against that tree too.

Run with ``python benchmarks/startup.py [--repeats 5] [--baseline DIR]``; writes
``benchmarks/results/startup/startup.json`` and ``startup.md``.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "startup"


def _run(code: str, cwd: Path) -> tuple[float, float]:
    """``(wall s, CPU s)`` of ``python -c code`` run in ``cwd`` (its ``geopain`` is imported)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(cwd)})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _table(path: Path) -> Path:
    """A small landmark table for ``info`` (simulated, 80 frames)."""
    sys.path.insert(0, str(ROOT))
    from geopain.io.tables import write_table
    from geopain.synth import simulate

    return write_table(simulate("human", n_subjects=4, sequences_per_subject=2, frames=10, seed=0), path)


def commands(table: Path) -> dict[str, str]:
    return {
        "import geopain": "import geopain",
        "geopain --help": "import sys\nfrom geopain.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
        "geopain info": f"from geopain.cli import main\nmain(['info', {str(table)!r}])",
    }


def measure(tree: Path, table: Path, repeats: int) -> dict[str, dict[str, float]]:
    out = {}
    for name, code in commands(table).items():
        runs = [_run(code, tree) for _ in range(repeats)]
        out[name] = {"wall_s_best": min(w for w, _ in runs), "wall_s_median": sorted(w for w, _ in runs)[len(runs) // 2],
                     "cpu_s_best": min(c for _, c in runs), "repeats": repeats}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--baseline", default=None, help="folder holding an older geopain/ package to compare with")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        table = _table(Path(tmp) / "t.parquet")
        results = {"load_average": os.getloadavg(), "cpus": os.cpu_count(), "current": measure(ROOT, table, args.repeats)}
        if args.baseline:
            results["baseline"] = measure(Path(args.baseline), table, args.repeats)
    from geopain.jsonio import write_json
    write_json(OUT / "startup.json", results)
    lines = ["| command | tree | best wall s | median wall s | best CPU s |", "|---|---|---|---|---|"]
    for tree in ("baseline", "current"):
        for name, r in results.get(tree, {}).items():
            lines.append(f"| `{name}` | {tree} | {r['wall_s_best']:.2f} | {r['wall_s_median']:.2f} | {r['cpu_s_best']:.2f} |")
    la = ", ".join(f"{v:.1f}" for v in results["load_average"])
    text = (f"Start-up of the command line ({args.repeats} runs each, fresh processes; load average {la} on "
            f"{results['cpus']} CPUs: wall time is mostly the other load, CPU time what the command costs).\n\n"
            + "\n".join(lines) + "\n")
    (OUT / "startup.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
