"""Homology as data: shipped declarations, validation with one-line errors naming file and key, and a
user-written third species (one YAML file) that transfer works with, no code."""
import numpy as np
import pytest

import geopain.species as species
from _io_helpers import cat_adapter
from geopain.errors import GeopainError, SchemeError
from geopain.species import REGIONS, get_scheme
from geopain.transfer import homology
from geopain.transfer.homology import SHARED_UNITS, get_homology, unit_correspondence

CAT_HOMOLOGY = {
    "regions": {"eyes": {"eyes": 1.0}, "brows_ears": {"brows_ears": 0.3}, "nose": {"nose": 1.0},
                "mouth": {"mouth": 1.0}, "cheeks": {"cheeks": 1.0}, "jaw": {"jaw": 0.5}},
    "units": {"orbital_tightening": {"orbital_tightening": 1.0}, "ear_position": {"brow_ear": 0.3}},
}


@pytest.fixture
def species_path(tmp_path, monkeypatch):
    """A private species folder on the search path; caches cleared before and after."""
    monkeypatch.setenv("GEOPAIN_SPECIES_PATH", str(tmp_path))
    species._clear_caches()
    homology.clear_cache()
    yield tmp_path
    species._clear_caches()
    homology.clear_cache()


def _cat(folder, homology_block=CAT_HOMOLOGY):
    def mutate(data):
        if homology_block is not None:
            data["homology"] = homology_block
    return cat_adapter(folder, mutate=mutate)


class TestGetHomology:
    def test_smoke_shipped(self):
        h, s = get_homology("human"), get_homology("sheep/spfes")
        assert set(h.units) == set(get_scheme("human/ibug68").pain_scale.units)
        assert set(s.units) == set(get_scheme("sheep/spfes").pain_scale.units)
        assert set(h.shared_units) == set(s.shared_units) == set(SHARED_UNITS)

    def test_feature_issue_correspondences(self):
        corr = unit_correspondence(get_homology("sheep"), get_homology("human"))
        assert set(corr["orbital_tightening"]) == {"AU6", "AU7", "AU43"}
        assert corr["cheek_tightening"] == {"AU6": 1.0}
        assert set(corr["nostril_philtrum"]) == {"AU9", "AU10"} and "AU10" in corr["lip_jaw_profile"]
        assert 0 < corr["ear_position"]["AU4"] < 0.5  # ears ~ brow: weak

    def test_feature_region_pooling(self):
        sch = get_scheme("sheep/spfes")
        P = get_homology("sheep").region_pooling(sch)
        assert P.shape == (len(REGIONS), sch.n_points) and (P >= 0).all()
        np.testing.assert_allclose(P[REGIONS.index("eyes")].sum(), 1.0)
        np.testing.assert_allclose(P[REGIONS.index("brows_ears")].sum(), 0.3)  # weak: damped
        # human ibug68 has no midline region: its row is empty
        Ph = get_homology("human").region_pooling(get_scheme("human/ibug68"))
        assert Ph[REGIONS.index("midline")].sum() == 0

    def test_feature_unit_targets(self):
        h = get_homology("human")
        scale = get_scheme("human/ibug68").pain_scale
        t = h.unit_targets({"AU7": np.array([0, 5.0]), "AU6": np.array([5.0, 0])}, scale, 2)
        k = list(SHARED_UNITS)
        np.testing.assert_allclose(t[:, k.index("orbital_tightening")], [0.5, 1.0])
        np.testing.assert_allclose(t[:, k.index("cheek_tightening")], [1.0, 0.0])
        assert np.isnan(t[:, k.index("mouth")]).all()  # AU10 not labelled


class TestHomologyErrors:
    @pytest.mark.parametrize("block, key", [
        ({"regions": {"eyes": {"eyes": 1.5}}, "units": CAT_HOMOLOGY["units"]}, "homology.regions.eyes.eyes"),
        ({"regions": {"snout": {"nose": 1.0}}, "units": CAT_HOMOLOGY["units"]}, "homology.regions.snout"),
        ({"regions": CAT_HOMOLOGY["regions"], "units": {"ear_position": {"whiskers": 1.0}}}, "homology.units.ear_position.whiskers"),
        ({"regions": CAT_HOMOLOGY["regions"], "units": {"tail": {"mouth": 1.0}}}, "homology.units.tail"),
        ({"regions": CAT_HOMOLOGY["regions"]}, "homology.units"),
        ({"regions": CAT_HOMOLOGY["regions"], "units": {"ear_position": "strong"}}, "homology.units.ear_position"),
    ])
    def test_malformed_names_file_and_key(self, species_path, block, key):
        path = _cat(species_path, block)
        with pytest.raises(SchemeError) as err:
            get_homology("cat")
        msg = str(err.value)
        assert str(path) in msg and key in msg and "\n" not in msg

    def test_species_without_homology(self, species_path):
        _cat(species_path, None)
        with pytest.raises(SchemeError, match="declares no homology"):
            get_homology("cat")

    def test_unknown_species(self):
        with pytest.raises(SchemeError, match="unknown species 'walrus'"):
            get_homology("walrus")


class TestThirdSpecies:
    def test_one_yaml_file_works_with_transfer(self, species_path):
        """A cat adapter written as one YAML file (scale and homology inline): the shared model pools it,
        and human -> cat zero-shot transfer runs on it with no code."""
        from geopain.landmarks import LandmarkSequence
        from geopain.synth import simulate
        from geopain.transfer.core import TransferSettings, fit_transfer, prepare_domain

        _cat(species_path)
        h = get_homology("cat")
        assert h.species == "cat" and set(h.shared_units) == {"orbital_tightening", "brow_ear"}
        sch = get_scheme("cat/catflw48")
        rng = np.random.default_rng(0)
        seqs = []
        for i in range(4):
            for j in range(2):
                pain = float(j)
                coords = sch.template[None] + rng.normal(0, 0.05, (10, sch.n_points, 3))
                coords[:, list(sch.regions["eyes"]), 1] *= 1 - 0.4 * pain  # eyes narrow with pain
                seqs.append(LandmarkSequence(coords=coords.astype(np.float32), scheme=sch.key, subject=f"C{i}",
                                             sequence=f"C{i}_{j}", labels={"pain": np.full(10, pain)}))
        dom = prepare_domain(seqs, "cat")
        assert dom.units.shape == (80, len(SHARED_UNITS))
        src = simulate("human", n_subjects=3, sequences_per_subject=2, frames=8, seed=5)
        settings = TransferSettings(hidden=8, layers=1, epochs=2, finetune_epochs=2, min_steps=2)
        tm = fit_transfer(src, dom, "zero-shot", settings=settings)
        proba = tm.predict_proba(dom)
        assert proba.shape == (80, 2) and np.allclose(proba.sum(1), 1)
        assert set(tm.scalers) == {"human/ibug68", "cat/catflw48"}

    def test_transfer_refuses_species_without_homology(self, species_path):
        from geopain.landmarks import LandmarkSequence
        from geopain.transfer.core import prepare_domain

        _cat(species_path, None)
        sch = get_scheme("cat/catflw48")
        seq = LandmarkSequence(coords=np.repeat(sch.template[None], 3, 0).astype(np.float32), scheme=sch.key,
                               labels={"pain": np.zeros(3)})
        with pytest.raises(GeopainError, match="declares no homology"):
            prepare_domain([seq], "cat")
