"""The extraction pipeline: images, folders, videos, bad inputs, resume, CLI, Ray."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import geopain.extract as ex
from geopain.errors import GeopainError
from geopain.extract import IoUTracker, box_iou, collect_inputs, extract
from geopain.io.tables import read_frame, read_table

from _detectors_helpers import photo, write_video


class TestBoxIoU:
    def test_values(self):
        a = np.array([[0, 0, 2, 2]])
        b = np.array([[0, 0, 2, 2], [1, 1, 3, 3], [5, 5, 6, 6]])
        assert box_iou(a, b)[0] == pytest.approx([1.0, 1 / 7, 0.0])


class TestIoUTracker:
    def test_keeps_ids_and_starts_new(self):
        t = IoUTracker()
        assert t.update([[100, 0, 120, 20], [0, 0, 20, 20]]) == [1, 0]  # ids left to right
        assert t.update([[2, 1, 22, 21], [101, 0, 121, 20]]) == [0, 1]
        assert t.update(np.zeros((0, 4))) == []
        assert t.update([[300, 300, 320, 320]]) == [2]


class TestCollectInputs:
    def test_folders_recursive_and_unknown(self, tmp_path):
        (tmp_path / "s1").mkdir()
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "s1" / "a.png")
        (tmp_path / "notes.txt").write_text("x")
        items, errors = collect_inputs([tmp_path, tmp_path / "notes.txt", tmp_path / "missing"])
        assert len(items) == 1 and items[0].names == ("s1/a.png",) and items[0].subjects == ("s1",)
        assert len(errors) == 2 and "unsupported format" in errors[0] and "no such file" in errors[1]


@pytest.mark.detector
class TestExtract:
    def test_video_frames_ids_timestamps(self, tmp_path):
        crops = write_video(tmp_path / "clip.mp4", n=12, fps=8)
        res = extract([tmp_path / "clip.mp4"], output=tmp_path / "out.parquet", stride=2, progress=False)
        df, meta = read_frame(res.path)
        assert res.errors == [] and res.n_frames == 6
        assert df["frame"].tolist() == [0, 2, 4, 6, 8, 10]
        assert df["timestamp"].to_numpy() == pytest.approx(np.array([0, 2, 4, 6, 8, 10]) / 8)
        assert set(df["face_id"]) == {0} and (df["scheme"] == "human/mediapipe468").all()
        seq = read_table(res.path)[0]
        assert seq.fps == pytest.approx(8) and seq.face_found.all()
        # the face moves the way the crop does: in the video, x of the face centre (in source
        # pixels mapped back through each crop) stays on the astronaut's face
        cx = np.nanmean(seq.coords[:, :, 0], 1)
        for row, f in enumerate(seq.frames):
            x0, _, side = crops[f]
            src_x = x0 + cx[row] * side / 192
            assert 180 < src_x < 280
        assert not (tmp_path / "out.parquet.parts").exists()

    def test_release_detectors_closes_and_reloads(self, tmp_path):
        write_video(tmp_path / "clip.mp4", n=4)
        ex.release_detectors()  # detectors earlier tests left loaded (other kinds) are closed too
        assert ex.loaded_detectors() == []
        first = extract([tmp_path / "clip.mp4"], output=tmp_path / "a.parquet", progress=False)
        kept = ex.loaded_detectors()
        assert kept, "extract keeps its detector loaded for the next run"
        ex.release_detectors()
        assert ex.loaded_detectors() == [] and all(d._face is None and d._mesh is None for d in kept)
        again = extract([tmp_path / "clip.mp4"], output=tmp_path / "b.parquet", progress=False)
        assert again.n_frames == first.n_frames == 4
        np.testing.assert_array_equal(read_table(again.path)[0].coords, read_table(first.path)[0].coords)

    def test_frames_without_a_face_are_nulls(self, tmp_path):
        import cv2
        import pyarrow.parquet as pq

        face = cv2.resize(photo("astronaut")[0:320, 60:380], (192, 192))[..., ::-1]
        w = cv2.VideoWriter(str(tmp_path / "gap.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (192, 192))
        for i in range(6):  # frames 2 and 3 are blank
            w.write(np.ascontiguousarray(face if i not in (2, 3) else np.zeros_like(face)))
        w.release()
        res = extract([tmp_path / "gap.mp4"], output=tmp_path / "gap.parquet", progress=False)
        table = pq.read_table(res.path)
        for name in ("x_0", "y_100", "z_467"):
            col = table.column(name)
            assert col.null_count == 2 and col.is_null().to_pylist() == [False, False, True, True, False, False]
            assert not np.isnan(np.asarray(col.drop_null())).any()
        assert read_table(res.path)[0].face_found.tolist() == [True, True, False, False, True, True]

    def test_two_faces_tracked(self, tmp_path):
        import cv2

        a = cv2.resize(photo("astronaut")[40:240, 120:320], (160, 160))
        canvas = np.full((200, 420, 3), 255, np.uint8)
        w = cv2.VideoWriter(str(tmp_path / "two.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 5, (420, 200))
        for i in range(5):
            c = canvas.copy()
            c[20:180, 10 + 4 * i:170 + 4 * i] = a
            c[20:180, 250 - 4 * i:410 - 4 * i] = a[:, ::-1]
            w.write(np.ascontiguousarray(c[..., ::-1]))
        w.release()
        res = extract([tmp_path / "two.mp4"], output=tmp_path / "o.parquet", scheme="human/ibug68", progress=False)
        seqs = read_table(res.path)
        assert sorted(s.face_id for s in seqs) == [0, 1] and all(s.n_frames == 5 for s in seqs)
        left, right = sorted(seqs, key=lambda s: s.face_id)
        assert (np.nanmean(left.coords[..., 0], 1) < np.nanmean(right.coords[..., 0], 1)).all()
        assert left.scheme == "human/ibug68" and left.coords.shape == (5, 68, 3)

    def test_bad_inputs_never_crash_the_batch(self, tmp_path):
        d = tmp_path / "in"
        d.mkdir()
        Image.fromarray(photo("astronaut")).save(d / "face.jpg")
        (d / "empty.jpg").write_bytes(b"")
        (d / "text.jpg").write_text("plain text")
        Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(d / "noface.png")
        Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(d / "tiny.png")
        write_video(d / "v.mp4", n=6)
        data = (d / "v.mp4").read_bytes()
        (d / "cut.mp4").write_bytes(data[: len(data) // 2])
        res = extract([d], output=tmp_path / "out.parquet", progress=False)
        df, _ = read_frame(res.path)
        by = {s: g for s, g in df.groupby("sequence")}
        assert set(by) == {"face.jpg", "noface.png", "tiny.png", "v.mp4"}
        assert np.isfinite(by["face.jpg"]["x_0"]).all()
        assert by["noface.png"]["x_0"].isna().all() and by["tiny.png"]["x_0"].isna().all()
        assert len(by["v.mp4"]) == 6
        joined = "\n".join(res.errors)
        assert len(res.errors) == 3
        assert "empty.jpg: empty file" in joined and "text.jpg: not an image" in joined and "cut.mp4: cannot open video" in joined
        assert res.error_log.read_text().count("\n") == 3

    def test_resume_after_interrupt(self, tmp_path, monkeypatch):
        d = tmp_path / "in"
        d.mkdir()
        for i in range(3):
            Image.fromarray(photo("astronaut")[:, i * 10:]).save(d / f"img{i}.png")
        monkeypatch.setattr(ex, "IMAGE_CHUNK", 1)
        monkeypatch.setattr(ex.collect_inputs, "__defaults__", (1,))
        real = ex._run_item
        calls = []

        def flaky(*a, **k):
            if len(calls) == 2:
                raise KeyboardInterrupt
            calls.append(1)
            return real(*a, **k)

        monkeypatch.setattr(ex, "_run_item", flaky)
        out = tmp_path / "out.parquet"
        with pytest.raises(KeyboardInterrupt):
            extract([d], output=out, progress=False)
        assert not out.exists() and len(list((tmp_path / "out.parquet.parts").glob("*.arrow"))) == 2
        monkeypatch.setattr(ex, "_run_item", real)
        res = extract([d], output=out, progress=False)
        assert res.n_resumed == 2 and res.n_frames == 3
        df, _ = read_frame(out)
        assert sorted(df["sequence"]) == ["img0.png", "img1.png", "img2.png"]
        with pytest.raises(GeopainError, match="unknown detector"):
            extract([d], output=out, detector="nope", progress=False)

    def test_settings_mismatch_refuses_resume(self, tmp_path):
        parts = tmp_path / "o.parquet.parts"
        parts.mkdir()
        (parts / "manifest.json").write_text('{"detector": "other"}')
        Image.fromarray(photo("astronaut")).save(tmp_path / "a.png")
        with pytest.raises(GeopainError, match="other settings"):
            extract([tmp_path / "a.png"], output=tmp_path / "o.parquet", progress=False)
        res = extract([tmp_path / "a.png"], output=tmp_path / "o.parquet", progress=False, resume=False)
        assert res.n_frames == 1

    def test_cli(self, tmp_path, capsys):
        from geopain.cli import main

        Image.fromarray(photo("astronaut")).save(tmp_path / "a.png")
        (tmp_path / "b.jpg").write_text("nope")
        rc = main(["extract", str(tmp_path / "a.png"), str(tmp_path / "b.jpg"), "--scheme", "human/ibug68",
                   "--quiet", "-o", str(tmp_path / "o.parquet")])
        out = capsys.readouterr()
        assert rc == 1 and "b.jpg: not an image" in out.err and "wrote" in out.out
        assert read_table(tmp_path / "o.parquet")[0].scheme == "human/ibug68"
        rc = main(["extract", str(tmp_path / "a.png"), "--species", "sheep", "--detector", "mediapipe", "-o", str(tmp_path / "x.parquet")])
        assert rc == 2 and "not sheep" in capsys.readouterr().err

    def test_ray_local(self, tmp_path):
        pytest.importorskip("ray")
        write_video(tmp_path / "v.mp4", n=4)
        Image.fromarray(photo("astronaut")).save(tmp_path / "a.png")
        res = extract([tmp_path], output=tmp_path / "o.parquet", ray_address="local", ray_num_cpus=1, progress=False)
        df, _ = read_frame(res.path)
        assert res.n_frames == 5 and len(df) == 5 and res.errors == []
        assert sorted(df["sequence"].unique()) == ["a.png", "v.mp4"]
