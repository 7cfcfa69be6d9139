"""The monitor's tables (SQLAlchemy Core): what one monitoring run stores.

``model_versions`` (one row per distinct saved model, by content digest) <- ``runs`` (one
per source + settings) <- ``sequences`` (a video file, a camera, one image; holds the resume
point and the face tracker's state) <- ``subjects`` (one tracked face of a sequence) <-
``windows`` (a time window of one subject: frame counts) <- ``scores`` (one per window and
model: value, status, reason), ``landmarks`` (the window's middle face frame, model scheme,
source pixels), ``snapshots`` (JPEG face crops, only with ``--snapshots``); ``alerts`` (a
subject's score above the threshold for at least the set time). Times are milliseconds of
the source (``*_ms``) or epoch seconds (``*_at``). Unique keys make every write idempotent.
The migrations in ``geopain/store/migrations`` create exactly these tables.
"""
from __future__ import annotations

from sqlalchemy import (Boolean, Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Text,
                        UniqueConstraint)

metadata = MetaData()

model_versions = Table(
    "model_versions", metadata,
    Column("id", Integer, primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("path", Text, nullable=False),
    Column("task", String(16), nullable=False),
    Column("scheme", String(64), nullable=False),
    Column("geopain_version", String(32)),
    Column("config", Text, nullable=False),
    Column("calibration", Text),
    Column("created_at", Float, nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("source", Text, nullable=False),
    Column("source_kind", String(16), nullable=False),
    Column("model_version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("settings", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("stats", Text),
    Column("n_subjects", Integer, nullable=False, default=0),
    Column("n_windows", Integer, nullable=False, default=0),
    Column("n_alerts", Integer, nullable=False, default=0),
)

sequences = Table(
    "sequences", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("fps", Float),
    Column("n_frames", Integer),
    Column("origin_at", Float),
    Column("resume_ms", Integer, nullable=False, default=0),
    Column("done", Boolean, nullable=False, default=False),
    Column("tracker", Text),
    UniqueConstraint("run_id", "name", name="uq_sequences_run_name"),
)

subjects = Table(
    "subjects", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("sequence_id", Integer, ForeignKey("sequences.id", ondelete="CASCADE"), nullable=False),
    Column("face_id", Integer, nullable=False),
    Column("label", Text, nullable=False),
    UniqueConstraint("sequence_id", "face_id", name="uq_subjects_sequence_face"),
    Index("ix_subjects_run", "run_id"),
)

windows = Table(
    "windows", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("subject_id", Integer, ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False),
    Column("start_ms", Integer, nullable=False),
    Column("end_ms", Integer, nullable=False),
    Column("n_processed", Integer, nullable=False),
    Column("n_face", Integer, nullable=False),
    Column("n_skipped", Integer, nullable=False),
    UniqueConstraint("subject_id", "start_ms", name="uq_windows_subject_start"),
    Index("ix_windows_run", "run_id"),
)

scores = Table(
    "scores", metadata,
    Column("id", Integer, primary_key=True),
    Column("window_id", Integer, ForeignKey("windows.id", ondelete="CASCADE"), nullable=False),
    Column("model_version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
    Column("value", Float),
    Column("probs", Text),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("explanation", Text),
    UniqueConstraint("window_id", "model_version_id", name="uq_scores_window_model"),
)

landmarks = Table(
    "landmarks", metadata,
    Column("window_id", Integer, ForeignKey("windows.id", ondelete="CASCADE"), primary_key=True),
    Column("frame", Integer, nullable=False),
    Column("t_ms", Integer, nullable=False),
    Column("scheme", String(64), nullable=False),
    Column("n_points", Integer, nullable=False),
    Column("coords", LargeBinary, nullable=False),
    Column("image_w", Integer),
    Column("image_h", Integer),
)

alerts = Table(
    "alerts", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("subject_id", Integer, ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False),
    Column("start_ms", Integer, nullable=False),
    Column("end_ms", Integer, nullable=False),
    Column("peak", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("open", Boolean, nullable=False, default=True),
    UniqueConstraint("subject_id", "start_ms", name="uq_alerts_subject_start"),
    Index("ix_alerts_run", "run_id"),
)

snapshots = Table(
    "snapshots", metadata,
    Column("window_id", Integer, ForeignKey("windows.id", ondelete="CASCADE"), primary_key=True),
    Column("jpeg", LargeBinary, nullable=False),
)
