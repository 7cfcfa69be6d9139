"""The independent cohort generator (benchmarks/independent_cohort.py) and the generality benchmark's
plain reference (benchmarks/generality.py): valid labelled cohorts, deterministic, and built
without geopain's own simulator."""
from __future__ import annotations

import ast
import json
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def ic():
    return _load("independent_cohort")


@pytest.fixture(scope="module")
def human_cohort(ic):
    return ic.make_cohort(n_subjects=8, sequences_per_subject=4, frames=30, seed=3)


@pytest.fixture(scope="module")
def sheep_cohort(ic):
    return ic.make_sheep_cohort(n_subjects=8, sequences_per_subject=4, frames=30, seed=3)


def _cat(seqs, name):
    return np.concatenate([s.labels[name] for s in seqs])


def test_human_cohort_shapes_and_labels(ic, human_cohort):
    seqs = human_cohort
    assert len(seqs) == 32
    assert {s.subject for s in seqs} == {f"IND-S{i:02d}" for i in range(1, 9)}
    assert len({s.sequence for s in seqs}) == 32
    for s in seqs:
        assert s.scheme == "human/ibug68" and s.coords.shape == (30, 68, 3)
        assert s.dims == 3 and s.units == "cm" and s.fps == 25.0
        assert s.meta["generator"] == "benchmarks.independent_cohort"
        assert s.meta["condition"] in ("pain", "no_pain")
        assert 0.0 < np.isnan(s.coords[..., 0]).mean() < 0.1  # a few missing points
        if s.meta["condition"] == "no_pain":
            assert (s.labels["score"] == 0).all()
    score, pain, level = _cat(seqs, "score"), _cat(seqs, "pain"), _cat(seqs, "level")
    assert score.min() >= 0 and score.max() <= 16 and np.allclose(score, np.rint(score))
    np.testing.assert_array_equal(pain, (score > 0).astype(float))
    np.testing.assert_array_equal(level, np.searchsorted([1, 3, 5, 7], score, side="right"))
    units = {u: _cat(seqs, u) for u in ("AU4", "AU6", "AU7", "AU9", "AU10", "AU43")}
    for u, v in units.items():
        assert v.min() >= 0 and v.max() <= (1 if u == "AU43" else 5) and np.allclose(v, np.rint(v))
    u = units
    pspi = u["AU4"] + np.maximum(u["AU6"], u["AU7"]) + np.maximum(u["AU9"], u["AU10"]) + u["AU43"]
    np.testing.assert_array_equal(score, pspi)
    assert 0.2 < pain.mean() < 0.8
    assert len(np.unique(level)) == 5


def test_human_2d_projection(ic):
    seqs = ic.make_cohort(n_subjects=2, sequences_per_subject=2, frames=10, seed=1, dims=2)
    for s in seqs:
        assert s.dims == 2 and s.units == "px" and np.isnan(s.coords[..., 2]).all()
        xy = s.coords[..., :2][np.isfinite(s.coords[..., 0])]
        W, H = s.meta["image_size"]
        assert (xy >= 0).all() and (xy[:, 0] < W).all() and (xy[:, 1] < H).all()
        # image y points down: the brows (17-26) lie above (smaller y than) the chin (8)
        assert np.nanmean(s.coords[:, 17:27, 1]) < np.nanmean(s.coords[:, 8, 1])
        width = np.nanmedian(np.ptp(s.coords[:, :17, 0], 1))
        assert 100 < width < 450  # a face of realistic pixel size


def test_sheep_cohort_labels(ic, sheep_cohort):
    seqs = sheep_cohort
    assert {s.scheme for s in seqs} == {"sheep/spfes"} and seqs[0].coords.shape == (30, 28, 3)
    assert seqs[0].subject.startswith("INDSHEEP-S")
    score = _cat(seqs, "score")
    units = ("orbital_tightening", "cheek_tightening", "ear_position", "lip_jaw_profile", "nostril_philtrum")
    total = sum(_cat(seqs, u) for u in units)
    np.testing.assert_array_equal(score, total)
    assert score.min() >= 0 and score.max() <= 10
    np.testing.assert_array_equal(_cat(seqs, "pain"), (score > 1.5).astype(float))
    np.testing.assert_array_equal(_cat(seqs, "level"), np.searchsorted([2, 4, 6, 8], score, side="right"))
    assert 0.2 < _cat(seqs, "pain").mean() < 0.8
    # ears keep their length whatever they do (ear tip 2/4, base 3/5)
    for s in seqs[:4]:
        for tip, base in ((2, 3), (4, 5)):
            L = np.linalg.norm(s.coords[:, tip] - s.coords[:, base], axis=-1)
            L = L[np.isfinite(L)]
            assert L.std() < 0.1 * L.mean()


def test_identity_larger_than_noise_and_expression(ic, human_cohort):
    from geopain.species import get_scheme

    template = get_scheme("human/ibug68").template
    means: dict[str, list[np.ndarray]] = {}
    within = []
    for s in human_cohort:
        al = ic.similarity_align(s.coords.astype(np.float64), template)
        m = np.nanmean(al, 0)
        means.setdefault(s.subject, []).append(m)
        if s.meta["condition"] == "no_pain":
            within.append(np.nanmean(((al - m) ** 2).sum(-1)))
    subj = np.stack([np.mean(v, 0) for v in means.values()])
    identity = np.sqrt(((subj - subj.mean(0)) ** 2).sum(-1).mean())
    width = np.ptp(template[:17, 0])
    assert 0.04 * width < identity < 0.12 * width
    assert identity > 2.5 * np.sqrt(np.mean(within))  # frame noise and nuisances are smaller


def test_deterministic_per_seed(ic):
    a = ic.make_cohort(n_subjects=2, sequences_per_subject=2, frames=12, seed=5)
    b = ic.make_cohort(n_subjects=2, sequences_per_subject=2, frames=12, seed=5)
    c = ic.make_cohort(n_subjects=2, sequences_per_subject=2, frames=12, seed=6)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.coords, y.coords)
        for k in x.labels:
            np.testing.assert_array_equal(x.labels[k], y.labels[k])
    assert not np.allclose(np.nan_to_num(a[0].coords), np.nan_to_num(c[0].coords))
    s1 = ic.make_sheep_cohort(n_subjects=1, sequences_per_subject=2, frames=8, seed=2)
    s2 = ic.make_sheep_cohort(n_subjects=1, sequences_per_subject=2, frames=8, seed=2)
    np.testing.assert_array_equal(s1[1].coords, s2[1].coords)


def test_does_not_use_geopain_synth():
    source = (BENCH / "independent_cohort.py").read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            assert not any("synth" in a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert "synth" not in (node.module or "") and not any("synth" in a.name for a in node.names)
    code = (
        "import importlib.util, sys\n"
        f"path = {str(BENCH / 'independent_cohort.py')!r}\n"
        "spec = importlib.util.spec_from_file_location('independent_cohort', path)\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['independent_cohort'] = m\n"
        "spec.loader.exec_module(m)\n"
        "m.make_cohort(n_subjects=1, sequences_per_subject=2, frames=5); m.make_sheep_cohort(1, 2, 5)\n"
        "print(sorted(k for k in sys.modules if k.startswith('geopain.synth')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_similarity_align_removes_similarity(ic):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    a = np.deg2rad(25)
    R = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    moved = 1.7 * X @ R.T + [3.0, -2.0, 5.0]
    moved[4] = np.nan
    out = ic.similarity_align(moved[None], X)[0]
    ok = np.isfinite(out).all(1)
    assert ok.sum() == 19
    np.testing.assert_allclose(out[ok], X[ok], atol=1e-9)


def test_reference_and_invariance(ic):
    gen = _load("generality")
    train = ic.make_cohort(n_subjects=6, sequences_per_subject=4, frames=20, seed=11)
    test = ic.make_cohort(n_subjects=2, sequences_per_subject=4, frames=20, seed=12)
    ref = gen.PlainReference("binary").fit(train)
    p = ref.predict_proba(test)
    assert p.shape == (160, 2)
    ok = np.isfinite(p).all(1)
    np.testing.assert_allclose(p[ok].sum(1), 1.0)
    q = ref.predict_proba(gen.random_similarity(test, seed=0))
    assert (p[ok].argmax(1) == q[ok].argmax(1)).mean() >= 0.99
    five = gen.PlainReference("five").fit(train).predict_proba(test)
    assert five.shape == (160, 5)
    m = gen.classification_metrics(gen.frame_targets(test, "binary"), p, "binary")
    assert 0.0 <= m["bacc"] <= 1.0 and 0.0 <= m["auc"] <= 1.0
    assert gen.parse_model("wgnn:epochs=3,reference=subject-median", {"seed": 1}) == (
        "wgnn", {"seed": 1, "epochs": 3, "reference": "subject-median"})


def test_update_merges_new_methods_and_keeps_the_others(tmp_path):
    gen = _load("generality")

    def run(methods, value):
        return [{"cv": {c: {m: {"binary": {"bacc": value}} for m in methods} for c in ("human", "sheep")},
                 "invariance": {c: {m: 1.0 for m in methods} for c in ("human", "sheep")},
                 "cross_generator": {m: {"auc": value} for m in methods}}]

    config = {"models": ["logreg", "wgnn"], "seeds": [0], "subjects": 20, "frames": 30, "dims": 3, "n_sim": 200,
              "estimator_kwargs": {}, "quick": False, "generator": "g"}
    path = tmp_path / "generality.json"
    path.write_text(json.dumps({"config": config, "runs": run(["reference", "logreg", "wgnn"], 0.5), "seconds": 10}))
    merged, runs, seconds = gen.merge_runs(path, {**config, "models": ["wgnn", "hybrid"]},
                                           run(["reference", "wgnn", "hybrid"], 0.9), 5.0)
    assert merged["models"] == ["logreg", "wgnn", "hybrid"] and seconds == 15.0
    cv = runs[0]["cv"]["human"]
    assert cv["logreg"]["binary"]["bacc"] == 0.5  # kept
    assert cv["wgnn"]["binary"]["bacc"] == 0.9 and cv["hybrid"]["binary"]["bacc"] == 0.9  # replaced, joined
    with pytest.raises(SystemExit, match="other settings"):
        gen.merge_runs(path, {**config, "n_sim": 60}, runs, 1.0)


def test_cross_generator_only_pairs_each_draw_with_the_reference(tmp_path):
    gen = _load("generality")
    rc = gen.main(["--cross-generator-only", "--models", "logreg", "--seeds", "0", "1", "--n-sim", "4",
                   "--subjects", "4", "--frames", "8", "-o", str(tmp_path)])
    assert rc == 0
    out = json.loads((tmp_path / "cross_generator.json").read_text())
    assert [d["seed"] for d in out["draws"]] == [0, 1] and out["config"]["models"] == ["logreg"]
    rows = {r["method"]: r for r in out["summary"]}
    ref, logreg = rows["reference"], rows["logreg"]
    assert ref["diff_mean"] == 0.0 and ref["draws_at_least_reference"] == 2
    diffs = np.array(logreg["auc_per_draw"]) - np.array(ref["auc_per_draw"])
    assert logreg["diff_mean"] == pytest.approx(diffs.mean())
    assert logreg["draws_at_least_reference"] == int((diffs >= 0).sum())
    assert "| logreg |" in (tmp_path / "cross_generator.md").read_text()
    assert not (tmp_path / "generality.json").exists()
