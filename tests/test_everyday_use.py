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

    return PainEstimator("logreg", "five", verbose=False).fit(cohort)


class TestSequenceTarget:
    def test_median_rounded_for_levels(self):
        import pandas as pd

        from geopain.tasks import sequence_targets

        df = pd.DataFrame({"subject": "a", "sequence": "s", "face_id": 0, "face_found": True,
                           "target": [0.0, 4.0, 4.0, 4.0, 4.0, 2.0, 2.0]})
        assert sequence_targets(df, "five").iloc[0] == 4.0  # the mean would be 2.86
        assert sequence_targets(df, "score").iloc[0] == 4.0

    def test_predict_and_evaluate_agree(self, cohort, five_model):
        from geopain.evaluation import sequence_table

        seq = five_model.predict_sequences(cohort)
        ev = sequence_table(five_model.predict_frames(cohort), "five", 5)
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
