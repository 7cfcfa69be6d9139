"""Similarity alignment and head pose (geopain.geometry.align)."""
import numpy as np
import pytest

from geopain.errors import ShapeError
from geopain.geometry.align import SimilarityTransform, pose_angles, rotation_from_angles, similarity_align
from geopain.species import get_scheme


@pytest.fixture(scope="module")
def template():
    return get_scheme("human/ibug68").template


def posed(template, yaw, pitch, roll, scale, shift, noise=0.0, seed=0):
    """Frames ``scale * R_head @ template + shift`` (template -> observed)."""
    R = rotation_from_angles(yaw, pitch, roll)
    rng = np.random.default_rng(seed)
    out = scale[:, None, None] * np.einsum("fij,nj->fni", R, template) + shift[:, None, :]
    return out + rng.normal(0, noise, out.shape)


class TestSimilarityAlign:
    def test_smoke(self, template):
        tf = similarity_align(template[None].repeat(4, 0), template)
        assert isinstance(tf, SimilarityTransform)
        assert tf.rotation.shape == (4, 3, 3) and tf.scale.shape == (4,) and tf.translation.shape == (4, 3)
        np.testing.assert_allclose(tf.rotation, np.broadcast_to(np.eye(3), (4, 3, 3)), atol=1e-5)
        np.testing.assert_allclose(tf.scale, 1.0, atol=1e-5)

    def test_shape_errors(self, template):
        with pytest.raises(ShapeError, match="source"):
            similarity_align(np.zeros((2, 68, 2)), template)
        with pytest.raises(ShapeError, match="target"):
            similarity_align(np.zeros((2, 68, 3)), template[:10])
        with pytest.raises(ShapeError, match="weights"):
            similarity_align(np.zeros((2, 68, 3)), template, weights=np.ones((3, 68)))
        with pytest.raises(ShapeError, match="non-negative"):
            similarity_align(template[None], template, weights=-np.ones((1, 68)))

    def test_recovers_transform_and_pose_with_noise_and_missing(self, template):
        rng = np.random.default_rng(1)
        F = 64
        yaw, pitch, roll = rng.uniform(-60, 60, F), rng.uniform(-40, 40, F), rng.uniform(-30, 30, F)
        scale = rng.uniform(0.5, 40, F)
        shift = rng.normal(0, 100, (F, 3))
        obs = posed(template, yaw, pitch, roll, scale, shift, noise=0.0)
        obs = obs + rng.normal(0, 0.01, obs.shape) * scale[:, None, None]  # 0.1 mm noise in face units
        obs[rng.random(obs.shape[:2]) < 0.2] = np.nan  # 20 % missing points
        tf = similarity_align(obs, template)
        np.testing.assert_allclose(1 / tf.scale, scale, rtol=2e-3)
        np.testing.assert_allclose(tf.pose, np.stack([yaw, pitch, roll], 1), atol=0.3)
        aligned = tf.apply(obs)
        err = np.nanmax(np.abs(aligned - template))
        assert err < 0.06
        assert np.isnan(aligned).sum() == np.isnan(obs).sum()  # missing stay missing

    def test_reflection_safe(self, template):
        mirrored = template * np.array([-1.0, 1.0, 1.0])
        tf = similarity_align(mirrored[None], template)
        np.testing.assert_allclose(np.linalg.det(tf.rotation), 1.0, atol=1e-6)

    def test_confidence_weights_ignore_outlier(self, template):
        obs = template[None].copy()
        obs[0, 30] += 50.0  # one wild point
        w = np.ones((1, 68))
        w[0, 30] = 0.0
        tf = similarity_align(obs, template, weights=w)
        np.testing.assert_allclose(tf.scale, 1.0, atol=1e-6)
        np.testing.assert_allclose(tf.rmsd, 0.0, atol=2e-3)  # closed form, float32 sums
        unweighted = similarity_align(obs, template)
        assert unweighted.rmsd[0] > 0.1

    def test_too_few_points_gives_nan(self, template):
        obs = np.full((2, 68, 3), np.nan)
        obs[0] = template
        obs[1, :2] = template[:2]
        tf = similarity_align(obs, template)
        assert np.isfinite(tf.scale[0]) and np.isnan(tf.scale[1]) and np.isnan(tf.rotation[1]).all()

    def test_rigid_keeps_scale(self, template):
        obs = posed(template, np.array([10.0]), np.array([0.0]), np.array([0.0]), np.array([2.0]), np.zeros((1, 3)))
        tf = similarity_align(obs, template, scale=False)
        assert tf.scale[0] == 1.0
        np.testing.assert_allclose(tf.pose[0, 0], 10.0, atol=1e-4)

    def test_inverse(self, template):
        obs = posed(template, np.array([20.0]), np.array([-5.0]), np.array([3.0]), np.array([7.0]), np.ones((1, 3)))
        tf = similarity_align(obs, template)
        back = tf.inverse().apply(template[None].astype(np.float64))
        np.testing.assert_allclose(back, obs, atol=1e-3)


class TestPoseAngles:
    def test_smoke(self):
        assert pose_angles(np.eye(3)).shape == (1, 3)

    def test_shape_error(self):
        with pytest.raises(ShapeError):
            pose_angles(np.zeros((2, 2, 2)))

    def test_round_trip(self):
        rng = np.random.default_rng(0)
        ang = np.stack([rng.uniform(-85, 85, 50), rng.uniform(-170, 170, 50), rng.uniform(-170, 170, 50)], 1)
        R = rotation_from_angles(*ang.T)
        np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-9)
        np.testing.assert_allclose(pose_angles(R), ang, atol=1e-6)

    def test_conventions(self):
        nose = np.array([0.0, 0.0, 1.0])  # the face looks along +z
        # positive yaw turns the face toward the subject's left (+x)
        assert (rotation_from_angles(30, 0, 0)[0] @ nose)[0] > 0.4
        # positive pitch looks down (-y)
        assert (rotation_from_angles(0, 30, 0)[0] @ nose)[1] < -0.4
        # positive roll lifts the subject's left side (+x -> +y)
        assert (rotation_from_angles(0, 0, 30)[0] @ np.array([1.0, 0, 0]))[1] > 0.4
