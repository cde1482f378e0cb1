"""Calendars, exceptions, service areas, a city's dispatch settings, the automatic
choices a dispatcher confirms, and the SLA alerts they acknowledge.

Scope: the brand's staff (admins, call-center dispatchers) see and change everything; a
provider's manager or dispatcher only their own provider's technicians, areas, jobs and
alerts; a technician reads their own calendar. What is out of scope answers 404.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.principal import Principal
from server.auth.scope import ensure_job_visible
from server.context import RequestContext
from server.db.models import (
    CalendarException,
    City,
    CityDispatch,
    DispatchAlert,
    DispatchChoice,
    Job,
    Provider,
    ServiceArea,
    TechnicianCalendar,
    User,
)
from server.db.models.user import Role
from server.dispatch import assign
from server.dispatch.calendar import parse_weekly
from server.dispatch.schemas import (
    CalendarIn,
    CityDispatchIn,
    ExceptionIn,
    ServiceAreaIn,
)
from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.jobs.lifecycle import is_closed
from server.jobs.schemas import AssignIn
from server.jobs.service import JobService

__all__ = [
    "accept_choice",
    "acknowledge_alert",
    "add_area",
    "add_exception",
    "choices",
    "city_dispatch",
    "decline_choice",
    "delete_area",
    "delete_exception",
    "get_calendar",
    "list_alerts",
    "list_areas",
    "list_exceptions",
    "put_calendar",
    "run_dispatch",
    "set_city_dispatch",
]


# --- scope -------------------------------------------------------------------------------


async def _technician(s: AsyncSession, p: Principal, user_id: uuid.UUID, *, write: bool) -> User:
    user = await s.get(User, user_id)
    if user is None or user.role != Role.TECHNICIAN:
        raise NotFound("technician", user_id)
    if p.sees_everything and not (write and p.role == Role.AUDITOR):
        return user
    if p.is_technician:
        if user.id != p.user_id or write:
            raise NotFound("technician", user_id)
        return user
    if p.provider_id is None or user.provider_id != p.provider_id:
        raise NotFound("technician", user_id)
    return user


async def _provider(s: AsyncSession, p: Principal, provider_id: uuid.UUID) -> Provider:
    provider = await s.get(Provider, provider_id)
    if provider is None or not p.may_see_provider(provider_id) or p.is_technician:
        raise NotFound("provider", provider_id)
    return provider


def _brand(p: Principal) -> None:
    if not p.sees_everything:
        raise Forbidden(
            "brand_staff_only", "Only the brand's call center changes a city's dispatch.", {}
        )


async def _calendar_changed(
    s: AsyncSession, technician_ids: list[uuid.UUID], now: datetime
) -> None:
    """The technicians' phones get their calendar anew (``calendar`` document)."""
    from sync import buckets

    await buckets.calendars_changed(s, technician_ids, now.date())


# --- calendars ---------------------------------------------------------------------------


async def get_calendar(
    s: AsyncSession, ctx: RequestContext, user_id: uuid.UUID
) -> tuple[User, TechnicianCalendar | None, list[CalendarException]]:
    tech = await _technician(s, ctx.principal, user_id, write=False)
    cal = await s.get(TechnicianCalendar, tech.id)
    return tech, cal, await _exceptions_of(s, tech, ctx.now.date())


async def _exceptions_of(s: AsyncSession, tech: User, since: date) -> list[CalendarException]:
    mine = CalendarException.technician_id == tech.id
    if tech.provider_id is not None:
        mine = or_(
            mine,
            (CalendarException.provider_id == tech.provider_id)
            & CalendarException.technician_id.is_(None),
        )
    rows = await s.scalars(
        select(CalendarException)
        .where(mine, CalendarException.last_day >= since)
        .order_by(CalendarException.first_day, CalendarException.created_at)
        .limit(500)
    )
    return list(rows)


async def put_calendar(
    s: AsyncSession, ctx: RequestContext, user_id: uuid.UUID, data: CalendarIn
) -> User:
    tech = await _technician(s, ctx.principal, user_id, write=True)
    weekly = {str(k): [list(span) for span in v] for k, v in data.weekly.items()}
    parse_weekly(weekly)  # 422 on overlapping or backwards spans
    if (data.home_latitude is None) != (data.home_longitude is None):
        raise Invalid(
            "incomplete_position", "Give both the home latitude and longitude, or neither."
        )
    cal = await s.get(TechnicianCalendar, tech.id)
    if cal is None:
        cal = TechnicianCalendar(technician_id=tech.id)
        s.add(cal)
    cal.weekly = weekly
    cal.jobs_per_window = data.jobs_per_window
    cal.home_latitude, cal.home_longitude = data.home_latitude, data.home_longitude
    cal.updated_at = ctx.now
    await s.flush()
    await _calendar_changed(s, [tech.id], ctx.now)
    return tech


# --- exceptions --------------------------------------------------------------------------


def _check_exception(data: ExceptionIn) -> None:
    if data.last_day < data.first_day:
        raise Invalid("invalid_days", "The last day is before the first.")
    if (data.last_day - data.first_day).days > 366:
        raise Invalid("invalid_days", "An exception may span at most a year.")
    if (data.start is None) != (data.end is None):
        raise Invalid("invalid_hours", "Give both the start and the end, or neither (whole days).")
    if data.start is not None and data.end is not None and data.end <= data.start:
        raise Invalid("invalid_hours", f"{data.start}-{data.end} ends before it starts.")
    if data.kind == "extra" and data.start is None:
        raise Invalid("invalid_hours", "Extra hours need a start and an end.")


async def list_exceptions(
    s: AsyncSession,
    ctx: RequestContext,
    *,
    user_id: uuid.UUID | None,
    provider_id: uuid.UUID | None,
) -> list[CalendarException]:
    if user_id is not None:
        tech = await _technician(s, ctx.principal, user_id, write=False)
        return await _exceptions_of(s, tech, ctx.now.date())
    assert provider_id is not None
    await _provider(s, ctx.principal, provider_id)
    rows = await s.scalars(
        select(CalendarException)
        .where(
            CalendarException.provider_id == provider_id,
            CalendarException.last_day >= ctx.now.date(),
        )
        .order_by(CalendarException.first_day, CalendarException.created_at)
        .limit(500)
    )
    return list(rows)


async def add_exception(
    s: AsyncSession,
    ctx: RequestContext,
    data: ExceptionIn,
    *,
    user_id: uuid.UUID | None,
    provider_id: uuid.UUID | None,
) -> CalendarException:
    _check_exception(data)
    if user_id is not None:
        tech = await _technician(s, ctx.principal, user_id, write=True)
        owner_tech, owner_provider = tech.id, tech.provider_id
        touched = [tech.id]
    else:
        assert provider_id is not None
        await _provider(s, ctx.principal, provider_id)
        if ctx.principal.role == Role.AUDITOR:
            raise NotFound("provider", provider_id)
        owner_tech, owner_provider = None, provider_id
        touched = await _provider_technicians(s, provider_id)
    row = CalendarException(
        id=uuid.uuid4(),
        technician_id=owner_tech,
        provider_id=owner_provider,
        kind=data.kind,
        first_day=data.first_day,
        last_day=data.last_day,
        start=data.start,
        end=data.end,
        reason=data.reason,
        created_by=ctx.principal.user_id,
        created_at=ctx.now,
    )
    s.add(row)
    await s.flush()
    await _calendar_changed(s, touched, ctx.now)
    return row


async def _provider_technicians(s: AsyncSession, provider_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        await s.scalars(
            select(User.id).where(
                User.provider_id == provider_id,
                User.role == Role.TECHNICIAN,
                User.active.is_(True),
            )
        )
    )


async def delete_exception(s: AsyncSession, ctx: RequestContext, exception_id: uuid.UUID) -> None:
    row = await s.get(CalendarException, exception_id)
    if row is None:
        raise NotFound("calendar_exception", exception_id)
    p = ctx.principal
    if row.technician_id is not None:
        try:
            await _technician(s, p, row.technician_id, write=True)
        except NotFound:
            raise NotFound("calendar_exception", exception_id) from None
        touched = [row.technician_id]
    else:
        if not p.may_see_provider(row.provider_id) or row.provider_id is None:
            raise NotFound("calendar_exception", exception_id)
        touched = await _provider_technicians(s, row.provider_id)
    await s.execute(delete(CalendarException).where(CalendarException.id == row.id))
    await s.flush()
    await _calendar_changed(s, touched, ctx.now)


# --- service areas -----------------------------------------------------------------------


async def list_areas(
    s: AsyncSession, ctx: RequestContext, provider_id: uuid.UUID
) -> list[ServiceArea]:
    await _provider(s, ctx.principal, provider_id)
    rows = await s.scalars(
        select(ServiceArea)
        .where(ServiceArea.provider_id == provider_id)
        .order_by(ServiceArea.city_id, ServiceArea.name, ServiceArea.id)
    )
    return list(rows)


async def add_area(
    s: AsyncSession, ctx: RequestContext, provider_id: uuid.UUID, data: ServiceAreaIn
) -> ServiceArea:
    provider = await _provider(s, ctx.principal, provider_id)
    if data.city_id not in {c.id for c in provider.cities}:
        raise Invalid("provider_not_covering_city", f"{provider.name} does not cover that city.")
    area = ServiceArea(
        id=uuid.uuid4(),
        provider_id=provider.id,
        city_id=data.city_id,
        name=data.name,
        latitude=data.latitude,
        longitude=data.longitude,
        radius_km=data.radius_km,
        daily_jobs=data.daily_jobs,
    )
    s.add(area)
    await s.flush()
    return area


async def delete_area(
    s: AsyncSession, ctx: RequestContext, provider_id: uuid.UUID, area_id: uuid.UUID
) -> None:
    await _provider(s, ctx.principal, provider_id)
    area = await s.get(ServiceArea, area_id)
    if area is None or area.provider_id != provider_id:
        raise NotFound("service_area", area_id)
    await s.execute(delete(ServiceArea).where(ServiceArea.id == area_id))
    await s.flush()


# --- a city's dispatch -------------------------------------------------------------------


async def city_dispatch(s: AsyncSession, city_id: uuid.UUID) -> tuple[CityDispatch, bool]:
    if await s.get(City, city_id) is None:
        raise NotFound("city", city_id)
    row = await s.get(CityDispatch, city_id)
    return (row, True) if row is not None else (await assign.city_settings(s, city_id), False)


async def set_city_dispatch(
    s: AsyncSession, ctx: RequestContext, city_id: uuid.UUID, data: CityDispatchIn
) -> CityDispatch:
    _brand(ctx.principal)
    if await s.get(City, city_id) is None:
        raise NotFound("city", city_id)
    row = await s.get(CityDispatch, city_id)
    if row is None:
        row = CityDispatch(city_id=city_id)
        s.add(row)
    row.mode = data.mode
    row.contact_warn_minutes = data.contact_warn_minutes
    row.onsite_warn_minutes = data.onsite_warn_minutes
    row.redispatch_urgent = data.redispatch_urgent
    row.updated_at = ctx.now
    await s.flush()
    return row


# --- automatic choices -------------------------------------------------------------------


async def _job(s: AsyncSession, ctx: RequestContext, job_id: uuid.UUID) -> Job:
    return ensure_job_visible(ctx.principal, await s.get(Job, job_id), job_id)


async def choices(s: AsyncSession, ctx: RequestContext, job_id: uuid.UUID) -> list[DispatchChoice]:
    job = await _job(s, ctx, job_id)
    rows = await s.scalars(
        select(DispatchChoice)
        .where(DispatchChoice.job_id == job.id)
        .order_by(DispatchChoice.at.desc(), DispatchChoice.id)
        .limit(50)
    )
    out = list(rows)
    if not ctx.principal.sees_everything:
        # a provider's staff see the choices made within their provider only
        out = [c for c in out if c.provider_id in (None, ctx.principal.provider_id)]
    return out


async def run_dispatch(
    s: AsyncSession, ctx: RequestContext, job_id: uuid.UUID, mode: str | None
) -> DispatchChoice:
    job = await _job(s, ctx, job_id)
    if is_closed(job.status):
        raise Conflict("job_closed", f"Job {job.number} is {job.status}.", {"status": job.status})
    if mode is None:
        mode = (await assign.city_settings(s, job.city_id)).mode
        mode = "suggest" if mode == "manual" else mode
    if not ctx.principal.sees_everything and job.provider_id != ctx.principal.provider_id:
        raise NotFound("job", job_id)
    choice = await assign.choose(
        s,
        job,
        trigger="requested",
        now=ctx.now,
        default_capacity=ctx.settings.dispatch_default_jobs_per_window,
        mode=mode,
        actor_id=ctx.principal.user_id,
        actor_role=ctx.principal.role,
    )
    assert choice is not None  # auto or suggest always stores one
    if mode == "auto" and choice.state == "applied":
        choice.decided_by = ctx.principal.user_id
    return choice


async def _open_choice(
    s: AsyncSession, ctx: RequestContext, job_id: uuid.UUID, choice_id: uuid.UUID
) -> tuple[Job, DispatchChoice]:
    job = await _job(s, ctx, job_id)
    choice = await s.get(DispatchChoice, choice_id, with_for_update=True)
    if choice is None or choice.job_id != job.id:
        raise NotFound("dispatch_choice", choice_id)
    if not ctx.principal.sees_everything and choice.provider_id != ctx.principal.provider_id:
        raise NotFound("dispatch_choice", choice_id)
    if choice.state != "suggested":
        raise Conflict(
            "choice_not_open",
            f"This choice is {choice.state}: only a suggestion waiting for a dispatcher can be "
            "accepted or declined.",
            {"state": choice.state},
        )
    return job, choice


async def accept_choice(
    s: AsyncSession, ctx: RequestContext, job_id: uuid.UUID, choice_id: uuid.UUID
) -> tuple[Job, DispatchChoice]:
    """Confirm a suggestion: the job is assigned as suggested (the calendar and the
    complaint rules are checked again: the day may have changed since)."""
    job, choice = await _open_choice(s, ctx, job_id, choice_id)
    assert choice.provider_id is not None
    await JobService(s, ctx).assign(
        job.id,
        AssignIn(
            provider_id=choice.provider_id,
            technician_id=choice.technician_id,
            reason=f"suggestion accepted: {choice.summary}"[:500],
        ),
    )
    choice.state, choice.decided_by, choice.decided_at = "confirmed", ctx.principal.user_id, ctx.now
    await s.flush()
    return job, choice


async def decline_choice(
    s: AsyncSession, ctx: RequestContext, job_id: uuid.UUID, choice_id: uuid.UUID, reason: str
) -> DispatchChoice:
    _, choice = await _open_choice(s, ctx, job_id, choice_id)
    choice.state, choice.decided_by, choice.decided_at = "declined", ctx.principal.user_id, ctx.now
    if reason:
        choice.ranking = [*choice.ranking, {"declined_reason": reason}]
    await s.flush()
    return choice


# --- alerts ------------------------------------------------------------------------------


def _alert_scope(p: Principal) -> Any:
    if p.sees_everything:
        return DispatchAlert.id.is_not(None)
    if p.provider_id is None or p.is_technician:
        return DispatchAlert.id.is_(None)
    return (DispatchAlert.provider_id == p.provider_id) & (DispatchAlert.audience == "provider")


async def list_alerts(
    s: AsyncSession,
    ctx: RequestContext,
    *,
    open_only: bool,
    audience: str | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[DispatchAlert, str]], int]:
    where = [_alert_scope(ctx.principal)]
    if open_only:
        where.append(DispatchAlert.acknowledged_at.is_(None))
    if audience is not None:
        where.append(DispatchAlert.audience == audience)
    total = await s.scalar(select(func.count()).select_from(DispatchAlert).where(*where)) or 0
    rows = (
        await s.execute(
            select(DispatchAlert, Job.number)
            .join(Job, Job.id == DispatchAlert.job_id)
            .where(*where)
            .order_by(DispatchAlert.raised_at.desc(), DispatchAlert.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return [(a, n) for a, n in rows], total


async def acknowledge_alert(
    s: AsyncSession, ctx: RequestContext, alert_id: uuid.UUID
) -> tuple[DispatchAlert, str]:
    row = (
        await s.execute(
            select(DispatchAlert, Job.number)
            .join(Job, Job.id == DispatchAlert.job_id)
            .where(DispatchAlert.id == alert_id, _alert_scope(ctx.principal))
        )
    ).first()
    if row is None:
        raise NotFound("dispatch_alert", alert_id)
    alert, number = row
    if alert.acknowledged_at is None:  # acknowledging twice is harmless
        alert.acknowledged_at, alert.acknowledged_by = ctx.now, ctx.principal.user_id
        await s.flush()
    return alert, number
