"""One progress bar for every long loop: tqdm on a terminal, silent in log files.

tqdm writing to a file that is not a terminal (a log, a CI job, ``2> run.log``) leaves one
line per update; :func:`progress_bar` turns the bar off there unless ``GEOPAIN_PROGRESS=1``
asks for it, and off everywhere when ``enabled`` is false (``--quiet``).
"""
from __future__ import annotations

import os
import sys
from typing import Any, Iterable


def progress_bar(iterable: Iterable | None = None, *, enabled: bool = True, **kw: Any):
    """A ``tqdm`` bar on stderr (``kw`` as tqdm's); off when ``enabled`` is false or when
    stderr is not a terminal (unless the environment sets ``GEOPAIN_PROGRESS=1``)."""
    from tqdm.auto import tqdm

    if not enabled:
        disable: bool | None = True
    elif os.environ.get("GEOPAIN_PROGRESS") == "1":
        disable = False
    else:
        disable = None  # tqdm: off on a non-terminal
    kw.setdefault("file", sys.stderr)
    return tqdm(iterable, disable=disable, **kw)
