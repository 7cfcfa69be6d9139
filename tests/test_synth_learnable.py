"""The simulator's default difficulty: pain is learnable from geometry, but not trivially.

A logistic regression on frames, evaluated leave-subjects-out (grouped 4-fold), on
(a) raw coordinates, (b) the scheme's scale-free pain-unit measurements and (c) the same
measurements minus each subject's median (a per-subject baseline). Simulated data only: these
numbers say the simulator is neither noise nor a give-away, nothing clinical.
"""
from __future__ import annotations

import numpy as np
import pytest

from geopain.geometry import measure_sequences
from geopain.synth import SynthConfig, simulate

sklearn = pytest.importorskip("sklearn")


def _scores(species: str, config: SynthConfig, n_subjects: int = 12, seed: int = 11) -> dict[str, float]:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    seqs = simulate(species, n_subjects, 4, 40, seed=seed, config=config)
    y = np.concatenate([s.labels["pain"] for s in seqs])
    groups = np.concatenate([[s.subject] * s.n_frames for s in seqs])
    raw = np.concatenate([s.coords[..., : s.dims].reshape(s.n_frames, -1) for s in seqs])
    table = measure_sequences(seqs)
    names = [m.name for m in __import__("geopain.species", fromlist=["get_scheme"]).get_scheme(seqs[0].scheme).measurements]
    meas = table[names].to_numpy(float)
    base = meas - table.groupby("subject")[names].transform("median").to_numpy(float)
    out = {}
    with threadpool_limits(1):
        for name, X in (("raw", raw), ("measure", meas), ("baseline", base)):
            clf = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=1000))
            pred = cross_val_predict(clf, X, y, groups=groups, cv=GroupKFold(4))
            out[name] = balanced_accuracy_score(y, pred)
    out["prevalence"] = float(y.mean())
    return out


@pytest.mark.parametrize("species,project", [("human", False), ("human", True), ("sheep", False)])
def test_default_difficulty(species, project):
    s = _scores(species, SynthConfig(project=project))
    assert 0.15 < s["prevalence"] < 0.6
    # learnable from normalised geometry ...
    assert s["baseline"] > 0.65
    # ... but not saturated
    assert s["baseline"] < 0.97 and s["measure"] < 0.97
    # identity, pose and camera make raw coordinates worse than normalised geometry
    assert s["raw"] < s["baseline"]


def test_sheep_2d_not_saturated():
    # sheep ears move a lot (tens of degrees), so even raw pixels carry much of the signal
    s = _scores("sheep", SynthConfig(project=True))
    assert 0.65 < s["baseline"] < 0.97 and 0.6 < s["raw"] < 0.97


def test_presets_order_difficulty():
    easy, default, hard = (_scores("human", SynthConfig.preset(name)) for name in ("easy", "default", "hard"))
    assert easy["raw"] > default["raw"] + 0.05
    assert easy["baseline"] > default["baseline"] > hard["baseline"]
    assert easy["baseline"] > 0.9 and hard["baseline"] > 0.55
