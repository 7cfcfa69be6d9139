"""Paired model comparison (seeds × folds) and clinician-readable reports."""
from __future__ import annotations

import numpy as np
import pytest

from geopain.evaluation import METRIC_LABELS, best_by_paired, compare_many, paired_comparison
from geopain.evaluation import report as R

KEYS = {"names", "metric", "label", "higher_is_better", "n_pairs", "n_dropped", "few_pairs", "mean_a", "mean_b",
        "mean_diff", "sd_diff", "ci_level", "ci_low", "ci_high", "p_value", "wins", "ties", "losses",
        "significant", "better", "sentence"}


def _consistent(n: int = 10, gain: float = 0.05, seed: int = 0):
    rng = np.random.default_rng(seed)
    b = 0.6 + rng.normal(0, 0.03, n)
    return b + gain + rng.normal(0, 0.005, n), b


class TestPairedComparison:
    def test_smoke(self):
        a, b = _consistent()
        r = paired_comparison(a, b, names=("strain weights", "uniform weights"))
        assert set(r) == KEYS
        assert r["n_pairs"] == 10 and r["wins"] + r["ties"] + r["losses"] == 10
        assert r["mean_diff"] == pytest.approx(np.mean(a - b)) and r["sd_diff"] == pytest.approx(np.std(a - b, ddof=1))
        # seeded bootstrap: reproducible
        assert paired_comparison(a, b)["ci_low"] == r["ci_low"]

    def test_edge_cases(self):
        with pytest.raises(ValueError, match="length"):
            paired_comparison([0.1, 0.2], [0.1])
        same = paired_comparison([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
        assert same["p_value"] == 1.0 and same["ties"] == 3 and not same["significant"]
        few = paired_comparison([0.9, 0.8, 0.85], [0.1, 0.2, 0.15])
        assert few["n_pairs"] == 3 and few["few_pairs"] and np.isfinite(few["p_value"])
        assert "too few" in few["sentence"]
        nan = paired_comparison([0.7, np.nan, 0.8], [0.6, 0.5, np.nan])
        assert nan["n_pairs"] == 1 and nan["n_dropped"] == 2
        empty = paired_comparison([], [])
        assert empty["n_pairs"] == 0 and np.isnan(empty["mean_diff"]) and not empty["significant"]
        assert "no pairs" in empty["sentence"]

    def test_detects_consistent_gain(self):
        a, b = _consistent(10, 0.05)
        r = paired_comparison(a, b, names=("strain weights", "uniform weights"))
        assert r["p_value"] < 0.05 and r["significant"] and r["better"] == "strain weights"
        assert r["ci_low"] > 0 and r["wins"] == 10
        assert r["sentence"].startswith("strain weights beat uniform weights by +0.0")
        assert "balanced accuracy" in r["sentence"] and "10 pairs" in r["sentence"] and "Wilcoxon p=" in r["sentence"]
        # the reverse order names the winner first, with a positive difference
        rev = paired_comparison(b, a, names=("uniform weights", "strain weights"))
        assert rev["better"] == "strain weights" and rev["sentence"].startswith("strain weights beat uniform")

    def test_symmetric_noise_not_significant(self):
        d = np.array([0.03, -0.03, 0.02, -0.02, 0.01, -0.01, 0.04, -0.04, 0.05, -0.05])
        b = np.full(10, 0.7)
        r = paired_comparison(b + d, b, names=("x", "y"))
        assert r["p_value"] > 0.05 and not r["significant"] and r["better"] is None
        assert r["ci_low"] < 0 < r["ci_high"] and "within noise" in r["sentence"]

    def test_lower_is_better(self):
        a, b = _consistent(10, -0.05)  # a has a lower error
        r = paired_comparison(a, b, names=("wgnn", "logreg"), metric="mae_level")
        assert not r["higher_is_better"] and r["better"] == "wgnn" and r["wins"] == 10
        assert "mean abs. level error" in r["sentence"]


class TestCompareMany:
    def test_smoke(self):
        a, b = _consistent()
        out = compare_many({"wgnn": a, "logreg": b, "gboost": b + 0.001}, reference="logreg")
        assert [r["names"] for r in out] == [["wgnn", "logreg"], ["gboost", "logreg"]]

    def test_unknown_reference(self):
        with pytest.raises(KeyError):
            compare_many({"a": [0.1]}, reference="b")

    def test_flags_only_the_real_gain(self):
        a, b = _consistent()
        noise = b + np.array([0.01, -0.01] * 5)
        out = compare_many({"wgnn": a, "logreg": b, "noise": noise}, reference="logreg", metric="balanced_accuracy")
        assert [r["significant"] for r in out] == [True, False]


class TestBestByPaired:
    def test_smoke(self):
        a, b = _consistent()
        r = best_by_paired({"logreg": b, "wgnn": a})
        assert r["best"] == "wgnn" and r["runner_up"] == "logreg" and r["significant"]
        assert r["means"]["wgnn"] == pytest.approx(np.mean(a))

    def test_edge_cases(self):
        with pytest.raises(ValueError):
            best_by_paired({})
        one = best_by_paired({"only": [0.5, 0.6]})
        assert one["best"] == "only" and one["runner_up"] is None and not one["significant"]
        nan = best_by_paired({"undefined": [np.nan, np.nan], "ok": [0.5, 0.6]})
        assert nan["best"] == "ok"

    def test_not_significant_and_lower_is_better(self):
        b = np.full(10, 0.7)
        close = b + np.array([0.03, -0.02, 0.02, -0.02, 0.01, -0.01, 0.04, -0.04, 0.05, -0.05])
        r = best_by_paired({"a": b, "b": close})
        assert r["best"] == "b" and not r["significant"]
        err = best_by_paired({"high": b + 0.2, "low": b + np.linspace(-0.1, -0.05, 10)}, metric="mae")
        assert err["best"] == "low" and err["significant"]


# ----------------------------------------------------------------------------------------- reports


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory):
    from geopain.evaluation import run_protocol
    from geopain.synth import simulate

    seqs = simulate(species="human", n_subjects=6, sequences_per_subject=2, frames=12)
    out = tmp_path_factory.mktemp("report_binary")
    res = run_protocol(seqs, ["logreg"], "binary", "kfold:3", out_dir=out, progress=False)
    return res, out


def _five_results() -> dict:
    """A hand-made five-level results dict shaped like run_protocol's."""
    cm = [[9, 1, 0, 0, 0], [2, 5, 2, 0, 0], [0, 2, 4, 1, 0], [0, 0, 1, 3, 1], [0, 0, 0, 0, 0]]
    summ = {m: {"mean": 0.5, "std": 0.1, "min": 0.4, "max": 0.6, "n_defined": 2}
            for m in ("accuracy", "balanced_accuracy", "mae_level", "qwk", "f1_macro", "roc_auc")}
    pooled = {"n": 31, "accuracy": 0.68, "balanced_accuracy": 0.6, "mae_level": 0.35, "qwk": 0.8, "f1_macro": 0.55,
              "roc_auc": 0.8, "confusion_matrix": cm}
    block = {"folds": [], "summary": summ, "pooled": pooled}
    return {"task": "levels", "protocol": "loso", "species": "sheep", "scheme": "sheep/spfes",
            "scale": {"name": "SPFES", "range": [0, 10], "n_levels": 5, "level_names": []},
            "n_subjects": 4, "folds": [{"name": "f1"}, {"name": "f2"}],
            "models": {"wgnn": {"frame": block, "sequence": block}}, "comparisons": []}


def _png(path) -> bool:
    return path.is_file() and path.stat().st_size > 0 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class TestReportPlots:
    def test_smoke_binary_run(self, binary_run):
        res, out = binary_run
        for name in ("metric_by_model.png", "confusion_matrices.png", "roc_curves.png", "reliability.png"):
            assert _png(out / name), name
        assert "ece" in res["models"]["logreg"]["frame"]["pooled"]

    def test_bad_class_names_and_no_predictions(self, tmp_path):
        res = _five_results()
        with pytest.raises(ValueError, match="class names"):
            R.write_report(res, tmp_path, class_names=["a", "b"])
        paths = R.plot_results(res, tmp_path)  # no predictions: no ROC / reliability, no crash
        assert {p.name for p in paths} == {"metric_by_model.png", "confusion_matrices.png"}

    def test_class_names_on_confusion_matrix(self, tmp_path):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        assert R.default_class_names(2) == ["no pain", "pain"]
        assert R.default_class_names(5) == [f"level {k}" for k in range(5)]
        assert R.default_class_names(5, ["none", "mild", "moderate", "marked", "severe"])[1] == "level 1 (mild)"
        ax = R.plot_confusion_matrix([[3, 1], [0, 4]])
        assert [t.get_text() for t in ax.get_xticklabels()] == ["no pain", "pain"]
        assert list(ax.get_xticks()) == [0, 1] and ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
        assert sorted(t.get_text().split("\n")[0] for t in ax.texts) == ["0", "1", "3", "4"]
        plt.close(ax.figure)
        names = ["none", "light", "medium", "strong", "extreme"]
        paths = R.write_report(_five_results(), tmp_path, class_names=names)
        assert _png(paths["plot0"]) and _png(tmp_path / "confusion_matrices.png")


class TestReportTables:
    def test_smoke(self, binary_run):
        res, out = binary_run
        md = (out / "results.md").read_text()
        assert "| balanced accuracy |" in md and "| ROC AUC |" in md

    def test_missing_metric_is_na(self):
        res = _five_results()
        del res["models"]["wgnn"]["frame"]["pooled"]["qwk"]
        assert "n/a" in R.markdown_table(res)

    def test_headers_use_metric_labels(self):
        md = R.markdown_table(_five_results())
        header = next(line for line in md.splitlines() if line.startswith("| model |"))
        for label in (METRIC_LABELS["balanced_accuracy"], METRIC_LABELS["mae_level"], METRIC_LABELS["qwk"],
                      "mean abs. level error", "quadratic weighted kappa", "ROC AUC"):
            assert f"| {label} " in header, label
        assert R.METRIC_LABELS is METRIC_LABELS
