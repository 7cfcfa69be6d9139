"""Normalisation (3D, 2D weak perspective, image axes) and neutral baselining."""
import numpy as np
import pytest

from geopain.errors import GeopainError, ShapeError
from geopain.geometry.align import rotation_from_angles
from geopain.geometry.neutral import subtract_neutral, subtract_subject_neutrals, neutral_shape, subject_neutrals
from geopain.geometry.normalize import fit_weak_perspective, normalize, normalize_coords
from geopain.landmarks import LandmarkSequence
from geopain.species import get_scheme


@pytest.fixture(scope="module")
def scheme():
    return get_scheme("human/ibug68")


def random_pose(F, seed=0, yaw=50, pitch=30, roll=25):
    rng = np.random.default_rng(seed)
    return rng.uniform(-yaw, yaw, F), rng.uniform(-pitch, pitch, F), rng.uniform(-roll, roll, F)


class TestNormalizeCoords:
    def test_smoke(self, scheme):
        aligned, pose = normalize_coords(scheme.template, scheme)
        assert aligned.shape == (1, 68, 3) and aligned.dtype == np.float32
        assert set(pose) == {"yaw", "pitch", "roll", "scale", "rmsd"}
        np.testing.assert_allclose(aligned[0], scheme.template, atol=1e-4)

    def test_shape_error(self, scheme):
        with pytest.raises(ShapeError, match=r"coords"):
            normalize_coords(np.zeros((3, 66, 3)), scheme)
        with pytest.raises(ShapeError, match="dims"):
            normalize_coords(np.zeros((3, 68, 3)), scheme, dims=4)

    def test_3d_pose_and_scale(self, scheme):
        yaw, pitch, roll = random_pose(32)
        R = rotation_from_angles(yaw, pitch, roll)
        obs = 12.0 * np.einsum("fij,nj->fni", R, scheme.template) + 300.0
        aligned, pose = normalize_coords(obs, scheme)
        np.testing.assert_allclose(pose["yaw"], yaw, atol=0.01)
        np.testing.assert_allclose(pose["pitch"], pitch, atol=0.01)
        np.testing.assert_allclose(pose["roll"], roll, atol=0.01)
        np.testing.assert_allclose(pose["scale"], 12.0, rtol=1e-4)
        np.testing.assert_allclose(aligned, np.broadcast_to(scheme.template, aligned.shape), atol=1e-3)

    def test_image_axes(self, scheme):
        """Pixels (y down, z away) with a known yaw: the pose comes out the same."""
        R = rotation_from_angles(20.0, 0.0, 0.0)[0]
        cam = 10.0 * scheme.template @ R.T
        px = cam * np.array([1.0, -1.0, -1.0]) + np.array([320.0, 240.0, 0.0])
        _, pose = normalize_coords(px, scheme, image=True)
        assert abs(pose["yaw"][0] - 20.0) < 0.01 and abs(pose["pitch"][0]) < 0.01

    def test_2d_pose_from_projected_template(self, scheme):
        F = 40
        yaw, pitch, roll = random_pose(F, seed=3, yaw=45, pitch=25, roll=25)
        R = rotation_from_angles(yaw, pitch, roll)
        rng = np.random.default_rng(4)
        s = rng.uniform(5, 30, F)
        p = s[:, None, None] * np.einsum("fij,nj->fni", R, scheme.template)[..., :2] + rng.normal(0, 50, (F, 1, 2))
        p += rng.normal(0, 0.05, p.shape)  # detector noise (px)
        p[rng.random(p.shape[:2]) < 0.1] = np.nan  # missing points
        coords = np.concatenate([p, np.full(p.shape[:2] + (1,), np.nan)], -1)
        aligned, pose = normalize_coords(coords, scheme)
        np.testing.assert_allclose(pose["yaw"], yaw, atol=1.0)
        np.testing.assert_allclose(pose["pitch"], pitch, atol=1.0)
        np.testing.assert_allclose(pose["roll"], roll, atol=0.5)
        np.testing.assert_allclose(pose["scale"], s, rtol=0.01)
        assert np.nanmax(np.abs(aligned - scheme.template)) < 0.1  # cm
        assert np.isnan(aligned).any(-1).sum() == np.isnan(p).any(-1).sum()

    def test_2d_robust_to_an_outlier(self, scheme):
        R = rotation_from_angles(25.0, 10.0, -5.0)
        p = 10 * np.einsum("fij,nj->fni", R, scheme.template)[..., :2]
        p[0, 8] += 40.0  # chin point 4 cm off
        fit = fit_weak_perspective(p, scheme.template)
        from geopain.geometry.align import pose_angles

        np.testing.assert_allclose(pose_angles(fit["rotation"])[0], [25.0, 10.0, -5.0], atol=1.5)


def _seq(coords, **kw):
    return LandmarkSequence(coords=coords, scheme="human/ibug68", **kw)


class TestNormalize:
    def test_smoke_3d(self, scheme):
        R = rotation_from_angles([0.0, 15.0], [0.0, 5.0], [0.0, 0.0])
        seq = _seq(np.einsum("fij,nj->fni", R, scheme.template) * 1.5, units="cm")
        out = normalize(seq)
        assert out.units == "template" and out.n_frames == 2
        assert out.meta["normalization"]["estimated"] == ["yaw", "pitch", "roll", "scale"]
        np.testing.assert_allclose(out.meta["pose"]["yaw"], [0.0, 15.0], atol=0.01)
        assert seq.units == "cm"  # input unchanged

    def test_2d_meta_says_what_was_estimated(self, scheme):
        px = scheme.template[None, :, :2] * np.array([10.0, -10.0]) + 200.0
        seq = _seq(px.astype(np.float32), units="px")
        assert seq.dims == 2
        out = normalize(seq)
        info = out.meta["normalization"]
        assert "z" in info["estimated"] and "weak-perspective" in info["method"]
        assert np.isfinite(out.coords).all()
        np.testing.assert_allclose(out.coords[0], scheme.template, atol=0.01)
        np.testing.assert_allclose(out.meta["pose"]["scale"], 10.0, rtol=1e-3)

    def test_neutral_removes_identity(self, scheme):
        rng = np.random.default_rng(0)
        identity = rng.normal(0, 0.3, (68, 3))
        frames = np.repeat((scheme.template + identity)[None], 6, 0)
        frames[3:, 17:27, 1] -= 0.4  # brows lowered in the last frames
        seq = _seq(frames, units="cm", labels={"score": np.array([0, 0, 0, 3, 3, 3.0])})
        out = normalize(seq, neutral="lowest")
        np.testing.assert_allclose(out.coords[:3], np.broadcast_to(scheme.template, (3, 68, 3)), atol=0.05)
        assert out.coords[3:, 17:27, 1].mean() < scheme.template[17:27, 1].mean() - 0.2
        assert "neutral" in out.meta["normalization"]
        with pytest.warns(FutureWarning, match="neutral="):  # the older keyword still works, and says so
            old = normalize(seq, baseline="lowest")
        np.testing.assert_array_equal(old.coords, out.coords)


class TestNeutralShape:
    def test_smoke(self, scheme):
        n = neutral_shape(np.repeat(scheme.template[None], 5, 0))
        assert n.shape == (68, 3)

    def test_errors(self, scheme):
        c = np.repeat(scheme.template[None], 5, 0)
        with pytest.raises(GeopainError, match="method"):
            neutral_shape(c, method="mean")
        with pytest.raises(GeopainError, match="score"):
            neutral_shape(c, method="lowest")
        with pytest.raises(ShapeError):
            neutral_shape(c, scores=np.zeros(4))
        with pytest.raises(GeopainError, match="no frame"):
            neutral_shape(np.full((3, 68, 3), np.nan))

    def test_lowest_and_first(self, scheme):
        c = np.repeat(scheme.template[None], 40, 0).copy()
        c[:, :, 0] += np.arange(40)[:, None]  # frame i shifted by i
        scores = np.r_[np.full(20, 5.0), np.zeros(20)]
        np.testing.assert_allclose(neutral_shape(c, scores, "lowest", k=5)[:, 0] - scheme.template[:, 0], 29.5)  # 20 ties
        np.testing.assert_allclose(neutral_shape(c, scores, "first", k=5)[:, 0] - scheme.template[:, 0], 2.0)
        np.testing.assert_allclose(neutral_shape(c, None, "auto", k=5)[:, 0] - scheme.template[:, 0], 2.0)


class TestSubjectBaselines:
    def test_apply_and_subjects(self, scheme):
        a = _seq(np.repeat((scheme.template + 0.5)[None], 4, 0), units="template", subject="A")
        b = _seq(np.repeat((scheme.template - 0.5)[None], 4, 0), units="template", subject="B")
        neutrals = subject_neutrals([a, b], method="first", k=2)
        assert set(neutrals) == {"A", "B"}
        out = subtract_subject_neutrals([a, b], method="first", k=2)
        for s in out:
            np.testing.assert_allclose(s.coords, np.broadcast_to(scheme.template, s.coords.shape), atol=1e-5)
        with pytest.raises(ShapeError, match="normalise"):
            subject_neutrals([_seq(scheme.template[None], units="px")])
        with pytest.raises(ShapeError):
            subtract_neutral(np.zeros((2, 68, 3)), np.zeros((66, 3)), scheme.template)


class TestNormalizeEdgeCases:
    def test_frame_without_face_and_camera_errors(self, scheme):
        c = np.repeat(scheme.template[None], 3, 0) * 10.0
        c[1] = np.nan
        aligned, pose = normalize_coords(c, scheme)
        assert np.isnan(aligned[1]).all() and np.isfinite(aligned[[0, 2]]).all() and np.isnan(pose["yaw"][1])
        c2 = c.copy()
        c2[..., 2] = np.nan
        aligned, pose = normalize_coords(c2, scheme)
        assert np.isnan(aligned[1]).all() and np.isfinite(aligned[[0, 2]]).all()
        with pytest.raises(ShapeError, match="camera"):
            normalize_coords(c2, scheme, image=True, camera={"focal": 500})

    def test_simulated_perspective_camera(self):
        """2D pixels from the simulator's pinhole camera: pose within a few degrees of the truth."""
        import geopain.synth as synth
        cfg = synth.SynthConfig(project=True, identity_scale=0.0, confounder_rate=0.0, occlusion_rate=0.0)
        seqs = synth.simulate("human", n_subjects=2, sequences_per_subject=2, frames=8, seed=1, config=cfg)
        for s in seqs:
            out = normalize(s)
            est = np.stack([out.meta["pose"][k] for k in ("yaw", "pitch", "roll")], 1)
            true = np.stack([np.asarray(s.meta["true_pose"][k]) for k in ("yaw", "pitch", "roll")], 1)
            ok = np.isfinite(est).all(1)
            assert ok.sum() >= 6
            assert np.abs(est[ok] - true[ok]).max() < 7.0
            assert "camera axes" in out.meta["normalization"]["camera"]
