"""Evaluation: metrics match scikit-learn, splits never leak subjects, protocols run end to end."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from scipy.stats import pearsonr

from geopain.errors import GeopainError, InputError
from geopain.evaluation import metrics as M
from geopain.evaluation.splits import (assert_subject_independent, group_kfold, holdout, loso, protocol_folds,
                                       read_subject_list)

from _models_helpers import FAST, cohort

RNG = np.random.default_rng(0)
Y2 = RNG.integers(0, 2, 200)
P2 = np.clip(Y2 * 0.4 + RNG.random(200) * 0.7, 0, 1)
YH2 = (P2 > 0.5).astype(int)
Y5 = RNG.integers(0, 5, 300)
YH5 = np.clip(Y5 + RNG.integers(-1, 2, 300), 0, 4)


class TestBinaryMetrics:
    def test_match_sklearn(self):
        m = M.binary_metrics(Y2, YH2, P2)
        assert m["accuracy"] == pytest.approx(skm.accuracy_score(Y2, YH2))
        assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(Y2, YH2))
        assert m["sensitivity"] == pytest.approx(skm.recall_score(Y2, YH2))
        assert m["specificity"] == pytest.approx(skm.recall_score(Y2, YH2, pos_label=0))
        assert m["ppv"] == pytest.approx(skm.precision_score(Y2, YH2))
        assert m["npv"] == pytest.approx(skm.precision_score(Y2, YH2, pos_label=0))
        assert m["f1"] == pytest.approx(skm.f1_score(Y2, YH2))
        assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(Y2, P2))
        assert m["confusion_matrix"] == skm.confusion_matrix(Y2, YH2).tolist()

    def test_auc_ties_and_one_class(self):
        s = np.round(P2, 1)
        assert M.roc_auc(Y2, s) == pytest.approx(skm.roc_auc_score(Y2, s))
        assert np.isnan(M.roc_auc(np.ones(5), np.arange(5)))
        m = M.binary_metrics(np.zeros(4, int), np.array([0, 1, 0, 0]))
        assert np.isnan(m["sensitivity"]) and m["specificity"] == 0.75

    def test_shape_mismatch(self):
        with pytest.raises(Exception):
            M.confusion_matrix(np.zeros(3), np.zeros(4), 2)


class TestMulticlassMetrics:
    def test_match_sklearn(self):
        proba = np.eye(5)[YH5] * 0.6 + RNG.random((300, 5)) * 0.3
        proba /= proba.sum(1, keepdims=True)
        m = M.multiclass_metrics(Y5, YH5, 5, proba)
        assert m["accuracy"] == pytest.approx(skm.accuracy_score(Y5, YH5))
        assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(Y5, YH5))
        assert m["f1_macro"] == pytest.approx(skm.f1_score(Y5, YH5, average="macro"))
        assert m["mae_level"] == pytest.approx(skm.mean_absolute_error(Y5, YH5))
        assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(Y5, proba,
                                                               multi_class="ovr", average="macro"))
        assert m["confusion_matrix"] == skm.confusion_matrix(Y5, YH5, labels=range(5)).tolist()


class TestRegressionMetrics:
    def test_match_sklearn_scipy(self):
        t = RNG.random(100) * 16
        p = t + RNG.normal(size=100)
        m = M.regression_metrics(t, p)
        assert m["mae"] == pytest.approx(skm.mean_absolute_error(t, p))
        assert m["mse"] == pytest.approx(skm.mean_squared_error(t, p))
        assert m["pearson_r"] == pytest.approx(pearsonr(t, p)[0])

    def test_icc(self):
        t = RNG.random(50) * 10
        assert M.icc(t, t) == pytest.approx(1.0)
        # a constant bias: perfect consistency, imperfect absolute agreement
        assert M.icc(t, t + 2, "3,1") == pytest.approx(1.0)
        assert M.icc(t, t + 2, "2,1") < 0.95
        # Shrout & Fleiss style check on a small hand-computable case
        a, b = np.array([1.0, 2, 3, 4]), np.array([2.0, 2, 4, 5])
        Y = np.stack([a, b], 1)
        n, k = Y.shape
        msr = k * ((Y.mean(1) - Y.mean()) ** 2).sum() / (n - 1)
        sse = ((Y - Y.mean(1, keepdims=True) - Y.mean(0) + Y.mean()) ** 2).sum()
        mse = sse / ((n - 1) * (k - 1))
        assert M.icc(a, b) == pytest.approx((msr - mse) / (msr + mse))
        with pytest.raises(ValueError):
            M.icc(a, b, "1,1")


class TestAggregate:
    def test_nan_folds(self):
        agg = M.aggregate([{"n": 3, "accuracy": 0.5, "auc": np.nan}, {"n": 4, "accuracy": 0.7, "auc": 0.9}])
        assert agg["accuracy"]["mean"] == pytest.approx(0.6)
        assert agg["accuracy"]["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
        assert agg["auc"]["n_defined"] == 1 and agg["auc"]["mean"] == 0.9
        assert "n" not in agg


SUBJECTS = [f"S{i:02d}" for i in range(10)]
SAMPLES = np.repeat(SUBJECTS, np.arange(1, 11))


def _folds_all(tmp_path):
    f = tmp_path / "test_subjects.txt"
    f.write_text("S01\nS03  # comment\n")
    meta = {"protocols": {"loso8": {"kind": "loso", "exclude_subjects": ["S00", "S09"]},
                          "k3": {"kind": "kfold", "k": 3, "exclude_subjects": ["S05"]},
                          "fixed": {"kind": "holdout", "test_subjects": ["S02"]}}}
    out = {}
    for spec in ["loso", "kfold:3", "kfold", f"holdout:{f}", "holdout:S04,S05", "loso8", "k3", "fixed"]:
        out[spec] = protocol_folds(spec, SUBJECTS, meta, seed=1, sample_subjects=SAMPLES)
    return out


class TestSplits:
    def test_no_subject_on_both_sides(self, tmp_path):
        """Every protocol: no subject in train and test of a fold (subjects and sample indices)."""
        for spec, folds in _folds_all(tmp_path).items():
            assert folds, spec
            for f in folds:
                assert not set(f.train_subjects) & set(f.test_subjects), spec
                tr, te = f.indices(SAMPLES)
                assert not set(SAMPLES[tr]) & set(SAMPLES[te]), spec
                assert len(te) > 0 and len(tr) > 0
            assert_subject_independent(folds, SAMPLES)

    def test_coverage_and_exclusion(self, tmp_path):
        folds = _folds_all(tmp_path)
        tested = [s for f in folds["loso"] for s in f.test_subjects]
        assert sorted(tested) == SUBJECTS
        tested = [s for f in folds["kfold:3"] for s in f.test_subjects]
        assert sorted(tested) == SUBJECTS and len(folds["kfold:3"]) == 3
        assert len(folds["kfold"]) == 5
        loso8 = folds["loso8"]
        assert len(loso8) == 8
        assert all("S00" not in f.train_subjects + f.test_subjects for f in loso8)
        assert all("S05" not in f.train_subjects + f.test_subjects for f in folds["k3"])
        assert folds[next(k for k in folds if k.startswith("holdout:/"))][0].test_subjects == ("S01", "S03")
        assert folds["fixed"][0].test_subjects == ("S02",)

    def test_kfold_balanced_and_seeded(self):
        a = group_kfold(SUBJECTS, 3, seed=0, sample_subjects=SAMPLES)
        b = group_kfold(SUBJECTS, 3, seed=0, sample_subjects=SAMPLES)
        assert a == b
        sizes = [len(f.indices(SAMPLES)[1]) for f in a]
        assert max(sizes) - min(sizes) <= 10

    def test_errors(self, tmp_path):
        with pytest.raises(GeopainError, match="unknown protocol"):
            protocol_folds("bogus", SUBJECTS)
        with pytest.raises(GeopainError, match="at least 11"):
            group_kfold(SUBJECTS, 11)
        with pytest.raises(GeopainError, match="at least 2"):
            loso(["A"])
        with pytest.raises(GeopainError, match="not in the data"):
            holdout(SUBJECTS, ["X1"])
        with pytest.raises(InputError):
            protocol_folds("holdout:/no/such/file.txt", SUBJECTS)
        with pytest.raises(GeopainError, match="integer"):
            protocol_folds("kfold:x", SUBJECTS)
        empty = tmp_path / "e.txt"
        empty.write_text("# nothing\n")
        with pytest.raises(InputError, match="empty"):
            read_subject_list(empty)


class TestEstimateSeconds:
    def test_smoke_range_and_per_epoch_split(self, monkeypatch):
        from geopain.evaluation import protocol

        monkeypatch.setattr(protocol, "PROBE_FRAMES", 24)  # probe on part of the data: scaled up
        seqs = cohort("human", n_subjects=4, seqs=2, frames=12)
        est = protocol.estimate_seconds(seqs, ["logreg", "wgnn"], "binary", epochs=20, patience=4)
        assert set(est) == {"logreg", "wgnn"}
        assert est["logreg"]["epoch_s"] == 0 and est["logreg"]["min_s"] == est["logreg"]["max_s"] > 0
        w = est["wgnn"]
        assert w["epoch_s"] >= 0 and w["setup_s"] >= 0 and w["min_s"] <= w["max_s"]
        assert w["max_s"] - w["min_s"] == pytest.approx((20 - 5) * w["epoch_s"])

    def test_feature_run_protocol_prints_and_keeps_it(self, capsys):
        from geopain.evaluation import run_protocol

        seqs = cohort("human", n_subjects=4, seqs=2, frames=12)
        res = run_protocol(seqs, "logreg", "binary", "kfold:2", progress=False, estimate=True)
        assert "estimated time: 2 folds x 1 model(s)" in capsys.readouterr().err
        assert res["estimate"]["folds"] == 2 and res["estimate"]["min_s"] > 0
        assert "estimate" not in run_protocol(seqs, "logreg", "binary", "kfold:2", progress=False)


class TestRunProtocol:
    def test_end_to_end_and_resume(self, tmp_path):
        from geopain.evaluation import run_protocol

        seqs = cohort("human", n_subjects=4, seqs=2, frames=12)
        res = run_protocol(seqs, ["logreg", "wgnn", "wgnn-uniform"], "binary", "kfold:2", out_dir=tmp_path,
                           progress=False, **FAST)
        assert set(res["models"]) == {"logreg", "wgnn", "wgnn-uniform"}
        for entry in res["models"].values():
            assert len(entry["frame"]["folds"]) == 2
            assert 0 <= entry["frame"]["pooled"]["accuracy"] <= 1
            assert "accuracy" in entry["frame"]["summary"] and entry["sequence"]["pooled"]["n"] == 8
        assert any("wgnn-uniform" in c for c in res["comparisons"])
        for name in ("results.json", "results.md", "results.csv", "metric_by_model.png", "confusion_matrices.png"):
            assert (tmp_path / name).is_file(), name
        data = json.loads((tmp_path / "results.json").read_text())
        assert data["species"] == "human" and len(data["folds"]) == 2
        heldout = pd.read_parquet(tmp_path / "heldout_predictions.parquet")  # every model's, in one file
        assert set(heldout["model"]) == {"logreg", "wgnn", "wgnn-uniform"} and "p_pain" in heldout
        assert "± " in (tmp_path / "results.md").read_text() or "n/a" in (tmp_path / "results.md").read_text()
        # resume: the same call reuses every fold's predictions
        import geopain.models.estimator as est_mod

        calls = []
        orig = est_mod.PainEstimator.fit
        est_mod.PainEstimator.fit = lambda self, *a, **k: calls.append(1) or orig(self, *a, **k)
        try:
            res2 = run_protocol(seqs, ["logreg", "wgnn"], "binary", "kfold:2", out_dir=tmp_path, progress=False, **FAST)
        finally:
            est_mod.PainEstimator.fit = orig
        assert not calls
        same = json.dumps(res2["models"]["wgnn"]["frame"]["pooled"]) == json.dumps(res["models"]["wgnn"]["frame"]["pooled"])
        assert same  # (json: NaN == NaN)

    def test_other_data_or_other_code_is_predicted_again(self, tmp_path, monkeypatch):
        """Saved predictions are reused only for the same data and the same geopain code: a table
        with the same subjects and sizes but other coordinates, or a changed package, refits."""
        from geopain.evaluation import run_protocol
        import geopain.evaluation.protocol as protocol
        import geopain.models.estimator as est_mod

        seqs = cohort("human", n_subjects=4, seqs=2, frames=12)
        run_protocol(seqs, "logreg", "binary", "kfold:2", out_dir=tmp_path, progress=False)
        calls = []
        orig = est_mod.PainEstimator.fit
        monkeypatch.setattr(est_mod.PainEstimator, "fit", lambda self, *a, **k: calls.append(1) or orig(self, *a, **k))
        moved = [s.with_coords(s.coords * 1.01) for s in seqs]
        run_protocol(moved, "logreg", "binary", "kfold:2", out_dir=tmp_path, progress=False)
        assert len(calls) == 2
        monkeypatch.setattr(protocol, "source_digest", lambda: "other-code")
        run_protocol(moved, "logreg", "binary", "kfold:2", out_dir=tmp_path, progress=False)
        assert len(calls) == 4
        run_protocol(moved, "logreg", "binary", "kfold:2", out_dir=tmp_path, progress=False)
        assert len(calls) == 4  # same data, same code: reused
        assert len(list(tmp_path.glob("predictions/logreg-*"))) == 3

    def test_feature_worker_processes_give_the_same_results(self, tmp_path):
        """Folds fitted in 2 worker processes: the same predictions as one process, every fold
        saved (a rerun refits nothing)."""
        from geopain.evaluation import run_protocol

        seqs = cohort("human", n_subjects=4, seqs=2, frames=12)
        one = run_protocol(seqs, ["logreg", "wgnn"], "binary", "kfold:2", progress=False, **FAST)
        two = run_protocol(seqs, ["logreg", "wgnn"], "binary", "kfold:2", out_dir=tmp_path, progress=False,
                           workers=2, **FAST)
        for name in ("logreg", "wgnn"):
            a, b = one["predictions"][name], two["predictions"][name]
            a, b = (d.sort_values(["subject", "sequence", "frame"]).reset_index(drop=True) for d in (a, b))
            np.testing.assert_allclose(a[["p_0", "p_1"]].to_numpy(), b[["p_0", "p_1"]].to_numpy(), atol=1e-6)
        assert len(list(tmp_path.glob("predictions/*/fold*.parquet"))) == 4

    @pytest.mark.parametrize("species,task", [("sheep", "levels"), ("human", "score")])
    def test_species_and_tasks(self, species, task):
        from geopain.evaluation import run_protocol

        seqs = cohort(species, n_subjects=3, seqs=2, frames=12)
        res = run_protocol(seqs, "gboost", task, "loso", progress=False, model_params={"max_iter": 10})
        pooled = res["models"]["gboost"]["frame"]["pooled"]
        key = "mae" if task == "score" else "mae_level"
        assert np.isfinite(pooled[key])
        assert res["species"] == species and len(res["folds"]) == 3
        if task == "score":
            assert res["scale"]["range"] == [0.0, 16.0]

    def test_failed_fold_is_reported_not_fatal(self):
        from geopain.evaluation import run_protocol

        seqs = cohort("human", n_subjects=3, seqs=2, frames=12)
        # S01 and S02 without pain: the fold testing S03 trains on one class only
        for i in (0, 1, 2, 3):
            seqs[i] = seqs[i].with_coords(seqs[i].coords, labels={**seqs[i].labels, "pain": np.zeros(12)})
        res = run_protocol(seqs, "logreg", "binary", "loso", progress=False)
        assert len(res["models"]["logreg"]["frame"]["folds"]) == 2
        assert len(res["models"]["logreg"]["errors"]) == 1 and "one class" in res["models"]["logreg"]["errors"][0]

    def test_bad_inputs(self):
        from geopain.evaluation import run_protocol

        seqs = cohort("human", n_subjects=3, seqs=1, frames=8)
        with pytest.raises(GeopainError, match="unknown model"):
            run_protocol(seqs, "nope", "binary", "loso", progress=False)
        with pytest.raises(GeopainError, match="task"):
            run_protocol(seqs, "logreg", "pain", "loso", progress=False)
        with pytest.raises(GeopainError, match="no sequences"):
            run_protocol([], "logreg", "binary", "loso", progress=False)
