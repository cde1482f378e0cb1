"""Dispatch: technicians' calendars, providers' service areas, a city's dispatch mode,
the automatic choices made (with their reasons) and the SLA alerts raised."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, IdMixin, Json, utcnow


class TechnicianCalendar(Base):
    """A technician's working week and capacity. ``weekly``: ``{"mon": [["08:30",
    "12:00"], ["13:00", "18:00"]], …}`` in the time zone of the city the work is in; a
    day missing is a day off. No row: the technician has not been given hours (any time
    is working time) and takes one job per window."""

    __tablename__ = "technician_calendars"

    technician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    weekly: Mapped[dict[str, list[list[str]]]] = mapped_column(Json, default=dict)
    jobs_per_window: Mapped[int] = mapped_column(default=1)
    """How many jobs may overlap in time (a technician with a helper takes two)."""
    home_latitude: Mapped[float | None]
    home_longitude: Mapped[float | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CalendarException(IdMixin, Base):
    """Leave, a holiday or extra hours. ``technician_id`` empty: the whole provider's
    (a holiday). ``kind`` ``off`` (no work on those days, or in ``start``-``end`` of
    them) or ``extra`` (working hours added)."""

    __tablename__ = "calendar_exceptions"
    __table_args__ = (
        Index("ix_calendar_exceptions_technician_day", "technician_id", "first_day"),
        Index("ix_calendar_exceptions_provider_day", "provider_id", "first_day"),
    )

    technician_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE")
    )
    provider_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(16), default="off")
    first_day: Mapped[date]
    last_day: Mapped[date]
    start: Mapped[str | None] = mapped_column(String(5))
    """``HH:MM`` local; empty with ``end``: the whole day."""
    end: Mapped[str | None] = mapped_column(String(5))
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceArea(IdMixin, Base):
    """Where in a city a provider works: a circle. A provider with no area in a city it
    covers works the whole city. ``daily_jobs``: how many jobs a day it takes there
    (empty: no limit)."""

    __tablename__ = "service_areas"
    __table_args__ = (Index("ix_service_areas_provider_city", "provider_id", "city_id"),)

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120), default="")
    latitude: Mapped[float]
    longitude: Mapped[float]
    radius_km: Mapped[float]
    daily_jobs: Mapped[int | None]


class CityDispatch(Base):
    """A city's dispatch mode and escalation settings. No row: ``suggest``."""

    __tablename__ = "city_dispatch"

    city_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("cities.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(16), default="suggest")
    """``auto`` (assign at once), ``suggest`` (a dispatcher confirms), ``manual``."""
    contact_warn_minutes: Mapped[int] = mapped_column(default=10)
    onsite_warn_minutes: Mapped[int] = mapped_column(default=30)
    redispatch_urgent: Mapped[bool] = mapped_column(default=False)
    """When an urgent job's on-site clock runs out, give it to another technician who
    can still make it."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DispatchChoice(IdMixin, Base):
    """One automatic choice for a job, with its reasons in words. ``state``: ``applied``
    (auto mode), ``suggested`` (waiting for a dispatcher), ``confirmed``, ``declined``,
    ``superseded`` (a newer choice replaced it), ``none`` (no eligible technician)."""

    __tablename__ = "dispatch_choices"
    __table_args__ = (Index("ix_dispatch_choices_job_at", "job_id", "at"),)

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    trigger: Mapped[str] = mapped_column(String(24))
    """``created``, ``reopened``, ``requested``, ``redispatch``."""
    mode: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("providers.id", ondelete="SET NULL")
    )
    technician_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    summary: Mapped[str] = mapped_column(Text, default="")
    reasons: Mapped[list[dict[str, object]]] = mapped_column(Json, default=list)
    """The chosen technician's reasons as codes: ``[{"code", "params"}]``, rendered in
    the reader's locale (``server.dispatch.assign.render``)."""
    ranking: Mapped[list[dict[str, object]]] = mapped_column(Json, default=list)
    """The first candidates as ranked: ``[{"technician_id", "score", "eligible",
    "reasons"}]``."""
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None]


class DispatchAlert(IdMixin, Base):
    """An SLA clock about to run out or run out: for the technician's phone, the
    provider's dispatchers or the call center. One per job, clock and stage."""

    __tablename__ = "dispatch_alerts"
    __table_args__ = (
        UniqueConstraint("job_id", "kind"),
        Index("ix_dispatch_alerts_open", "acknowledged_at", "raised_at"),
    )

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    """``contact_due_soon``, ``onsite_due_soon``, ``contact_breached``,
    ``onsite_breached``."""
    audience: Mapped[str] = mapped_column(String(16))
    """``provider`` (its dispatchers, and the technician's phone) or ``call_center``."""
    provider_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("providers.id", ondelete="SET NULL"), index=True
    )
    technician_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    due_at: Mapped[datetime]
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, object]] = mapped_column(Json, default=dict)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class DispatchPlan(IdMixin, Base):
    """A proposed day's plan for a city (``server.dispatch.planner``): who does which
    job in which order. ``state``: ``proposed``, ``accepted`` (the assignments and
    appointments were made), ``discarded``. ``routes``: ``[{"technician_id", "provider_id",
    "travel_m", "stops": [{"job_id", "job_number", "job_version", "arrive", "leave",
    "window_start", "window_end", "travel_m", "pending"}]}]``; ``unassigned``: ``[{"job_id",
    "job_number", "reason"}]``."""

    __tablename__ = "dispatch_plans"
    __table_args__ = (Index("ix_dispatch_plans_city_day", "city_id", "day"),)

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"))
    provider_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE")
    )
    """Planned by a provider's staff: only its technicians and jobs."""
    day: Mapped[date]
    state: Mapped[str] = mapped_column(String(16), default="proposed")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    time_limit_s: Mapped[float] = mapped_column(default=10.0)
    solve_s: Mapped[float] = mapped_column(default=0.0)
    travel_m: Mapped[int] = mapped_column(default=0)
    baseline_travel_m: Mapped[int] = mapped_column(default=0)
    """The greedy nearest-free-technician rule's travel on the same jobs."""
    baseline_served: Mapped[int] = mapped_column(default=0)
    routes: Mapped[list[dict[str, object]]] = mapped_column(Json, default=list)
    unassigned: Mapped[list[dict[str, object]]] = mapped_column(Json, default=list)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    outcome: Mapped[dict[str, object]] = mapped_column(Json, default=dict)
    """On acceptance: what was applied and what was skipped (a job changed since)."""
