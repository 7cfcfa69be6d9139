"""Frames per second of normalise + measure + graph building (benchmark, not a test).

Simulated input: the scheme's template under random head pose (yaw +-45, pitch +-25, roll
+-20 degrees), random scale and translation, 0.5 mm noise and 1 % missing points. Frames
are processed in chunks (as a pipeline over a long recording would), single process; torch
and BLAS use the threads they are given (``--threads``, default 2).

Stages, each timed over all frames:
  normalise3d  3D similarity alignment to the template (geopain.geometry.normalize_coords)
  normalise2d  2D weak-perspective pose fit (same input without z)
  measure      the scheme's pain-unit measurements (measure_array)
  graph        FacialGraphBuilder.tensors (x, edge weights, edge_attr for every frame)
  batch        FacialGraphBuilder.to_batch (a PyG Batch of all graphs in the chunk)

Two rates are printed: frames per wall-clock second (what a user waits for) and frames per
CPU-second of this process (all its threads; less sensitive to other processes on a shared
machine, but it counts both threads when torch/BLAS use two).

Usage: python benchmarks/geometry.py [--frames 100000] [--chunk 10000] [--threads 2] [--json out.json]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--chunk", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--schemes", nargs="+", default=["human/ibug68", "human/mediapipe468"])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from geopain.geometry.align import rotation_from_angles
    from geopain.geometry.measure import measure_array
    from geopain.geometry.normalize import normalize_coords
    from geopain.graphs import FacialGraphBuilder
    from geopain.species import get_scheme

    results = {"frames": args.frames, "chunk": args.chunk, "threads": args.threads, "cpus": os.cpu_count(),
               "load_average": os.getloadavg(), "schemes": {}}
    for key in args.schemes:
        sch = get_scheme(key)
        rng = np.random.default_rng(0)
        C = min(args.chunk, args.frames)
        R = rotation_from_angles(rng.uniform(-45, 45, C), rng.uniform(-25, 25, C), rng.uniform(-20, 20, C))
        s = rng.uniform(5, 30, C)
        chunk = (s[:, None, None] * np.einsum("fij,nj->fni", R, sch.template) + rng.normal(0, 100, (C, 1, 3))
                 + rng.normal(0, 0.05, (C, sch.n_points, 3)) * s[:, None, None]).astype(np.float32)
        chunk[rng.random(chunk.shape[:2]) < 0.01] = np.nan
        chunk2d = chunk.copy()
        chunk2d[..., 2] = np.nan
        builder = FacialGraphBuilder(sch)
        n_chunks = int(np.ceil(args.frames / C))
        timing = {k: 0.0 for k in ("normalise3d", "normalise2d", "measure", "graph", "batch")}
        cpu = dict.fromkeys(timing, 0.0)
        # warm-up (caches, first-call allocations)
        a, _ = normalize_coords(chunk[:100], sch)
        builder.to_batch(builder.tensors(a))
        measure_array(a, sch)
        clock = time.perf_counter
        proc = time.process_time
        for _ in range(n_chunks):
            stamps = [(clock(), proc())]
            aligned, _ = normalize_coords(chunk, sch)
            stamps.append((clock(), proc()))
            normalize_coords(chunk2d, sch)
            stamps.append((clock(), proc()))
            measure_array(aligned, sch)
            stamps.append((clock(), proc()))
            gt = builder.tensors(aligned)
            stamps.append((clock(), proc()))
            builder.to_batch(gt)
            stamps.append((clock(), proc()))
            for k, a, b in zip(timing, stamps[:-1], stamps[1:]):
                timing[k] += b[0] - a[0]
                cpu[k] += b[1] - a[1]
            del gt
        total = n_chunks * C
        fps = {k: total / v for k, v in timing.items()}
        fps["normalise3d+measure"] = total / (timing["normalise3d"] + timing["measure"])
        fps["normalise3d+measure+graph"] = total / (timing["normalise3d"] + timing["measure"] + timing["graph"])
        fps["normalise3d+measure+graph+batch"] = total / sum(v for k, v in timing.items() if k != "normalise2d")
        cfps = {k: total / max(v, 1e-9) for k, v in cpu.items()}
        cfps["normalise3d+measure"] = total / (cpu["normalise3d"] + cpu["measure"])
        cfps["normalise3d+measure+graph"] = total / (cpu["normalise3d"] + cpu["measure"] + cpu["graph"])
        cfps["normalise3d+measure+graph+batch"] = total / sum(v for k, v in cpu.items() if k != "normalise2d")
        results["schemes"][key] = {"points": sch.n_points, "edges": int(builder.edge_index.shape[1]),
                                   "frames": total, "frames_per_s": {k: round(v) for k, v in fps.items()},
                                   "frames_per_cpu_s": {k: round(v) for k, v in cfps.items()}}
        print(f"{key} ({sch.n_points} points, {builder.edge_index.shape[1]} directed edges), {total} frames:")
        print(f"  {'stage':34s} {'wall frames/s':>14s} {'frames per CPU-s':>17s}")
        for k, v in fps.items():
            print(f"  {k:34s} {v:14,.0f} {cfps[k]:17,.0f}")
    results["load_average_after"] = os.getloadavg()
    print(f"load average before/after: {results['load_average']} / {results['load_average_after']} "
          f"({results['cpus']} CPUs; shared machines make these numbers noisy)")
    if args.json:
        from geopain.jsonio import write_json
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
