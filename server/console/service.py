"""The dispatcher board: several job searches and the names they refer to, in one call.

Every search goes through ``JobService.search``, so the caller's scope (a provider's staff
see only their provider's jobs) is the jobs API's own."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.console.schemas import Board, JobSection
from server.context import RequestContext
from server.db.models import City, Customer, Job, Provider, User
from server.jobs.routes import job_out
from server.jobs.service import JobFilters, JobService
from sync.vocabulary import CLOSED_STATUSES, JobPriority, JobStatus

__all__ = ["board"]

OPEN = [s.value for s in JobStatus if s not in CLOSED_STATUSES]
ON_THE_CLOCK = [
    s.value for s in JobStatus if s not in CLOSED_STATUSES and s != "unable_to_complete"
]


def _next_due(job: Job) -> float:
    """When the job's soonest clock runs out (seconds since the epoch; inf if none)."""
    clocks: list[datetime] = []
    if job.contacted_at is None and job.contact_due_at is not None:
        clocks.append(job.contact_due_at)
    if job.arrived_at is None and job.onsite_due_at is not None:
        clocks.append(job.onsite_due_at)
    if job.window_end is not None:
        clocks.append(job.window_end)
    return min(c.timestamp() for c in clocks) if clocks else math.inf


async def board(
    db: AsyncSession,
    ctx: RequestContext,
    *,
    day_start: datetime,
    days: int,
    provider_id: uuid.UUID | None,
    technician_id: uuid.UUID | None,
    status: list[str] | None,
    limit: int,
) -> Board:
    service = JobService(db, ctx)
    day_end = day_start + timedelta(days=1)
    horizon_end = day_start + timedelta(days=days)

    def filters(**kw: Any) -> JobFilters:
        return JobFilters(provider_id=provider_id, technician_id=technician_id, limit=limit, **kw)

    open_status = [s for s in (status or OPEN) if s in OPEN]
    urgent, urgent_total = await service.search(
        filters(
            priority=JobPriority.URGENT.value,
            status=[s for s in (status or ON_THE_CLOCK) if s in ON_THE_CLOCK],
        )
    )
    late, late_total = await service.search(filters(overdue=True, status=status))
    today, today_total = await service.search(
        filters(window_from=day_start, window_to=day_end, status=status)
    )
    upcoming, upcoming_total = await service.search(
        filters(window_from=day_end, window_to=horizon_end, status=status)
    )
    # window_from matches windows *ending* after it: leave out what today already shows
    # (those start earliest, so they are all on the first page).
    shown_today = [j for j in upcoming if j.window_start is not None and j.window_start < day_end]
    upcoming = [j for j in upcoming if j not in shown_today]
    upcoming_total -= len(shown_today)
    pending, pending_total = await service.search(filters(pending=True, status=open_status))
    pending.sort(key=lambda j: (j.created_at, j.id))

    seen: dict[uuid.UUID, Job] = {j.id: j for j in urgent}
    seen.update((j.id, j) for j in late)
    now = ctx.now
    clock_rows = [job_out(j, now) for j in seen.values()]
    due = {j.id: _next_due(j) for j in seen.values()}
    clock_rows.sort(key=lambda o: (not o.overdue, due[o.id], o.number))

    everything = [*seen.values(), *today, *upcoming, *pending]
    names, addresses = await _names(db, everything)
    return Board(
        now=now,
        day_start=day_start,
        day_end=day_end,
        horizon_end=horizon_end,
        clocks=JobSection(items=clock_rows, total=max(len(clock_rows), urgent_total, late_total)),
        today=JobSection(items=[job_out(j, now) for j in today], total=today_total),
        upcoming=JobSection(items=[job_out(j, now) for j in upcoming], total=upcoming_total),
        pending=JobSection(items=[job_out(j, now) for j in pending], total=pending_total),
        names=names,
        addresses=addresses,
    )


async def _names(
    db: AsyncSession, jobs: list[Job]
) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, str]]:
    """Four small queries for every name the jobs refer to (never one per job)."""
    users = {j.technician_id for j in jobs if j.technician_id}
    providers = {j.provider_id for j in jobs if j.provider_id}
    customers = {j.customer_id for j in jobs}
    cities = {j.city_id for j in jobs}
    names: dict[uuid.UUID, str] = {}
    addresses: dict[uuid.UUID, str] = {}
    if users:
        for uid, name in await db.execute(
            select(User.id, User.full_name).where(User.id.in_(users))
        ):
            names[uid] = name
    if providers:
        for pid, name in await db.execute(
            select(Provider.id, Provider.name).where(Provider.id.in_(providers))
        ):
            names[pid] = name
    if customers:
        for cid, name, address in await db.execute(
            select(Customer.id, Customer.name, Customer.address).where(Customer.id.in_(customers))
        ):
            names[cid] = name
            addresses[cid] = address
    if cities:
        for cid, name in await db.execute(select(City.id, City.name).where(City.id.in_(cities))):
            names[cid] = name
    return names, addresses
