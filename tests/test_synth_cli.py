"""``geopain synth``: the simulator's command line (simulated data only)."""
from __future__ import annotations

import numpy as np
import pytest

from geopain.cli import main
from geopain.io.tables import read_frame, read_table


def _run(tmp_path, *args, name="out.parquet"):
    out = tmp_path / name
    code = main(["synth", *args, "-o", str(out)])
    return code, out


class TestSynthCommand:
    def test_smoke(self, tmp_path, capsys):
        code, out = _run(tmp_path, "--species", "sheep", "--subjects", "3", "--sequences-per-subject", "2",
                         "--frames", "7", "--seed", "1")
        assert code == 0
        printed = capsys.readouterr().out
        assert "SIMULATED" in printed and "not clinical" in printed
        assert "6 sequences" in printed and "3 subjects" in printed
        seqs = read_table(out)
        assert len(seqs) == 6 and all(s.n_frames == 7 for s in seqs)
        assert sorted({s.subject for s in seqs}) == ["S01", "S02", "S03"]
        assert all(s.scheme == "sheep/spfes" and s.units == "cm" and s.dims == 3 for s in seqs)
        assert {"orbital_tightening", "ear_position", "score", "pain", "level"} <= set(seqs[0].labels)
        assert all({"pain", "level", "score"} <= set(s.sequence_labels) for s in seqs)
        frame, meta = read_frame(out)
        assert meta["simulated"] is True and meta["synth"]["seed"] == 1
        assert meta["protocols"]["loso"]["kind"] == "loso"
        assert (frame["detector"] == "synth").all()

    def test_reproducible(self, tmp_path):
        _, a = _run(tmp_path, "--subjects", "2", "--frames", "5", "--seed", "4", name="a.parquet")
        _, b = _run(tmp_path, "--subjects", "2", "--frames", "5", "--seed", "4", name="b.parquet")
        fa, fb = read_frame(a)[0], read_frame(b)[0]
        np.testing.assert_array_equal(fa.filter(regex=r"^[xyz]_").to_numpy(), fb.filter(regex=r"^[xyz]_").to_numpy())

    def test_project_and_scheme(self, tmp_path):
        code, out = _run(tmp_path, "--subjects", "1", "--sequences-per-subject", "1", "--frames", "3",
                         "--project", "--scheme", "human/mediapipe468", "--noise", "0.5")
        assert code == 0
        s = read_table(out)[0]
        assert s.n_points == 468 and s.dims == 2 and s.units == "px"
        assert np.isnan(s.coords[..., 2]).all()

    def test_knobs_and_csv(self, tmp_path):
        code, out = _run(tmp_path, "--subjects", "2", "--frames", "4", "--pain-prevalence", "1",
                         "--confounder-rate", "0", "--pose-scale", "0", "--occlusion-rate", "0",
                         "--config", '{"drop_rate": 0.0, "level_weights": [0, 0, 0, 1]}', name="t.csv")
        assert code == 0
        seqs = read_table(out)
        assert all(s.sequence_labels["level"] == 4 for s in seqs)
        assert all(np.isfinite(s.coords).all() for s in seqs)


    def test_difficulty(self, tmp_path):
        code, out = _run(tmp_path, "--subjects", "2", "--frames", "4", "--difficulty", "easy")
        assert code == 0
        seqs = read_table(out)
        assert all(np.isfinite(s.coords).all() for s in seqs)
        assert read_frame(out)[1]["synth"]["config"]["pose_scale"] == 0.0


class TestSynthCommandErrors:
    @pytest.mark.parametrize("args,msg", [
        (["--species", "unicorn"], "no simulator"),
        (["--subjects", "0"], "n_subjects"),
        (["--config", "{not json"], "JSON"),
        (["--config", '{"colour": 1}'], "unknown option"),
        (["--pain-prevalence", "2"], "pain_prevalence"),
        (["--scheme", "sheep/spfes"], "not a human scheme"),
    ])
    def test_user_errors(self, tmp_path, capsys, args, msg):
        code, out = _run(tmp_path, *args)
        assert code == 2
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert not out.exists()

    def test_bad_suffix(self, tmp_path, capsys):
        code, _ = _run(tmp_path, name="out.txt")
        assert code == 2 and ".parquet or .csv" in capsys.readouterr().err

    def test_help_says_simulation(self, capsys):
        with pytest.raises(SystemExit):
            main(["synth", "--help"])
        text = capsys.readouterr().out
        assert "SIMULATION, NOT CLINICAL DATA" in text
        assert "--project" in text and "--sequences-per-subject" in text
