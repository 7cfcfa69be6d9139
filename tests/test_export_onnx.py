"""ONNX export (geopain.export) and torch-free prediction (geopain.lite).

Parity: the exported float network scores like the torch model within 1e-4 (probabilities
here, network outputs inside export_onnx); the lite pipeline (numpy graph arrays +
onnxruntime) gives the estimator's per-frame table; a subprocess with torch and
torch-geometric blocked runs ``geopain predict model.onnx table.parquet``.
"""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from geopain.errors import GeopainError, InputError  # noqa: E402
from geopain.export import export_onnx  # noqa: E402
from geopain.io.tables import write_table  # noqa: E402
from geopain.lite import OnnxPainModel  # noqa: E402
from geopain.models import PainEstimator  # noqa: E402
from geopain.synth import simulate  # noqa: E402

FIT = dict(epochs=1, init=None, hidden=16, layers=2, seed=0)


@pytest.fixture(scope="module")
def cohort():
    return simulate("human", n_subjects=4, sequences_per_subject=2, frames=10, seed=1)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, cohort):
    """``{model: (estimator, model_dir)}``: weighted and uniform graph models, the hybrid (measurements input)."""
    out = {}
    for name in ("wgnn", "wgnn-uniform", "hybrid"):
        est = PainEstimator(model=name, **FIT).fit(cohort)
        d = tmp_path_factory.mktemp(name) / "model"
        est.save(d)
        out[name] = (est, d)
    return out


class TestExportOnnx:
    def test_smoke(self, fitted, tmp_path):
        est, d = fitted["wgnn"]
        s = export_onnx(d, tmp_path / "m.onnx")
        assert (tmp_path / "m.onnx").is_file() and s["bytes"] > 1000
        assert s["max_abs_diff"] <= 1e-4 and "x" in s["inputs"]

    @pytest.mark.parametrize("name", ["wgnn", "wgnn-uniform", "hybrid"])
    def test_parity_with_torch(self, fitted, cohort, tmp_path, name):
        est, d = fitted[name]
        export_onnx(d, tmp_path / "m.onnx")
        lite = OnnxPainModel(tmp_path / "m.onnx")
        p_torch, p_onnx = est.predict_proba(cohort), lite.predict_proba(cohort)
        np.testing.assert_array_equal(np.isnan(p_torch), np.isnan(p_onnx))
        np.testing.assert_allclose(p_onnx, p_torch, atol=1e-4, rtol=0)
        f_torch, f_onnx = est.predict_frames(cohort), lite.predict_frames(cohort)
        for col in f_onnx.columns:
            if f_onnx[col].dtype.kind == "f":
                np.testing.assert_allclose(f_onnx[col], f_torch[col], atol=1e-4, err_msg=col)
            else:
                assert (f_onnx[col].to_numpy() == f_torch[col].to_numpy()).all(), col
        s_torch, s_onnx = est.predict_sequences(cohort), lite.predict_sequences(cohort)
        np.testing.assert_allclose(s_onnx["p_1"], s_torch["p_1"], atol=1e-4)

    def test_int8(self, fitted, cohort, tmp_path):
        est, d = fitted["wgnn"]
        s = export_onnx(d, tmp_path / "q.onnx", int8=True)
        assert np.isfinite(s["int8_max_abs_diff"]) and s["float_max_abs_diff"] <= 1e-4
        lite = OnnxPainModel(tmp_path / "q.onnx")
        assert lite.config["kind"] == "int8-dynamic"
        p = lite.predict_proba(cohort)
        ok = np.isfinite(p).all(1)
        np.testing.assert_allclose(p[ok].sum(1), 1.0, atol=1e-6)

    def test_exceptions(self, fitted, cohort, tmp_path):
        est, d = fitted["wgnn"]
        with pytest.raises(GeopainError, match=".onnx"):
            export_onnx(d, tmp_path / "m.bin")
        base = PainEstimator(model="logreg").fit(cohort)
        base.save(tmp_path / "logreg")
        with pytest.raises(GeopainError, match="baseline"):
            export_onnx(tmp_path / "logreg", tmp_path / "l.onnx")
        from geopain.export import _check_exportable

        ref = PainEstimator.load(d)
        ref.reference = "subject-median"  # what a model trained with that reference carries
        with pytest.raises(GeopainError, match="reference"):
            _check_exportable(ref)
        (tmp_path / "bad.onnx").write_bytes(b"not onnx")
        with pytest.raises(InputError):
            OnnxPainModel(tmp_path / "bad.onnx")


BLOCKED = """
import sys
sys.modules["torch"] = None            # any 'import torch' now raises ImportError
sys.modules["torch_geometric"] = None
from geopain.cli import main
rc = main(["predict", sys.argv[1], sys.argv[2], "-o", sys.argv[3]])
assert "torch" not in [m.split(".")[0] for m, v in sys.modules.items() if v is not None]
sys.exit(rc)
"""


class TestLiteWithoutTorch:
    def test_predict_cli_without_torch(self, fitted, cohort, tmp_path):
        est, d = fitted["wgnn"]
        export_onnx(d, tmp_path / "m.onnx")
        write_table(cohort, tmp_path / "table.parquet")
        r = subprocess.run([sys.executable, "-c", BLOCKED, str(tmp_path / "m.onnx"), str(tmp_path / "table.parquet"),
                            str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        frames = pd.read_csv(tmp_path / "out" / "frames.csv")
        expected = est.predict_proba(cohort)[:, 1]
        np.testing.assert_allclose(frames["p_pain"].to_numpy(), expected, atol=1e-4)
        assert (tmp_path / "out" / "sequences.csv").is_file()

    @pytest.mark.detector
    def test_predict_photo_without_torch(self, fitted, tmp_path):
        # the whole deployment path: MediaPipe on a real photo, the geometry kernels, onnxruntime
        from PIL import Image

        from _detectors_helpers import photo

        est, d = fitted["wgnn"]
        export_onnx(d, tmp_path / "m.onnx")
        Image.fromarray(photo("astronaut")).save(tmp_path / "astronaut.png")
        r = subprocess.run([sys.executable, "-c", BLOCKED, str(tmp_path / "m.onnx"), str(tmp_path / "astronaut.png"),
                            str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        frames = pd.read_csv(tmp_path / "out" / "frames.csv")
        assert len(frames) == 1 and bool(frames["face_found"].iloc[0]) and 0 < frames["p_pain"].iloc[0] < 1
