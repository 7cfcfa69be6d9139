"""Extraction in a pool of worker processes (geopain.extract.extract(workers=N), --workers)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import geopain.extract as ex
from geopain.errors import GeopainError
from geopain.extract import extract
from geopain.parallel import resolve_workers
from geopain.io.tables import read_frame, read_meta

from _detectors_helpers import photo, write_video


def inputs(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    write_video(d / "v1.mp4", n=4)
    for i in range(2):
        Image.fromarray(photo("astronaut")[:, i * 12:]).save(d / f"img{i}.png")
    (d / "bad.jpg").write_text("not an image")
    return d


class TestResolveWorkers:
    def test_values(self):
        assert resolve_workers(3) == 3 and resolve_workers(None) >= 1 and resolve_workers(0) == resolve_workers(None)
        with pytest.raises(GeopainError, match="workers"):
            resolve_workers(-1)


@pytest.mark.detector
class TestWorkerPool:
    def test_same_table_row_for_row(self, tmp_path, monkeypatch):
        d = inputs(tmp_path)
        monkeypatch.setattr(ex.collect_inputs, "__defaults__", (1,))  # one image per item: more items than workers
        one = extract([d], output=tmp_path / "one.parquet", workers=1, progress=False)
        pool = extract([d], output=tmp_path / "pool.parquet", workers=3, progress=False, keep_parts=True)
        a, meta_a = read_frame(one.path)
        b, meta_b = read_frame(pool.path)
        assert len(a) == 4 + 2 and one.n_frames == pool.n_frames
        pd.testing.assert_frame_equal(a, b)  # same rows, same order, same values
        assert sorted(one.errors) == sorted(pool.errors) and any("bad.jpg" in e for e in pool.errors)
        assert read_meta(one.path)["sequences"] == read_meta(pool.path)["sequences"]
        # resumable in the pool: every item with a part is reused, the failed one (bad.jpg) tried again
        again = extract([d], output=tmp_path / "pool.parquet", workers=3, progress=False)
        assert again.n_resumed == pool.n_items - 1
        pd.testing.assert_frame_equal(read_frame(again.path)[0], b)



class TestWorkersFlag:
    @pytest.mark.parametrize("command", ["extract", "predict"])
    def test_parsed(self, command):
        from geopain.cli import build_parser

        args = ["extract", "x.png", "-o", "o.parquet"] if command == "extract" else ["predict", "m", "x.png", "-o", "o"]
        parser = build_parser(command)
        assert parser.parse_args(args).workers == 0  # default: one per core
        assert parser.parse_args(args + ["--workers", "3"]).workers == 3


class TestIterVideoRange:
    def test_start_stop_stride(self, tmp_path):
        from geopain.media import iter_video

        write_video(tmp_path / "v.mp4", n=20)
        assert [i for i, _, _ in iter_video(tmp_path / "v.mp4", stride=3, start=6, stop=14)] == [6, 9, 12]
        assert [i for i, _, _ in iter_video(tmp_path / "v.mp4", start=15)] == [15, 16, 17, 18, 19]

    def test_stop_past_the_end_is_truncation(self, tmp_path, monkeypatch):
        import geopain.media as media
        from geopain.errors import InputError

        write_video(tmp_path / "v.mp4", n=10)
        assert len(list(media.iter_video(tmp_path / "v.mp4", stop=5))) == 5  # a chunk that ends early is whole
        cv2, opener = media._cv2(), media._open

        class Declares40:  # a container that declares 40 frames for a stream of 10
            def __init__(self, cap):
                self.cap = cap

            def get(self, prop):
                return 40 if prop == cv2.CAP_PROP_FRAME_COUNT else self.cap.get(prop)

            def __getattr__(self, name):
                return getattr(self.cap, name)

        monkeypatch.setattr(media, "_open", lambda p: Declares40(opener(p)))
        assert len(list(media.iter_video(tmp_path / "v.mp4", stop=8))) == 8
        with pytest.raises(InputError, match="truncated"):
            list(media.iter_video(tmp_path / "v.mp4", start=5, stop=30))


class TestVideoChunkPlan:
    def test_chunks_cover_the_video_once(self):
        item = ex.WorkItem("video", ("v.mp4",), ("v.mp4",), ("s",))
        chunks = item.chunks(100, 40)
        assert [(c.start, c.stop) for c in chunks] == [(0, 40), (40, 80), (80, None)]
        assert all(c.is_chunk for c in chunks) and not item.is_chunk
        assert len({c.key for c in chunks} | {item.key}) == 4 and all(c.key.startswith("chunk-") for c in chunks)

    def test_chunk_size(self):
        assert ex._chunk_size(10_000, 50, 2, 1, None) == ex.VIDEO_CHUNK  # many items: long videos still bounded
        assert ex._chunk_size(1000, 1, 2, 1, None) == 500  # one video, two workers: halves
        assert ex._chunk_size(100, 1, 4, 1, None) == ex.MIN_VIDEO_CHUNK  # never finer than the minimum
        assert ex._chunk_size(1000, 1, 2, 3, None) % 3 == 0  # chunks start on the stride grid
        assert ex._chunk_size(1000, 1, 2, 1, 77) == 77

    def test_detections_round_trip_and_concat(self, tmp_path):
        def det(T, rows, seed):
            rng = np.random.default_rng(seed)
            K = len(rows)
            return ex.VideoDetections(frames=np.arange(T), timestamps=np.arange(T) / 10.0, rows=np.asarray(rows, np.int64),
                                      boxes=rng.random((K, 4)), coords=rng.random((K, 5, 3)).astype(np.float32),
                                      confidence=rng.random((K, 5)).astype(np.float32),
                                      score=rng.random(K).astype(np.float32), errors=["e"], meta={"scheme": "x"})
        a, b = det(3, [0, 2, 2], 0), det(2, [1], 1)
        a.save(tmp_path / "a.npz")
        back = ex.VideoDetections.load(tmp_path / "a.npz")
        assert back.errors == ["e"] and back.meta == {"scheme": "x"}
        np.testing.assert_array_equal(back.coords, a.coords)
        joined = ex.VideoDetections.concat([a, b])
        assert joined.rows.tolist() == [0, 2, 2, 4] and joined.errors == ["e"] and len(joined.frames) == 5


@pytest.mark.detector
class TestVideoChunks:
    @pytest.mark.parametrize("stride", [1, 3])
    def test_same_table_as_one_pass(self, tmp_path, stride):
        d = tmp_path / "in"
        d.mkdir()
        write_video(d / "long.mp4", n=40)
        one = extract([d], output=tmp_path / "one.parquet", workers=1, stride=stride, progress=False)
        two = extract([d], output=tmp_path / "two.parquet", workers=2, stride=stride, chunk_frames=16,
                      progress=False, keep_parts=True)
        raw = sorted((tmp_path / "two.parquet.parts").glob("chunk-*.npz"))
        assert len(raw) == 3  # 40 frames in chunks of 16 (15 with stride 3): three chunks ran
        a, b = read_frame(one.path)[0], read_frame(two.path)[0]
        assert len(a) == -(-40 // stride) and one.n_frames == two.n_frames and not two.errors
        pd.testing.assert_frame_equal(a, b)  # faces tracked across the chunk borders as in one pass
        assert read_meta(one.path)["sequences"] == read_meta(two.path)["sequences"]

    def test_resumes_from_finished_chunks(self, tmp_path, monkeypatch):
        d = tmp_path / "in"
        d.mkdir()
        write_video(d / "long.mp4", n=30)
        out = tmp_path / "t.parquet"

        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(ex, "_assemble", interrupted)  # stopped after the chunks, before the video
        with pytest.raises(KeyboardInterrupt):
            extract([d], output=out, workers=2, chunk_frames=12, progress=False)
        raw = sorted((tmp_path / "t.parquet.parts").glob("chunk-*.npz"))
        stamps = [p.stat().st_mtime_ns for p in raw]
        monkeypatch.undo()
        res = extract([d], output=out, workers=2, chunk_frames=12, progress=False, keep_parts=True)
        assert len(raw) == 3 and [p.stat().st_mtime_ns for p in raw] == stamps  # no chunk ran again
        assert res.n_frames == 30 and not res.errors
        one = extract([d], output=tmp_path / "one.parquet", workers=1, progress=False)
        pd.testing.assert_frame_equal(read_frame(one.path)[0], read_frame(out)[0])
