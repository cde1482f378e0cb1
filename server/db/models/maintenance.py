"""Maintenance plans: the recurring services an appliance model (or one appliance)
needs, and each appliance's schedule of them."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, IdMixin, Json, utcnow


class MaintenancePlan(IdMixin, Base):
    """Applies to appliances of ``category`` (and ``brand``/``model`` when not empty),
    or to the one appliance ``appliance_id``."""

    __tablename__ = "maintenance_plans"
    __table_args__ = (Index("ix_maintenance_plans_category", "category", "brand", "model"),)

    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    brand: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(120), default="")
    appliance_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appliances.id", ondelete="CASCADE"), index=True
    )
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MaintenanceTask(IdMixin, Base):
    """One recurring service of a plan: every ``interval_days`` (from the install date,
    then from the last time it was done) or every ``usage_interval`` units of use,
    whichever comes first; ``parts``: ``[{"code", "name", "quantity"}]`` the technician
    carries; the job is created ``lead_days`` before it is due."""

    __tablename__ = "maintenance_tasks"

    plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("maintenance_plans.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    interval_days: Mapped[int | None]
    usage_interval: Mapped[int | None]
    usage_unit: Mapped[str] = mapped_column(String(16), default="")
    parts: Mapped[list[dict[str, object]]] = mapped_column(Json, default=list)
    lead_days: Mapped[int] = mapped_column(default=14)
    description: Mapped[str] = mapped_column(Text, default="")


class MaintenanceSchedule(IdMixin, Base):
    """An appliance's due date for one task: ``job_id`` the open maintenance job made for
    it; ``last_done_on`` when it was last done (a completed job)."""

    __tablename__ = "maintenance_schedules"
    __table_args__ = (
        UniqueConstraint("appliance_id", "task_id"),
        Index("ix_maintenance_schedules_due", "due_on"),
    )

    appliance_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appliances.id", ondelete="CASCADE"))
    task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("maintenance_tasks.id", ondelete="CASCADE")
    )
    due_on: Mapped[date]
    last_done_on: Mapped[date | None]
    last_job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL")
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    usage_at_last: Mapped[int | None]
    usage_now: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
