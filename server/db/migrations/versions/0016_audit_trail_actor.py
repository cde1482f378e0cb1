"""audit trail: the actor's name and user agent, and an index for provider-scoped reads

Revision ID: 0016
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("user_agent", sa.String(length=400), nullable=True))
        batch_op.create_index("ix_audit_events_provider", ["actor_provider_id", "at"])


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_provider")
        batch_op.drop_column("user_agent")
        batch_op.drop_column("actor_name")
