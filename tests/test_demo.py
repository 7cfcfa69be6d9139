"""The main job, at toy size: real photo end to end, both species, report and metrics."""
import json

import pytest

from geopain.demo import DemoConfig, results_table, run_demo


@pytest.mark.detector
def test_demo_end_to_end_small(tmp_path):
    cfg = DemoConfig(subjects=6, sequences_per_subject=2, frames=8, folds=2, models=("logreg", "wgnn"),
                     tasks=("binary",), epochs=2)
    results = run_demo(tmp_path, cfg, progress=False)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["simulated"] is True
    # the real photo went through the default detector and was scored by both models
    assert saved["photo"]["faces"] >= 1 and saved["photo"]["points"] == 468
    assert set(saved["photo"]["prediction"]["p_pain"]) == {"wgnn", "logreg"}
    assert all(0.0 <= p <= 1.0 for p in saved["photo"]["prediction"]["p_pain"].values())
    # one row per species x task x model, each with numbers
    rows = results_table(results)
    assert {(r[0], r[1], r[2]) for r in rows} == {(s, "binary", m) for s in ("human", "sheep") for m in ("logreg", "wgnn")}
    assert all(c != "n/a" for r in rows for c in r[3:5])
    html = (tmp_path / "report.html").read_text()
    assert "Simulated cohorts" in html and html.count("<img") == 4
    for name in ("photo_landmarks.png", "photo_graph.png", "photo_measurements.png",
                 "human_cohort_simulated.parquet", "sheep_cohort_simulated.parquet"):
        assert (tmp_path / name).stat().st_size > 0
