"""geopain pretrain: reproducible at toy size, the shipped encoders load offline and are used."""
import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from geopain.cli import main
from geopain.errors import MissingWeightsError
from geopain.models import PainEstimator
from geopain.models.pretrained import available, pretrained_dir
from geopain.pretrain import PRETRAIN_FILE, PretrainConfig
from geopain.synth import simulate

SHIPPED = available()
SIZE = ("subjects", "sequences_per_subject", "frames")


def _toy(tmp_path, name, config):
    out = tmp_path / name
    rc = main(["pretrain", "--config", str(config), "--subjects", "4", "--sequences", "1", "--frames", "6",
               "--epochs", "1", "--quiet", "-o", str(out)])
    assert rc == 0
    return out


def test_ships_encoders_for_both_species():
    schemes = {s for s, _ in SHIPPED}
    assert {"human/ibug68", "sheep/spfes"} <= schemes


@pytest.mark.parametrize("scheme,model", SHIPPED)
def test_toy_run_reproduces_the_shipped_config_exactly(tmp_path, scheme, model):
    shipped_file = pretrained_dir(scheme, model) / PRETRAIN_FILE
    shipped = PretrainConfig.read(shipped_file)
    a, b = _toy(tmp_path, "a", shipped_file), _toy(tmp_path, "b", shipped_file)
    written = PretrainConfig.read(a / PRETRAIN_FILE)
    expect = asdict(shipped)
    expect.update(subjects=4, sequences_per_subject=1, frames=6, estimator={**shipped.estimator, "epochs": 1})
    assert asdict(written) == expect  # everything but the size is the shipped setting
    assert json.loads((a / PRETRAIN_FILE).read_text())["scheme_key"] == scheme
    # seeded: the same command writes the same weights
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()


@pytest.mark.parametrize("scheme,model", SHIPPED)
def test_shipped_weights_load_offline_and_rank_pain(scheme, model):
    est = PainEstimator.load(pretrained_dir(scheme, model))
    assert est.scheme_ == scheme and est._reference == "none"
    seqs = simulate(scheme.split("/")[0], n_subjects=6, sequences_per_subject=2, frames=12, seed=11)
    score = est.predict(seqs)
    pain = np.concatenate([s.labels["pain"] for s in seqs])
    ok = np.isfinite(score) & np.isfinite(pain)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(pain[ok], score[ok]) > 0.7


def test_init_pretrained_starts_from_the_shipped_encoder():
    seqs = simulate("human", n_subjects=4, sequences_per_subject=2, frames=8, seed=2)
    est = PainEstimator("wgnn", "binary", epochs=1, init="pretrained", finetune="head").fit(seqs)
    assert len(est.init_report_["loaded"]) > 10
    # the pretrained weights stay (finetune="head"), the new output layer learns the task
    shipped = PainEstimator.load(pretrained_dir("human/ibug68", "wgnn")).model_.state_dict()
    own = est.model_.state_dict()
    assert all(torch.equal(own[k], shipped[k]) for k in est.init_report_["loaded"])
    assert "head.net.3.weight" not in est.init_report_["loaded"]  # a new output layer for the new task
    # 'auto' (the default) uses it too when the size fits, and quietly does not when it does not
    default = PainEstimator("wgnn", "binary", epochs=1).fit(seqs)
    assert default.init_report_ is not None
    # ... and trains every weight from it (finetune="all" is the default)
    tuned = PainEstimator("wgnn", "binary", epochs=2, val_fraction=0.0).fit(seqs).model_.state_dict()
    assert any(not torch.equal(tuned[k], shipped[k]) for k in default.init_report_["loaded"])
    assert PainEstimator("wgnn", "binary", epochs=1, hidden=8).fit(seqs).init_report_ is None


def test_missing_pretrained_weights_say_how_to_make_them():
    seqs = simulate("human", n_subjects=3, sequences_per_subject=1, frames=6, seed=2)
    with pytest.raises(MissingWeightsError, match="geopain pretrain"):
        PainEstimator("pointnet2", "binary", epochs=1, init="pretrained").fit(seqs)
