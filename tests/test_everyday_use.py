"""Reproductions of issue 14 ("Everyday use without surprises"), one test each."""
from __future__ import annotations

import numpy as np
import pytest

import geopain.datasets
from geopain.evaluation import splits


class TestOneFoldMaker:
    def test_datasets_has_no_second_copy(self):
        from geopain.datasets import _common

        assert not hasattr(geopain.datasets, "protocol_folds")
        assert not hasattr(_common, "protocol_folds")

    def test_named_protocol_same_as_string(self):
        subjects = [f"s{i}" for i in range(7)]
        named = splits.protocol_folds("k3", subjects, {"protocols": {"k3": {"kind": "kfold", "k": 3}}}, seed=4)
        plain = splits.protocol_folds("kfold:3", subjects, seed=4)
        assert [f.test_subjects for f in named] == [f.test_subjects for f in plain]


class TestOneImageConverter:
    """``Detector.detect`` and ``detect_image`` see the same pixels as files read by ``read_image``."""

    def _seen_by_detector(self, image):
        from geopain.detectors.base import Detector

        seen = []

        class Spy(Detector):
            name = "spy"
            scheme = "human/ibug68"

            def _detect(self, img):
                seen.append(img)
                return []

        Spy(max_side=None, min_side=1).detect(image)
        return seen[0]

    def test_rgba_and_16bit_same_everywhere(self):
        from geopain.media import to_rgb_uint8

        rgba = np.zeros((4, 4, 4), np.uint8)
        rgba[..., 0] = 200
        rgba[..., 3] = 0  # fully transparent: white
        np.testing.assert_array_equal(self._seen_by_detector(rgba), to_rgb_uint8(rgba))
        assert (self._seen_by_detector(rgba) == 255).all()
        deep = np.full((4, 4, 3), 4095, np.uint16)  # 12-bit white
        np.testing.assert_array_equal(self._seen_by_detector(deep), 255)

    def test_float_0_255_is_not_stretched(self):
        from geopain.media import to_rgb_uint8

        img = np.full((3, 3, 3), 100.0)
        img[0, 0] = 200.0
        assert to_rgb_uint8(img)[0, 0, 0] == 200 and to_rgb_uint8(img)[1, 1, 0] == 100

    def test_bad_shape_is_one_line_error(self):
        from geopain.errors import ShapeError
        from geopain.media import to_rgb_uint8

        with pytest.raises(ShapeError, match="expected"):
            to_rgb_uint8(np.zeros((2, 2, 5), np.uint8))
        with pytest.raises(ShapeError):
            self._seen_by_detector(np.zeros(5))

    def test_no_second_converter(self):
        import geopain.detectors.base as base

        assert not hasattr(base, "as_rgb_uint8")


@pytest.fixture(scope="module")
def cohort():
    from geopain.synth import simulate

    return simulate("human", n_subjects=4, sequences_per_subject=2, frames=12, seed=3)


@pytest.fixture(scope="module")
def five_model(cohort):
    from geopain.models import PainEstimator

    return PainEstimator("logreg", "levels", verbose=False).fit(cohort)


class TestSequenceTarget:
    def test_median_rounded_for_levels(self):
        import pandas as pd

        from geopain.tasks import sequence_targets

        df = pd.DataFrame({"subject": "a", "sequence": "s", "face_id": 0, "face_found": True,
                           "target": [0.0, 4.0, 4.0, 4.0, 4.0, 2.0, 2.0]})
        assert sequence_targets(df, "levels").iloc[0] == 4.0  # the mean would be 2.86
        assert sequence_targets(df, "score").iloc[0] == 4.0

    def test_predict_and_evaluate_agree(self, cohort, five_model):
        from geopain.evaluation import sequence_table

        seq = five_model.predict_sequences(cohort)
        ev = sequence_table(five_model.predict_frames(cohort), "levels", 5)
        m = seq.merge(ev, on=["subject", "sequence", "face_id"], suffixes=("", "_eval"))
        assert len(m) == len(cohort)
        np.testing.assert_array_equal(m["target"], m["target_eval"])
        assert (m["target"] == np.round(m["target"])).all()


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``geopain ARGV`` in-process: ``(exit code, stdout, stderr)``."""
    import contextlib
    import io

    from geopain.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


class TestUnitsUnknownWithoutSidecar:
    def test_info_says_unknown(self, cohort, tmp_path):
        from geopain.io.tables import read_table, sequences_to_frame, write_table

        write_table(cohort, tmp_path / "t.parquet")
        assert "units:      cm" in run_cli("info", str(tmp_path / "t.parquet"))[1]
        frame, _ = sequences_to_frame(cohort)
        frame.to_csv(tmp_path / "plain.csv", index=False)  # written by pandas: no .meta.json
        code, out, _ = run_cli("info", str(tmp_path / "plain.csv"))
        assert code == 0 and "units:      unknown" in out and "px" not in out
        assert {s.units for s in read_table(tmp_path / "plain.csv")} == {"unknown"}

    def test_unknown_2d_picks_the_axes_that_fit(self, cohort):
        import dataclasses

        from geopain.geometry.normalize import normalize

        s = cohort[0]
        flat = s.coords.copy()
        flat[..., 1] *= -1  # y down, as in an image
        flat[..., 2] = np.nan
        px = dataclasses.replace(s, coords=flat, dims=2, units="px")
        unknown = dataclasses.replace(px, units="unknown")
        assert normalize(unknown).meta["normalization"]["image_axes"] is True
        np.testing.assert_allclose(normalize(unknown).coords, normalize(px).coords)
        up = dataclasses.replace(unknown, coords=flat * np.array([1, -1, 1], np.float32))
        assert normalize(up).meta["normalization"]["image_axes"] is False


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Two photos of the astronaut (skimage) in a folder, and the astronaut as .ppm."""
    from PIL import Image
    from skimage.data import astronaut

    root = tmp_path_factory.mktemp("photos")
    d = root / "photos"
    d.mkdir()
    face = astronaut()[:300, 100:400]
    Image.fromarray(face).save(d / "a.jpg")
    Image.fromarray(face[:, ::-1]).save(d / "b.png")
    Image.fromarray(face).save(root / "takeo.ppm")
    return root


class TestExtractOutputs:
    def test_failed_run_leaves_nothing_and_retry_works(self, tmp_path):
        (tmp_path / "in").mkdir()
        bad = tmp_path / "in" / "x.jpg"
        bad.write_text("not an image")
        out = tmp_path / "e.parquet"
        code, _, err = run_cli("extract", str(tmp_path / "in"), "-o", str(out), "--quiet")
        assert code == 2 and "x.jpg: not an image" in err and "Traceback" not in err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no e.parquet.parts/ left

    def test_settings_change_offers_the_exact_command(self, photos, tmp_path):
        out = tmp_path / "o.parquet"
        parts = tmp_path / "o.parquet.parts"
        parts.mkdir()
        (parts / "manifest.json").write_text('{"detector": "dlib", "stride": 1}')
        code, _, err = run_cli("extract", str(photos / "photos"), "-o", str(out), "--quiet")
        assert code == 2 and err.count("\n") == 1
        assert "stride 1 -> 1" not in err and "detector 'dlib' -> 'mediapipe'" in err
        assert f"geopain extract {photos / 'photos'} -o {out} --quiet --no-resume" in err

    def test_refuses_to_overwrite_other_input(self, photos, tmp_path):
        out = tmp_path / "o.parquet"
        assert run_cli("extract", str(photos / "photos"), "-o", str(out), "--quiet")[0] == 0
        assert run_cli("extract", str(photos / "photos"), "-o", str(out), "--quiet")[0] == 0  # same run: fine
        code, _, err = run_cli("extract", str(photos / "takeo.ppm"), "-o", str(out), "--quiet")
        assert code == 2 and "exists" in err and "--overwrite" in err
        from geopain.io.tables import read_frame

        assert len(read_frame(out)[0]) == 2  # still the two photos
        assert run_cli("extract", str(photos / "takeo.ppm"), "-o", str(out), "--quiet", "--overwrite")[0] == 0
        assert len(read_frame(out)[0]) == 1

    def test_one_error_log_name(self, photos, tmp_path):
        import shutil

        from geopain.errors import error_log_path

        mixed = tmp_path / "mixed"
        shutil.copytree(photos / "photos", mixed)
        (mixed / "x.jpg").write_text("not an image")
        out = tmp_path / "out" / "mixed.parquet"
        code, stdout, _ = run_cli("extract", str(mixed), "-o", str(out), "--quiet")
        assert code == 1 and error_log_path(out) == tmp_path / "out" / "mixed.parquet.errors.txt"
        assert error_log_path(out).read_text().startswith(str(mixed / "x.jpg"))
        assert str(error_log_path(out)) in stdout
        code, _, _ = run_cli("extract", "--help")
        from geopain.cli.extract import register  # the help names the same file
        import argparse

        sub = argparse.ArgumentParser().add_subparsers()
        register(sub)
        assert "OUT.errors.txt (e.g. out/x.parquet.errors.txt)" in sub.choices["extract"].description


class TestSchemeNames:
    def test_bare_name_with_species(self):
        from geopain.species import get_scheme, scheme_key

        assert scheme_key("ibug68", "human") == "human/ibug68"
        assert get_scheme("ibug68", species="human").key == "human/ibug68"
        assert scheme_key("sheep/spfes", "human") == "sheep/spfes"

    def test_bare_name_without_species_says_did_you_mean(self):
        from geopain.errors import SchemeError
        from geopain.species import get_scheme

        with pytest.raises(SchemeError, match="did you mean human/ibug68"):
            get_scheme("ibug68")

    def test_extract_takes_bare_name(self, photos, tmp_path):
        code, out, err = run_cli("extract", str(photos / "takeo.ppm"), "--scheme", "ibug68", "-o",
                                 str(tmp_path / "e.parquet"), "--quiet")
        assert code == 0, err
        from geopain.io.tables import read_table

        assert read_table(tmp_path / "e.parquet")[0].scheme == "human/ibug68"

    def test_table_with_species_column_trains(self, cohort, tmp_path):
        from geopain.io.tables import read_table, sequences_to_frame

        frame, _ = sequences_to_frame(cohort)
        frame["species"], frame["scheme"] = "human", "ibug68"
        frame.to_parquet(tmp_path / "bare.parquet")
        assert {s.scheme for s in read_table(tmp_path / "bare.parquet")} == {"human/ibug68"}
        code, _, err = run_cli("train", str(tmp_path / "bare.parquet"), "--model", "logreg", "-o", str(tmp_path / "m"),
                               "--quiet")
        assert code == 0, err
        frame.drop(columns="species").to_parquet(tmp_path / "nospecies.parquet")
        code, _, err = run_cli("info", str(tmp_path / "nospecies.parquet"))
        assert code == 2 and "did you mean human/ibug68" in err and err.count("\n") == 1

    def test_unknown_species_lists_species(self, photos, tmp_path):
        code, _, err = run_cli("extract", str(photos / "takeo.ppm"), "--species", "dog", "-o", str(tmp_path / "d.parquet"))
        assert code == 2 and "unknown species 'dog'; known: " in err and "human" in err and "sheep" in err


class TestDetectorTrainData:
    def test_paths_relative_to_the_yaml(self, tmp_path, monkeypatch):
        import yaml

        from geopain.datasets.fixtures import make_fixture
        from geopain.detectors.yolo import _resolve_data_paths

        root = make_fixture("sheep", tmp_path / "fx" / "sheep")
        data = root / "data.yaml"
        monkeypatch.chdir(tmp_path)  # not inside the dataset folder
        spec = yaml.safe_load(data.read_text())
        assert spec["path"] == "."
        resolved = yaml.safe_load(_resolve_data_paths(data, spec, tmp_path / "out").read_text())
        assert resolved["path"] == str(root.resolve()) and resolved["train"] == spec["train"]

    def test_missing_folder_is_one_line(self, tmp_path):
        from geopain.datasets.fixtures import make_fixture

        root = make_fixture("sheep", tmp_path / "fx")
        import shutil

        shutil.rmtree(root / "images" / "val")
        code, _, err = run_cli("detector", "train", "--data", str(root / "data.yaml"), "--species", "sheep",
                               "-o", str(tmp_path / "yo"))
        assert code == 2 and err.count("\n") == 1 and "val:" in err and "not found" in err

    def test_argument_dump_is_dropped(self):
        import logging

        from geopain.detectors.yolo import _DropArgumentDump

        rec = lambda msg: logging.LogRecord("ultralytics", logging.INFO, "", 0, msg, None, None)  # noqa: E731
        assert not _DropArgumentDump().filter(rec("\x1b[34mengine/trainer: \x1b[0magnostic_nms=False, amp=False"))
        assert _DropArgumentDump().filter(rec("      Epoch    GPU_mem"))


class TestDlcWithoutScheme:
    def test_convert_and_info_keep_bodypart_names(self, tmp_path):
        import sys
        from pathlib import Path

        sys.path.insert(0, str(Path(__file__).parent))
        from _io_helpers import dlc_frame

        from geopain.io.tables import read_table

        parts = ["snout", "left ear", "right ear", "tail base"]
        dlc_frame(parts, 5, individuals=["ewe1", "ewe2"]).to_csv(tmp_path / "videoDLC_resnet50.csv")
        code, out, err = run_cli("convert", str(tmp_path / "videoDLC_resnet50.csv"), "-f", "dlc", "-o",
                                 str(tmp_path / "o.parquet"))
        assert code == 0, err
        seqs = read_table(tmp_path / "o.parquet")
        assert len(seqs) == 2 and seqs[0].scheme.startswith("unknown/dlc-") and seqs[0].n_points == 4
        assert seqs[0].meta["landmark_names"] == parts
        code, out, err = run_cli("info", str(tmp_path / "o.parquet"))
        assert code == 0 and "(4 points)" in out
        code, _, err = run_cli("train", str(tmp_path / "o.parquet"), "--model", "logreg", "-o", str(tmp_path / "m"))
        assert code == 2 and "body-part names" in err and "--scheme" in err and err.count("\n") == 1


class TestReadablePredictions:
    def test_predict_names_classes_and_integer_levels(self, cohort, five_model, tmp_path):
        import pandas as pd

        from geopain.io.tables import write_table

        write_table(cohort, tmp_path / "t.parquet")
        five_model.save(tmp_path / "m5")
        code, out, err = run_cli("predict", str(tmp_path / "m5"), str(tmp_path / "t.parquet"), "-o", str(tmp_path / "p"))
        assert code == 0, err
        seq = pd.read_csv(tmp_path / "p" / "sequences.csv")
        assert [f"p_level_{k}" for k in range(5)] == [c for c in seq.columns if c.startswith("p_")]
        assert seq["prediction"].dtype.kind == "i" and seq["target"].dtype.kind == "i"
        assert "p_0" not in pd.read_csv(tmp_path / "p" / "frames.csv").columns
        assert len(cohort) == 8 and "more sequence" not in out  # 8 <= 10 rows: all shown

    def test_binary_and_ellipsis(self, tmp_path):
        import pandas as pd

        from geopain.io.tables import write_table
        from geopain.models import PainEstimator
        from geopain.synth import simulate

        seqs = simulate("human", n_subjects=6, sequences_per_subject=4, frames=4, seed=5)
        write_table(seqs, tmp_path / "t.parquet")
        PainEstimator("logreg", "binary", verbose=False).fit(seqs).save(tmp_path / "m")
        code, out, err = run_cli("predict", str(tmp_path / "m"), str(tmp_path / "t.parquet"), "-o", str(tmp_path / "p.csv"))
        assert code == 0, err
        frames = pd.read_csv(tmp_path / "p.csv")
        assert {"p_no_pain", "p_pain"} <= set(frames.columns) and frames["prediction"].dtype.kind == "i"
        assert "pain probability" in out and "... 14 more sequence(s) in" in out

    def test_readable_columns_leaves_scores(self):
        import pandas as pd

        from geopain.tasks import readable_columns

        df = pd.DataFrame({"prediction": [1.5], "p_0": [0.2]})
        assert list(readable_columns(df, "score").columns) == ["prediction", "p_0"]
        df = pd.DataFrame({"prediction": [1.0, np.nan], "p_0": [0.2, np.nan], "p_1": [0.8, np.nan],
                           "calibrated_p_1": [0.7, np.nan]})
        r = readable_columns(df, "binary")
        assert list(r.columns) == ["prediction", "p_no_pain", "p_pain", "calibrated_p_pain"]
        assert r["prediction"].tolist()[0] == 1 and r["prediction"].isna().tolist() == [False, True]


class TestHeldOutPredictionsInOneFile:
    def test_one_table_every_model(self, cohort, five_model, tmp_path):
        import pandas as pd

        from geopain.evaluation.protocol import write_heldout_predictions

        frames = five_model.predict_frames(cohort).assign(fold="fold-1")
        write_heldout_predictions({"a": frames, "b": frames}, "levels", tmp_path / "h.parquet")
        table = pd.read_parquet(tmp_path / "h.parquet")
        assert table.columns[0] == "model" and table["model"].tolist() == ["a"] * len(frames) + ["b"] * len(frames)
        assert "p_level_4" in table and table["prediction"].dtype.kind == "i"

class TestQuiet:
    def test_progress_bar_off_in_log_files(self, tmp_path, monkeypatch):
        from geopain.progress import progress_bar

        monkeypatch.delenv("GEOPAIN_PROGRESS", raising=False)
        with open(tmp_path / "log.txt", "w") as fh:
            for _ in progress_bar(range(50), file=fh):
                pass
            monkeypatch.setenv("GEOPAIN_PROGRESS", "1")
            for _ in progress_bar(range(3), file=fh, enabled=False):
                pass
        assert (tmp_path / "log.txt").read_text() == ""

    def test_mediapipe_start_up_lines_never_reach_stderr(self, tmp_path):
        import subprocess
        import sys

        code = ("import numpy as np\nfrom skimage.data import astronaut\n"
                "from geopain.detectors.mediapipe import MediaPipeDetector\n"
                "import time\nd = MediaPipeDetector()\ntime.sleep(1.5)\n"  # the graphs' threads would print now
                "print(len(d.detect(astronaut())))\nd.detect(np.zeros((80, 80, 3), np.uint8))\nd.close()\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and r.stdout.strip() == "1"
        assert r.stderr == "", r.stderr


class TestFastStart:
    def test_help_info_and_import_stay_light(self, cohort, tmp_path):
        """One fresh interpreter, in order: ``import geopain`` (nothing heavy), ``geopain --help``
        (no numpy, pandas, torch), ``geopain info`` (no torch), then the graphs without
        torch.jit's FutureWarning."""
        import subprocess
        import sys

        from geopain.io.tables import write_table

        write_table(cohort, tmp_path / "t.parquet")
        heavy = "('torch', 'pandas', 'numpy', 'sklearn', 'cv2', 'mediapipe')"
        code = (
            "import sys, contextlib, io, warnings\n"
            "import geopain\n"
            f"print(sorted(m for m in {heavy} if m in sys.modules))\n"
            "from geopain.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "assert 'predict' in out.getvalue() and 'info' in out.getvalue()\n"
            f"print(sorted(m for m in {heavy} if m in sys.modules))\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            f"    assert main(['info', {str(tmp_path / 't.parquet')!r}]) == 0\n"
            "assert 'units:      cm' in out.getvalue()\n"
            "print('torch' in sys.modules or 'pandas' in sys.modules)\n"
            "warnings.simplefilter('error', FutureWarning)\n"
            "import geopain.graphs.builder\n"
            "print('graphs ok')\n")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-800:]
        assert r.stdout.strip().splitlines() == ["[]", "[]", "False", "graphs ok"]

    def test_every_command_still_has_its_full_parser(self):
        import importlib.util

        from geopain.cli import COMMANDS, build_parser

        parser = build_parser()
        sub = next(a for a in parser._actions if a.dest == "command")
        assert {c for c in COMMANDS if importlib.util.find_spec(f"geopain.cli.{c}")} <= set(sub.choices)
        assert "--model" in sub.choices["train"].format_help()

class TestTopLevelApi:
    def test_names_resolve(self):
        import geopain

        assert len(geopain.__all__) >= 19 and all(getattr(geopain, n) is not None for n in geopain.__all__)
        assert "PainEstimator" in dir(geopain)

    def test_unknown_name_is_attribute_error(self):
        import geopain

        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            geopain.nope  # noqa: B018

    def test_paths_and_dataframes(self, cohort, tmp_path):
        import geopain
        from geopain.io.tables import sequences_to_frame

        geopain.write_table(cohort, tmp_path / "t.parquet")
        est = geopain.PainEstimator("logreg", "binary", verbose=False).fit(str(tmp_path / "t.parquet"))
        frame, _ = sequences_to_frame(cohort)
        by_df = est.predict_frames(frame)
        by_seq = est.predict_frames(cohort)
        np.testing.assert_allclose(by_df["p_1"], by_seq["p_1"], rtol=1e-6)
        res = geopain.run_protocol(tmp_path / "t.parquet", "logreg", "binary", "kfold:2")
        assert res["n_sequences"] == len(cohort)
        m = geopain.measure(tmp_path / "t.parquet")
        assert len(m) == sum(s.n_frames for s in cohort)
        with pytest.raises(geopain.errors.GeopainError, match="got int"):
            est.predict_frames(3)


class TestDetectionQuality:
    def test_summary_overlays_and_min_confidence(self, photos, tmp_path):
        import json

        from geopain.io.tables import read_frame

        out = tmp_path / "q.parquet"
        code, stdout, err = run_cli("extract", str(photos / "photos"), "-o", str(out), "--overlays",
                                    str(tmp_path / "ov"), "--min-confidence", "0.99")
        assert code == 0, err
        summary = json.loads((tmp_path / "q.parquet.quality.json").read_text())
        assert summary["frames"] == 2 and summary["faces"] + summary["dropped"] == 2
        assert sum(summary["confidence_histogram"]["counts"]) + summary["confidence_histogram"]["unknown"] == summary["faces"]
        assert "quality: 2 frames" in stdout and "below --min-confidence 0.99" in stdout
        frame, meta = read_frame(out)
        assert len(frame) == 2 and int(frame["x_0"].isna().sum()) == summary["dropped"] > 0
        pngs = sorted(p.name for p in (tmp_path / "ov").iterdir())
        assert pngs == ["a.jpg.png", "b.png.png"]
        from PIL import Image

        with Image.open(tmp_path / "ov" / "a.jpg.png") as im:
            assert im.size[0] == 300 and im.size[1] > 300  # the photo plus its caption strip

    def test_drop_low_confidence_keeps_rows(self, cohort):
        from geopain.quality import drop_low_confidence, quality_summary

        s = cohort[0]
        conf = np.linspace(0.1, 0.9, s.n_frames).astype(np.float32)
        import dataclasses

        s = dataclasses.replace(s, frame_confidence=conf)
        (low,), n = drop_low_confidence([s], 0.5)
        assert n == int((conf < 0.5).sum()) and low.n_frames == s.n_frames
        assert not low.face_found[conf < 0.5].any() and low.face_found[conf >= 0.5].all()
        q = quality_summary([low], n, 0.5)
        assert q["frames"] == s.n_frames and q["frames_without_face"] == n and q["dropped"] == n


class TestEstimatorState:
    def test_state_round_trip_without_files(self, cohort, five_model):
        from geopain.models import PainEstimator

        config, tensors = five_model.get_state()
        again = PainEstimator(**PainEstimator.params_from_config(config)).set_state(config, tensors)
        np.testing.assert_allclose(again.predict_proba(cohort), five_model.predict_proba(cohort), rtol=1e-6)

    def test_serialization_only_handles_files(self):
        import inspect

        from geopain.models import serialization

        src = inspect.getsource(serialization)
        assert "estimator._" not in src and ".model_" not in src and "scaler_" not in src


class TestNoReaderCycle:
    def test_readers_import_helpers_not_the_registry(self):
        import ast
        from pathlib import Path

        import geopain.io

        for f in Path(geopain.io.__file__).parent.glob("*.py"):
            if f.name in ("readers.py", "__init__.py"):
                continue
            for node in ast.walk(ast.parse(f.read_text())):
                if isinstance(node, ast.ImportFrom):
                    assert node.module != "readers" and not (node.module or "").endswith("io.readers"), f.name


class TestRendererWithTheSimulator:
    def test_what_to_draw_is_species_data(self):
        from geopain.errors import SchemeError
        from geopain.synth.render import render_spec

        sch, draw = render_spec("sheep")
        assert sch.key == "sheep/spfes" and len(draw["flaps"]) == 2 and len(draw["dark_hulls"]) == 4
        assert sch.index("ear_tip_r") not in draw["head"]
        with pytest.raises(SchemeError, match="no 'render:' section"):
            render_spec("human")

    def test_no_renderer_left_in_detectors(self):
        import importlib.util

        assert importlib.util.find_spec("geopain.detectors.yolo_data") is None


class TestOneExtensionList:
    def test_no_other_image_list_in_the_package(self):
        import re
        from pathlib import Path

        import geopain

        root = Path(geopain.__file__).parent
        lists = [f.relative_to(root).as_posix() for f in root.rglob("*.py")
                 if re.search(r"\(\s*\"\.(jpg|png|bmp)\"\s*,\s*\"\.", f.read_text())]
        assert lists == [], f"image extension lists outside geopain.media: {lists}"


class TestOneTableOfDefaults:
    def test_estimator_loop_and_cli_agree(self):
        import argparse
        import inspect

        from geopain.cli.train import add_training_options
        from geopain.defaults import TRAINING
        from geopain.models import PainEstimator
        from geopain.training import fit_network

        est = inspect.signature(PainEstimator).parameters
        loop = inspect.signature(fit_network).parameters
        p = argparse.ArgumentParser()
        add_training_options(p)
        cli = vars(p.parse_args([]))
        for name, value in TRAINING.items():
            assert est[name].default == value, name
            if name in loop:
                assert loop[name].default == value, name
            if name in cli:
                assert cli[name] == (value if value is not None else "none"), name


class TestDatasetPrepareFailureLeavesNothing:
    def test_empty_root(self, tmp_path):
        (tmp_path / "root").mkdir()
        code, _, err = run_cli("dataset", "prepare", "sheep", str(tmp_path / "root"), "-o", str(tmp_path / "s.parquet"))
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]


class TestInfoSummaryAgreesWithTheTableReader:
    @pytest.mark.parametrize("suffix", [".parquet", ".csv"])
    def test_same_counts(self, cohort, tmp_path, suffix):
        import dataclasses

        from geopain.io.summary import summarize_table
        from geopain.io.tables import read_table, write_table

        seqs = list(cohort)
        coords = seqs[1].coords.copy()
        coords[:3] = np.nan  # three frames without a face
        seqs[1] = dataclasses.replace(seqs[1], coords=coords)
        path = write_table(seqs, tmp_path / f"t{suffix}")
        t, back = summarize_table(path), read_table(path)
        assert t["rows"] == sum(s.n_frames for s in back) and t["sequences"] == len(back)
        assert t["subjects"] == len({s.subject for s in back}) and t["no_face"] == 3
        assert t["schemes"] == ["human/ibug68"] and t["units"] == ["cm"] and t["n_points"] == 68
        assert t["labels"]["level"]["labelled"] == t["rows"]
