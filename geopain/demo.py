"""The main job (``make demo`` / ``geopain demo``): geopain end to end, offline, on embedded defaults.

1. A real photo that ships inside an installed package (scikit-image's astronaut) goes
   through the default detector (MediaPipe FaceMesh), is mapped to iBUG 68, normalised
   against the template, turned into a weighted facial graph and measured.
2. A human cohort and a sheep cohort are SIMULATED (:mod:`geopain.synth`); the measurement
   baselines, PointNet, WGNN and the hybrid are trained and evaluated for binary and five-level
   pain (ordinal heads) under a subject-independent grouped k-fold protocol, twice: without any
   per-person reference (what a single photo allows) and with each subject's median face as the
   reference (what a monitored patient or a video allows). The WGNN edge weightings (strain,
   learned, uniform) are compared on the same folds with a paired test.
3. The real photo is scored end to end (detector -> graph -> model) by reference-free models
   trained on the simulated human cohort.
4. Everything lands in the output folder: ``report.html``, ``metrics.json``, tables and PNGs.

The cohorts are simulated: the numbers measure how well the pipeline recovers a known
geometric signal, not clinical accuracy.
"""
from __future__ import annotations

import base64
import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import GeopainError
from .extract import detect_image
from .graphs import FacialGraphBuilder
from .jsonio import dumps, write_json
from .progress import progress_bar
from .species import convert_sequence, get_scheme
from .synth import simulate
from .tasks import canonical_task
from .viz import plot_graph, plot_landmarks, plot_measurements


@dataclass
class DemoConfig:
    """Sizes of the demo; the defaults finish in a few minutes on 2 CPU cores."""

    subjects: int = 16
    sequences_per_subject: int = 4
    frames: int = 24
    folds: int = 4
    models: tuple[str, ...] = ("logreg", "gboost", "pointnet", "wgnn", "hybrid")
    tasks: tuple[str, ...] = ("binary", "levels")
    species: tuple[str, ...] = ("human", "sheep")
    epochs: int = 60
    #: per-person references evaluated (see PainEstimator): none (a single photo) and each
    #: subject's median face over its own frames (label-free)
    references: tuple[str, ...] = ("none", "subject-median")
    #: the WGNN weightings compared on the binary task, reference-free
    weightings: tuple[str, ...] = ("wgnn", "wgnn-strain", "wgnn-learned", "wgnn-uniform")
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def run_demo(output: str | Path = "demo-output", config: DemoConfig | None = None, progress: bool = True) -> dict:
    """Run the whole demo and return the metrics dictionary written to ``metrics.json``."""
    cfg = config or DemoConfig()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    steps = ["real photo", *[f"{s} cohort" for s in cfg.species], "score the photo", "report"]
    bar = progress_bar(total=len(steps), desc="geopain demo", unit="step", enabled=progress)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "simulated": True,
        "note": "Cohorts are simulated with geopain.synth; numbers are not clinical accuracy.",
        "config": {k: v for k, v in cfg.__dict__.items() if k != "extra"},
        "cohorts": {},
    }

    bar.set_postfix_str(steps[0])
    photo = _real_photo(out)
    results["photo"] = photo["summary"]
    bar.update()

    cohorts = {}
    for species in cfg.species:
        bar.set_postfix_str(f"{species} cohort")
        cohorts[species], results["cohorts"][species] = _cohort(species, cfg, out, progress)
        bar.update()

    bar.set_postfix_str("score the photo")
    results["photo"]["prediction"] = _score_photo(photo["sequence"], cohorts["human"], cfg, out) \
        if "human" in cohorts else None
    bar.update()

    bar.set_postfix_str("report")
    results["seconds"] = round(time.perf_counter() - started, 1)
    write_json(out / "metrics.json", results)
    write_report(results, out)
    bar.update()
    bar.close()
    return results


# ---------------------------------------------------------------------------------------
def _real_photo(out: Path) -> dict:
    from .geometry.measure import measure
    from .geometry.normalize import normalize
    from .io.tables import write_table

    try:
        from skimage import data
    except ImportError:  # pragma: no cover - scikit-image is in the demo extra
        raise GeopainError("the demo needs scikit-image (pip install 'geopain[demo]') for its real photo") from None
    image = data.astronaut()
    faces = detect_image(image, detector="mediapipe")
    if not faces:
        raise GeopainError("the default detector found no face in scikit-image's astronaut photo")
    face = faces[0]
    face.source = "skimage.data.astronaut()"
    write_table(faces, out / "photo_landmarks_mediapipe468.parquet")
    face68 = convert_sequence(face, "human/ibug68")
    write_table([face68], out / "photo_landmarks_ibug68.parquet")
    scheme = get_scheme("human/ibug68")
    plot_landmarks(image, face.coords[0], get_scheme(face.scheme), out / "photo_landmarks.png",
                   title=f"MediaPipe FaceMesh on a real photo ({face.n_points} points)")
    plot_landmarks(image, face68.coords[0], scheme, out / "photo_landmarks_ibug68.png",
                   title="mapped to iBUG 68")
    norm = normalize(face68)
    builder = FacialGraphBuilder(scheme)
    tensors = builder.tensors(norm.coords)
    plot_graph(tensors.pos[0], tensors.edge_index, tensors.edge_weight[0], scheme, out / "photo_graph.png",
               title="Normalised face, weighted graph (strain vs template)",
               template=scheme.template)
    values = measure(norm.coords, scheme).iloc[0].to_dict()
    neutral = measure(scheme.template[None], scheme).iloc[0].to_dict()
    plot_measurements(values, neutral, out / "photo_measurements.png")
    pose = {k: float(np.asarray(v)[0]) for k, v in norm.meta.get("pose", {}).items()}
    return {
        "sequence": face68,
        "summary": {
            "source": "skimage.data.astronaut()",
            "detector": face.detector,
            "faces": len(faces),
            "points": face.n_points,
            "pose_degrees": pose,
            "measurements": values,
            "neutral_measurements": neutral,
        },
    }


def _cohort(species: str, cfg: DemoConfig, out: Path, progress: bool) -> tuple[list, dict]:
    from .evaluation import run_protocol
    from .io.tables import write_table

    seqs = simulate(species=species, n_subjects=cfg.subjects, sequences_per_subject=cfg.sequences_per_subject,
                    frames=cfg.frames, seed=cfg.seed)
    write_table(seqs, out / f"{species}_cohort_simulated.parquet")
    summary: dict[str, Any] = {
        "scheme": seqs[0].scheme,
        "subjects": cfg.subjects,
        "sequences": len(seqs),
        "frames": int(sum(s.n_frames for s in seqs)),
        "pain_prevalence": float(np.nanmean(np.concatenate([s.labels["pain"] for s in seqs]))),
        "results": {},
    }
    def run(models: list[str], task: str, reference: str, folder: str, **params) -> dict:
        return run_protocol(seqs, model=models, task=task, protocol=f"kfold:{cfg.folds}",
                            out_dir=out / "runs" / species / folder, seed=cfg.seed, progress=progress,
                            epochs=cfg.epochs, reference=reference, **{**cfg.extra, **params})

    for task in cfg.tasks:
        for reference in cfg.references:
            res = run(list(cfg.models), task, reference, f"{task}-{reference}")
            summary["results"].setdefault(task, {})[reference] = model_summaries(res)
            summary.setdefault("comparisons", {}).setdefault(task, {})[reference] = res.get("comparisons", [])
            summary.setdefault("best", {}).setdefault(task, {})[reference] = best_network_vs_baseline(
                summary["results"][task][reference])
    if cfg.weightings and "binary" in cfg.tasks:
        summary["weightings"] = _weightings(run, cfg)
    return seqs, summary


def model_summaries(res: dict) -> dict:
    """Per model of a :func:`~geopain.evaluation.run_protocol` result: its frame- and
    sequence-level summaries, the frame-level balanced accuracy of every fold (``frame_folds``)
    and its total training seconds."""
    return {name: {"frame": m["frame"]["summary"], "sequence": m["sequence"]["summary"],
                   "frame_folds": [f.get("balanced_accuracy") for f in m["frame"].get("folds", [])],
                   "train_seconds": float(np.sum(m.get("train_seconds", [])))}
            for name, m in res["models"].items()}


def best_network_vs_baseline(models: dict) -> dict:
    """Best neural model against the best measurement baseline, paired over folds (balanced accuracy)."""
    from .evaluation.compare import paired_comparison
    from .models import MODELS

    mean = {m: float(np.nanmean(r["frame_folds"])) if r["frame_folds"] else float("nan") for m, r in models.items()}
    refs = [m for m in models if MODELS.info(m).get("reference_model") and np.isfinite(mean[m])]
    nets = [m for m in models if not MODELS.info(m).get("reference_model") and np.isfinite(mean[m])]
    if not refs or not nets:
        return {}
    best_ref, best_net = max(refs, key=mean.get), max(nets, key=mean.get)
    cmp = paired_comparison(models[best_net]["frame_folds"], models[best_ref]["frame_folds"], names=(best_net, best_ref))
    return {"network": best_net, "baseline": best_ref, "network_mean": mean[best_net], "baseline_mean": mean[best_ref],
            "at_least_baseline": mean[best_net] >= mean[best_ref], "sentence": cmp["sentence"]}


def _weightings(run, cfg: DemoConfig) -> dict:
    """The WGNN weightings on the same folds (binary, reference-free, all from random weights:
    only ``wgnn`` has a shipped encoder), paired over folds."""
    from .evaluation.compare import compare_many

    runs = model_summaries(run(list(cfg.weightings), "binary", "none", "binary-weightings", init=None))
    folds = {m: runs[m]["frame_folds"] for m in cfg.weightings}
    means = {m: float(np.nanmean(v)) for m, v in folds.items()}
    return {"metric": "balanced_accuracy", "folds": folds, "means": means,
            "comparisons": compare_many(folds, cfg.weightings[0], metric="balanced_accuracy")}


def _score_photo(face68, human_seqs: list, cfg: DemoConfig, out: Path) -> dict:
    """Score the photo with the graph network and with the measurement baseline, both
    trained on the whole simulated human cohort (detector -> normalise -> graph -> model)."""
    from .models import PainEstimator

    scores = {}
    for name in [m for m in cfg.models if m in ("wgnn", "hybrid", "logreg")]:
        est = PainEstimator(model=name, task="binary", epochs=cfg.epochs, seed=cfg.seed, reference="none")
        est.fit(human_seqs)
        est.save(out / f"model_human_{name}_binary")
        scores[name] = float(np.asarray(est.predict_proba([face68]))[0, 1])
        if name == next(m for m in cfg.models if m in ("wgnn", "hybrid", "logreg")):
            explained = _explain_photo(est, face68, human_seqs, out)
    return {"p_pain": scores, "explanation": explained if scores else None, "trained_on": "the simulated human cohort", "reference": "none",
            "note": "Reference-free models trained on simulated faces: a demonstration of the pipeline on a real "
                    "photo, not a clinical score. The astronaut is smiling (AU6/AU12), a confounder the simulator "
                    "includes; a model that has learned pain should score her low."}


def _explain_photo(est, face68, human_seqs: list, out: Path) -> dict:
    """Why ``est`` scored the photo as it did (unit bars, face heatmap on the photo) and one
    simulated pain sequence's unit timeline (:mod:`geopain.explain`)."""
    from skimage import data

    from .explain import explain
    from .explain.plots import plot_face_heatmap, plot_unit_bars, plot_unit_timeline, unit_summary

    att = explain(est, [face68])
    plot_face_heatmap(att, [0], out / "photo_explain_heatmap.png", image=data.astronaut(),
                      points=np.asarray(face68.coords[0, :, :2]),
                      title=f"Astronaut, {est.model}: landmark attributions to {att.target} (red: towards pain)")
    plot_unit_bars(att, [0], out / "photo_explain_units.png")
    pain = [s for s in human_seqs if np.nanmax(s.labels.get("pain", np.zeros(1))) > 0] or list(human_seqs)
    seq = pain[0]
    att_seq = explain(est, [seq])
    plot_unit_timeline(att_seq, np.flatnonzero(att_seq.found), out / "sequence_explain_timeline.png",
                       title=f"Simulated {seq.subject}/{seq.sequence}, {est.model}: pain units over time")
    return {"model": est.model, "method": att.method, "explained": att.target,
            "units": {lab: round(share, 3) for lab, _, share in unit_summary(att, [0])},
            "timeline_sequence": f"{seq.subject}/{seq.sequence}"}


# ---------------------------------------------------------------------------------------
_KEYS = {"binary": ["balanced_accuracy", "roc_auc", "sensitivity", "specificity", "f1"],
         "levels": ["accuracy", "balanced_accuracy", "mae_level", "qwk"]}
#: How the README and the demo report name each task.
TASK_WORDS = {"binary": "pain vs no pain", "levels": "five levels of the scale"}
_REFERENCE_WORDS = {"none": "none (reference-free)", "subject-median": "subject's median face",
                    "first-frames": "first frames", "neutral-labelled": "neutral-labelled frames"}


def _cell(m: dict | None) -> str:
    if not m or m.get("mean") is None or not np.isfinite(m["mean"]):
        return "n/a"
    return f"{m['mean']:.2f} ± {m.get('std', float('nan')):.2f}"


def results_table(results: dict, level: str = "frame") -> list[list[str]]:
    """Rows ``species, task, reference, model, metric mean ± sd ...`` (``level``: frame or sequence;
    the metrics of each task are :data:`_KEYS`)."""
    rows = []
    for species, cohort in results.get("cohorts", {}).items():
        for task, by_reference in cohort["results"].items():
            task = canonical_task(task, warn=False)  # demos saved before "five" became "levels"
            for reference, models in by_reference.items():
                for model, res in models.items():
                    cells = [_cell((res.get(level) or {}).get(key)) for key in _KEYS.get(task, [])]
                    rows.append([species, task, _REFERENCE_WORDS.get(reference, reference), model, *cells])
    return rows


def markdown_results(results: dict) -> str:
    """The README's results section, generated from a demo ``metrics.json`` (never pasted)."""
    from .evaluation.report import METRIC_LABELS

    cfg = results.get("config", {})
    lines = [f"Simulated cohorts of {cfg.get('subjects')} subjects per species ({cfg.get('sequences_per_subject')} "
             f"sequences of {cfg.get('frames')} frames), grouped {cfg.get('folds')}-fold by subject, per-frame "
             f"metrics, mean ± sd over folds; {results.get('seconds')} s on this machine. Five levels use "
             "ordinal (cumulative-link) heads in the neural models.", ""]
    for task, keys in _KEYS.items():
        rows = [r for r in results_table(results) if r[1] == task]
        if not rows:
            continue
        lines += [f"**{TASK_WORDS[task]}**", "",
                  "| species | reference | model | " + " | ".join(METRIC_LABELS.get(k, k) for k in keys) + " |",
                  "|---" * (3 + len(keys)) + "|"]
        lines += ["| " + " | ".join([r[0], r[2], r[3], *r[4:]]) + " |" for r in rows]
        lines.append("")
    refs = {"none": "reference-free", "subject-median": "with the subject's median face"}
    for species, cohort in results.get("cohorts", {}).items():
        for task, by_ref in (cohort.get("best") or {}).items():
            task = canonical_task(task, warn=False)
            for reference, b in by_ref.items():
                if b:
                    lines.append(f"- {species}, {TASK_WORDS[task]}, {refs.get(reference, reference)}: best network "
                                 f"{b['network']} {b['network_mean']:.3f} vs best baseline {b['baseline']} "
                                 f"{b['baseline_mean']:.3f} balanced accuracy; paired over folds: {b['sentence']}.")
    lines.append("")
    for species, cohort in results.get("cohorts", {}).items():
        w = cohort.get("weightings")
        if not w:
            continue
        lines.append(f"**WGNN edge weights, {species}** (binary, reference-free, balanced accuracy per fold, paired): "
                     + "; ".join(f"{m} {v:.3f}" for m, v in w["means"].items()) + ".")
        lines += [f"- {c['sentence']}" for c in w.get("comparisons", [])]
        lines.append("")
    photo = (results.get("photo") or {}).get("prediction") or {}
    if photo:
        lines.append("The real photo (scikit-image's astronaut, smiling) scored by reference-free models trained on "
                     "the simulated cohort: " + ", ".join(f"{k} p(pain) = {v:.2f}" for k, v in photo["p_pain"].items())
                     + ".")
    return "\n".join(lines).rstrip() + "\n"


def markdown_edge_weights(report: dict) -> str:
    """The README's edge-weights section from ``benchmarks/edge_weights.py``'s JSON."""
    lines = [f"WGNN weightings compared on simulated cohorts of {report.get('subjects')} subjects, binary pain, "
             f"reference-free, {len(report.get('seeds', []))} seeds x {report.get('folds')} subject-grouped folds "
             "(each seed a new cohort), paired test per (seed, fold) (`benchmarks/edge_weights.py`):", ""]
    for species, r in report.get("species", {}).items():
        means = ", ".join(f"{m} {v:.3f}" for m, v in r["means"].items())
        lines.append(f"- **{species}** (mean balanced accuracy: {means}): {r['best']['sentence']}.")
        lines += [f"  - {c['sentence']}" for c in r["comparisons"].get("wgnn-uniform", [])]
    from .models import DEFAULT_WEIGHTING

    winners = [sp for sp, r in report.get("species", {}).items() if r["best"].get("significant")]
    verdict = (f"A weighting beats the runner-up beyond noise on: {', '.join(winners)}." if winners else
               "No weighting beats another beyond noise on either species: the edge weights are not shown to help, "
               "so nothing earns a change of the default.")
    lines += ["", f"{verdict} The default `wgnn` keeps the `{DEFAULT_WEIGHTING}` weighting (the one its shipped "
              "encoders were pretrained with); `wgnn-strain`, `wgnn-learned` and `wgnn-uniform` stay in the registry "
              "as the ablations."]
    return "\n".join(lines).rstrip() + "\n"


def _load_average(value: list | tuple | None) -> str:
    return "?" if not value else f"{float(value[0]):.1f}"


def markdown_speed(results_dir: str | Path) -> str:
    """The README's speed table from the committed benchmark outputs (``speed/speed.json``,
    ``speed/extract/speed.json``, ``speed/cluster/speed.json``, ``monitor/monitor_fps.json``, ``dashboard/dashboard.json``,
    ``startup/startup.json``); a missing file leaves its rows out. Each row names the load
    average it was measured at: on shared cores, wall-clock rates are lower bounds."""
    d = Path(results_dir)

    def read(rel: str) -> dict | None:
        f = d / rel
        return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else None

    rows: list[tuple[str, str]] = []
    speed = read("speed/speed.json")
    if speed:
        load = _load_average(speed.get("load_average_before"))
        for key, g in speed.get("geometry", {}).items():
            rows.append((f"normalise + measure, {g['points']} points ({key}; `benchmarks/speed.py`, load {load})",
                         f"{g['normalise+measure_fps']:,.0f} frames/s ({g['normalise+measure_fps_cpu']:,.0f} per CPU-s); "
                         f"{g['normalise+measure_fps'] / g['previous_fps']:.1f}x the previous batched-numpy path, "
                         f"{g['normalise+measure_fps'] / g['scipy_loop_fps']:,.0f}x a per-frame SciPy Procrustes loop; "
                         f"graph tensors {g['graph_tensors_fps']:,.0f} frames/s"))
        t = speed.get("onnx", {}).get("throughput")
        if t:
            acc = speed["onnx"].get("int8_accuracy", {})
            drop = ""
            if "onnx int8" in acc and "onnx float32" in acc:
                drop = (f"; int8 balanced accuracy {acc['onnx int8']['balanced_accuracy'] - acc['onnx float32']['balanced_accuracy']:+.3f}")
            rows.append((f"WGNN inference, 68-point graphs, batched (`geopain export`, load {load})",
                         f"torch {t['torch_gps']:,.0f} graphs/s, ONNX Runtime {t['onnx_gps']:,.0f} "
                         f"({t['onnx_gps'] / t['torch_gps']:.2f}x torch), int8 {t['int8_gps']:,.0f}{drop}; "
                         f"{t['onnx_gflops']:.1f} GFLOP/s of a {t['peak_gflops']:.0f} GFLOP/s peak"
                         + (f"; bound by moving data, not arithmetic: {100 * t['matmul_time_share']:.0f}% of ONNX "
                            f"Runtime's operator time in the matrix products, the rest in "
                            + ", ".join(t["data_movement_operators"])
                            if "data_movement_operators" in t else "")))
    def section(name: str) -> dict | None:
        """A ``speed.py`` section from its own run (``--out speed/NAME``) or from a run of all sections."""
        for found in (read(f"speed/{name}/speed.json"), speed):
            if found and name in found:
                return found
        return None

    extract = section("extract")
    if extract:
        e = extract["extract"]
        cores = str(e.get("cores", 2))
        rows.append((f"`geopain extract`, MediaPipe, {e['videos']} videos x {e['frames'] // max(e['videos'], 1)} frames "
                     f"(load {_load_average(extract.get('load_average_before'))})",
                     f"bare detector loop {e['bare_fps']:.1f} frames/s; 1 worker {e['workers_fps']['1']:.1f} "
                     f"(overhead {100 * e['overhead_one_worker']:+.0f}%"
                     + (f" wall, {100 * e['overhead_one_worker_cpu']:+.0f}% CPU" if "overhead_one_worker_cpu" in e else "")
                     + (f"; {100 * e['overhead_loaded_detector']:+.0f}%"
                        + (f" wall, {100 * e['overhead_loaded_detector_cpu']:+.0f}% CPU"
                           if "overhead_loaded_detector_cpu" in e else "")
                        + " with the detector loaded" if "overhead_loaded_detector" in e else "")
                     + f"); {cores} workers {e['workers_fps'][cores]:.1f} "
                     f"({e['speedup']:.2f}x)"
                     + (f"; one {e['long_video']['frames']}-frame video in chunks {e['long_video']['speedup']:.2f}x"
                        if "long_video" in e else "")
                     + f"; BioVid-size run projected at {e['biovid_projected_hours']:.1f} h"
                     + (f"; medians of {e['rounds']} paired rounds" if "paired_rounds" in e else "")))
    cluster = section("cluster")
    if cluster:
        c = cluster["cluster"]
        rows.append((f"cross-validation, demo human cohort, 4 folds x {len(c['models'])} models "
                     f"(`benchmarks/speed.py --sections cluster`, load {_load_average(cluster.get('load_average_before'))})",
                     f"one process {c['single_s']:.0f} s; `--workers {c['cores']}` {c['pool_s']:.0f} s "
                     f"({c['pool_ratio']:.2f}x); `--ray`, 2-node local cluster {c['ray_s']:.0f} s ({c['ray_ratio']:.2f}x); "
                     f"same predictions (max |dp| {max(c['pool_max_dp'], c['ray_max_dp']):.0e})"))
    monitor = read("monitor/monitor_fps.json")
    if monitor:
        v = monitor.get("video", {})
        load = _load_average(monitor.get("machine", {}).get("load_avg_at_start"))
        parts = []
        if "realtime" in monitor:
            r = monitor["realtime"]
            parts.append(f"live (`--realtime`): {r['effective_fps']:.1f} fps effective, "
                         f"{100 * r['dropped_fraction']:.1f}% of frames dropped, lag p95 {r['lag_ms']['p95'] / 1000:.2f} s, "
                         f"peak memory {r['peak_rss_mb'] / 1024:.2f} GB")
        if "every_frame" in monitor:
            parts.append(f"every frame: {monitor['every_frame']['processed_fps']:.1f} fps")
        rows.append((f"`geopain monitor`, {v.get('minutes', 0):g}-min {v.get('fps', 25)} fps video, MediaPipe (load {load}; "
                     f"`benchmarks/monitor_fps.py`)", "; ".join(parts)))
    dash = read("dashboard/dashboard.json")
    if dash:
        cells = [f"{db} {dash[db]['pages']['first page (runs)']['median_s']:.3f} s" for db in ("sqlite", "postgresql")
                 if db in dash]
        some = next(dash[db] for db in ("sqlite", "postgresql") if db in dash)
        rows.append((f"dashboard first page, {some['runs']} runs x {some['windows_per_run']:,} windows "
                     f"(load {_load_average(dash.get('load_avg_at_start'))}; `benchmarks/dashboard.py`)", ", ".join(cells)))
    startup = read("startup/startup.json")
    if startup:
        c, b = startup["current"]["geopain --help"], startup.get("baseline", {}).get("geopain --help")
        before = f" (was {b['wall_s_best']:.2f} s)" if b else ""
        rows.append((f"`geopain --help` (load {_load_average(startup.get('load_average'))}; `benchmarks/startup.py`)",
                     f"{c['wall_s_best']:.2f} s wall, {c['cpu_s_best']:.2f} CPU-s{before}"))
    lines = ["| what | measured |", "|---|---|", *[f"| {a} | {b} |" for a, b in rows]]
    return "\n".join(lines) + "\n"


def readme_blocks(results_dir: str | Path) -> dict[str, str]:
    """``{block name: markdown}`` of the README, generated from the committed result files."""
    d = Path(results_dir)
    blocks = {}
    if (d / "demo-metrics.json").is_file():
        blocks["demo-results"] = markdown_results(json.loads((d / "demo-metrics.json").read_text()))
    if (d / "edge_weights.json").is_file():
        blocks["edge-weights"] = markdown_edge_weights(json.loads((d / "edge_weights.json").read_text()))
    if (d / "generality" / "generality.md").is_file():  # written by benchmarks/generality.py
        blocks["generality"] = (d / "generality" / "generality.md").read_text(encoding="utf-8").rstrip() + "\n"
    if (d / "generality" / "cross_generator.md").is_file():  # generality.py --cross-generator-only
        text = (d / "generality" / "cross_generator.md").read_text(encoding="utf-8").rstrip()
        blocks["cross-generator"] = text.removeprefix("# ") + "\n"  # its title reads as a caption there
    # written by benchmarks/temporal.py, biosignals.py (biosignals-camera: --signals rppg), biovid_layout.py,
    # explanations.py and cohort_draws.py; a summary's own title line is left out (the README's section has the heading)
    for name in ("temporal", "biosignals", "biosignals-camera", "biovid_layout", "explanations", "cohort_draws"):
        if (d / name / "summary.md").is_file():
            text = (d / name / "summary.md").read_text(encoding="utf-8").strip()
            if text.startswith("# "):
                text = text.split("\n", 1)[1].strip() if "\n" in text else ""
            blocks[name] = text + "\n"
    speed = markdown_speed(d)
    if speed.count("\n") > 2:
        blocks["speed"] = speed
    return blocks


def update_readme(readme: str | Path, blocks: dict[str, str]) -> bool:
    """Replace each ``<!-- NAME:start -->`` ... ``<!-- NAME:end -->`` block of ``readme`` with
    ``blocks[NAME]``; returns whether the file changed."""
    path = Path(readme)
    text = original = path.read_text(encoding="utf-8")
    for name, body in blocks.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        if start not in text or end not in text:
            raise GeopainError(f"{path}: no '{start}' ... '{end}' block to fill")
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{body}{end}{tail}"
    if text != original:
        path.write_text(text, encoding="utf-8")
    return text != original


def write_report(results: dict, out: Path) -> Path:
    """A self-contained HTML page (images inlined) of the demo's results."""
    def img(name: str) -> str:
        p = out / name
        if not p.exists():
            return ""
        b64 = base64.b64encode(p.read_bytes()).decode()
        return f'<figure><img src="data:image/png;base64,{b64}" alt="{name}"><figcaption>{name}</figcaption></figure>'

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>geopain demo report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px}"
        "figure{display:inline-block;margin:8px}img{max-width:520px}.warn{background:#fff3cd;padding:8px}</style>",
        "</head><body><h1>geopain demo report</h1>",
        "<p class='warn'><b>Simulated cohorts.</b> The human and sheep cohorts below are generated by "
        "<code>geopain.synth</code> from facial templates with action units, identity, pose, noise and "
        "confounders. The metrics show how well each model recovers that known signal under a subject-"
        "independent split; they are <b>not</b> clinical accuracy.</p>",
        "<h2>1. A real photo, end to end</h2>",
        _photo_table(results["photo"]),
        img("photo_landmarks.png"), img("photo_landmarks_ibug68.png"), img("photo_graph.png"), img("photo_measurements.png"),
        "<h3>Why the model scored the photo so (geopain.explain)</h3>",
        img("photo_explain_units.png"), img("photo_explain_heatmap.png"), img("sequence_explain_timeline.png"),
        "<h2>2. Simulated cohorts: subject-independent results (mean ± sd over folds)</h2>",
        _cohort_table(results.get("cohorts", {})),
    ]
    from .evaluation.report import METRIC_LABELS

    task_words = {**TASK_WORDS, "levels": TASK_WORDS["levels"] + " (ordinal)"}
    for level in ("frame", "sequence"):
        for task, keys in _KEYS.items():
            rows = [r for r in results_table(results, level) if r[1] == task]
            if not rows:
                continue
            parts.append(f"<h3>{task_words[task]}, per {level}</h3><table><tr><th>species</th><th>per-person reference</th>"
                         "<th>model</th>" + "".join(f"<th>{html.escape(METRIC_LABELS.get(k, k))}</th>" for k in keys) + "</tr>")
            for r in rows:
                parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in [r[0], *r[2:]]) + "</tr>")
            parts.append("</table>")
    for species, cohort in results.get("cohorts", {}).items():
        w = cohort.get("weightings")
        if w:
            parts.append(f"<h3>WGNN edge weights, {html.escape(species)} (binary, reference-free, paired over folds)</h3><ul>"
                         + "".join(f"<li>{html.escape(c['sentence'])}</li>" for c in w.get("comparisons", [])) + "</ul>")
    comparisons = [(sp, f"{t}, reference {r}", c) for sp, co in results.get("cohorts", {}).items()
                   for t, by_ref in co.get("comparisons", {}).items() for r, cs in by_ref.items() for c in cs]
    if comparisons:
        parts.append("<h3>What the comparisons say</h3><ul>"
                     + "".join(f"<li>{html.escape(sp)}, {html.escape(t)}: {html.escape(c)}</li>" for sp, t, c in comparisons)
                     + "</ul>")
    parts.append(f"<p>Run time: {results.get('seconds')} s. Configuration: "
                 f"{html.escape(dumps(results.get('config'), indent=None))}</p></body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in pairs) + "</table>"


def _photo_table(photo: dict) -> str:
    pose = photo.get("pose_degrees", {})
    pairs = [("source", str(photo.get("source"))), ("detector", str(photo.get("detector"))),
             ("faces found", str(photo.get("faces"))), ("points", str(photo.get("points"))),
             ("head pose (yaw, pitch, roll)", ", ".join(f"{pose.get(k, float('nan')):.1f}°" for k in ("yaw", "pitch", "roll")))]
    pred = photo.get("prediction") or {}
    for model, p in (pred.get("p_pain") or {}).items():
        pairs.append((f"p(pain), {model}", f"{p:.2f}"))
    note = f"<p><i>{html.escape(pred['note'])}</i></p>" if pred.get("note") else ""
    return _rows(pairs) + note


def _cohort_table(cohorts: dict) -> str:
    head = "<table><tr><th>species</th><th>scheme</th><th>subjects</th><th>sequences</th><th>frames</th><th>frames in pain</th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(sp)}</td><td>{html.escape(c['scheme'])}</td><td>{c['subjects']}</td>"
        f"<td>{c['sequences']}</td><td>{c['frames']}</td><td>{c['pain_prevalence']:.0%}</td></tr>"
        for sp, c in cohorts.items())
    return head + body + "</table>"
