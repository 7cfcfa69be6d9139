"""The monitor's database: SQLite by default, PostgreSQL by URL, through SQLAlchemy + Alembic.

:func:`open_store` takes a URL (``sqlite:///path``, ``postgresql://user@host:port/db``) or a
plain file path (SQLite), applies the migrations shipped in ``geopain/store/migrations``
and returns a :class:`Store`. Every write is idempotent: windows, scores, landmarks and
alerts have unique keys and are inserted with "on conflict do nothing/update", and one
batch (windows + scores + alerts + the sequence's resume point) is one transaction, so a
monitor killed at any moment and started again loses no window and stores none twice.
Landmarks and scores only: face crops are written only when the monitor asks
(``--snapshots``).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import GeopainError
from ..jsonio import dumps
from . import schema as S

#: File name of the default SQLite database inside an output folder.
DEFAULT_DB_NAME = "monitor.sqlite"


class StoreError(GeopainError):
    """A database that cannot be opened, migrated or written."""


def database_url(db: str | os.PathLike) -> str:
    """A SQLAlchemy URL from a URL or a plain path (SQLite); ``postgresql://`` uses psycopg 3."""
    text = str(db)
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    scheme, rest = text.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    if scheme.split("+")[0] not in ("sqlite", "postgresql"):
        raise StoreError(f"--db {text}: only sqlite:/// and postgresql:// databases are supported")
    return text


def redact(url: str) -> str:
    """The URL without its password, for messages and the dashboard."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database>"


def open_store(db: str | os.PathLike, migrate: bool = True) -> "Store":
    """Connect to ``db`` (URL or SQLite path), apply pending migrations, return a :class:`Store`."""
    from sqlalchemy import create_engine, event

    url = database_url(db)
    kw: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kw["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kw["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kw)
    except Exception as exc:  # a missing driver, a malformed URL
        raise StoreError(f"cannot use database {redact(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001 - DB-API connection
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # the dashboard reads while the monitor writes
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
    store = Store(engine)
    if migrate:
        store.migrate()
    return store


def migrations_dir() -> Path:
    return Path(__file__).with_name("migrations")


@dataclass
class WindowRecord:
    """One window of one tracked face, ready to store.

    ``landmarks``: ``(N, 3)`` float32 source pixels of the window's middle face frame (model
    scheme), or ``None`` when no face was found; ``value`` the score (NaN when abstained).
    """

    face_id: int
    label: str
    start_ms: int
    end_ms: int
    n_processed: int
    n_face: int
    n_skipped: int
    value: float
    status: str
    reason: str | None = None
    probs: dict[str, float] | None = None
    explanation: Any = None
    landmarks: np.ndarray | None = None
    landmark_frame: int = -1
    landmark_ms: int = -1
    scheme: str = ""
    image_size: tuple[int, int] | None = None
    snapshot: bytes | None = None


@dataclass
class SequenceState:
    """Where a sequence stands: the next window start to compute and the tracker state."""

    id: int
    resume_ms: int
    done: bool
    tracker: dict | None
    origin_at: float | None
    fps: float | None = None


@dataclass
class AlertSettings:
    threshold: float
    min_duration_ms: int


@dataclass
class BatchResult:
    new_windows: int = 0
    alerts: list[dict] = field(default_factory=list)


def file_digest(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _insert(conn, table):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _insert_ignore(conn, table, rows: list[dict], keys: list[str]) -> None:
    if rows:
        conn.execute(_insert(conn, table).on_conflict_do_nothing(index_elements=keys), rows)


def _json(value: Any) -> str | None:
    return None if value is None else dumps(value, indent=None)


class Store:
    """Reads and idempotent writes of monitoring runs (see the module docstring)."""

    def __init__(self, engine):
        self.engine = engine

    @property
    def url(self) -> str:
        return redact(str(self.engine.url.render_as_string(hide_password=False)))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # -- schema ----------------------------------------------------------------------------
    def migrate(self) -> None:
        """Apply the shipped Alembic migrations up to the newest (no-op when current)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(migrations_dir()))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except Exception as exc:
            raise StoreError(f"cannot open database {self.url}: {type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:300]}") from None

    def revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    # -- writing ---------------------------------------------------------------------------
    def model_version(self, model_dir: str | os.PathLike) -> int:
        """Id of the model saved in ``model_dir`` (registered once per content digest)."""
        from sqlalchemy import select

        d = Path(model_dir)
        cfg_path = d / "config.json"
        files = [cfg_path] + sorted(p for p in d.glob("*.safetensors"))
        digest = file_digest(files)
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
        calibration = None  # what the model learned (temperature scaling), else a calibration.json beside it
        if config.get("calibration"):
            calibration = dumps(config["calibration"], indent=None)
        elif (d / "calibration.json").is_file():
            calibration = (d / "calibration.json").read_text(encoding="utf-8")
        row = {"digest": digest, "name": d.resolve().name, "path": str(d.resolve()),
               "task": str(config.get("params", {}).get("task", "?")), "scheme": str(config.get("scheme", "?")),
               "geopain_version": str(config.get("geopain_version", "")), "config": dumps(config, indent=None),
               "calibration": calibration, "created_at": time.time()}
        with self.engine.begin() as conn:
            _insert_ignore(conn, S.model_versions, [row], ["digest"])
            return int(conn.execute(select(S.model_versions.c.id).where(S.model_versions.c.digest == digest)).scalar_one())

    def open_run(self, key: str, source: str, source_kind: str, model_version_id: int,
                 settings: dict) -> tuple[int, bool]:
        """``(run id, resumed)``: the run of ``key``, created or marked running again."""
        from sqlalchemy import select, update

        now = time.time()
        row = {"key": key, "source": source, "source_kind": source_kind, "model_version_id": model_version_id,
               "settings": _json(settings), "status": "running", "started_at": now, "updated_at": now,
               "n_subjects": 0, "n_windows": 0, "n_alerts": 0}
        with self.engine.begin() as conn:
            existing = conn.execute(select(S.runs.c.id).where(S.runs.c.key == key)).scalar_one_or_none()
            if existing is not None:
                conn.execute(update(S.runs).where(S.runs.c.id == existing)
                             .values(status="running", updated_at=now, finished_at=None))
                return int(existing), True
            _insert_ignore(conn, S.runs, [row], ["key"])
            return int(conn.execute(select(S.runs.c.id).where(S.runs.c.key == key)).scalar_one()), False

    def open_sequence(self, run_id: int, name: str, kind: str, fps: float | None, n_frames: int | None) -> SequenceState:
        from sqlalchemy import select

        row = {"run_id": run_id, "name": name, "kind": kind, "fps": fps, "n_frames": n_frames,
               "origin_at": time.time(), "resume_ms": 0, "done": False, "tracker": None}
        with self.engine.begin() as conn:
            _insert_ignore(conn, S.sequences, [row], ["run_id", "name"])
            r = conn.execute(select(S.sequences).where(S.sequences.c.run_id == run_id, S.sequences.c.name == name)).one()
        return SequenceState(id=int(r.id), resume_ms=int(r.resume_ms), done=bool(r.done),
                             tracker=json.loads(r.tracker) if r.tracker else None, origin_at=r.origin_at, fps=r.fps)

    def done_sequences(self, run_id: int) -> set[str]:
        from sqlalchemy import select

        with self.engine.connect() as conn:
            return set(conn.execute(select(S.sequences.c.name).where(S.sequences.c.run_id == run_id,
                                                                     S.sequences.c.done.is_(True))).scalars())

    def write_batch(self, run_id: int, sequence_id: int, sequence_name: str, model_version_id: int,
                    records: list[WindowRecord], resume_ms: int, tracker: dict | None, alerts: AlertSettings,
                    done: bool = False) -> BatchResult:
        """Store ``records`` and move the sequence's resume point to ``resume_ms``, in one transaction.

        Windows already stored (same subject and start) are kept as they are; alerts of the
        subjects touched are recomputed from their stored windows (see
        :func:`geopain.monitor.alerts.alert_bands`). ``done``: the sequence is complete.
        """
        from sqlalchemy import func, select, update

        res = BatchResult()
        with self.engine.begin() as conn:
            face_ids = sorted({r.face_id for r in records})
            if face_ids:
                _insert_ignore(conn, S.subjects, [
                    {"run_id": run_id, "sequence_id": sequence_id, "face_id": f,
                     "label": next(r.label for r in records if r.face_id == f)} for f in face_ids],
                    ["sequence_id", "face_id"])
            subj = dict(conn.execute(select(S.subjects.c.face_id, S.subjects.c.id)
                                     .where(S.subjects.c.sequence_id == sequence_id)).all())
            before = conn.execute(select(func.count()).select_from(S.windows)
                                  .where(S.windows.c.run_id == run_id)).scalar_one()
            _insert_ignore(conn, S.windows, [
                {"run_id": run_id, "subject_id": subj[r.face_id], "start_ms": int(r.start_ms), "end_ms": int(r.end_ms),
                 "n_processed": int(r.n_processed), "n_face": int(r.n_face), "n_skipped": int(r.n_skipped)}
                for r in records], ["subject_id", "start_ms"])
            ids: dict[tuple[int, int], int] = {}
            for sid in {subj[r.face_id] for r in records}:
                starts = [int(r.start_ms) for r in records if subj[r.face_id] == sid]
                for wid, start in conn.execute(select(S.windows.c.id, S.windows.c.start_ms).where(
                        S.windows.c.subject_id == sid, S.windows.c.start_ms.in_(starts))):
                    ids[(sid, int(start))] = int(wid)
            wid_of = [ids[(subj[r.face_id], int(r.start_ms))] for r in records]
            _insert_ignore(conn, S.scores, [
                {"window_id": w, "model_version_id": model_version_id,
                 "value": float(r.value) if np.isfinite(r.value) else None, "probs": _json(r.probs),
                 "status": r.status, "reason": r.reason, "explanation": _json(r.explanation)}
                for w, r in zip(wid_of, records)], ["window_id", "model_version_id"])
            _insert_ignore(conn, S.landmarks, [
                {"window_id": w, "frame": int(r.landmark_frame), "t_ms": int(r.landmark_ms), "scheme": r.scheme,
                 "n_points": int(len(r.landmarks)), "coords": np.ascontiguousarray(r.landmarks, np.float32).tobytes(),
                 "image_w": r.image_size[0] if r.image_size else None,
                 "image_h": r.image_size[1] if r.image_size else None}
                for w, r in zip(wid_of, records) if r.landmarks is not None], ["window_id"])
            _insert_ignore(conn, S.snapshots, [{"window_id": w, "jpeg": r.snapshot}
                                               for w, r in zip(wid_of, records) if r.snapshot], ["window_id"])
            face_of = {v: k for k, v in subj.items()}
            for sid in sorted({subj[r.face_id] for r in records}):
                res.alerts.extend({**b, "subject_id": sid, "face_id": face_of[sid]}
                                  for b in self._update_alerts(conn, run_id, sid, model_version_id, alerts, done))
            if done:  # subjects of this sequence without new windows: close their alerts too
                conn.execute(update(S.alerts).where(S.alerts.c.subject_id.in_(list(subj.values())))
                             .values(open=False))
            after = conn.execute(select(func.count()).select_from(S.windows)
                                 .where(S.windows.c.run_id == run_id)).scalar_one()
            res.new_windows = int(after - before)
            conn.execute(update(S.sequences).where(S.sequences.c.id == sequence_id)
                         .values(resume_ms=int(resume_ms), tracker=_json(tracker), done=bool(done)))
            self._update_counts(conn, run_id, n_windows=int(after))
        return res

    def _update_alerts(self, conn, run_id: int, subject_id: int, model_version_id: int, alerts: AlertSettings,
                       final: bool) -> list[dict]:
        """Recompute the alerts of one subject since its last window at or below the threshold."""
        from sqlalchemy import func, select

        from ..monitor.alerts import alert_bands

        w, s = S.windows, S.scores
        joined = w.join(s, (s.c.window_id == w.c.id) & (s.c.model_version_id == model_version_id))
        newest = conn.execute(select(func.max(w.c.start_ms)).where(w.c.subject_id == subject_id)).scalar()
        # a streak never spans a scored window at or below the threshold: start after the last one
        since = conn.execute(select(func.max(w.c.start_ms)).select_from(joined).where(
            w.c.subject_id == subject_id, s.c.status == "scored", s.c.value <= alerts.threshold,
            w.c.start_ms < (newest if newest is not None else 0))).scalar()
        q = select(w.c.start_ms, w.c.end_ms, s.c.value, s.c.status).select_from(joined).where(
            w.c.subject_id == subject_id)
        if since is not None:
            q = q.where(w.c.start_ms >= since)
        rows = conn.execute(q.order_by(w.c.start_ms)).all()
        if not rows:
            return []
        arr = np.array([(r[0], r[1], np.nan if r[2] is None else r[2], r[3] == "scored") for r in rows], dtype=object)
        bands = alert_bands(arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2].astype(np.float64),
                            arr[:, 3].astype(bool), alerts.threshold, alerts.min_duration_ms, final=final)
        if bands:
            stmt = _insert(conn, S.alerts)
            stmt = stmt.on_conflict_do_update(index_elements=["subject_id", "start_ms"], set_={
                "end_ms": stmt.excluded.end_ms, "peak": stmt.excluded.peak, "open": stmt.excluded.open})
            conn.execute(stmt, [{"run_id": run_id, "subject_id": subject_id, "threshold": alerts.threshold, **b}
                                for b in bands])
        return bands

    def _update_counts(self, conn, run_id: int, n_windows: int | None = None) -> None:
        from sqlalchemy import func, select, update

        if n_windows is None:
            n_windows = conn.execute(select(func.count()).select_from(S.windows).where(S.windows.c.run_id == run_id)).scalar_one()
        n_subjects = conn.execute(select(func.count()).select_from(S.subjects).where(S.subjects.c.run_id == run_id)).scalar_one()
        n_alerts = conn.execute(select(func.count()).select_from(S.alerts).where(S.alerts.c.run_id == run_id)).scalar_one()
        conn.execute(update(S.runs).where(S.runs.c.id == run_id).values(
            n_windows=int(n_windows), n_subjects=int(n_subjects), n_alerts=int(n_alerts), updated_at=time.time()))

    def finish_run(self, run_id: int, status: str, stats: dict) -> None:
        """Record the run's end (``finished``, ``stopped`` or ``failed``) and its measurements."""
        from sqlalchemy import update

        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(update(S.runs).where(S.runs.c.id == run_id).values(
                status=status, stats=_json(stats), updated_at=now, finished_at=now if status == "finished" else None))
            self._update_counts(conn, run_id)

    def save_stats(self, run_id: int, stats: dict) -> None:
        from sqlalchemy import update

        with self.engine.begin() as conn:
            conn.execute(update(S.runs).where(S.runs.c.id == run_id).values(stats=_json(stats), updated_at=time.time()))

    # -- reading (the dashboard) ---------------------------------------------------------------
    def runs(self, limit: int = 200, offset: int = 0) -> list[dict]:
        """Newest runs first, with their model's name and the stored counters."""
        from sqlalchemy import select

        r, m = S.runs, S.model_versions
        q = (select(r.c.id, r.c.source, r.c.source_kind, r.c.status, r.c.started_at, r.c.updated_at, r.c.n_subjects,
                    r.c.n_windows, r.c.n_alerts, r.c.stats, m.c.name.label("model"), m.c.id.label("model_id"))
             .select_from(r.join(m, m.c.id == r.c.model_version_id)).order_by(r.c.id.desc()).limit(limit).offset(offset))
        with self.engine.connect() as conn:
            return [_with_json(dict(row._mapping), "stats") for row in conn.execute(q)]

    def count_runs(self) -> int:
        from sqlalchemy import func, select

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(S.runs)).scalar_one())

    def run(self, run_id: int) -> dict | None:
        from sqlalchemy import select

        with self.engine.connect() as conn:
            run_id = int(run_id)
            row = conn.execute(select(S.runs).where(S.runs.c.id == run_id)).first()
            if row is None:
                return None
            out = _with_json(_with_json(dict(row._mapping), "stats"), "settings")
            subjects = conn.execute(
                select(S.subjects.c.id, S.subjects.c.label, S.subjects.c.face_id, S.sequences.c.name.label("sequence"))
                .select_from(S.subjects.join(S.sequences, S.sequences.c.id == S.subjects.c.sequence_id))
                .where(S.subjects.c.run_id == run_id).order_by(S.subjects.c.id)).all()
            out["subjects"] = [dict(s._mapping) for s in subjects]
            out["sequences"] = [dict(s._mapping) for s in conn.execute(
                select(S.sequences.c.id, S.sequences.c.name, S.sequences.c.kind, S.sequences.c.fps,
                       S.sequences.c.n_frames, S.sequences.c.done).where(S.sequences.c.run_id == run_id)
                .order_by(S.sequences.c.id))]
        return out

    def subject(self, subject_id: int) -> dict | None:
        from sqlalchemy import select

        with self.engine.connect() as conn:
            row = conn.execute(select(S.subjects).where(S.subjects.c.id == int(subject_id))).first()
            return None if row is None else dict(row._mapping)

    def timeline(self, subject_id: int, model_version_id: int) -> dict[str, np.ndarray]:
        """Arrays of one subject's windows in time order: ``id``, ``start_ms``, ``end_ms``,
        ``value`` (NaN when abstained), ``scored``."""
        from sqlalchemy import select

        w, s = S.windows, S.scores
        q = (select(w.c.id, w.c.start_ms, w.c.end_ms, s.c.value, s.c.status)
             .select_from(w.outerjoin(s, (s.c.window_id == w.c.id) & (s.c.model_version_id == int(model_version_id))))
             .where(w.c.subject_id == int(subject_id)).order_by(w.c.start_ms))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        n = len(rows)
        return {"id": np.array([r[0] for r in rows], np.int64).reshape(n),
                "start_ms": np.array([r[1] for r in rows], np.int64).reshape(n),
                "end_ms": np.array([r[2] for r in rows], np.int64).reshape(n),
                "value": np.array([np.nan if r[3] is None else r[3] for r in rows], np.float64).reshape(n),
                "scored": np.array([r[4] == "scored" for r in rows], bool).reshape(n)}

    def alerts(self, run_id: int | None = None, subject_id: int | None = None) -> list[dict]:
        from sqlalchemy import select

        q = select(S.alerts).order_by(S.alerts.c.subject_id, S.alerts.c.start_ms)
        if run_id is not None:
            q = q.where(S.alerts.c.run_id == int(run_id))
        if subject_id is not None:
            q = q.where(S.alerts.c.subject_id == int(subject_id))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def window(self, window_id: int) -> dict | None:
        """One window with its scores, landmarks (``coords`` as ``(N, 3)`` float32) and snapshot flag."""
        from sqlalchemy import select

        with self.engine.connect() as conn:
            window_id = int(window_id)
            row = conn.execute(select(S.windows).where(S.windows.c.id == window_id)).first()
            if row is None:
                return None
            out = dict(row._mapping)
            out["scores"] = [_with_json(_with_json(dict(r._mapping), "probs"), "explanation") for r in conn.execute(
                select(S.scores, S.model_versions.c.name.label("model"))
                .select_from(S.scores.join(S.model_versions, S.model_versions.c.id == S.scores.c.model_version_id))
                .where(S.scores.c.window_id == window_id))]
            lm = conn.execute(select(S.landmarks).where(S.landmarks.c.window_id == window_id)).first()
            if lm is not None:
                lmd = dict(lm._mapping)
                lmd["coords"] = np.frombuffer(lmd["coords"], np.float32).reshape(int(lmd["n_points"]), 3)
                out["landmarks"] = lmd
            else:
                out["landmarks"] = None
            out["has_snapshot"] = conn.execute(select(S.snapshots.c.window_id)
                                               .where(S.snapshots.c.window_id == window_id)).first() is not None
        return out

    def snapshot(self, window_id: int) -> bytes | None:
        from sqlalchemy import select

        with self.engine.connect() as conn:
            return conn.execute(select(S.snapshots.c.jpeg).where(S.snapshots.c.window_id == int(window_id))).scalar()

    def models(self) -> list[dict]:
        from sqlalchemy import select

        with self.engine.connect() as conn:
            return [_with_json(_with_json(dict(r._mapping), "config"), "calibration")
                    for r in conn.execute(select(S.model_versions).order_by(S.model_versions.c.id))]

    def model(self, model_id: int) -> dict | None:
        return next((m for m in self.models() if m["id"] == model_id), None)

    def window_keys(self, run_id: int) -> list[tuple[str, int, int]]:
        """``(subject label, start_ms, count)`` of every stored window of a run (tests, audits)."""
        from sqlalchemy import func, select

        q = (select(S.subjects.c.label, S.windows.c.start_ms, func.count())
             .select_from(S.windows.join(S.subjects, S.subjects.c.id == S.windows.c.subject_id))
             .where(S.windows.c.run_id == run_id).group_by(S.subjects.c.label, S.windows.c.start_ms)
             .order_by(S.subjects.c.label, S.windows.c.start_ms))
        with self.engine.connect() as conn:
            return [(str(a), int(b), int(c)) for a, b, c in conn.execute(q)]


def _with_json(d: dict, key: str) -> dict:
    v = d.get(key)
    if isinstance(v, str):
        try:
            d[key] = json.loads(v)
        except ValueError:
            pass
    return d
