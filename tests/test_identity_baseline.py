"""Subject-wise standardisation of the geometry (``baseline="subject-median"``)."""
import numpy as np
import pytest

from geopain.errors import GeopainError
from geopain.geometry.baseline import neutral_shape
from geopain.models import PainEstimator
from geopain.species import get_scheme
from geopain.synth import simulate


class TestNeutralShapeMedian:
    def test_median_of_all_frames_with_a_face(self):
        rng = np.random.default_rng(0)
        c = rng.normal(size=(9, 5, 3))
        c[4] = np.nan  # a frame without a face is left out
        np.testing.assert_allclose(neutral_shape(c, method="median"), np.median(np.delete(c, 4, 0), 0))

    def test_ignores_scores(self):
        c = np.random.default_rng(1).normal(size=(6, 4, 3))
        np.testing.assert_allclose(neutral_shape(c, np.arange(6.0), method="median"), neutral_shape(c, method="median"))

    def test_unknown_method(self):
        with pytest.raises(GeopainError, match="median"):
            neutral_shape(np.zeros((3, 4, 3)), method="mean")


class TestEstimatorSubjectMedian:
    def test_each_subject_median_becomes_the_template(self):
        seqs = simulate("human", n_subjects=3, sequences_per_subject=2, frames=12, seed=3)
        est = PainEstimator(model="logreg", baseline="subject-median")
        coords, _ = est._normalise(seqs)
        subjects = np.concatenate([[s.subject] * s.n_frames for s in seqs])
        template = get_scheme(seqs[0].scheme).template
        for subject in np.unique(subjects):
            med = np.nanmedian(coords[subjects == subject], 0)
            ok = np.isfinite(med).all(1)
            np.testing.assert_allclose(med[ok], template[ok], atol=1e-4)
        # without it, subjects keep their own face shapes
        raw, _ = PainEstimator(model="logreg")._normalise(seqs)
        assert np.nanmax(np.abs(np.nanmedian(raw[subjects == "S01"], 0) - template)) > 0.05

    def test_rejects_unknown_baseline(self):
        seqs = simulate("human", n_subjects=2, sequences_per_subject=1, frames=6, seed=0)
        with pytest.raises(GeopainError, match="baseline"):
            PainEstimator(model="logreg", baseline="lowest").fit(seqs)
