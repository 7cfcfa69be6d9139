"""The fused geometry kernels (geopain.geometry.kernels) against the batched-numpy reference.

The reference (tests/_geometry_reference.py) is geopain's previous implementation: one
float32 batched SVD per frame (weighted Umeyama), numpy gathers for measurements and edges.
Parity: aligned coordinates, scale, rotation, translation within 1e-5 (relative to the
coordinates' size where the reference itself works in float32), measurements and edge
attributes within 1e-5; the fit residual is checked against an exact float64 residual,
because the reference's closed-form float32 residual is the less accurate of the two.
"""
import numpy as np
import pytest

from _geometry_reference import reference_align, reference_edge_geometry, reference_measure
from geopain.errors import ShapeError
from geopain.geometry import kernels
from geopain.geometry.align import align_frames, rotation_from_angles, similarity_align
from geopain.geometry.measure import compile_measurements, measure_array
from geopain.graphs.arrays import edge_geometry, fill_missing
from geopain.species import get_scheme


@pytest.fixture(scope="module")
def human():
    return get_scheme("human/ibug68")


def posed(template, F, seed=0, noise=0.05, missing=0.05, spread=100.0):
    """Frames ``s R T + t + noise`` with random pose, scale and missing points (float32)."""
    rng = np.random.default_rng(seed)
    R = rotation_from_angles(rng.uniform(-60, 60, F), rng.uniform(-40, 40, F), rng.uniform(-30, 30, F))
    s = rng.uniform(5, 30, F)
    X = (s[:, None, None] * np.einsum("fij,nj->fni", R, template) + rng.normal(0, spread, (F, 1, 3))
         + rng.normal(0, noise, (F, len(template), 3)) * s[:, None, None]).astype(np.float32)
    X[rng.random(X.shape[:2]) < missing] = np.nan
    return X


def exact_rmsd(tf, X, T, w=None):
    """The weighted residual of each frame's fitted transform, in float64."""
    valid = np.isfinite(X).all(-1)
    wv = valid.astype(float) if w is None else np.where(valid, np.nan_to_num(w, nan=1.0), 0.0)
    r2 = ((tf.apply(np.nan_to_num(X.astype(np.float64))) - T) ** 2).sum(-1)
    return np.sqrt((wv * r2).sum(1) / wv.sum(1))


def assert_fit_parity(X, T, w=None, check_rotation=True):
    tf, aligned = align_frames(X, T, w)
    ref_tf, ref_aligned = reference_align(X, T, w)
    size = np.nanmax(np.abs(T))
    np.testing.assert_array_equal(np.isnan(aligned), np.isnan(ref_aligned))
    np.testing.assert_allclose(aligned, ref_aligned, rtol=0, atol=1e-5 * size)
    np.testing.assert_allclose(tf.scale, ref_tf.scale, rtol=1e-5)
    if check_rotation:
        np.testing.assert_allclose(tf.rotation, ref_tf.rotation, atol=1e-5)
        np.testing.assert_allclose(tf.translation, ref_tf.translation, rtol=1e-5, atol=1e-5 * size)
    ok = np.isfinite(tf.scale)
    # the closed-form residual resolves down to ~sqrt(eps) of the spread
    np.testing.assert_allclose(tf.rmsd[ok], exact_rmsd(tf, X, T, w)[ok], rtol=1e-6, atol=1e-6 * size)
    return tf, aligned


class TestAlignKernel:
    def test_smoke(self, human):
        X = posed(human.template, 8)
        tf, aligned = align_frames(X, human.template)
        assert aligned.dtype == np.float32 and aligned.shape == X.shape
        assert tf.rotation.shape == (8, 3, 3) and tf.scale.shape == (8,) and tf.rmsd.shape == (8,)
        np.testing.assert_allclose(np.linalg.det(tf.rotation), 1.0, atol=1e-9)

    def test_exceptions(self, human):
        X = posed(human.template, 2, missing=0)
        with pytest.raises(ShapeError, match="non-negative"):
            align_frames(X, human.template, -np.ones((2, 68)))
        with pytest.raises(ShapeError, match="target"):
            align_frames(X, np.full((68, 3), np.nan))

    def test_parity_random(self, human):
        X = posed(human.template, 500, seed=1)
        assert_fit_parity(X, human.template)

    def test_parity_weights_with_nan_and_zero(self, human):
        X = posed(human.template, 300, seed=2)
        w = np.random.default_rng(3).uniform(0, 1, X.shape[:2]).astype(np.float32)
        w[:, :5] = np.nan  # NaN counts as 1
        w[:, 5:9] = 0.0
        assert_fit_parity(X, human.template, w)

    def test_parity_468_points(self):
        T = get_scheme("human/mediapipe468").template
        assert_fit_parity(posed(T, 100, seed=4), T)

    def test_reflections(self, human):
        # mirror images: the best proper rotation, not the mirror (det +1), same as the reference
        X = posed(human.template, 200, seed=5, missing=0) * np.float32([-1, 1, 1])
        tf, _ = assert_fit_parity(X, human.template)
        np.testing.assert_allclose(np.linalg.det(tf.rotation), 1.0, atol=1e-9)

    def test_nan_frames_and_too_few_points(self, human):
        X = posed(human.template, 6, seed=6, missing=0)
        X[1] = np.nan  # no points
        X[2, 2:] = np.nan  # two points
        X[3, :] = X[3, :1]  # all points coincide: no scale (the float32 reference fits rounding noise)
        tf, aligned = align_frames(X, human.template)
        ref_tf, _ = reference_align(X, human.template)
        np.testing.assert_array_equal(np.isnan(tf.scale[:3]), np.isnan(ref_tf.scale[:3]))
        assert np.isnan(tf.scale[[1, 2, 3]]).all() and np.isfinite(tf.scale[[0, 4, 5]]).all()
        assert np.isnan(aligned[[1, 2, 3]]).all() and np.isnan(tf.rotation[[1, 2, 3]]).all()
        assert_fit_parity(X[[0, 4, 5]], human.template)

    def test_collinear_points(self, human):
        # points on one line: the rotation about the line is free (any optimal one is right),
        # the aligned points, scale and residual are determined and match the reference
        rng = np.random.default_rng(7)
        T = human.template
        d = rng.normal(size=(4, 3))
        X = (rng.normal(size=(4, 68, 1)) * d[:, None, :] + rng.normal(size=(4, 1, 3))).astype(np.float32)
        tf, aligned = assert_fit_parity(X, T, check_rotation=False)
        np.testing.assert_allclose(np.linalg.det(tf.rotation), 1.0, atol=1e-9)
        np.testing.assert_allclose(tf.rotation @ np.swapaxes(tf.rotation, 1, 2), np.broadcast_to(np.eye(3), (4, 3, 3)),
                                   atol=1e-9)
        # collinear target too: a repeated top eigenvalue takes the Jacobi path
        line = np.linspace(-1, 1, 68)[:, None] * np.array([1.0, 2.0, -0.5])
        Y = (2.0 * line @ rotation_from_angles(20, 10, 5)[0].T + 3.0).astype(np.float32)[None]
        tf2, al2 = assert_fit_parity(Y, line, check_rotation=False)
        np.testing.assert_allclose(al2[0], line, atol=1e-5)

    def test_planar_points_rigid(self, human):
        X = posed(human.template, 50, seed=8, missing=0.1)
        X[..., 2] = 0.0  # flat faces: rank-2 covariance, a unique proper rotation
        tf, aligned = align_frames(X, human.template, scale=False)
        ref_tf, ref_aligned = reference_align(X, human.template, scale=False)
        np.testing.assert_allclose(tf.scale, 1.0)
        np.testing.assert_allclose(aligned, ref_aligned, atol=1e-5 * np.abs(X[np.isfinite(X)]).max())

    def test_feature_recovers_transform(self, human):
        rng = np.random.default_rng(9)
        R = rotation_from_angles(30, -20, 10)[0]
        X = (7.0 * human.template @ R.T + rng.normal(0, 50, 3)).astype(np.float32)
        tf = similarity_align(X, human.template)
        np.testing.assert_allclose(tf.rotation[0], R.T, atol=1e-5)
        np.testing.assert_allclose(tf.scale[0], 1 / 7.0, rtol=1e-5)

    def test_horn_eigenvalue(self):
        # the Newton root is the top eigenvalue of Horn's matrix: the trace of the optimal R^T S^T
        rng = np.random.default_rng(10)
        for _ in range(20):
            S = rng.normal(size=(3, 3))
            R = np.empty((1, 3, 3))
            lam = kernels.horn_rotation(*S.ravel(), float(np.abs(np.linalg.svd(S)[1]).sum()) + 1.0, R, 0)
            U, sv, Vt = np.linalg.svd(S.T)
            d = np.sign(np.linalg.det(U @ Vt))
            assert lam == pytest.approx(sv[0] + sv[1] + d * sv[2], rel=1e-10)
            np.testing.assert_allclose(R[0], U @ np.diag([1, 1, d]) @ Vt, atol=1e-8)


class TestMeasureKernel:
    @pytest.mark.parametrize("key", ["human/ibug68", "human/mediapipe468", "sheep/spfes"])
    def test_parity(self, key):
        sch = get_scheme(key)
        X = posed(sch.template, 200, seed=11, missing=0.05, spread=0.0) / np.float32(10)
        np.testing.assert_allclose(measure_array(X, sch), reference_measure(X, compile_measurements(sch)),
                                   rtol=1e-5, atol=1e-5)

    def test_nan_and_degenerate(self, human):
        X = np.repeat(human.template[None].astype(np.float32), 3, 0)
        X[1, 0] = np.nan
        X[2] = 0.0  # every distance 0: reference distance 0 -> NaN where it divides
        out = measure_array(X, human)
        ref = reference_measure(X, compile_measurements(human))
        np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)

    def test_shape_error(self, human):
        with pytest.raises(ShapeError):
            measure_array(np.zeros((2, 10, 3)), human)


class TestEdgeKernel:
    def test_parity(self, human):
        from geopain.graphs.transforms import template_edges

        edges = template_edges(human, knn=3)
        X = posed(human.template, 100, seed=12, missing=0.1, spread=0.0) / np.float32(10)
        pos, ref, mask = fill_missing(X, human.template)
        attr, ok = edge_geometry(pos, ref, mask, edges, human.reference_pair)
        rattr, rok = reference_edge_geometry(pos, ref, mask, edges[:, 0], edges[:, 1], human.reference_pair)
        np.testing.assert_array_equal(ok, rok)
        np.testing.assert_allclose(attr, rattr, rtol=1e-5, atol=1e-5)
        # per-frame references (a subject's neutral shape per frame)
        refs = np.repeat(human.template[None], 100, 0).astype(np.float32) * np.float32(1.1)
        attr2, _ = edge_geometry(pos, refs, mask, edges, human.reference_pair)
        rattr2, _ = reference_edge_geometry(pos, refs, mask, edges[:, 0], edges[:, 1], human.reference_pair)
        np.testing.assert_allclose(attr2, rattr2, rtol=1e-5, atol=1e-5)
