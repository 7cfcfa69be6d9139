"""Run every benchmark script in this folder (``make benchmark``), one after another.

Benchmarks measure speed on the machine they run on; they are not part of the test run.
Usage: ``python benchmarks/run.py [NAME ...]`` (names without ``.py``; default: all).
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    # scripts only: modules used by them (e.g. independent_cohort.py) have no __main__ block
    scripts = sorted(p for p in HERE.glob("*.py")
                     if p.name != "run.py" and 'if __name__ == "__main__"' in p.read_text())
    if argv:
        scripts = [p for p in scripts if p.stem in argv]
    failed = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        start = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)])
        print(f"--- {script.stem}: exit {rc} in {time.perf_counter() - start:.1f} s", flush=True)
        if rc:
            failed.append(script.stem)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
