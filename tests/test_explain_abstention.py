"""Abstention: every reason triggers (occluded unit landmarks, detector confidence, extreme pose,
out of distribution), clean frames are scored, thresholds live in the model config."""
from __future__ import annotations

import functools
import json
from dataclasses import replace

import numpy as np
import pytest

from _models_helpers import cohort
from geopain.geometry.align import rotation_from_angles
from geopain.models import PainEstimator
from geopain.models.abstention import DEFAULTS, frame_status


@functools.lru_cache(maxsize=None)
def _est():
    return PainEstimator("logreg").fit(cohort("human", 6, 2, 12, seed=5))


def _clean():
    from geopain.synth.simulator import SynthConfig, simulate

    cfg = SynthConfig(occlusion_rate=0.0, drop_rate=0.0, pose_scale=0.0)
    return simulate("human", n_subjects=1, sequences_per_subject=1, frames=6, seed=9, config=cfg)[0]


def _status(est, seq):
    df = est.predict_frames([seq])
    return df["status"].tolist(), df["reason"].tolist()


class TestFrameStatus:
    def test_clean_frames_are_scored(self):
        status, reason = _status(_est(), _clean())
        assert status == ["scored"] * 6 and reason == [""] * 6

    def test_occluded_brows(self):
        s = _clean()
        coords = s.coords.copy()
        coords[2:, 17:27] = np.nan  # both brows masked from frame 2
        status, reason = _status(_est(), replace(s, coords=coords))
        assert status[:2] == ["scored"] * 2 and status[2:] == ["abstained"] * 4
        assert reason[3] == "occluded AU4 landmarks (brows_ears)"

    def test_low_point_confidence_counts_as_missing(self):
        s = _clean()
        conf = np.ones(s.coords.shape[:2], np.float32)
        conf[:, 48:68] = 0.1  # the mouth: AU10's landmarks
        status, reason = _status(_est(), replace(s, confidence=conf))
        assert set(status) == {"abstained"} and reason[0] == "occluded AU10 landmarks (mouth)"

    def test_detector_confidence(self):
        s = _clean()
        fc = np.ones(6, np.float32)
        fc[4] = 0.31
        status, reason = _status(_est(), replace(s, frame_confidence=fc))
        assert status[4] == "abstained" and reason[4] == "detector confidence 0.31"
        assert status[3] == "scored"

    def test_extreme_yaw(self):
        s = _clean()
        c = s.coords.astype(np.float64)
        centre = np.nanmean(c, 1, keepdims=True)
        R = rotation_from_angles(62.0, 0.0, 0.0)
        turned = (c - centre) @ np.asarray(R).reshape(3, 3).T + centre
        status, reason = _status(_est(), replace(s, coords=turned.astype(np.float32)))
        assert set(status) == {"abstained"}
        assert all(r.startswith("yaw ") and r.endswith("beyond 45°") for r in reason)
        assert abs(int(reason[0].split()[1].rstrip("°"))) in range(58, 67)

    def test_out_of_distribution(self):
        s = _clean()
        rng = np.random.default_rng(0)
        c = s.coords.copy()
        c[3] = c[3] + rng.normal(0, 1.5, c[3].shape).astype(np.float32)  # a face no training frame resembles
        status, reason = _status(_est(), replace(s, coords=c))
        assert status[3] == "abstained" and "out of distribution (distance" in reason[3]
        assert status[0] == "scored"

    def test_several_reasons_joined(self):
        s = _clean()
        coords = s.coords.copy()
        coords[:, 17:27] = np.nan
        fc = np.full(6, 0.2, np.float32)
        _, reason = _status(_est(), replace(s, coords=coords, frame_confidence=fc))
        assert reason[0] == "occluded AU4 landmarks (brows_ears); detector confidence 0.20"

    def test_no_face(self):
        s = _clean()
        coords = s.coords.copy()
        coords[1] = np.nan
        status, reason = _status(_est(), replace(s, coords=coords))
        assert status[1] == "no face" and status[0] == "scored"

    def test_details(self):
        est = _est()
        s = est._in_scheme([_clean()])
        _, _, details = frame_status(est, s, np.ones(6, bool))
        assert {"yaw", "pitch", "ood_distance", "visible_AU4"} <= set(details)
        np.testing.assert_allclose(details["visible_AU4"], 1.0)


class TestAbstentionConfig:
    def test_thresholds_in_model_config(self, tmp_path):
        est = _est()
        cfg = est.abstention_
        assert {k: cfg[k] for k in DEFAULTS} == DEFAULTS and cfg["ood_threshold"] > 0
        est.save(tmp_path / "m")
        config = json.loads((tmp_path / "m" / "config.json").read_text())
        assert config["abstention"]["max_yaw"] == 45.0
        # a user edits the threshold in config.json: the loaded model uses it
        config["abstention"]["max_yaw"] = 5.0
        (tmp_path / "m" / "config.json").write_text(json.dumps(config))
        back = PainEstimator.load(tmp_path / "m")
        s = _clean()
        c = s.coords.astype(np.float64)
        centre = np.nanmean(c, 1, keepdims=True)
        turned = (c - centre) @ np.asarray(rotation_from_angles(20.0, 0.0, 0.0)).reshape(3, 3).T + centre
        status, reason = _status(back, replace(s, coords=turned.astype(np.float32)))
        assert set(status) == {"abstained"} and reason[0].endswith("beyond 5°")
        assert _status(est, replace(s, coords=turned.astype(np.float32)))[0] == ["scored"] * 6

    def test_neural_model_uses_its_embedding(self):
        from _models_helpers import FAST

        train = cohort("human", 4, 2, 12)
        est = PainEstimator("wgnn", **{**FAST, "epochs": 1, "layers": 1, "init": None}).fit(train)
        assert est.ood_["mean"].shape == (est.model_.embed_dim,)
        df = est.predict_frames(train)
        assert (df["status"] == "scored").mean() > 0.95  # the 99.5% training quantile
        s = train[0]
        c = s.coords.copy()
        c[3] = c[3] + np.random.default_rng(0).normal(0, 1.5, c[3].shape).astype(np.float32)
        status, reason = _status(est, replace(s, coords=c))
        assert status[3] == "abstained" and "out of distribution" in reason[3]


@pytest.mark.parametrize("species,region", [("human", "mouth"), ("sheep", "mouth")])
def test_simulated_mouth_occluder_abstains_with_the_right_reason(species, region):
    """The simulator's mouth occluders (human tube, sheep feeder) make the affected frames abstain."""
    from geopain.synth.simulator import SynthConfig, simulate

    est = PainEstimator("logreg").fit(cohort(species, 6, 2, 12, seed=5))
    seqs = simulate(species, n_subjects=3, sequences_per_subject=2, frames=12, seed=11,
                    config=SynthConfig(occlusion_rate=1.0))
    mouth = [s for s in seqs if s.meta["occluder"] in ("tube", "feeder")]
    assert mouth, "the draw has a mouth occluder"
    df = est.predict_frames(mouth)
    hidden = np.concatenate([np.isin(np.arange(s.n_frames), s.meta["occluded_frames"]) for s in mouth])
    assert (df["status"][hidden] == "abstained").all()
    assert df["reason"][hidden].str.contains(f"landmarks \\({region}").all()
