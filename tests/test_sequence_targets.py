"""A sequence's target: its own label where the data give one (a simulated sequence's label, a
sample's class), else the median of its frames' labels (geopain.tasks.sequence_targets)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geopain.tasks import SEQUENCE_TARGET, sequence_targets


def _frames(**columns):
    base = {"subject": ["a"] * 4 + ["b"] * 4 + ["c"] * 2, "sequence": ["s"] * 4 + ["t"] * 4 + ["u"] * 2,
            "face_id": 0, "face_found": True}
    return pd.DataFrame({**base, **columns})


class TestSequenceTargets:
    def test_own_label_wins_over_the_frame_median(self):
        f = _frames(target=[0, 0, 0, 1, 1, 1, 0, 0, np.nan, np.nan], **{SEQUENCE_TARGET: [1] * 4 + [np.nan] * 4 + [0] * 2})
        out = sequence_targets(f, "binary")
        assert out.name == "target"
        assert out.to_dict() == {("a", "s", 0): 1.0, ("b", "t", 0): 0.0, ("c", "u", 0): 0.0}

    def test_frame_median_without_own_labels(self):
        f = _frames(target=[0, 0, 0, 1, 1, 1, 0, 0, np.nan, np.nan])
        assert sequence_targets(f, "binary").to_dict() == {("a", "s", 0): 0.0, ("b", "t", 0): 0.0}
        levels = _frames(target=[0, 1, 3, 4, 2, 2, 3, 3, np.nan, np.nan])
        assert sequence_targets(levels, "levels").to_dict() == {("a", "s", 0): 2.0, ("b", "t", 0): 2.0}

    def test_frames_without_a_face_do_not_count(self):
        f = _frames(target=[1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
        f.loc[:2, "face_found"] = False
        assert sequence_targets(f, "binary")[("a", "s", 0)] == 0.0


class TestEstimatorSequenceTargets:
    @pytest.fixture(scope="class")
    def fitted(self):
        from geopain.models import PainEstimator
        from geopain.synth import simulate

        seqs = simulate("human", 8, 4, 48, seed=0)
        return PainEstimator("logreg").fit(seqs), seqs

    def test_a_short_pain_episode_is_a_pain_sequence(self, fitted):
        """predict_sequences' target is the simulated sequence's label even where most of its
        frames are without pain; frames keep their own targets."""
        est, seqs = fitted
        table = est.predict_sequences(seqs).set_index("sequence")
        own = {s.sequence: s.sequence_labels["pain"] for s in seqs}
        median = {s.sequence: np.round(np.nanmedian(s.labels["pain"])) for s in seqs}
        assert any(own[k] != median[k] for k in own), "the cohort should have a sequence where they differ"
        assert all(table.loc[k, "target"] == v for k, v in own.items())
        frames = est.predict_frames(seqs)
        assert SEQUENCE_TARGET in frames and np.array_equal(frames["target"].to_numpy(),
                                                            np.concatenate([s.labels["pain"] for s in seqs]))

    def test_without_sequence_labels_the_median(self, fitted):
        from dataclasses import replace

        est, seqs = fitted
        bare = [replace(s, sequence_labels={}) for s in seqs]
        table = est.predict_sequences(bare).set_index("sequence")
        assert SEQUENCE_TARGET not in est.predict_frames(bare)
        assert all(table.loc[s.sequence, "target"] == np.round(np.nanmedian(s.labels["pain"])) for s in bare)


def test_readable_columns_make_the_sequence_target_a_class():
    from geopain.tasks import readable_columns

    f = _frames(target=[0.0] * 10, p_0=0.4, p_1=0.6, prediction=1.0, **{SEQUENCE_TARGET: [1.0] * 4 + [np.nan] * 6})
    out = readable_columns(f, "binary")
    assert str(out[SEQUENCE_TARGET].dtype) == "Int64" and out[SEQUENCE_TARGET].isna().sum() == 6
    assert {"p_no_pain", "p_pain"} <= set(out.columns)
