"""Reader registry, batch conversion and the ``geopain convert`` / ``geopain info`` commands."""
import importlib.util
import json

import numpy as np
import pytest

import geopain.species as species
from _io_helpers import cat_adapter, dlc_frame, face_points, openface_csv
from geopain.cli import main
from geopain.errors import GeopainError
from geopain.io.pts import write_pts
from geopain.io.readers import READERS, convert_files, expand_inputs, read_any
from geopain.io.tables import read_frame, read_table
from geopain.species import get_scheme


@pytest.fixture
def pts_folder(tmp_path):
    """Two good .pts files (one nested), a malformed one, an empty one and a stray .txt."""
    root = tmp_path / "faces"
    write_pts(root / "a.pts", face_points(68, seed=1))
    write_pts(root / "sub" / "b.pts", face_points(68, seed=2))
    (root / "sub" / "bad.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n}")
    (root / "empty.pts").write_bytes(b"")
    (root / "notes.txt").write_text("not a landmark file")
    return root


class TestRegistry:
    def test_formats(self):
        assert READERS.names() == ["catflw", "dlc", "openface", "pts", "yolo"]
        assert READERS.info("dlc")["extensions"] == (".h5", ".csv") and READERS.info("catflw")["needs_scheme"]
        assert not READERS.info("dlc").get("needs_scheme")  # the body-part names are an ad-hoc scheme
        assert all(READERS.info(f)["description"] for f in READERS.names())

    def test_read_any(self, tmp_path):
        p = write_pts(tmp_path / "a.pts", face_points(68))
        (s,) = read_any(p, "pts")
        assert s.scheme == "human/ibug68"
        with pytest.raises(GeopainError, match="unknown reader 'csv'; known: catflw, dlc, openface, pts, yolo"):
            read_any(p, "csv")
        with pytest.raises(GeopainError, match=r"format 'pts' takes no option\(s\) \['coords'\]"):
            read_any(p, "pts", coords="3d")


class TestConvertFiles:
    def test_good_files_kept_bad_ones_listed(self, pts_folder):
        seqs, errors = convert_files([pts_folder], "pts")
        assert sorted(s.subject for s in seqs) == ["a", "b"]
        assert len(errors) == 2 and all("\n" not in e for e in errors)
        assert any(e.startswith(str(pts_folder / "sub" / "bad.pts") + ": ") and "n_points says 68" in e
                   for e in errors)
        assert any(e == f"{pts_folder / 'empty.pts'}: file is empty" for e in errors)

    def test_missing_inputs_and_empty_folder(self, tmp_path):
        (tmp_path / "empty").mkdir()
        seqs, errors = convert_files([tmp_path / "nope.pts", tmp_path / "empty"], "pts")
        assert seqs == [] and errors == [f"{tmp_path / 'nope.pts'}: no such file or folder",
                                         f"{tmp_path / 'empty'}: no .pts files in this folder"]

    def test_same_names_in_two_folders_stay_apart(self, tmp_path):
        write_pts(tmp_path / "s1" / "img.pts", face_points(68, seed=1))
        write_pts(tmp_path / "s2" / "img.pts", face_points(68, seed=2))
        seqs, errors = convert_files([tmp_path], "pts")
        assert not errors and len({s.key() for s in seqs}) == 2
        assert sorted(s.sequence for s in seqs) == ["s1/img:img", "s2/img:img"]

    @pytest.mark.skipif(importlib.util.find_spec("tables") is None, reason="the h5 extra is not installed")
    def test_dlc_prefers_h5_twin_and_collects_notes(self, tmp_path):
        names = list(get_scheme("sheep/spfes").landmarks)
        df = dlc_frame(names[:3] + ["tail"], 3)
        df.to_csv(tmp_path / "v.csv")
        df.to_hdf(tmp_path / "v.h5", key="df_with_missing")
        files, _ = expand_inputs([tmp_path], "dlc")
        assert [f.name for f in files] == ["v.h5"]
        seqs, errors = convert_files([tmp_path], "dlc", scheme="sheep/spfes")
        assert not errors and len(seqs) == 1 and "tail" in seqs[0].meta["notes"][0]

    def test_batch_mistakes_raise_once(self, tmp_path):
        with pytest.raises(GeopainError, match="format 'catflw' needs a landmark scheme"):
            convert_files([tmp_path], "catflw")
        with pytest.raises(GeopainError, match="unknown scheme 'sheep/nope'"):
            convert_files([tmp_path], "dlc", scheme="sheep/nope")
        with pytest.raises(GeopainError, match="unknown reader"):
            convert_files([tmp_path], "bvh")


class TestCliConvert:
    def test_partial_failure_exit_1(self, pts_folder, tmp_path, capsys):
        out = tmp_path / "out.parquet"
        rc = main(["convert", str(pts_folder), "--format", "pts", "-o", str(out)])
        cap = capsys.readouterr()
        assert rc == 1
        err = cap.err.strip().splitlines()
        assert len(err) == 2 and all(ln.startswith("geopain convert: error: ") for ln in err)
        assert "bad.pts: n_points says 68, the file lists 1 points" in cap.err and "Traceback" not in cap.err
        assert "wrote" in cap.out and "2 sequences" in cap.out and "2 input(s) failed" in cap.out
        seqs = read_table(out)
        assert sorted(s.subject for s in seqs) == ["a", "b"] and seqs[0].dims == 2

    def test_all_good_exit_0_and_info(self, tmp_path, capsys):
        xy = face_points(68)
        openface_csv(tmp_path / "clip.csv", [dict(frame=1, xy=xy, au={"AU04": 2.0}), dict(frame=2, xy=xy),
                                             dict(frame=2, face_id=1, xy=xy + 5)])
        out = tmp_path / "of.csv"
        assert main(["convert", str(tmp_path / "clip.csv"), "-f", "openface", "-o", str(out)]) == 0
        capsys.readouterr()
        assert main(["info", str(out)]) == 0
        text = capsys.readouterr().out
        assert "rows:       3" in text and "sequences:  2" in text and "human/ibug68 (68 points)" in text
        assert "detector:   openface" in text and "units:      px; dims 2" in text
        frame, _ = read_frame(out)
        assert frame["AU4"].tolist()[0] == 2.0 and "pose_Rx" in frame

    def test_output_inside_input_folder_is_not_read_back(self, tmp_path, capsys):
        openface_csv(tmp_path / "clip.csv", [dict(frame=1, xy=face_points(68))])
        out = tmp_path / "table.csv"
        for _ in range(2):  # the second run must not try to read table.csv as OpenFace
            assert main(["convert", str(tmp_path), "-f", "openface", "-o", str(out), "-q"]) == 0
        assert capsys.readouterr().err == ""

    def test_openface_3d(self, tmp_path, capsys):
        xyz = np.concatenate([face_points(68), np.full((68, 1), 450.0)], 1)
        openface_csv(tmp_path / "clip.csv", [dict(frame=1, xyz=xyz)])
        out = tmp_path / "o.parquet"
        assert main(["convert", str(tmp_path), "-f", "openface", "--coords", "3d", "-o", str(out), "-q"]) == 0
        assert capsys.readouterr().out == ""
        (s,) = read_table(out)
        assert s.units == "mm" and s.dims == 3 and s.coords[0, 0, 2] == 450

    def test_nothing_readable_exit_2(self, tmp_path, capsys):
        (tmp_path / "x.csv").write_bytes(b"\x00\x01binary")
        (tmp_path / "y.csv").write_text('{"json": true}')
        out = tmp_path / "o.parquet"
        rc = main(["convert", str(tmp_path / "x.csv"), str(tmp_path / "y.csv"), "-f", "openface", "-o", str(out)])
        cap = capsys.readouterr()
        assert rc == 2 and not out.exists()
        assert "x.csv: is a binary file" in cap.err and "y.csv: holds JSON" in cap.err
        assert "nothing converted (2 input(s) failed)" in cap.err and "Traceback" not in cap.err

    @pytest.mark.parametrize("argv,problem", [
        (["-f", "catflw"], "format 'catflw' needs a landmark scheme"),
        (["-f", "pts", "--coords", "3d"], "--coords does not apply to --format pts"),
        (["-f", "pts", "--scheme", "human/none"], "unknown scheme 'human/none'"),
        (["-f", "pts", "--split", "val"], "--split does not apply"),
    ])
    def test_usage_mistakes_one_line_exit_2(self, pts_folder, tmp_path, capsys, argv, problem):
        rc = main(["convert", str(pts_folder), *argv, "-o", str(tmp_path / "o.parquet")])
        err = capsys.readouterr().err
        assert rc == 2 and problem in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err

    def test_bad_output_suffix(self, pts_folder, tmp_path, capsys):
        assert main(["convert", str(pts_folder), "-f", "pts", "-o", str(tmp_path / "o.txt")]) == 2
        assert "must end in .parquet or .csv" in capsys.readouterr().err

    def test_mixed_schemes(self, tmp_path, capsys):
        write_pts(tmp_path / "a.pts", face_points(68))
        write_pts(tmp_path / "b.pts", face_points(66))
        assert main(["convert", str(tmp_path), "-f", "pts", "-o", str(tmp_path / "o.parquet")]) == 2
        assert "several landmark schemes" in capsys.readouterr().err
        rc = main(["convert", str(tmp_path), "-f", "pts", "--scheme", "human/ibug68",
                   "-o", str(tmp_path / "o.parquet")])
        assert rc == 1 and "b.pts: 66 points, scheme human/ibug68 has 68" in capsys.readouterr().err

    def test_catflw_with_adapter_path(self, tmp_path, capsys, monkeypatch):
        monkeypatch.setattr(species, "_extra_dirs", [])
        adapter = cat_adapter(tmp_path / "adapters")
        (tmp_path / "cats").mkdir()
        for i in range(2):
            (tmp_path / "cats" / f"c{i}.json").write_text(json.dumps({"labels": face_points(48, seed=i).tolist(),
                                                                       "bounding_boxes": [0, 0, 400, 400]}))
        out = tmp_path / "cats.parquet"
        assert main(["convert", str(tmp_path / "cats"), "-f", "catflw", "--scheme", str(adapter), "-o", str(out)]) == 0
        frame, meta = read_frame(out)
        assert len(frame) == 2 and set(frame["scheme"]) == {"cat/catflw48"} and meta["n_points"] == 48
        species._clear_caches()

    def test_yolo_and_dlc(self, tmp_path, capsys):
        from geopain.io.yolo import write_yolo_dataset
        from geopain.landmarks import LandmarkSequence

        rng = np.random.default_rng(0)
        images = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
        seqs = [LandmarkSequence(rng.uniform(5, 60, (1, 28, 2)), "sheep/spfes") for _ in range(3)]
        y = write_yolo_dataset(tmp_path / "ds", images, seqs, "sheep/spfes")
        out = tmp_path / "y.parquet"
        assert main(["convert", str(y), "-f", "yolo", "--split", "val", "-o", str(out)]) == 0
        assert len(read_table(out)) == 1
        names = list(get_scheme("sheep/spfes").landmarks)
        dlc_frame(names[:4], 6, individuals=["a", "b"]).to_csv(tmp_path / "ma.csv")
        out = tmp_path / "d.parquet"
        assert main(["convert", str(tmp_path / "ma.csv"), "-f", "dlc", "-s", "sheep/spfes", "--pcutoff", "0.1",
                     "-o", str(out)]) == 0
        assert [s.face_id for s in read_table(out)] == [0, 1]

    def test_help(self, capsys):
        with pytest.raises(SystemExit) as info:
            main(["convert", "--help"])
        text = capsys.readouterr().out
        assert info.value.code == 0 and "--format" in text and "CollectedData" in text and "catflw" in text

    def test_unknown_format_is_a_usage_error(self, tmp_path, capsys):
        with pytest.raises(SystemExit) as info:
            main(["convert", str(tmp_path), "-f", "bvh", "-o", str(tmp_path / "o.parquet")])
        assert info.value.code == 2 and "invalid choice: 'bvh'" in capsys.readouterr().err


class TestCliInfo:
    def test_bad_table_one_line(self, tmp_path, capsys):
        (tmp_path / "t.parquet").write_text("hello")
        assert main(["info", str(tmp_path / "t.parquet")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("geopain info: error: ") and "not a Parquet landmark table" in err
        assert len(err.strip().splitlines()) == 1

    def test_labels_summary(self, tmp_path, capsys):
        from geopain.io.tables import write_table
        from geopain.landmarks import LandmarkSequence

        s = LandmarkSequence(np.zeros((4, 28, 2)), "sheep/spfes",
                             labels={"pain": [0, 1, 1, np.nan], "level": [0, 2, 2, 4], "score": [0, 3, 4, 9]})
        write_table([s], tmp_path / "t.parquet")
        assert main(["info", str(tmp_path / "t.parquet")]) == 0
        out = capsys.readouterr().out
        assert "pain:       0: 1, 1: 2 (3 labelled)" in out and "level:      0: 1, 2: 2, 4: 1 (4 labelled)" in out
        assert "score:      mean 4.00, range 0.00-9.00 (4 labelled)" in out
