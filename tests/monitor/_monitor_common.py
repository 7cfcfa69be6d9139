"""Constants and helpers of the monitor and dashboard tests (fixtures are in conftest.py)."""
from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "geopain" / "models" / "pretrained" / "human" / "ibug68" / "wgnn"
#: Settings of the shared monitor run (the kill-and-restart test repeats them through the CLI).
WINDOW_S, STEP_S, ALERT_AFTER_S = 1.0, 0.5, 1.5
VIDEO_SECONDS, FPS = 4.0, 25.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_binaries() -> tuple[Path, Path] | None:
    """``(initdb, pg_ctl)`` of Debian's PostgreSQL (``/usr/lib/postgresql/*/bin``) or on PATH."""
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d / "initdb", d / "pg_ctl"
    a, b = shutil.which("initdb"), shutil.which("pg_ctl")
    return (Path(a), Path(b)) if a and b else None


def run_as(user: str | None, cmd: list[str], **kw) -> subprocess.CompletedProcess:
    """Run ``cmd`` as ``user`` (root starting PostgreSQL, which refuses to run as root)."""
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, **kw)
