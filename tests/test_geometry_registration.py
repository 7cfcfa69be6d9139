"""open3d registration without correspondences and normals (geopain.geometry.registration)."""
import numpy as np
import pytest

pytest.importorskip("open3d")

from geopain.errors import ShapeError  # noqa: E402
from geopain.geometry.align import rotation_from_angles  # noqa: E402
from geopain.geometry.registration import (estimate_normals, icp_register, mesh_normals,  # noqa: E402
                                           ransac_register, to_open3d_mesh)
from geopain.graphs import template_triangles  # noqa: E402
from geopain.species import get_scheme  # noqa: E402


@pytest.fixture(scope="module")
def mp():
    return get_scheme("human/mediapipe468")


def shuffled_posed(template, yaw, pitch, roll, scale=2.0, seed=0):
    R = rotation_from_angles(yaw, pitch, roll)[0]
    rng = np.random.default_rng(seed)
    return (scale * template @ R.T + np.array([3.0, 1.0, -2.0]))[rng.permutation(len(template))]


class TestIcpRegister:
    def test_recovers_pose_without_correspondences(self, mp):
        src = shuffled_posed(mp.template, 20, -10, 5)
        tf, info = icp_register(src, mp.template)
        assert info["fitness"] > 0.99 and info["inlier_rmse"] < 1e-3
        np.testing.assert_allclose(1 / tf.scale, 2.0, rtol=1e-3)
        np.testing.assert_allclose(tf.pose[0], [20, -10, 5], atol=0.1)

    def test_exception(self, mp):
        with pytest.raises(ShapeError):
            icp_register(np.zeros((5, 2)), mp.template)
        with pytest.raises(ShapeError, match="at least 3"):
            icp_register(np.full((5, 3), np.nan), mp.template)


class TestRansacRegister:
    def test_large_rotation(self, mp):
        src = shuffled_posed(mp.template, 110, 40, -30, seed=1)
        tf, info = ransac_register(src, mp.template)
        aligned = tf.apply(src[None])[0]
        d = np.linalg.norm(aligned[:, None] - mp.template[None], axis=-1).min(1)
        assert d.max() < 0.01 and info["fitness"] > 0.99


class TestNormals:
    def test_mesh_and_knn_normals_agree(self, mp):
        tri = template_triangles(mp)
        n = mesh_normals(mp.template[None].repeat(2, 0), tri)
        assert n.shape == (2, 468, 3) and np.isfinite(n).all()
        np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-6)
        assert n[0, 1, 2] > 0.9  # nose tip faces the viewer
        knn = estimate_normals(mp.template)
        assert np.median((n[0] * knn).sum(-1)) > 0.95
        mesh = to_open3d_mesh(mp.template, tri)
        np.testing.assert_allclose(np.asarray(mesh.vertex_normals), n[0], atol=1e-6)

    def test_rotates_with_the_face(self, mp):
        tri = template_triangles(mp)
        R = rotation_from_angles(30, 0, 0)[0]
        n0 = mesh_normals(mp.template, tri)[0]
        n1 = mesh_normals(mp.template @ R.T, tri)[0]
        np.testing.assert_allclose(n1, n0 @ R.T, atol=1e-6)

    def test_exception(self, mp):
        with pytest.raises(ShapeError, match="triangles"):
            mesh_normals(mp.template, np.array([[0, 1, 999]]))
