"""Sheep SPFES layout: YOLO pose labels + DeepLabCut project + score table, validation, animal splits."""
import shutil

import numpy as np
import pytest

from geopain.datasets import prepare, sheep
from geopain.evaluation.splits import protocol_folds
from geopain.datasets._common import ErrorLog
import geopain.io.dlc  # noqa: F401  (geopain's own readers: an import error fails, never skips)
import geopain.io.yolo  # noqa: F401
from geopain.datasets.fixtures import SPFES_UNITS, make_sheep
from geopain.errors import GeopainError, InputError
from geopain.io.tables import read_frame
from geopain.species import get_species_scale


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_sheep(tmp_path_factory.mktemp("sheep") / "flock")


@pytest.fixture()
def copy(root, tmp_path):
    return shutil.copytree(root, tmp_path / "flock")


class TestReadScores:
    def test_smoke(self, root):
        s = sheep.read_scores(root / "spfes_scores.csv")
        assert len(s) == 18 and list(SPFES_UNITS) == [c for c in s.columns if c in SPFES_UNITS]
        np.testing.assert_array_equal(s["score"], s[list(SPFES_UNITS)].sum(1))

    def test_total_mismatch_and_bad_unit(self, tmp_path):
        f = tmp_path / "spfes_scores.csv"
        f.write_text("image,animal_id," + ",".join(SPFES_UNITS) + ",total\n"
                     "a.png,ewe1,1,1,0,0,0,5\n"
                     "b.png,ewe1,3,0,0,0,0,3\n")
        log = ErrorLog()
        s = sheep.read_scores(f, log)
        assert log.errors == [f"{f}:2: total '5' is not the sum of the five units (2); using the sum",
                              f"{f}:3: orbital_tightening is '3', expected 0, 1 or 2"]
        assert s["score"][0] == 2 and np.isnan(s["score"][1])

    def test_missing_columns(self, tmp_path):
        f = tmp_path / "spfes_scores.csv"
        f.write_text("image,animal\nx.png,1\n")
        with pytest.raises(InputError, match="missing columns"):
            sheep.read_scores(f)


class TestReadSheep:
    def test_yolo_and_dlc_joined(self, root):
        log = ErrorLog()
        seqs = sheep.read_sheep(root, log=log)
        assert log.errors == []
        assert len(seqs) == 18 and {s.subject for s in seqs} == {"ewe01", "ewe02", "ewe03", "ewe04", "ram01", "ram02"}
        assert all(s.scheme == "sheep/spfes" and s.n_points == 28 and s.n_frames == 1 and s.units == "px" for s in seqs)
        scale = get_species_scale("sheep")
        for s in seqs:
            total = sum(s.labels[u][0] for u in SPFES_UNITS)
            assert s.labels["score"][0] == total
            assert s.labels["pain"][0] == float(total > 1.5) and s.labels["level"][0] == scale.level(total)
        dlc = [s for s in seqs if s.subject.startswith("ram")]
        assert {s.detector for s in dlc} == {"annotation"} and len(dlc) == 6
        first = next(s for s in dlc if s.sequence.endswith("ram01_pen/img000"))
        assert np.isnan(first.coords[0, 2, :2]).all() and np.isfinite(first.coords[0, 3, :2]).all()  # empty cells
        yolo = next(s for s in seqs if s.sequence == "images/train/ewe01_001")
        assert 0 < np.nanmin(yolo.coords[..., :2]) and np.nanmax(yolo.coords[..., :2]) < 96

    def test_broken_copy(self, copy):
        (copy / "labels/train/ewe02_001.txt").unlink()                         # image without labels
        bad = copy / "labels/train/ewe03_002.txt"
        bad.write_text(" ".join(bad.read_text().split()[:-3]) + "\n")          # 27 keypoints
        text = copy / "labels/val/ewe04_003.txt"
        text.write_text(text.read_text().replace("0 ", "zero ", 1))             # not a number
        lines = (copy / "spfes_scores.csv").read_text().splitlines()
        lines[1] = lines[1][: lines[1].rfind(",")] + ",9"                        # total != sum
        gone = lines.pop(6)                                                     # an image without scores
        (copy / "spfes_scores.csv").write_text("\n".join(lines) + "\n")
        (copy / "dlc/labeled-data/ram01_pen/extra.png").write_bytes((copy / "dlc/labeled-data/ram01_pen/img000.png").read_bytes())
        log = ErrorLog()
        seqs = sheep.read_sheep(copy, log=log)
        text = "\n".join(log.errors)
        assert "images/train/ewe02_001.png: image has no YOLO label file" in text
        assert "labels/train/ewe03_002.txt: line 1 has 86 values, expected 89" in text
        assert "spfes_scores.csv:2: total '9' is not the sum of the five units" in text
        assert f"{gone.split(',')[0]}: no SPFES scores" in text
        assert "ram01_pen/extra.png: image has no labels in CollectedData_annotator.csv" in text
        assert "labels/val/ewe04_003.txt: line 1: 'zero' is not a number" in text
        assert len(log.errors) == 6
        assert len(seqs) == 18 - 4  # the other images still load
        assert sum(s.labels["score"][0] == sum(s.labels[u][0] for u in SPFES_UNITS) for s in seqs) == len(seqs)

    def test_wrong_keypoint_count_in_yaml(self, copy):
        y = copy / "data.yaml"
        y.write_text(y.read_text().replace("- 28", "- 27", 1))
        shutil.rmtree(copy / "dlc")
        with pytest.raises(InputError, match="data.yaml"):
            sheep.read_sheep(copy)

    def test_split_leak_warning(self, copy):
        for ext, d in (("png", "images"), ("txt", "labels")):
            shutil.move(copy / f"{d}/val/ewe04_001.{ext}", copy / f"{d}/train/ewe04_001.{ext}")
        lines = (copy / "spfes_scores.csv").read_text().replace("images/val/ewe04_001", "images/train/ewe04_001")
        (copy / "spfes_scores.csv").write_text(lines)
        log = ErrorLog()
        sheep.read_sheep(copy, log=log)
        assert log.errors == [] and any("ewe04" in w and "more than one YOLO split" in w for w in log.warnings)

    def test_not_a_sheep_folder(self, tmp_path):
        (tmp_path / "spfes_scores.csv").write_text("image,animal_id," + ",".join(SPFES_UNITS) + "\n")
        with pytest.raises(InputError, match="no data.yaml"):
            sheep.read_sheep(tmp_path)


class TestAnimalSplit:
    def test_disjoint(self):
        animals = [f"a{i}" for i in range(10)]
        train, test = sheep.animal_split(np.repeat(animals, 3), test_fraction=0.3, seed=1)
        assert len(test) == 3 and not set(train) & set(test) and sorted(train + test) == animals

    def test_too_few(self):
        with pytest.raises(GeopainError, match="at least 2 animals"):
            sheep.animal_split(["a", "a"])


class TestPrepareSheep:
    def test_protocols(self, root, tmp_path):
        res = prepare("sheep", root, tmp_path / "s.parquet", threshold=3, progress=False)
        frame, meta = read_frame(res.path)
        assert res.errors == [] and res.n_subjects == 6 and meta["dataset"] == "sheep"
        np.testing.assert_array_equal(frame["pain"], (frame["score"] > 3).astype(float))
        assert set(SPFES_UNITS) <= set(frame.columns)
        loao = protocol_folds("loao", frame["subject"], meta)
        assert sorted(f.test_subjects for f in loao) == [(a,) for a in sorted(frame["subject"].unique())]
        k = protocol_folds("animal_kfold5", frame["subject"], meta)
        assert len(k) == 5 and sorted(a for f in k for a in f.test_subjects) == sorted(frame["subject"].unique())
        assert not (tmp_path / "s.parquet.parts").exists()
        (fold,) = protocol_folds("animal_holdout", frame["subject"], meta)
        train, test = fold.train_subjects, fold.test_subjects
        assert len(test) == 1 and not set(train) & set(test) and len(train) == 5

    def test_few_animals_lower_k(self, tmp_path):
        r = make_sheep(tmp_path / "small", animals=3, images_per_animal=2, dlc=False)
        res = prepare("sheep", r, tmp_path / "s.parquet", progress=False)
        assert res.protocols["animal_kfold5"]["k"] == 3
