"""LandmarkSequence: validation, 2D handling, frame selection, helpers."""
import numpy as np
import pytest

from geopain.errors import ShapeError
from geopain.landmarks import LandmarkSequence, frame_labels, stack_coords, summarize


def _seq(T=5, N=68, **kw):
    rng = np.random.default_rng(0)
    kw.setdefault("labels", {"pain": np.arange(T) % 2, "score": np.arange(T, dtype=float)})
    return LandmarkSequence(rng.normal(size=(T, N, 3)), kw.pop("scheme", "human/ibug68"), **kw)


class TestConstruction:
    def test_defaults(self):
        s = _seq()
        assert s.coords.shape == (5, 68, 3) and s.coords.dtype == np.float32
        assert s.confidence.shape == (5, 68) and np.isnan(s.confidence).all()
        assert s.frame_confidence.shape == (5,) and np.isnan(s.timestamps).all()
        np.testing.assert_array_equal(s.frames, np.arange(5))
        assert s.dims == 3 and s.species == "human" and len(s) == 5 and s.n_points == 68
        assert s.labels["pain"].dtype == np.float64

    def test_2d_input_becomes_dims_2_with_nan_z(self):
        s = LandmarkSequence(np.ones((3, 28, 2)), "sheep/spfes")
        assert s.dims == 2 and s.coords.shape == (3, 28, 3) and np.isnan(s.coords[..., 2]).all()
        assert s.valid.all()

    def test_single_frame(self):
        s = LandmarkSequence(np.ones((68, 3)), "human/ibug68")
        assert s.n_frames == 1 and s.coords.shape == (1, 68, 3)

    def test_timestamps_from_fps(self):
        s = _seq(frames=[0, 2, 4, 6, 8], fps=25.0)
        np.testing.assert_allclose(s.timestamps, [0, 0.08, 0.16, 0.24, 0.32])

    def test_valid_and_face_found(self):
        c = np.ones((3, 4, 2))
        c[1] = np.nan
        c[2, 0, 0] = np.nan
        s = LandmarkSequence(c, "x/y")
        np.testing.assert_array_equal(s.face_found, [True, False, True])
        np.testing.assert_array_equal(s.valid[2], [False, True, True, True])
        assert summarize([s])["faces_missing"] == 1


class TestValidation:
    @pytest.mark.parametrize("shape", [(68,), (5, 68, 4), (5, 68, 1), (2, 5, 68, 3)])
    def test_bad_coord_shapes(self, shape):
        with pytest.raises(ShapeError, match=r"coords: expected shape \(T, N, 3\)"):
            LandmarkSequence(np.zeros(shape), "human/ibug68")

    @pytest.mark.parametrize("scheme", ["ibug68", "human/", "/ibug68", "human/ibug68/x", ""])
    def test_bad_scheme_strings(self, scheme):
        with pytest.raises(ShapeError, match="scheme must be '<species>/<scheme>'"):
            LandmarkSequence(np.zeros((1, 3, 3)), scheme)

    @pytest.mark.parametrize("kw,name", [
        ({"confidence": np.zeros((5, 67))}, "confidence"),
        ({"frame_confidence": np.zeros(4)}, "frame_confidence"),
        ({"frames": np.arange(6)}, "frames"),
        ({"timestamps": np.zeros((5, 1))}, "timestamps"),
        ({"labels": {"pain": np.zeros(3)}}, "labels\\['pain'\\]"),
    ])
    def test_bad_per_frame_shapes(self, kw, name):
        with pytest.raises(ShapeError, match=rf"{name}: expected shape"):
            _seq(**kw)

    def test_bad_units_and_dims(self):
        with pytest.raises(ShapeError, match="units must be one of"):
            _seq(units="inch")
        with pytest.raises(ShapeError, match="dims must be 2 or 3"):
            _seq(dims=1)


class TestSelection:
    def test_int_slice_mask_and_index(self):
        s = _seq(frames=[10, 11, 13, 14, 20], meta={"k": 1}, sequence_labels={"vas": 2})
        one = s[2]
        assert one.n_frames == 1 and one.frames[0] == 13 and one.labels["score"][0] == 2
        part = s[1:4]
        np.testing.assert_array_equal(part.frames, [11, 13, 14])
        np.testing.assert_array_equal(part.coords, s.coords[1:4])
        np.testing.assert_array_equal(part.labels["pain"], [1, 0, 1])
        masked = s[np.array([True, False, False, False, True])]
        np.testing.assert_array_equal(masked.frames, [10, 20])
        picked = s[[4, 0]]
        np.testing.assert_array_equal(picked.frames, [20, 10])
        part.meta["k"] = 2
        part.sequence_labels["vas"] = 9
        assert s.meta["k"] == 1 and s.sequence_labels["vas"] == 2  # copies, not shared

    def test_with_coords(self):
        s = _seq()
        t = s.with_coords(np.zeros((5, 68, 3)), units="template")
        assert t.units == "template" and (t.coords == 0).all() and s.units == "px"
        with pytest.raises(ShapeError):
            s.with_coords(np.zeros((5, 68, 3)), units="furlong")


class TestHelpers:
    def test_stack_coords(self):
        a, b = _seq(T=2), _seq(T=3)
        coords, index = stack_coords([a, b])
        assert coords.shape == (5, 68, 3)
        np.testing.assert_array_equal(index, [0, 0, 1, 1, 1])
        with pytest.raises(ShapeError, match="different schemes"):
            stack_coords([a, _seq(T=1, N=28, scheme="sheep/spfes")])
        with pytest.raises(ShapeError, match="no sequences"):
            stack_coords([])

    def test_frame_labels_and_summary(self):
        a, b = _seq(T=2), _seq(T=2, labels={}, subject="s2")
        np.testing.assert_array_equal(frame_labels([a, b], "pain")[:2], [0, 1])
        assert np.isnan(frame_labels([a, b], "pain")[2:]).all()
        info = summarize([a, b])
        assert info == {"sequences": 2, "frames": 4, "subjects": 2, "schemes": ["human/ibug68"],
                        "labels": ["pain", "score"], "faces_missing": 0}
        assert "frames=2" in repr(a) and "labels=pain,score" in repr(a)


class TestSequencesDigest:
    def test_smoke_and_feature(self):
        from geopain.landmarks import sequences_digest
        from geopain.synth import simulate

        seqs = simulate(species="human", n_subjects=2, sequences_per_subject=1, frames=4, seed=0)
        same = simulate(species="human", n_subjects=2, sequences_per_subject=1, frames=4, seed=0)
        assert sequences_digest(seqs) == sequences_digest(same)
        moved = [seqs[0].with_coords(seqs[0].coords + 1e-3), seqs[1]]
        relabelled = [seqs[0], seqs[1].with_coords(seqs[1].coords, labels={**seqs[1].labels, "pain": 1 - seqs[1].labels["pain"]})]
        digests = {sequences_digest(x) for x in (seqs, moved, relabelled, seqs[::-1], seqs[:1])}
        assert len(digests) == 5


class TestSourceDigest:
    def test_smoke(self):
        from geopain.provenance import source_digest

        d = source_digest()
        assert d == source_digest() and len(d) == 12

    def test_feature_a_changed_source_changes_it_and_compiled_files_do_not(self, tmp_path):
        from geopain.provenance import source_digest

        (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
        (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
        (tmp_path / "pkg" / "species.yaml").write_text("n: 5\n")
        before = source_digest(tmp_path / "pkg")
        (tmp_path / "pkg" / "__pycache__" / "a.cpython-311.json").write_text("{}")
        assert source_digest.__wrapped__(tmp_path / "pkg") == before
        (tmp_path / "pkg" / "species.yaml").write_text("n: 3\n")
        assert source_digest.__wrapped__(tmp_path / "pkg") != before
