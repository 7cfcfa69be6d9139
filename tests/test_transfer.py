"""Transfer across species and detectors: the shared-region model, each method on toy cohorts, the
few-shot design (never leaks target subjects), the CLI and its one-line errors."""
import json

import numpy as np
import pytest
import torch

from geopain.errors import GeopainError
from geopain.species import REGIONS
from geopain.synth import SynthConfig, simulate
from geopain.transfer.core import (METHODS, TransferSettings, adapt, few_shot, few_shot_splits, fit_transfer,
                                   grad_reverse, parse_counts, prepare_domain, train_on)
from geopain.transfer.homology import SHARED_UNITS

TINY = TransferSettings(hidden=8, layers=1, epochs=3, finetune_epochs=2, batch_size=64, min_steps=2)
ONE = TransferSettings(hidden=8, layers=1, epochs=1, finetune_epochs=1, batch_size=64, min_steps=1)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small models on a shared machine: one thread is faster, and the setting is restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def human():
    return prepare_domain(simulate("human", n_subjects=4, sequences_per_subject=2, frames=10, seed=11,
                                   config=SynthConfig.preset("easy")), "human", reference="subject-median")


@pytest.fixture(scope="module")
def sheep():
    return prepare_domain(simulate("sheep", n_subjects=6, sequences_per_subject=2, frames=10, seed=22,
                                   config=SynthConfig.preset("easy")), "sheep", reference="subject-median")


class TestSharedRegionModel:
    def test_smoke_shapes(self, human, sheep):
        from geopain.models import create, info

        meta = info("shared-region")
        assert meta["kind"] == "torch" and meta["scheme_arg"] and meta["shared_representation"]
        m = create("shared-region", in_channels=14, out_channels=2, hidden=8, layers=1, edge_dim=5,
                   scheme=["human/ibug68", "sheep/spfes"], n_units=len(SHARED_UNITS))
        for dom in (human, sheep):
            x, ei = dom.inputs["x"][:5], dom.inputs["edge_index"]
            ew, ea = dom.inputs["edge_weight"][:5], dom.inputs["edge_attr"][:5]
            r = m.regions(x, ei, ew, ea, scheme=dom.key)
            assert r.shape == (5, len(REGIONS), 8)  # the same size for both species
            assert m(x, ei, ew, ea, scheme=dom.key).shape == (5, 2)
            assert m.units(m.embed(x, ei, ew, ea, scheme=dom.key)).shape == (5, len(SHARED_UNITS))

    def test_exception_unknown_scheme(self, human):
        from geopain.models import create

        m = create("shared-region", in_channels=14, out_channels=2, hidden=8, layers=1, edge_dim=5, scheme="human/ibug68")
        with pytest.raises(GeopainError, match="no encoder for sheep/spfes"):
            m(human.inputs["x"][:2], human.inputs["edge_index"], human.inputs["edge_weight"][:2],
              human.inputs["edge_attr"][:2], scheme="sheep/spfes")

    def test_feature_encoder_starts_from_other_species(self):
        from geopain.models import create

        m = create("shared-region", in_channels=14, out_channels=2, hidden=8, layers=1, edge_dim=5,
                   scheme="human/ibug68", node_identity=True)
        m.add_scheme("sheep/spfes", init_from="human/ibug68")
        h, s = m.encoder("human/ibug68").wgnn, m.encoder("sheep/spfes").wgnn
        assert torch.equal(h.convs[0].lin_root.weight, s.convs[0].lin_root.weight)
        assert s.identity.weight.shape == (28, 8) and float(s.identity.weight.detach().abs().sum()) == 0.0

    def test_feature_estimator_trains_it(self):
        from geopain.models import PainEstimator

        seqs = simulate("sheep", n_subjects=3, sequences_per_subject=2, frames=6, seed=3, config=SynthConfig.preset("easy"))
        est = PainEstimator("shared-region", hidden=8, layers=1, epochs=2, init=None).fit(seqs)
        assert est.model_kwargs_["scheme"] == "sheep/spfes" and est.predict_proba(seqs).shape == (36, 2)


class TestGradReverse:
    def test_feature_gradient_flips(self):
        x = torch.ones(3, requires_grad=True)
        grad_reverse(x, 0.5).sum().backward()
        assert torch.allclose(x.grad, torch.full((3,), -0.5))


class TestFewShotSplits:
    def test_feature_never_leaks_target_subjects(self, sheep):
        design = few_shot_splits(sheep, [0, 1, 2, 4, "all"], folds=3, repeats=2, seed=1)
        tested = []
        for d in design:
            assert not set(d["test"]) & set(d["pool"])
            assert set(d["labelled"]) <= set(d["pool"])
            assert not set(d["labelled"]) & set(d["test"])
            n = len(d["pool"]) if d["n"] == "all" else min(int(d["n"]), len(d["pool"]))
            assert len(d["labelled"]) == n
            if d["n"] == "all":
                tested += d["test"]
        assert sorted(tested) == sorted(sheep.subjects)  # every subject tested exactly once

    def test_feature_labelled_subjects_show_both_classes(self, sheep):
        for d in few_shot_splits(sheep, [1, 2], folds=2, seed=0):
            assert len(np.unique(sheep.y[sheep.rows(d["labelled"])])) == 2

    def test_exception_counts(self):
        assert parse_counts("0, 1,2,all") == [0, 1, 2, "all"]
        with pytest.raises(GeopainError, match="integers >= 0 or 'all'"):
            parse_counts("1,two")


class TestMethods:
    def test_smoke_source_model_learns(self, human):
        from geopain.evaluation.metrics import binary_metrics

        tm = train_on(human, human.subjects, TransferSettings(hidden=8, layers=1, epochs=6, min_steps=4))
        rows = human.rows(human.subjects)
        ba = binary_metrics(human.y[rows].astype(int), tm.predict(human, rows))["balanced_accuracy"]
        assert ba > 0.7  # easy simulated faces: the pain signal alone

    @pytest.mark.parametrize("method", METHODS)
    def test_feature_each_method(self, human, sheep, method):
        labelled = sheep.subjects[:2] if method == "finetune" else []
        tm = fit_transfer(human, sheep, method, labelled_subjects=labelled, settings=TINY)
        assert tm.method == method and set(tm.scalers) == {"human/ibug68", "sheep/spfes"}
        proba = tm.predict_proba(sheep)
        assert proba.shape == (int(sheep.found.sum()), 2) and np.allclose(proba.sum(1), 1)
        assert tm.predict_units(sheep).shape == (len(proba), len(SHARED_UNITS))
        score = tm.predict_score(sheep)
        assert score.shape == (len(proba),) and (score >= 0).all() and (score <= 10).all()  # SPFES 0-10

    def test_exception_labelled_outside_pool(self, human, sheep):
        src = train_on(human, human.subjects, ONE)
        with pytest.raises(GeopainError, match="not in the target's training pool"):
            adapt("finetune", src, human, sheep, human.subjects, sheep.subjects[:3], sheep.subjects[3:4], TINY)
        with pytest.raises(GeopainError, match="method must be one of"):
            adapt("magic", src, human, sheep, human.subjects, sheep.subjects, [], TINY)

    def test_feature_same_people_kept_out_of_source(self):
        """Another detector on the same people (2D projection, MediaPipe 468 mapped to iBUG 68): each
        fold's test subjects are removed from the source as well."""
        seqs = simulate("human", n_subjects=4, sequences_per_subject=2, frames=8, seed=4)
        other = simulate("human", n_subjects=4, sequences_per_subject=2, frames=8, seed=4, scheme="human/mediapipe468",
                         config=SynthConfig(project=True))
        src = prepare_domain(seqs, "tracker")
        tgt = prepare_domain(other, "detector", scheme="human/ibug68")
        assert tgt.key == src.key and tgt.found.all()  # mapped, and 2D points survive the mapping
        res = few_shot(src, tgt, "zero-shot", [1], folds=2, settings=ONE)
        for row in res["rows"]:
            assert row["source_excluded"] == row["test"] and "source_in_domain" in row
        assert {"target_only_mean", "transfer_mean", "zero_shot_mean"} <= set(res["summary"][0])


class TestCLI:
    def _tables(self, tmp_path):
        from geopain.io.tables import write_table

        src = tmp_path / "human.parquet"
        tgt = tmp_path / "sheep.parquet"
        write_table(simulate("human", n_subjects=3, sequences_per_subject=2, frames=8, seed=1,
                             config=SynthConfig.preset("easy")), src)
        write_table(simulate("sheep", n_subjects=4, sequences_per_subject=2, frames=8, seed=2,
                             config=SynthConfig.preset("easy")), tgt)
        return src, tgt

    def test_smoke_end_to_end(self, tmp_path):
        from geopain.cli import main

        src, tgt = self._tables(tmp_path)
        out = tmp_path / "out"
        rc = main(["transfer", str(src), str(tgt), "--method", "zero-shot", "--target-subjects", "1", "--folds", "2",
                   "--epochs", "1", "--hidden", "8", "--layers", "1", "--batch-size", "256", "--quiet", "-o", str(out)])
        assert rc == 0
        res = json.loads((out / "results.json").read_text())
        assert res["method"] == "zero-shot" and [s["count"] for s in res["summary"]] == [1]
        assert len(res["rows"]) == 2 and all(set(r["labelled"]).isdisjoint(r["test"]) for r in res["rows"])
        assert res["reference"] == "subject-median"
        assert (out / "learning_curve.png").stat().st_size > 1000
        assert "| target subjects |" in (out / "table.md").read_text()

    def test_exception_table_without_labels(self, tmp_path, capsys):
        from geopain.cli import main
        from geopain.io.tables import write_table

        src, _ = self._tables(tmp_path)
        seqs = simulate("sheep", n_subjects=2, sequences_per_subject=1, frames=4, seed=3)
        for s in seqs:
            s.labels = {}
        bare = write_table(seqs, tmp_path / "bare.parquet")
        assert main(["transfer", str(src), str(bare), "-o", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert "no pain labels" in err and "bare" in err and len(err.splitlines()) == 1

    def test_exception_unknown_species(self, tmp_path, capsys):
        import pandas as pd

        from geopain.cli import main

        src, tgt = self._tables(tmp_path)
        frame = pd.read_parquet(tgt)
        frame["scheme"] = "walrus/tusks28"
        if "species" in frame:
            frame["species"] = "walrus"
        frame.to_parquet(tmp_path / "walrus.parquet")
        assert main(["transfer", str(src), str(tmp_path / "walrus.parquet"), "-o", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert "walrus" in err and len(err.splitlines()) == 1


class TestConversionKeepsMissingLocal:
    def test_feature_one_missing_point(self):
        from geopain.species import convert_sequence

        seq = simulate("human", n_subjects=1, sequences_per_subject=1, frames=2, seed=0, scheme="human/mediapipe468",
                       config=SynthConfig(project=True, drop_rate=0.0))[0]
        coords = seq.coords.copy()
        coords[0, 33] = np.nan  # the right outer eye corner (iBUG 36)
        out = convert_sequence(seq.with_coords(coords), "human/ibug68")
        assert np.isnan(out.coords[0, 36, :2]).all()
        assert np.isfinite(out.coords[0, :36, :2]).all() and np.isfinite(out.coords[1, :, :2]).all()
