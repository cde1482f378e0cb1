"""dispatch: calendars, service areas, dispatch modes, choices, SLA alerts, order refs

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import server.db.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UTC = server.db.base.UTCDateTime(timezone=True)


def _json() -> Any:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "technician_calendars",
        sa.Column("technician_id", sa.Uuid(), nullable=False),
        sa.Column("weekly", _json(), nullable=False),
        sa.Column("jobs_per_window", sa.Integer(), nullable=False),
        sa.Column("home_latitude", sa.Double(), nullable=True),
        sa.Column("home_longitude", sa.Double(), nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["users.id"],
            name=op.f("fk_technician_calendars_technician_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("technician_id", name=op.f("pk_technician_calendars")),
    )
    op.create_table(
        "calendar_exceptions",
        sa.Column("technician_id", sa.Uuid(), nullable=True),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("start", sa.String(length=5), nullable=True),
        sa.Column("end", sa.String(length=5), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_calendar_exceptions_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_calendar_exceptions_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["users.id"],
            name=op.f("fk_calendar_exceptions_technician_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_exceptions")),
    )
    op.create_index(
        "ix_calendar_exceptions_technician_day",
        "calendar_exceptions",
        ["technician_id", "first_day"],
    )
    op.create_index(
        "ix_calendar_exceptions_provider_day", "calendar_exceptions", ["provider_id", "first_day"]
    )
    op.create_table(
        "service_areas",
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("city_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("latitude", sa.Double(), nullable=False),
        sa.Column("longitude", sa.Double(), nullable=False),
        sa.Column("radius_km", sa.Double(), nullable=False),
        sa.Column("daily_jobs", sa.Integer(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"],
            ["cities.id"],
            name=op.f("fk_service_areas_city_id_cities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_service_areas_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_areas")),
    )
    op.create_index("ix_service_areas_provider_city", "service_areas", ["provider_id", "city_id"])
    op.create_table(
        "city_dispatch",
        sa.Column("city_id", sa.Uuid(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("contact_warn_minutes", sa.Integer(), nullable=False),
        sa.Column("onsite_warn_minutes", sa.Integer(), nullable=False),
        sa.Column("redispatch_urgent", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["city_id"],
            ["cities.id"],
            name=op.f("fk_city_dispatch_city_id_cities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("city_id", name=op.f("pk_city_dispatch")),
    )
    op.create_table(
        "dispatch_choices",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("trigger", sa.String(length=24), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("technician_id", sa.Uuid(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("reasons", _json(), nullable=False),
        sa.Column("ranking", _json(), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", UTC, nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["users.id"],
            name=op.f("fk_dispatch_choices_decided_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_dispatch_choices_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_dispatch_choices_provider_id_providers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["users.id"],
            name=op.f("fk_dispatch_choices_technician_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_choices")),
    )
    op.create_index("ix_dispatch_choices_job_at", "dispatch_choices", ["job_id", "at"])
    op.create_table(
        "dispatch_alerts",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("technician_id", sa.Uuid(), nullable=True),
        sa.Column("due_at", UTC, nullable=False),
        sa.Column("raised_at", UTC, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", _json(), nullable=False),
        sa.Column("acknowledged_at", UTC, nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["users.id"],
            name=op.f("fk_dispatch_alerts_acknowledged_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_dispatch_alerts_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_dispatch_alerts_provider_id_providers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["users.id"],
            name=op.f("fk_dispatch_alerts_technician_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_alerts")),
        sa.UniqueConstraint("job_id", "kind", name=op.f("uq_dispatch_alerts_job_id_kind")),
    )
    op.create_index("ix_dispatch_alerts_open", "dispatch_alerts", ["acknowledged_at", "raised_at"])
    op.create_index(op.f("ix_dispatch_alerts_provider_id"), "dispatch_alerts", ["provider_id"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("sla_breached_at", UTC, nullable=True))
        batch.add_column(sa.Column("external_ref", sa.String(length=64), nullable=True))
    op.create_index("ix_jobs_external_ref", "jobs", ["external_ref", "source"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_jobs_external_ref", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("external_ref")
        batch.drop_column("sla_breached_at")
    op.drop_table("dispatch_alerts")
    op.drop_table("dispatch_choices")
    op.drop_table("city_dispatch")
    op.drop_table("service_areas")
    op.drop_table("calendar_exceptions")
    op.drop_table("technician_calendars")
