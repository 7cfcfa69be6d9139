"""Worker processes that fill the cores without oversubscribing them."""
from __future__ import annotations

import os
import sys

#: thread-count variables of the maths libraries a worker may load
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def worker_init() -> None:
    """Initializer of a pool worker: one thread for its maths (BLAS, OpenMP, Numba, torch), so
    ``N`` workers keep ``N`` cores busy instead of each starting a thread per core."""
    for var in THREAD_VARIABLES:
        os.environ[var] = "1"
    if "torch" in sys.modules and sys.modules["torch"] is not None:
        sys.modules["torch"].set_num_threads(1)
