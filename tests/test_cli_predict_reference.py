"""``geopain predict``: folders of photos, per-photo subjects, and honest per-person references.

A model trained with ``--reference subject-median`` compares each face with the same person's
median face; a photo of a person alone cannot give one. Predict must refuse in one line, or
score with ``--fallback`` and say so, never return a silent constant.
"""
from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from geopain.cli import main
from geopain.io.tables import write_table

from _detectors_helpers import photo, ultralytics_asset, write_video

HINT = "train a model with --reference none, or pass --fallback MODEL_DIR"


def _one_frame(seq, subject):
    """The first frame of ``seq`` as a subject of its own."""
    return replace(seq, coords=seq.coords[:1], confidence=seq.confidence[:1],
                   frame_confidence=seq.frame_confidence[:1], frames=seq.frames[:1], timestamps=seq.timestamps[:1],
                   labels={k: v[:1] for k, v in seq.labels.items()}, subject=subject, sequence=f"{subject}_01")


@pytest.fixture(scope="module")
def cohort():
    from geopain.synth import simulate

    return simulate(species="human", n_subjects=6, sequences_per_subject=2, frames=12)


@pytest.fixture(scope="module")
def models(cohort, tmp_path_factory):
    """Two logreg models trained through the CLI: per-person reference, and none (the fallback)."""
    d = tmp_path_factory.mktemp("models")
    table = write_table(cohort, d / "train.parquet")
    for name, ref in (("median", "subject-median"), ("plain", "none")):
        assert main(["train", str(table), "--model", "logreg", "--reference", ref, "--quiet", "-o", str(d / name)]) == 0
    return d / "median", d / "plain"


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Three photos of different people: astronaut (PPM), bus (two faces), zidane."""
    d = tmp_path_factory.mktemp("in") / "photos"
    d.mkdir()
    Image.fromarray(photo("astronaut")).save(d / "astronaut.ppm")
    shutil.copy(ultralytics_asset("bus.jpg"), d / "bus.jpg")
    shutil.copy(ultralytics_asset("zidane.jpg"), d / "zidane.jpg")
    return d


def test_model_records_its_reference(models):
    import json

    median, plain = models
    assert json.loads((median / "config.json").read_text())["params"]["reference"] == "subject-median"
    assert json.loads((plain / "config.json").read_text())["params"]["reference"] == "none"


class TestTable:
    """No detector: a table where one subject has a single frame."""

    @pytest.fixture(scope="class")
    def table(self, cohort, tmp_path_factory):
        seqs = list(cohort) + [_one_frame(cohort[0], "lonely")]
        return write_table(seqs, tmp_path_factory.mktemp("t") / "mixed.parquet")

    def test_refuses_in_one_line(self, models, table, tmp_path, capsys):
        median, _ = models
        rc = main(["predict", str(median), str(table), "-o", str(tmp_path / "p")])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1, err
        assert err[0].startswith(f"geopain predict: error: {median}: ") and "'lonely'" in err[0]
        assert "subject-median" in err[0] and err[0].endswith(HINT)
        assert not (tmp_path / "p").exists()

    def test_fallback_scores_only_what_needs_it(self, models, table, tmp_path, capsys):
        median, plain = models
        rc = main(["predict", str(median), str(table), "--fallback", str(plain), "-o", str(tmp_path / "p")])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 0 and len(err) == 1 and err[0].startswith("warning: ") and "1 of 7 subject(s)" in err[0]
        frames = pd.read_csv(tmp_path / "p" / "frames.csv")
        lonely = frames["subject"] == "lonely"
        assert len(frames) == 6 * 2 * 12 + 1 and lonely.sum() == 1
        assert (frames.loc[~lonely, "reference"] == "subject-median").all()
        ref = frames.loc[lonely, "reference"].iloc[0]
        assert ref.startswith("none (fallback: ") and "'lonely'" in ref
        assert frames["subject"].tolist()[-1] == "lonely"  # input order kept
        assert np.isfinite(frames["p_pain"]).all()
        seqs = pd.read_csv(tmp_path / "p" / "sequences.csv")
        assert seqs.set_index("subject").loc["lonely", "reference"] == ref
        # the fallback's score is the reference-free model's own, not a constant
        from geopain.models import PainEstimator

        alone = PainEstimator.load(plain).predict_frames([_one_frame(seqs_of(table, "lonely"), "lonely")])
        assert frames.loc[lonely, "p_pain"].iloc[0] == pytest.approx(alone["p_1"].iloc[0], rel=1e-5)

    def test_subject_column(self, models, table, tmp_path, capsys):
        """``--subject-from column --subject-column NAME``: the lonely frame belongs to S01 after all."""
        from geopain.io.tables import read_frame

        frame, meta = read_frame(table)
        frame["person"] = frame["subject"].replace({"lonely": "S01"})
        named = write_table(frame, tmp_path / "named.csv", meta=meta)
        median, _ = models
        rc = main(["predict", str(median), str(named), "--subject-from", "column", "--subject-column", "person",
                   "-o", str(tmp_path / "p.csv")])
        assert rc == 0, capsys.readouterr().err
        frames = pd.read_csv(tmp_path / "p.csv")
        assert set(frames["subject"]) == {f"S0{i}" for i in range(1, 7)} and (frames["reference"] == "subject-median").all()
        rc = main(["predict", str(median), str(named), "--subject-column", "who", "-o", str(tmp_path / "q.csv")])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and "no column 'who'" in err[0]


def seqs_of(table, subject):
    from geopain.io.tables import read_table

    return next(s for s in read_table(table) if s.subject == subject)


@pytest.mark.detector
class TestPhotos:
    """MediaPipe on real photos of different people."""

    @pytest.fixture(autouse=True)
    def _mediapipe(self):
        pytest.importorskip("mediapipe")

    def test_folder_one_row_per_face(self, models, photos, tmp_path, capsys):
        _, plain = models
        rc = main(["predict", str(plain), str(photos), "--quiet", "-o", str(tmp_path / "p")])
        assert rc == 0, capsys.readouterr().err
        frames = pd.read_csv(tmp_path / "p" / "frames.csv")
        rows = sorted(zip(frames["sequence"], frames["face_id"], frames["subject"]))
        assert rows == [("astronaut.ppm", 0, "astronaut"), ("bus.jpg", 0, "bus"), ("bus.jpg", 1, "bus"),
                        ("zidane.jpg", 0, "zidane")]
        assert frames["face_found"].all() and (frames["reference"] == "none").all()
        assert frames["p_pain"].between(0, 1).all()
        rc = main(["predict", str(plain), str(photos), "--subject-from", "face-track", "--quiet", "-o", str(tmp_path / "t.csv")])
        assert rc == 0
        assert sorted(pd.read_csv(tmp_path / "t.csv")["subject"]) == ["astronaut#face0", "bus#face0", "bus#face1",
                                                                       "zidane#face0"]

    def test_single_photo_refused_then_fallback(self, models, photos, tmp_path, capsys):
        median, plain = models
        rc = main(["predict", str(median), str(photos / "zidane.jpg"), "--quiet", "-o", str(tmp_path / "z.csv")])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and "'zidane'" in err[0] and err[0].endswith(HINT)
        rc = main(["predict", str(median), str(photos), "--fallback", str(plain), "--quiet", "-o", str(tmp_path / "p")])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 0 and len(err) == 1 and err[0].startswith("warning: ") and "3 of 3 subject(s)" in err[0]
        frames = pd.read_csv(tmp_path / "p" / "frames.csv")
        assert len(frames) == 4 and frames["reference"].str.startswith("none (fallback: subject '").all()
        # each photo's own reason
        assert frames.set_index("sequence")["reference"].filter(like="zidane").str.contains("'zidane'").all()

    def test_column_on_a_folder_is_one_line(self, models, photos, tmp_path, capsys):
        _, plain = models
        rc = main(["predict", str(plain), str(photos), "--subject-from", "column", "-o", str(tmp_path / "p")])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and "--subject-from column" in err[0]

    def test_video_has_enough_frames(self, models, tmp_path, capsys):
        """A video of one person gives the median reference: no fallback needed."""
        median, _ = models
        write_video(tmp_path / "clip.mp4", n=10)
        rc = main(["predict", str(median), str(tmp_path / "clip.mp4"), "--quiet", "-o", str(tmp_path / "v.csv")])
        assert rc == 0, capsys.readouterr().err
        frames = pd.read_csv(tmp_path / "v.csv")
        assert len(frames) == 10 and set(frames["subject"]) == {"clip"}
        assert (frames["reference"] == "subject-median").all() and frames["p_pain"].notna().all()


class _Fake:
    """The estimator contract the CLI codes against, without a fitted model."""

    def __init__(self, task="binary", reference="subject-median", problem=None):
        self.task, self.reference, self.scheme_, self.problem = task, reference, "human/ibug68", problem

    def reference_problem(self, seqs):
        return self.problem(seqs) if self.problem else None

    def predict_frames(self, seqs):
        return pd.DataFrame({"subject": [s.subject for s in seqs], "sequence": [s.sequence for s in seqs],
                             "face_id": [s.face_id for s in seqs], "frame": 0, "face_found": True,
                             "prediction": 1.0, "p_0": 0.2, "p_1": 0.8, "reference": self.reference})

    def predict_sequences(self, seqs):
        return self.predict_frames(seqs).drop(columns=["frame", "face_found"])


class TestFallbackRules:
    @pytest.fixture()
    def seqs(self, cohort):
        return [cohort[0], _one_frame(cohort[2], "lonely")]

    def test_fallback_must_predict_the_same_task(self, seqs):
        from geopain.cli.predict import predict_with_reference
        from geopain.errors import GeopainError

        main_model = _Fake(problem=lambda s: "too few" if any(x.subject == "lonely" for x in s) else None)
        with pytest.raises(GeopainError, match="the score task.*the binary task"):
            predict_with_reference(main_model, seqs, "m", _Fake("score", "none"), "fb")

    def test_fallback_that_cannot_score_either(self, seqs):
        from geopain.cli.predict import predict_with_reference
        from geopain.errors import ReferenceUnavailableError

        needy = _Fake(problem=lambda s: "too few")
        with pytest.raises(ReferenceUnavailableError, match="the fallback fb cannot score them either: too few"):
            predict_with_reference(needy, seqs, "m", _Fake(problem=lambda s: "too few"), "fb")

    def test_whole_input_falls_back_when_no_subject_alone_is_the_problem(self, seqs):
        from geopain.cli.predict import predict_with_reference

        lines = []
        joint = _Fake(problem=lambda s: "needs two subjects" if len({x.subject for x in s}) < 3 else None)
        frames, sequences = predict_with_reference(joint, seqs, "m", _Fake(reference="none"), "fb", warn=lines.append)
        assert len(lines) == 1 and "2 of 2 subject(s)" in lines[0]
        assert (frames["reference"] == "none (fallback: needs two subjects)").all()
        assert frames["subject"].tolist() == ["S01", "lonely"]


class TestTrainOptions:
    def parse(self, *extra):
        from geopain.cli import build_parser

        return build_parser().parse_args(["train", "data.parquet", "-o", "m", *extra])

    def test_reference_init_and_deprecated_baseline(self, tmp_path, capsys):
        from geopain.cli import build_parser
        from geopain.cli.train import estimator_params
        from geopain.errors import GeopainError

        params = estimator_params(self.parse())
        assert params["reference"] == "none" and params["init"] == "auto" and "baseline" not in params
        assert estimator_params(self.parse("--reference", "neutral-labelled"))["reference"] == "neutral-labelled"
        assert estimator_params(self.parse("--init", "none"))["init"] is None
        assert estimator_params(self.parse("--init", "pretrained"))["init"] == "pretrained"
        assert estimator_params(self.parse("--init", str(tmp_path)))["init"] == str(tmp_path)
        with pytest.raises(GeopainError, match="--init nowhere"):
            estimator_params(self.parse("--init", "nowhere"))
        capsys.readouterr()
        assert estimator_params(self.parse("--baseline", "first"))["reference"] == "first-frames"
        assert "--baseline is deprecated; use --reference first-frames" in capsys.readouterr().err
        assert estimator_params(self.parse("--baseline", "none"))["reference"] == "none"
        with pytest.raises(GeopainError, match="contradicts"):
            estimator_params(self.parse("--baseline", "first", "--reference", "subject-median"))
        sub = build_parser()._subparsers._group_actions[0].choices
        for name in ("train", "evaluate"):
            text = sub[name].format_help()
            assert "--reference" in text and "--init" in text and "--baseline" not in text
