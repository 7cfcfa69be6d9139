"""geopain.store on SQLite and on a real PostgreSQL server started here (skipped, with the reason,
where PostgreSQL is not installed): migrations, idempotent batches, resume, the monitor and
the dashboard on each."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from _monitor_common import MODEL, free_port, postgres_binaries, run_as

pytest.importorskip("sqlalchemy")


@pytest.fixture(scope="module")
def postgres_url():
    """A PostgreSQL server on a temporary data folder and a free port, stopped afterwards."""
    bins = postgres_binaries()
    if bins is None:
        pytest.skip("PostgreSQL is not installed (no initdb/pg_ctl; 'make system-deps' installs Debian's "
                    "postgresql when run as root)")
    initdb, pg_ctl = bins
    user = None
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as the postgres account
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' account to run the server as")
        user = "postgres"
    base = Path(tempfile.mkdtemp(prefix="geopain-pg-", dir="/tmp"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if user:
        for p in (base, sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    port = free_port()
    r = run_as(user, [str(initdb), "-D", str(data), "-U", "geopain", "--auth=trust", "-E", "UTF8", "--no-sync"],
               timeout=120)
    if r.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"initdb failed: {r.stderr[-500:]}")
    log = base / "server.log"
    r = run_as(user, [str(pg_ctl), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
                      f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off", "start"], timeout=90)
    if r.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed: {r.stderr[-500:]}")
    try:
        yield f"postgresql://geopain@127.0.0.1:{port}/postgres"
    finally:
        run_as(user, [str(pg_ctl), "-D", str(data), "-m", "immediate", "-w", "stop"], timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    from geopain.store import open_store

    if request.param == "sqlite":
        s = open_store(tmp_path / "m.sqlite")
    else:
        url = request.getfixturevalue("postgres_url")
        s = open_store(url)
        from sqlalchemy import text

        with s.engine.begin() as conn:  # each test starts from an empty schema
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        s.migrate()
    yield s
    s.close()


def _records(n: int, value: float = 5.0, face_id: int = 0):
    from geopain.species import get_scheme
    from geopain.store import WindowRecord

    face = get_scheme("human/ibug68").template.astype(np.float32) * 100 + 200
    return [WindowRecord(face_id=face_id, label=f"cam#face{face_id}", start_ms=i * 1000, end_ms=i * 1000 + 2000,
                         n_processed=50, n_face=50, n_skipped=0, value=value, status="scored", probs={"p_1": 0.7},
                         landmarks=face, landmark_frame=i * 25, landmark_ms=i * 1000, scheme="human/ibug68")
            for i in range(n)]


class TestOpenStore:
    def test_smoke_migrations_applied(self, store):
        from sqlalchemy import inspect

        assert store.revision() == "0001"
        assert {"runs", "subjects", "windows", "scores", "alerts", "model_versions", "landmarks"} <= \
            set(inspect(store.engine).get_table_names())
        store.migrate()  # a second time changes nothing
        assert store.revision() == "0001"

    def test_exception_unusable_urls_are_one_line(self, tmp_path):
        from geopain.store import StoreError, database_url, open_store

        assert database_url("postgresql://u@h:5/d") == "postgresql+psycopg://u@h:5/d"
        assert database_url(tmp_path / "x.sqlite").startswith("sqlite:////")
        with pytest.raises(StoreError, match="only sqlite"):
            open_store("mysql://u@h/d")
        with pytest.raises(StoreError, match="cannot open database"):
            open_store(f"postgresql://nobody:secret@127.0.0.1:{free_port()}/none")


class TestWriteBatch:
    def test_feature_idempotent_and_alerts(self, store):
        from geopain.store import AlertSettings

        mv = store.model_version(MODEL)
        run_id, resumed = store.open_run("k1", "cam", "camera", mv, {"threshold": 1.0})
        assert not resumed and store.open_run("k1", "cam", "camera", mv, {})[1]
        seq = store.open_sequence(run_id, "cam", "camera", 25.0, None)
        alerts = AlertSettings(threshold=1.0, min_duration_ms=3000)
        first = store.write_batch(run_id, seq.id, "cam", mv, _records(4), 4000, {"ids": [0]}, alerts)
        again = store.write_batch(run_id, seq.id, "cam", mv, _records(4, value=0.0), 4000, {"ids": [0]}, alerts)
        assert first.new_windows == 4 and again.new_windows == 0
        keys = store.window_keys(run_id)
        assert len(keys) == 4 and all(k[2] == 1 for k in keys)
        tl = store.timeline(store.run(run_id)["subjects"][0]["id"], mv)
        assert np.all(tl["value"] == 5.0)  # the first write stays
        (a,) = store.alerts(run_id=run_id)
        assert (a["start_ms"], a["end_ms"], a["open"]) == (0, 5000, True)
        st = store.open_sequence(run_id, "cam", "camera", 25.0, None)
        assert st.resume_ms == 4000 and st.tracker == {"ids": [0]}
        store.write_batch(run_id, seq.id, "cam", mv, [], 4000, None, alerts, done=True)
        assert store.alerts(run_id=run_id)[0]["open"] is False
        w = store.window(int(tl["id"][0]))
        assert w["landmarks"]["coords"].shape == (68, 3) and w["scores"][0]["probs"] == {"p_1": 0.7}


class TestMonitorOnEachDatabase:
    def test_feature_table_monitored_and_dashboard_reads_it(self, store, tmp_path):
        """The monitor (a landmark table: no detector) writes through the store, the dashboard
        reads it; a face upside down is stored as abstained with the model's reason."""
        from fastapi.testclient import TestClient

        from geopain.io.tables import write_table
        from geopain.landmarks import LandmarkSequence
        from geopain.monitor import Monitor, MonitorSettings, open_source
        from geopain.species import get_scheme
        from geopain.web import create_app

        rng = np.random.default_rng(0)
        upright = get_scheme("human/ibug68").template * [100, -100, 100] + 200  # the template is y-up, images y-down
        faces = {"bed0": upright, "bed1": upright * [1, -1, 1] + [0, 400, 0]}  # bed1: upside down
        seqs = [LandmarkSequence(coords=(f + rng.normal(0, 0.5, (100,) + f.shape)).astype(np.float32),
                                 scheme="human/ibug68", fps=25.0, subject=k, sequence=k, face_id=0)
                for k, f in faces.items()]
        table = tmp_path / "beds.parquet"
        write_table(seqs, table)
        mon = Monitor(store, MODEL, MonitorSettings(window_s=1.0, step_s=1.0, threshold=-1, alert_after_s=2),
                      progress=False, on_alert=lambda line: None)
        try:
            run_id, stats = mon.run(open_source(str(table)))
        finally:
            mon.close()
        assert stats["windows_scored"] == 4 and stats["windows_abstained"] == 4  # 2 subjects x 4 s
        run = store.run(run_id)
        subj = {s["label"]: s["id"] for s in run["subjects"]}
        assert sorted(subj) == ["bed0#face0", "bed1#face0"]
        (score,) = store.window(int(store.timeline(subj["bed1#face0"], run["model_version_id"])["id"][0]))["scores"]
        assert score["status"] == "abstained" and "pitch" in score["reason"] and score["value"] is None
        assert [a["subject_id"] for a in store.alerts(run_id=run_id)] == [subj["bed0#face0"]]
        c = TestClient(create_app(store))
        assert "bed0#face0" in c.get(f"/runs/{run_id}").text
        assert c.get(f"/subjects/{subj['bed0#face0']}").text.count('class="moment"') == 4
        page = c.get(f"/subjects/{subj['bed1#face0']}").text
        assert "4 abstained" in page and 'class="abstained"' in page
