"""Every temporal and fusion model through BioVid's own path: files in BioVid Part A's layout,
``geopain dataset prepare biovid``, then one ``geopain evaluate`` call under LOSO-87 (SIMULATION).

BioVid itself is licensed and not here. This writes a cohort in its exact layout: ``samples.csv``
(TAB-separated, BL1 and PA4 samples), ``biosignals_filtered/<subject>/<sample>_bio.csv`` (time
in µs, GSR, ECG, EMG at 512 Hz, as the recordings are) and, standing in for the videos, a
landmark table "extracted elsewhere" (``--landmarks``: BioVid's videos would go through a
detector here). Faces: :func:`geopain.synth.simulate` with the ``dynamics`` preset (pain and its
mimics share apex shapes and differ in their dynamics, one label per 5.5 s sample, 25 fps);
signals: :func:`geopain.biosignals.simulate_biosignals` with ``--coupling`` to pain (raw, not
frame means: ``prepare`` aligns them to the frames as it does BioVid's). No skin colour: that
needs the videos (``prepare --rppg``).

Then, as a user would (the CLI in-process)::

    geopain dataset prepare biovid ROOT -o biovid.parquet --landmarks landmarks.parquet
    geopain evaluate biovid.parquet --model logreg wgnn transformer dct dynamic biosignals \\
        fusion-early fusion-late fusion-attention --protocol loso87 --task binary -o OUT/evaluation

LOSO-87 leaves one subject out per fold (here over the ``--subjects`` simulated ones); with
4 samples per subject a fold's own balanced accuracy is mostly undefined or 0/0.5/1, so the
table reports metrics of the predictions pooled over all folds (every sample scored once, by a
model that never saw its subject).

    python benchmarks/biovid_layout.py [--subjects 12] [--samples 4] [--epochs 30] [-o OUT]

writes ``OUT/`` (default ``benchmarks/results/biovid_layout/``): ``evaluation/`` (the evaluate
report), ``summary.json`` and ``summary.md`` (the README's table).
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

MODELS = ("logreg", "wgnn", "transformer", "dct", "dynamic", "biosignals", "fusion-early", "fusion-late",
          "fusion-attention")
FPS = 25.0
SECONDS = 5.5  # a BioVid sample


def write_layout(root: Path, subjects: int, samples: int, coupling: float, seed: int) -> Path:
    """BioVid Part A's files for a simulated cohort; returns the landmark table standing in for the videos."""
    from geopain.biosignals import simulate_biosignals
    from geopain.io import write_table
    from geopain.synth import SynthConfig, simulate

    frames = int(round(SECONDS * FPS))
    seqs = simulate("human", subjects, samples, frames, seed=seed, config=SynthConfig.preset("dynamics", fps=FPS))
    raw = simulate_biosignals(seqs, coupling=coupling, seed=seed, signals=("gsr", "ecg", "emg"), fs_raw=512.0,
                              aligned=False)
    rows = ["subject_id\tsubject_name\tclass_id\tclass_name\tsample_id\tsample_name"]
    renamed = []
    ids = {s: i for i, s in enumerate(dict.fromkeys(q.subject for q in seqs))}
    names = {s: f"{100000 + i:06d}_{'wm'[i % 2]}_{20 + 3 * i % 45}" for s, i in ids.items()}  # BioVid's: date_sex_age
    recordings = dict(tuple(raw.groupby(["subject", "sequence"], sort=False)))
    for k, s in enumerate(seqs):
        subject = names[s.subject]
        cls = "PA4" if s.sequence_labels["pain"] else "BL1"
        sample = f"{subject}-{cls}-{k:03d}"
        rows.append(f"{ids[s.subject]}\t{subject}\t{4 if cls == 'PA4' else 0}\t{cls}\t{k}\t{sample}")
        sig = recordings[(s.subject, s.sequence)]
        folder = root / "biosignals_filtered" / subject
        folder.mkdir(parents=True, exist_ok=True)
        out = sig[["time", "gsr", "ecg", "emg_trapezius"]].copy()
        out["time"] = np.round(out["time"].to_numpy() * 1e6).astype(np.int64)  # BioVid's µs
        out.to_csv(folder / f"{sample}_bio.csv", sep="\t", index=False, float_format="%.6f")
        renamed.append(s.with_coords(s.coords, subject=subject, sequence=sample))
    (root / "samples.csv").write_text("\n".join(rows) + "\n")
    return write_table(renamed, root.parent / "landmarks.parquet")


def main(argv: list[str] | None = None) -> dict:
    from geopain import jsonio
    from geopain.cli import main as geopain

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subjects", type=int, default=12)
    p.add_argument("--samples", type=int, default=4, help="samples (BL1 or PA4) per subject")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--coupling", type=float, default=1.0, help="of the simulated biosignals to pain")
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--seed", type=int, default=0, help="of the simulated cohort and its signals")
    p.add_argument("-o", "--output", default=str(Path(__file__).parent / "results" / "biovid_layout"))
    args = p.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "PartA"
        landmarks = write_layout(root, args.subjects, args.samples, args.coupling, args.seed)
        table = Path(tmp) / "biovid.parquet"
        if geopain(["dataset", "prepare", "biovid", str(root), "-o", str(table), "--landmarks", str(landmarks),
                    "--quiet"]) != 0:
            raise SystemExit("dataset prepare biovid failed")
        shutil.rmtree(out / "evaluation", ignore_errors=True)
        code = geopain(["evaluate", str(table), "--model", *args.models, "--protocol", "loso87", "--task", "binary",
                        "--epochs", str(args.epochs), "--quiet", "-o", str(out / "evaluation")])
        if code != 0:
            raise SystemExit("geopain evaluate failed")
    results = json.loads((out / "evaluation" / "results.json").read_text())
    seconds = time.perf_counter() - start
    rows = []
    for name in args.models:
        m = results["models"][name]
        pooled = {level: m[level]["pooled"] for level in ("frame", "sequence") if m.get(level)}
        rows.append({"model": name, "kind": _kind(name),
                     "frame_ba": pooled.get("frame", {}).get("balanced_accuracy"),
                     "sequence_ba": pooled.get("sequence", {}).get("balanced_accuracy"),
                     "sequence_auc": pooled.get("sequence", {}).get("roc_auc"),
                     "train_seconds_per_fold": float(np.mean(m["train_seconds"])) if m["train_seconds"] else None,
                     "errors": len(m["errors"])})
    summary = {"subjects": args.subjects, "samples_per_subject": args.samples, "frames_per_sample": int(SECONDS * FPS),
               "coupling": args.coupling, "epochs": args.epochs, "seed": args.seed, "protocol": "loso87",
               "folds": len(results["folds"]), "seconds": seconds, "rows": rows}
    jsonio.write_json(out / "summary.json", summary)
    fmt = lambda v: "n/a" if v is None or not np.isfinite(v) else f"{v:.3f}"  # noqa: E731
    lines = [f"Simulated cohort in BioVid Part A's layout ({args.subjects} subjects x {args.samples} samples of "
             f"{SECONDS} s at {FPS:g} fps, BL1 or PA4; faces: preset 'dynamics'; GSR/ECG/EMG at 512 Hz coupled to "
             f"pain at {args.coupling:g}), through `geopain dataset prepare biovid` and one `geopain evaluate` call, "
             f"protocol loso87 ({len(results['folds'])} folds), {args.epochs} epochs max; predictions pooled over "
             f"the folds; {seconds:.0f} s. Simulated, not BioVid's data.", "",
             "| model | kind | frame-level BA | sequence-level BA | sequence-level AUC | train s / fold |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['kind']} | {fmt(r['frame_ba'])} | {fmt(r['sequence_ba'])} | "
                     f"{fmt(r['sequence_auc'])} | {r['train_seconds_per_fold']:.1f} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return summary


def _kind(name: str) -> str:
    from geopain.models import MODELS as REGISTRY

    info = REGISTRY.info(name)
    if info.get("kind") == "fusion":
        return "biosignals only" if info.get("fusion") == "bio" else f"face + biosignals ({info['fusion']})"
    return "temporal (windows)" if info.get("window_model") else "per frame"


if __name__ == "__main__":
    main()
