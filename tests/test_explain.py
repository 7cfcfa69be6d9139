"""Attributions: completeness, the unit map of the species adapter (a user-written species too),
deletion curves, and ``geopain explain`` on a table."""
from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import geopain.species as species
from _io_helpers import cat_adapter
from _models_helpers import FAST, cohort
from geopain.errors import GeopainError
from geopain.explain import explain, region_attributions, unit_attributions, unit_landmark_weights
from geopain.explain.attribution import long_table
from geopain.explain.faithfulness import (_split, deletion_curve, explained_values, occlusion_effects,
                                         single_unit_sequences)
from geopain.explain.shapley import _coalitions, robust_fit_onto, unit_players, unit_shapley
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
        att = explain(est, cohort("human", 4, 2, 12)[:1], units=False)
        assert att.units is None
        units, W = unit_landmark_weights(est.scheme_obj_)
        assert units == ["AU4", "AU6", "AU7", "AU9", "AU10", "AU43"]
        shown = est.scheme_obj_.unit_shown_landmarks()
        for i, u in enumerate(units):  # a unit has weight exactly on the landmarks where it shows
            assert set(np.flatnonzero(W[i])) == set(shown[u])
        df = unit_attributions(att)
        ok = att.found
        np.testing.assert_allclose(df[units].to_numpy()[ok], np.nan_to_num(att.landmarks[ok]) @ W.T)
        # units + other add up to the landmark total; regions too
        np.testing.assert_allclose(df.to_numpy()[ok].sum(1), np.nansum(att.landmarks[ok], 1), atol=1e-9)
        regions = region_attributions(att)
        assert set(regions.columns) == set(est.scheme_obj_.regions)

    @pytest.mark.parametrize("model", ["wgnn", "logreg"])
    def test_shapley_units_add_up(self, model):
        est = _fitted(model)
        seqs = cohort("human", 4, 2, 12)[:2]
        att = explain(est, seqs)
        df = unit_attributions(att)
        assert list(df.columns) == ["AU4", "AU6", "AU7", "AU9", "AU10", "AU43", "other"]
        assert att.unit_method.startswith("Shapley values") and att.unit_method.endswith("exact")
        ok = att.found
        gap = att.output[ok] - att.unit_reference_output[ok]
        np.testing.assert_allclose(df.to_numpy()[ok].sum(1), gap, atol=1e-5)
        assert np.abs(gap).max() > 1e-4  # something to explain (a model of one epoch says little)
        assert list(unit_attributions(att, include_other=False).columns) == list(df.columns[:-1])

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


class TestUnitShapley:
    def test_smoke_players_partition_the_face(self):
        for key, n_shared in (("human/ibug68", 2), ("sheep/spfes", 0)):
            scheme = species.get_scheme(key)
            units, members, shares = unit_players(scheme)
            assert (members.sum(0) == 1).all()  # every landmark in exactly one group
            np.testing.assert_allclose(shares.sum(1), 1.0)
            assert ((shares[:, :-1] > 0).sum(1) > 1).sum() == n_shared  # groups that several units show on
        units, members, shares = unit_players(species.get_scheme("human/ibug68"))
        lower_lid = int(np.flatnonzero(members[:, 40])[0])
        assert dict(zip(units, shares[lower_lid])) == {"AU4": 0, "AU6": 0.5, "AU7": 0.5, "AU9": 0, "AU10": 0, "AU43": 0}

    def test_feature_shapley_weights(self):
        """Exact weights give an additive game's own terms and split a pure interaction equally;
        sampled permutations (antithetic) are exact for an additive game too."""
        for P, n_perm in ((4, 0), (12, 16)):
            masks, W = _coalitions(P, n_perm, seed=0)
            a = np.arange(1.0, P + 1)
            np.testing.assert_allclose(W @ (masks @ a), a, atol=1e-9)
            both = (masks[:, 0] & masks[:, 1]).astype(float)
            phi = W @ both
            np.testing.assert_allclose(phi[:2], 0.5, atol=0.15 if P > 10 else 1e-12)
            np.testing.assert_allclose(phi[2:], 0, atol=1e-12)

    def test_feature_robust_fit_ignores_moved_points(self):
        rng = np.random.default_rng(0)
        target = rng.normal(0, 3, (20, 3))
        angle = 0.4
        R = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        frame = 1.7 * target @ R.T + 2.0
        frame[:3] += 2.5  # an expression moved three points far
        placed = robust_fit_onto(frame[None], target)[0]
        np.testing.assert_allclose(placed[3:], target[3:], atol=1e-3)
        assert np.linalg.norm(placed[:3] - target[:3], axis=1).min() > 1.0

    @pytest.mark.parametrize("model", ["wgnn", "logreg"])
    def test_feature_only_the_unit_that_moved(self, model):
        """The upper lip rises against the person's calm face, nothing else moves: AU10 gets the
        change, every other unit (almost) nothing, though the alignment moves every normalised
        point a little (which is where integrated gradients on the model's inputs spread it)."""
        from geopain.geometry.normalize import normalize

        est = _fitted(model)
        s = cohort("human", 4, 2, 12)[0]
        calm = np.repeat(s.coords[:1], 6, 0)
        moved = calm.copy()
        moved[:, [49, 50, 51, 52, 53, 61, 62, 63], 1] += np.linspace(0.1, 0.6, 6)[:, None]
        seq = replace(s, coords=moved.astype(np.float32), confidence=None, frames=np.arange(6),
                      timestamps=np.arange(6) / 25.0, frame_confidence=np.ones(6, np.float32), labels={})
        reference = normalize(replace(seq, coords=calm.astype(np.float32))).coords[:1].astype(np.float64)
        columns, values, ref_out, _ = unit_shapley(est, [seq], reference)
        df = pd.DataFrame(values, columns=columns)
        lip = df["AU10"].abs().to_numpy()
        assert lip.max() > 1e-3
        np.testing.assert_array_less(df.drop(columns="AU10").abs().max(1).to_numpy(), 0.02 * lip + 1e-6)
        np.testing.assert_allclose(values.sum(1), explained_values(est, [seq]) - ref_out, atol=1e-5)


class TestFaithfulness:
    def test_deletion_top_beats_random(self):
        est = _fitted("logreg")
        seqs = cohort("human", 4, 2, 12)[:4]
        att = explain(est, seqs)
        dc = deletion_curve(est, seqs, att, ks=(3,), n_random=3)
        assert dc["top"][0] > dc["random"][0] > 0

    @pytest.mark.parametrize("model", ["logreg", "wgnn"])
    def test_occlusion_effects_are_single_deletions(self, model):
        """Each column is the output change when that landmark alone is missing; deleting the
        landmarks it ranks first moves the output at least as much as deleting random ones."""
        est = _fitted(model)
        seqs = cohort("human", 4, 2, 12)[:2]
        occ = occlusion_effects(est, seqs)
        F = sum(s.n_frames for s in seqs)
        assert occ.shape == (F, 68)
        base = explained_values(est, seqs)
        for i in (19, 40, 62):
            mask = np.zeros((F, 68), bool)
            mask[:, i] = True
            np.testing.assert_allclose(occ[:, i], explained_values(est, _split(seqs, mask)) - base, atol=1e-5)
        att = explain(est, seqs, units=False)
        dc = deletion_curve(est, seqs, replace(att, landmarks=occ), ks=(3,), n_random=3)
        assert dc["top"][0] >= dc["random"][0]

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
