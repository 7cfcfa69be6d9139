"""Subject-wise standardisation of the geometry (``reference="subject-median"``)."""
import numpy as np
import pytest

from geopain.errors import GeopainError
from geopain.geometry.neutral import neutral_shape


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
