"""YOLOv8n-pose trained offline on a generated sheep-face dataset, then used for extraction."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from geopain.errors import GeopainError
from geopain.species import get_scheme


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from geopain.synth.render import write_dataset

    return write_dataset(tmp_path_factory.mktemp("sheep") / "ds", n=16, size=128, seed=0)


class TestRenderedDataset:
    def test_layout_and_images(self, dataset):
        from geopain.synth.render import render_faces

        spec = yaml.safe_load(dataset.read_text())
        sch = get_scheme("sheep/spfes")
        assert spec["kpt_shape"] == [28, 3] and spec["flip_idx"] == sch.flip_index.tolist()
        labels = sorted((dataset.parent / "labels").rglob("*.txt"))
        assert len(labels) == 16
        row = np.array(labels[0].read_text().split(), float)
        assert row.size == 5 + 28 * 3 and ((row[1:] >= 0) & (row[1:] <= 2)).all()
        images, seqs = render_faces(2, 96, seed=1)
        assert images[0].shape == (96, 96, 3) and images[0].std() > 10  # not blank
        assert seqs[0].coords.shape == (1, 28, 3) and (seqs[0].coords[..., :2] >= 0).all()

    def test_wrong_keypoints_refused(self, dataset, tmp_path):
        from geopain.detectors.yolo import train_yolo_pose

        spec = yaml.safe_load(dataset.read_text())
        spec["flip_idx"] = list(range(28))
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump(spec))
        with pytest.raises(GeopainError, match="flip_idx"):
            train_yolo_pose(bad, "sheep/spfes", tmp_path / "run", epochs=1)
        spec["kpt_shape"] = [17, 3]
        bad.write_text(yaml.safe_dump(spec))
        with pytest.raises(GeopainError, match="17 keypoints"):
            train_yolo_pose(bad, "sheep/spfes", tmp_path / "run", epochs=1)


@pytest.mark.detector
def test_train_then_extract(dataset, tmp_path):
    from geopain.cli import main
    from geopain.extract import extract
    from geopain.io.tables import read_frame

    rc = main(["detector", "train", "--data", str(dataset), "--species", "sheep", "--epochs", "2", "--imgsz", "128",
               "--batch", "8", "-o", str(tmp_path / "run")])
    assert rc == 0
    best = tmp_path / "run" / "weights" / "best.pt"
    assert best.is_file() and (tmp_path / "run" / "geopain.yaml").is_file()
    images = dataset.parent / "images"
    res = extract([images], species="sheep", detector_kwargs={"weights": str(best), "conf": 0.0, "imgsz": 128},
                  output=tmp_path / "sheep.parquet", progress=False)
    df, meta = read_frame(res.path)
    assert res.errors == [] and res.n_frames == 16
    assert (df["scheme"] == "sheep/spfes").all() and (df["species"] == "sheep").all()
    assert (df["detector"] == "yolo-pose").all()
    assert [c for c in df.columns if c.startswith("x_")] == [f"x_{i}" for i in range(28)]
    assert df["frame"].eq(0).all() and df["sequence"].nunique() == 16
    # a model for another scheme is refused
    with pytest.raises(GeopainError):
        from geopain.detectors import create

        create("yolo-pose", weights=best, scheme="human/ibug68")


class TestDetectorCLI:
    def test_list(self, capsys):
        from geopain.cli import main

        assert main(["detector", "list"]) == 0
        out = capsys.readouterr().out
        for name in ("mediapipe", "face-alignment", "dlib", "yolo-pose"):
            assert name in out
        assert "468" in out and "hub/checkpoints" in out

    def test_train_bad_data(self, tmp_path, capsys):
        from geopain.cli import main

        rc = main(["detector", "train", "--data", str(tmp_path / "none.yaml"), "--species", "sheep", "-o", str(tmp_path / "r")])
        assert rc == 2 and "none.yaml: no such data.yaml" in capsys.readouterr().err
        (tmp_path / "d.yaml").write_text("names: {0: x}\n")
        rc = main(["detector", "train", "--data", str(tmp_path / "d.yaml"), "--species", "sheep", "-o", str(tmp_path / "r")])
        assert rc == 2 and "no kpt_shape" in capsys.readouterr().err
