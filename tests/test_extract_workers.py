"""Extraction in a pool of worker processes (geopain.extract.extract(workers=N), --workers)."""
from __future__ import annotations

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
