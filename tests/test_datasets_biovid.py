"""BioVid Part A reader on a generated copy of the layout: tiny real mp4 videos of a real face."""
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geopain.datasets import biovid, prepare
from geopain.evaluation import splits
from geopain.evaluation.splits import protocol_folds
from geopain.datasets.fixtures import make_biovid
from geopain.errors import GeopainError, InputError
from geopain.io.tables import read_frame, read_table, write_table
from geopain.landmarks import LandmarkSequence

SUBJECTS = ("071309_w_21", "082315_w_60", "112914_m_20")  # the second is one of LOSO-67's excluded 20


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_biovid(tmp_path_factory.mktemp("biovid") / "PartA", subjects=SUBJECTS, frames=5)


def fake_landmarks(root, path, drop=()):
    """A table 'extracted elsewhere': one synthetic 68-point sequence per sample video."""
    samples = biovid.read_samples(root / "samples.csv")
    rng = np.random.default_rng(0)
    seqs = [LandmarkSequence(coords=rng.normal(100, 5, (5, 68, 2)), scheme="human/ibug68", fps=25.0,
                             timestamps=np.arange(5) / 25.0, subject=name.split("-")[0], sequence=name,
                             source=str(root / "video" / name.split("-")[0] / f"{name}.mp4"), detector="openface")
            for name in samples["sample_name"] if name not in drop]
    return write_table(seqs, path)


class TestReadSamples:
    def test_tab_without_trailing_newline(self, root):
        text = (root / "samples.csv").read_text()
        assert "\t" in text and not text.endswith("\n")
        s = biovid.read_samples(root / "samples.csv")
        assert list(s.columns) == list(biovid.SAMPLE_COLUMNS) and len(s) == 9
        assert s["class_id"].tolist() == [0, 1, 4] * 3 and s["sample_name"].iloc[-1].startswith("112914_m_20-PA4-")

    def test_comma_separated(self, tmp_path):
        f = tmp_path / "samples.csv"
        f.write_text(",".join(biovid.SAMPLE_COLUMNS) + "\n0,a,0,BL1,0,a-BL1-001")
        with pytest.raises(InputError, match="samples.csv: missing columns .* TAB-separated"):
            biovid.read_samples(f)

    def test_bad_class(self, tmp_path):
        f = tmp_path / "samples.csv"
        f.write_text("\t".join(biovid.SAMPLE_COLUMNS) + "\n0\ta\t7\tBL1\t0\ta-BL1-001")
        with pytest.raises(InputError, match="line 2: class_id '7' is not 0-4"):
            biovid.read_samples(f)


class TestClassLabels:
    def test_five_levels_and_binary(self):
        out = [biovid.class_labels(c, 2) for c in range(5)]
        assert [o["level"][0] for o in out] == [0, 1, 2, 3, 4] == [o["score"][0] for o in out]
        pain = [o["pain"][0] for o in out]
        assert pain[0] == 0 and pain[4] == 1 and np.isnan(pain[1:4]).all()

    def test_subject_info(self):
        assert biovid.subject_info("071309_w_21") == {"sex": "female", "age": 21}


class TestBiosignals:
    def test_read(self, root):
        name = biovid.read_samples(root / "samples.csv")["sample_name"][0]
        sig = biovid.read_biosignals(root / "biosignals_filtered" / SUBJECTS[0] / f"{name}_bio.csv")
        assert list(sig.columns) == ["time", "gsr", "ecg", "emg_trapezius"]
        np.testing.assert_allclose(np.diff(sig["time"]), 1 / 512, rtol=1e-3)  # microseconds -> seconds
        raw = biovid.read_biosignals(root / "biosignals_raw" / SUBJECTS[0] / f"{name}_bio.csv")
        assert {"emg_corrugator", "emg_zygomaticus"} <= set(raw.columns)

    def test_align_is_frame_mean(self):
        t = np.arange(0, 2.0, 1 / 512)
        sig = pd.DataFrame({"time": t, "ramp": t, "const": np.full_like(t, 3.0)})
        out = biovid.align_biosignals(sig, np.array([0.5, 1.0, 1.5, 5.0]), fps=25)
        np.testing.assert_allclose(out["ramp"][:3], [0.5, 1.0, 1.5], atol=1 / 512)
        np.testing.assert_allclose(out["const"][:3], 3.0)
        assert np.isnan(out.iloc[3]).all()  # after the recording

    def test_missing(self, tmp_path):
        with pytest.raises(InputError, match="x_bio.csv: missing biosignal file"):
            biovid.read_biosignals(tmp_path / "x_bio.csv")


class TestProtocols:
    def test_loso67_excludes_exactly_the_20(self):
        others = [f"{i:06d}_{'wm'[i % 2]}_{20 + i % 40}" for i in range(67)]
        subjects = others + list(biovid.LOSO67_EXCLUDED)
        assert len(set(subjects)) == 87 and len(biovid.LOSO67_EXCLUDED) == 20
        meta = {"protocols": biovid.PROTOCOLS}
        f87 = protocol_folds("loso87", subjects, meta)
        f67 = protocol_folds("loso67", subjects, meta)
        assert len(f87) == 87 and len(f67) == 67
        assert all(len(f.test_subjects) == 1 for f in f87 + f67)
        in67 = {s for f in f67 for s in f.train_subjects + f.test_subjects}
        assert in67 == set(others) and not in67 & set(biovid.LOSO67_EXCLUDED)

    def test_evaluation_reads_the_same_folds(self):
        subjects = [f"{i:06d}_m_30" for i in range(5)] + list(biovid.LOSO67_EXCLUDED[:3])
        folds = splits.protocol_folds("loso67", subjects, {"protocols": biovid.PROTOCOLS})
        assert sorted(t for f in folds for t in f.test_subjects) == subjects[:5]
        assert not {s for f in folds for s in f.train_subjects} & set(biovid.LOSO67_EXCLUDED)


class TestPrepareBiovid:
    def test_with_given_landmarks(self, root, tmp_path):
        table = fake_landmarks(root, tmp_path / "given.parquet")
        res = prepare("biovid", root, tmp_path / "b.parquet", landmarks=table, progress=False)
        assert res.errors == [] and (res.n_sequences, res.n_frames, res.n_subjects) == (9, 45, 3)
        frame, meta = read_frame(res.path)
        assert meta["dataset"] == "biovid" and set(meta["protocols"]) == {"loso87", "loso67"}
        assert meta["protocols"]["loso67"]["exclude_subjects"] == list(biovid.LOSO67_EXCLUDED)
        by_class = frame.groupby(frame["sequence"].str.split("-").str[1])
        assert by_class["level"].unique().map(list).to_dict() == {"BL1": [0.0], "PA1": [1.0], "PA4": [4.0]}
        assert (frame.loc[frame["level"] == 4, "pain"] == 1).all() and (frame.loc[frame["level"] == 0, "pain"] == 0).all()
        assert frame.loc[frame["level"] == 1, "pain"].isna().all()
        s = read_table(res.path)[0]
        assert s.sequence_labels["class_name"] == "BL1" and s.sequence_labels["sex"] == "female"
        # biosignals side table: one row per frame, frame means of the 512 Hz signals
        bio = pd.read_parquet(res.extra["biosignals"])
        assert len(bio) == 45 and {"gsr", "ecg", "emg_trapezius"} <= set(bio.columns)
        assert bio[["subject", "sequence", "frame"]].merge(frame[["subject", "sequence", "frame"]]).shape[0] == 45
        one = bio[bio["sequence"] == s.sequence]
        sig = biovid.read_biosignals(root / "biosignals_filtered" / s.subject / f"{s.sequence}_bio.csv")
        np.testing.assert_allclose(one["gsr"].iloc[2], sig["gsr"][(sig["time"] >= 0.06) & (sig["time"] < 0.1)].mean())
        folds = protocol_folds("loso67", frame["subject"], meta)
        assert sorted(f.test_subjects for f in folds) == [("071309_w_21",), ("112914_m_20",)]

    def test_rppg_skin_colour_in_the_side_table(self, root, tmp_path):
        """--rppg reads each video's skin colour under its landmarks into the side table, next to the
        contact signals; the fixture's videos are a real face, its landmarks a made-up cluster."""
        from geopain.cli import main

        table = fake_landmarks(root, tmp_path / "given.parquet")
        code = main(["dataset", "prepare", "biovid", str(root), "-o", str(tmp_path / "b.parquet"), "--landmarks",
                     str(table), "--rppg", "--quiet"])
        assert code == 0
        bio = pd.read_parquet(tmp_path / "b.biosignals.parquet")
        assert len(bio) == 45 and {"gsr", "ecg", "skin_r", "skin_g", "skin_b"} <= set(bio.columns)
        skin = bio[["skin_r", "skin_g", "skin_b"]].to_numpy()
        assert np.isfinite(skin).all() and ((skin > 0) & (skin < 255)).all()
        res = prepare("biovid", root, tmp_path / "c.parquet", landmarks=table, biosignals=None, rppg=True, progress=False)
        alone = pd.read_parquet(res.extra["biosignals"])
        assert list(alone.columns) == ["subject", "sequence", "frame", "timestamp", "skin_r", "skin_g", "skin_b"]
        np.testing.assert_allclose(alone[["skin_r", "skin_g", "skin_b"]].to_numpy(), skin)

    def test_broken_copy(self, root, tmp_path):
        copy = shutil.copytree(root, tmp_path / "PartA")
        samples = biovid.read_samples(copy / "samples.csv")
        nobio = samples["sample_name"][4]
        (copy / "biosignals_filtered" / nobio.split("-")[0] / f"{nobio}_bio.csv").unlink()
        res = prepare("biovid", copy, tmp_path / "b.parquet", landmarks=fake_landmarks(copy, tmp_path / "g.parquet"),
                      progress=False)
        assert len(res.errors) == 1
        assert res.errors[0].endswith(f"{nobio}_bio.csv: missing biosignal file")
        assert res.n_sequences == 9  # the sample without biosignals keeps its landmarks and labels
        bio = pd.read_parquet(res.extra["biosignals"])
        assert nobio not in set(bio["sequence"]) and bio["sequence"].nunique() == 8
        # with --rppg the sample without biosignal file still gets its skin colour from the video
        res = prepare("biovid", copy, tmp_path / "r.parquet", landmarks=tmp_path / "g.parquet", rppg=True,
                      progress=False)
        assert len(res.errors) == 1
        bio = pd.read_parquet(res.extra["biosignals"])
        one = bio[bio["sequence"] == nobio]
        assert len(one) == 5 and one["gsr"].isna().all() and np.isfinite(one[["skin_r", "skin_g", "skin_b"]]).all().all()

    def test_missing_video_row(self, root, tmp_path, monkeypatch):
        copy = shutil.copytree(root, tmp_path / "PartA")
        samples = biovid.read_samples(copy / "samples.csv")
        gone = samples["sample_name"][1]
        (copy / "video" / gone.split("-")[0] / f"{gone}.mp4").unlink()
        given = fake_landmarks(copy, tmp_path / "g.parquet")
        seen = []

        def fake_extract(videos, output, *a, **k):  # stands in for geopain.extract: what it was asked to read
            seen.extend(videos)
            return [s for s in read_table(given) if str(s.source) in {str(v) for v in videos}]

        monkeypatch.setattr(biovid, "_extract_videos", fake_extract)
        res = prepare("biovid", copy, tmp_path / "b.parquet", progress=False, biosignals=None)
        assert res.errors == [f"{copy / 'video' / gone.split('-')[0] / (gone + '.mp4')}: missing video "
                              f"(samples.csv row for sample {gone})"]
        assert len(seen) == 8 and res.n_sequences == 8 and "biosignals" not in res.extra

    def test_no_video_folder(self, root, tmp_path):
        copy = shutil.copytree(root, tmp_path / "PartA", ignore=shutil.ignore_patterns("video"))
        with pytest.raises(InputError, match="video: folder missing"):
            prepare("biovid", copy, tmp_path / "b.parquet")

    def test_no_samples_csv(self, tmp_path):
        with pytest.raises(InputError, match="missing samples.csv"):
            prepare("biovid", tmp_path, tmp_path / "b.parquet")

    def test_bad_biosignals_option(self, root, tmp_path):
        with pytest.raises(GeopainError, match="biosignals must be"):
            prepare("biovid", root, tmp_path / "b.parquet", biosignals="both")


class TestExtractVideos:
    def test_mediapipe_resumable(self, tmp_path, monkeypatch):
        import geopain.extract  # noqa: F401  (geopain itself: never skipped)
        pytest.importorskip("mediapipe")
        r = make_biovid(tmp_path / "PartA", subjects=SUBJECTS[:2], classes=("BL1", "PA4"), frames=4)
        out = tmp_path / "b.parquet"
        real, calls = biovid._extract_videos, []

        def interrupted(videos, *a, **k):
            calls.append(len(videos))
            if len(calls) == 2:
                raise KeyboardInterrupt  # stopped during the second subject
            return real(videos, *a, **k)

        monkeypatch.setattr(biovid, "_extract_videos", interrupted)
        with pytest.raises(KeyboardInterrupt):
            prepare("biovid", r, out, detector="mediapipe", scheme="human/ibug68", progress=False)
        assert not out.exists() and len(list((tmp_path / "b.parquet.parts").glob("*.done"))) == 1
        res = prepare("biovid", r, out, detector="mediapipe", scheme="human/ibug68", progress=False)
        assert calls == [2, 2, 2]  # only the unfinished subject ran again
        assert res.errors == [] and res.n_sequences == 4 and res.n_frames == 16
        seqs = read_table(res.path)
        assert {s.scheme for s in seqs} == {"human/ibug68"} and all(s.fps == 25 for s in seqs)
        found = np.concatenate([s.face_found for s in seqs])
        assert found.mean() >= 0.75  # a real detector on a real face photo
        np.testing.assert_allclose(seqs[0].timestamps, np.arange(4) / 25.0, atol=1e-3)
        # the face sits in the middle of the 192 px frames
        assert 40 < np.nanmean(seqs[0].coords[..., 0]) < 150
        bio = pd.read_parquet(res.extra["biosignals"])
        assert len(bio) == 16 and bio["gsr"].notna().all()


class TestEvaluateOnPreparedTable:
    def test_loso67_through_run_protocol(self, root, tmp_path):
        import geopain.evaluation.protocol as protocol
        import geopain.models as models
        if "logreg" not in models.MODELS.names():
            pytest.skip("no logreg model registered")
        res = prepare("biovid", root, tmp_path / "b.parquet", landmarks=fake_landmarks(root, tmp_path / "g.parquet"),
                      biosignals=None, progress=False)
        frame, meta = read_frame(res.path)
        out = protocol.run_protocol(read_table(res.path), "logreg", "binary", "loso67", meta=meta, progress=False)
        assert [f["test_subjects"] for f in out["folds"]] == [["071309_w_21"], ["112914_m_20"]]

    def test_fusion_models_through_geopain_evaluate(self, root, tmp_path, capsys):
        """One `geopain evaluate` call scores the per-frame, window (temporal) and fusion models under
        BioVid's LOSO-87 protocol, the fusions with the prepared table's biosignal side table; a table without one is refused
        in one line that names the file it looked for."""
        import json

        from geopain.cli import main

        res = prepare("biovid", root, tmp_path / "b.parquet", landmarks=fake_landmarks(root, tmp_path / "g.parquet"),
                      progress=False)
        assert Path(res.extra["biosignals"]).name == "b.biosignals.parquet"
        out = tmp_path / "eval"
        names = ["logreg", "wgnn", "transformer", "dct", "dynamic", "biosignals", "fusion-late"]
        code = main(["evaluate", str(res.path), "--model", *names, "--protocol", "loso87", "--task", "binary",
                     "--epochs", "2", "--quiet", "-o", str(out)])
        assert code == 0
        results = json.loads((out / "results.json").read_text())
        assert [f["test_subjects"] for f in results["folds"]] == [[s] for s in SUBJECTS]
        for name in names:
            assert not results["models"][name]["errors"]
            assert "balanced_accuracy" in results["models"][name]["sequence"]["summary"]
        shutil.copy(res.path, tmp_path / "alone.parquet")
        code = main(["evaluate", str(tmp_path / "alone.parquet"), "--model", "biosignals", "--protocol", "loso87",
                     "--quiet", "-o", str(tmp_path / "eval2")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code != 0 and len(err) == 1 and "alone.biosignals.parquet" in err[0]
