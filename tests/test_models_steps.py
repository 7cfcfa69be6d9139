"""Pipeline steps, per-person references, the ordinal head, the hybrid model and edge weightings."""
import warnings

import numpy as np
import pytest
import torch

from geopain.errors import GeopainError, ReferenceUnavailableError, ShapeError
from geopain.models import PainEstimator, create
from geopain.models._common import CumulativeLinkHead, LandmarkReadout
from geopain.models.steps import REFERENCES, IdentityAugment, Normalize, Reference, feature_blocks
from geopain.species import get_scheme
from geopain.synth import simulate

FAST = dict(epochs=3, hidden=16, batch_size=64, patience=2)


@pytest.fixture(scope="module")
def cohort():
    return simulate("human", n_subjects=4, sequences_per_subject=2, frames=12, seed=3)


@pytest.fixture(scope="module")
def frames(cohort):
    return Normalize(get_scheme(cohort[0].scheme)).transform(cohort)


class TestReference:
    def test_smoke_none_is_identity(self, frames):
        out = Reference("none").transform(frames)
        np.testing.assert_array_equal(out.coords, frames.coords)
        assert set(out.reference) == {"none"}

    def test_exception_unknown_kind(self):
        with pytest.raises(GeopainError, match="reference must be one of"):
            Reference("lowest")

    def test_subject_median_becomes_the_template(self, frames):
        out = Reference("subject-median").transform(frames)
        template = frames.scheme.template
        for subject in np.unique(frames.subject):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # points hidden by an occluder throughout
                med = np.nanmedian(out.coords[frames.subject == subject], 0)
            ok = np.isfinite(med).all(1)
            np.testing.assert_allclose(med[ok], template[ok], atol=1e-4)
        raw = np.nanmedian(frames.coords[frames.subject == frames.subject[0]], 0)
        assert np.nanmax(np.abs(raw - template)) > 0.05  # without it, subjects keep their own shapes
        assert set(out.reference) == {"subject-median"}

    def test_one_frame_is_refused_in_one_line(self, cohort):
        one = [cohort[0][:1]]
        fr = Normalize(get_scheme(one[0].scheme)).transform(one)
        why = Reference("subject-median").problem(fr)
        assert why is not None and "1 frame" in why and "\n" not in why
        with pytest.raises(ReferenceUnavailableError, match="needs at least 8 frames"):
            Reference("subject-median").transform(fr)

    def test_first_frames_needs_more_frames_than_the_reference(self, frames):
        assert Reference("first-frames", first_frames=20).problem(frames) is not None
        out = Reference("first-frames", first_frames=4).transform(frames)
        first = np.flatnonzero((frames.sequence == frames.sequence[0]) & frames.found)[:4]
        med = np.nanmedian(out.coords[first], 0)
        ok = np.isfinite(med).all(1)
        assert ok.sum() > 10
        np.testing.assert_allclose(med[ok], frames.scheme.template[ok], atol=1e-4)

    def test_neutral_labelled_uses_marked_frames(self, frames):
        assert "neutral" in Reference("neutral-labelled").problem(frames)
        marked = frames.neutral.copy()
        marked[:] = 0
        marked[np.flatnonzero((frames.subject == frames.subject[0]) & frames.found)[:3]] = 1
        marked[np.flatnonzero(frames.subject != frames.subject[0])] = 1
        from dataclasses import replace

        out = Reference("neutral-labelled").transform(replace(frames, neutral=marked))
        rows = np.flatnonzero((frames.subject == frames.subject[0]) & frames.found)[:3]
        med = np.nanmedian(out.coords[rows], 0)
        ok = np.isfinite(med).all(1)
        np.testing.assert_allclose(med[ok], frames.scheme.template[ok], atol=1e-4)


class TestEstimatorReference:
    def test_single_photo_is_refused_not_a_constant(self, cohort):
        est = PainEstimator("logreg", "binary", reference="subject-median").fit(cohort)
        assert est.reference_problem([cohort[0][:1]]) is not None
        with pytest.raises(ReferenceUnavailableError):
            est.predict_proba([cohort[0][:1]])
        frames = est.predict_frames(cohort[:2])
        assert set(frames["reference"]) == {"subject-median"}

    def test_reference_free_scores_a_photo_alone_as_in_a_folder(self, cohort):
        est = PainEstimator("wgnn", "binary", **FAST).fit(cohort)
        alone = est.predict_proba([cohort[0][:1]])
        together = est.predict_proba([cohort[0][:1], cohort[3][:1], cohort[5][:1]])
        np.testing.assert_allclose(alone[0], together[0], atol=1e-6)

    def test_old_baseline_name_still_works(self, cohort):
        est = PainEstimator("logreg", "binary", baseline="subject-median").fit(cohort)
        assert set(est.predict_frames(cohort[:1])["reference"]) == {"subject-median"}
        assert REFERENCES[0] == "none"


class TestIdentityAugment:
    def test_keeps_expression_changes_identity(self, frames):
        aug = IdentityAugment(p=1.0, mirror=0.0, seed=1).fit(frames)
        out = aug.transform(frames, epoch=0)
        assert out.coords.shape == frames.coords.shape
        # within a subject, frame-to-frame differences (expression) are kept up to the morph
        s = frames.subject == frames.subject[0]
        moved = np.nanmean(np.abs(out.coords[s] - frames.coords[s]))
        assert moved > 0.2 * aug.identity_rms_
        # a new epoch gives new identities, the same epoch the same ones
        np.testing.assert_array_equal(aug.transform(frames, epoch=0).coords, out.coords)
        assert not np.allclose(aug.transform(frames, epoch=1).coords, out.coords, equal_nan=True)

    def test_mirror_swaps_sides(self, frames):
        aug = IdentityAugment(p=1.0, spread=0.0, morph=0.0, mirror=1.0).fit(frames)
        aug.medians_[:] = aug.mean_  # no identity change: only the mirror remains
        out = aug.transform(frames, epoch=0)
        flip = frames.scheme.flip_index
        expect = frames.coords[:, flip].copy()
        expect[..., 0] *= -1
        np.testing.assert_allclose(out.coords, expect, atol=1e-5)


    def test_expression_variation(self, frames):
        """A face at its subject's median (no expression) stays without one; an expression
        changes size and direction, by other amounts in other frames."""
        from dataclasses import replace as dc_replace

        plain = IdentityAugment(p=1.0, mirror=0.0, seed=1).fit(frames)
        varied = IdentityAugment(p=1.0, mirror=0.0, expression=2.0, seed=1).fit(frames)
        still = dc_replace(frames, coords=np.repeat(varied.medians_[:1], len(frames), 0).astype(np.float32),
                           subject=np.full(len(frames), varied.subjects_[0]))
        np.testing.assert_allclose(varied.transform(still, 0).coords, plain.transform(still, 0).coords, atol=1e-5)
        a, b = plain.transform(frames, 0).coords, varied.transform(frames, 0).coords
        own = varied.medians_[np.searchsorted(varied.subjects_, frames.subject)]
        expr = np.nan_to_num(frames.coords - own)
        change = np.nan_to_num(np.abs(b - a)).sum((1, 2)) / np.maximum(np.abs(expr).sum((1, 2)), 1e-9)
        assert change.max() > 0.3 and np.std(change) > 0.05
        with pytest.raises(GeopainError, match="expression"):
            IdentityAugment(expression=-1.0)


class TestCumulativeLinkHead:
    def test_smoke_probabilities(self):
        head = CumulativeLinkHead(8, 16, 5)
        p = torch.softmax(head(torch.randn(32, 8)), 1)
        torch.testing.assert_close(p.sum(1), torch.ones(32), atol=1e-5, rtol=0)

    def test_exception_too_few_levels(self):
        with pytest.raises(ShapeError):
            CumulativeLinkHead(8, 16, 1)

    def test_thresholds_stay_ordered_whatever_the_weights(self):
        head = CumulativeLinkHead(4, 8, 5)
        with torch.no_grad():
            head.gaps.copy_(torch.tensor([-50.0, 3.0, -2.0]))
            head.first.fill_(7.0)
        t = head.thresholds()
        assert (t[1:] > t[:-1]).all()
        # P(level > k) decreases with k for every input
        z = torch.linspace(-20, 20, 50)
        above = torch.sigmoid(z[:, None] - t[None])
        assert (above[:, 1:] <= above[:, :-1]).all()

    def test_a_larger_latent_never_lowers_the_expected_level(self):
        head = CumulativeLinkHead(4, 8, 5)
        levels = torch.arange(5.0)
        z = torch.linspace(-5, 5, 40)
        expected = (head.log_probs(z).exp() * levels).sum(1)
        assert (expected[1:] >= expected[:-1] - 1e-6).all()


class TestModels:
    def test_landmark_readout_keeps_which_point(self):
        r = LandmarkReadout(8, n_nodes=5, per_node=2)
        h = torch.zeros(2, 5, 8)
        h[0, 1, :] = 1.0
        h[1, 3, :] = 1.0  # same values, another landmark: pooled features agree, the readout does not
        out = r(h)
        assert out.shape == (2, 2 * 8 + 10)
        torch.testing.assert_close(out[0, :16], out[1, :16])
        assert not torch.allclose(out[0, 16:], out[1, 16:])

    @pytest.mark.parametrize("weighting", ["given", "refined", "learned", "uniform"])
    def test_wgnn_weightings(self, weighting):
        net = create("wgnn", in_channels=4, out_channels=2, edge_dim=3, n_nodes=6, hidden=8)
        net = type(net)(4, 2, hidden=8, edge_dim=3, n_nodes=6, weighting=weighting)
        ei = torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]])
        out = net(torch.randn(3, 6, 4), ei, torch.rand(3, 5) + 0.5, torch.randn(3, 5, 3))
        assert out.shape == (3, 2)
        assert net.uniform == (weighting == "uniform")

    def test_hybrid_needs_measurements(self):
        net = create("hybrid", in_channels=4, out_channels=2, n_measurements=3, edge_dim=3, hidden=8)
        ei = torch.tensor([[0, 1], [1, 2]])
        x, w, ea = torch.randn(2, 3, 4), torch.ones(2, 2), torch.randn(2, 2, 3)
        assert net(x, ei, w, ea, features=torch.randn(2, 3)).shape == (2, 2)
        with pytest.raises(ShapeError, match="features"):
            net(x, ei, w, ea)

    def test_hybrid_graph_part_starts_silent(self):
        net = create("hybrid", in_channels=4, out_channels=2, n_measurements=3, edge_dim=3, hidden=8, head="softmax")
        ei = torch.tensor([[0, 1], [1, 2]])
        out = net(torch.randn(5, 3, 4), ei, torch.ones(5, 2), torch.randn(5, 2, 3), features=torch.randn(5, 3))
        torch.testing.assert_close(out, torch.zeros(5, 2))  # both parts start at 0: the estimator sets the linear one

    def test_hybrid_starts_as_its_chosen_linear_model(self, cohort):
        """Untrained (0 epochs), the hybrid is the logistic regression on the blocks and ``C``
        chosen on held-out subjects; the unchosen block is masked out."""
        from sklearn.linear_model import LogisticRegression

        from geopain.models.hybrid import LINEAR_C
        from geopain.models.steps import FeatureScaler

        hybrid = PainEstimator("hybrid", "binary", epochs=0, init=None).fit(cohort)
        part = hybrid.linear_part_
        assert part["C"] in LINEAR_C and len(part["tried"]) == 3 * len(LINEAR_C)
        assert part["held_out_loss"] == min(t["held_out_loss"] for t in part["tried"])
        seqs = hybrid._in_scheme(cohort)
        frames = hybrid._frames(seqs, hybrid.scheme_obj_)
        inputs = FeatureScaler.from_stats(hybrid.scaler_).transform(hybrid._featurizer(hybrid.scheme_obj_).transform(frames))
        mask = hybrid.model_.feature_mask.numpy()
        blocks = feature_blocks(hybrid._info, len(mask), int(inputs["x"].shape[1]))
        np.testing.assert_array_equal(mask > 0, np.any([blocks[b] for b in part["blocks"]], 0))
        index = np.flatnonzero(frames.found)
        y = np.concatenate([s.labels["pain"] for s in seqs])[index]
        X = inputs["features"].numpy()[index][:, mask > 0]
        lr = LogisticRegression(C=part["C"], class_weight="balanced", max_iter=2000).fit(X, y)
        a = hybrid.predict_proba(cohort)[index]
        assert np.mean(a.argmax(1) == lr.predict(X)) > 0.98

    @pytest.mark.parametrize("model", ["wgnn", "pointnet", "hybrid"])
    def test_five_levels_use_the_ordinal_head(self, cohort, model):
        est = PainEstimator(model, "levels", **FAST).fit(cohort)
        assert isinstance(est.model_.head, CumulativeLinkHead)
        p = est.predict_proba(cohort[:1])
        ok = np.isfinite(p).all(1)
        np.testing.assert_allclose(p[ok].sum(1), 1.0, atol=1e-6)


class TestInvariance:
    def test_predictions_ignore_a_similarity_transform_of_the_input(self, cohort):
        from geopain.geometry.align import rotation_from_angles

        est = PainEstimator("wgnn", "binary", **FAST).fit(cohort)
        rot = rotation_from_angles(25.0, -10.0, 15.0)[0]
        moved = [s.with_coords((s.coords @ rot.T) * 2.5 + np.array([3.0, -7.0, 1.0])) for s in cohort[:3]]
        a, b = est.predict(cohort[:3]), est.predict(moved)
        ok = np.isfinite(a)
        assert np.mean(a[ok] == b[ok]) >= 0.99
        np.testing.assert_allclose(est.predict_proba(cohort[:3])[ok], est.predict_proba(moved)[ok], atol=1e-3)


class TestSelectLinearPart:
    """geopain.models.hybrid.select_linear_part: blocks and C chosen by cross-validation."""

    @staticmethod
    def _data(informative: str, n: int = 600, seed: int = 0):
        rng = np.random.default_rng(seed)
        a, b = rng.normal(size=(n, 4)), rng.normal(size=(n, 40))
        signal = a[:, 0] if informative == "a" else b[:, 0] + b[:, 1]
        y = (signal + 0.3 * rng.normal(size=n) > 0).astype(int)
        blocks = {"a": np.r_[np.ones(4, bool), np.zeros(40, bool)], "b": np.r_[np.zeros(4, bool), np.ones(40, bool)]}
        return np.c_[a, b], blocks, y

    @staticmethod
    def _run(X, blocks, y, held=True):
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import log_loss

        from geopain.models.hybrid import select_linear_part

        train, val = np.arange(300), np.arange(300, len(y))
        return select_linear_part(X, blocks, np.zeros((len(y), 0)), y, [(train, val), (val, train)] if held else [],
                                  lambda C: LogisticRegression(C=C, max_iter=500, warm_start=True),
                                  lambda est, X_, t: log_loss(t, est.predict_proba(X_), labels=est.classes_))

    @pytest.mark.parametrize("informative", ["a", "b"])
    def test_keeps_the_informative_block(self, informative):
        X, blocks, y = self._data(informative)
        mask, C, record = self._run(X, blocks, y)
        assert informative in record["blocks"]
        assert mask[blocks[informative]].all()
        alone = [t["held_out_loss"] for t in record["tried"] if t["blocks"] == ["a" if informative == "b" else "b"]]
        assert record["held_out_loss"] < min(alone)  # the uninformative block alone is worse

    def test_without_held_out_keeps_everything(self):
        X, blocks, y = self._data("a")
        mask, C, record = self._run(X, blocks, y, held=False)
        assert mask.all() and record["blocks"] == ["a", "b"] and "note" in record


class TestFeatureBlocks:
    def test_measurements_then_coordinates(self):
        blocks = feature_blocks({"measurements": True, "coordinates": True}, 5 + 3 * 4, 4)
        assert list(blocks) == ["measurements", "coordinates"]
        assert blocks["measurements"].sum() == 5 and blocks["measurements"][:5].all()
        assert blocks["coordinates"].sum() == 12 and blocks["coordinates"][5:].all()

    def test_without_flags_measurements_only(self):
        blocks = feature_blocks({}, 7, 4)
        assert list(blocks) == ["measurements"] and blocks["measurements"].all()
        assert list(feature_blocks({"coordinates": True}, 12, 4)) == ["coordinates"]
        assert feature_blocks({}, 0, 4) == {}  # a network without per-frame features
