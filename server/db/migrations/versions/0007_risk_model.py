"""risk model: each task's probability and model version, versioned weight sets

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import server.db.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("callback_tasks") as batch:
        batch.add_column(sa.Column("risk_probability", sa.Double(), nullable=True))
        batch.add_column(sa.Column("risk_model", sa.String(length=64), nullable=True))
    op.create_table(
        "risk_models",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("intercepts", JSON, nullable=False),
        sa.Column("weights", JSON, nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("created_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("activated_at", server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_index(
        "ix_callback_tasks_not_home_queue",
        "callback_tasks",
        ["state", "kind", "risk_probability", "due_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_callback_tasks_not_home_queue", table_name="callback_tasks")
    op.drop_table("risk_models")
    with op.batch_alter_table("callback_tasks") as batch:
        batch.drop_column("risk_model")
        batch.drop_column("risk_probability")
