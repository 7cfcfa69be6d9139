"""Training loop: subject-independent validation, class weights, seeds, curves."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from geopain.errors import GeopainError
from geopain.models import create
from geopain.training import History, class_weights, fit_network, resolve_device, set_seed, subject_validation_split

from _models_helpers import toy_graphs

torch.set_num_threads(2)


class TestSubjectValidationSplit:
    def test_no_subject_on_both_sides(self):
        groups = np.repeat([f"S{i}" for i in range(10)], 7)
        labels = np.tile([0, 1], 35)
        for seed in range(5):
            tr, va = subject_validation_split(groups, 0.2, seed, labels)
            assert not set(groups[tr]) & set(groups[va])
            assert len(set(groups[va])) == 2
            assert len(tr) + len(va) == len(groups)

    def test_too_few_subjects(self):
        tr, va = subject_validation_split(np.array(["a", "a", "b"]), 0.5)
        assert len(va) == 0 and len(tr) == 3


class TestClassWeights:
    def test_inverse_frequency(self):
        w = class_weights(np.array([0, 0, 0, 1]), 3)
        assert w[0] == pytest.approx(4 / 6) and w[1] == pytest.approx(2.0) and w[2] == 0


class TestFitNetwork:
    def _fit(self, seed, **kw):
        inputs, y = toy_graphs(64, "x")
        groups = np.repeat(np.arange(8), 8)
        set_seed(seed)  # initial weights
        m = create("pointnet", in_channels=5, out_channels=2, hidden=8)
        h = fit_network(m, inputs, np.arange(64), y, "binary", groups=groups, epochs=3, batch_size=16,
                        seed=seed, device="cpu", **kw)
        return m, h

    def test_reproducible_with_seed(self):
        a, ha = self._fit(3)
        b, hb = self._fit(3)
        for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(va, vb), ka
        assert [r["train_loss"] for r in ha.rows] == [r["train_loss"] for r in hb.rows]
        c, _ = self._fit(4)
        assert not all(torch.equal(v, w) for v, w in zip(a.state_dict().values(), c.state_dict().values()))

    @pytest.mark.parametrize("balance", ["sample", None])
    def test_balance_modes(self, balance):
        _, h = self._fit(0, balance=balance)
        assert len(h.rows) == 3 and np.isfinite(h.rows[-1]["val_loss"])

    def test_early_stopping_restores_best(self):
        inputs, y = toy_graphs(64, "x")
        groups = np.repeat(np.arange(8), 8)
        rng = np.random.default_rng(0)
        m = create("pointnet", in_channels=5, out_channels=2, hidden=8)
        h = fit_network(m, inputs, np.arange(64), rng.permutation(y), "binary", groups=groups, epochs=60,
                        patience=2, lr=1e-2, seed=0, device="cpu")
        assert h.stopped_early and len(h.rows) < 60
        assert h.best_epoch == int(np.argmin([r["val_loss"] for r in h.rows]))

    def test_score_task(self):
        inputs, y = toy_graphs(32, "x")
        m = create("wgnn", in_channels=5, out_channels=1, hidden=8)
        h = fit_network(m, inputs, np.arange(32), y * 0.5, "score", strata=y, epochs=2, device="cpu")
        assert len(h.rows) == 2

    def test_bad_balance(self):
        inputs, y = toy_graphs(8, "x")
        m = create("pointnet", in_channels=5, out_channels=2, hidden=8)
        with pytest.raises(GeopainError, match="balance"):
            fit_network(m, inputs, np.arange(8), y, "binary", balance="oversample")


class TestHistory:
    def test_save_csv_png(self, tmp_path):
        h = History(rows=[{"epoch": 0, "train_loss": 1.0, "val_loss": 1.1}, {"epoch": 1, "train_loss": 0.5,
                                                                              "val_loss": 0.9}], best_epoch=1)
        paths = h.save(tmp_path)
        assert [p.name for p in paths] == ["training_curves.csv", "training_curves.png"]
        assert all(p.stat().st_size > 0 for p in paths)
        assert h.to_frame()["val_loss"].tolist() == [1.1, 0.9]


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
