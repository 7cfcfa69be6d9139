"""``geopain serve``: the monitor's web dashboard (FastAPI, server-rendered, no CDN).

:func:`create_app` builds the application over a :class:`geopain.store.Store`;
:func:`serve` runs it with uvicorn, on localhost unless a token guards it.
"""
from .app import create_app
from .server import check_bind, serve

__all__ = ["check_bind", "create_app", "serve"]
