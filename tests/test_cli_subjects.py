"""Who is who: ``--subject-from folder|file|face-track|column`` in extract, predict and tables."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from geopain.errors import GeopainError, InputError
from geopain.extract import assign_subjects, collect_inputs, extract, read_table_subjects
from geopain.io.tables import read_frame, read_table, write_table
from geopain.landmarks import LandmarkSequence

from _detectors_helpers import photo, ultralytics_asset


def _blank(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)


class TestAssignSubjects:
    """No detector: how file names become subjects."""

    @pytest.fixture()
    def tree(self, tmp_path):
        for name in ("people/ann.png", "people/bob.ppm", "people/trip/cat.jpg"):
            _blank(tmp_path / name)
        return tmp_path / "people"

    def subjects(self, items):
        return {n: (s, it.per_face) for it in items for n, s in zip(it.names, it.subjects)}

    def test_folder_is_the_default(self, tree):
        items, errors = collect_inputs([tree])
        assert errors == []
        assert self.subjects(items) == {"ann.png": ("people", False), "bob.ppm": ("people", False),
                                        "trip/cat.jpg": ("trip", False)}

    def test_file_each_its_own_subject(self, tree):
        items, _ = collect_inputs([tree], subject_from="file")
        assert self.subjects(items) == {"ann.png": ("ann", False), "bob.ppm": ("bob", False),
                                        "trip/cat.jpg": ("trip/cat", False)}

    def test_face_track_marks_items(self, tree):
        items, _ = collect_inputs([tree], subject_from="face-track")
        assert self.subjects(items)["trip/cat.jpg"] == ("trip/cat", True)
        assert items[0].subject(0, 3).endswith("#face3")

    def test_file_subjects_never_merge_two_files(self, tmp_path):
        _blank(tmp_path / "a" / "x.png")
        _blank(tmp_path / "a" / "x.jpg")
        _blank(tmp_path / "b" / "x.png")
        items, _ = collect_inputs([tmp_path / "a", tmp_path / "b"], subject_from="file")
        subjects = [s for it in items for s in it.subjects]
        assert len(subjects) == 3 and len(set(subjects)) == 3
        assert "x.jpg" in subjects  # a.png/a.jpg clash: the extension stays
        # the same file reached twice is still one subject
        assert assign_subjects(["x.png", "x.png"], "file", paths=["d/x.png", "d/x.png"]) == ["x", "x"]

    def test_column_is_for_tables(self, tree):
        with pytest.raises(GeopainError, match="column.*table") as exc:
            collect_inputs([tree], subject_from="column")
        assert "\n" not in str(exc.value)
        with pytest.raises(GeopainError, match="subject_from must be one of"):
            assign_subjects(["a.png"], "person")

    def test_cli_column_on_images_is_one_line(self, tree, tmp_path, capsys):
        from geopain.cli import main

        rc = main(["extract", str(tree), "--subject-from", "column", "--quiet", "-o", str(tmp_path / "o.parquet")])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and "--subject-from column" in err[0] and "Traceback" not in err[0]
        assert not (tmp_path / "o.parquet").exists()

    def test_subject_setting_is_part_of_the_item_key(self, tree):
        by_folder, _ = collect_inputs([tree])
        by_file, _ = collect_inputs([tree], subject_from="file")
        assert {it.key for it in by_folder}.isdisjoint({it.key for it in by_file})


class TestTableSubjects:
    @pytest.fixture()
    def table(self, tmp_path, human):
        rng = np.random.default_rng(0)
        seqs = []
        for subject, sequence, person, n_faces in (("photos", "ann.png", "p1", 1), ("photos", "trip/bob.jpg", "p2", 2),
                                                   ("clips", "ann.png", "p1", 1)):
            for fid in range(n_faces):
                seqs.append(LandmarkSequence(rng.normal(size=(3, human.n_points, 3)), human.key, subject=subject,
                                             sequence=sequence, face_id=fid, fps=25.0, source=f"/data/{sequence}"))
        path = write_table(seqs, tmp_path / "t.parquet")
        frame, meta = read_frame(path)
        frame["person"] = frame["sequence"].map({"ann.png": "p1", "trip/bob.jpg": "p2"})
        return write_table(frame, tmp_path / "t2.parquet", meta=meta)

    def test_column_default_keeps_the_table(self, table):
        assert sorted({s.subject for s in read_table_subjects(table)}) == ["clips", "photos"]

    def test_named_column(self, table):
        seqs = read_table_subjects(table, "column", "person")
        # ann.png of table subjects photos and clips: one person, still two recordings
        assert sorted((s.subject, s.sequence, s.face_id, s.n_frames) for s in seqs) == [
            ("p1", "clips/ann.png", 0, 3), ("p1", "photos/ann.png", 0, 3),
            ("p2", "trip/bob.jpg", 0, 3), ("p2", "trip/bob.jpg", 1, 3)]
        assert all(s.fps == 25.0 and s.source.startswith("/data/") for s in seqs)  # metadata kept
        with pytest.raises(InputError, match="no column 'who'"):
            read_table_subjects(table, "column", "who")

    def test_file_and_face_track_from_sequence_ids(self, table):
        by_file = {(s.subject, s.face_id) for s in read_table_subjects(table, "file")}
        # ann.png of two different table subjects must not become one person
        assert by_file == {("photos/ann", 0), ("clips/ann", 0), ("trip/bob", 0), ("trip/bob", 1)}
        tracks = sorted(s.subject for s in read_table_subjects(table, "face-track"))
        assert tracks == ["clips/ann#face0", "photos/ann#face0", "trip/bob#face0", "trip/bob#face1"]
        folders = sorted({s.subject for s in read_table_subjects(table, "folder")})
        assert folders == ["clips", "photos", "trip"]


@pytest.mark.detector
class TestExtractSubjects:
    """MediaPipe on real photos: astronaut (skimage), bus (two faces) and zidane (ultralytics)."""

    @pytest.fixture(scope="class")
    def photos(self, tmp_path_factory):
        pytest.importorskip("mediapipe")
        d = tmp_path_factory.mktemp("in") / "photos"
        d.mkdir()
        Image.fromarray(photo("astronaut")).save(d / "astronaut.ppm")
        shutil.copy(ultralytics_asset("bus.jpg"), d / "bus.jpg")
        (d / "match").mkdir()
        shutil.copy(ultralytics_asset("zidane.jpg"), d / "match" / "zidane.jpg")
        return d

    def rows(self, path):
        df, meta = read_frame(path)
        return sorted(set(zip(df["sequence"], df["face_id"], df["subject"]))), meta

    def test_folder_file_face_track(self, photos, tmp_path):
        res = extract([photos], output=tmp_path / "folder.parquet", progress=False, keep_parts=True)
        rows, meta = self.rows(res.path)
        assert rows == [("astronaut.ppm", 0, "photos"), ("bus.jpg", 0, "photos"), ("bus.jpg", 1, "photos"),
                        ("match/zidane.jpg", 0, "match")]
        assert meta["extraction"]["subject_from"] == "folder"
        # the same output, another setting: the table is not replaced without overwrite=True, and
        # the old parts are refused, never silently reused
        with pytest.raises(GeopainError, match="exists .*overwrite"):
            extract([photos], output=tmp_path / "folder.parquet", progress=False, subject_from="file")
        with pytest.raises(GeopainError, match="other settings"):
            extract([photos], output=tmp_path / "folder.parquet", progress=False, subject_from="file", overwrite=True)

        res = extract([photos], output=tmp_path / "file.parquet", progress=False, subject_from="file")
        rows, meta = self.rows(res.path)
        assert rows == [("astronaut.ppm", 0, "astronaut"), ("bus.jpg", 0, "bus"), ("bus.jpg", 1, "bus"),
                        ("match/zidane.jpg", 0, "match/zidane")]
        assert meta["extraction"]["subject_from"] == "file"

        res = extract([photos], output=tmp_path / "tracks.parquet", progress=False, subject_from="face-track")
        rows, _ = self.rows(res.path)
        assert rows == [("astronaut.ppm", 0, "astronaut#face0"), ("bus.jpg", 0, "bus#face0"),
                        ("bus.jpg", 1, "bus#face1"), ("match/zidane.jpg", 0, "match/zidane#face0")]
        assert {s.subject for s in read_table(res.path)} == {r[2] for r in rows}

    def test_video_face_tracks(self, tmp_path):
        from _detectors_helpers import write_video

        pytest.importorskip("mediapipe")
        write_video(tmp_path / "clip.mp4", n=3)
        res = extract([tmp_path / "clip.mp4"], output=tmp_path / "v.parquet", progress=False, subject_from="face-track")
        df, _ = read_frame(res.path)
        assert len(df) == 3 and set(df["subject"]) == {"clip#face0"}

    def test_cli_flag(self, photos, tmp_path, capsys):
        from geopain.cli import main

        rc = main(["extract", str(photos / "match"), "--subject-from", "file", "--quiet", "-o", str(tmp_path / "o.parquet")])
        assert rc == 0, capsys.readouterr().err
        assert set(read_frame(tmp_path / "o.parquet")[0]["subject"]) == {"zidane"}
