"""The main job (``make demo`` / ``geopain demo``): geopain end to end, offline, on embedded defaults.

1. A real photo that ships inside an installed package (scikit-image's astronaut) goes
   through the default detector (MediaPipe FaceMesh), is mapped to iBUG 68, normalised
   against the template, turned into a weighted facial graph and measured.
2. A human cohort and a sheep cohort are SIMULATED (:mod:`geopain.synth`); the baselines,
   PointNet and WGNN (with and without edge weights) are trained and evaluated for binary
   and five-level pain under a subject-independent grouped k-fold protocol, with each
   subject's geometry standardised against its own median face (label-free).
3. The real photo is scored end to end (detector -> graph -> model) by a WGNN trained on the
   simulated human cohort.
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


@dataclass
class DemoConfig:
    """Sizes of the demo; the defaults finish in a few minutes on 2 CPU cores."""

    subjects: int = 16
    sequences_per_subject: int = 4
    frames: int = 24
    folds: int = 4
    models: tuple[str, ...] = ("logreg", "gboost", "pointnet", "wgnn", "wgnn-uniform")
    tasks: tuple[str, ...] = ("binary", "five")
    species: tuple[str, ...] = ("human", "sheep")
    epochs: int = 60
    #: identity removal for the cohort evaluation (see PainEstimator): each subject's median
    #: shape over its own frames, label-free; the single photo is scored without it
    identity_baseline: str | None = "subject-median"
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def run_demo(output: str | Path = "demo-output", config: DemoConfig | None = None, progress: bool = True) -> dict:
    """Run the whole demo and return the metrics dictionary written to ``metrics.json``."""
    from tqdm.auto import tqdm

    cfg = config or DemoConfig()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    steps = ["real photo", *[f"{s} cohort" for s in cfg.species], "score the photo", "report"]
    bar = tqdm(total=len(steps), desc="geopain demo", unit="step", disable=not progress)
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
    (out / "metrics.json").write_text(json.dumps(results, indent=2, default=_json))
    write_report(results, out)
    bar.update()
    bar.close()
    return results


# ---------------------------------------------------------------------------------------
def _real_photo(out: Path) -> dict:
    from .extract import detect_image
    from .geometry.measure import measure
    from .geometry.normalize import normalize
    from .graphs import FacialGraphBuilder
    from .io.tables import write_table
    from .species import convert_sequence, get_scheme
    from .viz import plot_graph, plot_landmarks, plot_measurements

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
    from .synth import simulate

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
    for task in cfg.tasks:
        res = run_protocol(seqs, model=list(cfg.models), task=task, protocol=f"kfold:{cfg.folds}",
                           out_dir=out / "runs" / species / task, seed=cfg.seed, progress=progress,
                           epochs=cfg.epochs, baseline=cfg.identity_baseline, **cfg.extra)
        summary["results"][task] = {
            name: {"frame": m["frame"]["summary"], "sequence": m["sequence"]["summary"],
                   "train_seconds": float(np.sum(m.get("train_seconds", [])))}
            for name, m in res["models"].items()
        }
        summary.setdefault("comparisons", {})[task] = res.get("comparisons", [])
    return seqs, summary


def _score_photo(face68, human_seqs: list, cfg: DemoConfig, out: Path) -> dict:
    """Score the photo with the graph network and with the measurement baseline, both
    trained on the whole simulated human cohort (detector -> normalise -> graph -> model)."""
    from .models import PainEstimator

    scores = {}
    for name in ("wgnn", "logreg"):
        est = PainEstimator(model=name, task="binary", epochs=cfg.epochs, seed=cfg.seed)
        est.fit(human_seqs)
        est.save(out / f"model_human_{name}_binary")
        scores[name] = float(np.asarray(est.predict_proba([face68]))[0, 1])
    return {"p_pain": scores, "trained_on": "the simulated human cohort",
            "note": "Models trained on simulated faces: a demonstration of the pipeline on a real photo, "
                    "not a clinical score. The astronaut is smiling (AU6/AU12), a confounder the simulator includes."}


# ---------------------------------------------------------------------------------------
_KEYS = {"binary": ["accuracy", "balanced_accuracy", "sensitivity", "specificity", "f1", "roc_auc"],
         "five": ["accuracy", "balanced_accuracy", "mae_level", "f1_macro"]}


def results_table(results: dict, level: str = "frame") -> list[list[str]]:
    """Rows ``species, task, model, metric mean ± sd ...`` (``level``: frame or sequence)."""
    rows = []
    for species, cohort in results.get("cohorts", {}).items():
        for task, models in cohort["results"].items():
            for model, res in models.items():
                cells = []
                for key in _KEYS.get(task, []):
                    m = (res.get(level) or {}).get(key)
                    cells.append("n/a" if not m or m.get("mean") is None or not np.isfinite(m["mean"])
                                 else f"{m['mean']:.3f} ± {m.get('std', float('nan')):.3f}")
                rows.append([species, task, model, *cells])
    return rows


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
        "<h2>2. Simulated cohorts: subject-independent results (mean ± sd over folds)</h2>",
        _cohort_table(results.get("cohorts", {})),
    ]
    for level in ("frame", "sequence"):
        for task, keys in _KEYS.items():
            rows = [r for r in results_table(results, level) if r[1] == task]
            if not rows:
                continue
            parts.append(f"<h3>{task}, per {level}</h3><table><tr><th>species</th><th>model</th>"
                         + "".join(f"<th>{k}</th>" for k in keys) + "</tr>")
            for r in rows:
                parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in [r[0], *r[2:]]) + "</tr>")
            parts.append("</table>")
    comparisons = [(sp, t, c) for sp, co in results.get("cohorts", {}).items()
                   for t, cs in co.get("comparisons", {}).items() for c in cs]
    if comparisons:
        parts.append("<h3>What the comparisons say</h3><ul>"
                     + "".join(f"<li>{html.escape(sp)}, {html.escape(t)}: {html.escape(c)}</li>" for sp, t, c in comparisons)
                     + "</ul>")
    parts.append(f"<p>Run time: {results.get('seconds')} s. Configuration: "
                 f"{html.escape(json.dumps(results.get('config'), default=_json))}</p></body></html>")
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


def _json(obj: Any) -> Any:
    if isinstance(obj, (np.generic,)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)
