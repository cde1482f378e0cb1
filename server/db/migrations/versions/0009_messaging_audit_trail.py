"""messaging gateway states and the audit trail of desk actions

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 07:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import server.db.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = server.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("gateway_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("accepted_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("delivered_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("failed_at", WHEN, nullable=True))
        batch_op.create_index(batch_op.f("ix_notifications_gateway_id"), ["gateway_id"])
    # The log sender used to say "sent" of a message that never left the server.
    op.execute("UPDATE notifications SET status = 'logged' WHERE status = 'sent'")

    op.create_table(
        "audit_events",
        sa.Column("at", WHEN, nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=False),
        sa.Column("actor_provider_id", sa.Uuid(), nullable=True),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=400), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("before", JSON, nullable=True),
        sa.Column("after", JSON, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_at", ["at"])
        batch_op.create_index("ix_audit_events_entity", ["entity", "entity_id", "at"])
        batch_op.create_index("ix_audit_events_actor", ["actor_id", "at"])


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_actor")
        batch_op.drop_index("ix_audit_events_entity")
        batch_op.drop_index("ix_audit_events_at")
    op.drop_table("audit_events")
    op.execute("UPDATE notifications SET status = 'sent' WHERE status = 'logged'")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_gateway_id"))
        batch_op.drop_column("failed_at")
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("accepted_at")
        batch_op.drop_column("gateway_id")
        batch_op.drop_column("next_attempt_at")
