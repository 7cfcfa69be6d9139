"""Property: no corrupted landmark file makes any registered reader fail with a traceback.

For every format in :data:`geopain.io.readers.READERS` a valid file is written, then
Hypothesis corrupts it (truncation, flipped bytes, inserted bytes or text, a token replaced
by text, lines deleted or duplicated) and :func:`~geopain.io.readers.convert_files` reads it:
the file either reads or gives one ``"path: problem"`` line from a
:class:`~geopain.errors.GeopainError`; never an exception of another type (which
``convert_files`` reports as ``"unexpected ..."``). A reader added to the registry without a
sample here fails :class:`TestEveryReaderHasASample`.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest

# Hypothesis keeps caches in ./.hypothesis unless told otherwise: keep them with the test caches
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY",
                      os.path.join(os.environ.get("GEOPAIN_CACHE", tempfile.gettempdir()), "hypothesis"))
hypothesis = pytest.importorskip("hypothesis")  # dev extra
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from _io_helpers import cat_adapter, dlc_frame, face_points, openface_csv, yolo_dataset, yolo_line  # noqa: E402
from geopain.io.pts import write_pts  # noqa: E402
from geopain.io.readers import READERS, convert_files  # noqa: E402
from geopain.species import get_scheme  # noqa: E402

EXAMPLES = 40


def _openface(root: Path) -> tuple[Path, Path, dict]:
    rows = [dict(frame=i + 1, face_id=0, xy=face_points(68, seed=i), au={"AU04": 1.0}) for i in range(3)]
    f = openface_csv(root / "clip.csv", rows)
    return f, f, {}


def _pts(root: Path) -> tuple[Path, Path, dict]:
    f = write_pts(root / "face.pts", face_points(68))
    return f, f, {}


def _dlc(root: Path) -> tuple[Path, Path, dict]:
    f = root / "videoDLC_resnet50.csv"
    dlc_frame(["nose", "ear_tip_r", "ear_tip_l", "chin"], 4, individuals=["a", "b"]).to_csv(f)
    return f, f, {"scheme": "sheep/spfes"}


def _yolo(root: Path) -> tuple[Path, Path, dict]:
    sch = get_scheme("sheep/spfes")
    xy = np.random.default_rng(0).uniform(0.3, 0.7, (sch.n_points, 2))
    vis = np.full(sch.n_points, 2)
    data = yolo_dataset(root, sch.n_points, {"train": [((64, 48), [yolo_line(xy, vis)])],
                                             "val": [((64, 48), [yolo_line(xy, vis)])]},
                        flip_idx=sch.flip_index.tolist())
    label = sorted((root / "labels").rglob("*.txt"))[0]
    return label, data, {"scheme": "sheep/spfes"}


def _catflw(root: Path) -> tuple[Path, Path, dict]:
    adapter = cat_adapter(root / "adapters")
    f = root / "cat_001.json"
    f.write_text(json.dumps({"labels": face_points(48).tolist(), "bounding_boxes": [10, 20, 300, 280]}))
    return f, f, {"scheme": str(adapter)}


SAMPLES = {"openface": _openface, "pts": _pts, "dlc": _dlc, "yolo": _yolo, "catflw": _catflw}


def _corrupt(raw: bytes, data: st.DataObject) -> bytes:
    """One to three random edits of ``raw``."""
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["truncate", "flip", "insert", "token", "drop_line", "dup_line"]))
        n = len(raw)
        pos = data.draw(st.integers(0, max(0, n - 1)))
        if op == "truncate":
            raw = raw[:pos]
        elif op == "flip" and n:
            raw = raw[:pos] + bytes([raw[pos] ^ data.draw(st.integers(1, 255))]) + raw[pos + 1:]
        elif op == "insert":
            chunk = data.draw(st.one_of(st.binary(min_size=1, max_size=12),
                                        st.text(min_size=1, max_size=12).map(lambda t: t.encode("utf-8", "replace"))))
            raw = raw[:pos] + chunk + raw[pos:]
        elif op == "token":
            tokens = list(re.finditer(rb"-?\d+(\.\d+)?(e-?\d+)?", raw))
            if tokens:
                m = tokens[data.draw(st.integers(0, len(tokens) - 1))]
                new = data.draw(st.sampled_from([b"", b"nan", b"inf", b"-", b"x", b"1e999", b"NaN,NaN", b'"', b"\x00"]))
                raw = raw[:m.start()] + new + raw[m.end():]
        else:
            lines = raw.split(b"\n")
            i = data.draw(st.integers(0, len(lines) - 1))
            lines = lines[:i] + lines[i + 1:] if op == "drop_line" else lines[:i + 1] + lines[i:]
            raw = b"\n".join(lines)
    return raw


class TestEveryReaderHasASample:
    def test_samples_cover_the_registry(self):
        assert set(SAMPLES) == set(READERS.names())

    @pytest.mark.parametrize("fmt", sorted(SAMPLES))
    def test_sample_reads(self, fmt, tmp_path):
        _, path, kw = SAMPLES[fmt](tmp_path)
        seqs, errors = convert_files([path], fmt, **kw)
        assert seqs and not errors


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
class TestCorruptedFilesNeverTraceback:
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(data=st.data())
    def test_one_line_or_read(self, fmt, tmp_path_factory, data):
        root = tmp_path_factory.mktemp(fmt)
        target, path, kw = SAMPLES[fmt](root)
        target.write_bytes(_corrupt(target.read_bytes(), data))
        seqs, errors = convert_files([path], fmt, **kw)
        assert not any("unexpected" in e for e in errors), errors
        assert all("\n" not in e and e.startswith(str(path.parent)) for e in errors), errors
        assert seqs or errors
