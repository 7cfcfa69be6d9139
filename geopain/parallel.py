"""Worker processes that fill the cores without oversubscribing them."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
from pathlib import Path
from collections.abc import Callable, Iterator, Sequence
from typing import Any

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


#: Addresses that start a Ray instance in this process instead of joining a cluster.
RAY_LOCAL = ("", "local")


def _ray_call(fn: Callable[..., Any], common: tuple, job: tuple) -> Any:
    worker_init()  # one maths thread per task, as in the process pool
    return fn(*common, *job)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once, in one line, where nothing listens at ``host:port`` (Ray itself keeps
    retrying for minutes). Other address forms (``auto``, ``ray://``) are left to Ray."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise GeopainError(f"cannot reach the Ray cluster at {address!r}: {exc.strerror or exc} "
                           f"(is 'ray start --head' running there, and the port open?)") from None


class RayTasks:
    """``fn(*common, *job)`` for every job as Ray tasks, on the cluster at ``address``
    (``"auto"``: the one started on this machine with ``ray start``; ``"local"``: a Ray
    instance started here with ``num_cpus`` CPUs). ``common`` is put in the object store
    once, not sent with every task. A task whose worker process or node dies is run again
    (``max_retries``); an exception raised by ``fn`` is not retried but returned."""

    def __init__(self, address: str, num_cpus: int | None = None, max_retries: int = 3):
        self.address, self.num_cpus, self.max_retries = address, num_cpus, max_retries

    def __enter__(self) -> "RayTasks":
        try:
            import ray
        except ImportError:
            raise GeopainError("--ray needs the 'ray' package (pip install 'geopain[ray]')") from None
        self.ray = ray
        self.started_ = False
        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address in RAY_LOCAL:
                kw["num_cpus"] = self.num_cpus or resolve_workers(None)
            else:
                _check_reachable(self.address)
                kw["address"] = self.address
            try:
                ray.init(**kw)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise GeopainError(f"cannot reach the Ray cluster at {self.address!r}: {exc} (a cluster started with "
                                   f"token authentication also needs RAY_AUTH_MODE=token and its RAY_AUTH_TOKEN "
                                   f"here)") from None
            self.started_ = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.started_:
            self.ray.shutdown()

    def cpus(self) -> int:
        """CPUs the cluster offers (at least 1)."""
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def run(self, fn: Callable[..., Any], jobs: Sequence[tuple], common: tuple = ()
            ) -> Iterator[tuple[int, Any, BaseException | None]]:
        """Yield ``(job index, result, None)`` or ``(job index, None, error)`` as tasks finish;
        at most one task per cluster CPU is in flight (bounded memory, no task stuck behind another)."""
        ray = self.ray
        remote = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(_ray_call)
        common_ref = ray.put(tuple(common))
        fn_ref = ray.put(fn)
        # one task per CPU: a task queued behind a long one on a busy node would leave another node
        # idle (Ray does not move a granted lease); a new task is submitted as each one finishes
        limit = self.cpus()

        def wait_some(pending: list[Any]) -> list[Any]:
            return ray.wait(pending, num_returns=1)[0]

        yield from _bounded(lambda i: remote.remote(fn_ref, common_ref, jobs[i]), wait_some, ray.get, len(jobs), limit)


def run_tasks(fn: Callable[..., Any], jobs: Sequence[tuple], *, common: tuple = (), workers: int = 1,
              ray_address: str | None = None, ray_num_cpus: int | None = None
              ) -> Iterator[tuple[int, Any, BaseException | None]]:
    """``fn(*common, *job)`` for every job, in ``workers`` local worker processes
    (:func:`process_pool`) or as Ray tasks (``ray_address``, see :class:`RayTasks`); yields
    ``(job index, result, error)`` in the order they finish, so each result can be saved at
    once (resumable runs). ``fn`` must be a module-level function."""
    if ray_address is not None:
        with RayTasks(ray_address, ray_num_cpus) as tasks:
            yield from tasks.run(fn, jobs, common)
        return
    from concurrent.futures import FIRST_COMPLETED, wait

    workers = max(1, min(int(workers), len(jobs)))
    with process_pool(workers) as pool:
        def wait_some(pending: list[Any]) -> list[Any]:
            return list(wait(pending, return_when=FIRST_COMPLETED)[0])

        # a few jobs in flight per worker: none waits for a submission, memory stays bounded
        yield from _bounded(lambda i: pool.submit(fn, *common, *jobs[i]), wait_some, lambda fut: fut.result(),
                            len(jobs), 2 * workers)


def _bounded(submit: Callable[[int], Any], wait_some: Callable[[list[Any]], list[Any]],
             result: Callable[[Any], Any], n_jobs: int, limit: int) -> Iterator[tuple[int, Any, BaseException | None]]:
    """Jobs ``0..n_jobs-1`` in order, at most ``limit`` in flight; yields ``(job, result, error)``
    as they finish. ``submit(i)`` returns a handle, ``wait_some(handles)`` the finished ones,
    ``result(handle)`` the value (or raises: the job's error, the other jobs go on)."""
    queue = list(range(n_jobs))[::-1]
    pending: dict[Any, int] = {}
    while queue or pending:
        while queue and len(pending) < limit:
            i = queue.pop()
            pending[submit(i)] = i
        for handle in wait_some(list(pending)):
            i = pending.pop(handle)
            try:
                value, error = result(handle), None
            except Exception as exc:  # a crashed worker, or a task's own error
                value, error = None, getattr(exc, "cause", None) or exc
            yield i, value, error


@contextlib.contextmanager
def local_ray_cluster(nodes: int = 2, cpus_per_node: int = 1, temp_dir: str | os.PathLike | None = None
                      ) -> Iterator[str]:
    """A real Ray cluster on this machine, as on several machines: ``ray start --head`` plus
    ``nodes - 1`` more ``ray start --address`` nodes (separate raylets, not local mode),
    with token authentication (a fresh token in ``RAY_AUTH_TOKEN`` for this process and the
    nodes). Yields the head's address; stops the nodes afterwards (``ray stop``, which stops
    every Ray node of this machine). For tests, benchmarks and trying ``--ray`` out."""
    import importlib.util
    import secrets
    import socket
    import subprocess
    import tempfile

    if importlib.util.find_spec("ray") is None:  # not imported here: Ray reads its token settings on import
        raise GeopainError("a Ray cluster needs the 'ray' package (pip install 'geopain[ray]')")
    with socket.socket() as sock:
        sock.bind(("", 0))
        port = sock.getsockname()[1]
    token = secrets.token_hex(32)
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    tmp = Path(temp_dir) if temp_dir is not None else Path(tempfile.mkdtemp(prefix="gpray"))  # short: socket paths
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]

    def start(*args: str) -> str:
        res = subprocess.run([*ray_cli, "start", "--num-cpus", str(cpus_per_node), "--disable-usage-stats", *args],
                             capture_output=True, text=True, timeout=180)
        if res.returncode != 0:
            raise GeopainError(f"ray start {' '.join(args[:2])} failed: {(res.stderr or res.stdout).strip()[-400:]}")
        return res.stdout + res.stderr

    try:
        out = start("--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir", str(tmp))
        found = re.search(r"ray start --address='([^']+)'", out)
        address = found.group(1) if found else f"127.0.0.1:{port}"
        for _ in range(nodes - 1):
            start("--address", address)
        yield address
    finally:
        if "ray" in sys.modules and sys.modules["ray"].is_initialized():
            sys.modules["ray"].shutdown()
        subprocess.run([*ray_cli, "stop", "--force"], capture_output=True, timeout=120)
        if temp_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
