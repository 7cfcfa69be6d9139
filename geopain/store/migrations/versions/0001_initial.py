"""The monitor's first tables: model versions, runs, sequences, subjects, windows, scores,
landmarks, alerts, snapshots.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("task", sa.String(16), nullable=False),
        sa.Column("scheme", sa.String(64), nullable=False),
        sa.Column("geopain_version", sa.String(32)),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("calibration", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("settings", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("stats", sa.Text),
        sa.Column("n_subjects", sa.Integer, nullable=False),
        sa.Column("n_windows", sa.Integer, nullable=False),
        sa.Column("n_alerts", sa.Integer, nullable=False),
    )
    op.create_table(
        "sequences",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("fps", sa.Float),
        sa.Column("n_frames", sa.Integer),
        sa.Column("origin_at", sa.Float),
        sa.Column("resume_ms", sa.Integer, nullable=False),
        sa.Column("done", sa.Boolean, nullable=False),
        sa.Column("tracker", sa.Text),
        sa.UniqueConstraint("run_id", "name", name="uq_sequences_run_name"),
    )
    op.create_table(
        "subjects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sequence_id", sa.Integer, sa.ForeignKey("sequences.id", ondelete="CASCADE"), nullable=False),
        sa.Column("face_id", sa.Integer, nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.UniqueConstraint("sequence_id", "face_id", name="uq_subjects_sequence_face"),
    )
    op.create_index("ix_subjects_run", "subjects", ["run_id"])
    op.create_table(
        "windows",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subject_id", sa.Integer, sa.ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("start_ms", sa.Integer, nullable=False),
        sa.Column("end_ms", sa.Integer, nullable=False),
        sa.Column("n_processed", sa.Integer, nullable=False),
        sa.Column("n_face", sa.Integer, nullable=False),
        sa.Column("n_skipped", sa.Integer, nullable=False),
        sa.UniqueConstraint("subject_id", "start_ms", name="uq_windows_subject_start"),
    )
    op.create_index("ix_windows_run", "windows", ["run_id"])
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("window_id", sa.Integer, sa.ForeignKey("windows.id", ondelete="CASCADE"), nullable=False),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("probs", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("explanation", sa.Text),
        sa.UniqueConstraint("window_id", "model_version_id", name="uq_scores_window_model"),
    )
    op.create_table(
        "landmarks",
        sa.Column("window_id", sa.Integer, sa.ForeignKey("windows.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("frame", sa.Integer, nullable=False),
        sa.Column("t_ms", sa.Integer, nullable=False),
        sa.Column("scheme", sa.String(64), nullable=False),
        sa.Column("n_points", sa.Integer, nullable=False),
        sa.Column("coords", sa.LargeBinary, nullable=False),
        sa.Column("image_w", sa.Integer),
        sa.Column("image_h", sa.Integer),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subject_id", sa.Integer, sa.ForeignKey("subjects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("start_ms", sa.Integer, nullable=False),
        sa.Column("end_ms", sa.Integer, nullable=False),
        sa.Column("peak", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("open", sa.Boolean, nullable=False),
        sa.UniqueConstraint("subject_id", "start_ms", name="uq_alerts_subject_start"),
    )
    op.create_index("ix_alerts_run", "alerts", ["run_id"])
    op.create_table(
        "snapshots",
        sa.Column("window_id", sa.Integer, sa.ForeignKey("windows.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("jpeg", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    for name in ("snapshots", "alerts", "landmarks", "scores", "windows", "subjects", "sequences", "runs",
                 "model_versions"):
        op.drop_table(name)
