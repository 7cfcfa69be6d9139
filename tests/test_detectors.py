"""Real detectors on real photos (mediapipe, dlib), the registry, and FAN with generated weights."""
from __future__ import annotations

import numpy as np
import pytest

from geopain.detectors import DETECTORS, capabilities, create, default_detector
from geopain.errors import GeopainError, MissingWeightsError
from geopain.extract import detect_image

from _detectors_helpers import photo


@pytest.fixture(scope="module")
def mediapipe():
    det = create("mediapipe")
    yield det
    det.close()


@pytest.fixture(scope="module")
def dlib_det():
    return create("dlib")


def _inside(face, pad=0.25):
    x0, y0, x1, y1 = face.box
    w, h = x1 - x0, y1 - y0
    xy = face.coords[:, :2]
    return ((xy[:, 0] >= x0 - pad * w) & (xy[:, 0] <= x1 + pad * w) & (xy[:, 1] >= y0 - pad * h) & (xy[:, 1] <= y1 + pad * h)).mean()


class TestRegistry:
    def test_capabilities_table(self):
        rows = {r["name"]: r for r in capabilities()}
        assert set(rows) == {"mediapipe", "face-alignment", "dlib", "yolo-pose"}
        assert rows["mediapipe"]["points"] == 468 and rows["dlib"]["points"] == 68
        assert all(r["weights"] for r in rows.values())

    def test_unknown_detector(self):
        with pytest.raises(GeopainError, match="unknown detector 'nope'"):
            create("nope")

    def test_defaults(self):
        assert default_detector("human") == "mediapipe"
        assert default_detector("sheep") == "yolo-pose"

    def test_yolo_without_weights_says_how_to_train(self, tmp_path):
        with pytest.raises(MissingWeightsError, match="geopain detector train"):
            create("yolo-pose", scheme="sheep/spfes")
        with pytest.raises(GeopainError, match="no 'yolo:' section"):
            create("yolo-pose", scheme="human/ibug68", weights=tmp_path / "x.pt")


@pytest.mark.detector
class TestMediaPipe:
    def test_astronaut(self, mediapipe):
        faces = mediapipe.detect(photo("astronaut"))
        assert len(faces) == 1
        f = faces[0]
        assert f.coords.shape == (468, 3) and np.isfinite(f.coords).all()
        assert _inside(f, 0.0) == 1.0
        # the face is in the upper middle of the photo (about x 180-270, y 70-180)
        cx, cy = f.coords[:, :2].mean(0)
        assert 170 < cx < 290 and 60 < cy < 190
        assert 0.5 < f.score <= 1.0
        # z scaled like x: depth range comparable to the face width, not to 1
        assert 0.2 < np.ptp(f.coords[:, 2]) / np.ptp(f.coords[:, 0]) < 1.5

    @pytest.mark.parametrize("name,least", [("bus", 2), ("zidane", 1)])
    def test_small_faces_in_wide_shots(self, mediapipe, name, least):
        faces = mediapipe.detect(photo(name))
        assert len(faces) >= least
        for f in faces:
            assert f.coords.shape == (468, 3)
            h, w = photo(name).shape[:2]
            assert (f.coords[:, 0] >= -5).all() and (f.coords[:, 0] <= w + 5).all()

    def test_detect_image_converts(self, mediapipe):
        seqs = detect_image(photo("astronaut"), detector=mediapipe, scheme="human/ibug68")
        assert len(seqs) == 1
        s = seqs[0]
        assert s.scheme == "human/ibug68" and s.coords.shape == (1, 68, 3) and s.units == "px"
        assert s.detector == "mediapipe" and "0.10.14" in s.detector_version


@pytest.mark.detector
class TestDlib:
    def test_astronaut(self, dlib_det):
        faces = dlib_det.detect(photo("astronaut"))
        main = max(faces, key=lambda f: f.score)
        assert main.coords.shape == (68, 3) and np.isnan(main.coords[:, 2]).all()
        assert _inside(main, 0.15) == 1.0
        cx, cy = main.coords[:, :2].mean(0)
        assert 170 < cx < 290 and 60 < cy < 190
        assert dlib_det.dims == 2 and dlib_det.scheme == "human/ibug68"

    def test_zidane(self, dlib_det):
        faces = dlib_det.detect(photo("zidane"))
        assert len(faces) >= 1 and all(f.coords.shape == (68, 3) for f in faces)


class TestFAN:
    def test_missing_weights_names_files_and_folder(self, tmp_path, monkeypatch):
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
        with pytest.raises(MissingWeightsError) as err:
            create("face-alignment")
        msg = str(err.value)
        assert "2DFAN4-11f355bf06.pth.tar" in msg and str(tmp_path / "th" / "hub" / "checkpoints") in msg
        with pytest.raises(MissingWeightsError, match="3DFAN4-7835d9f11d.pth.tar, depth-2a464da4ea.pth.tar"):
            create("face-alignment", dims=3)

    @pytest.mark.detector
    def test_generated_weights_run_the_real_code(self, tmp_path, monkeypatch):
        """Weights in the right shapes (the library's own networks, seeded) go through the real loading and inference."""
        import torch
        from face_alignment.models import FAN, ResNetDepth

        from geopain.detectors.fan import FAN_FILES

        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
        ck = tmp_path / "th" / "hub" / "checkpoints"
        ck.mkdir(parents=True)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the 2 shared test cores: one thread is several times faster here
        torch.manual_seed(0)
        torch.save(FAN(4).state_dict(), ck / FAN_FILES["3d"])
        torch.save({"state_dict": {f"module.{k}": v for k, v in ResNetDepth().state_dict().items()}}, ck / FAN_FILES["depth"])
        try:
            det = create("face-alignment", dims=3)
            assert "3DFAN4" in det.version and det.dims == 3
            faces = det.detect(photo("astronaut"))
        finally:
            torch.set_num_threads(threads)
        assert len(faces) >= 1
        f = max(faces, key=lambda f: f.box[2] - f.box[0])
        assert f.coords.shape == (68, 3) and np.isfinite(f.coords).all()
        assert f.confidence.shape == (68,) and np.isfinite(f.confidence).all()
        # untrained weights give arbitrary points, but they come from the face crop
        x0, y0, x1, y1 = f.box
        w = x1 - x0
        assert (f.coords[:, 0] > x0 - w).all() and (f.coords[:, 0] < x1 + w).all()
