"""Attributions: completeness, the unit map of the species adapter (a user-written species too),
deletion curves, and ``geopain explain`` on a table."""
from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import pytest

import geopain.species as species
from _io_helpers import cat_adapter
from _models_helpers import FAST, cohort
from geopain.errors import GeopainError
from geopain.explain import explain, region_attributions, unit_attributions, unit_landmark_weights
from geopain.explain.attribution import long_table
from geopain.explain.faithfulness import deletion_curve, explained_values, single_unit_sequences
from geopain.explain.units import top_unit
from geopain.models import PainEstimator


@functools.lru_cache(maxsize=None)
def _fitted(model: str, sp: str = "human"):
    kw = {} if model in ("logreg", "gboost") else {**FAST, "epochs": 1, "layers": 1, "init": None}
    return PainEstimator(model, seed=0, **kw).fit(cohort(sp, n_subjects=4, seqs=2, frames=12))


class TestExplain:
    @pytest.mark.parametrize("model", ["wgnn", "logreg", "hybrid"])
    def test_shapes_and_completeness(self, model):
        est = _fitted(model)
        seqs = cohort("human", n_subjects=4, seqs=2, frames=12)[:2]
        att = explain(est, seqs, reference="template", n_steps=32)
        F = sum(s.n_frames for s in seqs)
        assert att.landmarks.shape == (F, 68) and att.output.shape == (F,)
        ok = att.found
        gap = att.output[ok] - att.reference_output[ok]
        # completeness: the attributions add up to f(frame) - f(reference)
        np.testing.assert_allclose(np.nansum(att.landmarks[ok], 1), gap, atol=0.02 + 0.03 * np.abs(gap).max())
        # the explained output is what the estimator predicts (pain log-odds)
        np.testing.assert_allclose(att.output[ok], explained_values(est, seqs)[ok], rtol=1e-4, atol=1e-4)
        if model == "logreg":  # Shapley values of a linear model are exact
            np.testing.assert_allclose(att.delta[ok], 0, atol=1e-6)
        if model != "logreg":
            assert att.edges.shape == (F, att.edge_index.shape[1]) and np.abs(att.edges[ok]).sum() > 0

    def test_calm_reference_is_the_median_of_the_calmest_frames(self):
        est = _fitted("logreg")
        s = cohort("human", n_subjects=4, seqs=2, frames=12)[0]
        att = explain(est, s, reference="calmest")
        # one calm face per sequence, calmer than most of its frames
        ref = att.reference_output
        assert np.isclose(ref, np.median(ref)).mean() > 0.8  # frames with missing points differ
        assert att.reference_output[0] < np.median(att.output)
        assert all(r.startswith("calm face") for r in att.reference)
        single = explain(est, replace(s, coords=s.coords[:1], confidence=s.confidence[:1], frames=s.frames[:1],
                                      timestamps=s.timestamps[:1], frame_confidence=s.frame_confidence[:1], labels={}))
        assert list(single.reference) == ["template"]  # auto: a single photo is compared with the template

    def test_missing_points_get_no_attribution(self):
        est = _fitted("wgnn")
        s = cohort("human", n_subjects=4, seqs=2, frames=12)[0]
        coords = s.coords.copy()
        coords[:, 48:60] = np.nan
        att = explain(est, replace(s, coords=coords), reference="template")
        np.testing.assert_allclose(att.landmarks[att.found][:, 48:60], 0, atol=1e-6)

    def test_long_table(self):
        est = _fitted("logreg")
        seqs = cohort("human", n_subjects=4, seqs=2, frames=12)[:1]
        t = long_table(explain(est, seqs))
        assert set(t["level"]) == {"landmark", "measurement", "unit", "region"}
        assert {"subject", "sequence", "frame", "name", "attribution"} <= set(t.columns)
        assert (t["level"] == "landmark").sum() == 12 * 68


class TestExplainErrors:
    def test_unknown_reference(self):
        with pytest.raises(GeopainError, match="reference must be one of"):
            explain(_fitted("logreg"), cohort("human", 4, 2, 12)[:1], reference="mean")

    def test_unfitted(self):
        with pytest.raises(GeopainError, match="not fitted"):
            explain(PainEstimator("logreg"), cohort("human", 4, 2, 12)[:1])


class TestUnitAttributions:
    def test_uses_the_adapter_map(self):
        est = _fitted("wgnn")
        att = explain(est, cohort("human", 4, 2, 12)[:1])
        units, W = unit_landmark_weights(est.scheme_obj_)
        assert units == ["AU4", "AU6", "AU7", "AU9", "AU10", "AU43"]
        ul = est.scheme_obj_.unit_landmarks()
        for i, u in enumerate(units):  # a unit has weight exactly on the landmarks its measurements use
            assert set(np.flatnonzero(W[i])) == set(ul[u])
        df = unit_attributions(att)
        ok = att.found
        np.testing.assert_allclose(df[units].to_numpy()[ok], np.nan_to_num(att.landmarks[ok]) @ W.T)
        # units + other add up to the landmark total; regions too
        np.testing.assert_allclose(df.to_numpy()[ok].sum(1), np.nansum(att.landmarks[ok], 1), atol=1e-9)
        regions = region_attributions(att)
        assert set(regions.columns) == set(est.scheme_obj_.regions)

    def test_user_written_species(self, tmp_path, monkeypatch):
        """A cat adapter written by a user (two units) gets unit explanations with no code."""
        from geopain.landmarks import LandmarkSequence

        monkeypatch.setattr(species, "_extra_dirs", [])
        species._clear_caches()
        add = {"name": "eye_gap", "unit": "orbital_tightening", "kind": "distance", "pairs": [["p2", "p9"]],
               "pain_direction": "decreases"}
        cat_adapter(tmp_path / "adapters", mutate=lambda d: d["measurements"].append(add))
        species.add_species_dir(tmp_path / "adapters")
        try:
            scheme = species.get_scheme("cat/catflw48")
            rng = np.random.default_rng(0)
            seqs = []
            for i in range(8):
                T = 20
                pain = (np.arange(T) >= 10).astype(float)
                c = np.broadcast_to(scheme.template, (T, 48, 3)).copy() + rng.normal(0, 0.05, (T, 48, 3))
                c[:, 12, 0] -= 1.0 * pain  # ears apart in pain: the ear_position unit drives it
                c[:, 23, 0] += 1.0 * pain
                seqs.append(LandmarkSequence(coords=c.astype(np.float32), scheme="cat/catflw48", subject=f"c{i}",
                                             sequence="0", units="cm", dims=3, labels={"pain": pain}))
            est = PainEstimator("logreg").fit(seqs)
            att = explain(est, seqs[:2], reference="template")
            units = unit_attributions(att, include_other=False)
            assert list(units.columns) == ["ear_position", "orbital_tightening"]
            pain_rows = np.r_[10:20, 30:40]
            assert top_unit(att, pain_rows) == "ear_position"
            assert units["ear_position"].iloc[pain_rows].mean() > 5 * abs(units["orbital_tightening"].iloc[pain_rows].mean())
        finally:
            species._clear_caches()


class TestFaithfulness:
    def test_deletion_top_beats_random(self):
        est = _fitted("logreg")
        seqs = cohort("human", 4, 2, 12)[:4]
        att = explain(est, seqs)
        dc = deletion_curve(est, seqs, att, ks=(3,), n_random=3)
        assert dc["top"][0] > dc["random"][0] > 0

    def test_single_unit_sequences(self):
        seqs = single_unit_sequences("sheep", n_subjects=1, frames=6)
        units = [s.meta["driving_unit"] for s in seqs]
        assert len(units) == len(set(units)) == 5
        for s in seqs:
            others = [u for u in units if u != s.meta["driving_unit"]]
            assert s.labels[s.meta["driving_unit"]].max() > 0 and all(s.labels[u].max() == 0 for u in others)


class TestCliExplain:
    def test_table(self, tmp_path):
        from geopain.cli import main
        from geopain.io.tables import write_table

        est = _fitted("wgnn")
        est.save(tmp_path / "m")
        table = write_table(cohort("human", 4, 2, 12)[:2], tmp_path / "t.parquet")
        assert main(["explain", str(tmp_path / "m"), str(table), "-o", str(tmp_path / "out"), "--steps", "8"]) == 0
        out = tmp_path / "out"
        assert (out / "attributions.csv").is_file() and (out / "frames.csv").is_file()
        pngs = sorted(p.name for p in out.glob("*.png"))
        assert len(pngs) == 8 and any(p.endswith("_timeline.png") for p in pngs)
        import pandas as pd

        frames = pd.read_csv(out / "frames.csv")
        assert {"status", "reason", "unit_AU4", "output"} <= set(frames.columns)

    def test_bad_input_is_one_line(self, tmp_path, capsys):
        from geopain.cli import main

        _fitted("logreg").save(tmp_path / "m")
        assert main(["explain", str(tmp_path / "m"), str(tmp_path / "none.csv"), "-o", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "no such file" in err[0]
