"""Ultralytics YOLO pose datasets: reading label folders, writing datasets Ultralytics accepts."""
import numpy as np
import pytest
import yaml

from _io_helpers import yolo_dataset, yolo_line
from geopain.errors import GeopainError, InputError
from geopain.io.yolo import label_path, read_yolo_dataset, write_yolo_dataset
from geopain.landmarks import LandmarkSequence
from geopain.species import get_scheme

SCHEME = "sheep/spfes"
K = 28


@pytest.fixture(scope="module")
def sch():
    return get_scheme(SCHEME)


def _kp(seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0.2, 0.8, (K, 2))
    vis = np.full(K, 2)
    vis[3], vis[4] = 0, 1
    return xy, vis


class TestReadYoloDataset:
    def test_pixels_visibility_objects_and_splits(self, tmp_path, sch):
        xy, vis = _kp()
        y = yolo_dataset(tmp_path, K, {
            "train": [((640, 480), [yolo_line(xy, vis), yolo_line(xy * 0.5, vis, box=(0.2, 0.2, 0.3, 0.3))]),
                      ((100, 50), None)],
            "val": [((320, 240), [yolo_line(xy, vis)])]}, flip_idx=sch.flip_index.tolist())
        seqs = read_yolo_dataset(y, scheme=SCHEME)
        assert [(s.sequence, s.face_id) for s in seqs] == [("train/im0", 0), ("train/im0", 1), ("train/im1", 0),
                                                           ("val/im0", 0)]
        a = seqs[0]
        assert a.scheme == SCHEME and a.dims == 2 and a.units == "px" and a.n_frames == 1
        exp = xy * [640, 480]
        exp[3] = np.nan
        np.testing.assert_allclose(a.coords[0, :, :2], exp, atol=1e-3)
        assert a.confidence[0, 4] == 0.5 and a.confidence[0, 0] == 1.0 and np.isnan(a.confidence[0, 3])
        np.testing.assert_allclose(a.meta["box"], [192, 144, 448, 336], atol=1e-3)
        assert a.meta["image_size"] == [640, 480] and a.meta["split"] == "train"
        assert np.isnan(seqs[2].coords).all()  # an image without a label file: no face
        np.testing.assert_allclose(seqs[3].coords[0, 0, :2], xy[0] * [320, 240], atol=1e-3)
        assert [s.sequence for s in read_yolo_dataset(y, scheme=SCHEME, split="val")] == ["val/im0"]

    def test_scheme_found_from_kpt_names_and_from_count(self, tmp_path, sch):
        xy, vis = _kp()
        y = yolo_dataset(tmp_path / "a", K, {"train": [((64, 64), [yolo_line(xy, vis)])]},
                         kpt_names=list(sch.landmarks))
        assert read_yolo_dataset(y)[0].scheme == SCHEME
        y = yolo_dataset(tmp_path / "b", K, {"train": [((64, 64), [yolo_line(xy, vis)])]})
        assert read_yolo_dataset(y)[0].scheme == SCHEME  # the only shipped 28-point scheme
        y = yolo_dataset(tmp_path / "c", K, {"train": [((64, 64), [yolo_line(xy, vis)])]},
                         kpt_names=[f"k{i}" for i in range(K)])
        with pytest.raises(InputError, match="kpt_names match no scheme"):
            read_yolo_dataset(y)

    def test_two_dim_keypoints_zero_is_missing(self, tmp_path):
        xy, _ = _kp()
        xy[5] = 0
        y = yolo_dataset(tmp_path, K, {"train": [((100, 100), [yolo_line(xy, None)])]}, D=2)
        s = read_yolo_dataset(y, scheme=SCHEME)[0]
        assert np.isnan(s.coords[0, 5, :2]).all() and np.isfinite(s.coords[0, 6, :2]).all()
        assert np.isnan(s.confidence).all()

    def test_image_list_txt_split(self, tmp_path):
        xy, vis = _kp()
        y = yolo_dataset(tmp_path, K, {"train": [((80, 60), [yolo_line(xy, vis)])]})
        (tmp_path / "train.txt").write_text("images/train/im0.jpg\n")
        data = yaml.safe_load(y.read_text(encoding="utf-8"))
        data["train"] = "train.txt"
        y.write_text(yaml.safe_dump(data))
        assert len(read_yolo_dataset(y, scheme=SCHEME)) == 1

    def test_label_path(self, tmp_path):
        assert label_path(tmp_path / "images" / "train" / "a.b.jpg") == tmp_path / "labels" / "train" / "a.b.txt"


class TestReadYoloErrors:
    def test_flip_idx_must_match_scheme(self, tmp_path, sch):
        xy, vis = _kp()
        flip = sch.flip_index.tolist()
        flip[2], flip[4] = flip[4], flip[2]
        y = yolo_dataset(tmp_path, K, {"train": [((64, 64), [yolo_line(xy, vis)])]}, flip_idx=flip)
        with pytest.raises(InputError, match=r"flip_idx does not match the mirror pairs of sheep/spfes .*\[2, 4\]"):
            read_yolo_dataset(y, scheme=SCHEME)

    def test_keypoint_count_must_match_scheme(self, tmp_path):
        xy, vis = _kp()
        y = yolo_dataset(tmp_path, K, {"train": [((64, 64), [yolo_line(xy, vis)])]})
        with pytest.raises(InputError, match="kpt_shape has 28 keypoints, scheme human/ibug68 has 68"):
            read_yolo_dataset(y, scheme="human/ibug68")

    @pytest.mark.parametrize("mutate,problem", [
        (lambda ln: ln + " 0.5", "line 1 has 90 values, expected 89"),
        (lambda ln: ln.replace("0.500000", "abc", 1), "line 1: 'abc' is not a number"),
        (lambda ln: ln.replace("0.500000", "nan", 1), "NaN or infinite"),
        (lambda ln: ln.replace("0.400000", "40", 1), r"outside \[0, 1\]"),
    ])
    def test_bad_label_lines(self, tmp_path, mutate, problem):
        xy, vis = _kp()
        y = yolo_dataset(tmp_path, K, {"train": [((64, 64), [mutate(yolo_line(xy, vis))])]})
        with pytest.raises(InputError, match=rf"im0\.txt: .*{problem}"):
            read_yolo_dataset(y, scheme=SCHEME)

    def test_bad_yaml(self, tmp_path):
        p = tmp_path / "data.yaml"
        p.write_text("names: [a\n  b: ]")
        with pytest.raises(InputError, match="not valid YAML"):
            read_yolo_dataset(p)
        p.write_text("names: {0: face}\ntrain: images/train\n")
        with pytest.raises(InputError, match="no kpt_shape: not a YOLO pose dataset"):
            read_yolo_dataset(p)
        p.write_text("kpt_shape: [28, 4]\ntrain: images/train\n")
        with pytest.raises(InputError, match=r"kpt_shape must be \[K, 2\] or \[K, 3\]"):
            read_yolo_dataset(p)
        p.write_text("kpt_shape: [28, 3]\ntrain: images/nowhere\n")
        with pytest.raises(InputError, match="split 'train': .*nowhere does not exist"):
            read_yolo_dataset(p, scheme=SCHEME)
        p.write_bytes(b"\xff\xfe\x00binary")
        with pytest.raises(InputError, match="not UTF-8"):
            read_yolo_dataset(p)

    def test_errors_list_keeps_the_good_images(self, tmp_path):
        xy, vis = _kp()
        good = yolo_line(xy, vis)
        y = yolo_dataset(tmp_path, K, {"train": [((64, 64), [good]), ((64, 64), [good + " 0.5"]), ((64, 64), [good])]})
        with pytest.raises(InputError, match=r"im1\.txt"):
            read_yolo_dataset(y, scheme=SCHEME)
        errors: list = []
        seqs = read_yolo_dataset(y, scheme=SCHEME, errors=errors)
        assert len(seqs) == 2 and len(errors) == 1
        assert errors[0].source.endswith("im1.txt") and "expected 89" in str(errors[0])

    def test_broken_image(self, tmp_path):
        xy, vis = _kp()
        y = yolo_dataset(tmp_path, K, {"train": [((64, 64), [yolo_line(xy, vis)])]})
        (tmp_path / "images" / "train" / "im0.jpg").write_bytes(b"not an image")
        with pytest.raises(InputError, match=r"im0\.jpg: not a readable image"):
            read_yolo_dataset(y, scheme=SCHEME)


def _faces(n, seed=0, size=(96, 128)):
    rng = np.random.default_rng(seed)
    images = [rng.integers(0, 255, size + (3,), dtype=np.uint8) for _ in range(n)]
    seqs = [LandmarkSequence(coords=rng.uniform(10, 90, (1, K, 2)), scheme=SCHEME) for _ in range(n)]
    return images, seqs


class TestWriteYoloDataset:
    def test_round_trip_and_layout(self, tmp_path, sch):
        images, seqs = _faces(5)
        seqs[1].coords[0, 7] = np.nan  # a missing point
        seqs[2].coords[0, 8, 0] = 500  # outside the image: not labelled
        y = write_yolo_dataset(tmp_path / "ds", images, seqs, SCHEME)
        data = yaml.safe_load(y.read_text(encoding="utf-8"))
        assert data["kpt_shape"] == [K, 3] and data["flip_idx"] == sch.flip_index.tolist()
        assert data["kpt_names"][0] == list(sch.landmarks) and data["names"] == {0: "sheep"}
        n_train = len(list((tmp_path / "ds" / "images" / "train").glob("*.png")))
        n_val = len(list((tmp_path / "ds" / "labels" / "val").glob("*.txt")))
        assert (n_train, n_val) == (4, 1)
        back = read_yolo_dataset(y)
        assert len(back) == 5 and all(b.scheme == SCHEME for b in back)
        order = [int(b.subject) for b in back]
        for b, i in zip(back, order):
            exp = seqs[i].coords[0, :, :2].copy()
            if i == 2:
                exp[8] = np.nan
            np.testing.assert_allclose(b.coords[0, :, :2], exp, atol=2e-3)

    def test_several_faces_per_image_and_box_from_meta(self, tmp_path):
        images, seqs = _faces(2)
        seqs[0].meta["box"] = [5, 6, 100, 90]
        y = write_yolo_dataset(tmp_path, images, [[seqs[0], seqs[1]], seqs[1]], SCHEME, split_fraction=0.5)
        back = read_yolo_dataset(y)
        two = [b for b in back if b.face_id == 1]
        assert len(back) == 3 and len(two) == 1
        first = [b for b in back if b.subject == "000000" and b.face_id == 0][0]
        np.testing.assert_allclose(first.meta["box"], [5, 6, 100, 90], atol=1e-2)

    def test_ultralytics_accepts_it(self, tmp_path):
        pytest.importorskip("ultralytics")
        from ultralytics.data.dataset import YOLODataset
        from ultralytics.data.utils import check_det_dataset

        images, seqs = _faces(4)
        y = write_yolo_dataset(tmp_path / "ds", images, seqs, SCHEME)
        data = check_det_dataset(str(y))
        assert data["kpt_shape"] == [K, 3] and data["nc"] == 1
        ds = YOLODataset(img_path=data["train"], data=data, task="pose", imgsz=128, augment=False)
        assert len(ds.labels) == 3
        kp = ds.labels[0]["keypoints"]
        assert kp.shape == (1, K, 3) and (kp[..., 2] == 2).all()

    def test_errors(self, tmp_path):
        images, seqs = _faces(2)
        with pytest.raises(GeopainError, match="2 images but 1 sequence"):
            write_yolo_dataset(tmp_path, images, seqs[:1], SCHEME)
        with pytest.raises(GeopainError, match="expected RGB uint8"):
            write_yolo_dataset(tmp_path, [images[0].astype(float), images[1]], seqs, SCHEME)
        with pytest.raises(GeopainError, match="is not human/ibug68"):
            write_yolo_dataset(tmp_path, images, seqs, "human/ibug68")
        with pytest.raises(GeopainError, match="split_fraction"):
            write_yolo_dataset(tmp_path, images, seqs, SCHEME, split_fraction=0)
