"""Face + biosignal fusion on simulated cohorts with a set coupling of the biosignals to pain
(SIMULATION).

A human cohort (``hard`` preset) gets simulated GSR/ECG/EMG and the camera's skin colour (the
remote pulse, rPPG) (:func:`geopain.biosignals.simulate_biosignals`; ``--signals`` chooses which,
e.g. ``--signals rppg`` for a camera alone) at each coupling in ``--couplings``; ``--drop-ecg`` of
the sequences have no ECG. Under subject-grouped folds a face model (``--face``, a
:class:`PainEstimator`) is trained per fold and shared by every coupling; on top of it
:class:`geopain.biosignals.FusionModel` fits the face-only and biosignal-only references and the
early, late and attention fusions. Two face columns: the face model fitted on every training
subject, and the face score the fusions themselves get (their cross-fitted face models).
Sequence-level balanced accuracy (and ROC AUC in ``folds.csv``), mean ± sd over folds.

Goals (issue 12): with coupling, fusion beats both single modalities (the better face column);
with coupling 0, fusion is no better than its own face input (within the spread over folds;
a better class-balanced threshold can still raise its balanced accuracy, not its AUC); each fusion trains within 2x
the face model's time (a fusion fit: two half-size face models, whose out-of-fold scores the
fusion is fitted on and which score new sequences together, ``--face-fit cross``, or those and
a face model on every training subject, ``--face-fit full``; and the fusion itself; timed per
fold, summed over folds and draws).

    python benchmarks/biosignals.py [--subjects 24] [--frames 60] [--folds 3] [--epochs 15] [--seeds 0 1 2]
        [--signals gsr ecg emg rppg] [-o OUT]

Each of ``--seeds`` is one draw of the cohort, its biosignals and its folds; the goals are
checked on the mean over draws (with 12 subjects one test sequence moves a fold's balanced
accuracy by 0.06, the size of the differences the goals compare).

writes ``benchmarks/results/biosignals/`` (``folds.csv``, ``summary.json``, ``summary.md``).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd


#: the column of the fusions' own face models (the face score the fusions see for new sequences)
FACE_OF_FUSIONS = " (fusions' face)"
COLUMNS = ("face", "face" + FACE_OF_FUSIONS, "bio", "early", "late", "attention")


def main(argv: list[str] | None = None) -> dict:
    from geopain import jsonio
    from geopain.biosignals import FusionModel, biosignal_features, face_sequence_table, simulate_biosignals
    from geopain.models.fusion import FaceEnsemble, out_of_fold_face_table
    from geopain.evaluation.metrics import task_metrics
    from geopain.evaluation.splits import group_kfold
    from geopain.models import PainEstimator
    from geopain.synth import SynthConfig, simulate

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subjects", type=int, default=24)
    p.add_argument("--sequences", type=int, default=4)
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--face", default="wgnn")
    p.add_argument("--preset", default="hard")
    p.add_argument("--face-fit", choices=("cross", "full"), default="cross",
                   help="the fusions' face models for new sequences (FusionEstimator's face_fit)")
    p.add_argument("--couplings", type=float, nargs="+", default=[0.0, 1.0])
    p.add_argument("--drop-ecg", type=float, default=0.2)
    p.add_argument("--signals", nargs="+", default=["gsr", "ecg", "emg", "rppg"],
                   help="simulated signals: any of gsr ecg emg (contact) and rppg (the camera's remote pulse)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="cohort draws (simulator, biosignals and folds); the goals are checked on their mean")
    p.add_argument("-o", "--output", default=str(Path(__file__).parent / "results" / "biosignals"))
    args = p.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    rows = []
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        def tqdm(x, **_):
            return x
    for seed in args.seeds:
        seqs = simulate("human", args.subjects, args.sequences, args.frames, seed=seed,
                        config=SynthConfig.preset(args.preset))
        labels = pd.DataFrame({"subject": [s.subject for s in seqs], "sequence": [s.sequence for s in seqs],
                               "target": [float(s.sequence_labels["pain"]) for s in seqs]})
        bio = {c: biosignal_features(simulate_biosignals(seqs, coupling=c, seed=seed, signals=args.signals,
                                                         drop={"ecg": args.drop_ecg} if "ecg" in args.signals else {}))
               for c in args.couplings}
        subjects = np.array([s.subject for s in seqs])
        for fold in tqdm(group_kfold(subjects, args.folds, seed=seed), desc=f"draw {seed}: folds"):
            tr, te = fold.indices(subjects)
            train, test = [seqs[i] for i in tr], [seqs[i] for i in te]
            t0 = time.perf_counter()
            est = PainEstimator(args.face, "binary", epochs=args.epochs, seed=seed).fit(train)
            face_seconds = time.perf_counter() - t0
            face_tr, face_te = (face_sequence_table(est, part, with_embedding=False) for part in (train, test))
            t0 = time.perf_counter()
            face_oof, inner = out_of_fold_face_table(  # what the fusions are fitted on: face scores of unseen subjects
                lambda inner: PainEstimator(args.face, "binary", epochs=args.epochs, seed=seed).fit(inner), train, 2, seed,
                return_models=True)
            oof_seconds = time.perf_counter() - t0
            # the fusions are fitted on the out-of-fold scores and score new sequences with the half-fold
            # models together (face_fit="cross") or with the face model fitted on every training subject
            # ("full"); "face" is the latter
            fuse_te = (face_sequence_table(FaceEnsemble(inner), test, with_embedding=False)
                       if args.face_fit == "cross" else face_te)
            lab_te = labels.set_index(["subject", "sequence"])
            for c in args.couplings:
                for fusion in COLUMNS:
                    t0 = time.perf_counter()
                    tab_tr, tab_te = (face_tr, face_te) if fusion in ("face", "bio") else (face_oof, fuse_te)
                    model = FusionModel(fusion.removesuffix(FACE_OF_FUSIONS), seed=seed).fit(
                        tab_tr, bio[c], labels=labels, face_oof=face_oof)
                    fit_seconds = time.perf_counter() - t0
                    pred = model.predict(tab_te, bio[c])
                    y = lab_te.loc[list(zip(pred["subject"], pred["sequence"])), "target"].to_numpy(int)
                    ok = np.isfinite(pred["p_1"].to_numpy(float))
                    m = task_metrics("binary", y[ok], pred["prediction"].to_numpy(float)[ok].astype(int),
                                     np.stack([1 - pred["p_1"][ok], pred["p_1"][ok]], 1), 2)
                    no_ecg = pred["missing"].str.contains("ecg").to_numpy()
                    rows.append({"seed": seed, "fold": fold.name, "coupling": c, "model": fusion,
                                 "balanced_accuracy": m["balanced_accuracy"], "roc_auc": m.get("roc_auc", np.nan),
                                 "n_test": int(ok.sum()), "n_without_ecg_scored": int((no_ecg & ok).sum()),
                                 "n_without_ecg": int(no_ecg.sum()),
                                 # what a FusionEstimator fit costs over the face model's own fit
                                 "train_seconds": fit_seconds + (
                                     0.0 if fusion == "bio" else face_seconds if fusion in ("face", "face" + FACE_OF_FUSIONS)
                                     else oof_seconds + (face_seconds if args.face_fit == "full" else 0.0)),
                                 "face_seconds": face_seconds})
    folds = pd.DataFrame(rows)
    folds.to_csv(out / "folds.csv", index=False)
    # mean over folds per draw, then over draws; "std": the spread over all folds of all draws
    per_draw = folds.groupby(["coupling", "model", "seed"])["balanced_accuracy"].mean()
    agg = per_draw.groupby(["coupling", "model"]).mean().rename("mean").to_frame()
    agg["std"] = folds.groupby(["coupling", "model"])["balanced_accuracy"].std()
    agg["per_draw"] = per_draw.groupby(["coupling", "model"]).agg(list)
    agg = agg.reset_index()
    checks = []
    for c in args.couplings:
        a = agg[agg["coupling"] == c].set_index("model")
        # with coupling the fusion must beat the better face column; without, it must not gain over
        # the face score it is itself given (its own face models'), beyond the spread
        best_face = max(("face", "face" + FACE_OF_FUSIONS), key=lambda m: a.loc[m, "mean"])
        face, own_face, biov = a.loc[best_face], a.loc["face" + FACE_OF_FUSIONS], a.loc["bio"]
        for fusion in ("early", "late", "attention"):
            f = a.loc[fusion]
            if c > 0:
                checks.append({"coupling": c, "fusion": fusion, "goal": "beats face and bio",
                               "met": bool(f["mean"] > face["mean"] and f["mean"] > biov["mean"]),
                               "fusion_ba": f["mean"], "face_ba": face["mean"], "face": best_face, "bio_ba": biov["mean"]})
            else:
                spread = float(np.nanmax([own_face["std"], f["std"]]))
                checks.append({"coupling": c, "fusion": fusion, "goal": "no better than face within spread",
                               "met": bool(f["mean"] - own_face["mean"] <= spread), "fusion_ba": f["mean"],
                               "face_ba": own_face["mean"], "face": "face" + FACE_OF_FUSIONS, "spread": spread})
    fused = folds[folds["model"].isin(["early", "late", "attention"])]
    time_ratio = (fused.groupby("model")["train_seconds"].sum() / fused.groupby("model")["face_seconds"].sum()).to_dict()
    for fusion, ratio in time_ratio.items():
        checks.append({"coupling": None, "fusion": fusion, "goal": "trains within 2x the face model's time",
                       "met": bool(ratio <= 2.0), "time_ratio": float(ratio)})
    seconds = time.perf_counter() - start
    rppg_scored = float(pd.concat([b["has_rppg"] for b in bio.values()]).mean()) if "rppg" in args.signals else None
    summary = {"cohort": {"species": "human", "preset": args.preset, "subjects": args.subjects,
                          "sequences_per_subject": args.sequences, "frames": args.frames, "drop_ecg": args.drop_ecg,
                          "signals": list(args.signals), "rppg_heart_rate_fraction": rppg_scored},
               "face_model": args.face, "face_fit": args.face_fit, "epochs": args.epochs, "seeds": list(args.seeds),
               "protocol": f"kfold:{args.folds} (subject-grouped)",
               "seconds": seconds, "table": agg.to_dict("records"), "checks": checks,
               "without_ecg": {"scored": int(folds["n_without_ecg_scored"].sum()), "total": int(folds["n_without_ecg"].sum())}}
    jsonio.write_json(out / "summary.json", summary)
    names = {"gsr": "GSR", "ecg": "ECG", "emg": "EMG", "rppg": "the camera's remote pulse (rPPG)"}
    signals = ", ".join(names[s] for s in args.signals)
    lines = [f"Simulated human cohort (preset '{args.preset}', {args.subjects} subjects x {args.sequences} sequences x "
             f"{args.frames} frames), simulated {signals}"
             + (f", {int(100 * args.drop_ecg)} % of sequences without ECG" if "ecg" in args.signals else "")
             + (f", a heart rate from the rPPG in {100 * rppg_scored:.0f} % of sequences (the rest: too low a "
                "pulse quality, which counts as missing)" if rppg_scored is not None else "") + "; "
             f"face model {args.face} ({args.epochs} epochs max; 'face': one fitted on every training subject; "
             f"'face{FACE_OF_FUSIONS}': the face score the fusions get for new sequences, face_fit "
             f"'{args.face_fit}'); {len(args.seeds)} draws (seeds "
             f"{', '.join(map(str, args.seeds))}), subject-grouped {args.folds}-fold in each; sequence-level "
             f"balanced accuracy: mean over folds per draw, then over draws ± sd over all folds; {seconds:.0f} s.", "",
             "| coupling | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for c in args.couplings:
        a = agg[agg["coupling"] == c].set_index("model")
        lines.append(f"| {c:g} | " + " | ".join(f"{a.loc[f, 'mean']:.3f} ± {a.loc[f, 'std']:.3f}" for f in COLUMNS) + " |")
    lines.append("")
    for ch in checks:
        if "time_ratio" in ch:
            lines.append(f"- {ch['fusion']}: {ch['goal']}: {'met' if ch['met'] else 'NOT met'} "
                         f"({ch['time_ratio']:.2f}x: " + ("face fit, " if args.face_fit == "full" else "")
                         + "two half-size face fits and the fusion, "
                         f"over the face fit alone, summed over folds and draws)")
            continue
        lines.append(f"- coupling {ch['coupling']:g}, {ch['fusion']}: {ch['goal']}: {'met' if ch['met'] else 'NOT met'} "
                     f"(fusion {ch['fusion_ba']:.3f}, {ch['face']} {ch['face_ba']:.3f}"
                     + (f", bio {ch['bio_ba']:.3f})" if "bio_ba" in ch else f", spread {ch['spread']:.3f})"))
    if "ecg" in args.signals:
        lines.append(f"- sequences without ECG scored: {summary['without_ecg']['scored']} of {summary['without_ecg']['total']}")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return summary


if __name__ == "__main__":
    main()
