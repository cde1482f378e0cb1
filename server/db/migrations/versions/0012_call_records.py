"""carrier call records: the number-protection service's proof that a call happened

Revision ID: 0012
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import server.db.base

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "carrier_call_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("masked_number", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("technician_id", sa.Uuid(), nullable=True),
        sa.Column("caller", sa.String(length=32), nullable=False),
        sa.Column("callee", sa.String(length=32), nullable=False),
        sa.Column("started_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("received_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id"),
    )
    op.create_index("ix_carrier_call_records_job_id", "carrier_call_records", ["job_id"])
    op.create_index("ix_carrier_call_records_received_at", "carrier_call_records", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_carrier_call_records_received_at", table_name="carrier_call_records")
    op.drop_index("ix_carrier_call_records_job_id", table_name="carrier_call_records")
    op.drop_table("carrier_call_records")
