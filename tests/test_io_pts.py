"""iBUG .pts reader and writer."""
import numpy as np
import pytest

from _io_helpers import face_points
from geopain.errors import InputError, SchemeError, ShapeError
from geopain.io.pts import read_pts, write_pts


def _pts_text(pts, n_line="n_points:  {n}", newline_end=False, version=True):
    body = "\n".join(f"{x} {y}" for x, y in pts)
    head = ("version: 1\n" if version else "") + n_line.format(n=len(pts))
    return f"{head}\n{{\n{body}\n}}" + ("\n" if newline_end else "")


class TestReadPts:
    def test_quirks_two_spaces_no_trailing_newline(self, tmp_path):
        pts = face_points(68)
        path = tmp_path / "image_0001.pts"
        path.write_text(_pts_text(pts))
        s = read_pts(path)
        assert s.scheme == "human/ibug68" and s.n_frames == 1 and s.dims == 2 and s.units == "px"
        np.testing.assert_allclose(s.coords[0, :, :2], pts, atol=1e-3)
        assert np.isnan(s.coords[..., 2]).all()
        assert s.subject == "image_0001" and s.source == str(path)

    def test_66_points_crlf_no_version(self, tmp_path):
        pts = face_points(66)
        path = tmp_path / "a.pts"
        path.write_bytes(_pts_text(pts, version=False, newline_end=True).replace("\n", "\r\n").encode())
        assert read_pts(path).scheme == "human/ibug66"

    def test_zero_based(self, tmp_path):
        pts = face_points(68)
        path = tmp_path / "a.pts"
        path.write_text(_pts_text(pts))
        np.testing.assert_allclose(read_pts(path, zero_based=True).coords[0, :, :2], pts - 1, atol=1e-3)

    def test_other_count_needs_scheme(self, tmp_path):
        path = tmp_path / "sheep.pts"
        path.write_text(_pts_text(face_points(28)))
        with pytest.raises(InputError, match="28 points: give the landmark scheme"):
            read_pts(path)
        assert read_pts(path, scheme="sheep/spfes").scheme == "sheep/spfes"
        with pytest.raises(InputError, match="scheme human/ibug68 has 68"):
            read_pts(path, scheme="human/ibug68")
        with pytest.raises(SchemeError, match="unknown scheme"):
            read_pts(path, scheme="sheep/nope")

    @pytest.mark.parametrize("text,problem", [
        ("version: 1\n{\n1 2\n}", "missing header line 'n_points"),
        ("version: 1\nn_points: 2\n1 2\n3 4\n}", r"missing '\{'"),
        ("version: 1\nn_points: 2\n{\n1 2\n3 4\n", r"missing closing '\}'"),
        ("version: 1\nn_points: 3\n{\n1 2\n3 4\n}", "n_points says 3, the file lists 2"),
        ("version: 1\nn_points: 2\n{\n1 2\n3 x\n}", "point 1: '3 x' is not two numbers"),
        ("version: 1\nn_points: 2\n{\n1 2\n3 4 5\n}", "point 1: expected 'x y'"),
        ("version: 1\nn_points: 2\n{\n1 2\nnan 4\n}", "point 1: NaN"),
        ("version: 1\nn_points: two\n{\n1 2\n}", "not a whole number"),
        ("", "file is empty"),
        ('{"labels": []}', "holds JSON"),
    ])
    def test_malformed(self, tmp_path, text, problem):
        path = tmp_path / "bad.pts"
        path.write_text(text)
        with pytest.raises(InputError, match=rf"bad\.pts: .*{problem}"):
            read_pts(path)

    def test_binary(self, tmp_path):
        path = tmp_path / "bad.pts"
        path.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")
        with pytest.raises(InputError, match="binary file"):
            read_pts(path)


class TestWritePts:
    def test_round_trip(self, tmp_path):
        pts = face_points(68, seed=3) + 0.123
        p = write_pts(tmp_path / "out" / "a.pts", pts)
        text = p.read_text()
        assert text.startswith("version: 1\nn_points: 68\n{\n") and text.endswith("}\n")
        np.testing.assert_allclose(read_pts(p).coords[0, :, :2], pts, atol=1e-3)

    def test_accepts_n3_and_1n2(self, tmp_path):
        pts = face_points(68)
        write_pts(tmp_path / "a.pts", np.concatenate([pts, np.ones((68, 1))], 1))
        write_pts(tmp_path / "b.pts", pts[None])
        np.testing.assert_allclose(read_pts(tmp_path / "a.pts").coords, read_pts(tmp_path / "b.pts").coords)

    def test_errors(self, tmp_path):
        with pytest.raises(ShapeError, match=r"expected shape \(N, 2\)"):
            write_pts(tmp_path / "a.pts", np.zeros((68,)))
        pts = face_points(68)
        pts[4] = np.nan
        with pytest.raises(ShapeError, match="point 4 is missing"):
            write_pts(tmp_path / "a.pts", pts)
