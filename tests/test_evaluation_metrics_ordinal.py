"""Ordinal (five-level) metrics, Cohen's kappa and calibration: agree with scikit-learn, NaN-safe."""
from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics as skm

from geopain.errors import ShapeError
from geopain.evaluation import metrics as M

RNG = np.random.default_rng(7)
Y5 = RNG.integers(0, 5, 400)
YH5 = np.clip(Y5 + RNG.integers(-1, 2, 400), 0, 4)


def _proba5(pred: np.ndarray, rng=RNG) -> np.ndarray:
    p = np.eye(5)[pred] * 0.6 + rng.random((len(pred), 5)) * 0.3
    return p / p.sum(1, keepdims=True)


class TestCohenKappa:
    def test_smoke(self):
        k = M.cohen_kappa(Y5, YH5, 5)
        q = M.cohen_kappa(Y5, YH5, 5, weights="quadratic")
        assert -1 <= k <= 1 and -1 <= q <= 1

    def test_edge_cases(self):
        assert np.isnan(M.cohen_kappa([], [], 5))
        assert np.isnan(M.cohen_kappa([2, 2, 2], [2, 2, 2], 5, weights="quadratic"))  # one class: undefined
        with pytest.raises(ShapeError):
            M.cohen_kappa([0, 1], [0, 1, 2], 5)

    def test_matches_sklearn_and_perfect_agreement(self):
        # a hand-checkable example: QWK of [0,1,2,3,4] vs [0,2,2,3,3]
        t, p = np.array([0, 1, 2, 3, 4, 4, 1]), np.array([0, 2, 2, 3, 3, 4, 0])
        expected = skm.cohen_kappa_score(t, p, weights="quadratic", labels=range(5))
        assert M.cohen_kappa(t, p, 5, "quadratic") == pytest.approx(expected)
        assert M.cohen_kappa(Y5, YH5, 5, "quadratic") == pytest.approx(
            skm.cohen_kappa_score(Y5, YH5, weights="quadratic", labels=range(5)))
        assert M.cohen_kappa(Y5, YH5, 5) == pytest.approx(skm.cohen_kappa_score(Y5, YH5, labels=range(5)))
        assert M.cohen_kappa(Y5, Y5, 5, "quadratic") == pytest.approx(1.0)
        # an absent level (4 never occurs) is still a valid label: same as sklearn with labels=range(5)
        t4, p4 = np.array([0, 1, 2, 3, 3]), np.array([0, 1, 3, 3, 2])
        assert M.cohen_kappa(t4, p4, 5, "quadratic") == pytest.approx(
            skm.cohen_kappa_score(t4, p4, weights="quadratic", labels=range(5)))


class TestMulticlassOrdinal:
    def test_smoke_keys_kept_and_added(self):
        m = M.multiclass_metrics(Y5, YH5, 5, _proba5(YH5))
        for key in ("n", "accuracy", "balanced_accuracy", "f1_macro", "mae_level", "roc_auc", "recall_per_class",
                    "precision_per_class", "confusion_matrix", "recall_per_level", "qwk", "kappa", "ece"):
            assert key in m, key
        assert isinstance(m["confusion_matrix"], list) and isinstance(m["confusion_matrix"][0], list)
        assert set(M.task_metrics("levels", Y5, YH5, n_classes=5)) == set(m)
        assert "qwk" in M.HEADLINE["levels"]

    def test_absent_level_and_empty(self):
        t = np.array([0, 0, 1, 2, 2, 4])  # level 3 never occurs
        p = np.array([0, 1, 1, 2, 3, 4])
        m = M.multiclass_metrics(t, p, 5)
        assert np.isnan(m["recall_per_level"][3])
        assert m["recall_per_level"][0] == pytest.approx(0.5) and m["recall_per_level"][4] == 1.0
        assert np.isfinite(m["qwk"]) and np.isnan(m["ece"]) and np.isnan(m["roc_auc"])
        e = M.multiclass_metrics(np.zeros(0, int), np.zeros(0, int), 5, np.zeros((0, 5)))
        for key in ("accuracy", "balanced_accuracy", "mae_level", "qwk", "kappa", "ece", "roc_auc"):
            assert np.isnan(e[key]), key
        assert all(np.isnan(e["recall_per_level"]))

    def test_match_sklearn(self):
        proba = _proba5(YH5)
        m = M.task_metrics("levels", Y5, YH5, proba, n_classes=5)
        assert m["qwk"] == pytest.approx(skm.cohen_kappa_score(Y5, YH5, weights="quadratic", labels=range(5)))
        assert m["kappa"] == pytest.approx(skm.cohen_kappa_score(Y5, YH5, labels=range(5)))
        assert m["mae_level"] == pytest.approx(skm.mean_absolute_error(Y5, YH5))
        assert m["recall_per_level"] == pytest.approx(
            skm.recall_score(Y5, YH5, average=None, labels=range(5)).tolist())
        assert m["confusion_matrix"] == skm.confusion_matrix(Y5, YH5, labels=range(5)).tolist()
        assert m["ece"] == pytest.approx(M.expected_calibration_error(Y5, proba))
        perfect = M.multiclass_metrics(Y5, Y5, 5)
        assert perfect["qwk"] == pytest.approx(1.0) and perfect["kappa"] == pytest.approx(1.0)


class TestBinaryKappaAndEce:
    def test_smoke(self):
        y = RNG.integers(0, 2, 100)
        m = M.binary_metrics(y, y, np.where(y == 1, 0.9, 0.1))
        assert m["kappa"] == pytest.approx(1.0) and 0 <= m["ece"] <= 1

    def test_without_proba_and_one_class(self):
        m = M.binary_metrics(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]))
        assert np.isnan(m["ece"]) and np.isfinite(m["kappa"])
        one = M.binary_metrics(np.zeros(5, int), np.zeros(5, int), np.full(5, 0.2))
        assert np.isnan(one["kappa"]) and one["ece"] == pytest.approx(0.2)
        empty = M.binary_metrics(np.zeros(0, int), np.zeros(0, int), np.zeros(0))
        assert np.isnan(empty["kappa"]) and np.isnan(empty["ece"])

    def test_match_sklearn(self):
        y = RNG.integers(0, 2, 300)
        pr = np.clip(y * 0.3 + RNG.random(300) * 0.7, 0, 1)
        yh = (pr > 0.5).astype(int)
        m = M.binary_metrics(y, yh, np.stack([1 - pr, pr], 1))
        assert m["kappa"] == pytest.approx(skm.cohen_kappa_score(y, yh))
        assert m["ece"] == pytest.approx(M.expected_calibration_error(y, pr))


class TestExpectedCalibrationError:
    def test_smoke(self):
        y = RNG.integers(0, 2, 50)
        e = M.expected_calibration_error(y, RNG.random(50))
        assert 0 <= e <= 1

    def test_edge_cases(self):
        assert np.isnan(M.expected_calibration_error([], []))
        assert np.isnan(M.expected_calibration_error([], np.zeros((0, 5))))
        # non-finite probabilities are left out, not crashed on
        assert M.expected_calibration_error([1, 0, 1], [np.nan, 0.0, 1.0]) == pytest.approx(0.0)
        with pytest.raises(ShapeError):
            M.expected_calibration_error([0, 1], [0.2, 0.3, 0.4])
        with pytest.raises(ValueError):
            M.expected_calibration_error([0, 1], [0.2, 0.3], n_bins=0)

    def test_calibrated_vs_overconfident(self):
        # bin 0.25: 1 of 4 positive; bin 0.75: 3 of 4 positive -> perfectly calibrated
        y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
        p = np.array([0.25] * 4 + [0.75] * 4)
        assert M.expected_calibration_error(y, p) == pytest.approx(0.0)
        assert M.expected_calibration_error(y, np.stack([1 - p, p], 1)) == pytest.approx(0.0)
        # overconfident: says 0.95 but only half are positive
        y2 = np.array([1, 0] * 10)
        assert M.expected_calibration_error(y2, np.full(20, 0.95)) == pytest.approx(0.45)
        # multi-class: top-class confidence 0.9 but right only half the time
        t = np.array([0, 1, 2, 3] * 5)
        proba = np.full((20, 4), 0.1 / 3)
        pred = np.where(np.arange(20) % 2 == 0, t, (t + 1) % 4)
        proba[np.arange(20), pred] = 0.9
        assert M.expected_calibration_error(t, proba) == pytest.approx(0.4)


class TestReliabilityCurve:
    def test_smoke(self):
        c = M.reliability_curve(RNG.integers(0, 2, 64), RNG.random(64), n_bins=8)
        assert c["bin_edges"].shape == (9,) and c["count"].sum() == 64 and c["mode"] == "positive"
        assert c["predicted"].shape == c["observed"].shape == (8,)

    def test_empty_bins_nan(self):
        c = M.reliability_curve([0, 1, 1], [0.05, 0.95, 1.0], n_bins=10)
        assert c["count"].tolist() == [1] + [0] * 8 + [2]
        assert np.isnan(c["observed"][3]) and c["observed"][9] == 1.0
        e = M.reliability_curve([], [], n_bins=4)
        assert e["n"] == 0 and np.isnan(e["ece"]) and np.isnan(e["observed"]).all()

    def test_top_class_mode(self):
        proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
        c = M.reliability_curve([0, 1, 1], proba, n_bins=10)
        assert c["mode"] == "top-class"
        assert c["observed"][7] == 1.0 and c["observed"][8] == 0.0 and c["observed"][4] == 1.0
        assert c["ece"] == pytest.approx((0.3 + 0.8 + 0.6) / 3)


class TestAggregateWithOrdinal:
    def test_lists_skipped_scalars_kept(self):
        folds = [M.multiclass_metrics(Y5[i::2], YH5[i::2], 5, _proba5(YH5[i::2])) for i in range(2)]
        agg = M.aggregate(folds)
        for key in ("qwk", "kappa", "ece", "mae_level", "balanced_accuracy"):
            assert key in agg and agg[key]["n_defined"] == 2, key
        for key in ("confusion_matrix", "recall_per_level", "recall_per_class", "n"):
            assert key not in agg
        assert agg["qwk"]["mean"] == pytest.approx(np.mean([f["qwk"] for f in folds]))

    def test_nan_fold(self):
        a = M.multiclass_metrics(np.array([2, 2]), np.array([2, 2]), 5)  # qwk undefined
        b = M.multiclass_metrics(Y5, YH5, 5)
        agg = M.aggregate([a, b])
        assert agg["qwk"]["n_defined"] == 1 and agg["qwk"]["mean"] == pytest.approx(b["qwk"])
        assert M.aggregate([]) == {}
