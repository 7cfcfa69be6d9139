"""Running the dashboard: localhost by default, a token required beyond it."""
from __future__ import annotations

import ipaddress

from ..errors import GeopainError


def is_loopback(host: str) -> bool:
    """``True`` for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse (one line) to serve beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise GeopainError(f"--host {host} makes the dashboard reachable from other machines: give --token "
                           f"(or GEOPAIN_TOKEN), or keep the default --host 127.0.0.1")


def serve(app, host: str = "127.0.0.1", port: int = 8000, token: str | None = None, log_level: str = "warning") -> None:
    """Serve ``app`` with uvicorn until interrupted."""
    import uvicorn

    check_bind(host, token)
    uvicorn.run(app, host=host, port=int(port), log_level=log_level)
