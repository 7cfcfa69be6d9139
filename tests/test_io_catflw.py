"""CatFLW-style JSON reader, with a 48-point cat adapter a user writes in one file."""
import json

import numpy as np
import pytest

import geopain.species as species
from _io_helpers import cat_adapter, face_points
from geopain.errors import InputError, SchemeError
from geopain.io.catflw import read_catflw
from geopain.io.tables import read_table, write_table


@pytest.fixture
def cat(tmp_path, monkeypatch):
    monkeypatch.setattr(species, "_extra_dirs", [])
    species._clear_caches()
    path = cat_adapter(tmp_path / "adapters")
    yield path
    species._clear_caches()


def _write(path, labels, box=(10, 20, 300, 280)):
    data = {"labels": labels}
    if box is not None:
        data["bounding_boxes"] = list(box)
    path.write_text(json.dumps(data))
    return path


class TestReadCatflw:
    def test_by_adapter_path_and_by_key(self, tmp_path, cat):
        pts = face_points(48, seed=4)
        f = _write(tmp_path / "cat_001.json", pts.tolist())
        s = read_catflw(f, str(cat))
        assert s.scheme == "cat/catflw48" and s.n_points == 48 and s.dims == 2 and s.units == "px"
        np.testing.assert_allclose(s.coords[0, :, :2], pts, atol=1e-3)
        assert s.meta["box"] == [10, 20, 300, 280] and s.subject == "cat_001"
        species.add_species_dir(tmp_path / "adapters")
        s2 = read_catflw(f, "cat/catflw48")
        np.testing.assert_array_equal(s.coords, s2.coords)
        # a cat table round-trips like any other species
        out = read_table(write_table([s2], tmp_path / "cats.parquet"))[0]
        assert out.species == "cat" and out.meta["box"] == [10, 20, 300, 280]

    def test_null_point_and_nested_box(self, tmp_path, cat):
        labels = face_points(48).tolist()
        labels[5] = None
        labels[6] = [None, None]
        s = read_catflw(_write(tmp_path / "c.json", labels, box=[[1, 2, 3, 4]]), cat)
        assert np.isnan(s.coords[0, 5:7, :2]).all() and np.isnan(s.confidence[0, 5])
        assert s.confidence[0, 0] == 1.0 and s.meta["box"] == [1, 2, 3, 4]

    def test_no_box(self, tmp_path, cat):
        s = read_catflw(_write(tmp_path / "c.json", face_points(48).tolist(), box=None), cat)
        assert "box" not in s.meta


class TestReadCatflwErrors:
    def test_count_must_match_scheme(self, tmp_path, cat):
        with pytest.raises(InputError, match=r"c\.json: 47 landmarks, scheme cat/catflw48 has 48"):
            read_catflw(_write(tmp_path / "c.json", face_points(47).tolist()), cat)
        with pytest.raises(InputError, match="48 landmarks, scheme sheep/spfes has 28"):
            read_catflw(_write(tmp_path / "c.json", face_points(48).tolist()), "sheep/spfes")

    def test_scheme_must_exist(self, tmp_path):
        with pytest.raises(SchemeError, match="unknown scheme 'cat/catflw48'"):
            read_catflw(_write(tmp_path / "c.json", face_points(48).tolist()), "cat/catflw48")

    @pytest.mark.parametrize("content,problem", [
        ('{"labels": [[1, 2], ', "not valid JSON"),
        ('[1, 2, 3]', "not a CatFLW file"),
        ('{"points": []}', "not a CatFLW file"),
        ('{"labels": []}', "non-empty list"),
        ('{"labels": [[1, 2, 3]]}', r"label 0: expected \[x, y\]"),
        ('{"labels": [["a", 2]]}', "label 0: .* is not two numbers"),
        ('{"labels": [[1, 2]], "bounding_boxes": [1, 2]}', "'bounding_boxes' must be"),
        ("", "file is empty"),
        ("x,y\n1,2\n", "not valid JSON"),
    ])
    def test_malformed(self, tmp_path, cat, content, problem):
        f = tmp_path / "bad.json"
        f.write_text(content)
        with pytest.raises(InputError, match=rf"bad\.json: .*{problem}"):
            read_catflw(f, cat)

    def test_binary(self, tmp_path, cat):
        f = tmp_path / "bad.json"
        f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
        with pytest.raises(InputError, match="binary file"):
            read_catflw(f, cat)
