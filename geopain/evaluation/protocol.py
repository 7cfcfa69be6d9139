"""Run a subject-independent evaluation protocol for one or several models.

:func:`run_protocol` trains a fresh :class:`~geopain.models.PainEstimator` on the training
subjects of every fold and predicts the held-out subjects; metrics are computed per fold
(mean and spread over folds) and on the pooled held-out predictions, for frames and for
sequences (mean per-frame probabilities or scores of a sequence vs its median label).
Several models in one run (e.g. ``["wgnn", "wgnn-uniform", "logreg"]``) share the same
folds, so the value of the facial graph's edge weights and the gap to the measurement
baselines are measured, not assumed.

With ``out_dir`` every fold's predictions are stored under ``predictions/`` (and all of them,
every model, in one table ``heldout_predictions.parquet``); running the
same call again reuses finished folds (interrupt and resume), and :mod:`.report` writes
``results.json``, ``results.md``, ``results.csv`` and plots.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..defaults import TRAINING
from ..errors import GeopainError
from ..io.tables import write_parquet
from ..jsonio import write_json
from ..landmarks import LandmarkSequence, sequences_digest
from ..parallel import run_tasks
from ..progress import progress_bar
from ..provenance import source_digest
from ..species import get_scheme, scale_levels
from ..tasks import SEQUENCE_KEYS, canonical_task, sequence_targets
from .metrics import aggregate, task_metrics
from .splits import Fold, protocol_folds

def _reference_models(names: Iterable[str]) -> list[str]:
    """The models the others are compared against (registry metadata ``reference_model``)."""
    from ..models import MODELS

    return [n for n in names if MODELS.info(n).get("reference_model")]


def _frame_metrics(df: pd.DataFrame, task: str, n_classes: int) -> dict[str, Any] | None:
    ok = df["face_found"].to_numpy(bool) & np.isfinite(df["target"].to_numpy(float)) if "target" in df else None
    if ok is None or not ok.any():
        return None
    d = df[ok]
    t = d["target"].to_numpy(float)
    if task == "score":
        return task_metrics(task, t, d["prediction"].to_numpy(float))
    proba = d[[f"p_{k}" for k in range(n_classes)]].to_numpy(float)
    return task_metrics(task, t.astype(int), d["prediction"].to_numpy(int), proba, n_classes)


def sequence_table(frames: pd.DataFrame, task: str, n_classes: int) -> pd.DataFrame:
    """Per-sequence predictions from per-frame ones: mean probabilities (argmax) or mean
    score, and the sequence target (:func:`geopain.tasks.sequence_targets`)."""
    keys = SEQUENCE_KEYS
    d = frames[frames["face_found"] & np.isfinite(frames["target"])]
    cols = ["prediction"] if task == "score" else [f"p_{k}" for k in range(n_classes)]
    g = d.groupby(keys, sort=False)
    out = g[cols].mean()
    out["target"] = sequence_targets(d, task, keys)
    if task != "score":
        out["prediction"] = out[cols].to_numpy().argmax(1)
    out["face_found"] = True
    if "fold" in d:
        out["fold"] = g["fold"].first()
    return out.reset_index()


def _config_hash(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


#: frames of the first fold's training subjects a time estimate fits on (scaled to the whole fold)
PROBE_FRAMES = 2000


def estimate_seconds(train: Sequence[LandmarkSequence], names: Sequence[str], task: str, temporal: bool | str = False,
                     seed: int = 0, **params: Any) -> dict[str, dict[str, float]]:
    """How long one fold's fit of each model will take, from short probe fits.

    Each model is fitted on about :data:`PROBE_FRAMES` frames of ``train`` (whole sequences drawn
    at random; all of ``train`` where those cannot be fitted, e.g. one class only), once to warm
    up and then timed for 3 epochs, whose per-epoch time the training loop records, which
    separates the set-up from the per-epoch time. Both scale linearly with frames to all of
    ``train``. Returns ``{name: {"min_s", "max_s", "epoch_s", "setup_s"}}`` per fold: a neural
    model stops early after ``patience + 1`` epochs at the soonest and runs ``epochs`` at most.
    """
    from ..models import MODELS, PainEstimator

    seqs = list(train)
    total = sum(s.n_frames for s in seqs)
    order = np.random.default_rng(seed).permutation(len(seqs))
    picked, frames = [], 0
    for i in order:  # whole sequences until the probe size
        if frames >= PROBE_FRAMES:
            break
        picked.append(seqs[i])
        frames += seqs[i].n_frames
    scale = total / max(frames, 1)
    epochs = int(params.get("epochs", TRAINING["epochs"]))
    patience = int(params.get("patience", TRAINING["patience"]))
    out: dict[str, dict[str, float]] = {}
    for name in names:
        info = MODELS.info(name)
        if info["kind"] == "fusion" and not info.get("face"):  # a few logistic regressions
            out[name] = {"min_s": 0.0, "max_s": 0.0, "epoch_s": 0.0, "setup_s": 0.0}
            continue
        face = info["face"] if info["kind"] == "fusion" else name  # a fusion's fit is its face model's

        def fit_s(n_epochs: int, probe: list[LandmarkSequence]) -> tuple[float, float, int]:
            """(seconds of the whole fit, mean seconds of an epoch as the training loop timed it, epochs)"""
            est = PainEstimator(face, task, temporal, seed=seed, **{**params, "epochs": n_epochs, "patience": n_epochs + 1})
            t0 = time.perf_counter()
            est.fit(probe)
            rows = est.history_.rows if getattr(est, "history_", None) is not None else []
            per_epoch = float(np.mean([r["seconds"] for r in rows])) if rows else 0.0
            return time.perf_counter() - t0, per_epoch, len(rows)

        probe, k = picked, scale
        try:
            try:
                fit_s(1, probe)  # warm-up: imports, compiled kernels, caches
            except GeopainError:  # e.g. one class only in the probe: probe on everything
                probe, k = seqs, 1.0
            whole, per_epoch, n_run = fit_s(3, probe)
            epoch = per_epoch * k
            setup = max(whole - n_run * per_epoch, 0.0) * k
            if n_run:
                low, high = setup + min(patience + 1, epochs) * epoch, setup + epochs * epoch
            else:
                low = high = setup
        except GeopainError:  # the fold itself cannot be fitted: the run will say so per fold
            setup = epoch = low = high = float("nan")
        out[name] = {"min_s": low, "max_s": high, "epoch_s": epoch, "setup_s": setup}
    return out


def _duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "?"
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def fit_fold(name: str, fold_name: str, task: str, temporal: bool | str, seed: int, params: Mapping[str, Any],
             train: Sequence[LandmarkSequence], test: Sequence[LandmarkSequence]) -> pd.DataFrame | str:
    """One model on one fold: fitted on ``train``, its frame predictions of ``test`` (with
    ``target``, ``fold`` and ``train_seconds`` columns), or the error line when it cannot be
    fitted (e.g. one class in the fold's training subjects). A module-level function, so
    worker processes can run it. A fusion model (registry ``kind="fusion"``) gets its biosignal
    features as ``params["biosignals"]`` and the rest of ``params`` for its face model."""
    from ..models import MODELS, PainEstimator

    if MODELS.info(name)["kind"] == "fusion":
        face_params = {k: v for k, v in params.items() if k != "biosignals"}
        if temporal:
            face_params["temporal"] = temporal
        est = MODELS.create(name, biosignals=params.get("biosignals"), task=task, seed=seed, face_params=face_params)
    else:
        est = PainEstimator(name, task, temporal, seed=seed, **params)
    t0 = time.perf_counter()
    try:
        est.fit(list(train))
    except GeopainError as exc:
        return f"{name} {fold_name}: {exc}"
    seconds = time.perf_counter() - t0
    df = est.predict_frames(list(test))
    if "target" not in df:
        df["target"] = np.nan
    df["fold"] = fold_name
    df["train_seconds"] = seconds
    return df


def fit_fold_at(sequences: Sequence[LandmarkSequence], train_index: Sequence[int], test_index: Sequence[int],
                *fold: Any) -> pd.DataFrame | str:
    """:func:`fit_fold` on ``sequences[train_index]`` / ``sequences[test_index]``; ``fold`` is
    ``name, fold_name, task, temporal, seed, params``. Workers and Ray tasks receive the
    sequences once (Ray's object store) and the indices of each fold."""
    return fit_fold(*fold, [sequences[i] for i in train_index], [sequences[i] for i in test_index])


def resolve_biosignals(biosignals: pd.DataFrame | str | os.PathLike | None, table: Any = None) -> pd.DataFrame:
    """The per-sequence biosignal features that fusion models need, from ``biosignals`` (the
    per-frame side table, its path, or features), or else from the side table
    ``<table>.biosignals.parquet`` beside ``table`` (a path) that ``geopain dataset prepare biovid`` writes."""
    from ..models.fusion import as_biosignal_features

    if biosignals is None and isinstance(table, (str, os.PathLike)):
        side = Path(table).with_name(Path(table).stem + ".biosignals.parquet")
        if side.is_file():
            biosignals = side
        else:
            raise GeopainError(f"{table}: fusion models need biosignals, and there is no side table {side.name} "
                               "beside it (pass biosignals=... or --biosignals FILE)")
    if biosignals is None:
        raise GeopainError("fusion models need biosignals: pass biosignals= (the per-frame side table that "
                           "'geopain dataset prepare biovid' writes, or biosignal_features(...))")
    if isinstance(biosignals, (str, os.PathLike)):
        path = Path(biosignals)
        try:
            biosignals = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise GeopainError(f"{path}: cannot read biosignals ({type(exc).__name__}: {exc})") from None
    return as_biosignal_features(biosignals)


def run_protocol(sequences: Iterable[LandmarkSequence] | str | os.PathLike | pd.DataFrame,
                 model: str | Sequence[str], task: str, protocol: str,
                 temporal: bool | str = False, out_dir: str | os.PathLike | None = None, *,
                 meta: Mapping[str, Any] | None = None, seed: int = 0, progress: bool = True,
                 estimate: bool = False, workers: int = 1, ray_address: str | None = None,
                 biosignals: pd.DataFrame | str | os.PathLike | None = None, **params: Any) -> dict[str, Any]:
    """Evaluate ``model`` (a name or a list of names) on ``task`` under ``protocol``.

    Args:
        sequences: labelled landmark sequences of one scheme (any species), or a landmark table's
            path or DataFrame (its named protocols are used unless ``meta`` is given).
        model: registered model name(s), e.g. ``"wgnn"`` or ``["wgnn", "wgnn-uniform", "logreg"]``.
        task: ``"binary"``, ``"levels"`` or ``"score"``.
        protocol: ``"loso"``, ``"kfold:K"``, ``"holdout:FILE"`` or a name in ``meta["protocols"]``.
        temporal: see :class:`~geopain.models.PainEstimator`.
        out_dir: if given, predictions (resumable), ``results.json``, a table and plots go there.
        meta: table metadata (named protocols), e.g. from :func:`geopain.io.tables.read_frame`.
        seed: seeds splits and training. params: :class:`PainEstimator` parameters.
        workers: folds (and models) fitted at once, in that many worker processes of one
            torch thread each; the results equal a run with ``workers=1``.
        ray_address: fit the folds as Ray tasks on that cluster instead (``"auto"``: the one
            started on this machine; ``"local"``: a Ray instance started here); same results.
        biosignals: for fusion models (``fusion-late``, ``biosignals``, ...): the per-frame side
            table (or its path) or per-sequence features; by default the table's side table
            ``<table>.biosignals.parquet`` when ``sequences`` is a path and it exists there.
        estimate: before training, estimate the run's time from probe fits
            (:func:`estimate_seconds`), print it and keep it as ``results["estimate"]``.

    Returns:
        ``{"task", "protocol", "species", "scheme", "scale", "folds": [...], "models":
        {name: {"frame": {"folds": [...], "summary": {metric: {mean, std, ...}}, "pooled": {...}},
        "sequence": {...}, "train_seconds": [...]}}, "comparisons": [...]}``.
    """
    from ..io.tables import load_sequences
    from ..models import MODELS

    task = canonical_task(task)
    seqs, table_meta = load_sequences(sequences)  # sequences, a table path or a DataFrame
    meta = table_meta if meta is None else meta
    if not seqs:
        raise GeopainError("no sequences to evaluate")
    names = [model] if isinstance(model, str) else list(model)
    for n in names:
        MODELS.get(n)
    fusion_features = None
    if any(MODELS.info(n)["kind"] == "fusion" for n in names):
        fusion_features = resolve_biosignals(biosignals, sequences)
    scheme = get_scheme(seqs[0].scheme)
    scale = scheme.pain_scale
    n_classes = {"binary": 2, "levels": scale_levels(scheme), "score": 1}[task]
    seq_subjects = np.array([s.subject for s in seqs])
    frame_subjects = np.concatenate([[s.subject] * s.n_frames for s in seqs])
    folds: list[Fold] = protocol_folds(protocol, seq_subjects, meta, seed, sample_subjects=frame_subjects)
    out = Path(out_dir) if out_dir is not None else None
    results: dict[str, Any] = {
        "task": task, "protocol": protocol, "temporal": temporal, "species": scheme.species, "scheme": scheme.key,
        "scale": None if scale is None else {"name": scale.name, "range": list(scale.range), "n_levels": scale.n_levels,
                                             "level_names": list(scale.level_names)},
        "n_subjects": len(set(folds[0].train_subjects) | set(folds[0].test_subjects)), "n_sequences": len(seqs),
        "n_frames": int(sum(s.n_frames for s in seqs)), "seed": seed, "params": {k: v for k, v in params.items()},
        "folds": [{"name": f.name, "test_subjects": list(f.test_subjects), "n_train_subjects": len(f.train_subjects)}
                  for f in folds],
        "models": {},
    }

    predictions: dict[str, pd.DataFrame] = {}
    jobs = [(n, f) for n in names for f in folds]
    if estimate:
        tr, _ = folds[0].indices(seq_subjects)
        per_fold = estimate_seconds([seqs[i] for i in tr], names, task, temporal, seed, **params)
        results["estimate"] = {"per_fold": per_fold, "folds": len(folds),
                               "min_s": len(folds) * float(np.nansum([e["min_s"] for e in per_fold.values()])),
                               "max_s": len(folds) * float(np.nansum([e["max_s"] for e in per_fold.values()]))}
        est = results["estimate"]
        if ray_address is not None:
            split = "; a Ray cluster divides it by up to its CPUs"
        else:
            split = f"; {workers} worker processes divide it by up to {workers}" if workers > 1 else ""
        print(f"estimated time: {len(folds)} folds x {len(names)} model(s): {_duration(est['min_s'])} to "
              f"{_duration(est['max_s'])} in one process on this machine (early stopping decides where{split}; "
              f"folds already saved in the output are not refitted)", file=sys.stderr, flush=True)
    bar = progress_bar(total=len(jobs), desc=f"{task} {protocol}", enabled=progress)
    caches: dict[str, Path | None] = {}
    data_digest = sequences_digest(seqs) if out is not None else None
    for name in names:
        cfg = {"model": name, "task": task, "temporal": temporal, "seed": seed, "params": params,
               "protocol": protocol, "folds": [f.test_subjects for f in folds], "n_sequences": len(seqs),
               "data": data_digest, "code": source_digest()}  # other data or other code: predicted again
        if MODELS.info(name)["kind"] == "fusion":  # other biosignals, other predictions
            cfg["biosignals"] = str(int(pd.util.hash_pandas_object(fusion_features, index=False).sum()))
        pred_dir = None if out is None else out / "predictions" / f"{name}-{_config_hash(cfg)}"
        if pred_dir is not None:
            pred_dir.mkdir(parents=True, exist_ok=True)
            write_json(pred_dir / "config.json", cfg, indent=1)
        caches[name] = pred_dir
    done: dict[tuple[str, str], pd.DataFrame | str] = {}  # (model, fold) -> predictions or error
    todo = []
    for name, fold in jobs:
        cache = None if caches[name] is None else caches[name] / f"{fold.name}.parquet"
        if cache is not None and cache.is_file():
            done[name, fold.name] = pd.read_parquet(cache)
            if bar is not None:
                bar.update(1)
        else:
            todo.append((name, fold, cache))

    def finished(name: str, fold: Fold, cache: Path | None, result: pd.DataFrame | str) -> None:
        if isinstance(result, pd.DataFrame) and cache is not None:
            write_parquet(result, cache)
        done[name, fold.name] = result
        if bar is not None:
            bar.set_postfix_str(f"{name} {fold.name}")
            bar.update(1)

    def job_args(name: str, fold: Fold) -> tuple:
        tr, te = fold.indices(seq_subjects)
        if MODELS.info(name)["kind"] == "fusion":
            return tr, te, name, fold.name, task, temporal, seed, {**params, "biosignals": fusion_features}
        return tr, te, name, fold.name, task, temporal, seed, params

    workers = max(1, int(workers))
    if ray_address is not None or (workers > 1 and len(todo) > 1):
        # networks first: the short sklearn fits fill the gaps at the end instead of leaving a core idle
        todo.sort(key=lambda job: MODELS.info(job[0]).get("kind") != "torch")
        for i, result, error in run_tasks(fit_fold_at, [job_args(name, fold) for name, fold, _ in todo],
                                          common=(seqs,), workers=workers, ray_address=ray_address):
            name, fold, cache = todo[i]
            if error is not None:  # a worker lost beyond retries: this fold's error, the others go on
                result = f"{name} {fold.name}: worker failed ({type(error).__name__}: {error})"
            finished(name, fold, cache, result)  # each finished fold is saved at once (resumable)
    else:
        for name, fold, cache in todo:
            finished(name, fold, cache, fit_fold_at(seqs, *job_args(name, fold)))
    for name in names:
        frames_all, seconds, errors = [], [], []
        for fold in folds:
            result = done[name, fold.name]
            if isinstance(result, str):
                errors.append(result)
                continue
            seconds.append(float(result["train_seconds"].iloc[0]) if "train_seconds" in result and len(result)
                           else np.nan)
            frames_all.append(result)
        if not frames_all:
            raise GeopainError(f"{name}: every fold failed: {errors[0]}")
        frames = pd.concat(frames_all, ignore_index=True)
        predictions[name] = frames
        seqtab = sequence_table(frames, task, n_classes)
        entry: dict[str, Any] = {"train_seconds": seconds, "errors": errors}
        for level, table in (("frame", frames), ("sequence", seqtab)):
            per_fold = []
            for fold in folds:
                m = _frame_metrics(table[table["fold"] == fold.name], task, n_classes)
                if m is not None:
                    per_fold.append({"fold": fold.name, **m})
            entry[level] = {"folds": per_fold, "summary": aggregate(per_fold),
                            "pooled": _frame_metrics(table, task, n_classes)}
        results["models"][name] = entry
    if bar is not None:
        bar.close()
    results["comparisons"] = compare(results)
    if out is not None:
        from .report import write_report

        write_heldout_predictions(predictions, task, out / HELDOUT_FILE)

        write_report(results, out, predictions)
    results["predictions"] = predictions
    return results


#: The one file holding every model's held-out predictions of a results folder.
HELDOUT_FILE = "heldout_predictions.parquet"


def write_heldout_predictions(predictions: Mapping[str, pd.DataFrame], task: str, path: Path) -> Path:
    """Every model's held-out frame predictions in one table (a ``model`` column, the fold that
    tested each frame, class-named probabilities ``p_no_pain``/``p_pain`` or ``p_level_k``)."""
    from ..tasks import readable_columns

    parts = [readable_columns(df, task).assign(model=name) for name, df in predictions.items()]
    table = pd.concat(parts, ignore_index=True)
    return write_parquet(table[["model"] + [c for c in table.columns if c != "model"]], path)


def compare(results: Mapping[str, Any]) -> list[str]:
    """Plain sentences: each deep model against the best baseline, and WGNN against its
    uniform-weight twin, on the task's main pooled frame metric."""
    task = canonical_task(results["task"], warn=False)
    metric, higher = ("mae", False) if task == "score" else ("balanced_accuracy", True)
    models = results["models"]

    def value(name: str) -> float:
        pooled = models[name]["frame"]["pooled"] or {}
        return float(pooled.get(metric, np.nan))

    from ..models import MODELS

    lines = []
    references = _reference_models(models)
    base = [b for b in references if np.isfinite(value(b))]
    if base:
        best = (max if higher else min)(base, key=value)
        for name in models:
            if name in references or not np.isfinite(value(name)):
                continue
            beats = value(name) > value(best) if higher else value(name) < value(best)
            lines.append(f"{name} {'beats' if beats else 'does NOT beat'} the best baseline {best} on pooled {metric} "
                         f"({value(name):.3f} vs {value(best):.3f})")
    for name in models:
        parent = MODELS.info(name).get("ablation_of")
        if parent not in models:
            continue
        a, b = value(parent), value(name)
        if np.isfinite(a) and np.isfinite(b):
            gain = (a - b) if higher else (b - a)
            lines.append(f"ablation: {parent} {a:.3f} vs {name} {b:.3f} pooled {metric} "
                         f"({parent} {'better' if gain > 0 else 'not better'}, difference {gain:+.3f})")
    return lines
