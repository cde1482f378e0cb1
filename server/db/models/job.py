"""Jobs (work orders) and their history."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, IdMixin, Json, TimestampMixin, utcnow


class Job(IdMixin, TimestampMixin, Base):
    """A work order. ``window_start``/``window_end`` empty: the appointment is pending.

    ``version`` grows with every change; a phone sends the version it saw so the server
    can tell what changed behind its back. ``previous_job_id`` links an after-sales job to
    the earlier one on the same appliance.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_provider_status", "provider_id", "status"),
        Index("ix_jobs_technician_status", "technician_id", "status"),
        Index("ix_jobs_city_window", "city_id", "window_start"),
        Index("ix_jobs_external_ref", "external_ref", "source", unique=True),
    )

    number: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    source: Mapped[str] = mapped_column(String(16), default="call")
    status: Mapped[str] = mapped_column(String(24), default="new", index=True)
    description: Mapped[str] = mapped_column(Text, default="")

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    appliance_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appliances.id", ondelete="RESTRICT"), index=True
    )
    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="RESTRICT"))
    provider_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("providers.id", ondelete="RESTRICT")
    )
    technician_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT")
    )
    previous_job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )

    repeat_of_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    """A repeat repair: the first repair of the same appliance within 30 days."""
    repeat_seq: Mapped[int] = mapped_column(default=0)
    """0: not a repeat; 2: the second repair within 30 days (reviewed); 3 or more: a
    complaint, for a senior technician only."""
    repeat_reviewed_at: Mapped[datetime | None]

    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]

    # SLA clocks, set for urgent jobs when they are created.
    contact_due_at: Mapped[datetime | None]
    onsite_due_at: Mapped[datetime | None]
    contacted_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]

    unable_reason: Mapped[str | None] = mapped_column(String(32))
    reschedule_requested_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    sla_breached_at: Mapped[datetime | None]
    """When an SLA clock of the job first ran out (``server.dispatch.escalation``)."""
    external_ref: Mapped[str | None] = mapped_column(String(64))
    """The shop's sale or the brand's order reference; unique per ``source``."""
    parts: Mapped[list[dict[str, object]]] = mapped_column(Json, default=list)
    """Parts and consumables the technician brings: ``[{"code", "name", "quantity"}]``
    (a maintenance job's filters, say)."""

    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    version: Mapped[int] = mapped_column(default=1)


class JobEvent(IdMixin, Base):
    """One change to a job: what, who, from where, when. Append-only."""

    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_job_at", "job_id", "at"),)

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    job_version: Mapped[int] = mapped_column(default=0)
    """The job's ``version`` after this change: a phone's ``base_version`` below it
    means the phone acted without having seen this change."""
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default="api")
    """``api`` (a person at a desk), ``sync`` (a phone), ``system``."""
    device_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL")
    )
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, object]] = mapped_column(Json, default=dict)
