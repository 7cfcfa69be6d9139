"""Co-movement, spatio-temporal clouds and sliding windows (geopain.graphs.temporal)."""
import numpy as np
import pytest

from geopain.errors import GeopainError, ShapeError
from geopain.graphs import comovement, sliding_windows, spatiotemporal_cloud


class TestComovement:
    def test_smoke(self):
        c = np.zeros((5, 3, 3), np.float32)
        out = comovement(c, np.array([[0, 1], [1, 2]]), np.zeros((3, 3)))
        assert out.shape == (5, 2) and np.isnan(out.numpy()).all()  # nothing moves: undefined

    def test_exception(self):
        with pytest.raises(ShapeError):
            comovement(np.zeros((5, 3, 2)), np.array([[0, 1]]), np.zeros((3, 3)))
        with pytest.raises(GeopainError, match="window"):
            comovement(np.zeros((5, 3, 3)), np.array([[0, 1]]), np.zeros((3, 3)), window=0)

    def test_together_and_apart(self):
        T = 8
        c = np.zeros((T, 3, 3), np.float32)
        t = np.linspace(0, 1, T)
        c[:, 0, 1] = t  # point 0 up
        c[:, 1, 1] = 2 * t  # point 1 up: same direction
        c[:, 2, 1] = -t  # point 2 down: opposite
        out = comovement(c, np.array([[0, 1], [0, 2]]), np.zeros((3, 3)), window=3).numpy()
        np.testing.assert_allclose(out[1:, 0], 1.0, atol=1e-5)
        np.testing.assert_allclose(out[1:, 1], -1.0, atol=1e-5)


class TestSpatiotemporalCloud:
    def test_smoke(self):
        cloud = spatiotemporal_cloud(np.zeros((4, 5, 3)), np.arange(4) / 25)
        assert cloud.shape == (20, 4)

    def test_exception(self):
        with pytest.raises(ShapeError, match="timestamps"):
            spatiotemporal_cloud(np.zeros((4, 5, 3)), np.arange(3))

    def test_time_coordinate_and_missing(self):
        c = np.random.default_rng(0).normal(size=(3, 4, 3))
        c[1, 2] = np.nan
        cloud = spatiotemporal_cloud(c, np.array([0.0, np.nan, 0.5]), time_scale=10)
        np.testing.assert_allclose(cloud[:, 3].reshape(3, 4), [[0] * 4, [10] * 4, [5] * 4])  # NaN time -> frame index (s)
        np.testing.assert_allclose(cloud[4:8, :3], c[1], equal_nan=True)
        assert spatiotemporal_cloud(c, np.arange(3.0), drop_missing=True).shape == (11, 4)


class TestSlidingWindows:
    def test_smoke(self):
        w = sliding_windows(10, 4, 2)
        assert w.shape == (4, 4) and w[0].tolist() == [0, 1, 2, 3]

    def test_exception(self):
        with pytest.raises(GeopainError):
            sliding_windows(10, 0)
        with pytest.raises(ShapeError):
            sliding_windows(-1, 3)

    def test_covers_end_and_short_sequences(self):
        w = sliding_windows(11, 4, 3)
        assert w[-1].tolist() == [7, 8, 9, 10] and np.unique(w).tolist() == list(range(11))
        assert sliding_windows(11, 4, 3, cover_end=False)[-1].tolist() == [6, 7, 8, 9]
        assert sliding_windows(2, 4).tolist() == [[0, 1, 1, 1]]
        assert sliding_windows(0, 4).shape == (0, 4)
