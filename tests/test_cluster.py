"""A real local Ray cluster (``ray start --head`` plus a second node, token authentication):
extraction and cross-validation give what a local run gives, and a worker killed mid-run
loses nothing (geopain.parallel.RayTasks / local_ray_cluster, ``--ray ADDRESS``)."""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from geopain.errors import GeopainError
from geopain.io.tables import read_frame, write_table
from geopain.parallel import RayTasks, local_ray_cluster
from geopain.synth import simulate

from _detectors_helpers import photo, write_video

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the 'ray' extra")

MODELS = "logreg,pointnet"


def geopain_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The ``geopain`` command in a child process: the user's path, and a fresh Ray client
    that reads the cluster's token from the environment ``local_ray_cluster`` set."""
    res = subprocess.run([sys.executable, "-m", "geopain", *args], capture_output=True, text=True, timeout=600)
    if check:
        assert res.returncode == 0, res.stderr[-2000:]
    return res


@pytest.fixture(scope="module")
def cluster():
    with local_ray_cluster(nodes=2, cpus_per_node=1) as address:
        yield address


@pytest.fixture(scope="module")
def cohort_table(tmp_path_factory):
    path = tmp_path_factory.mktemp("cohort") / "cohort.parquet"
    write_table(simulate(species="human", n_subjects=8, sequences_per_subject=2, frames=12, seed=0), path)
    return path


def evaluate(table, out, *extra: str) -> pd.DataFrame:
    geopain_cli("evaluate", str(table), "--model", MODELS, "--protocol", "kfold:4", "--epochs", "4", "--quiet",
                "-o", str(out), *extra)
    return pd.read_parquet(out / "heldout_predictions.parquet").sort_values(["model", "sequence", "frame"])


def _kill_first_task(name: str, stop: threading.Event, killed: list[int]) -> None:
    """SIGKILL the first Ray worker process seen running ``name`` (its process title)."""
    while not stop.is_set():
        ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
        for line in ps.splitlines():
            pid, _, args = line.strip().partition(" ")
            if args.startswith(f"ray::{name}"):
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
                return
        time.sleep(0.02)


class TestRayTasks:
    def test_unreachable_cluster_is_one_clear_error(self):
        with pytest.raises(GeopainError, match="cannot reach the Ray cluster at '127.0.0.1:1'"):
            with RayTasks("127.0.0.1:1"):
                pass

    def test_cli_names_the_unreachable_cluster(self, cohort_table, tmp_path):
        res = geopain_cli("evaluate", str(cohort_table), "--model", "logreg", "--ray", "127.0.0.1:1", "--quiet",
                          "-o", str(tmp_path / "out"), check=False)
        assert res.returncode != 0 and "cannot reach the Ray cluster at '127.0.0.1:1'" in res.stderr
        assert "Traceback" not in res.stderr


class TestEvaluateOnCluster:
    def test_same_results_as_local_with_a_worker_killed(self, cluster, cohort_table, tmp_path):
        local = evaluate(cohort_table, tmp_path / "local")
        stop, killed = threading.Event(), []
        killer = threading.Thread(target=_kill_first_task, args=("_ray_call", stop, killed))
        killer.start()
        try:
            remote = evaluate(cohort_table, tmp_path / "ray", "--ray", cluster)
        finally:
            stop.set()
            killer.join()
        assert killed, "no Ray task was caught running: the test killed nothing"
        # the killed fold ran again on a live worker: every fold is there, with the local run's predictions
        assert len(remote) == len(local) > 0
        np.testing.assert_allclose(remote[["p_no_pain", "p_pain"]].to_numpy(), local[["p_no_pain", "p_pain"]].to_numpy(), atol=1e-5)
        assert (remote["prediction"].to_numpy() == local["prediction"].to_numpy()).all()
        results = json.loads((tmp_path / "ray" / "results.json").read_text())
        assert all(m["errors"] == [] for m in results["models"].values())
        assert len(list((tmp_path / "ray").glob("predictions/*/*.parquet"))) == 4 * len(MODELS.split(","))


@pytest.mark.detector
class TestExtractOnCluster:
    def test_same_table_as_local(self, cluster, tmp_path):
        d = tmp_path / "in"
        d.mkdir()
        write_video(d / "v1.mp4", n=4)
        Image.fromarray(photo("astronaut")).save(d / "a.png")
        (d / "bad.jpg").write_text("not an image")
        for name, extra in (("local", ["--workers", "1"]), ("ray", ["--ray", cluster])):
            res = geopain_cli("extract", str(d), "--quiet", "-o", str(tmp_path / f"{name}.parquet"), *extra, check=False)
            assert res.returncode == 1 and "bad.jpg" in res.stderr  # the bad file named, the rest written
        a, _ = read_frame(tmp_path / "local.parquet")
        b, _ = read_frame(tmp_path / "ray.parquet")
        assert len(a) == 5
        pd.testing.assert_frame_equal(a, b)  # same rows, same order, same values
