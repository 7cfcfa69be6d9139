"""DeepLabCut reader: analyze_videos CSV and H5, multi-animal, hand labels, bad input."""
import importlib.util

import numpy as np
import pandas as pd
import pytest

from _io_helpers import dlc_frame
from geopain.errors import InputError
from geopain.io.dlc import read_dlc
from geopain.species import get_scheme

SCHEME = "sheep/spfes"
needs_tables = pytest.mark.skipif(importlib.util.find_spec("tables") is None, reason="the h5 extra is not installed")


@pytest.fixture(scope="module")
def names():
    return list(get_scheme(SCHEME).landmarks)


class TestReadDlcVideo:
    @needs_tables
    def test_csv_and_h5_twins_agree(self, tmp_path, names):
        bps = names[:6] + ["Tail-Base"]
        df = dlc_frame([b.upper().replace("_", " ") if i == 2 else b for i, b in enumerate(bps)], 5)
        df.to_csv(tmp_path / "v1DLC_resnet50.csv")
        df.to_hdf(tmp_path / "v1DLC_resnet50.h5", key="df_with_missing")
        with pytest.warns(UserWarning, match="bodyparts not in scheme sheep/spfes, left out: Tail-Base"):
            (a,) = read_dlc(tmp_path / "v1DLC_resnet50.csv", SCHEME)
        with pytest.warns(UserWarning):
            (b,) = read_dlc(tmp_path / "v1DLC_resnet50.h5", SCHEME)
        for s in (a, b):
            assert s.scheme == SCHEME and s.n_frames == 5 and s.dims == 2 and s.n_points == 28
            np.testing.assert_array_equal(s.frames, np.arange(5))
            v = df.to_numpy()
            np.testing.assert_allclose(s.coords[:, :6, 0], v[:, 0:18:3], atol=1e-3)
            np.testing.assert_allclose(s.coords[:, :6, 1], v[:, 1:18:3], atol=1e-3)
            np.testing.assert_allclose(s.confidence[:, :6], v[:, 2:18:3], atol=1e-4)
            assert np.isnan(s.coords[:, 6:, :2]).all() and np.isnan(s.confidence[:, 6:]).all()
            np.testing.assert_allclose(s.frame_confidence, v[:, 2:18:3].mean(1), atol=1e-4)
            assert s.meta["unmatched_bodyparts"] == ["Tail-Base"]
            assert s.meta["missing_landmarks"] == names[6:]
            assert s.detector == "deeplabcut" and s.detector_version.startswith("DLC_resnet50")
        np.testing.assert_allclose(a.coords, b.coords, equal_nan=True)

    def test_pcutoff(self, tmp_path, names):
        df = dlc_frame(names, 4, seed=2)
        df.to_csv(tmp_path / "v.csv")
        (s,) = read_dlc(tmp_path / "v.csv", SCHEME, pcutoff=0.5)
        low = df.to_numpy()[:, 2::3] < 0.5
        assert low.any() and np.isnan(s.coords[..., 0][low]).all() and np.isfinite(s.coords[..., 0][~low]).all()

    def test_bodypart_map(self, tmp_path, names):
        df = dlc_frame(["snout", names[1]], 2)
        df.to_csv(tmp_path / "v.csv")
        (s,) = read_dlc(tmp_path / "v.csv", SCHEME, bodypart_map={"snout": "philtrum_top"})
        k = names.index("philtrum_top")
        np.testing.assert_allclose(s.coords[:, k, 0], df.to_numpy()[:, 0], atol=1e-3)

    @needs_tables
    def test_multi_animal_csv_and_h5(self, tmp_path, names):
        df = dlc_frame(names[:4], 3, individuals=["ewe1", "ewe2"])
        df.to_csv(tmp_path / "ma.csv")
        df.to_hdf(tmp_path / "ma.h5", key="df_with_missing")
        for f in ("ma.csv", "ma.h5"):
            seqs = read_dlc(tmp_path / f, SCHEME)
            assert [s.face_id for s in seqs] == [0, 1]
            assert [s.meta["individual"] for s in seqs] == ["ewe1", "ewe2"]
            np.testing.assert_allclose(seqs[1].coords[:, 0, 0], df[("DLC_resnet50_sheepJan1shuffle1_1000", "ewe2",
                                                                     names[0], "x")], atol=1e-3)
        assert "individuals" in (tmp_path / "ma.csv").read_text().splitlines()[1]


class TestReadDlcLabels:
    def test_collected_data_one_index_column_empty_cells(self, tmp_path, names):
        idx = [f"labeled-data/ewe_video/img{i:03d}.png" for i in (4, 9, 17)]
        df = dlc_frame(names[:3], 3, likelihood=False, scorer="Ann", index=idx)
        df.iloc[1, 2:4] = np.nan  # second image: bodypart 2 not labelled
        folder = tmp_path / "labeled-data" / "ewe_video"
        folder.mkdir(parents=True)
        df.to_csv(folder / "CollectedData_Ann.csv")
        assert ",," in (folder / "CollectedData_Ann.csv").read_text()  # empty cells on disk
        (s,) = read_dlc(folder / "CollectedData_Ann.csv", SCHEME)
        np.testing.assert_array_equal(s.frames, [4, 9, 17])
        assert s.meta["images"] == idx and s.sequence == "ewe_video" and s.detector == "annotation"
        assert np.isnan(s.coords[1, 1, :2]).all() and np.isfinite(s.coords[0, 1, :2]).all()
        assert s.confidence[0, 0] == 1.0 and np.isnan(s.confidence[1, 1])

    def test_collected_data_three_index_columns(self, tmp_path, names):
        text = ("scorer,,,Ann,Ann,Ann,Ann\n"
                f"bodyparts,,,{names[0]},{names[0]},{names[1]},{names[1]}\n"
                "coords,,,x,y,x,y\n"
                "labeled-data,vid,img001.png,10.5,20.5,30,40\n"
                "labeled-data,vid,img002.png,11.5,21.5,,")
        path = tmp_path / "CollectedData_Ann.csv"
        path.write_text(text)
        (s,) = read_dlc(path, SCHEME)
        assert s.meta["images"] == ["labeled-data/vid/img001.png", "labeled-data/vid/img002.png"]
        np.testing.assert_allclose(s.coords[:, 0, :2], [[10.5, 20.5], [11.5, 21.5]])
        assert np.isnan(s.coords[1, 1, :2]).all()

    @needs_tables
    def test_collected_data_h5_multiindex(self, tmp_path, names):
        idx = pd.MultiIndex.from_tuples([("labeled-data", "vid", "img007.png"), ("labeled-data", "vid", "img008.png")])
        df = dlc_frame(names[:2], 2, likelihood=False, scorer="Ann", index=idx)
        df.to_hdf(tmp_path / "CollectedData_Ann.h5", key="df_with_missing")
        (s,) = read_dlc(tmp_path / "CollectedData_Ann.h5", SCHEME)
        np.testing.assert_array_equal(s.frames, [7, 8])


class TestReadDlcErrors:
    def _good(self, tmp_path, names):
        dlc_frame(names[:2], 3).to_csv(tmp_path / "v.csv")
        return (tmp_path / "v.csv").read_text().splitlines()

    def test_no_bodypart_matches(self, tmp_path):
        dlc_frame(["tail", "hoof"], 2).to_csv(tmp_path / "v.csv")
        with pytest.raises(InputError, match=r"no bodypart matches a landmark of sheep/spfes .*'tail', 'hoof'"):
            read_dlc(tmp_path / "v.csv", SCHEME)

    def test_missing_header_rows(self, tmp_path, names):
        lines = self._good(tmp_path, names)
        (tmp_path / "v.csv").write_text("\n".join(lines[3:]))
        with pytest.raises(InputError, match="missing DeepLabCut header rows"):
            read_dlc(tmp_path / "v.csv", SCHEME)

    def test_wrong_column_count(self, tmp_path, names):
        lines = self._good(tmp_path, names)
        lines[4] += ",1.0"
        (tmp_path / "v.csv").write_text("\n".join(lines))
        with pytest.raises(InputError, match="line 5 has 8 values, the header has 7 columns"):
            read_dlc(tmp_path / "v.csv", SCHEME)

    def test_text_in_a_value(self, tmp_path, names):
        lines = self._good(tmp_path, names)
        parts = lines[3].split(",")
        parts[2] = "oops"
        lines[3] = ",".join(parts)
        (tmp_path / "v.csv").write_text("\n".join(lines))
        with pytest.raises(InputError, match=r"line 4, column 3 .*'oops' is not a number"):
            read_dlc(tmp_path / "v.csv", SCHEME)

    def test_header_only(self, tmp_path, names):
        lines = self._good(tmp_path, names)
        (tmp_path / "v.csv").write_text("\n".join(lines[:3]) + "\n")
        with pytest.raises(InputError, match="no data rows"):
            read_dlc(tmp_path / "v.csv", SCHEME)

    @pytest.mark.parametrize("name,content,problem", [
        ("v.h5", b"scorer,a\nbodyparts,b\n", "is not an HDF5 file"),
        ("v.h5", b"", "file is empty"),
        ("v.csv", b"\x00\x01\x02binary", "binary file"),
        ("v.csv", b'{"a": 1}', "holds JSON"),
    ])
    def test_not_what_the_name_says(self, tmp_path, name, content, problem):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError, match=problem):
            read_dlc(tmp_path / name, SCHEME)

    @needs_tables
    def test_hdf5_named_csv_is_read_as_hdf5(self, tmp_path, names):
        dlc_frame(names[:2], 2).to_hdf(tmp_path / "v.csv", key="df_with_missing")
        assert read_dlc(tmp_path / "v.csv", SCHEME)[0].n_frames == 2

    @needs_tables
    def test_hdf5_without_dlc_table(self, tmp_path):
        pd.DataFrame({"a": [1.0]}).to_hdf(tmp_path / "v.h5", key="other")
        with pytest.raises(InputError, match="no DeepLabCut columns"):
            read_dlc(tmp_path / "v.h5", SCHEME)
