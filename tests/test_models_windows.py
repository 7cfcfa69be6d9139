"""Window models (registry ``window_model``): transformer, DCT windows, dynamic summaries;
the DCT and rank pooling against direct computations; the simulator's dynamics cohort."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from geopain import models
from geopain.errors import GeopainError, ShapeError

B, T, N, F, E, K = 3, 12, 10, 5, 14, 2


def _window_inputs(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    src = torch.arange(E) % N
    dst = (src + 1 + torch.arange(E) // N) % N
    return {"x": torch.randn(B, T, N, F, generator=g), "edge_index": torch.stack([src, dst]),
            "edge_weight": torch.rand(B, T, E, generator=g), "edge_attr": torch.randn(B, T, E, K, generator=g),
            "pos": torch.randn(B, T, N, 3, generator=g), "time": torch.arange(T).float().expand(B, T) / 25}


def _build(name: str, out: int = 2):
    info = models.info(name)
    kw = {"hidden": 8, "n_nodes": N}
    if info.get("edge_features"):
        kw["edge_dim"] = K
    torch.manual_seed(0)
    return models.create(name, in_channels=F, out_channels=out, **kw).eval()


WINDOW_MODELS = ("transformer", "dct", "dynamic")


class TestRegistry:
    def test_window_models_registered(self):
        for name in WINDOW_MODELS:
            info = models.info(name)
            assert info["window_model"] and info["kind"] == "torch" and info["description"]


class TestWindowModels:
    @pytest.mark.parametrize("name", WINDOW_MODELS)
    def test_smoke_shapes(self, name):
        net = _build(name, out=3)
        with torch.no_grad():
            out = net(**_window_inputs())
        assert out.shape == (B, 3) and torch.isfinite(out).all()

    @pytest.mark.parametrize("name", WINDOW_MODELS)
    def test_gradients_reach_inputs(self, name):
        net = _build(name).train()
        inp = _window_inputs()
        inp["x"].requires_grad_(True)
        net(**inp).sum().backward()
        assert inp["x"].grad is not None and inp["x"].grad.abs().sum() > 0

    @pytest.mark.parametrize("name", WINDOW_MODELS)
    def test_masked_points_do_not_matter(self, name):
        """Whatever a masked (unseen) landmark holds, the output is the same."""
        net = _build(name)
        inp = _window_inputs()
        mask = torch.ones(B, T, N, dtype=torch.bool)
        mask[:, 3:7, 2] = False
        mask[0, :, 4] = False
        other = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in inp.items()}
        other["x"][~mask] = 1e3 * torch.randn(int((~mask).sum()), F)
        other["pos"][~mask] = 1e3
        with torch.no_grad():
            a, b = net(**inp, mask=mask), net(**other, mask=mask)
            c = net(**other)  # without the mask the junk is seen
        assert torch.allclose(a, b, atol=1e-4)
        assert not torch.allclose(a, c, atol=1e-4)

    @pytest.mark.parametrize("name", WINDOW_MODELS)
    def test_rejects_frames(self, name):
        with pytest.raises(ShapeError, match="windows"):
            _build(name)(x=torch.randn(B, N, F))

    @pytest.mark.parametrize("name", WINDOW_MODELS)
    def test_chunked_prediction_equals_whole(self, name):
        from geopain.models import windows

        net = _build(name)
        inp = _window_inputs()
        with torch.no_grad():
            whole = net(**inp)
            old = windows.EVAL_CHUNK
            windows.EVAL_CHUNK = 1
            try:
                from importlib import reload  # noqa: F401  (chunk size read at call time below)

                parts = windows.chunked(lambda **kw: net(**kw), chunk=1)(**inp)
            finally:
                windows.EVAL_CHUNK = old
        assert torch.allclose(whole, parts, atol=1e-5)


class TestTransformer:
    def test_frame_outputs(self):
        net = _build("transformer", out=4)
        with torch.no_grad():
            frames = net.frame_outputs(_window_inputs()["x"])
        assert frames.shape == (B, T, 4) and torch.isfinite(frames).all()

    def test_landmark_tokens_and_bad_tokens(self):
        from geopain.models.transformer import LandmarkTransformer

        net = LandmarkTransformer(F, 2, hidden=8, n_nodes=N, tokens="landmark").eval()
        with torch.no_grad():
            assert net(_window_inputs()["x"]).shape == (B, 2)
        with pytest.raises(ShapeError, match="tokens"):
            LandmarkTransformer(F, 2, tokens="patch")

    def test_time_order_matters(self):
        """Temporal attention with position codes: reversing time changes the output."""
        net = _build("transformer")
        x = _window_inputs()["x"]
        with torch.no_grad():
            assert not torch.allclose(net(x), net(x.flip(1)), atol=1e-5)


class TestDCT:
    def test_basis_matches_scipy(self):
        from scipy.fft import dct

        from geopain.models.dct import dct_basis

        rng = np.random.default_rng(0)
        x = rng.normal(size=(9, 4))
        ours = dct_basis(9, dtype=torch.float64).numpy() @ x
        assert np.allclose(ours, dct(x, type=2, norm="ortho", axis=0))
        assert np.allclose(dct_basis(9, 3, torch.float64).numpy() @ x, ours[:3])

    def test_window_dct_matches_direct(self):
        from scipy.fft import dct

        from geopain.models.dct import window_dct

        rng = np.random.default_rng(1)
        traj = rng.normal(size=(2, 11, 3))  # (batch, T, C)
        got = window_dct(torch.as_tensor(traj), length=4, step=3, n_coeffs=2).numpy()  # (2, W, 2, 3)
        starts = [0, 3, 6, 7]  # every 3 frames, the last window ends on the last frame
        assert got.shape == (2, len(starts), 2, 3)
        for w, s0 in enumerate(starts):
            direct = dct(traj[:, s0:s0 + 4], type=2, norm="ortho", axis=1)[:, :2]
            assert np.allclose(got[:, w], direct)

    def test_bad_coefficients(self):
        from geopain.models.dct import DCTWindowModel, dct_basis

        with pytest.raises(GeopainError, match="n_coeffs"):
            dct_basis(4, 5)
        with pytest.raises(GeopainError, match="n_coeffs"):
            DCTWindowModel(F, 2, dct_window=4, n_coeffs=6)

    def test_constant_trajectory_has_only_dc(self):
        from geopain.models.dct import window_dct

        c = window_dct(torch.ones(1, 8, 2), 8, 8, 4)[0, 0]
        assert torch.allclose(c[0], torch.full((2,), np.sqrt(8.0)), atol=1e-5) and c[1:].abs().max() < 1e-5


class TestRankPooling:
    @pytest.mark.parametrize("T_", [1, 2, 5, 9])
    def test_matches_direct(self, T_):
        from geopain.models.dynamic import approximate_rank_pool, rank_pool_direct

        psi = np.random.default_rng(T_).normal(size=(T_, 3, 2))
        ours = approximate_rank_pool(torch.as_tensor(psi), dim=0, normalise=False).numpy()
        assert np.allclose(ours, rank_pool_direct(psi))

    def test_weights_known_values(self):
        from geopain.models.dynamic import rank_pool_weights

        # T = 2: alpha = [2*2 - 3*(1.5 - 0), 2*1 - 3*(1.5 - 1)] = [-0.5, 0.5]
        assert torch.allclose(rank_pool_weights(2, torch.float64), torch.tensor([-0.5, 0.5], dtype=torch.float64))
        assert abs(float(rank_pool_weights(7).sum())) < 1e-5  # a constant sequence has no dynamics
        with pytest.raises(GeopainError):
            rank_pool_weights(0)

    def test_increasing_sequence_points_forward(self):
        from geopain.models.dynamic import approximate_rank_pool

        v = torch.arange(6.0)[:, None]
        assert approximate_rank_pool(v, 0).item() > 0 and approximate_rank_pool(v.flip(0), 0).item() < 0

    def test_dynamic_shape_tells_a_ramp_from_an_oscillation(self):
        """Rank pooling alone gives a steady ramp and a fast oscillation with the same net change
        similar directions; the motion energy part of the dynamic shape tells them apart."""
        from geopain.models import create
        from geopain.models.dynamic import approximate_rank_pool

        from geopain.models.dynamic import band_limited_speed

        T, N = 16, 3
        t = torch.arange(T, dtype=torch.float32)
        ramp = (t / (T - 1))[:, None, None].expand(T, N, 1)
        wiggle = ramp + 0.5 * torch.sin(2 * torch.pi * t / 6)[:, None, None]  # 4 Hz at 25 fps
        x = torch.stack([ramp, wiggle]).repeat(1, 1, 1, 2)  # (2, T, N, 2)
        model = create("dynamic", in_channels=2, out_channels=2, n_nodes=N, sub_window=T, sub_step=T).eval()
        shapes = model.dynamic_shapes(x)
        assert shapes.shape == (2, 1, N, 6)
        direct = approximate_rank_pool(x, dim=1)
        assert (direct[0] > 0).all() and (direct[1] > 0).all()  # both trend upwards
        motion = band_limited_speed(x, dim=1)
        assert torch.all(motion[1] > 2 * motion[0])  # the oscillation moved far more on the way
        norm = model.motion_norm
        expected = (motion - norm.running_mean) / torch.sqrt(norm.running_var + norm.eps) * norm.weight + norm.bias
        assert torch.allclose(shapes[:, 0, :, 4:], expected, atol=1e-5)

    def test_band_limited_speed(self):
        from geopain.models.dynamic import band_limited_speed

        v = torch.tensor([0.0, 1.0, 3.0, 6.0, 10.0, 15.0])  # smoothed: 4/3, 10/3, 19/3, 31/3
        assert band_limited_speed(v, 0).item() == pytest.approx(((19 - 4) / 3 + (31 - 10) / 3) / 2)
        x = torch.randn(2, 7, 4, 3)
        assert band_limited_speed(x, dim=1).shape == (2, 4, 3)
        assert torch.equal(band_limited_speed(x[:, :3], dim=1), x[:, :3].diff(dim=1).abs().mean(1))  # short: plain
        assert torch.equal(band_limited_speed(x[:, :1], dim=1), torch.zeros(2, 4, 3))
        # detector jitter (white) is damped, a 4 Hz movement at 25 fps is not
        g = torch.Generator().manual_seed(0)
        jitter = torch.randn(4000, generator=g)
        t = torch.arange(4000.0)
        move = torch.sin(2 * torch.pi * 4 * t / 25)
        plain = lambda s: s.diff().abs().mean()  # noqa: E731
        assert band_limited_speed(jitter, 0) < 0.6 * plain(jitter)
        assert band_limited_speed(move, 0) > 0.9 * plain(move)

    def test_encoder_must_be_a_frame_model(self):
        from geopain.models.dynamic import DynamicSummaryModel

        with pytest.raises(GeopainError, match="encoder"):
            DynamicSummaryModel(F, 2, encoder="logreg")
        with pytest.raises(GeopainError, match="encoder"):
            DynamicSummaryModel(F, 2, encoder="transformer")


class TestSynthDynamics:
    def test_preset_labels_and_mimics(self):
        from geopain.synth import SynthConfig, simulate

        seqs = simulate("human", 3, 4, 30, seed=2, config=SynthConfig.preset("dynamics"))
        for s in seqs:
            pain = s.meta["condition"] == "pain"
            assert np.all(s.labels["pain"] == s.sequence_labels["pain"]) and s.sequence_labels["pain"] == int(pain)
            assert (s.meta.get("mimic") in ("talking", "grimace")) == (not pain)

    def test_apex_shapes_shared_dynamics_differ(self):
        """The mimic moves the pain units' landmarks at the same amplitude but faster."""
        from geopain.synth import SynthConfig, simulate

        cfg = SynthConfig.preset("dynamics", noise_scale=0.0, pose_scale=0.0, translation_scale=0.0,
                                 confounder_rate=0.0, blinks=False, drop_rate=0.0, occlusion_rate=0.0,
                                 mimic_rhythm_hz={"talking": (4.0, 4.0)}, pain_rhythm_hz=(0.3, 0.3))
        seqs = simulate("human", 6, 2, 100, seed=0, config=cfg)
        speed = {True: [], False: []}
        for s in seqs:
            c = s.coords - s.coords.mean(0)
            moving = np.abs(c).max(0).sum(-1) > 1e-6
            assert moving.any()
            speed[s.meta["condition"] == "pain"].append(np.abs(np.diff(c[:, moving], axis=0)).mean() / np.abs(c[:, moving]).mean())
        assert np.mean(speed[False]) > 4 * np.mean(speed[True])

    def test_bad_options(self):
        from geopain.synth import SynthConfig

        with pytest.raises(GeopainError, match="label_level"):
            SynthConfig(label_level="window").validate()
        with pytest.raises(GeopainError, match="mimic_rate"):
            SynthConfig(mimic_rate=2).validate()
        with pytest.raises(GeopainError, match="pain_rhythm_hz"):
            SynthConfig(pain_rhythm_hz=(2.0, 1.0)).validate()
        with pytest.raises(GeopainError, match="noise_scale"):
            SynthConfig(noise_scale=-1).validate()


class TestEstimatorWindows:
    def test_fit_predict_sequences(self, tmp_path):
        """A window model runs through PainEstimator without --temporal: frame and sequence outputs."""
        from geopain.models import PainEstimator
        from geopain.synth import SynthConfig, simulate

        seqs = simulate("human", 4, 2, 20, seed=0, config=SynthConfig.preset("dynamics"))
        est = PainEstimator("dct", "binary", epochs=1, hidden=8, layers=1, window=8, window_step=4, init=None)
        est.fit(seqs)
        assert est._rnn == "window" and not est._augments
        frames = est.predict_frames(seqs[:2])
        assert len(frames) == 40 and frames["p_1"].notna().all()
        per_seq = est.predict_sequences(seqs[:2])
        assert len(per_seq) == 2 and per_seq["prediction"].notna().all()
        est.save(tmp_path / "m")
        again = PainEstimator.load(tmp_path / "m")
        assert np.allclose(again.predict_proba(seqs[:2]), est.predict_proba(seqs[:2]))

    def test_transformer_records_its_build_defaults(self, tmp_path):
        """A new fit records the registry's build defaults (2 attention heads); a saved model whose
        config lacks them keeps the constructor's own (4 heads): a changed default never changes
        a saved model."""
        import json

        from geopain.models import PainEstimator
        from geopain.synth import SynthConfig, simulate

        seqs = simulate("human", 4, 2, 20, seed=0, config=SynthConfig.preset("dynamics"))
        est = PainEstimator("transformer", "binary", epochs=1, hidden=8, window=8, window_step=4, init=None).fit(seqs)
        assert est.model_kwargs_["heads"] == 2 and est.model_.blocks[0].space.num_heads == 2
        path = est.save(tmp_path / "m")
        config_file = path / "config.json"  # PainEstimator.save writes config.json + model.safetensors
        config = json.loads(config_file.read_text())
        assert config["model_kwargs"].pop("heads") == 2
        config_file.write_text(json.dumps(config))
        old = PainEstimator.load(path)
        assert old.model_.blocks[0].space.num_heads == 4
