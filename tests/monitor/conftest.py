"""Fixtures of the monitor and dashboard tests: a test video of a real photo and a database
filled by the monitor from it (made once per test session)."""
from __future__ import annotations

from pathlib import Path

import pytest
from _monitor_common import ALERT_AFTER_S, FPS, MODEL, STEP_S, VIDEO_SECONDS, WINDOW_S


@pytest.fixture(scope="session")
def astro_video(tmp_path_factory) -> Path:
    """4 s, 25 fps, 640x480: skimage's astronaut photo panning and zooming (one real face)."""
    from skimage import data

    from geopain.monitor.synthetic import photo_video

    return photo_video(data.astronaut(), tmp_path_factory.mktemp("video") / "astronaut.mp4", seconds=VIDEO_SECONDS,
                       fps=FPS)


@pytest.fixture(scope="session")
def monitored(tmp_path_factory, astro_video):
    """``(db path, run id, stats)`` of the monitor on :func:`astro_video` with a threshold every
    score passes (-1), so an alert must start after ``ALERT_AFTER_S``."""
    pytest.importorskip("mediapipe")
    from geopain.monitor import Monitor, MonitorSettings, open_source
    from geopain.store import open_store

    db = tmp_path_factory.mktemp("monitor") / "monitor.sqlite"
    store = open_store(db)
    settings = MonitorSettings(window_s=WINDOW_S, step_s=STEP_S, threshold=-1.0, alert_after_s=ALERT_AFTER_S)
    mon = Monitor(store, MODEL, settings, progress=False, on_alert=lambda line: None)
    try:
        run_id, stats = mon.run(open_source(str(astro_video)))
    finally:
        mon.close()
        store.close()
    return db, run_id, stats
