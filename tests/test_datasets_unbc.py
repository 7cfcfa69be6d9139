"""UNBC-McMaster reader on a generated copy of the archive's layout (the archive itself is licensed)."""
import shutil
import sys

import numpy as np
import pytest

from geopain.datasets import prepare
from geopain.evaluation.splits import protocol_folds
from geopain.datasets import unbc
from geopain.datasets._common import ErrorLog
from geopain.datasets.fixtures import make_unbc
from geopain.errors import GeopainError, InputError
from geopain.io.tables import read_frame, read_table
from geopain.species import get_species_scale

SEQ = "ll042t1aaaff"
REL = f"042-ll042/{SEQ}"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_unbc(tmp_path_factory.mktemp("unbc") / "UNBC")


@pytest.fixture()
def copy(root, tmp_path):
    return shutil.copytree(root, tmp_path / "UNBC")


class TestReadAam:
    def test_smoke(self, root):
        xy = unbc.read_aam(root / "AAM_landmarks" / REL / f"{SEQ}001_aam.txt")
        assert xy.shape == (66, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()

    def test_65_lines(self, copy):
        f = copy / "AAM_landmarks" / REL / f"{SEQ}002_aam.txt"
        f.write_text("".join(f.read_text().splitlines(keepends=True)[:65]))
        with pytest.raises(InputError, match=r"_aam\.txt: expected 66 lines of 'x y', found 65"):
            unbc.read_aam(f)

    def test_text_line(self, copy):
        f = copy / "AAM_landmarks" / REL / f"{SEQ}002_aam.txt"
        lines = f.read_text().splitlines()
        lines[3] = "abc def"
        f.write_text("\n".join(lines))
        with pytest.raises(InputError, match="line 4 is not 'x y'"):
            unbc.read_aam(f)


class TestReadFacs:
    def test_empty_file_means_no_au(self, root):
        # every third frame of the fixture has no coded AU
        assert (root / "Frame_Labels/FACS" / REL / f"{SEQ}003_facs.txt").read_text() == ""
        assert unbc.read_facs(root / "Frame_Labels/FACS" / REL / f"{SEQ}003_facs.txt") == {}

    def test_values(self, tmp_path):
        f = tmp_path / "x_facs.txt"
        f.write_text("   4.0000000e+00   3.0000000e+00   0.0000000e+00   0.0000000e+00\n"
                     "   4.3000000e+01   1.0000000e+00   0.0000000e+00   0.0000000e+00\n")
        assert unbc.read_facs(f) == {"AU4": 3.0, "AU43": 1.0}

    def test_bad(self, tmp_path):
        f = tmp_path / "x_facs.txt"
        f.write_text("four three\n")
        with pytest.raises(InputError, match="x_facs.txt: line 1"):
            unbc.read_facs(f)


class TestReadUnbc:
    def test_join_and_labels(self, root):
        log = ErrorLog()
        seqs = unbc.read_unbc(root, log=log)
        assert log.errors == [] and log.warnings == []
        assert len(seqs) == 6 and sum(s.n_frames for s in seqs) == 36
        s = next(q for q in seqs if q.sequence == SEQ)
        assert s.scheme == "human/ibug66" and s.units == "px" and s.dims == 2 and s.subject == "042-ll042"
        np.testing.assert_array_equal(s.frames, np.arange(1, 7))
        # coordinates are the file's, PSPI is the PSPI file's
        np.testing.assert_allclose(s.coords[1, :, :2], unbc.read_aam(root / "AAM_landmarks" / REL / f"{SEQ}002_aam.txt"))
        pspi = [float((root / "Frame_Labels/PSPI" / REL / f"{SEQ}{i:03d}_facs.txt").read_text()) for i in range(1, 7)]
        np.testing.assert_array_equal(s.labels["score"], pspi)
        # AU labels in the species' PSPI units, and they reproduce PSPI; empty FACS -> zeros
        scale = get_species_scale("human")
        assert set(scale.units) <= set(s.labels)
        np.testing.assert_array_equal(scale.total_score({u: s.labels[u] for u in scale.units}), s.labels["score"])
        assert all(s.labels[u][2] == 0 for u in scale.units) and s.labels["score"][2] == 0
        np.testing.assert_array_equal(s.labels["pain"], (np.array(pspi) > 0).astype(float))
        np.testing.assert_array_equal(s.labels["level"], scale.level(pspi))
        vas = float((root / "Sequence_Labels/VAS/042-ll042" / f"{SEQ}.txt").read_text())
        assert s.sequence_labels["VAS"] == vas and set(s.sequence_labels) == {"VAS", "OPR", "AFF", "SEN"}

    def test_level_cut_offs(self):
        # documented bins: 0 | 1-2 | 3-4 | 5-6 | 7-16
        lv = get_species_scale("human").level([0, 1, 2, 3, 4, 5, 6, 7, 15, 16])
        np.testing.assert_array_equal(lv, [0, 1, 1, 2, 2, 3, 3, 4, 4, 4])

    def test_threshold(self, root):
        s = unbc.read_subject(root, "043-jh043", threshold=2)[0]
        np.testing.assert_array_equal(s.labels["pain"], (s.labels["score"] > 2).astype(float))

    def test_not_unbc(self, tmp_path):
        with pytest.raises(InputError, match="no AAM_landmarks/ folder"):
            unbc.find_subjects(tmp_path)


class TestPrepareUnbc:
    def test_table_and_protocols(self, root, tmp_path):
        res = prepare("unbc", root, tmp_path / "u.parquet", progress=False)
        assert (res.n_frames, res.n_sequences, res.n_subjects) == (36, 6, 3) and res.errors == []
        frame, meta = read_frame(res.path)
        assert meta["dataset"] == "unbc"
        assert meta["protocols"]["loso"]["kind"] == "loso"
        assert meta["protocols"]["kfold5"] == {**meta["protocols"]["kfold5"], "kind": "kfold", "k": 5}
        assert {"AU4", "AU6", "AU7", "AU9", "AU10", "AU43", "pain", "level", "score"} <= set(frame.columns)
        assert not (tmp_path / "u.parquet.parts").exists()
        folds = protocol_folds("loso", frame["subject"], meta)
        assert sorted(f.test_subjects for f in folds) == [(s,) for s in sorted(frame["subject"].unique())]
        assert all(s not in f.train_subjects for f in folds for s in f.test_subjects)

    def test_kfold_partition(self):
        subjects = list(unbc.SUBJECTS)
        folds = protocol_folds("kfold5", subjects, {"protocols": unbc.PROTOCOLS})
        tests = [s for f in folds for s in f.test_subjects]
        assert len(folds) == 5 and sorted(tests) == sorted(subjects) and {len(f.test_subjects) for f in folds} == {5}

    def test_broken_copy(self, copy, tmp_path):
        d = lambda kind: copy / kind / REL  # noqa: E731
        (d("Frame_Labels/PSPI") / f"{SEQ}001_facs.txt").unlink()                       # missing file
        (d("Frame_Labels/PSPI") / f"{SEQ}002_facs.txt").write_text("PSPI: two\n")       # text in a PSPI file
        aam = d("AAM_landmarks") / f"{SEQ}004_aam.txt"
        aam.write_text("".join(aam.read_text().splitlines(keepends=True)[:65]))         # 65 lines
        (copy / "Sequence_Labels/VAS/042-ll042" / f"{SEQ}.txt").unlink()
        res = prepare("unbc", copy, tmp_path / "u.parquet", progress=False)
        errors = "\n".join(res.errors)
        assert f"{SEQ}001_facs.txt: missing file" in errors
        assert f"{SEQ}002_facs.txt: expected one number, found 'PSPI: two'" in errors
        assert f"{SEQ}004_aam.txt: expected 66 lines of 'x y', found 65" in errors
        assert f"VAS/042-ll042/{SEQ}.txt: missing file" in errors
        assert len(res.errors) == 4
        assert res.error_log.read_text().splitlines() == res.errors
        assert res.n_frames == 36  # everything else still loads
        s = next(q for q in read_table(res.path) if q.sequence == SEQ)
        assert np.isnan(s.labels["score"][:2]).all() and np.isfinite(s.labels["score"][2:]).all()
        assert not s.face_found[3] and s.face_found[[0, 1, 2, 4, 5]].all()
        assert "VAS" not in s.sequence_labels and "OPR" in s.sequence_labels

    def test_missing_label_folder(self, copy, tmp_path):
        shutil.rmtree(copy / "Frame_Labels/FACS")
        res = prepare("unbc", copy, tmp_path / "u.parquet", progress=False)
        assert len(res.errors) == 1 and res.errors[0].endswith("Frame_Labels/FACS: folder missing: these labels "
                                                               "are left out for every frame / sequence")
        frame, _ = read_frame(res.path)
        assert "AU4" not in frame and frame["score"].notna().all() and len(frame) == 36

    def test_pspi_disagreeing_with_facs_is_a_warning(self, copy, tmp_path):
        (copy / "Frame_Labels/PSPI" / REL / f"{SEQ}003_facs.txt").write_text("   5.0000000e+00\n")  # FACS file is empty
        res = prepare("unbc", copy, tmp_path / "u.parquet", progress=False)
        assert res.errors == [] and len(res.warnings) == 1
        assert f"PSPI/{REL}: 1 of 6 frames have a PSPI that differs" in res.warnings[0]
        s = next(q for q in read_table(res.path) if q.sequence == SEQ)
        assert s.labels["score"][2] == 5 and s.labels["pain"][2] == 1  # the file's value is used

    def test_resume_per_subject(self, root, tmp_path, monkeypatch):
        calls, interrupted = [], []
        real = unbc.read_subject

        def flaky(r, subject, *a, **k):
            calls.append(subject)
            if subject == "047-jl047" and not interrupted:
                interrupted.append(subject)
                raise KeyboardInterrupt
            return real(r, subject, *a, **k)

        monkeypatch.setattr(unbc, "read_subject", flaky)
        with pytest.raises(KeyboardInterrupt):
            prepare("unbc", root, tmp_path / "u.parquet", progress=False)
        assert (tmp_path / "u.parquet.parts").is_dir() and not (tmp_path / "u.parquet").exists()
        calls.clear()
        res = prepare("unbc", root, tmp_path / "u.parquet", progress=False)
        assert calls == ["047-jl047"] and res.n_frames == 36  # the two finished subjects were not re-read

    def test_settings_change_restarts(self, root, tmp_path, monkeypatch):
        with pytest.raises(KeyboardInterrupt):
            monkeypatch.setattr(unbc, "read_subject", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
            prepare("unbc", root, tmp_path / "u.parquet", progress=False)
        monkeypatch.undo()
        res = prepare("unbc", root, tmp_path / "u.parquet", threshold=3, progress=False)
        s = read_table(res.path)[0]
        np.testing.assert_array_equal(s.labels["pain"], (s.labels["score"] > 3).astype(float))

    def test_unknown_option(self, root, tmp_path):
        with pytest.raises(GeopainError, match="takes no option biosignals"):
            prepare("unbc", root, tmp_path / "u.parquet", biosignals="raw")


class TestRedetect:
    def test_without_extract_module(self, tmp_path, monkeypatch):
        r = make_unbc(tmp_path / "U", subjects=("042-ll042",), sequences=1, frames=2, images=True)
        monkeypatch.setitem(sys.modules, "geopain.extract", None)
        with pytest.raises(GeopainError, match="needs geopain.extract"):
            unbc.read_subject(r, "042-ll042", detector="mediapipe")

    def test_mediapipe_on_images(self, tmp_path):
        import geopain.extract  # noqa: F401  (geopain itself: never skipped)
        pytest.importorskip("mediapipe")
        r = make_unbc(tmp_path / "U", subjects=("042-ll042",), sequences=1, frames=3, images=True)
        res = prepare("unbc", r, tmp_path / "u.parquet", detector="mediapipe", progress=False)
        s = read_table(res.path)[0]
        assert s.scheme == "human/mediapipe468" and s.detector == "mediapipe"
        assert s.face_found.all() and np.isfinite(s.labels["score"]).all()
