"""OpenFace 2.x CSV reader: every layout of formats.md and the malformed-input errors."""
import numpy as np
import pytest

from _io_helpers import face_points, openface_csv
from geopain.errors import GeopainError, InputError
from geopain.io.openface import read_openface


@pytest.fixture
def xy():
    return face_points(68, seed=1)


class TestReadOpenFaceLayouts:
    def test_video_with_skips_failure_and_two_faces(self, tmp_path, xy):
        xyz = np.concatenate([xy, np.full((68, 1), 500.0)], 1)
        rows = [
            dict(frame=1, xy=xy, xyz=xyz, au={"AU04": 2.5, "AU10": 1.0}, confidence=0.97),
            dict(frame=2, success=0, xy=xy, confidence=0.1),  # failed but with values
            dict(frame=3, zeros=True),  # failed, all zeros, success written as 0 too
            dict(frame=7, xy=xy + 1),  # frame numbers skip 4-6
            dict(frame=7, face_id=1, xy=xy + 50),  # a second face in the same frame
            dict(frame=8, face_id=1, xy=xy + 51),
        ]
        path = openface_csv(tmp_path / "clip.csv", rows)
        seqs = read_openface(path)
        assert [s.face_id for s in seqs] == [0, 1]
        a, b = seqs
        np.testing.assert_array_equal(a.frames, [1, 2, 3, 7])
        np.testing.assert_array_equal(b.frames, [7, 8])
        assert a.scheme == "human/ibug68" and a.dims == 2 and a.units == "px"
        np.testing.assert_allclose(a.coords[0, :, :2], xy, atol=1e-3)
        assert np.isnan(a.coords[0, :, 2]).all()
        assert np.isnan(a.coords[1]).all() and np.isnan(a.coords[2]).all()  # failed frames
        np.testing.assert_array_equal(a.face_found, [True, False, False, True])
        np.testing.assert_allclose(b.coords[0, :, :2], xy + 50, atol=1e-3)
        np.testing.assert_allclose(a.frame_confidence[:2], [0.97, 0.1], atol=1e-6)
        np.testing.assert_allclose(a.timestamps, (a.frames - 1) / 30, atol=1e-6)
        assert a.fps == pytest.approx(30.0)
        assert a.subject == "clip" and a.sequence == "clip" and a.detector == "openface"

    def test_au_names_line_up_with_pspi_units(self, tmp_path, xy):
        path = openface_csv(tmp_path / "c.csv", [dict(frame=1, xy=xy, au={"AU04": 2.5, "AU09": 3.0}),
                                                 dict(frame=2, success=0, xy=xy)])
        (s,) = read_openface(path)
        from geopain.species import get_species_scale

        for unit in ("AU4", "AU6", "AU7", "AU9", "AU10"):  # AU43 is not estimated by OpenFace
            assert unit in s.labels and unit in get_species_scale("human").units
        assert s.labels["AU4"][0] == 2.5 and s.labels["AU9"][0] == 3.0
        assert s.labels["AU9_c"][0] == 1.0 and "AU28_c" in s.labels
        assert np.isnan(s.labels["AU4"][1])  # a failed frame's AUs are unknown, not 0
        np.testing.assert_allclose(s.labels["pose_Rx"][0], 0.1)
        assert "AU04" not in s.labels and "score" not in s.labels

    def test_3d_coordinates_in_mm(self, tmp_path, xy):
        xyz = np.concatenate([xy / 10, np.linspace(400, 460, 68)[:, None]], 1)
        path = openface_csv(tmp_path / "c.csv", [dict(frame=1, xy=xy, xyz=xyz)])
        (s,) = read_openface(path, coords="3d")
        assert s.dims == 3 and s.units == "mm"
        np.testing.assert_allclose(s.coords[0], xyz, atol=1e-3)

    def test_single_image_mode_face_column(self, tmp_path, xy):
        path = openface_csv(tmp_path / "img.csv", [dict(face_id=0, xy=xy), dict(face_id=1, xy=xy + 9)],
                            mode="image", groups=("2d", "aus"), trailing_newline=False)
        seqs = read_openface(path)
        assert [s.face_id for s in seqs] == [0, 1]
        assert all(s.n_frames == 1 and s.frames[0] == 0 and np.isnan(s.timestamps[0]) for s in seqs)
        np.testing.assert_allclose(seqs[1].coords[0, :, :2], xy + 9, atol=1e-3)
        assert seqs[0].meta["mode"] == "image"

    def test_old_file_without_face_id_gaze_and_eyes(self, tmp_path, xy):
        path = openface_csv(tmp_path / "old.csv", [dict(frame=1, xy=xy), dict(frame=2, xy=xy)],
                            face_id=False, groups=("pose", "2d"))
        (s,) = read_openface(path)
        assert s.face_id == 0 and s.n_frames == 2 and "pose_Tz" in s.labels and "AU4" not in s.labels

    def test_double_space_separators(self, tmp_path, xy):
        path = openface_csv(tmp_path / "c.csv", [dict(frame=1, xy=xy)], sep=",  ")
        (s,) = read_openface(path)
        np.testing.assert_allclose(s.coords[0, :, :2], xy, atol=1e-3)

    def test_66_point_file_gets_ibug66(self, tmp_path):
        path = openface_csv(tmp_path / "c.csv", [dict(frame=1, xy=face_points(66))], n=66, groups=("2d",))
        assert read_openface(path)[0].scheme == "human/ibug66"


class TestReadOpenFaceErrors:
    def test_only_aus_no_landmarks(self, tmp_path):
        path = openface_csv(tmp_path / "aus.csv", [dict(frame=1)], groups=("aus", "pose"))
        with pytest.raises(InputError, match=r"aus\.csv: no landmark columns .*AUs, head pose"):
            read_openface(path)

    def test_3d_only_file_hints_at_coords(self, tmp_path, xy):
        path = openface_csv(tmp_path / "c.csv", [dict(frame=1)], groups=("3d",))
        with pytest.raises(InputError, match="coords='3d'"):
            read_openface(path)

    def test_wrong_column_count(self, tmp_path, xy):
        path = openface_csv(tmp_path / "c.csv", [dict(frame=1, xy=xy), dict(frame=2, xy=xy)], groups=("2d",))
        lines = path.read_text().splitlines()
        lines[2] = lines[2].rsplit(",", 3)[0]  # drop three values
        path.write_text("\n".join(lines))
        with pytest.raises(InputError, match=r"c\.csv: line 3 has 138 values, the header has 141 columns"):
            read_openface(path)

    def test_text_where_a_number_must_be(self, tmp_path, xy):
        path = openface_csv(tmp_path / "c.csv", [dict(frame=1, xy=xy), dict(frame=2, xy=xy)], groups=("2d",))
        path.write_text(path.read_text().replace(f"{xy[3, 0]:g}", "abc", 1))
        with pytest.raises(InputError, match=r"line 2, column 'x_3': 'abc' where a number must be"):
            read_openface(path)

    def test_nan_where_a_number_must_be(self, tmp_path, xy):
        path = openface_csv(tmp_path / "c.csv", [dict(frame=1, xy=xy)], groups=("2d",))
        path.write_text(path.read_text().replace(f"{xy[5, 1]:g}", "nan", 1))
        with pytest.raises(InputError, match="y_5"):
            read_openface(path)

    def test_missing_header(self, tmp_path, xy):
        path = openface_csv(tmp_path / "c.csv", [dict(frame=1, xy=xy), dict(frame=2, xy=xy)], groups=("2d",))
        path.write_text("\n".join(path.read_text().splitlines()[1:]))
        with pytest.raises(InputError, match="missing header row"):
            read_openface(path)

    @pytest.mark.parametrize("content,problem", [
        (b"", "file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        (b'{"labels": [[1, 2]]}', "holds JSON"),
        (b"   \n\n", "only white space"),
        (b"name,age\nbob,3\n", "not an OpenFace CSV"),
        (b"frame, face_id, x_0, y_0\n", "no rows"),
    ])
    def test_not_what_the_name_says(self, tmp_path, content, problem):
        path = tmp_path / "bad.csv"
        path.write_bytes(content)
        with pytest.raises(InputError, match=rf"bad\.csv: .*{problem}"):
            read_openface(path)

    def test_odd_count_needs_scheme_and_bad_coords_option(self, tmp_path):
        path = openface_csv(tmp_path / "c.csv", [dict(frame=1, xy=face_points(5))], n=5, groups=("2d",))
        with pytest.raises(InputError, match="5 landmarks per face: give the landmark scheme"):
            read_openface(path)
        with pytest.raises(InputError, match="scheme human/ibug68 has 68"):
            read_openface(path, scheme="human/ibug68")
        with pytest.raises(GeopainError, match="coords must be"):
            read_openface(path, coords="4d")
