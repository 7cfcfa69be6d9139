"""The ONNX section of benchmarks/speed.py (a module: run it through speed.py).

1. Every neural frame model of the registry is trained briefly on a simulated cohort,
   exported (float and int8) and checked against torch: max |probability difference|.
2. WGNN inference throughput (graphs/s) on the CPU: torch (``predict_network``) against
   ONNX Runtime float32 and int8, same inputs, same thread count, side by side; the FLOPs
   of one graph are counted by torch's FlopCounterMode and the achieved FLOP/s is printed
   against the machine's peak (cores x clock x FLOP per cycle of its widest FMA units).
3. int8 accuracy change: a WGNN trained on one simulated cohort scored on an independent
   simulated cohort (other subjects, other seed) by torch, ONNX float and ONNX int8.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def _peak_gflops(threads: int, override: float | None) -> tuple[float, str]:
    if override:
        return override, "given"
    mhz, avx512 = 2000.0, False
    try:
        text = Path("/proc/cpuinfo").read_text()
        mhz = float(next(line.split(":")[1] for line in text.splitlines() if line.startswith("cpu MHz")))
        avx512 = " avx512f" in text
    except (OSError, StopIteration, ValueError):
        pass
    per_cycle = 64 if avx512 else 32  # float32 FMA: 2 units x (16 or 8 lanes) x 2 FLOP
    return threads * mhz / 1000 * per_cycle, f"{threads} cores x {mhz / 1000:.2f} GHz x {per_cycle} FLOP/cycle"


def _flops_per_graph(model, inputs, n: int = 256) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from geopain.training import _batch

    idx = torch.arange(n)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(**_batch(inputs, idx, torch.device("cpu")))
    return fc.get_total_flops() / n


def _op_profile(path: Path, feed: dict, threads: int, repeats: int = 5) -> dict[str, float]:
    """Share of ONNX Runtime's operator time by operator type (its own profiler, ``repeats`` runs)."""
    import json as _json

    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.enable_profiling = True
    opts.profile_file_prefix = str(path.with_suffix(""))
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    for _ in range(repeats):
        sess.run(None, {k: feed[k] for k in names})
    events = _json.loads(Path(sess.end_profiling()).read_text())
    per_op: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            op = e.get("args", {}).get("op_name", "?")
            per_op[op] = per_op.get(op, 0.0) + float(e.get("dur", 0))
    total = sum(per_op.values()) or 1.0
    return {k: v / total for k, v in sorted(per_op.items(), key=lambda kv: -kv[1])}


#: ONNX operator types that do the multiply-adds FLOP counters count.
MATMUL_OPS = ("MatMul", "Gemm", "FusedMatMul", "MatMulInteger", "DynamicQuantizeMatMul", "Conv", "Einsum")


def bench_onnx(args, results: dict) -> list[str]:
    import numpy as np
    import torch
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    from geopain import models
    from geopain.export import export_onnx
    from geopain.lite import OnnxPainModel
    from geopain.models import PainEstimator
    from geopain.models.steps import FeatureScaler
    from geopain.synth import simulate
    from geopain.training import predict_network

    torch.set_num_threads(args.threads)
    lines = []
    res = results.setdefault("onnx", {})
    tmp = Path(tempfile.mkdtemp(prefix="geopain-speed-"))
    small = simulate("human", n_subjects=4, sequences_per_subject=2, frames=10, seed=1)

    # 1. every neural frame model exports
    lines.append("ONNX export of every neural frame model (1 epoch on a simulated cohort), max |p_onnx - p_torch|:")
    for name in models.names():
        info = models.info(name)
        if info.get("kind") != "torch" or info.get("temporal_only") or info.get("window_model"):
            continue  # window models take (B, T, N, F) windows: not frame models
        est = PainEstimator(model=name, epochs=1, init=None, seed=0).fit(small)
        est.save(tmp / name)
        try:
            s = export_onnx(tmp / name, tmp / f"{name}.onnx")
        except Exception as exc:  # report, do not hide: the sweep goes on
            res.setdefault("parity", {})[name] = {"error": str(exc)}
            lines.append(f"  {name:14s} NOT EXPORTED: {exc}")
            continue
        p_t, p_o = est.predict_proba(small), OnnxPainModel(tmp / f"{name}.onnx").predict_proba(small)
        d = float(np.nanmax(np.abs(p_t - p_o)))
        res.setdefault("parity", {})[name] = {"proba_max_abs_diff": d, "output_max_abs_diff": s["max_abs_diff"]}
        lines.append(f"  {name:14s} probabilities {d:.1e}   network outputs {s['max_abs_diff']:.1e}   (goal <= 1e-4)")

    # 2. throughput: a WGNN of the estimator's default size
    train = simulate("human", n_subjects=12, sequences_per_subject=4, frames=30, seed=2)
    test = simulate("human", n_subjects=8, sequences_per_subject=4, frames=30, seed=3)
    est = PainEstimator(model="wgnn", epochs=args.epochs, init=None, seed=0).fit(train)
    est.save(tmp / "wgnn-main")
    export_onnx(tmp / "wgnn-main", tmp / "wgnn.onnx")
    q = export_onnx(tmp / "wgnn-main", tmp / "wgnn-int8.onnx", int8=True)
    lite = OnnxPainModel(tmp / "wgnn.onnx", threads=args.threads)
    lite8 = OnnxPainModel(tmp / "wgnn-int8.onnx", threads=args.threads)
    feats, found = lite.features(test)
    reps = int(np.ceil(args.graphs / len(feats["x"])))
    big = {k: np.concatenate([v] * reps)[: args.graphs] for k, v in feats.items()}
    G = len(big["x"])
    tin = {k: torch.from_numpy(v) for k, v in big.items()}
    tin["edge_index"] = torch.as_tensor(np.asarray(est.edge_index_), dtype=torch.long)
    index = np.arange(G)
    model = est.model_.eval()

    def timed(fn, repeats=3):
        best = (float("inf"), float("inf"))
        for _ in range(repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            best = (min(best[0], time.perf_counter() - w0), min(best[1], time.process_time() - c0))
        return best

    predict_network(model, tin, index[:512])
    lite.run(big, index[:512])
    lite8.run(big, index[:512])
    w_t, c_t = timed(lambda: predict_network(model, tin, index))
    w_o, c_o = timed(lambda: lite.run(big))
    w_q, c_q = timed(lambda: lite8.run(big))
    flops = _flops_per_graph(model, tin)
    peak, how = _peak_gflops(args.threads, args.peak_gflops)
    batch = {k: np.ascontiguousarray(v[:4096], dtype=np.float32) for k, v in big.items()}
    ops = _op_profile(tmp / "wgnn.onnx", batch, args.threads)
    matmul_share = sum(v for k, v in ops.items() if k in MATMUL_OPS)
    r = {"graphs": G, "torch_gps": G / w_t, "onnx_gps": G / w_o, "int8_gps": G / w_q,
         "torch_gps_cpu": G / c_t, "onnx_gps_cpu": G / c_o, "int8_gps_cpu": G / c_q,
         "flops_per_graph": flops, "peak_gflops": peak, "peak_basis": how,
         "onnx_gflops": flops * G / w_o / 1e9, "torch_gflops": flops * G / w_t / 1e9,
         "operator_time_share": ops, "matmul_time_share": matmul_share,
         "data_movement_operators": [k for k in ops if k not in MATMUL_OPS][:4]}
    res["throughput"] = r
    lines += [
        f"WGNN inference (hidden {est.hidden}, {est.layers} layers, human/ibug68: 68 nodes, "
        f"{tin['edge_index'].shape[1]} directed edges), {G} graphs, {args.threads} threads:",
        f"  torch CPU (predict_network)   {r['torch_gps']:>10,.0f} graphs/s ({r['torch_gps_cpu']:,.0f} per CPU-s)",
        f"  ONNX Runtime float32          {r['onnx_gps']:>10,.0f} graphs/s ({r['onnx_gps_cpu']:,.0f} per CPU-s)   "
        f"ONNX / torch: {r['onnx_gps'] / r['torch_gps']:.2f}x (goal 1.5x); goal 100,000 graphs/s: "
        f"{r['onnx_gps'] / 100_000:.2f}x of goal",
        f"  ONNX Runtime int8 (dynamic)   {r['int8_gps']:>10,.0f} graphs/s ({r['int8_gps_cpu']:,.0f} per CPU-s)   "
        f"int8 / torch: {r['int8_gps'] / r['torch_gps']:.2f}x",
        f"  {flops / 1e6:.2f} MFLOP per graph: ONNX float32 achieves {r['onnx_gflops']:.1f} GFLOP/s, torch "
        f"{r['torch_gflops']:.1f}, of a peak of {peak:.0f} GFLOP/s ({how}): "
        f"{r['onnx_gflops'] / peak:.1%} of peak",
        f"  what bounds it (ONNX Runtime's profiler, 4096-graph batches): {matmul_share:.0%} of operator time in "
        f"the matrix products that carry the FLOPs (they run at "
        f"{r['onnx_gflops'] / max(matmul_share, 1e-9):.0f} GFLOP/s, {r['onnx_gflops'] / max(matmul_share, 1e-9) / peak:.0%} "
        f"of peak), the rest in operators that move data with few FLOPs: "
        + ", ".join(f"{k} {ops[k]:.0%}" for k in r["data_movement_operators"]),
    ]

    # 3. int8 accuracy change on an independent simulated cohort
    y = np.concatenate([np.asarray(s.labels["pain"], dtype=float) for s in test])
    acc = {}
    for label, m in (("torch", est), ("onnx float32", lite), ("onnx int8", lite8)):
        p = m.predict_proba(test)[:, 1]
        ok = np.isfinite(p) & np.isfinite(y)
        acc[label] = {"balanced_accuracy": float(balanced_accuracy_score(y[ok], p[ok] > 0.5)),
                      "auc": float(roc_auc_score(y[ok], p[ok]))}
    p_f, p_q = lite.predict_proba(test)[:, 1], lite8.predict_proba(test)[:, 1]
    acc["int8_vs_float_max_abs_p_diff"] = float(np.nanmax(np.abs(p_f - p_q)))
    acc["int8_vs_float_decisions_changed"] = float(np.nanmean((p_f > 0.5) != (p_q > 0.5)))
    acc["int8_output_max_abs_diff_on_export_check"] = q["int8_max_abs_diff"]
    res["int8_accuracy"] = acc
    lines.append(f"int8 accuracy change (WGNN, {args.epochs} epochs on 12 simulated subjects; scored on 8 other "
                 f"simulated subjects, {int(np.isfinite(y).sum())} frames):")
    for label in ("torch", "onnx float32", "onnx int8"):
        lines.append(f"  {label:13s} balanced accuracy {acc[label]['balanced_accuracy']:.4f}   AUC {acc[label]['auc']:.4f}")
    lines.append(f"  int8 - float32: balanced accuracy {acc['onnx int8']['balanced_accuracy'] - acc['onnx float32']['balanced_accuracy']:+.4f}, "
                 f"AUC {acc['onnx int8']['auc'] - acc['onnx float32']['auc']:+.4f}; max |p difference| "
                 f"{acc['int8_vs_float_max_abs_p_diff']:.3f}; decisions changed {acc['int8_vs_float_decisions_changed']:.2%}")
    res["model_bytes"] = {"float32": os.path.getsize(tmp / "wgnn.onnx"), "int8": os.path.getsize(tmp / "wgnn-int8.onnx")}
    return lines
