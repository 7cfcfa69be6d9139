"""PainEstimator on simulated cohorts: pipeline, tasks, temporal mode, save/load, CLI."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from geopain.errors import GeopainError, InputError
from geopain.models import PainEstimator
from geopain.models.estimator import sequence_windows

from _models_helpers import FAST, cohort

torch.set_num_threads(2)


class TestSequenceWindows:
    def test_cover_and_pad(self):
        w = sequence_windows(20, 8, 5)
        assert w[0, 0] == 0 and w[-1, -1] == 19 and set(w.ravel()) == set(range(20))
        assert sequence_windows(3, 5, 2).tolist() == [[0, 0, 0, 1, 2]]
        assert sequence_windows(0, 4, 2).shape == (0, 4)


class TestPainEstimator:
    @pytest.mark.parametrize("model", ["wgnn", "pointnet2", "gboost"])
    def test_fit_predict_save_load(self, model, tmp_path):
        seqs = cohort()
        kw = dict(FAST, model_params={"max_iter": 10}) if model == "gboost" else FAST
        est = PainEstimator(model, "binary", **kw).fit(seqs)
        proba = est.predict_proba(seqs)
        F = sum(s.n_frames for s in seqs)
        assert proba.shape == (F, 2)
        np.testing.assert_allclose(proba.sum(1), 1, atol=1e-6)
        assert set(np.unique(est.predict(seqs))) <= {0.0, 1.0}
        assert 0 <= est.score(seqs) <= 1
        est.save(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("training_curves")) == \
            ["config.json", "model.safetensors"]
        again = PainEstimator.load(tmp_path)
        np.testing.assert_array_equal(again.predict_proba(seqs), proba)
        assert again.get_params() == est.get_params()

    @pytest.mark.parametrize("task,species", [("levels", "sheep"), ("score", "human")])
    def test_tasks(self, task, species, tmp_path):
        seqs = cohort(species, n_subjects=3, seqs=1)
        est = PainEstimator("wgnn-uniform", task, **FAST).fit(seqs)
        pred = est.predict(seqs)
        if task == "score":
            assert np.all((pred >= 0) & (pred <= 16))
            with pytest.raises(GeopainError, match="predict_proba"):
                est.predict_proba(seqs)
        else:
            assert est.n_classes_ == 5 and est.predict_proba(seqs).shape[1] == 5
        est.save(tmp_path)
        np.testing.assert_array_equal(PainEstimator.load(tmp_path).predict(seqs), pred)

    @pytest.mark.parametrize("model,temporal", [("wgnn", "gru"), ("pointnet", "lstm"), ("stpointnet", True),
                                                ("logreg", True)])
    def test_temporal(self, model, temporal, tmp_path):
        seqs = cohort(n_subjects=3, seqs=1)
        est = PainEstimator(model, "binary", temporal, window=6, window_step=4, **FAST).fit(seqs)
        frames = est.predict_frames(seqs)
        assert len(frames) == sum(s.n_frames for s in seqs) and frames["p_1"].notna().all()
        per_seq = est.predict_sequences(seqs)
        assert len(per_seq) == len(seqs) and set(per_seq["prediction"]) <= {0, 1}
        est.save(tmp_path)
        np.testing.assert_array_equal(PainEstimator.load(tmp_path).predict_proba(seqs), est.predict_proba(seqs))

    def test_reproducible(self):
        seqs = cohort()
        a = PainEstimator("pointnet", "binary", **FAST, seed=5).fit(seqs).predict_proba(seqs)
        b = PainEstimator("pointnet", "binary", **FAST, seed=5).fit(seqs).predict_proba(seqs)
        np.testing.assert_array_equal(a, b)

    def test_missing_face_frames(self):
        seqs = cohort()
        s = seqs[0]
        coords = s.coords.copy()
        coords[2] = np.nan
        seqs[0] = s.with_coords(coords)
        est = PainEstimator("wgnn", "binary", **FAST).fit(seqs)
        p = est.predict_proba(seqs[:1])
        assert np.isnan(p[2]).all() and np.isfinite(p[[0, 1, 3]]).all()

    def test_errors(self, tmp_path):
        seqs = cohort()
        with pytest.raises(GeopainError, match="task"):
            PainEstimator("wgnn", "pain").fit(seqs)
        with pytest.raises(GeopainError, match="temporal"):
            PainEstimator("stpointnet", "binary").fit(seqs)
        with pytest.raises(GeopainError, match="not fitted"):
            PainEstimator().predict(seqs)
        with pytest.raises(GeopainError, match="no parameter"):
            PainEstimator().set_params(bogus=1)
        with pytest.raises(InputError, match="not a geopain model"):
            PainEstimator.load(tmp_path)
        with pytest.raises(GeopainError, match="mix"):
            PainEstimator().fit(cohort() + cohort("sheep", 2, 1))

    def test_load_rejects_bad_files(self, tmp_path):
        est = PainEstimator("logreg", "binary").fit(cohort())
        est.save(tmp_path)
        cfg = json.loads((tmp_path / "config.json").read_text())
        (tmp_path / "config.json").write_text(json.dumps({**cfg, "format": "pickle"}))
        with pytest.raises(InputError, match="format"):
            PainEstimator.load(tmp_path)
        (tmp_path / "config.json").write_text(json.dumps(cfg))
        (tmp_path / "model.safetensors").write_bytes(b"\x80\x04not safetensors")
        with pytest.raises(InputError, match="safetensors"):
            PainEstimator.load(tmp_path)


class TestCLI:
    def test_train_evaluate_predict(self, tmp_path, capsys):
        from geopain.cli import main
        from geopain.io.tables import write_table

        table = write_table(cohort(n_subjects=4, seqs=2), tmp_path / "data.parquet",
                            meta={"protocols": {"first3": {"kind": "loso", "exclude_subjects": ["S04"]}}})
        fast = ["--epochs", "2", "--hidden", "8", "--quiet"]
        assert main(["train", str(table), "--model", "wgnn", "--task", "binary", "-o", str(tmp_path / "m"), *fast]) == 0
        assert (tmp_path / "m" / "model.safetensors").is_file()
        assert (tmp_path / "m" / "training_curves.png").is_file()
        assert main(["predict", str(tmp_path / "m"), str(table), "-o", str(tmp_path / "pred")]) == 0
        frames = pd.read_csv(tmp_path / "pred" / "frames.csv")
        assert len(frames) == 128 and "p_pain" in frames  # the CLI names the classes
        assert len(pd.read_csv(tmp_path / "pred" / "sequences.csv")) == 8
        rc = main(["evaluate", str(table), "--model", "logreg,wgnn-uniform", "--task", "binary", "--protocol",
                   "first3", "-o", str(tmp_path / "res"), *fast])
        assert rc == 0
        res = json.loads((tmp_path / "res" / "results.json").read_text())
        assert len(res["folds"]) == 3 and set(res["models"]) == {"logreg", "wgnn-uniform"}
        assert "| logreg | frame |" in capsys.readouterr().out

    def test_user_errors_are_one_line(self, tmp_path, capsys):
        from geopain.cli import main

        assert main(["evaluate", str(tmp_path / "none.parquet"), "-o", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "no such file" in err[0]
        assert main(["predict", str(tmp_path), str(tmp_path / "x.parquet"), "-o", str(tmp_path / "o")]) == 2


@pytest.mark.detector
def test_predict_image_and_video_end_to_end(tmp_path):
    """A real photo (skimage's astronaut) and a short video of it: detector -> graph -> model."""
    pytest.importorskip("mediapipe")
    skdata = pytest.importorskip("skimage.data")
    cv2 = pytest.importorskip("cv2")
    from PIL import Image

    from geopain.cli import main

    img = skdata.astronaut()
    Image.fromarray(img).save(tmp_path / "face.png")
    writer = cv2.VideoWriter(str(tmp_path / "face.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 5, (img.shape[1], img.shape[0]))
    for _ in range(3):
        writer.write(img[..., ::-1].copy())
    writer.release()
    est = PainEstimator("pointnet", "binary", **FAST).fit(cohort())
    est.save(tmp_path / "m")
    assert main(["predict", str(tmp_path / "m"), str(tmp_path / "face.png"), "-o", str(tmp_path / "img.csv")]) == 0
    frames = pd.read_csv(tmp_path / "img.csv")
    assert len(frames) == 1 and 0 <= frames["p_pain"].iloc[0] <= 1
    assert (tmp_path / "img.sequences.csv").is_file()
    assert main(["predict", str(tmp_path / "m"), str(tmp_path / "face.avi"), "-o", str(tmp_path / "vid")]) == 0
    vid = pd.read_csv(tmp_path / "vid" / "frames.csv")
    assert len(vid) == 3 and vid["face_found"].all()


class TestTaskNames:
    """The level task is called "levels"; "five", its former name, is still read."""

    def test_canonical_task(self):
        from geopain.tasks import TASKS, canonical_task

        assert [canonical_task(t) for t in TASKS] == list(TASKS)
        with pytest.warns(FutureWarning, match="'five' is now called 'levels'"):
            assert canonical_task("five") == "levels"
        with pytest.raises(GeopainError, match="binary, levels, score"):
            canonical_task("four")

    def test_former_name_warns_once_where_typed_and_never_where_saved(self, tmp_path):
        import warnings

        seqs = cohort("sheep", n_subjects=3, seqs=1)
        with pytest.warns(FutureWarning, match="'five'"):
            est = PainEstimator("logreg", "five", **FAST)
        assert est.task == "levels" and est.get_params()["task"] == "levels"
        est.fit(seqs).save(tmp_path)
        cfg = json.loads((tmp_path / "config.json").read_text())
        cfg["params"]["task"] = "five"  # a model saved before the rename
        (tmp_path / "config.json").write_text(json.dumps(cfg))
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            old = PainEstimator.load(tmp_path)
        assert old.task == "levels"
        np.testing.assert_array_equal(old.predict_proba(seqs), est.predict_proba(seqs))

    def test_results_saved_as_five_render(self):
        from geopain.evaluation.report import markdown_table
        from test_evaluation_compare import _five_results

        now = _five_results()
        before = {**now, "task": "five"}  # a results.json written before the rename
        assert now["task"] == "levels" and markdown_table(before) == markdown_table(now)
        assert "task levels" in markdown_table(before)  # read by its current name
