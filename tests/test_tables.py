"""Landmark tables: lossless round trip (Parquet and CSV), file metadata, bad tables."""
import numpy as np
import pandas as pd
import pytest

from geopain.errors import InputError
from geopain.io.tables import coordinate_columns, read_frame, read_table, sequences_to_frame, write_table
from geopain.landmarks import LandmarkSequence


def _sequences():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 640, (4, 68, 3)).astype(np.float32)
    a[2] = np.nan  # a frame without a face
    a[1, 5] = np.nan  # a missing point
    face0 = LandmarkSequence(
        a, "human/ibug68", confidence=rng.uniform(size=(4, 68)), frame_confidence=[0.9, 0.8, np.nan, 0.7],
        frames=[3, 4, 9, 10], fps=25.0, subject="007", sequence="t1aaaff", face_id=0,
        labels={"pain": [0, 1, np.nan, 1], "level": [0, 2, np.nan, 4], "score": [0, 3.5, np.nan, 9],
                "AU4": [0, 1, 2, 3]},
        sequence_labels={"vas": 3.0}, dims=3, units="mm", detector="openface", detector_version="2.2.0",
        source="clips/a.csv", meta={"pose": {"yaw": 1.5}, "note": "ünïcode"})
    face1 = LandmarkSequence(
        rng.uniform(0, 640, (2, 68, 2)), "human/ibug68", frames=[4, 9], timestamps=[0.16, 0.36],
        subject="007", sequence="t1aaaff", face_id=1, labels={"pain": [1, 0]}, detector=None)
    other = LandmarkSequence(rng.uniform(0, 640, (1, 68, 2)), "human/ibug68", subject="042", sequence="0")
    return [face0, face1, other]


def _assert_same(a: LandmarkSequence, b: LandmarkSequence):
    np.testing.assert_array_equal(a.coords, b.coords)
    np.testing.assert_array_equal(a.confidence, b.confidence)
    np.testing.assert_array_equal(a.frame_confidence, b.frame_confidence)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    assert a.labels.keys() == b.labels.keys()
    for k in a.labels:
        np.testing.assert_array_equal(a.labels[k], b.labels[k])
    for f in ("scheme", "fps", "subject", "sequence", "face_id", "sequence_labels", "dims", "units", "detector",
              "detector_version", "source", "meta"):
        assert getattr(a, f) == getattr(b, f), f


class TestRoundTrip:
    @pytest.mark.parametrize("suffix", [".parquet", ".csv"])
    def test_lossless(self, tmp_path, suffix):
        seqs = _sequences()
        path = write_table(seqs, tmp_path / f"t{suffix}")
        back = read_table(path)
        assert [s.key() for s in back] == [s.key() for s in seqs]
        for a, b in zip(seqs, back):
            _assert_same(a, b)

    @pytest.mark.parametrize("suffix", [".parquet", ".csv"])
    def test_file_metadata_protocols(self, tmp_path, suffix):
        meta = {"dataset": "unbc", "protocols": {"loso": {"kind": "loso", "description": "leave one subject out"},
                                                 "k5": {"kind": "kfold", "k": 5, "exclude_subjects": ["042"]}}}
        path = write_table(_sequences(), tmp_path / f"t{suffix}", meta=meta)
        frame, got = read_frame(path)
        assert got["dataset"] == "unbc" and got["protocols"] == meta["protocols"]
        assert got["scheme"] == "human/ibug68" and got["n_points"] == 68

    @pytest.mark.parametrize("suffix", [".parquet", ".csv"])
    def test_metadata_is_strict_json(self, tmp_path, suffix):
        """A missing sequence label or frame rate is JSON null in the metadata (strict parsers
        reject bare NaN), and reads back as NaN."""
        import json

        import pyarrow.parquet as pq

        from geopain.io.meta import META_KEY, sidecar

        seq = LandmarkSequence(np.zeros((2, 68, 3)), "human/ibug68", fps=float("nan"), subject="s", sequence="q",
                               sequence_labels={"vas": float("nan"), "opr": 2.0})
        path = write_table([seq], tmp_path / f"t{suffix}")
        raw = sidecar(path).read_text() if suffix == ".csv" else pq.read_schema(path).metadata[META_KEY].decode()
        meta = json.loads(raw, parse_constant=lambda c: pytest.fail(f"bare {c} in the metadata"))
        assert meta["sequences"][0]["sequence_labels"] == {"vas": None, "opr": 2.0}
        (back,) = read_table(path)
        assert np.isnan(back.sequence_labels["vas"]) and back.sequence_labels["opr"] == 2.0

    def test_columns_in_order(self):
        frame, _ = sequences_to_frame(_sequences())
        cols = list(frame.columns)
        assert cols[:9] == ["subject", "sequence", "frame", "face_id", "timestamp", "species", "scheme", "detector",
                            "confidence"]
        assert cols[9:9 + 4 * 68] == coordinate_columns(68, confidence=True)
        assert cols[9 + 4 * 68:] == ["pain", "level", "score", "AU4"]
        assert len(frame) == 7 and frame["face_id"].tolist() == [0, 0, 0, 0, 1, 1, 0]

    def test_table_without_confidence_has_no_c_columns(self, tmp_path):
        seq = LandmarkSequence(np.zeros((2, 28, 2)), "sheep/spfes")
        frame, _ = sequences_to_frame([seq])
        assert "c_0" not in frame and "z_27" in frame and frame["species"].iloc[0] == "sheep"
        back = read_table(write_table([seq], tmp_path / "s.parquet"))[0]
        assert back.dims == 2 and np.isnan(back.coords[..., 2]).all()

    def test_plain_table_from_elsewhere(self, tmp_path):
        """A CSV written by other tools (no metadata side file, few id columns) still reads."""
        df = pd.DataFrame({"scheme": ["sheep/spfes"] * 2, **{f"x_{i}": [1.0, 2.0] for i in range(28)},
                           **{f"y_{i}": [3.0, 4.0] for i in range(28)}, "pain": [0, 1]})
        df.to_csv(tmp_path / "plain.csv", index=False)
        (s,) = read_table(tmp_path / "plain.csv")
        assert s.n_frames == 2 and s.dims == 2 and s.subject == "unknown"
        np.testing.assert_array_equal(s.labels["pain"], [0, 1])


class TestBadTables:
    def test_write_errors(self, tmp_path):
        with pytest.raises(InputError, match="no landmark sequences"):
            write_table([], tmp_path / "t.parquet")
        mixed = [LandmarkSequence(np.zeros((1, 68, 2)), "human/ibug68"),
                 LandmarkSequence(np.zeros((1, 28, 2)), "sheep/spfes", subject="s")]
        with pytest.raises(InputError, match="a table holds one landmark scheme"):
            write_table(mixed, tmp_path / "t.parquet")

    @pytest.mark.parametrize("name,content,problem", [
        ("t.parquet", b"", "file is empty"),
        ("t.parquet", b"subject,x_0\nA,1\n", "not a Parquet landmark table"),
        ("t.csv", b"subject,frame\nA,1\n", "not a landmark table: missing columns"),
        ("t.csv", b"scheme,x_0,x_1,y_0\nhuman/a,1,2,3\n", "not the matching y columns"),
        ("t.csv", b"scheme,x_0,y_0\n", "no rows"),
    ])
    def test_read_errors(self, tmp_path, name, content, problem):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError, match=problem):
            read_table(tmp_path / name)

    def test_missing_file(self, tmp_path):
        with pytest.raises(InputError, match="no such file"):
            read_table(tmp_path / "none.parquet")
