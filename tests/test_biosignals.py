"""Biosignal features, simulated biosignals with a set coupling, and fusion with missing modalities."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from geopain.biosignals import (FUSIONS, FusionModel, biosignal_features, ecg_features, emg_features, gsr_features,
                                simulate_biosignals)
from geopain.errors import GeopainError
from geopain.models.fusion import ATTENTION_WEIGHT_DECAYS


def _frame_means(t_raw: np.ndarray, x: np.ndarray, fps: float = 25.0, seconds: float = 5.5) -> np.ndarray:
    """Raw samples -> per-frame means, as BioVid's side table holds them."""
    from geopain.datasets.biovid import align_biosignals

    ts = np.arange(int(seconds * fps)) / fps
    return align_biosignals(pd.DataFrame({"time": t_raw, "x": x}), ts, fps)["x"].to_numpy()


class TestECG:
    @pytest.mark.parametrize("hr", [55.0, 72.0, 110.0])
    def test_heart_rate_from_frame_means(self, hr):
        t = np.arange(0, 5.6, 1 / 512)
        beats = np.arange(0.2, 5.6, 60 / hr)
        ecg = np.exp(-0.5 * ((t[:, None] - beats[None]) / 0.012) ** 2).sum(1)
        f = ecg_features(_frame_means(t, ecg), 25.0)
        assert abs(f["ecg_hr_bpm"] - hr) < 3.0
        assert f["ecg_sdnn_ms"] < 40  # a regular rhythm (frame quantisation only)

    def test_flat_trace_gives_nan(self):
        f = ecg_features(np.zeros(100), 25.0)
        assert np.isnan(f["ecg_hr_bpm"])


class TestGSRAndEMG:
    def test_scr_counted(self):
        fs = 25.0
        t = np.arange(0, 20, 1 / fs)
        x = 4.0 + sum(0.2 * (1 - np.exp(-np.clip(t - o, 0, None))) * np.exp(-np.clip(t - o, 0, None) / 3) * (t >= o)
                      for o in (3.0, 9.0, 15.0))
        f = gsr_features(x, fs)
        assert f["gsr_scr_per_min"] == pytest.approx(3 / (20 / 60))
        assert 4.0 < f["gsr_level"] < 4.3 and f["gsr_scr_amplitude"] > 0.05
        assert gsr_features(np.full(200, 4.0), fs)["gsr_scr_per_min"] == 0

    def test_emg_amplitude_scales(self):
        rng = np.random.default_rng(0)
        small, big = rng.normal(0, 1, 500), rng.normal(0, 3, 500)
        assert emg_features(big, 25)["emg_amplitude"] / emg_features(small, 25)["emg_amplitude"] == pytest.approx(3, rel=0.15)


class TestBiosignalFeatures:
    def test_missing_ecg_is_said(self):
        from geopain.synth import simulate

        seqs = simulate("human", 2, 2, 100, seed=0)
        table = simulate_biosignals(seqs, coupling=1.0, seed=0, signals=("gsr", "ecg", "emg"))
        table.loc[table["sequence"] == seqs[0].sequence, "ecg"] = np.nan
        f = biosignal_features(table)
        assert len(f) == 4
        first = f.set_index("sequence").loc[seqs[0].sequence]
        assert first["missing"] == "ecg,rppg" and not first["has_ecg"] and np.isnan(first["ecg_hr_bpm"])
        assert np.isfinite(first["gsr_level"]) and np.isfinite(first["emg_amplitude"])
        rest = f[f["sequence"] != seqs[0].sequence]
        assert (rest["missing"] == "rppg").all() and rest["ecg_hr_bpm"].between(40, 140).all()

    def test_remote_pulse_from_skin_colour(self):
        """The simulated camera's skin colour gives the ECG's heart rate through POS; a camera
        too noisy for a pulse gives no heart rate and says rppg is missing."""
        from geopain.synth import SynthConfig, simulate

        seqs = simulate("human", 4, 3, 150, seed=2, config=SynthConfig.preset("easy"))
        f = biosignal_features(simulate_biosignals(seqs, coupling=1.0, seed=1))
        scored = f[f["has_rppg"]]
        assert len(scored) >= 0.7 * len(f)
        assert (np.abs(scored["rppg_hr_bpm"] - scored["ecg_hr_bpm"]) < 3.0).mean() >= 0.9
        noisy = biosignal_features(simulate_biosignals(seqs, coupling=1.0, seed=1, camera_noise=5.0))
        assert noisy["has_rppg"].mean() < 0.2
        assert noisy.loc[~noisy["has_rppg"], "rppg_hr_bpm"].isna().all()
        assert noisy.loc[~noisy["has_rppg"], "missing"].str.contains("rppg").all()

    def test_rppg_needs_all_three_colours_and_four_seconds(self):
        t = np.arange(200) / 25.0
        base = pd.DataFrame({"subject": "a", "sequence": "s", "frame": np.arange(200), "timestamp": t,
                             "skin_r": 170 + np.sin(2 * np.pi * 1.2 * t), "skin_g": 120 + 2 * np.sin(2 * np.pi * 1.2 * t),
                             "skin_b": 100 + 1.5 * np.sin(2 * np.pi * 1.2 * t)})
        assert biosignal_features(base)["rppg_hr_bpm"].iloc[0] == pytest.approx(72.0, abs=2.0)
        assert biosignal_features(base.drop(columns="skin_b"))["missing"].iloc[0] == "gsr,ecg,emg,rppg"
        assert not biosignal_features(base.iloc[:80])["has_rppg"].iloc[0]  # 3.2 s: too short for a rate

    def test_column_absent_and_bad_table(self):
        table = pd.DataFrame({"subject": ["a"] * 50, "sequence": ["s"] * 50, "frame": np.arange(50),
                              "timestamp": np.arange(50) / 25, "gsr": np.full(50, 3.0)})
        f = biosignal_features(table)
        assert f.loc[0, "missing"] == "ecg,emg,rppg" and f.loc[0, "has_gsr"]
        with pytest.raises(GeopainError, match="subject"):
            biosignal_features(pd.DataFrame({"gsr": [1.0]}))


class TestSimulateBiosignals:
    def test_coupling_moves_heart_rate_and_zero_does_not(self):
        from geopain.synth import SynthConfig, simulate

        seqs = simulate("human", 8, 4, 100, seed=1, config=SynthConfig.preset("easy"))
        pain = np.array([s.sequence_labels["pain"] for s in seqs]) == 1

        def gap(coupling):
            f = biosignal_features(simulate_biosignals(seqs, coupling=coupling, seed=3))
            hr = f["ecg_hr_bpm"].to_numpy()
            return np.nanmean(hr[pain]) - np.nanmean(hr[~pain])

        assert gap(2.0) > 8.0
        assert abs(gap(0.0)) < 4.0

    def test_layout_and_errors(self):
        from geopain.synth import simulate

        seqs = simulate("human", 1, 2, 30, seed=0)
        t = simulate_biosignals(seqs, coupling=0.5, drop={"ecg": 1.0})
        assert list(t.columns) == ["subject", "sequence", "frame", "timestamp", "gsr", "ecg", "emg_trapezius",
                                   "skin_r", "skin_g", "skin_b"]
        assert len(t) == 60 and t["ecg"].isna().all() and t["gsr"].notna().all()
        camera = simulate_biosignals(seqs, signals=("rppg",), drop={"rppg": 1.0})
        assert list(camera.columns) == ["subject", "sequence", "frame", "timestamp", "skin_r", "skin_g", "skin_b"]
        assert camera[["skin_r", "skin_g", "skin_b"]].isna().all().all()
        with pytest.raises(GeopainError, match="signals: unknown signals"):
            simulate_biosignals(seqs, signals=("ppg",))
        with pytest.raises(GeopainError, match="coupling"):
            simulate_biosignals(seqs, coupling=-1)
        with pytest.raises(GeopainError, match="unknown signals"):
            simulate_biosignals(seqs, drop={"eeg": 0.5})


def _tables(n: int = 40, seed: int = 0):
    """Face tables (embedding + probability) and biosignal features where both carry the label."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    keys = pd.DataFrame({"subject": [f"S{i // 4}" for i in range(n)], "sequence": [f"q{i}" for i in range(n)]})
    face = keys.copy()
    for k in range(6):
        face[f"emb_{k}"] = rng.normal(size=n) + (1.0 * y if k == 0 else 0)
    face["p_face"] = 1 / (1 + np.exp(-2 * (face["emb_0"] - 0.5)))  # the face model's score: its embedding's signal
    bio = keys.copy()
    from geopain.biosignals import FEATURE_NAMES

    for name in FEATURE_NAMES:
        bio[name] = rng.normal(size=n) + (1.0 * y if name == "ecg_hr_bpm" else 0)
    for g in ("gsr", "ecg", "emg", "rppg"):
        bio[f"has_{g}"] = True
    bio["missing"] = ""
    labels = keys.assign(target=y.astype(float))
    return face, bio, labels


class TestFusion:
    @pytest.mark.parametrize("fusion", FUSIONS)
    def test_scores_without_ecg_and_says_so(self, fusion):
        face, bio, labels = _tables()
        model = FusionModel(fusion, epochs=50).fit(face, bio, labels=labels, face_oof=face)
        test_bio = bio.copy()
        test_bio.loc[0, ["ecg_hr_bpm", "ecg_sdnn_ms", "ecg_rmssd_ms"]] = np.nan
        test_bio.loc[0, "has_ecg"] = False
        out = model.predict(face, test_bio)
        assert len(out) == len(face) and np.isfinite(out["p_1"]).all()
        assert out.loc[0, "missing"] == "ecg" and (out.loc[1:, "missing"] == "").all()
        if fusion == "attention":
            assert out.loc[0, "w_ecg"] == 0 and out.loc[1, "w_ecg"] > 0
            assert np.allclose(out[["w_face", "w_gsr", "w_ecg", "w_emg", "w_rppg"]].sum(1), 1)

    @pytest.mark.parametrize("fusion", ["early", "late", "attention"])
    def test_a_sequence_without_face_score_still_scores_and_says_so(self, fusion):
        face, bio, labels = _tables()
        model = FusionModel(fusion, epochs=30, weight_decay=1e-3).fit(face, bio, labels=labels, face_oof=face)
        test_face = face.copy()
        test_face.loc[0, "p_face"] = np.nan
        out = model.predict(test_face, bio)
        assert np.isfinite(out["p_1"]).all() and out.loc[0, "missing"] == "face"
        assert (out.loc[1:, "missing"] == "").all()

    def test_bio_only_without_any_signal_gives_no_score(self):
        face, bio, labels = _tables()
        model = FusionModel("bio").fit(face, bio, labels=labels)
        none = bio.copy()
        from geopain.biosignals import SIGNALS

        none.loc[0, [f"has_{g}" for g in SIGNALS]] = False
        out = model.predict(face, none)
        assert np.isnan(out.loc[0, "p_1"]) and out.loc[0, "missing"] == "gsr,ecg,emg,rppg"

    def test_fusion_uses_both_modalities(self):
        """Face and biosignals each carry half the signal: fusion ranks better than either."""
        from sklearn.metrics import roc_auc_score

        face, bio, labels = _tables(400, seed=1)
        tr, te = slice(0, 200), slice(200, 400)
        auc = {}
        for fusion in ("face", "bio", "early", "late"):
            m = FusionModel(fusion).fit(face[tr], bio[tr], labels=labels[tr], face_oof=face[tr])
            auc[fusion] = roc_auc_score(labels["target"][te], m.predict(face[te], bio[te])["p_1"])
        assert auc["early"] > max(auc["face"], auc["bio"]) and auc["late"] > max(auc["face"], auc["bio"])

    def test_late_fusion_stacks_out_of_fold_face_scores(self):
        """The stacker weighs the face by its out-of-fold scores, not by in-sample ones (which a
        face model gets right on the sequences it was trained on)."""
        face, bio, labels = _tables(200, seed=2)
        in_sample = face.assign(p_face=np.where(labels["target"] > 0, 0.99, 0.01))  # memorised labels
        noise = np.random.default_rng(3).uniform(0.05, 0.95, len(face))
        m = FusionModel("late").fit(in_sample, bio, labels=labels, face_oof=face.assign(p_face=noise))
        w_face, w_bio = np.abs(m.late_.coef_[0])
        assert w_face < 0.2 * w_bio
        trusting = FusionModel("late").fit(in_sample, bio, labels=labels, face_oof=in_sample)
        assert np.abs(trusting.late_.coef_[0])[0] > 1.0  # fitted on in-sample scores it trusts the face
        with pytest.raises(GeopainError, match="out-of-fold"):
            FusionModel("late").fit(face, bio, labels=labels)
        with pytest.raises(GeopainError, match="lacks"):
            FusionModel("late").fit(face, bio, labels=labels, face_oof=face.iloc[:10])

    def test_early_fusion_and_attention_fit_on_out_of_fold_face_scores(self):
        """Face input 'score': fitted on out-of-fold face logits, applied to the face model's own;
        'embedding' keeps the graph embedding and needs no out-of-fold scores."""
        face, bio, labels = _tables(200, seed=2)
        in_sample = face.assign(p_face=np.where(labels["target"] > 0, 0.99, 0.01))
        noise = np.random.default_rng(3).uniform(0.05, 0.95, len(face))
        early = FusionModel("early").fit(in_sample, bio, labels=labels, face_oof=face.assign(p_face=noise))
        coef = np.abs(early.early_.coef_[0])
        assert coef[0] < 0.2 * coef[1:].max()  # the face logit (first column) barely counts
        trusting = FusionModel("early").fit(in_sample, bio, labels=labels, face_oof=in_sample)
        assert np.abs(trusting.early_.coef_[0])[0] > np.abs(trusting.early_.coef_[0])[1:].max()
        for fusion in ("early", "attention"):
            with pytest.raises(GeopainError, match="out-of-fold"):
                FusionModel(fusion).fit(face, bio, labels=labels)
            emb = FusionModel(fusion, face_input="embedding", epochs=20).fit(face, bio, labels=labels)
            assert np.isfinite(emb.predict(face, bio)["p_1"]).all() and emb.pca_.n_components_ == 6
        with pytest.raises(GeopainError, match="face_input"):
            FusionModel("early", face_input="pixels")

    def test_attention_weight_decay_chosen_on_held_out_subjects(self):
        face, bio, labels = _tables(80, seed=4)
        m = FusionModel("attention", epochs=40).fit(face, bio, labels=labels, face_oof=face)
        assert set(m.weight_decay_losses_) == set(ATTENTION_WEIGHT_DECAYS)
        assert m.weight_decay_ == min(m.weight_decay_losses_, key=m.weight_decay_losses_.get)
        # the stacked search trains each candidate as it would be trained alone
        table = face.merge(bio, on=["subject", "sequence"])
        parts, present = m._attention_inputs(table)
        y = labels["target"].to_numpy(int)
        rows = [np.arange(0, 60), np.arange(20, 80)]
        stacked = m._train_attention_stack(parts, present, y, rows, [1e-3, 1e-1])
        for r, decay, model in zip(rows, [1e-3, 1e-1], stacked):
            alone = m._train_attention([q[r] for q in parts], present[r], y[r], decay)
            with torch.no_grad():
                logit = model(parts, present)[0]
                np.testing.assert_allclose(logit.numpy(), alone(parts, present)[0].numpy(), atol=1e-4)
            # and as a plain training loop would: Adam with (coupled) weight decay on all but the skip
            from geopain.models.fusion import _Attention, _balanced_weights

            torch.manual_seed(m.seed)
            plain = _Attention([q.shape[1] for q in parts])
            named = list(plain.named_parameters())
            opt = torch.optim.Adam([{"params": [v for n, v in named if plain.decayed(n)], "weight_decay": decay},
                                    {"params": [v for n, v in named if not plain.decayed(n)], "weight_decay": 0.0}],
                                   lr=m.lr)
            yt = torch.as_tensor(y[r], dtype=torch.float32)
            for _ in range(m.epochs):
                out = plain([q[r] for q in parts], present[r])[0]
                loss = (torch.nn.functional.binary_cross_entropy_with_logits(out, yt, reduction="none")
                        * _balanced_weights(yt)).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                np.testing.assert_allclose(logit.numpy(), plain(parts, present)[0].numpy(), atol=1e-4)
        fixed = FusionModel("attention", epochs=40, weight_decay=0.05).fit(face, bio, labels=labels, face_oof=face)
        assert fixed.weight_decay_ == 0.05 and fixed.weight_decay_losses_ == {}
        with pytest.raises(GeopainError, match="weight_decay"):
            FusionModel("attention", weight_decay="strong")

    def test_out_of_fold_face_table(self, monkeypatch):
        """Each sequence is scored by a face model trained without its subject."""
        import geopain.models.fusion as fusion_module
        from geopain.synth import simulate

        seqs = simulate("human", 4, 2, 8, seed=0)
        trained_on, scored = [], []

        def fit_face(train):
            trained_on.append({s.subject for s in train})
            return len(trained_on) - 1

        def scores(face, sequences, with_embedding=True):
            scored.append((face, {s.subject for s in sequences}))
            return pd.DataFrame({"subject": [s.subject for s in sequences], "sequence": [s.sequence for s in sequences],
                                 "p_face": 0.5, "emb_0": 0.0})

        monkeypatch.setattr(fusion_module, "face_sequence_table", scores)
        out, models = fusion_module.out_of_fold_face_table(fit_face, seqs, folds=2, seed=0, return_models=True)
        assert models == [0, 1]  # the fitted face models, one per fold
        assert list(out.columns) == ["subject", "sequence", "p_face"] and len(out) == len(seqs)
        assert len(trained_on) == 2 and {s.subject for s in seqs} == set().union(*(subs for _, subs in scored))
        for face, subs in scored:
            assert trained_on[face] and not trained_on[face] & subs  # never scored by a model that saw the subject
        with pytest.raises(GeopainError, match="at least 2"):
            fusion_module.out_of_fold_face_table(fit_face, [s for s in seqs if s.subject == seqs[0].subject])

    def test_errors(self):
        face, bio, labels = _tables()
        with pytest.raises(GeopainError, match="fusion must be"):
            FusionModel("mean")
        with pytest.raises(GeopainError, match="labels"):
            FusionModel("bio").fit(face, bio)
        with pytest.raises(GeopainError, match="not fitted"):
            FusionModel("bio").predict(face, bio)
        with pytest.raises(GeopainError, match="both classes"):
            FusionModel("bio").fit(face, bio, labels=labels.assign(target=1.0))


class TestBioVidFixture:
    def test_features_from_biovid_files(self, tmp_path):
        """BioVid's own file format (fixture): read, align to frames as `dataset prepare biovid` does, features."""
        from geopain.datasets.biovid import align_biosignals, read_biosignals
        from geopain.datasets.fixtures import make_biovid

        root = make_biovid(tmp_path / "biovid", classes=("BL1", "PA4"), frames=140, size=48)
        parts = []
        for path in sorted((root / "biosignals_filtered").rglob("*_bio.csv")):
            ts = np.arange(140) / 25.0
            aligned = align_biosignals(read_biosignals(path), ts, 25.0)
            aligned.insert(0, "timestamp", ts)
            aligned.insert(0, "frame", np.arange(140))
            aligned.insert(0, "sequence", path.stem.replace("_bio", ""))
            aligned.insert(0, "subject", path.parent.name)
            parts.append(aligned)
        f = biosignal_features(pd.concat(parts, ignore_index=True))
        assert len(f) == 6 and (f["missing"] == "rppg").all()  # the skin colour comes from the videos
        assert np.allclose(f["ecg_hr_bpm"], 72.0, atol=3.0)  # the fixture's ECG beats at 1.2 Hz
        pa4 = f["sequence"].str.contains("PA4").to_numpy()
        assert f["emg_amplitude"][pa4].min() > f["emg_amplitude"][~pa4].max()  # EMG sd 3 + class id


class TestFusionInTheRegistry:
    """Fusion models are registered (kind "fusion") and evaluated by run_protocol with the face models."""

    @pytest.fixture(scope="class")
    def cohort(self):
        from geopain.synth import simulate

        seqs = simulate("human", 6, 4, 60, seed=3)
        bio = simulate_biosignals(seqs, coupling=1.0, seed=0, signals=("gsr", "ecg", "emg"))
        no_ecg = [seqs[i].sequence for i in (1, 6, 13, 17, 22)]  # training and test sequences of several subjects
        bio.loc[bio["sequence"].isin(no_ecg), "ecg"] = np.nan
        return seqs, bio

    def test_registered_and_refused_by_the_face_estimator(self):
        from geopain.models import MODELS, PainEstimator

        fusions = {n: MODELS.info(n) for n in MODELS.names() if MODELS.info(n)["kind"] == "fusion"}
        assert {i["fusion"] for i in fusions.values()} == {"early", "late", "attention", "bio"}
        with pytest.raises(GeopainError, match="fusion model, not a face model"):
            PainEstimator("fusion-late").fit([])

    def test_estimator_scores_every_frame_of_a_sequence_alike(self, cohort):
        from geopain.models import create

        seqs, bio = cohort
        est = create("fusion-late", biosignals=bio, face_params={"epochs": 2}).fit(seqs[:16])
        assert est.face_ is not None and est.model_.fusion == "late"
        frames = est.predict_frames(seqs[16:])
        assert len(frames) == sum(s.n_frames for s in seqs[16:])
        per_seq = frames.groupby("sequence")["p_1"].nunique()
        assert (per_seq == 1).all() and frames["p_1"].between(0, 1).all()
        assert np.allclose(frames["p_0"] + frames["p_1"], 1)
        features = biosignal_features(bio)  # blanked ECG, or too short a trace for two RR intervals
        no_ecg = set(features.loc[~features["has_ecg"], "sequence"])
        said = set(frames.loc[frames["missing"] == "ecg,rppg", "sequence"])  # this cohort has no camera pulse
        assert no_ecg & set(frames["sequence"]) and said == no_ecg & set(frames["sequence"])
        assert frames.loc[frames["missing"] == "ecg", "p_1"].notna().all()  # a sequence without ECG still scores

    def test_bio_only_abstains_without_signals(self, cohort):
        from geopain.models import create

        seqs, bio = cohort
        gone = seqs[16].sequence
        cut = bio.copy()
        cut.loc[cut["sequence"] == gone, ["gsr", "ecg", "emg_trapezius"]] = np.nan
        est = create("biosignals", biosignals=cut).fit(seqs[:16])
        assert est.face_ is None
        frames = est.predict_frames(seqs[16:])
        lost = frames["sequence"] == gone
        assert (frames.loc[lost, "status"] == "abstained").all() and not frames.loc[lost, "face_found"].any()
        assert frames.loc[~lost, "p_1"].notna().all()

    def test_run_protocol_compares_fusion_with_faces(self, cohort, tmp_path):
        from geopain.evaluation import run_protocol
        from geopain.io.tables import write_table

        seqs, bio = cohort
        res = run_protocol(seqs, ["logreg", "biosignals", "fusion-late"], "binary", "kfold:2", biosignals=bio,
                           progress=False, epochs=2)
        for name in ("logreg", "biosignals", "fusion-late"):
            assert not res["models"][name]["errors"]
            assert np.isfinite(res["models"][name]["sequence"]["summary"]["balanced_accuracy"]["mean"])
        # a table path finds its side table; without one the error names the file it looked for
        table = write_table(seqs, tmp_path / "cohort.parquet")
        with pytest.raises(GeopainError, match="cohort.biosignals.parquet"):
            run_protocol(table, "biosignals", "binary", "kfold:2", progress=False)
        bio.to_parquet(tmp_path / "cohort.biosignals.parquet")
        again = run_protocol(table, "biosignals", "binary", "kfold:2", progress=False)
        assert again["models"]["biosignals"]["sequence"]["summary"] == res["models"]["biosignals"]["sequence"]["summary"]

    def test_fusions_of_one_fold_share_the_face_model(self, cohort):
        from geopain.models import create

        seqs, bio = cohort
        late = create("fusion-late", biosignals=bio, face_params={"epochs": 2}).fit(seqs[:16])
        early = create("fusion-early", biosignals=bio, face_params={"epochs": 2}).fit(seqs[:16])
        other = create("fusion-early", biosignals=bio, face_params={"epochs": 2}).fit(seqs[:12])
        assert all(a is b for a, b in zip(late.face_.members, early.face_.members))
        # other training data: other face models (a half-fold of the same subjects may be shared)
        assert any(a is not b for a, b in zip(other.face_.members, early.face_.members))

    def test_face_fit_cross_and_full(self, cohort):
        """'cross': the two half-fold face models score new sequences together (their mean
        probability); 'full': a face model fitted on every training subject does."""
        from geopain.models import PainEstimator, create
        from geopain.models.fusion import FaceEnsemble, face_sequence_table

        seqs, bio = cohort
        cross = create("fusion-early", biosignals=bio, face_params={"epochs": 2}).fit(seqs[:16])
        assert isinstance(cross.face_, FaceEnsemble) and len(cross.face_.members) == 2
        table = face_sequence_table(cross.face_, seqs[16:])
        each = [face_sequence_table(m, seqs[16:], with_embedding=False)["p_face"] for m in cross.face_.members]
        np.testing.assert_allclose(table["p_face"], np.mean(each, 0), atol=1e-9)
        assert list(table.columns) == ["subject", "sequence", "p_face"]
        full = create("fusion-early", biosignals=bio, face_params={"epochs": 2}, face_fit="full").fit(seqs[:16])
        assert isinstance(full.face_, PainEstimator)
        assert np.isfinite(full.predict_frames(seqs[16:])["p_1"]).all()
        with pytest.raises(GeopainError, match="no single embedding"):
            create("fusion-early", biosignals=bio, face_input="embedding").fit(seqs[:16])
        with pytest.raises(GeopainError, match="face_fit"):
            create("fusion-early", biosignals=bio, face_fit="half").fit(seqs[:16])

    def test_face_ensemble_scores_where_every_member_scores(self):
        from geopain.models.fusion import FaceEnsemble

        class Member:
            def __init__(self, p1, status, reason):
                self.table = pd.DataFrame({"subject": "S", "sequence": "q", "frame": [0, 1, 2], "face_found": True,
                                           "prediction": 0.0, "p_0": 1 - np.array(p1), "p_1": p1,
                                           "status": status, "reason": reason})

            def predict_frames(self, seqs):
                return self.table.copy()

        a = Member([0.2, 0.6, 0.9], ["scored", "scored", "abstained"], ["", "", "yaw 60 beyond 45"])
        b = Member([0.4, 0.8, 0.7], ["scored", "abstained", "abstained"], ["", "occluded brows", "occluded mouth"])
        out = FaceEnsemble([a, b]).predict_frames([])
        np.testing.assert_allclose(out["p_1"], [0.3, 0.7, 0.8])
        np.testing.assert_allclose(out["p_0"] + out["p_1"], 1.0)
        assert out["prediction"].tolist() == [0.0, 1.0, 1.0]
        assert out["status"].tolist() == ["scored", "abstained", "abstained"]
        assert out["reason"].tolist() == ["", "occluded brows", "yaw 60 beyond 45"]
        with pytest.raises(GeopainError, match="at least one"):
            FaceEnsemble([])
