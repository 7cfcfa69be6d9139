"""Models: registry, dense batching, toy learning (and failing on shuffled labels), baselines."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from geopain import models
from geopain.errors import GeopainError, ShapeError
from geopain.models import MeasurementBaseline, create, create_temporal
from geopain.models._common import dense_from_batch, farthest_point_sample, knn_index
from geopain.training import fit_network, predict_network

from _models_helpers import N_NODES, ring_edges, toy_graphs

torch.set_num_threads(2)
TORCH_MODELS = ["pointnet", "pointnet2", "wgnn", "wgnn-uniform"]


def _accuracy(model, inputs, y):
    out = predict_network(model, inputs, np.arange(len(y)), device="cpu")
    return float((out.argmax(1) == y).mean())


def _train(name, inputs, y, epochs=12, **kw):
    model = create(name, in_channels=inputs["x"].shape[-1], out_channels=2, hidden=16, **kw)
    fit_network(model, inputs, np.arange(len(y)), y, "binary", epochs=epochs, batch_size=16, lr=5e-3,
                val_fraction=0, device="cpu", seed=0)
    return model


class TestRegistry:
    def test_names(self):
        assert {"pointnet", "pointnet2", "wgnn", "wgnn-uniform", "logreg", "gboost", "stpointnet"} <= set(models.names())

    @pytest.mark.parametrize("name", TORCH_MODELS)
    def test_create_and_shapes(self, name):
        inputs, _ = toy_graphs(6)
        m = create(name, in_channels=5, out_channels=3, hidden=8)
        out = m(**inputs)
        assert out.shape == (6, 3)
        assert m.embed(**inputs).shape == (6, m.embed_dim)

    def test_unknown(self):
        with pytest.raises(GeopainError, match="unknown model"):
            create("nope")

    def test_bad_shape(self):
        m = create("wgnn", in_channels=5, out_channels=2, hidden=8)
        with pytest.raises(ShapeError):
            m(torch.zeros(12, 5), ring_edges(), torch.ones(1, 36))
        with pytest.raises(ShapeError, match="edge_weight"):
            m(torch.zeros(2, N_NODES, 5), ring_edges(), None)


class TestDenseFromBatch:
    def test_matches_dense(self):
        from torch_geometric.data import Batch, Data

        inputs, _ = toy_graphs(5)
        data = [Data(x=inputs["x"][i], edge_index=inputs["edge_index"], edge_weight=inputs["edge_weight"][i],
                     pos=inputs["pos"][i]) for i in range(5)]
        batch = Batch.from_data_list(data)
        m = create("wgnn", in_channels=5, out_channels=2, hidden=8).eval()
        with torch.no_grad():
            a = m.forward_batch(batch)
            b = m(**inputs)
        torch.testing.assert_close(a, b)

    def test_rejects_other_topologies(self):
        from torch_geometric.data import Batch, Data

        e = ring_edges()
        d1 = Data(x=torch.zeros(N_NODES, 2), edge_index=e)
        d2 = Data(x=torch.zeros(N_NODES, 2), edge_index=e.flip(1))
        with pytest.raises(ShapeError, match="share one edge list"):
            dense_from_batch(Batch.from_data_list([d1, d2]))


class TestNeighbours:
    def test_knn_matches_scipy(self):
        from scipy.spatial import cKDTree

        pts = torch.randn(3, 20, 3)
        idx = knn_index(pts, pts, 4)
        for b in range(3):
            _, ref = cKDTree(pts[b].numpy()).query(pts[b].numpy(), 4)
            assert np.array_equal(np.sort(idx[b].numpy(), 1), np.sort(ref, 1))

    def test_fps_spreads(self):
        pts = torch.cat([torch.zeros(1, 10, 3), torch.ones(1, 1, 3) * 5], 1)
        idx = farthest_point_sample(pts, 2)
        assert 10 in idx[0].tolist()


class TestToyLearning:
    """Each model learns a separable problem and is near chance with shuffled labels."""

    @pytest.mark.parametrize("name", TORCH_MODELS)
    def test_learns_and_fails_when_shuffled(self, name):
        inputs, y = toy_graphs(96, "x", seed=0)
        test_inputs, y_test = toy_graphs(200, "x", seed=1)
        model = _train(name, inputs, y)
        assert _accuracy(model, test_inputs, y_test) > 0.9
        shuffled = np.random.default_rng(0).permutation(y)
        model = _train(name, inputs, shuffled)
        assert _accuracy(model, test_inputs, y_test) < 0.7

    def test_edge_weights_matter(self):
        """Signal only in the edge weights: WGNN learns it, the uniform twin cannot."""
        inputs, y = toy_graphs(96, "weight", seed=0)
        test_inputs, y_test = toy_graphs(200, "weight", seed=1)
        assert _accuracy(_train("wgnn", inputs, y), test_inputs, y_test) > 0.9
        assert _accuracy(_train("wgnn-uniform", inputs, y), test_inputs, y_test) < 0.7

    def test_refinement_starts_from_given_weights(self):
        m = create("wgnn", in_channels=5, out_channels=2, hidden=8, edge_dim=3)
        w = torch.rand(4, 36)
        torch.testing.assert_close(m.edge_weights(w, torch.randn(4, 36, 3), 4, 36), w)


class TestTemporal:
    @pytest.mark.parametrize("rnn", ["gru", "lstm"])
    def test_recurrent_learns(self, rnn):
        # windows of 4 frames; class 1 windows have a feature rising over time
        inputs, _ = toy_graphs(160, "x", seed=0)
        inputs["x"][:, :, 3] = 0
        T = 4
        index = np.arange(160).reshape(40, T)
        y = np.arange(40) % 2
        ramp = torch.arange(T, dtype=torch.float32)
        for i in np.flatnonzero(y):
            inputs["x"][index[i], :3, 3] += ramp[:, None]
        m = create_temporal("pointnet", 5, 2, rnn=rnn, hidden=16)
        fit_network(m, inputs, index, y, "binary", epochs=20, batch_size=8, lr=5e-3, val_fraction=0, device="cpu")
        out = predict_network(m, inputs, index, device="cpu")
        assert (out.argmax(1) == y).mean() > 0.9

    def test_cloud_shapes(self):
        m = create("stpointnet", in_channels=5, out_channels=3, hidden=8)
        x = torch.randn(2, 4, N_NODES, 5)
        assert m(x, time=torch.rand(2, 4)).shape == (2, 3)
        m2 = create("stpointnet", in_channels=5, out_channels=3, hidden=8, encoder="pointnet2")
        assert m2(x).shape == (2, 3)
        with pytest.raises(ShapeError, match="windows"):
            m(torch.randn(2, N_NODES, 5))

    def test_baseline_not_temporal_encoder(self):
        with pytest.raises(GeopainError):
            create_temporal("logreg", 5, 2)


class TestBaselines:
    @pytest.mark.parametrize("kind", ["logreg", "gboost"])
    def test_learns_and_fails_when_shuffled(self, kind):
        rng = np.random.default_rng(0)
        X, Xt = rng.normal(size=(300, 20)), rng.normal(size=(300, 20))
        y, yt = (X[:, 0] > 0).astype(int), (Xt[:, 0] > 0).astype(int)
        kw = {"max_iter": 30} if kind == "gboost" else {}
        m = MeasurementBaseline(kind, "binary", **kw).fit(X, y)
        assert (m.predict(Xt) == yt).mean() > 0.9
        m = MeasurementBaseline(kind, "binary", **kw).fit(X, rng.permutation(y))
        assert (m.predict(Xt) == yt).mean() < 0.7

    @pytest.mark.parametrize("kind", ["logreg", "gboost"])
    @pytest.mark.parametrize("task", ["binary", "levels", "score"])
    def test_exported_arrays_match_sklearn(self, kind, task):
        rng = np.random.default_rng(1)
        X = rng.normal(size=(200, 4))
        X[rng.random(X.shape) < 0.05] = np.nan
        z = np.nan_to_num(X[:, 0]) + 0.3 * rng.normal(size=200)
        y = {"binary": (z > 0).astype(int), "levels": np.digitize(z, [-1, -0.3, 0.3, 1]), "score": z}[task]
        kw = {"max_iter": 10} if kind == "gboost" else {}
        m = MeasurementBaseline(kind, task, n_classes=5 if task == "levels" else 2, **kw).fit(X, y)
        a = m.arrays_
        Xs = (np.where(np.isfinite(X), X, a["median"]) - a["mean"]) / a["std"]
        est = m._sklearn().fit(Xs, y)
        if task == "score":
            np.testing.assert_allclose(m.predict(X), est.predict(Xs), atol=1e-9)
        else:
            np.testing.assert_allclose(m.predict_proba(X), est.predict_proba(Xs), atol=1e-9)

    def test_one_class(self):
        with pytest.raises(GeopainError, match="one class"):
            MeasurementBaseline("logreg").fit(np.zeros((5, 2)), np.zeros(5))

    def test_unfitted_and_shape(self):
        m = MeasurementBaseline("logreg")
        with pytest.raises(GeopainError, match="not fitted"):
            m.predict(np.zeros((2, 2)))
        m.fit(np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2)
        with pytest.raises(ShapeError):
            m.predict(np.zeros((2, 3)))
