"""location traces: the breadcrumbs a phone records en route and on site, one row per chunk

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import server.db.base

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "location_trace_chunks",
        sa.Column("trace_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("last", sa.Boolean(), nullable=False),
        sa.Column("started_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("point_count", sa.Integer(), nullable=False),
        sa.Column("mock_points", sa.Integer(), nullable=False),
        sa.Column("points", JSON, nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("technician_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("device_time", server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("flags", JSON, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_location_trace_chunks_device_id_devices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_location_trace_chunks_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["users.id"],
            name=op.f("fk_location_trace_chunks_technician_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_location_trace_chunks")),
        sa.UniqueConstraint("trace_id", "seq", name=op.f("uq_location_trace_chunks_trace_id_seq")),
    )
    op.create_index(
        op.f("ix_location_trace_chunks_job_id"), "location_trace_chunks", ["job_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_location_trace_chunks_job_id"), table_name="location_trace_chunks")
    op.drop_table("location_trace_chunks")
