"""the day's plan: proposals of the routing solver, accepted or discarded by a dispatcher

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import server.db.base

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UTC = server.db.base.UTCDateTime(timezone=True)


def _json() -> Any:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _fk(col: str, table: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [col],
        [f"{table}.id"],
        name=op.f(f"fk_dispatch_plans_{col}_{table}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "dispatch_plans",
        sa.Column("city_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("time_limit_s", sa.Double(), nullable=False),
        sa.Column("solve_s", sa.Double(), nullable=False),
        sa.Column("travel_m", sa.Integer(), nullable=False),
        sa.Column("baseline_travel_m", sa.Integer(), nullable=False),
        sa.Column("baseline_served", sa.Integer(), nullable=False),
        sa.Column("routes", _json(), nullable=False),
        sa.Column("unassigned", _json(), nullable=False),
        sa.Column("decided_at", UTC, nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("outcome", _json(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        _fk("city_id", "cities", "CASCADE"),
        _fk("created_by", "users", "SET NULL"),
        _fk("decided_by", "users", "SET NULL"),
        _fk("provider_id", "providers", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_plans")),
    )
    op.create_index("ix_dispatch_plans_city_day", "dispatch_plans", ["city_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_dispatch_plans_city_day", table_name="dispatch_plans")
    op.drop_table("dispatch_plans")
