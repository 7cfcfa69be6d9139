"""Explanations, calibration and abstention, measured on simulated cohorts (SIMULATION).

For each species (human iBUG 68, sheep SPFES) and each model in ``--models``:

1. **train** on a simulated cohort (``--subjects`` x 4 sequences of ``--frames`` frames, default
   difficulty), binary pain;
2. **known cause**: single-unit sequences of ``--single-subjects`` *new* subjects (one pain unit
   moves, nothing else; :func:`geopain.explain.faithfulness.single_unit_sequences`): how often
   the explanation's top unit (its units' Shapley values summed over the sequence's frames at the
   apex) is the unit that moved, against the calm face and against the template;
3. **deletion / insertion**: on a held-out cohort (new subjects), the explained output's change
   when the top-``k`` attributed landmarks are removed (model's own missing-point handling) vs
   ``k`` random ones, and the share of output recovered by inserting them into the template; and
   the top-5 ratio with landmarks ranked by their own deletion effect, the most a ranking can get
   short of interactions;
4. **calibration**: ECE (10 bins, positive class) of held-out subjects' frames with the fitted
   temperature and without it (``T = 1``), and a reliability diagram;
5. **abstention**: a held-out cohort where every sequence has a tube over the mouth (human) or
   the muzzle in a feeder (sheep) plus one where nothing is occluded: which frames abstain and
   why, and balanced accuracy of the scored frames vs all frames;
6. **speed** (WGNN): explaining one frame (68 points) and a 240-frame sequence.

Writes ``benchmarks/results/explanations/results.json``, ``summary.md`` and PNGs.

    python benchmarks/explanations.py                    # the committed run
    python benchmarks/explanations.py --subjects 6 --epochs 3 --species sheep --out /tmp/explanations  # a quick look
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "results" / "explanations"
OCCLUDER = {"human": "tube", "sheep": "feeder"}


def cohort(species: str, n_subjects: int, frames: int, seed: int, **config):
    from geopain.synth.simulator import Simulator, SynthConfig

    return Simulator(species, config=SynthConfig(**config), frames=frames).run(n_subjects, 4, seed=seed)


def occluded_cohort(species: str, n_subjects: int, frames: int, seed: int, rate: float = 0.5):
    """A cohort where a share ``rate`` of the sequences has the species' mouth occluder for the whole sequence."""
    from dataclasses import replace

    from geopain.synth.simulator import Simulator, SynthConfig

    sim = Simulator(species, config=SynthConfig(occlusion_rate=rate), frames=frames)
    idx = [o.name for o in sim.spec.occluders].index(OCCLUDER[species])
    occ = replace(sim.spec.occluders[idx], whole_sequence=True)
    sim.spec = replace(sim.spec, occluders=(occ,))  # a copy: the cached species spec is left alone
    sim.occluder_p = np.ones(1)
    sim.occluder_masks = [sim.occluder_masks[idx]]
    return sim.run(n_subjects, 4, seed=seed)


def expected_units(scheme, points, max_missing: float) -> list[str]:
    """Units of which more than ``max_missing`` of the landmarks are among ``points``."""
    hidden = set(points)
    return [u for u, pts in scheme.unit_landmarks().items() if np.mean([p in hidden for p in pts]) > max_missing]


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    ok = np.isfinite(y) & np.isfinite(pred)
    y, pred = y[ok].astype(int), pred[ok].astype(int)
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)])) if len(y) else float("nan")


def run_species(species: str, models: list[str], args) -> dict:
    from dataclasses import replace

    from geopain.evaluation.metrics import expected_calibration_error, reliability_curve
    from geopain.explain import explain
    from geopain.explain.faithfulness import deletion_curve, insertion_curve, occlusion_effects, single_unit_sequences
    from geopain.explain.units import top_unit
    from geopain.models import PainEstimator
    from geopain.models.calibration import apply_temperature

    train = cohort(species, args.subjects, args.frames, seed=1)
    test = cohort(species, args.test_subjects, args.frames, seed=2, occlusion_rate=0.0)
    single = single_unit_sequences(species, n_subjects=args.single_subjects, frames=args.frames, seed=3)
    occluded = occluded_cohort(species, args.test_subjects, args.frames, seed=4)
    res: dict = {}
    for name in models:
        t0 = time.time()
        est = PainEstimator(name, task="binary", epochs=args.epochs, seed=0).fit(train)
        r: dict = {"fit_s": round(time.time() - t0, 1), "calibration_fit": est.calibration_}
        # 2. known cause, with each reference: the sequence's calm face (default) and the template
        for ref in ("auto", "template"):
            rows = []
            att_single = explain(est, single, reference=ref)
            start = 0
            for s in single:
                seq_rows = np.arange(start, start + s.n_frames)
                apex = seq_rows[s.labels[s.meta["driving_unit"]] > 0]
                start += s.n_frames
                rise = float(np.nanmean(att_single.output[apex] - att_single.reference_output[apex]))
                rows.append((s.meta["driving_unit"], top_unit(att_single, apex), rise))
            units = sorted({u for u, _, _ in rows})
            responsive = [(d, t) for d, t, rise in rows if rise > 1.0]
            r[f"single_unit_{ref}"] = {
                "top_unit_accuracy": float(np.mean([d == t for d, t, _ in rows])), "sequences": len(rows),
                "per_unit": {u: float(np.mean([t == u for d, t, _ in rows if d == u])) for u in units},
                "mean_output_rise_per_unit": {u: float(np.mean([x for d, _, x in rows if d == u])) for u in units},
                "responsive_sequences": len(responsive),
                "top_unit_accuracy_responsive": float(np.mean([d == t for d, t in responsive])) if responsive else None,
                "confusions": [f"{d}->{t}" for d, t, _ in rows if d != t]}
        r["single_unit"] = r["single_unit_auto"]
        r["unit_method"] = att_single.unit_method
        # 3. deletion / insertion on held-out subjects
        att = explain(est, test)
        dc = deletion_curve(est, test, att, ks=args.ks, n_random=args.n_random)
        ic = insertion_curve(est, test, att, ks=args.ks, n_random=args.n_random)
        k5 = list(dc["k"]).index(5) if 5 in dc["k"] else -1
        r["deletion"] = {k: np.asarray(v).tolist() for k, v in dc.items()}
        r["insertion"] = {k: np.asarray(v).tolist() for k, v in ic.items()}
        r["deletion_top5_over_random5"] = float(dc["top"][k5] / dc["random"][k5])
        # the ceiling of any ranking: each landmark's own deletion effect (single-landmark occlusion)
        occ = occlusion_effects(est, test)
        dco = deletion_curve(est, test, replace(att, landmarks=occ), ks=(5,), n_random=args.n_random)
        r["deletion_top5_over_random5_occlusion_ranking"] = float(dco["top"][0] / dco["random"][0])
        r["completeness_abs_delta_median"] = float(np.nanmedian(np.abs(att.delta)))
        r["completeness_rel_delta_median"] = float(np.nanmedian(np.abs(att.delta) / np.maximum(
            np.abs(att.output - att.reference_output), 1e-6)))
        # 4. calibration on held-out subjects
        df = est.predict_frames(test)
        y = df["target"].to_numpy(float)
        p = df[["p_0", "p_1"]].to_numpy()
        raw = apply_temperature(p, 1.0 / est.temperature_)  # undo the fitted temperature
        r["ece_calibrated"] = expected_calibration_error(y, p)
        r["ece_uncalibrated"] = expected_calibration_error(y, raw)
        r["temperature"] = est.temperature_
        r["balanced_accuracy_clean"] = balanced_accuracy(y, df["prediction"].to_numpy(float))
        r["abstained_clean"] = float((df["status"] == "abstained").mean())
        curves = {"calibrated": reliability_curve(y, p), "uncalibrated": reliability_curve(y, raw)}
        _reliability_png(curves, OUT / f"reliability_{species}_{name}.png", f"{species}, {name}, held-out subjects")
        _deletion_png(dc, ic, OUT / f"deletion_{species}_{name}.png", f"{species}, {name}", att.target)
        # 5. abstention with the mouth occluder (half of the sequences)
        do = est.predict_frames(occluded)
        yo = do["target"].to_numpy(float)
        pred_o = do["prediction"].to_numpy(float)
        scored = (do["status"] == "scored").to_numpy()
        occ_rows = np.zeros(len(do), bool)
        right = np.zeros(len(do), bool)
        start = 0
        for s in occluded:
            if s.meta.get("occluder"):
                rows = start + np.asarray(s.meta["occluded_frames"], dtype=int)
                occ_rows[rows] = True
                units = expected_units(est.scheme_obj_, s.meta["occluded_points"], est.abstention_["max_missing_fraction"])
                for f in rows:
                    right[f] = bool(units) and all(f"occluded {u} landmarks" in do["reason"].iat[f] for u in units)
            start += s.n_frames
        face = do["face_found"].to_numpy(bool)
        reasons = do.loc[do["status"] == "abstained", "reason"].value_counts()
        r["abstention_occluded"] = {
            "occluder": OCCLUDER[species], "frames": int(len(do)), "occluded_frames": int((occ_rows & face).sum()),
            "occluded_abstained": float((~scored[occ_rows & face]).mean()) if (occ_rows & face).any() else None,
            "occluded_right_reason": float(right[occ_rows & face].mean()) if (occ_rows & face).any() else None,
            "unoccluded_abstained": float((~scored[~occ_rows & face]).mean()),
            "reasons": {k: int(v) for k, v in reasons.head(8).items()},
            "balanced_accuracy_all_frames": balanced_accuracy(yo[face], pred_o[face]),
            "balanced_accuracy_scored_frames": balanced_accuracy(yo[scored], pred_o[scored]) if scored.any() else None,
            "balanced_accuracy_occluded_frames": balanced_accuracy(yo[occ_rows & face], pred_o[occ_rows & face])}
        res[name] = r
        print(f"{species} {name}: top unit {r['single_unit']['top_unit_accuracy']:.2f}, deletion top5/random5 "
              f"{r['deletion_top5_over_random5']:.2f}, ECE {r['ece_uncalibrated']:.3f} -> {r['ece_calibrated']:.3f}, "
              f"occluded abstained {r['abstention_occluded']['occluded_abstained']}", flush=True)
        if name == "wgnn" and species == "human":
            res["speed"] = speed(est, test)
    return res


def speed(est, seqs) -> dict:
    """Explaining one frame and a 240-frame sequence (median of repeats, seconds)."""
    from dataclasses import replace

    from geopain.explain import explain

    one = replace(seqs[0], coords=seqs[0].coords[:1], confidence=seqs[0].confidence[:1],
                  frame_confidence=seqs[0].frame_confidence[:1], frames=seqs[0].frames[:1],
                  timestamps=seqs[0].timestamps[:1], labels={})
    import os

    import torch

    reps = int(np.ceil(240 / seqs[0].n_frames))
    cat = lambda a: np.concatenate([a] * reps)[:240]  # noqa: E731
    s0 = seqs[0]
    long = replace(s0, coords=cat(s0.coords), confidence=cat(s0.confidence), frame_confidence=cat(s0.frame_confidence),
                   frames=np.arange(240), timestamps=np.arange(240) / 25.0, labels={})
    out = {"n_points": int(s0.coords.shape[1]), "load_average_1min": os.getloadavg()[0], "cpu_cores": os.cpu_count()}
    default = torch.get_num_threads()
    for threads in sorted({default, 1}):
        torch.set_num_threads(threads)
        explain(est, one)
        t1 = []
        for _ in range(10):
            t = time.perf_counter()
            explain(est, one)
            t1.append(time.perf_counter() - t)
        t240 = []
        for _ in range(3):
            t = time.perf_counter()
            explain(est, long)
            t240.append(time.perf_counter() - t)
        out[f"threads_{threads}"] = {"one_frame_s": float(np.median(t1)), "frames_240_s": float(np.median(t240))}
    torch.set_num_threads(default)
    out.update(out[f"threads_{default}"])
    return out


def _reliability_png(curves: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], ls="--", c="grey", label="perfect calibration")
    for name, c in curves.items():
        ok = np.isfinite(c["predicted"])
        ax.plot(c["predicted"][ok], c["observed"][ok], marker="o", label=f"{name} (ECE {c['ece']:.3f})")
    ax.set_xlabel("predicted p(pain)")
    ax.set_ylabel("observed fraction in pain")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _deletion_png(dc: dict, ic: dict, path: Path, title: str, target: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    axes[0].plot(dc["k"], dc["top"], marker="o", label="top-k attributed")
    axes[0].errorbar(dc["k"], dc["random"], yerr=dc["random_sd"], marker="s", label="k random (chance)")
    axes[0].set_xlabel("landmarks deleted (k)")
    axes[0].set_ylabel(f"mean |change| of {target}")
    axes[0].set_title("deletion")
    axes[1].plot(ic["k"], ic["top"], marker="o", label="top-k attributed")
    axes[1].plot(ic["k"], ic["random"], marker="s", label="k random (chance)")
    axes[1].axhline(1.0, ls="--", c="grey", label="frame's own output")
    axes[1].set_xlabel("landmarks inserted into the template (k)")
    axes[1].set_ylabel("share of output recovered")
    axes[1].set_title("insertion")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summary(results: dict) -> str:
    lines = ["# Explanations, calibration, abstention (simulated cohorts)", "",
             f"Settings: {results['settings']}", "",
             "| species | model | top unit = driving unit (calm face / template reference; responsive only) | deletion top-5 / random-5 (ranked by each landmark's own deletion effect) | ECE uncalibrated | ECE calibrated | T | "
             "occluded frames abstained (right reason) | unoccluded abstained | bal. acc. all / scored / occluded | bal. acc. clean |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for species in ("human", "sheep"):
        for name, r in results.get(species, {}).items():
            if name == "speed":
                continue
            a = r["abstention_occluded"]
            su, st = r["single_unit_auto"], r["single_unit_template"]
            resp = su["top_unit_accuracy_responsive"]
            lines.append(f"| {species} | {name} | {su['top_unit_accuracy']:.2f} / {st['top_unit_accuracy']:.2f}; "
                         f"{'n/a' if resp is None else f'{resp:.2f}'} ({su['responsive_sequences']}/{su['sequences']}) | "
                         f"{r['deletion_top5_over_random5']:.2f} ({r['deletion_top5_over_random5_occlusion_ranking']:.2f}) | "
                         f"{r['ece_uncalibrated']:.3f} | {r['ece_calibrated']:.3f} | "
                         f"{r['temperature']:.2f} | {a['occluded_abstained']:.2f} ({a['occluded_right_reason']:.2f}) | "
                         f"{a['unoccluded_abstained']:.3f} | {a['balanced_accuracy_all_frames']:.3f} / "
                         f"{a['balanced_accuracy_scored_frames']:.3f} / {a['balanced_accuracy_occluded_frames']:.3f} | "
                         f"{r['balanced_accuracy_clean']:.3f} |")
    units = []
    for species in ("human", "sheep"):
        for name, r in results.get(species, {}).items():
            if name != "speed":
                per = ", ".join(f"{u} {v:.1f}" for u, v in r["single_unit_auto"]["per_unit"].items())
                units.append(f"- {species}, {name} (calm face): {per}")
    method = next((r.get("unit_method") for sp_ in ("human", "sheep") for n, r in results.get(sp_, {}).items()
                   if n != "speed" and r.get("unit_method")), None)
    if units:
        lines += ["", f"Pain units: {method}. Top unit = driving unit, per driving unit "
                      f"(share of its sequences):", *units]
    sp = results.get("human", {}).get("speed")
    if sp:
        parts = [f"{k.split('_')[1]} torch thread(s): one frame {1000 * v['one_frame_s']:.0f} ms, 240 frames "
                 f"{v['frames_240_s']:.2f} s" for k, v in sp.items() if k.startswith("threads_")]
        lines += ["", f"Speed (WGNN, {sp['n_points']} points, {sp['cpu_cores']} shared cores, load average "
                      f"{sp['load_average_1min']:.1f} while measuring): " + "; ".join(parts) + "."]
    sd = results.get("speed_default_steps")
    if sd:
        parts = [f"{k.split('_')[1]} torch thread(s): one frame {1000 * v['one_frame_s']:.0f} ms, 240 frames "
                 f"{v['frames_240_s']:.2f} s" for k, v in sd.items() if k.startswith("threads_")]
        lines += ["", f"Speed with the current default of {sd['n_steps']} integrated-gradients steps (the table above: 24; "
                      f"load average {sd['load_average_1min']:.1f}, `--speed-only`): " + "; ".join(parts) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    global OUT
    from geopain.jsonio import write_json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=10)
    ap.add_argument("--test-subjects", type=int, default=4)
    ap.add_argument("--single-subjects", type=int, default=10,
                    help="subjects of the single-unit sequences (one sequence per pain unit each)")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--models", default="wgnn,logreg")
    ap.add_argument("--species", default="human,sheep")
    ap.add_argument("--n-random", type=int, default=3)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--merge", action="store_true", help="update the given models in an existing results.json")
    ap.add_argument("--speed-only", action="store_true",
                    help="only time explain (current defaults) on a WGNN of the default size (epochs as given), into results.json")
    args = ap.parse_args()
    args.ks = (1, 2, 3, 5, 8)
    OUT = Path(args.out)
    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    results: dict = {"settings": {k: v for k, v in vars(args).items() if k not in ("out", "merge")}}
    if args.merge and (OUT / "results.json").is_file():
        import json

        results = json.loads((OUT / "results.json").read_text())
        results.setdefault("merged_runs", []).append({k: v for k, v in vars(args).items() if k not in ("out", "merge")})
    if args.speed_only:
        import inspect

        from geopain.explain import explain as _explain
        from geopain.models import PainEstimator

        train = cohort("human", args.subjects, args.frames, seed=1)
        est = PainEstimator("wgnn", task="binary", epochs=args.epochs, seed=0).fit(train)
        sp = speed(est, cohort("human", args.test_subjects, args.frames, seed=2, occlusion_rate=0.0))
        sp["n_steps"] = inspect.signature(_explain).parameters["n_steps"].default
        results["speed_default_steps"] = sp
        write_json(OUT / "results.json", results)
        print(sp)
        return
    for species in args.species.split(","):
        results[species] = {**results.get(species, {}), **run_species(species, args.models.split(","), args)}
        write_json(OUT / "results.json", results)
    results["seconds"] = round(time.time() - t0, 1)
    write_json(OUT / "results.json", results)
    (OUT / "summary.md").write_text(summary(results))
    print(summary(results))


if __name__ == "__main__":
    main()
