"""Speed of geopain's hot paths, each printed beside a reference run in the same process.

Sections (``--sections``, default all):

geometry  normalise (3D weighted similarity fit to the template, pose) + measure, at 68
          (human/ibug68) and 468 (human/mediapipe468) points, by geopain's fused kernels,
          against (a) a straightforward per-frame SciPy loop (``scipy.linalg.orthogonal_procrustes``
          on centred frames, scale from the singular values, then the same measurements per frame)
          (same maths as the kernels, one frame at a time) and (b) geopain's previous batched-numpy implementation (float32 batched SVD,
          kept in tests/_geometry_reference.py). Also the graph tensors of the WGNN input.
onnx      WGNN inference, ONNX Runtime (float and int8) against torch on the CPU, graphs/s,
          and the achieved FLOP/s against the machine's peak (see ``--peak-gflops``); every
          neural frame model's export parity; int8 accuracy change (benchmarks/speed_onnx.py).
extract   the default detector: bare detector loop vs ``extract`` with 1 worker and with one
          worker per core; one long video (chunks side by side) with 1 worker and one per core;
          projected wall time of a BioVid-size run; ratios are medians of paired rounds.
cluster   one cross-validation in one process, with ``workers`` = cores, and on a real 2-node
          local Ray cluster (``ray start``), with the same predictions (alone:
          ``--sections cluster --out benchmarks/results/speed/cluster``).

Every figure is printed with its ratio to the reference measured in the same run. Rates
are frames (or graphs) per wall-clock second with all threads the library uses (Numba /
torch / ONNX Runtime: ``--threads``, default 2) and, because these cores are shared with
other processes, also per CPU-second of this process. Results go to
``benchmarks/results/speed/speed.json`` and ``speed.md``.

Usage: python benchmarks/speed.py [--frames 200000] [--sections geometry onnx] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))  # the reference implementation lives with the tests
OUT = HERE / "results" / "speed"


def _timed(fn, repeats: int = 3):
    """Best (wall, cpu) seconds of ``repeats`` calls of ``fn()``."""
    best_w = best_c = float("inf")
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        best_w = min(best_w, time.perf_counter() - w0)
        best_c = min(best_c, time.process_time() - c0)
    return best_w, best_c


def _frames(sch, F: int, seed: int = 0):
    import numpy as np

    from geopain.geometry.align import rotation_from_angles

    rng = np.random.default_rng(seed)
    R = rotation_from_angles(rng.uniform(-45, 45, F), rng.uniform(-25, 25, F), rng.uniform(-20, 20, F))
    s = rng.uniform(5, 30, F)
    X = (s[:, None, None] * np.einsum("fij,nj->fni", R, sch.template) + rng.normal(0, 100, (F, 1, 3))
         + rng.normal(0, 0.05, (F, sch.n_points, 3)) * s[:, None, None]).astype(np.float32)
    X[rng.random(X.shape[:2]) < 0.01] = np.nan
    return X


def scipy_loop(X, template, plan):
    """The straightforward per-frame loop: SciPy orthogonal Procrustes, then the measurements of
    each frame (numpy, the reference implementation on one frame)."""
    import numpy as np
    from scipy.linalg import orthogonal_procrustes

    from _geometry_reference import reference_measure

    T = np.asarray(template, dtype=np.float64)
    out = []
    for x in X.astype(np.float64):
        ok = np.isfinite(x).all(1)
        xc = x[ok] - x[ok].mean(0)
        yc = T[ok] - T[ok].mean(0)
        R, sv_sum = orthogonal_procrustes(xc, yc)  # min |xc R - yc|, R orthogonal
        s = sv_sum / (xc * xc).sum()
        aligned = np.full_like(x, np.nan)
        aligned[ok] = s * xc @ R + T[ok].mean(0)
        out.append(reference_measure(aligned[None].astype(np.float32), plan)[0])
    return np.stack(out)


def bench_geometry(args, results: dict) -> list[str]:
    import numpy as np

    from _geometry_reference import reference_align, reference_measure
    from geopain.geometry.measure import compile_measurements, measure_array
    from geopain.geometry.normalize import normalize_coords
    from geopain.graphs import FacialGraphBuilder
    from geopain.species import get_scheme

    lines = []
    for key, F in (("human/ibug68", args.frames), ("human/mediapipe468", max(args.frames // 5, 1000))):
        sch = get_scheme(key)
        X = _frames(sch, F)
        plan = compile_measurements(sch)
        a, _ = normalize_coords(X[:64], sch)  # compile / load the kernels
        measure_array(a, sch)

        def fast():
            aligned, pose = normalize_coords(X, sch)
            measure_array(aligned, sch)

        def previous():
            _, aligned = reference_align(X, sch.template)
            reference_measure(aligned, plan)

        n_loop = min(F, args.loop_frames)
        w_fast, c_fast = _timed(fast)
        w_prev, c_prev = _timed(previous, 1)
        w_loop, c_loop = _timed(lambda: scipy_loop(X[:n_loop], sch.template, plan), 1)
        builder = FacialGraphBuilder(sch)
        aligned, _ = normalize_coords(X, sch)
        w_graph, c_graph = _timed(lambda: builder.tensors(aligned), 2)
        r = {
            "points": sch.n_points, "frames": F, "scipy_loop_frames": n_loop,
            "normalise+measure_fps": F / w_fast, "normalise+measure_fps_cpu": F / c_fast,
            "previous_fps": F / w_prev, "previous_fps_cpu": F / c_prev,
            "scipy_loop_fps": n_loop / w_loop, "scipy_loop_fps_cpu": n_loop / c_loop,
            "graph_tensors_fps": F / w_graph, "graph_tensors_fps_cpu": F / c_graph,
        }
        results.setdefault("geometry", {})[key] = r
        goal = 1_000_000 if sch.n_points <= 68 else 200_000
        lines += [
            f"{key} ({sch.n_points} points, {F} frames, 3D, 1% missing points):",
            f"  normalise+measure, fused kernels     {r['normalise+measure_fps']:>12,.0f} frames/s "
            f"({r['normalise+measure_fps_cpu']:,.0f} per CPU-s)   goal {goal:,}: {r['normalise+measure_fps'] / goal:.2f}x of goal",
            f"  per-frame SciPy Procrustes loop      {r['scipy_loop_fps']:>12,.0f} frames/s "
            f"({r['scipy_loop_fps_cpu']:,.0f} per CPU-s)   fused / loop: {r['normalise+measure_fps'] / r['scipy_loop_fps']:,.0f}x",
            f"  previous geopain (batched numpy SVD) {r['previous_fps']:>12,.0f} frames/s "
            f"({r['previous_fps_cpu']:,.0f} per CPU-s)   fused / previous: {r['normalise+measure_fps'] / r['previous_fps']:.1f}x",
            f"  graph tensors (builder.tensors)      {r['graph_tensors_fps']:>12,.0f} frames/s "
            f"({r['graph_tensors_fps_cpu']:,.0f} per CPU-s)",
        ]
    return lines


def bench_extract(args, results: dict) -> list[str]:
    """Extraction with the default human detector (MediaPipe): the bare detector loop, one
    worker and ``--workers`` = cores, on the same short videos (a real photo moving and zooming).

    Every ratio is the median over ``--rounds`` paired runs (the two sides right after each
    other), so that a burst of other work on these shared cores, or the virtual machine's speed
    drifting over minutes, does not land on one side of a ratio only.
    """
    import shutil
    import tempfile

    import numpy as np
    from _detectors_helpers import write_video
    from geopain.detectors import create
    from geopain.extract import extract, release_detectors
    from geopain.media import iter_video
    from geopain.parallel import resolve_workers

    tmp = Path(tempfile.mkdtemp(prefix="geopain-speed-extract-"))
    videos = [tmp / f"v{i}.mp4" for i in range(args.videos)]
    for v in videos:
        write_video(v, n=args.video_frames)
    long_video = tmp / "long.mp4"  # all the frames above in one file: its chunks keep every worker busy
    write_video(long_video, n=args.videos * args.video_frames)
    det = create("mediapipe")
    F = sum(1 for v in videos for _ in iter_video(v))
    det.detect(next(iter_video(videos[0]))[2])

    def bare():  # decoding + detection, nothing of geopain's
        for v in videos:
            for _, _, rgb in iter_video(v):
                det.detect(rgb)

    def run(name: str, items, workers: int, cold: bool):
        if cold:
            release_detectors()
        w0, c0 = time.perf_counter(), time.process_time()
        res = extract(items, output=tmp / name, workers=workers, progress=False, resume=False)
        return time.perf_counter() - w0, time.process_time() - c0, res.n_frames

    cores = resolve_workers(None)
    keys = ("cold", "warm", "cold_cpu", "warm_cpu", "speedup", "speedup_long_video")
    rounds: dict[str, list[float]] = {k: [] for k in keys}
    fps: dict[str, list[float]] = {"bare": [], "1": [], str(cores): [], "long_1": [], f"long_{cores}": []}
    for i in range(args.rounds):
        w_b, c_b = _timed(bare, 1)
        fps["bare"].append(F / w_b)
        for kind in ("cold", "warm"):  # "warm": the detector stays loaded (extract keeps one per process)
            w, c, n = run(f"{kind}{i}.parquet", videos, 1, cold=kind == "cold")
            rounds[kind].append(w / w_b * F / n - 1)
            rounds[f"{kind}_cpu"].append(c / c_b * F / n - 1)
            if kind == "cold":
                fps["1"].append(n / w)
        w, _, n = run(f"workers{i}.parquet", videos, cores, cold=True)
        fps[str(cores)].append(n / w)
        rounds["speedup"].append(fps[str(cores)][-1] / fps["1"][-1])
        for k in sorted({1, cores}):
            w, _, n = run(f"long{k}_{i}.parquet", [long_video], k, cold=True)
            fps[f"long_{k}"].append(n / w)
        rounds["speedup_long_video"].append(fps[f"long_{cores}"][-1] / fps["long_1"][-1])
    shutil.rmtree(tmp, ignore_errors=True)
    med = {k: float(np.median(v)) for k, v in rounds.items()}
    mfps = {k: float(np.median(v)) for k, v in fps.items()}
    biovid_frames = 1_200_000
    r = {"videos": len(videos), "frames": F, "bare_fps": mfps["bare"], "cores": cores, "rounds": args.rounds,
         "workers_fps": {"1": mfps["1"], str(cores): mfps[str(cores)]},
         "speedup": med["speedup"],
         "overhead_one_worker": med["cold"], "overhead_loaded_detector": med["warm"],
         # CPU seconds, which other jobs on shared cores disturb far less than wall-clock time
         "overhead_one_worker_cpu": med["cold_cpu"], "overhead_loaded_detector_cpu": med["warm_cpu"],
         "paired_rounds": rounds, "fps_rounds": fps,
         "biovid_projected_hours": biovid_frames / mfps[str(cores)] / 3600,
         "long_video": {"frames": args.videos * args.video_frames,
                        "workers_fps": {"1": mfps["long_1"], str(cores): mfps[f"long_{cores}"]},
                        "speedup": med["speedup_long_video"]}}
    results["extract"] = r
    spread = lambda k: f"{min(rounds[k]):.2f}-{max(rounds[k]):.2f}"  # noqa: E731
    return [
        f"extraction, MediaPipe FaceMesh (default human detector), {len(videos)} videos x {args.video_frames} frames; "
        f"each figure the median of {args.rounds} paired rounds:",
        f"  bare detector loop (decode + detect)  {mfps['bare']:>8.1f} frames/s",
        f"  extract, 1 worker                     {mfps['1']:>8.1f} frames/s   geopain overhead over the bare loop: "
        f"{med['cold']:+.1%} wall, {med['cold_cpu']:+.1%} CPU (goal <= 5%; loading the detector, writing and merging "
        f"the parts included)",
        f"  extract, 1 worker, detector loaded      overhead over the bare loop: {med['warm']:+.1%} wall, "
        f"{med['warm_cpu']:+.1%} CPU (what each further video of a long run costs beyond detection)",
        f"  extract, {cores} workers                    {mfps[str(cores)]:>8.1f} frames/s   {cores} workers / 1 worker: "
        f"{med['speedup']:.2f}x (rounds {spread('speedup')}; goal 1.8x on 2 cores)",
        f"  one video of {args.videos * args.video_frames} frames, split into chunks: 1 worker {mfps['long_1']:.1f} "
        f"frames/s, {cores} workers {mfps[f'long_{cores}']:.1f} ({med['speedup_long_video']:.2f}x, rounds "
        f"{spread('speedup_long_video')})",
        f"  projected BioVid-size run (8,700 videos, ~1.2 M frames) at {cores} workers: "
        f"{r['biovid_projected_hours']:.1f} h on this machine",
    ]


def bench_cluster(args, results: dict) -> list[str]:
    """The same cross-validation (the demo's human cohort, binary, 4 subject-grouped folds,
    ``--cluster-models``) in one process, in a local pool of one worker per core, and on a real
    2-node local Ray cluster (``ray start --head`` + ``ray start --address``, one CPU each),
    Ray's start-up on the cluster included; checks that all three give the same predictions."""
    import numpy as np

    from geopain.evaluation import run_protocol
    from geopain.parallel import local_ray_cluster, resolve_workers
    from geopain.synth import simulate

    seqs = simulate(species="human", n_subjects=16, sequences_per_subject=4, frames=24, seed=0)
    models = list(args.cluster_models)
    cores = resolve_workers(None)

    def run(**kw):
        w0 = time.perf_counter()
        res = run_protocol(seqs, models, "binary", "kfold:4", progress=False, **kw)
        return time.perf_counter() - w0, res["predictions"]

    import torch

    torch.set_num_threads(args.threads)
    t_single, p_single = run()
    t_pool, p_pool = run(workers=cores)
    with local_ray_cluster(nodes=2, cpus_per_node=1) as address:
        t_ray, p_ray = run(ray_address=address)

    def max_diff(p):
        key = ["sequence", "frame"]
        return max(float(np.nanmax(np.abs(p[m].sort_values(key)["p_1"].to_numpy()
                                          - p_single[m].sort_values(key)["p_1"].to_numpy()))) for m in models)

    r = {"models": models, "folds": 4, "cores": cores, "single_s": t_single, "pool_s": t_pool, "ray_s": t_ray,
         "pool_ratio": t_pool / t_single, "ray_ratio": t_ray / t_single,
         "pool_max_dp": max_diff(p_pool), "ray_max_dp": max_diff(p_ray)}
    results["cluster"] = r
    return [
        f"cross-validation, demo human cohort (16 subjects), binary, 4 folds x {len(models)} models ({', '.join(models)}):",
        f"  one process ({args.threads} torch threads)          {t_single:>7.1f} s",
        f"  --workers {cores} (local processes)        {t_pool:>7.1f} s   {r['pool_ratio']:.2f}x the one-process time, "
        f"max |dp| {r['pool_max_dp']:.1e}",
        f"  --ray, 2-node local cluster (1 CPU each) {t_ray:>7.1f} s   {r['ray_ratio']:.2f}x the one-process time "
        f"(goal <= 0.6x), max |dp| {r['ray_max_dp']:.1e}",
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--loop-frames", type=int, default=2000, help="frames for the (slow) per-frame SciPy loop")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sections", nargs="+", default=["geometry", "onnx", "extract", "cluster"])
    ap.add_argument("--videos", type=int, default=6, help="videos for the extraction section")
    ap.add_argument("--video-frames", type=int, default=48, help="frames per video for the extraction section")
    ap.add_argument("--rounds", type=int, default=3, help="paired rounds of the extraction section")
    ap.add_argument("--graphs", type=int, default=20_000, help="graphs for the inference section")
    ap.add_argument("--epochs", type=int, default=15, help="training epochs of the WGNN whose int8 accuracy is compared")
    ap.add_argument("--cluster-models", nargs="+", default=["logreg", "pointnet", "wgnn"],
                    help="models of the cross-validation in the cluster section")
    ap.add_argument("--peak-gflops", type=float, default=None,
                    help="the machine's peak float32 GFLOP/s (default: cores x GHz x 32, AVX2 FMA)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    results = {"threads": args.threads, "cpus": os.cpu_count(), "load_average_before": os.getloadavg()}
    lines = []
    if "geometry" in args.sections:
        lines += bench_geometry(args, results)
    if "onnx" in args.sections:
        try:
            from speed_onnx import bench_onnx
        except ImportError as exc:
            lines.append(f"onnx: skipped ({exc})")
        else:
            lines += bench_onnx(args, results)
    if "extract" in args.sections:
        lines += bench_extract(args, results)
    if "cluster" in args.sections:
        lines += bench_cluster(args, results)
    results["load_average_after"] = os.getloadavg()
    lines.append(f"load average before/after: {tuple(round(v, 1) for v in results['load_average_before'])} / "
                 f"{tuple(round(v, 1) for v in results['load_average_after'])} on {results['cpus']} CPUs "
                 f"(other processes share these cores: wall-clock rates are lower bounds)")
    print("\n".join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    from geopain.jsonio import write_json

    write_json(args.out / "speed.json", results)
    (args.out / "speed.md").write_text("```\n" + "\n".join(lines) + "\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
