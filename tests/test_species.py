"""Species adapters: shipped schemes, user adapters in one file, malformed adapters, conversion, scales."""
import numpy as np
import pytest

import geopain.species as species
from _io_helpers import cat_adapter
from geopain.errors import SchemeError
from geopain.landmarks import LandmarkSequence
from geopain.species import (REGIONS, add_species_dir, convert_coords, convert_sequence, default_scheme, get_scheme,
                             get_species_scale, list_schemes, load_scheme)

SHIPPED = ["human/ibug68", "human/ibug66", "human/mediapipe468", "sheep/spfes"]


@pytest.fixture
def isolated_dirs(monkeypatch):
    """add_species_dir changes global state: give each test its own list and clear caches after."""
    monkeypatch.setattr(species, "_extra_dirs", [])
    species._clear_caches()
    yield
    species._clear_caches()


class TestShippedSchemes:
    def test_listed(self):
        assert set(SHIPPED) <= set(list_schemes())

    @pytest.mark.parametrize("key", SHIPPED)
    def test_scheme_is_consistent(self, key):
        s = get_scheme(key)
        n = s.n_points
        assert s.key == key and len(s.landmarks) == n and len(set(s.landmarks)) == n
        assert s.template.shape == (n, 3) and np.isfinite(s.template).all()
        assert set(s.regions) <= set(REGIONS) and (s.region_index >= 0).all()
        assert sorted(i for idx in s.regions.values() for i in idx) == list(range(n))
        assert s.edges.ndim == 2 and (s.edges[:, 0] < s.edges[:, 1]).all()
        assert len(np.unique(s.edges, axis=0)) == len(s.edges) and s.edges.max() < n
        flip = s.flip_index
        np.testing.assert_array_equal(flip[flip], np.arange(n))  # an involution
        assert s.reference_pair[0] != s.reference_pair[1]
        ref = np.linalg.norm(s.template[s.reference_pair[0]] - s.template[s.reference_pair[1]])
        assert ref > 0
        units = s.pain_scale.units if s.pain_scale else {}
        assert all(m.unit in units for m in s.measurements)
        assert all(0 <= i < n for m in s.measurements for i in m.landmarks)

    @pytest.mark.parametrize("key", list_schemes())
    def test_every_listed_scheme_loads(self, key):
        s = get_scheme(key)
        assert s.n_points == len(s.landmarks) and s.template.shape == (s.n_points, 3)

    def test_point_counts_and_scales(self):
        assert [get_scheme(k).n_points for k in SHIPPED] == [68, 66, 468, 28]
        assert get_scheme("human/ibug68").pain_scale.name == "PSPI"
        assert get_scheme("sheep/spfes").pain_scale.name == "SPFES"
        assert default_scheme("human") == "human/ibug68" and default_scheme("sheep") == "sheep/spfes"

    def test_spfes_units_all_measured(self):
        s = get_scheme("sheep/spfes")
        assert set(s.unit_landmarks()) == set(s.pain_scale.units)

    def test_mirror_pairs_are_left_right(self):
        s = get_scheme("sheep/spfes")
        t = s.template
        a, b = s.mirror_pairs.T
        np.testing.assert_allclose(t[a, 0], -t[b, 0], atol=1e-6)  # x mirrored, y and z equal
        np.testing.assert_allclose(t[a, 1:], t[b, 1:], atol=1e-6)

    def test_unknown_and_bad_keys(self):
        with pytest.raises(SchemeError, match="unknown scheme 'human/nope'; known: .*human/ibug68"):
            get_scheme("human/nope")
        with pytest.raises(SchemeError, match="as '<species>/<scheme>'; did you mean human/ibug68"):
            get_scheme("ibug68")
        with pytest.raises(SchemeError, match="must be '<species>/<scheme>'"):
            get_scheme("a/b/c")
        with pytest.raises(SchemeError, match="no landmark named 'tail'"):
            get_scheme("sheep/spfes").index("tail")
        with pytest.raises(SchemeError, match="out of range"):
            get_scheme("sheep/spfes").index(28)


class TestUserSpecies:
    def test_one_file_adds_a_species(self, tmp_path, isolated_dirs):
        path = cat_adapter(tmp_path)
        direct = load_scheme(path)
        assert direct.key == "cat/catflw48" and direct.n_points == 48 and direct.pain_scale.name == "FGS"
        assert "cat/catflw48" not in list_schemes()
        add_species_dir(tmp_path)
        assert "cat/catflw48" in list_schemes()
        s = get_scheme("cat/catflw48")
        assert s.source == str(path) and s.measurements[0].unit == "ear_position"
        assert get_species_scale("cat").name == "FGS" and default_scheme("cat") == "cat/catflw48"
        assert get_species_scale("cat").total_score({"ear_position": 2, "orbital_tightening": 1}) == 3
        assert get_scheme(str(path)).key == "cat/catflw48"  # a path works as a key too

    def test_other_yaml_beside_schemes_is_not_a_scheme(self, tmp_path, isolated_dirs):
        cat_adapter(tmp_path)
        (tmp_path / "cat" / "synth.yaml").write_text("actions:\n  blink: {anchors: [1]}\n")
        add_species_dir(tmp_path)
        assert "cat/catflw48" in list_schemes() and "cat/synth" not in list_schemes()

    def test_user_folder_overrides_package(self, tmp_path, isolated_dirs):
        text = (species.package_species_dir() / "sheep" / "spfes.yaml").read_text()
        (tmp_path / "sheep").mkdir()
        (tmp_path / "sheep" / "spfes.yaml").write_text(text.replace("description: >", "description: >\n  OVERRIDE", 1))
        add_species_dir(tmp_path)
        assert get_scheme("sheep/spfes").description.startswith("OVERRIDE")

    def test_missing_folder(self, tmp_path, isolated_dirs):
        with pytest.raises(SchemeError, match="species folder does not exist"):
            add_species_dir(tmp_path / "nope")


def _set(key, value):
    return lambda d: d.__setitem__(key, value)


def _drop(key):
    return lambda d: d.pop(key)


def _regions_overlap(d):
    d["regions"]["nose"] = ["24..31", 0]


def _unknown_unit_formula(d):
    d["pain_scale"]["total"] = "ear_position + whiskers"


MALFORMED = [
    (_drop("landmarks"), "'landmarks' must be a non-empty list"),
    (_drop("regions"), "'regions' must map region names"),
    (_drop("edges"), "'edges' must have"),
    (_drop("reference_distance"), "'reference_distance' must be two landmarks"),
    (_drop("template"), "'template' must be a mapping"),
    (_set("mirror_pairs", [["p0", "p99"]]), "unknown landmark 'p99'"),
    (_set("mirror_pairs", [[0, 47], [0, 46]]), "a landmark appears in two mirror pairs"),
    (_set("reference_distance", ["p0", "nose_tip"]), "unknown landmark 'nose_tip'"),
    (lambda d: d["regions"].__setitem__("whiskers", d["regions"].pop("jaw")), "region 'whiskers' is not one of"),
    (_regions_overlap, "every landmark must be in exactly one region"),
    (lambda d: d["regions"].pop("jaw"), "every landmark must be in exactly one region"),
    (lambda d: d["pain_scale"].__setitem__("total", "ear_position ** 2"), "only \\+ - \\* /"),
    (lambda d: d["pain_scale"].__setitem__("total", "ear_position +"), "is not an expression"),
    (_unknown_unit_formula, "unknown unit 'whiskers'"),
    (lambda d: d["pain_scale"].__setitem__("range", [0, 10]), "total formula gives 4.0 at unit maxima, range says 10"),
    (lambda d: d["pain_scale"].pop("binary_threshold"), "malformed pain_scale"),
    (lambda d: d["landmarks"].__setitem__(1, "p0"), "duplicate landmark names \\['p0'\\]"),
    (lambda d: d["template"].__setitem__("coords", [[0, 0, 0]] * 47), "template must be 48 finite 3D points"),
    (lambda d: d["measurements"][0].__setitem__("kind", "area"), "unknown kind 'area'"),
    (lambda d: d["measurements"][0].__setitem__("unit", "tail_swish"), "names unit 'tail_swish', not in FGS"),
    (lambda d: d["measurements"][0].__setitem__("pairs", [["p1", "p2", "p3"]]), "'pairs' has the wrong shape"),
    (lambda d: d["measurements"][0].pop("pairs"), "needs 'pairs'"),
    (_set("edges", {"paths": [["p0"]]}), "fewer than 2 points"),
    (_set("unit_shows_on", {"whiskers": ["p1"]}), "'unit_shows_on' names unit 'whiskers', not in FGS"),
    (_set("unit_shows_on", {"ear_position": ["p99"]}), "unknown landmark 'p99'"),
    (_set("unit_shows_on", ["p1"]), "'unit_shows_on' must map pain units to lists of landmarks"),
]


class TestMalformedAdapters:
    @pytest.mark.parametrize("mutate,problem", MALFORMED)
    def test_scheme_error_names_the_file(self, tmp_path, mutate, problem):
        path = cat_adapter(tmp_path, mutate=mutate)
        with pytest.raises(SchemeError, match=problem) as info:
            load_scheme(path)
        assert str(info.value).startswith(f"{path}: ")

    def test_not_yaml_not_mapping_missing_file(self, tmp_path):
        p = tmp_path / "bad.yaml"
        p.write_text("landmarks: [a, b\n regions: {")
        with pytest.raises(SchemeError, match=rf"{p}: not valid YAML"):
            load_scheme(p)
        p.write_text("- a\n- b\n")
        with pytest.raises(SchemeError, match=rf"{p}: an adapter must be a YAML mapping"):
            load_scheme(p)
        with pytest.raises(SchemeError, match="no such adapter file"):
            load_scheme(tmp_path / "none.yaml")


class TestUnitShownLandmarks:
    """Where each pain unit shows: its measurements' moving points, or the adapter's declaration."""

    def test_smoke_anchors_are_not_where_a_unit_shows(self):
        s = get_scheme("human/ibug68")
        brow = next(m for m in s.measurements if m.name == "brow_eye_right")
        assert brow.landmarks == [17, 18, 19, 20, 21, 36, 39]  # the eye-corner line is an anchor
        assert brow.moving_landmarks == [17, 18, 19, 20, 21]
        aspect = next(m for m in s.measurements if m.name == "eye_aspect_right")
        assert aspect.moving_landmarks == [37, 38, 40, 41]  # the eye's width only divides
        ear = next(m for m in get_scheme("sheep/spfes").measurements if m.name == "ear_droop_right")
        assert [get_scheme("sheep/spfes").landmarks[i] for i in ear.moving_landmarks] == ["ear_tip_r", "ear_base_r"]

    def test_feature_declared_places_replace_the_measured_ones(self):
        s = get_scheme("human/ibug68")
        shown = s.unit_shown_landmarks()
        assert shown["AU10"] == [33, 48, 49, 50, 51, 52, 53, 54, 61, 62, 63]  # the whole upper lip
        assert shown["AU43"] == [37, 38, 43, 44]  # the upper lids, not the lower ones of its lid gaps
        assert shown["AU4"] == list(range(17, 27))
        assert set(shown) == set(s.unit_landmarks())
        # a derived scheme keeps the declaration on its own indices (iBUG 66 drops 60 and 64)
        assert get_scheme("human/ibug66").unit_shown_landmarks()["AU10"] == [33, 48, 49, 50, 51, 52, 53, 54, 60, 61, 62]

    def test_feature_user_adapter(self, tmp_path, isolated_dirs):
        path = cat_adapter(tmp_path, mutate=lambda d: d.__setitem__("unit_shows_on", {"ear_position": ["12..15"]}))
        s = load_scheme(path)
        assert s.unit_shown_landmarks() == {"ear_position": [12, 13, 14, 15]}
        assert s.unit_landmarks() == {"ear_position": [12, 23]}  # measuring still needs its own points


class TestConversion:
    def test_468_to_68(self):
        mp, ib = get_scheme("human/mediapipe468"), get_scheme("human/ibug68")
        W = mp.conversion_to("human/ibug68")
        assert W.shape == (68, 468)
        np.testing.assert_allclose(W.sum(1), 1.0)
        out = convert_coords(mp.template[None], "human/mediapipe468", "human/ibug68")
        assert out.shape == (1, 68, 3)
        np.testing.assert_allclose(out[0], ib.template, atol=1e-9)  # the 68 template is defined through it

    def test_68_to_66_drops_inner_mouth_corners(self):
        rng = np.random.default_rng(0)
        c = rng.normal(size=(3, 68, 3)).astype(np.float32)
        out = convert_coords(c, "human/ibug68", "human/ibug66")
        keep = [i for i in range(68) if i not in (60, 64)]
        assert out.shape == (3, 66, 3)
        np.testing.assert_array_equal(out, c[:, keep])
        back = convert_coords(out, "human/ibug66", "human/ibug68")
        assert back.shape == (3, 68, 3)
        np.testing.assert_allclose(back[:, keep], c[:, keep], atol=1e-6)
        np.testing.assert_allclose(back[:, 60], c[:, 48], atol=1e-6)  # approximated by the outer corner

    def test_sequence_conversion_confidence_and_nan(self):
        rng = np.random.default_rng(1)
        c = rng.normal(size=(2, 468, 3))
        c[1, 61] = np.nan  # mediapipe 61 is the right outer mouth corner (ibug 48)
        conf = rng.uniform(size=(2, 468))
        seq = LandmarkSequence(c, "human/mediapipe468", confidence=conf, labels={"pain": [0, 1]})
        out = convert_sequence(seq, "human/ibug68")
        W = get_scheme("human/mediapipe468").conversion_to("human/ibug68")
        assert out.scheme == "human/ibug68" and out.coords.shape == (2, 68, 3)
        k = int(np.flatnonzero(W[:, 61])[0])
        assert np.isnan(out.coords[1, k]).all() and np.isfinite(out.coords[0, k]).all()
        src = np.flatnonzero(W[k])
        assert out.confidence[0, k] == pytest.approx(conf[0, src].min())
        np.testing.assert_array_equal(out.labels["pain"], [0, 1])

    def test_undeclared_conversion(self):
        with pytest.raises(SchemeError, match="no conversion declared from sheep/spfes to human/ibug68"):
            get_scheme("sheep/spfes").conversion_to("human/ibug68")


class TestPainScales:
    def test_pspi(self):
        pspi = get_species_scale("human")
        scores = {"AU4": np.array([2, 0, 5]), "AU6": np.array([1, 0, 5]), "AU7": np.array([3, 0, 5]),
                  "AU9": np.array([0, 0, 5]), "AU10": np.array([4, 0, 5]), "AU43": np.array([1, 0, 1])}
        np.testing.assert_array_equal(pspi.total_score(scores), [10, 0, 16])
        np.testing.assert_array_equal(pspi.binary([0, 0.5, 3, np.nan])[:3], [0, 1, 1])
        assert np.isnan(pspi.binary([np.nan]))[0]
        np.testing.assert_array_equal(pspi.level([0, 1, 2, 3, 4, 5, 6, 7, 16]), [0, 1, 1, 2, 2, 3, 3, 4, 4])
        assert np.isnan(pspi.level([np.nan])[0]) and pspi.n_levels == 5
        with pytest.raises(SchemeError, match="unit scores missing"):
            pspi.total_score({"AU4": 1})

    def test_spfes(self):
        spfes = get_species_scale("sheep")
        units = list(spfes.units)
        assert len(units) == 5 and all(u.max == 2 for u in spfes.units.values())
        total = spfes.total_score({u: np.array([1, 2, 0]) for u in units})
        np.testing.assert_array_equal(total, [5, 10, 0])
        np.testing.assert_array_equal(spfes.binary([1, 1.5, 2]), [0, 0, 1])
        np.testing.assert_array_equal(spfes.level([0, 1, 2, 3, 4, 6, 8, 10]), [0, 0, 1, 1, 2, 3, 4, 4])
        assert spfes.level_names == ("none", "mild", "moderate", "marked", "severe")


class TestScaleLevels:
    """The number of ordered levels comes from the species' scale, never a hard-coded five."""

    def test_smoke_shipped(self):
        from geopain.species import scale_levels

        assert scale_levels("human/ibug68") == 5 and scale_levels(get_scheme("sheep/spfes")) == 5

    def test_exception_unknown_scheme_gives_the_default(self):
        from geopain.species import DEFAULT_LEVELS, scale_levels

        assert scale_levels("dog/none") == scale_levels(None) == DEFAULT_LEVELS

    def test_feature_a_three_level_scale_drives_the_monitor_and_the_dashboard(self, tmp_path, monkeypatch):
        from geopain.monitor.runner import default_threshold
        from geopain.species import scale_levels
        from geopain.web.app import _y_label

        def three_levels(data):
            data["pain_scale"]["levels"] = {"cut_offs": [1, 3], "names": ["none", "moderate", "severe"]}

        cat_adapter(tmp_path, mutate=three_levels)
        monkeypatch.setenv("GEOPAIN_SPECIES_PATH", str(tmp_path))
        species._clear_caches()
        try:
            assert scale_levels("cat/catflw48") == 3
            assert default_threshold("levels", (0, 4), "cat/catflw48") == 1.0  # the middle of 0-2
            assert default_threshold("levels", (0, 4), "human/ibug68") == 2.0
            assert _y_label("levels", "cat/catflw48") == "expected pain level (0-2)"
        finally:
            species._clear_caches()
