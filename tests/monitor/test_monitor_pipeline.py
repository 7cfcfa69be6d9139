"""geopain monitor: a real detector on a video of a real photo, a stream that must drop frames,
two people who stay apart, alerts, and a SIGKILL in the middle of a run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from _monitor_common import ALERT_AFTER_S, FPS, MODEL, STEP_S, VIDEO_SECONDS, WINDOW_S

pytestmark = pytest.mark.detector


class TestAlertBands:
    def test_smoke_streak_becomes_alert_after_min_duration(self):
        from geopain.monitor import alert_bands

        s = np.arange(10) * 1000
        v = np.array([0, 0, 5, 5, 5, 5, 0, 5, 5, 0], float)
        bands = alert_bands(s, s + 2000, v, np.ones(10, bool), threshold=1, min_duration_ms=4000)
        # 2..5: from 2 s to 5 + 2 = 7 s (5 s >= 4 s); 7..8: 3 s < 4 s, no alert
        assert bands == [{"start_ms": 2000, "end_ms": 7000, "peak": 5.0, "open": False}]

    def test_feature_abstained_windows_neither_break_nor_extend(self):
        from geopain.monitor import alert_bands

        s = np.arange(6) * 1000
        v = np.array([5, np.nan, 5, 5, 5, 5], float)
        scored = np.array([1, 0, 1, 1, 1, 1], bool)
        bands = alert_bands(s, s + 1000, v, scored, threshold=1, min_duration_ms=3000)
        assert len(bands) == 1 and bands[0]["start_ms"] == 0 and bands[0]["open"]
        assert alert_bands(s, s + 1000, v, scored, threshold=1, min_duration_ms=3000, final=True)[0]["open"] is False

    def test_exception_nothing_scored_gives_no_alert(self):
        from geopain.monitor import alert_bands

        assert alert_bands(np.arange(3), np.arange(3) + 1, np.full(3, np.nan), np.zeros(3, bool), 0.0, 0) == []


class TestMonitorVideo:
    def test_smoke_every_window_stored_once(self, monitored):
        from geopain.store import open_store

        db, run_id, stats = monitored
        store = open_store(db)
        keys = store.window_keys(run_id)
        n_windows = int(np.ceil(VIDEO_SECONDS / STEP_S))  # windows start every step while frames remain
        assert [k[1] for k in keys] == [int(i * STEP_S * 1000) for i in range(n_windows)]
        assert all(k[2] == 1 for k in keys)
        assert stats["frames_read"] == int(VIDEO_SECONDS * FPS) and stats["frames_dropped"] == 0
        assert stats["windows_scored"] == n_windows and stats["windows_abstained"] == 0
        run = store.run(run_id)
        assert run["status"] == "finished" and run["n_windows"] == n_windows and len(run["subjects"]) == 1

    def test_feature_landmarks_and_no_images_stored(self, monitored):
        from sqlalchemy import func, select

        from geopain.store import open_store, schema

        db, run_id, _ = monitored
        store = open_store(db)
        w = store.window(store.timeline(1, 1)["id"][2])
        lm = w["landmarks"]
        assert lm["scheme"] == "human/ibug68" and lm["coords"].shape == (68, 3)
        # the astronaut's face is in the upper middle of the 640x480 frame
        cx, cy = np.nanmean(lm["coords"][:, :2], 0)
        assert 150 < cx < 450 and 40 < cy < 250
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(schema.snapshots)).scalar_one() == 0
        assert w["scores"][0]["status"] == "scored" and np.isfinite(w["scores"][0]["value"])

    def test_feature_alert_after_the_set_time(self, monitored):
        from geopain.store import open_store

        db, run_id, _ = monitored
        alerts = open_store(db).alerts(run_id=run_id)
        # threshold -1: every window is above, so one alert from 0 s to the end, closed at the end
        assert len(alerts) == 1
        a = alerts[0]
        assert a["start_ms"] == 0 and a["end_ms"] >= ALERT_AFTER_S * 1000 and a["open"] is False


class _PacedCapture:
    """An OpenCV capture whose ``read`` blocks until the next frame is due, as a camera's does."""

    def __init__(self, cap, fps: float):
        self.cap, self.period, self.next = cap, 1.0 / fps, time.monotonic()

    def read(self):
        time.sleep(max(0.0, self.next - time.monotonic()))
        self.next += self.period
        return self.cap.read()

    def release(self) -> None:
        self.cap.release()


class TestMonitorSources:
    def test_feature_stream_drops_frames_and_lag_stays_bounded(self, tmp_path, astro_video):
        """The video played 10x faster than real time: the monitor cannot keep up, so it drops
        frames (counted) instead of falling behind."""
        from geopain.monitor import Monitor, MonitorSettings, open_source
        from geopain.store import open_store

        store = open_store(tmp_path / "s.sqlite")
        mon = Monitor(store, MODEL, MonitorSettings(window_s=WINDOW_S, step_s=STEP_S), progress=False)
        try:
            run_id, stats = mon.run(open_source(str(astro_video), realtime=True, speed=10.0))
        finally:
            mon.close()
        assert stats["frames_read"] == int(VIDEO_SECONDS * FPS)
        assert stats["frames_dropped"] > 0
        assert stats["frames_processed"] + stats["frames_dropped"] == stats["frames_read"]
        # a queue of every frame would end about (frames x detection time - 0.4 s) behind; the
        # one-frame slot keeps the lag to about one detection plus one window's scoring
        queued_lag_s = stats["frames_read"] * stats["detect_ms"]["p50"] / 1000 - VIDEO_SECONDS / 10
        assert stats["lag_ms"]["max"] / 1000 < 0.5 * queued_lag_s
        stored = store.window_keys(run_id)
        assert len(stored) >= 4 and sum(store.window(w)["n_skipped"] for w in store.timeline(1, 1)["id"]) > 0

    def test_feature_camera_reader_times_by_the_wall_clock(self, tmp_path, astro_video):
        """The camera reader (OpenCV opens the video file as it would /dev/video0): frames are
        timed by the wall clock since the run started, and it stops after max_seconds."""
        from geopain.monitor import Monitor, MonitorSettings
        from geopain.monitor.sources import CameraSequence, SingleSource
        from geopain.store import open_store

        store = open_store(tmp_path / "c.sqlite")
        mon = Monitor(store, MODEL, MonitorSettings(window_s=0.5, step_s=0.5), progress=False)
        try:
            cam = CameraSequence(str(astro_video), max_seconds=1.5)
            cam._cap = _PacedCapture(cam._cap, FPS)  # a camera delivers at its frame rate; a file at decode speed
            started = time.monotonic()
            run_id, stats = mon.run(SingleSource(cam, "test camera"))
            elapsed_ms = (time.monotonic() - started) * 1000
        finally:
            mon.close()
        assert stats["frames_processed"] > 0 and stats["frames_read"] >= stats["frames_processed"]
        starts = [k[1] for k in store.window_keys(run_id)]
        # wall-clock times since the run started: never later than the run itself (load-independent)
        assert starts and starts == sorted(starts) and max(starts) <= elapsed_ms
        assert store.run(run_id)["source_kind"] == "camera"

    def test_feature_two_people_stay_apart(self, tmp_path):
        """zidane.jpg (two people) drifting: two subjects, each always on its own side."""
        pytest.importorskip("ultralytics")
        from geopain.monitor import Monitor, MonitorSettings, open_source
        from geopain.monitor.synthetic import photo_video, zidane

        from geopain.store import open_store

        video = photo_video(zidane(), tmp_path / "zidane.mp4", seconds=2.0, fps=12.5, size=(1280, 720), shift=0.03,
                            zoom=0.03)
        store = open_store(tmp_path / "z.sqlite")
        mon = Monitor(store, MODEL, MonitorSettings(window_s=1.0, step_s=1.0, min_face_fraction=0.2), progress=False)
        try:
            run_id, _ = mon.run(open_source(str(video)))
        finally:
            mon.close()
        run = store.run(run_id)
        assert len(run["subjects"]) == 2
        centre = {}
        for s in run["subjects"]:
            tl = store.timeline(s["id"], run["model_version_id"])
            xs = [np.nanmean(store.window(int(w))["landmarks"]["coords"][:, 0]) for w in tl["id"]]
            centre[s["face_id"]] = np.array(xs)
        # face ids are numbered left to right: face 0 (left, x ~ 600) never crosses face 1 (right, x ~ 950)
        assert centre[0].max() < 800 < centre[1].min()

    def test_feature_folder_each_file_once(self, tmp_path):
        from skimage import data

        from geopain.monitor import Monitor, MonitorSettings, open_source
        from geopain.store import open_store

        folder = tmp_path / "incoming"
        folder.mkdir()
        import cv2

        cv2.imwrite(str(folder / "a.png"), data.astronaut()[..., ::-1])
        cv2.imwrite(str(folder / "b.jpg"), np.zeros((200, 200, 3), np.uint8))  # no face: no window
        store = open_store(tmp_path / "f.sqlite")
        mon = Monitor(store, MODEL, MonitorSettings(), progress=False)
        try:
            run_id, stats = mon.run(open_source(str(folder)))
            assert stats["frames_processed"] == 2 and stats["windows_scored"] == 1
            _, again = mon.run(open_source(str(folder)))  # same run: both files are done
        finally:
            mon.close()
        assert again["frames_processed"] == 0 and again["resumed"]
        assert [k[0] for k in store.window_keys(run_id)] == ["a.png#face0"]

    def test_feature_snapshots_only_when_asked(self, tmp_path):
        """--snapshots stores a small JPEG face crop per window, served by the dashboard."""
        import cv2
        from fastapi.testclient import TestClient
        from skimage import data

        from geopain.monitor import Monitor, MonitorSettings, open_source
        from geopain.store import open_store
        from geopain.web import create_app

        image = tmp_path / "astronaut.png"
        cv2.imwrite(str(image), data.astronaut()[..., ::-1])
        store = open_store(tmp_path / "snap.sqlite")
        mon = Monitor(store, MODEL, MonitorSettings(snapshots=True), progress=False)
        try:
            run_id, _ = mon.run(open_source(str(image)))
        finally:
            mon.close()
        wid = int(store.timeline(store.run(run_id)["subjects"][0]["id"], 1)["id"][0])
        jpeg = store.snapshot(wid)
        assert jpeg[:2] == b"\xff\xd8" and len(jpeg) < 30_000
        crop = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert max(crop.shape[:2]) == 160
        c = TestClient(create_app(store))
        assert "snapshot.jpg" in c.get(f"/windows/{wid}").text
        r = c.get(f"/windows/{wid}/snapshot.jpg")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content == jpeg

    def test_exception_unknown_source_is_one_line(self, tmp_path):
        from geopain.errors import InputError
        from geopain.monitor import open_source

        bad = tmp_path / "notes.txt"
        bad.write_text("hello")
        with pytest.raises(InputError, match="not a video"):
            open_source(str(bad))
        with pytest.raises(InputError, match="no such file"):
            open_source(str(tmp_path / "missing.mp4"))


class TestMonitorKillRestart:
    def test_feature_sigkill_then_restart_loses_and_duplicates_nothing(self, tmp_path, astro_video, monitored):
        """SIGKILL the CLI as soon as windows are stored, run the same command again: the stored
        windows are exactly those of the uninterrupted run, once each, with the same scores."""
        from geopain.store import open_store

        db = tmp_path / "k.sqlite"
        cmd = [sys.executable, "-m", "geopain", "monitor", str(astro_video), "--model", str(MODEL), "--db", str(db),
               "--window", str(WINDOW_S), "--step", str(STEP_S), "--threshold", "-1", "--alert-after",
               str(ALERT_AFTER_S), "--quiet"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        killed_at = None
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                if db.exists():
                    try:
                        st = open_store(db, migrate=False)
                        n = sum(r["n_windows"] for r in st.runs())
                        st.close()
                    except Exception:
                        n = 0
                    if n >= 1:
                        proc.send_signal(signal.SIGKILL)
                        killed_at = n
                        break
                time.sleep(0.05)
        finally:
            if proc.poll() is None and killed_at is None:
                proc.kill()
            proc.wait(timeout=30)
        assert killed_at is not None, "the monitor finished before it could be killed"
        st = open_store(db)
        (run,) = st.runs()
        assert run["status"] == "running"  # killed: never marked finished
        partial = st.window_keys(run["id"])
        assert 1 <= len(partial) < int(np.ceil(VIDEO_SECONDS / STEP_S))
        # the restart: the same settings and source resume the same run (in this process, to
        # spare a second start-up of torch and MediaPipe; the command does exactly this)
        from geopain.monitor import Monitor, MonitorSettings, open_source

        mon = Monitor(st, MODEL, MonitorSettings(window_s=WINDOW_S, step_s=STEP_S, threshold=-1.0,
                                                 alert_after_s=ALERT_AFTER_S), progress=False, on_alert=lambda x: None)
        try:
            rid, stats = mon.run(open_source(str(astro_video)))
        finally:
            mon.close()
        assert rid == run["id"] and stats["resumed"]
        assert stats["frames_read"] < int(VIDEO_SECONDS * FPS)  # it did not start again from the beginning
        ref_db, ref_run, _ = monitored
        ref = open_store(ref_db)
        keys = st.window_keys(run["id"])
        assert keys == ref.window_keys(ref_run)  # the same windows, each once
        got = st.timeline(st.run(run["id"])["subjects"][0]["id"], run["model_id"])
        want = ref.timeline(ref.run(ref_run)["subjects"][0]["id"], 1)
        np.testing.assert_allclose(got["value"], want["value"], rtol=1e-5)
        assert st.runs()[0]["status"] == "finished" and len(st.alerts(run_id=run["id"])) == 1
