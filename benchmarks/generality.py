"""Generality benchmark: geopain models on cohorts that geopain's own simulator did not make.

Three measurements, against a plain reference (per-frame similarity alignment to the template,
flattened coordinates, standardised, balanced logistic regression; no geopain code):

a. **Independent cohorts** (``benchmarks/independent_cohort.py``, human iBUG 68 and sheep
   SPFES, 20 subjects each): subject-grouped 5-fold cross-validation; binary balanced accuracy
   and ROC AUC, five-level accuracy and balanced accuracy, on frames with a finite label and
   prediction (out-of-fold predictions pooled; per-fold balanced accuracy kept too).
b. **Cross-generator**: trained on ``geopain.synth.simulate`` (human, ``--n-sim`` subjects),
   tested on every frame of the independent human cohort: ROC AUC and balanced accuracy.
c. **Similarity invariance**: the fold-0 binary models of (a) predict the test frames before
   and after a random similarity transform of the raw coordinates (rotation up to 30 degrees,
   scale 0.5-2, translation; one per sequence); the agreement of predicted classes should be
   >= 0.99.

Run ``python benchmarks/generality.py -o OUT [--models logreg wgnn pointnet] [--quick]
[--seeds 0 1] [--estimator-kwargs '{"epochs": 30}'] [--update] [--cross-generator-only]``
(``--update``: re-run only ``--models`` and merge them into the existing results;
``--cross-generator-only``: (b) alone over the ``--seeds`` draws, paired against the reference,
into ``OUT/cross_generator.json`` and ``.md``). A model may carry its own estimator
arguments: ``logreg:subject_norm=true`` or ``wgnn:baseline=subject-median,epochs=20`` (values
read as JSON, else as strings). Writes ``OUT/generality.json`` and ``OUT/generality.md``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import independent_cohort as ic  # noqa: E402

from geopain.jsonio import write_json  # noqa: E402
from geopain.landmarks import LandmarkSequence  # noqa: E402
from geopain.species import get_scheme  # noqa: E402

REFERENCE = "reference"
TASK_LABEL = {"binary": "pain", "five": "level"}
N_CLASSES = {"binary": 2, "five": 5}

# ----------------------------------------------------------------------------------------
# The plain reference
# ----------------------------------------------------------------------------------------


def reference_features(seqs: Sequence[LandmarkSequence]) -> np.ndarray:
    """``(F, N * d)`` flattened similarity-aligned coordinates of every frame (template units).

    3D sequences are aligned in 3D; 2D ones (``dims=2``) in the image plane against the
    template's x, y (image y axis flipped to point up). Missing points take the template's
    coordinates; frames without enough points are NaN rows.
    """
    T = get_scheme(seqs[0].scheme).template
    out = []
    for s in seqs:
        if s.dims == 3:
            X, target = s.coords.astype(np.float64), T
        else:
            X = s.coords[..., :2].astype(np.float64) * np.array([1.0, -1.0 if s.units in ("px", "normalized") else 1.0])
            target = T[:, :2]
        al = ic.similarity_align(X, target)
        dead = ~np.isfinite(al).any((1, 2))
        al = np.where(np.isfinite(al), al, target[None])
        al[dead] = np.nan
        out.append(al.reshape(len(al), -1))
    return np.concatenate(out, 0)


class PlainReference:
    """Per-frame Procrustes-aligned coordinates -> StandardScaler -> balanced LogisticRegression."""

    def __init__(self, task: str = "binary", seed: int = 0, C: float = 1.0):
        self.task, self.seed, self.C = task, seed, C

    def fit(self, seqs: Sequence[LandmarkSequence]) -> "PlainReference":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        X, y = reference_features(seqs), frame_targets(seqs, self.task)
        ok = np.isfinite(X).all(1) & np.isfinite(y)
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(
            C=self.C, class_weight="balanced", max_iter=3000, random_state=self.seed))
        self.model_.fit(X[ok], y[ok].astype(int))
        return self

    def predict_proba(self, seqs: Sequence[LandmarkSequence]) -> np.ndarray:
        """``(F, C)`` class probabilities, NaN rows where no face was found."""
        X = reference_features(seqs)
        ok = np.isfinite(X).all(1)
        out = np.full((len(X), N_CLASSES[self.task]), np.nan)
        if ok.any():
            p = self.model_.predict_proba(X[ok])
            full = np.zeros((ok.sum(), out.shape[1]))
            full[:, self.model_.classes_] = p  # classes absent from training keep probability 0
            out[ok] = full
        return out


# ----------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------


def frame_targets(seqs: Sequence[LandmarkSequence], task: str) -> np.ndarray:
    """``(F,)`` the task's frame labels (``pain`` 0/1 or ``level`` 0-4), NaN where unknown."""
    name = TASK_LABEL[task]
    return np.concatenate([s.labels.get(name, np.full(s.n_frames, np.nan)) for s in seqs])


def parse_model(spec: str, common: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``"wgnn:epochs=20,baseline=subject-median"`` -> ``("wgnn", {...common, epochs: 20, ...})``."""
    name, _, rest = spec.partition(":")
    kw = dict(common)
    for item in filter(None, rest.split(",")):
        k, _, v = item.partition("=")
        try:
            kw[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            kw[k.strip()] = v.strip()
    return name, kw


def make_method(spec: str, task: str, seed: int, common: dict[str, Any]) -> Any:
    """A fresh unfitted method: the plain reference or a ``geopain.models.PainEstimator``."""
    if spec == REFERENCE:
        return PlainReference(task, seed)
    from geopain.models import PainEstimator
    from geopain.tasks import canonical_task

    name, kw = parse_model(spec, common)
    kw.setdefault("seed", seed)
    return PainEstimator(model=name, task=canonical_task(task, warn=False), **kw)  # this report keeps "five"


def classification_metrics(y: np.ndarray, proba: np.ndarray, task: str) -> dict[str, float]:
    """Metrics on the frames with a finite label and prediction: binary ``bacc``/``auc``,
    five-level ``acc``/``bacc``; ``frames`` counts the frames used."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score

    ok = np.isfinite(y) & np.isfinite(proba).all(1)
    y, p = y[ok].astype(int), proba[ok]
    out: dict[str, float] = {"frames": int(ok.sum()), "coverage": float(ok.mean()) if len(ok) else float("nan")}
    if not len(y):
        return out
    pred = p.argmax(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["bacc"] = float(balanced_accuracy_score(y, pred))
        out["acc"] = float(accuracy_score(y, pred))
        if task == "binary":
            out["auc"] = float(roc_auc_score(y, p[:, 1])) if len(np.unique(y)) == 2 else float("nan")
    return out


def random_similarity(seqs: Sequence[LandmarkSequence], seed: int) -> list[LandmarkSequence]:
    """Each sequence under its own random similarity: rotation up to 30 degrees (3D: random
    axis; 2D: in the image plane), scale 0.5-2 (log-uniform), translation (20 cm / 200 px)."""
    rng = np.random.default_rng(seed)
    out = []
    for s in seqs:
        angle = np.deg2rad(rng.uniform(-30, 30))
        scale = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
        c = s.coords.astype(np.float64)
        if s.dims == 3:
            axis = rng.standard_normal(3)
            axis /= np.linalg.norm(axis)
            K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
            R = np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K
            new = scale * c @ R.T + rng.normal(0, 20.0, 3)
        else:
            R = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            xy = scale * c[..., :2] @ R.T + rng.normal(0, 200.0, 2)
            new = np.concatenate([xy, c[..., 2:]], -1)
        out.append(s.with_coords(new.astype(np.float32)))
    return out


# ----------------------------------------------------------------------------------------
# The three measurements
# ----------------------------------------------------------------------------------------


def cross_validate(seqs: list[LandmarkSequence], methods: list[str], seed: int, common: dict[str, Any],
                   bar: tqdm, keep: dict[str, Any]) -> dict[str, Any]:
    """(a) grouped 5-fold CV of every method on both tasks; fold-0 binary models go to ``keep``."""
    from geopain.evaluation.splits import group_kfold

    subjects = [s.subject for s in seqs]
    folds = group_kfold(subjects, k=5, seed=seed)
    seq_subj = np.array(subjects)
    results: dict[str, Any] = {}
    for method in methods:
        res: dict[str, Any] = {}
        for task in ("binary", "five"):
            y_all, p_all, fold_bacc = [], [], []
            t0 = time.perf_counter()
            for j, fold in enumerate(folds):
                train = [s for s, subj in zip(seqs, seq_subj) if subj in fold.train_subjects]
                test = [s for s, subj in zip(seqs, seq_subj) if subj in fold.test_subjects]
                bar.set_postfix_str(f"{seqs[0].species} {method} {task} fold {j + 1}")
                model = make_method(method, task, seed, common).fit(train)
                proba = model.predict_proba(test)
                y = frame_targets(test, task)
                fold_bacc.append(classification_metrics(y, proba, task).get("bacc", float("nan")))
                y_all.append(y)
                p_all.append(proba)
                if j == 0 and task == "binary":
                    keep[method] = (model, test)
                bar.update(1)
            m = classification_metrics(np.concatenate(y_all), np.concatenate(p_all), task)
            m["fold_bacc"] = fold_bacc
            m["seconds"] = round(time.perf_counter() - t0, 2)
            res[task] = m
        results[method] = res
    return results


def invariance(keep: dict[str, Any], seed: int) -> dict[str, float]:
    """(c) agreement of predicted classes before/after a random similarity of the raw coordinates."""
    out = {}
    for method, (model, test) in keep.items():
        a = model.predict_proba(test)
        b = model.predict_proba(random_similarity(test, seed + 99))
        ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
        out[method] = float((a[ok].argmax(1) == b[ok].argmax(1)).mean()) if ok.any() else float("nan")
    return out


def cross_generator(test: list[LandmarkSequence], methods: list[str], n_sim: int, seed: int,
                    common: dict[str, Any], bar: tqdm) -> dict[str, Any]:
    """(b) train on geopain's simulator, test on the independent human cohort (binary)."""
    from geopain.synth import SynthConfig, simulate

    config = SynthConfig(project=True) if test[0].dims == 2 else None
    train = simulate(species="human", n_subjects=n_sim, sequences_per_subject=4, frames=24, seed=1, config=config)
    y = frame_targets(test, "binary")
    out = {}
    for method in methods:
        bar.set_postfix_str(f"cross-generator {method}")
        t0 = time.perf_counter()
        model = make_method(method, "binary", seed, common).fit(train)
        m = classification_metrics(y, model.predict_proba(test), "binary")
        m["seconds"] = round(time.perf_counter() - t0, 2)
        out[method] = m
        bar.update(1)
    return out


# ----------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------


def merge_runs(path: Path, config: dict[str, Any], runs: list[dict[str, Any]], seconds: float
               ) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    """Merge freshly run methods into an earlier ``generality.json`` of the same cohorts and sizes:
    the new methods' results replace or join the old ones, the other methods keep theirs."""
    if not path.is_file():
        raise SystemExit(f"--update: {path} does not exist; run without --update first")
    old = json.loads(path.read_text())
    same = ("seeds", "subjects", "frames", "dims", "n_sim", "estimator_kwargs", "quick", "generator")
    differ = [k for k in same if old["config"].get(k) != config.get(k)]
    if differ:
        raise SystemExit(f"--update: {path} was run with other settings ({', '.join(differ)}); run without --update")
    new_methods = [REFERENCE, *config["models"]]
    for old_run, new_run in zip(old["runs"], runs):
        for cohort in new_run["cv"]:
            old_run["cv"][cohort].update({m: new_run["cv"][cohort][m] for m in new_methods})
            old_run["invariance"][cohort].update({m: new_run["invariance"][cohort][m] for m in new_methods})
        old_run["cross_generator"].update({m: new_run["cross_generator"][m] for m in new_methods})
    models = list(old["config"]["models"]) + [m for m in config["models"] if m not in old["config"]["models"]]
    merged = {**old["config"], "models": models, "last_update": config["models"]}
    return merged, old["runs"], round(float(old.get("seconds", 0.0)) + seconds, 1)


def _mean(values: list[float]) -> float:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    return float(np.nanmean(v)) if len(v) and np.isfinite(v).any() else float("nan")


def summary_rows(runs: list[dict[str, Any]], methods: list[str]) -> list[dict[str, float]]:
    """One row per method: metrics averaged over seeds."""
    rows = []
    for method in methods:
        row: dict[str, Any] = {"method": method}
        for cohort in ("human", "sheep"):
            for task, metric in (("binary", "bacc"), ("binary", "auc"), ("five", "acc"), ("five", "bacc")):
                row[f"{cohort} {'bin' if task == 'binary' else '5-lvl'} {metric}"] = _mean(
                    [r["cv"][cohort][method][task].get(metric) for r in runs])
        row["cross-gen auc"] = _mean([r["cross_generator"][method].get("auc") for r in runs])
        row["cross-gen bacc"] = _mean([r["cross_generator"][method].get("bacc") for r in runs])
        row["similarity agreement"] = _mean([r["invariance"]["human"].get(method) for r in runs]
                                            + [r["invariance"]["sheep"].get(method) for r in runs])
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|"]
    for r in rows:
        lines.append("| " + " | ".join([str(r["method"])] + [f"{r[c]:.3f}" for c in cols[1:]]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default=str(Path(__file__).resolve().parent / "results" / "generality"), help="output folder (default benchmarks/results/generality)")
    ap.add_argument("--models", nargs="+", default=None,
                    help="geopain models, NAME or NAME:key=value,... (default: logreg wgnn pointnet; --quick: logreg)")
    ap.add_argument("--quick", action="store_true", help="fewer simulated training subjects (60) and logreg only")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--subjects", type=int, default=20, help="subjects per independent cohort")
    ap.add_argument("--frames", type=int, default=30, help="frames per independent sequence")
    ap.add_argument("--dims", type=int, choices=(2, 3), default=3, help="independent cohorts in 3D cm or 2D px")
    ap.add_argument("--n-sim", type=int, default=None, help="simulated training subjects for (b) (200; --quick 60)")
    ap.add_argument("--estimator-kwargs", default="{}", help="JSON keyword arguments of every PainEstimator")
    ap.add_argument("--update", action="store_true",
                    help="re-run only --models and merge them into OUT/generality.json (same cohorts and sizes); "
                         "the other methods keep their rows")
    ap.add_argument("--cross-generator-only", action="store_true",
                    help="only (b), over every --seeds draw, into OUT/cross_generator.json and .md")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="BLAS threads (1: small sklearn fits are much faster than with oversubscribed BLAS)")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        return run(args)


def independent_cohorts(args: argparse.Namespace, seed: int, species: Sequence[str] = ("human", "sheep")
                        ) -> dict[str, list[LandmarkSequence]]:
    """The independent generator's cohorts of draw ``seed`` (``--subjects`` x 4 sequences x ``--frames``)."""
    make = {"human": ic.make_cohort, "sheep": ic.make_sheep_cohort}
    return {sp: make[sp](args.subjects, 4, args.frames, seed=seed, dims=args.dims) for sp in species}


def cross_generator_draws(args: argparse.Namespace, methods: list[str], n_sim: int, common: dict[str, Any],
                          out: Path) -> int:
    """(b) alone over ``--seeds`` draws (each seed: its own independent test cohort and model seeds):
    writes ``OUT/cross_generator.json`` and ``.md`` with each draw's ROC AUC, the mean, and each
    method's paired difference from the plain reference (mean and sd over draws)."""
    t_start = time.perf_counter()
    draws: list[dict[str, Any]] = []
    with tqdm(total=len(args.seeds) * len(methods), desc="cross-generator", unit="fit") as bar:
        for seed in args.seeds:
            test = independent_cohorts(args, seed, ("human",))["human"]
            draws.append({"seed": seed, "results": cross_generator(test, methods, n_sim, seed, common, bar)})
    rows = []
    for method in methods:
        auc = np.array([d["results"][method]["auc"] for d in draws], float)
        diff = auc - np.array([d["results"][REFERENCE]["auc"] for d in draws], float)
        rows.append({"method": method, "auc_per_draw": auc.tolist(), "auc_mean": float(auc.mean()),
                     "diff_mean": float(diff.mean()), "diff_sd": float(diff.std(ddof=1)) if len(diff) > 1 else 0.0,
                     "draws_at_least_reference": int((diff >= 0).sum()),
                     "seconds_mean": float(np.mean([d["results"][method]["seconds"] for d in draws]))})
    config = {"models": methods[1:], "seeds": args.seeds, "subjects": args.subjects, "frames": args.frames,
              "dims": args.dims, "n_sim": n_sim, "estimator_kwargs": common, "generator": ic.GENERATOR}
    seconds = round(time.perf_counter() - t_start, 1)
    write_json(out / "cross_generator.json", {"config": config, "draws": draws, "summary": rows, "seconds": seconds},
               indent=1)
    lines = [f"# Cross-generator ranking over {len(draws)} draws (seeds {args.seeds}; trained on {n_sim} "
             f"simulated human subjects, tested on every frame of an independent human cohort of "
             f"{args.subjects} subjects per draw; ROC AUC of pain vs no pain; {seconds:.0f} s)", "",
             "| method | AUC per draw | mean AUC | minus reference (mean ± sd) | draws ≥ reference | s per fit |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['method']} | {', '.join(f'{v:.3f}' for v in r['auc_per_draw'])} | {r['auc_mean']:.3f} "
                     f"| {r['diff_mean']:+.3f} ± {r['diff_sd']:.3f} | {r['draws_at_least_reference']}/{len(draws)} "
                     f"| {r['seconds_mean']:.0f} |")
    (out / "cross_generator.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the three measurements and write the report (see the module docstring)."""

    common = json.loads(args.estimator_kwargs)
    models = args.models or (["logreg"] if args.quick else ["logreg", "wgnn", "pointnet"])
    methods = [REFERENCE, *models]
    n_sim = args.n_sim or (60 if args.quick else 200)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.cross_generator_only:
        return cross_generator_draws(args, methods, n_sim, common, out)
    t_start = time.perf_counter()
    steps = len(args.seeds) * len(methods) * (2 * 2 * 5 + 1)
    runs = []
    with tqdm(total=steps, desc="generality", unit="fit") as bar:
        for seed in args.seeds:
            cohorts = independent_cohorts(args, seed)
            run: dict[str, Any] = {"seed": seed, "cv": {}, "invariance": {}, "cohorts": {}}
            for name, seqs in cohorts.items():
                y = frame_targets(seqs, "binary")
                lv = frame_targets(seqs, "five")
                levels = np.bincount(lv[np.isfinite(lv)].astype(int), minlength=5).tolist()
                run["cohorts"][name] = {"sequences": len(seqs), "frames": int(sum(s.n_frames for s in seqs)),
                                        "pain_prevalence": float(np.nanmean(y)), "level_counts": levels}
                keep: dict[str, Any] = {}
                run["cv"][name] = cross_validate(seqs, methods, seed, common, bar, keep)
                run["invariance"][name] = invariance(keep, seed)
            run["cross_generator"] = cross_generator(cohorts["human"], methods, n_sim, seed, common, bar)
            runs.append(run)
    config = {"models": models, "seeds": args.seeds, "subjects": args.subjects, "frames": args.frames,
              "dims": args.dims, "n_sim": n_sim, "estimator_kwargs": common, "quick": args.quick,
              "generator": ic.GENERATOR}
    seconds = round(time.perf_counter() - t_start, 1)
    if args.update:
        config, runs, seconds = merge_runs(out / "generality.json", config, runs, seconds)
        models = config["models"]
        methods = [REFERENCE, *models]
    rows = summary_rows(runs, methods)
    table = markdown(rows)
    result = {"config": config, "runs": runs, "summary": rows, "seconds": seconds}
    write_json(out / "generality.json", result, indent=1)
    header = (f"# geopain generality ({', '.join(models)}; seeds {args.seeds}; dims {args.dims}; "
              f"cross-generator trained on {n_sim} simulated subjects)\n\n")
    (out / "generality.md").write_text(header + table + "\n")
    print(table)
    print(f"wrote {out / 'generality.json'} and {out / 'generality.md'} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
