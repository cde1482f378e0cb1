"""maintenance plans: recurring services per appliance model or appliance, each
appliance's schedule of them, and the parts a job carries

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import server.db.base

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

UTC = server.db.base.UTCDateTime(timezone=True)


def _json() -> Any:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _fk(table: str, col: str, ref: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [col], [f"{ref}.id"], name=op.f(f"fk_{table}_{col}_{ref}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "maintenance_plans",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("brand", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=120), nullable=False),
        sa.Column("appliance_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        _fk("maintenance_plans", "appliance_id", "appliances", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_plans")),
    )
    op.create_index(
        "ix_maintenance_plans_category", "maintenance_plans", ["category", "brand", "model"]
    )
    op.create_index(
        op.f("ix_maintenance_plans_appliance_id"), "maintenance_plans", ["appliance_id"]
    )
    op.create_table(
        "maintenance_tasks",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("interval_days", sa.Integer(), nullable=True),
        sa.Column("usage_interval", sa.Integer(), nullable=True),
        sa.Column("usage_unit", sa.String(length=16), nullable=False),
        sa.Column("parts", _json(), nullable=False),
        sa.Column("lead_days", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        _fk("maintenance_tasks", "plan_id", "maintenance_plans", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_tasks")),
    )
    op.create_index(op.f("ix_maintenance_tasks_plan_id"), "maintenance_tasks", ["plan_id"])
    op.create_table(
        "maintenance_schedules",
        sa.Column("appliance_id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("last_done_on", sa.Date(), nullable=True),
        sa.Column("last_job_id", sa.Uuid(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("usage_at_last", sa.Integer(), nullable=True),
        sa.Column("usage_now", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        _fk("maintenance_schedules", "appliance_id", "appliances", "CASCADE"),
        _fk("maintenance_schedules", "job_id", "jobs", "SET NULL"),
        _fk("maintenance_schedules", "last_job_id", "jobs", "SET NULL"),
        _fk("maintenance_schedules", "task_id", "maintenance_tasks", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_schedules")),
        sa.UniqueConstraint(
            "appliance_id", "task_id", name=op.f("uq_maintenance_schedules_appliance_id_task_id")
        ),
    )
    op.create_index("ix_maintenance_schedules_due", "maintenance_schedules", ["due_on"])
    op.create_index(op.f("ix_maintenance_schedules_job_id"), "maintenance_schedules", ["job_id"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("parts", _json(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("parts")
    op.drop_index(op.f("ix_maintenance_schedules_job_id"), table_name="maintenance_schedules")
    op.drop_index("ix_maintenance_schedules_due", table_name="maintenance_schedules")
    op.drop_table("maintenance_schedules")
    op.drop_index(op.f("ix_maintenance_tasks_plan_id"), table_name="maintenance_tasks")
    op.drop_table("maintenance_tasks")
    op.drop_index(op.f("ix_maintenance_plans_appliance_id"), table_name="maintenance_plans")
    op.drop_index("ix_maintenance_plans_category", table_name="maintenance_plans")
    op.drop_table("maintenance_plans")
