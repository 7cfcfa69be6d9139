"""Worker processes that fill the cores without oversubscribing them."""
from __future__ import annotations

import os
import sys

from .errors import GeopainError

#: thread-count variables of the maths libraries a worker may load
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def worker_init() -> None:
    """Initializer of a pool worker: one thread for its maths (BLAS, OpenMP, Numba, torch), so
    ``N`` workers keep ``N`` cores busy instead of each starting a thread per core."""
    for var in THREAD_VARIABLES:
        os.environ[var] = "1"
    if "torch" in sys.modules and sys.modules["torch"] is not None:
        sys.modules["torch"].set_num_threads(1)


def resolve_workers(workers: int | None) -> int:
    """``None`` or 0 -> the number of cores this process may use; otherwise ``workers`` (>= 1)."""
    if workers is None or workers == 0:
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    if workers < 0:
        raise GeopainError(f"workers must be >= 1 (or 0 for one per core), got {workers}")
    return int(workers)


def process_pool(workers: int):
    """A :class:`~concurrent.futures.ProcessPoolExecutor` of ``workers`` fresh processes, each
    set up by :func:`worker_init`. Forkserver (or spawn), never fork: a parent that already runs
    threads (MediaPipe's graphs, torch's pool) cannot be forked safely."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=worker_init)
