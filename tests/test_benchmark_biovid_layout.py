"""benchmarks/biovid_layout.py: a simulated cohort written in BioVid Part A's layout goes through
`geopain dataset prepare biovid` and one `geopain evaluate` call under LOSO-87."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _load():
    spec = importlib.util.spec_from_file_location("biovid_layout", BENCH / "biovid_layout.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["biovid_layout"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_layout_is_biovids(tmp_path):
    from geopain.datasets import biovid

    bench = _load()
    root = tmp_path / "PartA"
    landmarks = bench.write_layout(root, subjects=2, samples=2, coupling=1.0, seed=0)
    samples = biovid.read_samples(root / "samples.csv")
    assert len(samples) == 4 and set(samples["class_name"]) <= {"BL1", "PA4"}
    one = samples.iloc[0]
    sig = biovid.read_biosignals(root / "biosignals_filtered" / one["subject_name"] / f"{one['sample_name']}_bio.csv")
    assert list(sig.columns) == ["time", "gsr", "ecg", "emg_trapezius"]
    assert abs(np.median(np.diff(sig["time"])) - 1 / 512) < 1e-6  # 512 Hz, from the file's microseconds
    assert sig["time"].iloc[-1] > 5.4  # the whole 5.5 s sample
    assert biovid.subject_info(one["subject_name"])["sex"] in ("female", "male")
    assert Path(landmarks).is_file()


def test_prepare_and_evaluate_under_loso87(tmp_path):
    bench = _load()
    summary = bench.main(["--subjects", "3", "--samples", "4", "--epochs", "1", "--models", "logreg", "biosignals",
                          "-o", str(tmp_path / "out")])
    assert summary["folds"] == 3 and [r["model"] for r in summary["rows"]] == ["logreg", "biosignals"]
    assert all(r["errors"] == 0 for r in summary["rows"])
    assert 0.0 <= summary["rows"][1]["sequence_ba"] <= 1.0
    table = (tmp_path / "out" / "summary.md").read_text()
    assert "| biosignals | biosignals only |" in table and "loso87" in table


def test_raw_signals_align_to_the_side_table():
    """simulate_biosignals(aligned=False) gives the recording; aligning it as `prepare` does
    gives back the per-frame side table."""
    from geopain.biosignals import simulate_biosignals
    from geopain.datasets.biovid import align_biosignals
    from geopain.synth import simulate

    seqs = simulate("human", 1, 1, 40, seed=0)
    raw = simulate_biosignals(seqs, seed=2, aligned=False, signals=("gsr", "ecg"))
    side = simulate_biosignals(seqs, seed=2, signals=("gsr", "ecg"))
    assert list(raw.columns) == ["subject", "sequence", "time", "gsr", "ecg"] and raw["time"].iloc[0] == 0.0
    ts = side["timestamp"].to_numpy()
    again = align_biosignals(raw.drop(columns=["subject", "sequence"]).assign(time=raw["time"] + ts[0] - 0.5 / 25),
                             ts, 25.0)
    pd.testing.assert_frame_equal(again, side[["gsr", "ecg"]].reset_index(drop=True), check_exact=False, rtol=1e-9)
