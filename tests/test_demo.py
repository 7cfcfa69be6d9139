"""The main job, at toy size: real photo end to end, both species, report and metrics."""
import json
from pathlib import Path

import numpy as np
import pytest

from geopain.demo import DemoConfig, results_table, run_demo


@pytest.mark.detector
def test_demo_end_to_end_small(tmp_path):
    cfg = DemoConfig(subjects=6, sequences_per_subject=2, frames=8, folds=2, models=("logreg", "wgnn"),
                     tasks=("binary",), epochs=2, weightings=("wgnn", "wgnn-uniform"))
    results = run_demo(tmp_path, cfg, progress=False)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["simulated"] is True
    # the real photo went through the default detector and was scored by both models
    assert saved["photo"]["faces"] >= 1 and saved["photo"]["points"] == 468
    assert set(saved["photo"]["prediction"]["p_pain"]) == {"wgnn", "logreg"}
    assert all(0.0 <= p <= 1.0 for p in saved["photo"]["prediction"]["p_pain"].values())
    # one row per species x task x reference x model, each with numbers
    rows = results_table(results)
    assert {(r[0], r[1], r[2], r[3]) for r in rows} == {
        (s, "binary", ref, m) for s in ("human", "sheep") for m in ("logreg", "wgnn")
        for ref in ("none (reference-free)", "subject's median face")}
    assert all(c != "n/a" for r in rows for c in r[4:6])
    # strict JSON (no bare NaN) and the weightings compared on the same folds
    json.loads((tmp_path / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert set(saved["cohorts"]["human"]["weightings"]["means"]) == {"wgnn", "wgnn-uniform"}
    html = (tmp_path / "report.html").read_text()
    assert "Simulated cohorts" in html and html.count("<img") == 7  # 4 of the photo, 3 of its explanation
    # the photo's explanation: unit shares of the PSPI units (geopain.explain)
    expl = saved["photo"]["prediction"]["explanation"]
    assert set(expl["units"]) >= {"AU4 (brow lowerer)", "AU10 (upper lip raiser)"}
    assert sum(expl["units"].values()) == pytest.approx(1.0, abs=0.01)
    assert "balanced accuracy" in html and "per-person reference" in html
    for name in ("photo_landmarks.png", "photo_graph.png", "photo_measurements.png", "photo_explain_units.png",
                 "photo_explain_heatmap.png", "sequence_explain_timeline.png",
                 "human_cohort_simulated.parquet", "sheep_cohort_simulated.parquet"):
        assert (tmp_path / name).stat().st_size > 0


class TestReadmeTables:
    def test_readme_blocks_are_generated_from_the_committed_results(self):
        """The README's results are what geopain makes of the committed result files."""
        from pathlib import Path

        from geopain.demo import readme_blocks

        root = Path(__file__).resolve().parents[1]
        blocks = readme_blocks(root / "benchmarks" / "results")
        assert set(blocks) == {"demo-results", "edge-weights", "generality", "cross-generator", "temporal",
                               "biosignals", "biosignals-camera", "biovid_layout", "explanations", "cohort_draws",
                               "speed"}
        text = (root / "README.md").read_text()
        for name, body in blocks.items():
            block = text.split(f"<!-- {name}:start -->", 1)[1].split(f"<!-- {name}:end -->", 1)[0]
            assert block.strip() == body.strip(), "run 'make readme-tables' after 'make demo'"

    def test_speed_table_reads_the_benchmark_outputs(self, tmp_path):
        """Rows come from the files that exist, with their numbers and load averages."""
        import json

        from geopain.demo import markdown_speed

        assert markdown_speed(tmp_path).count("\n") == 2  # header only: nothing measured
        (tmp_path / "dashboard").mkdir()
        page = {"path": "/", "median_s": 0.0421, "max_s": 0.05, "bytes": 1}
        (tmp_path / "dashboard" / "dashboard.json").write_text(json.dumps({
            "load_avg_at_start": [3.25, 1, 1], "sqlite": {"runs": 100, "windows_per_run": 10000,
                                                          "pages": {"first page (runs)": page}}}))
        (tmp_path / "startup").mkdir()
        (tmp_path / "startup" / "startup.json").write_text(json.dumps({
            "load_average": [0.5, 0, 0], "current": {"geopain --help": {"wall_s_best": 0.123, "cpu_s_best": 0.08}}}))
        (tmp_path / "speed" / "cluster").mkdir(parents=True)
        (tmp_path / "speed" / "cluster" / "speed.json").write_text(json.dumps({
            "load_average_before": [1.5, 1, 1], "cluster": {
                "models": ["logreg", "wgnn"], "cores": 2, "single_s": 100.0, "pool_s": 60.4, "ray_s": 70.2,
                "pool_ratio": 0.604, "ray_ratio": 0.702, "pool_max_dp": 0.0, "ray_max_dp": 2e-7}}))
        table = markdown_speed(tmp_path)
        assert "100 runs x 10,000 windows (load 3.2" in table and "sqlite 0.042 s" in table
        assert "0.12 s wall" in table and "(was" not in table
        assert "4 folds x 2 models" in table and "`--workers 2` 60 s (0.60x)" in table and "cluster 70 s (0.70x)" in table
        assert "monitor" not in table

    def test_update_readme_fills_the_block(self, tmp_path):
        from geopain.demo import markdown_results, update_readme
        from geopain.errors import GeopainError

        metrics = {"config": {"subjects": 2, "folds": 2}, "seconds": 1, "cohorts": {
            "human": {"results": {"binary": {"none": {"logreg": {"frame": {"balanced_accuracy": {"mean": 0.5, "std": 0.1}}}}}}}}}
        readme = tmp_path / "README.md"
        readme.write_text("intro\n<!-- demo-results:start -->\nSTALE\n<!-- demo-results:end -->\noutro\n")
        blocks = {"demo-results": markdown_results(metrics)}
        assert update_readme(readme, blocks)
        text = readme.read_text()
        assert "STALE" not in text and "0.50 ± 0.10" in text and text.endswith("outro\n")
        assert not update_readme(readme, blocks)  # idempotent
        readme.write_text("no markers")
        with pytest.raises(GeopainError, match="block"):
            update_readme(readme, blocks)


class TestCohortDraws:
    def test_small_run_writes_the_readme_block(self, tmp_path):
        """benchmarks/cohort_draws.py at toy size: per-draw and pooled rows, the paired verdict,
        the seed-0 draw reproduces the same run_protocol call as the demo."""
        import importlib.util
        import sys

        path = Path(__file__).resolve().parents[1] / "benchmarks" / "cohort_draws.py"
        spec = importlib.util.spec_from_file_location("cohort_draws", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["cohort_draws"] = mod
        spec.loader.exec_module(mod)
        report = mod.main(["--species", "sheep", "--seeds", "0", "1", "--tasks", "binary", "--models", "logreg",
                           "pointnet", "--epochs", "1", "-o", str(tmp_path)])
        r = report["results"]["binary"]["sheep"]
        assert set(r["draws"]) == {0, 1} and set(r["mean_over_draws"]) == {"logreg", "pointnet"}
        assert r["pooled"]["network"] == "pointnet" and r["pooled"]["baseline"] == "logreg"
        assert np.isclose(r["mean_over_draws"]["logreg"],
                          np.mean([d["balanced_accuracy"]["logreg"] for d in r["draws"].values()]))
        md = (tmp_path / "summary.md").read_text()
        assert "| binary | sheep | seed 1 |" in md and "| binary | sheep | all draws |" in md
        assert "Goal (best neural >= best baseline)" in md
        assert json.loads((tmp_path / "summary.json").read_text())["epochs"] == 1
