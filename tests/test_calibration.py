"""Temperature scaling fitted on held-out subjects: it reduces calibration error, is stored with
the model, and is applied by predict_proba."""
from __future__ import annotations

import functools

import numpy as np
import pytest

from _models_helpers import cohort
from geopain.evaluation.metrics import expected_calibration_error
from geopain.models import PainEstimator
from geopain.models.calibration import apply_temperature, fit_calibration, fit_temperature


def _overconfident(n: int, seed: int, sharpen: float = 4.0):
    """Labels drawn from true probabilities, and an over-confident model's probabilities of them."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(0, 1.5, n)
    p = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < p).astype(float)
    q = 1 / (1 + np.exp(-sharpen * logit))
    return np.c_[1 - q, q], y


class TestApplyTemperature:
    def test_identity_and_rows_sum_to_one(self):
        p = np.array([[0.9, 0.1], [0.3, 0.7], [np.nan, np.nan]])
        assert apply_temperature(p, 1.0) is p
        q = apply_temperature(p, 2.0)
        np.testing.assert_allclose(q[:2].sum(1), 1.0)
        assert np.isnan(q[2]).all()
        assert 0.5 < q[0, 0] < 0.9 and 0.5 < q[1, 1] < 0.7  # softer, same side

    def test_softmax_equivalence(self):
        z = np.array([[2.0, -1.0, 0.5]])
        p = np.exp(z) / np.exp(z).sum()
        t = 3.0
        expected = np.exp(z / t) / np.exp(z / t).sum()
        np.testing.assert_allclose(apply_temperature(p, t), expected, rtol=1e-10)


class TestFitTemperature:
    def test_reduces_ece_of_an_overconfident_model(self):
        p_fit, y_fit = _overconfident(4000, 0)
        p_test, y_test = _overconfident(4000, 1)
        t = fit_temperature(p_fit, y_fit)
        assert t == pytest.approx(4.0, rel=0.15)  # it undoes the sharpening
        before = expected_calibration_error(y_test, p_test)
        after = expected_calibration_error(y_test, apply_temperature(p_test, t))
        assert before > 0.08 and after < 0.03 and after < before / 3

    def test_ignores_nan_rows(self):
        p, y = _overconfident(500, 2)
        p[:10] = np.nan
        assert np.isfinite(fit_temperature(p, y))


@functools.lru_cache(maxsize=None)
def _logreg(C: float):
    return PainEstimator("logreg", model_params={"C": C}, val_fraction=0.25).fit(cohort("human", 8, 2, 16, seed=3))


class TestEstimatorCalibration:
    def test_fitted_on_held_out_subjects_and_applied(self):
        est = _logreg(1e4)  # weakly regularised: over-confident
        cal = est.calibration_
        assert cal["method"] == "temperature" and len(cal["subjects"]) == 8  # out-of-fold: every training subject
        assert cal["nll_after"] <= cal["nll_before"]
        test = cohort("human", 8, 2, 16, seed=4)
        p = est.predict_proba(test)
        est_raw = est.temperature_
        try:
            est.temperature_ = 1.0
            raw = est.predict_proba(test)
        finally:
            est.temperature_ = est_raw
        np.testing.assert_allclose(apply_temperature(raw, est_raw), p, atol=1e-12)

    def test_reduces_ece_of_an_overconfident_model(self):
        """A deliberately over-confident model (temperature 0.2 on top of its own): the temperature
        refitted on held-out subjects brings the ECE of new subjects down."""
        est = _logreg(1e4)
        train = cohort("human", 8, 2, 16, seed=3)
        test = cohort("human", 8, 2, 16, seed=4)
        keep = est.temperature_, est.calibration_
        try:
            est.temperature_ = 1.0
            base = est.predict_proba(test)
            over = apply_temperature(base, 0.2)
            y = np.concatenate([s.labels["pain"] for s in test])
            ece_over = expected_calibration_error(y, over)
            # what fit time does, on the over-confident model's held-out probabilities
            from geopain.evaluation.splits import group_kfold

            fold = group_kfold(sorted({s.subject for s in train}), k=4, seed=0)[0]
            held = [s for s in test if s.subject in fold.test_subjects]
            ph = apply_temperature(est.predict_proba(held), 0.2)
            yh = np.concatenate([s.labels["pain"] for s in held])
            t = fit_temperature(ph, yh)
            ece_cal = expected_calibration_error(y, apply_temperature(over, t))
        finally:
            est.temperature_, est.calibration_ = keep
        assert t > 2.0 and ece_cal < ece_over

    def test_saved_and_loaded(self, tmp_path):
        est = _logreg(1e4)
        est.save(tmp_path / "m")
        back = PainEstimator.load(tmp_path / "m")
        assert back.temperature_ == pytest.approx(est.temperature_)
        assert back.calibration_["subjects"] == est.calibration_["subjects"]
        test = cohort("human", 8, 2, 16, seed=4)
        np.testing.assert_allclose(back.predict_proba(test), est.predict_proba(test), atol=1e-12)

    def test_scores_are_not_calibrated(self):
        est = PainEstimator("logreg", task="score").fit(cohort("human", 4, 2, 12))
        assert est.calibration_["method"] == "none" and est.temperature_ == 1.0

    def test_too_few_subjects_says_why(self):
        est = PainEstimator("logreg")
        est.fit(cohort("human", 4, 2, 12)[:4])  # 2 subjects
        rec = fit_calibration(est, cohort("human", 4, 2, 12)[:4])
        assert rec["method"] == "none" and "too few" in rec["note"] and est.temperature_ == 1.0

    def test_network_fit_time_inputs_give_the_same_calibration_and_abstention(self):
        """At fit time the network's scaled inputs are reused; recomputing them from the
        sequences (what a refit of the calibration does) gives the same temperature and
        out-of-distribution threshold."""
        from geopain.models.abstention import fit_abstention
        from geopain.training import subject_validation_split

        train = cohort("human", 8, 2, 16, seed=3)
        est = PainEstimator("pointnet", epochs=3, val_fraction=0.25, augment=False).fit(train)
        t_fit, ood_fit = est.temperature_, est.abstention_["ood_threshold"]
        seqs = est._in_scheme(train)
        index, _ = est._samples(seqs)
        groups = np.concatenate([[s.subject] * s.n_frames for s in seqs])[index]
        y = np.concatenate([s.labels["pain"] for s in seqs])[index]
        fit_calibration(est, seqs, index, groups, y, y.astype(int))
        assert est.calibration_["method"] == "temperature"
        assert est.temperature_ == pytest.approx(t_fit, rel=1e-6)
        _, va = subject_validation_split(groups, est.val_fraction, est.seed, y.astype(int))
        fit_abstention(est, seqs, index, index[va])
        assert est.abstention_["ood_threshold"] == pytest.approx(ood_fit, rel=1e-6)
