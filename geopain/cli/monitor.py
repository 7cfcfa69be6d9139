"""``geopain monitor SOURCE --model MODEL_DIR``: pain scores over time into a database.

SOURCE is a video file, a folder (videos and images; ``--watch`` waits for new ones), a
camera (``/dev/video0`` or a device number), or a video played as a live stream
(``--realtime``). Per tracked face, rolling windows (``--window``/``--step`` seconds) are
scored by the model and stored with their status (scored / abstained and why), the
landmarks of the window's middle frame, and alerts (score above ``--threshold`` for
``--alert-after`` seconds). Storage is SQLite in the output folder unless ``--db`` names
another database (``postgresql://user@host:port/db``). Running the same command again
resumes where it stopped (after a crash or a kill too): no window is lost or stored twice.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import GeopainError

#: One line for ``geopain --help`` (listed without registering the parser).
HELP = "score a video, stream, camera or folder over time into a database"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("monitor", help=HELP,
                       description="Score pain over rolling windows per tracked face from a video file, a folder of "
                                   "videos/images, a camera or a video played as a stream; store windows, scores, "
                                   "landmarks and alerts in SQLite (default) or PostgreSQL. Re-running the same "
                                   "command resumes where it stopped.")
    p.add_argument("source", help="video file, image, folder, camera (/dev/video0 or a device number)")
    p.add_argument("--model", required=True, help="model directory written by 'geopain train'")
    p.add_argument("-o", "--output", default="geopain-monitor",
                   help="output folder; holds the SQLite database unless --db is given (default geopain-monitor)")
    p.add_argument("--db", default=None,
                   help="database URL: sqlite:///path.sqlite or postgresql://user:password@host:port/dbname "
                        "(default: OUTPUT/monitor.sqlite)")
    p.add_argument("--window", type=float, default=2.0, help="window length in seconds (default 2)")
    p.add_argument("--step", type=float, default=1.0, help="hop between windows in seconds (default 1)")
    p.add_argument("--threshold", type=float, default=None,
                   help="alert level in the model's output units (default: 0.5 p(pain) for binary models, level 2 "
                        "for five-level models, a quarter of the scale for score models)")
    p.add_argument("--alert-after", type=float, default=5.0,
                   help="seconds the score must stay above the threshold before an alert (default 5)")
    p.add_argument("--min-face-fraction", type=float, default=0.5,
                   help="a window is scored when the face was found in at least this fraction of its processed "
                        "frames, else stored as abstained with the reason (default 0.5)")
    p.add_argument("--detector", default=None, help="landmark detector (default: the model species')")
    p.add_argument("--stride", type=int, default=1, help="video files: use every STRIDE-th frame (default 1)")
    p.add_argument("--realtime", action="store_true",
                   help="play a video file as a live stream at its frame rate: frames the monitor cannot keep up "
                        "with are dropped and counted (as with a camera)")
    p.add_argument("--speed", type=float, default=1.0, help="with --realtime: play at SPEED x the frame rate")
    p.add_argument("--watch", action="store_true", help="folders: keep waiting for new files")
    p.add_argument("--poll", type=float, default=1.0, help="with --watch: seconds between looks (default 1)")
    p.add_argument("--idle-exit", type=float, default=None,
                   help="with --watch: stop after this many seconds without a new file")
    p.add_argument("--max-seconds", type=float, default=None, help="stop after this many seconds (wall clock)")
    p.add_argument("--snapshots", action="store_true",
                   help="also store a small JPEG face crop per window (off by default: landmarks and scores only)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..monitor import Monitor, MonitorSettings, open_source
    from ..store import DEFAULT_DB_NAME, open_store

    model = Path(args.model)
    if not (model / "config.json").is_file():
        raise GeopainError(f"--model {model}: not a model directory (no config.json); train one with 'geopain train'")
    settings = MonitorSettings(window_s=args.window, step_s=args.step, threshold=args.threshold,
                               alert_after_s=args.alert_after, min_face_fraction=args.min_face_fraction,
                               detector=args.detector, stride=args.stride, realtime=args.realtime,
                               snapshots=args.snapshots)
    settings.check()
    if args.stride < 1:
        raise GeopainError(f"--stride must be >= 1, got {args.stride}")
    source = open_source(args.source, realtime=args.realtime, speed=args.speed, stride=args.stride, watch=args.watch,
                         poll_s=args.poll, idle_exit_s=args.idle_exit, max_seconds=args.max_seconds)
    db = args.db or str(Path(args.output) / DEFAULT_DB_NAME)
    store = open_store(db)
    monitor = Monitor(store, model, settings, progress=not args.quiet)
    _stop_on_sigterm()
    try:
        run_id, stats = monitor.run(source, max_seconds=args.max_seconds)
    finally:
        monitor.close()
        store.close()
    det = stats.get("detect_ms", {})
    lag = stats.get("lag_ms", {})
    print(f"run {run_id}{' (resumed)' if stats.get('resumed') else ''}: {stats['frames_read']} frames read, "
          f"{stats['frames_processed']} processed, {stats['frames_dropped']} dropped to keep up "
          f"({100 * stats['dropped_fraction']:.1f}%), {stats['effective_fps']:.1f} fps effective "
          f"({stats['processed_fps']:.1f} processed)")
    print(f"  windows: {stats['windows_scored']} scored, {stats['windows_abstained']} abstained "
          f"({stats['windows_new']} new); alerts started: {stats['alerts_started']}")
    if det:
        print(f"  detector {det['p50']:.1f} ms/frame (p95 {det['p95']:.1f}); lag p50 {lag.get('p50', 0):.0f} ms, "
              f"p95 {lag.get('p95', 0):.0f} ms, max {lag.get('max', 0):.0f} ms; peak memory {stats['peak_rss_mb']:.0f} MB")
    for line in stats.get("errors", []):
        print(f"  skipped: {line}", file=sys.stderr)
    print(f"stored in {store.url}")
    return 0


def _stop_on_sigterm() -> None:
    """SIGTERM (a service manager stopping the monitor) ends it like Ctrl-C: what is complete
    is stored and the run is marked stopped. SIGKILL cannot be caught; the next run resumes."""
    import signal

    def handler(signum, frame):  # noqa: ANN001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
