"""Monitor throughput on a long 25 fps video with the default (MediaPipe) detector.

A video of skimage's astronaut photo panning and zooming (640x480, 25 fps, ``--minutes``
long, written once by OpenCV into ``--work``) is monitored twice:

* ``realtime``: played as a live stream at 25 fps (``geopain monitor --realtime``): the
  monitor must keep up or drop frames; reports the dropped fraction, lag and memory;
* ``every-frame``: every frame processed as fast as possible (``--max-seconds`` of wall
  time): the processed frame rate this machine sustains without dropping.

Resident memory is sampled every second by a thread (psutil). Results go to
``benchmarks/results/monitor/monitor_fps.json`` and ``.md``.

    python benchmarks/monitor_fps.py --minutes 10 --every-frame-seconds 120
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "geopain" / "models" / "pretrained" / "human" / "ibug68" / "wgnn"
OUT = ROOT / "benchmarks" / "results" / "monitor"


class RssSampler(threading.Thread):
    """Resident memory of this process every ``period`` seconds (MB)."""

    def __init__(self, period: float = 1.0):
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process()
        self.period = period
        self.samples: list[tuple[float, float]] = []
        self._halt = threading.Event()
        self.t0 = time.perf_counter()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((time.perf_counter() - self.t0, self.proc.memory_info().rss / 2**20))
            self._halt.wait(self.period)

    def stop(self) -> dict:
        self._halt.set()
        self.join()
        rss = [r for _, r in self.samples]
        n = len(rss)
        return {"samples": n, "start_mb": round(rss[0], 1), "peak_mb": round(max(rss), 1),
                "end_mb": round(rss[-1], 1),
                "first_quarter_mean_mb": round(sum(rss[: max(1, n // 4)]) / max(1, n // 4), 1),
                "last_quarter_mean_mb": round(sum(rss[-max(1, n // 4):]) / max(1, n // 4), 1)}


def make_video(path: Path, minutes: float) -> Path:
    from skimage import data

    from geopain.media import video_info
    from geopain.monitor.synthetic import photo_video

    want = int(round(minutes * 60 * 25))
    if path.exists() and video_info(path).n_frames == want:
        return path
    t = time.perf_counter()
    photo_video(data.astronaut(), path, seconds=minutes * 60, fps=25.0, size=(640, 480))
    print(f"wrote {path} ({want} frames) in {time.perf_counter() - t:.0f} s", flush=True)
    return path


def monitor_once(video: Path, db: Path, realtime: bool, max_seconds: float | None) -> dict:
    from geopain.monitor import Monitor, MonitorSettings, open_source
    from geopain.store import open_store

    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    store = open_store(db)
    sampler = RssSampler()
    mon = Monitor(store, MODEL, MonitorSettings(realtime=realtime), progress=False, on_alert=lambda line: None)
    sampler.start()
    try:
        run_id, stats = mon.run(open_source(str(video), realtime=realtime), max_seconds=max_seconds)
    finally:
        mon.close()
    stats["rss"] = sampler.stop()
    stats["windows_stored"] = len(store.window_keys(run_id))
    store.close()
    return stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="video length (default 10)")
    ap.add_argument("--every-frame-seconds", type=float, default=120.0,
                    help="wall seconds of the every-frame run (default 120)")
    ap.add_argument("--work", default="/tmp/geopain-bench-monitor", help="folder for the video and databases")
    ap.add_argument("--skip-realtime", action="store_true")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    video = make_video(work / f"astronaut-{args.minutes:g}min.mp4", args.minutes)
    res: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "load_avg_at_start": os.getloadavg()},
                 "video": {"path": video.name, "minutes": args.minutes, "fps": 25, "size": [640, 480]},
                 "detector": "mediapipe (default for human)", "model": "geopain/models/pretrained/human/ibug68/wgnn",
                 "settings": {"window_s": 2.0, "step_s": 1.0}}
    if not args.skip_realtime:
        print("realtime run ...", flush=True)
        res["realtime"] = monitor_once(video, work / "realtime.sqlite", True, None)
        print(json.dumps(res["realtime"], indent=1), flush=True)
    print("every-frame run ...", flush=True)
    res["every_frame"] = monitor_once(video, work / "every.sqlite", False, args.every_frame_seconds)
    print(json.dumps(res["every_frame"], indent=1), flush=True)
    res["machine"]["load_avg_at_end"] = os.getloadavg()
    OUT.mkdir(parents=True, exist_ok=True)
    from geopain.jsonio import write_json
    write_json(OUT / "monitor_fps.json", res, indent=1)
    lines = ["# Monitor throughput (benchmarks/monitor_fps.py)", "",
             f"Video: {args.minutes:g} min, 25 fps, 640x480 (astronaut photo panning). Detector: MediaPipe. "
             f"Model: shipped WGNN (human/ibug68). {os.cpu_count()} CPUs; load average at start "
             f"{res['machine']['load_avg_at_start'][0]:.1f} (a shared machine).", "",
             "| run | frames read | processed | dropped | effective fps | processed fps | detector ms p50/p95 | "
             "lag ms p50/p95/max | peak RSS MB | RSS first/last quarter MB | windows stored |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in ("realtime", "every_frame"):
        s = res.get(name)
        if not s:
            continue
        lines.append(f"| {name} | {s['frames_read']} | {s['frames_processed']} | {s['frames_dropped']} "
                     f"({100 * s['dropped_fraction']:.1f}%) | {s['effective_fps']} | {s['processed_fps']} | "
                     f"{s['detect_ms'].get('p50')}/{s['detect_ms'].get('p95')} | {s['lag_ms'].get('p50')}/"
                     f"{s['lag_ms'].get('p95')}/{s['lag_ms'].get('max')} | {s['rss']['peak_mb']} | "
                     f"{s['rss']['first_quarter_mean_mb']}/{s['rss']['last_quarter_mean_mb']} | {s['windows_stored']} |")
    (OUT / "monitor_fps.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
