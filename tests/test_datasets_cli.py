"""``geopain dataset prepare|fixture|list`` in-process."""
import pytest

from geopain.cli import main
from geopain.io.tables import read_frame


class TestDatasetCli:
    def test_fixture_then_prepare_unbc(self, tmp_path, capsys):
        assert main(["dataset", "fixture", "unbc", str(tmp_path / "UNBC")]) == 0
        out = tmp_path / "unbc.parquet"
        assert main(["dataset", "prepare", "unbc", str(tmp_path / "UNBC"), "-o", str(out), "--threshold", "2",
                     "--quiet"]) == 0
        printed = capsys.readouterr().out
        assert "36 frames, 6 sequences, 3 subjects; protocols loso, kfold5; 0 error(s)" in printed
        frame, meta = read_frame(out)
        assert ((frame["score"] > 2) == (frame["pain"] == 1)).all() and meta["dataset"] == "unbc"

    def test_errors_one_per_line(self, tmp_path, capsys):
        root = tmp_path / "UNBC"
        main(["dataset", "fixture", "unbc", str(root)])
        seq = root / "Frame_Labels/PSPI/043-jh043/jh043t1aaaff"
        (seq / "jh043t1aaaff002_facs.txt").write_text("n/a")
        (seq / "jh043t1aaaff003_facs.txt").unlink()
        capsys.readouterr()
        code = main(["dataset", "prepare", "unbc", str(root), "-o", str(tmp_path / "u.parquet"), "--quiet"])
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error: ")]
        assert code == 1 and len(err) == 2
        assert err[0].endswith("jh043t1aaaff002_facs.txt: expected one number, found 'n/a'")
        assert err[1].endswith("jh043t1aaaff003_facs.txt: missing file")
        assert (tmp_path / "u.parquet").is_file() and (tmp_path / "u.parquet.errors.txt").is_file()

    def test_sheep(self, tmp_path, capsys):
        import geopain.io.yolo  # noqa: F401  (geopain itself: never skipped)
        assert main(["dataset", "fixture", "sheep", str(tmp_path / "flock")]) == 0
        assert main(["dataset", "prepare", "sheep", str(tmp_path / "flock"), "-o", str(tmp_path / "s.csv"),
                     "--quiet"]) == 0
        frame, meta = read_frame(tmp_path / "s.csv")
        assert len(frame) == 18 and "loao" in meta["protocols"]

    def test_biovid_with_given_landmarks(self, tmp_path, capsys):
        from test_datasets_biovid import fake_landmarks

        root = tmp_path / "PartA"
        assert main(["dataset", "fixture", "biovid", str(root)]) == 0
        table = fake_landmarks(root, tmp_path / "given.parquet")
        assert main(["dataset", "prepare", "biovid", str(root), "-o", str(tmp_path / "b.parquet"),
                     "--landmarks", str(table), "--biosignals", "raw", "--quiet"]) == 0
        assert "biosignals: " in capsys.readouterr().out
        assert (tmp_path / "b.biosignals.parquet").is_file()

    def test_option_not_taken(self, tmp_path, capsys):
        main(["dataset", "fixture", "unbc", str(tmp_path / "U")])
        code = main(["dataset", "prepare", "unbc", str(tmp_path / "U"), "-o", str(tmp_path / "u.parquet"),
                     "--stride", "2"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "takes no option stride" in err[0]

    def test_missing_root(self, tmp_path, capsys):
        code = main(["dataset", "prepare", "unbc", str(tmp_path / "nowhere"), "-o", str(tmp_path / "u.parquet")])
        assert code == 2 and "dataset folder does not exist" in capsys.readouterr().err

    def test_list(self, capsys):
        assert main(["dataset", "list"]) == 0
        out = capsys.readouterr().out
        assert "loso87, loso67" in out and "datasets/unbc-mcmaster.md" in out and "sheep" in out
