"""The day's plan from the database: which jobs and technicians a city's day has
(``build``), a proposal stored as a ``dispatch_plans`` row (``propose``), and accepting
it (``accept``): every planned visit is assigned and booked through the jobs service,
so the history, the phones' packets and the customer's notification are as for a
dispatcher's own assignment and booking.

A provider's service areas are a hard constraint (its technicians are only given jobs
inside one of its areas in the city, as for the automatic choice); the appliance's
installer is preferred (a soft cost, ``planner.PREFER_INSTALLER_M``).

Jobs planned: the city's open jobs (not completed, cancelled or unable to complete) with
no technician yet, booked for that local day or pending (no window). Jobs of that day
already booked for a technician stay theirs: the plan works around them. Provider staff
plan their own provider's technicians and jobs only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.context import RequestContext
from server.db.models import (
    Appliance,
    City,
    Customer,
    DispatchPlan,
    Job,
    Provider,
    ServiceArea,
    User,
    provider_cities,
)
from server.db.models.user import Role, SkillLevel
from server.dispatch import calendar, planner
from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.jobs.repeats import is_complaint
from sync.geo import distance_m
from sync.vocabulary import CLOSED_STATUSES, JobPriority, JobStatus

__all__ = ["PlanInput", "accept", "build", "discard", "propose"]

MAX_TIME_LIMIT = 120.0
SLOT = 120
"""Minutes of the window a pending job's customer is offered around the planned arrival."""


@dataclass(slots=True)
class PlanInput:
    problem: planner.Problem
    jobs: dict[uuid.UUID, Job]
    technicians: dict[uuid.UUID, User]
    zone: ZoneInfo
    midnight: datetime


def _minutes(at: datetime, midnight: datetime) -> int:
    return int((at - midnight).total_seconds() // 60)


async def build(
    session: AsyncSession,
    ctx: RequestContext,
    city_id: uuid.UUID,
    day: date,
) -> PlanInput:
    city = await session.get(City, city_id)
    if city is None:
        raise NotFound("city", city_id)
    zone = calendar.city_zone(city.timezone)
    midnight = datetime.combine(day, time(0), tzinfo=zone)
    day_end = midnight + timedelta(days=1)
    p = ctx.principal
    own = None if p.sees_everything else p.provider_id
    providers = list(
        await session.scalars(
            select(provider_cities.c.provider_id)
            .join(Provider, Provider.id == provider_cities.c.provider_id)
            .where(provider_cities.c.city_id == city_id, Provider.active.is_(True))
        )
    )
    if own is not None:
        providers = [x for x in providers if x == own]
    techs = list(
        await session.scalars(
            select(User)
            .where(
                User.role == Role.TECHNICIAN,
                User.active.is_(True),
                User.provider_id.in_(providers),
            )
            .order_by(User.username)
        )
    )
    tech_ids = [t.id for t in techs]
    open_ = Job.status.not_in([*CLOSED_STATUSES, JobStatus.UNABLE_TO_COMPLETE])
    that_day = and_(Job.window_start < day_end, Job.window_end > midnight)
    where = [
        Job.city_id == city_id,
        open_,
        or_(
            and_(Job.technician_id.is_(None), or_(Job.window_start.is_(None), that_day)),
            and_(Job.technician_id.in_(tech_ids), that_day),
        ),
    ]
    if own is not None:
        where.append(Job.provider_id == own)
    jobs = list(await session.scalars(select(Job).where(*where).order_by(Job.number)))
    customers = {
        c.id: c
        for c in await session.scalars(
            select(Customer).where(Customer.id.in_({j.customer_id for j in jobs}))
        )
    }
    # service areas: a provider with areas in the city only takes jobs inside one of them
    areas: dict[uuid.UUID, list[ServiceArea]] = {}
    for area in await session.scalars(
        select(ServiceArea).where(
            ServiceArea.city_id == city_id, ServiceArea.provider_id.in_(providers)
        )
    ):
        areas.setdefault(area.provider_id, []).append(area)
    installers = {
        a.id: a.installer_id
        for a in await session.scalars(
            select(Appliance).where(
                Appliance.id.in_({j.appliance_id for j in jobs if j.appliance_id is not None})
            )
        )
    }
    days = await calendar.load_days(
        session,
        techs,
        midnight,
        day_end,
        zone,
        max(1, ctx.settings.dispatch_default_jobs_per_window),
    )
    planned_ids = {j.id for j in jobs}
    workers: list[planner.Worker] = []
    for t in techs:
        td = days[t.id]
        if td.has_hours:
            spans = [
                (max(0, _minutes(a, midnight)), min(24 * 60, _minutes(b, midnight)))
                for a, b in td.working
                if a < day_end and b > midnight
            ]
        else:
            spans = list(planner.DEFAULT_DAY)
        taken = [iv for iv, _ in td.off] + [
            iv for iv, jid, _ in td.booked if jid not in planned_ids
        ]
        for a, b in taken:
            spans = _cut(spans, _minutes(a, midnight), _minutes(b, midnight))
        home = td.home or (city.latitude, city.longitude)
        workers.append(
            planner.Worker(
                t.id,
                home[0],
                home[1],
                tuple(s for s in spans if s[1] > s[0]),
                senior=t.skill_level == SkillLevel.SENIOR,
                provider=t.provider_id,
            )
        )
    first = min((w.spans[0][0] for w in workers if w.spans), default=8 * 60)
    last = max((w.spans[-1][1] for w in workers if w.spans), default=18 * 60)
    now_min = _minutes(ctx.now, midnight)
    visits = []
    for j in jobs:
        c = customers.get(j.customer_id)
        lat = c.latitude if c and c.latitude is not None else city.latitude
        lon = c.longitude if c and c.longitude is not None else city.longitude
        if j.window_start is not None and j.window_end is not None:
            earliest = _minutes(j.window_start, midnight)
            latest = _minutes(j.window_end, midnight)
        else:
            earliest, latest = first, last
        earliest = max(earliest, now_min, 0)
        urgent = j.priority == JobPriority.URGENT
        if urgent and j.onsite_due_at is not None and j.arrived_at is None:
            latest = min(latest, _minutes(j.onsite_due_at, midnight))
        covering: frozenset[Any] | None = None
        if areas and c is not None and c.latitude is not None and c.longitude is not None:
            covering = frozenset(
                p
                for p in providers
                if p not in areas
                or any(
                    distance_m(a.latitude, a.longitude, c.latitude, c.longitude)
                    <= a.radius_km * 1000.0
                    for a in areas[p]
                )
            )
        visits.append(
            planner.Visit(
                j.id,
                lat,
                lon,
                planner.SERVICE_MINUTES.get(j.kind, 60),
                earliest,
                max(earliest, latest) if latest >= earliest else -1,
                seniors_only=is_complaint(j),
                provider=j.provider_id,
                worker=j.technician_id,
                providers=covering,
                prefer=installers.get(j.appliance_id) if j.appliance_id else None,
                urgent=urgent,
                has_window=j.window_start is not None,
            )
        )
    return PlanInput(
        planner.Problem(visits, workers),
        {j.id: j for j in jobs},
        {t.id: t for t in techs},
        zone,
        midnight,
    )


def _cut(spans: list[tuple[int, int]], a: int, b: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if b <= s or e <= a:
            out.append((s, e))
            continue
        if s < a:
            out.append((s, a))
        if b < e:
            out.append((b, e))
    return out


def _iso(midnight: datetime, minute: int) -> str:
    return (midnight + timedelta(minutes=minute)).astimezone(ZoneInfo("UTC")).isoformat()


async def propose(
    session: AsyncSession,
    ctx: RequestContext,
    city_id: uuid.UUID,
    day: date,
    time_limit: float = 10.0,
    distances: planner.DistanceMatrix | None = None,
) -> DispatchPlan:
    """Solve the day and store the proposal (``state`` ``proposed``)."""
    if not 0 < time_limit <= MAX_TIME_LIMIT:
        raise Invalid(
            "invalid_time_limit", f"time_limit_s must be above 0 and at most {MAX_TIME_LIMIT:g}."
        )
    data = await build(session, ctx, city_id, day)
    sol = planner.solve(data.problem, distances, time_limit=time_limit)
    greedy = planner.greedy_baseline(data.problem, distances)
    visits = {v.key: v for v in data.problem.visits}
    routes: list[dict[str, Any]] = []
    for r in sol.routes:
        if not r.stops:
            continue
        tech = data.technicians[r.worker]  # type: ignore[index]
        stops = []
        for s in r.stops:
            job = data.jobs[s.key]  # type: ignore[index]
            pending = job.window_start is None
            window: tuple[str | None, str | None]
            if pending:
                w_start = s.arrive - (s.arrive % 30)
                window = (_iso(data.midnight, w_start), _iso(data.midnight, w_start + SLOT))
            else:
                window = (
                    job.window_start.isoformat() if job.window_start else None,
                    job.window_end.isoformat() if job.window_end else None,
                )
            stops.append(
                {
                    "job_id": str(job.id),
                    "job_number": job.number,
                    "job_version": job.version,
                    "booked": job.technician_id is not None,
                    "pending": pending,
                    "arrive": _iso(data.midnight, s.arrive),
                    "leave": _iso(data.midnight, s.leave),
                    "window_start": window[0],
                    "window_end": window[1],
                    "travel_m": s.travel_m,
                    "urgent": visits[s.key].urgent,
                }
            )
        routes.append(
            {
                "technician_id": str(tech.id),
                "technician_name": tech.full_name,
                "provider_id": str(tech.provider_id),
                "travel_m": r.travel_m,
                "stops": stops,
            }
        )
    unassigned = []
    for key in sol.unassigned:
        job = data.jobs[key]  # type: ignore[index]
        v = visits[key]
        eligible = [w for w in data.problem.workers if w.spans and planner._eligible(v, w)]
        anywhere = replace(v, providers=None)
        if eligible:
            reason = "no eligible technician can reach it in its window"
        elif v.providers is not None and any(
            w.spans and planner._eligible(anywhere, w) for w in data.problem.workers
        ):
            reason = "outside the service areas of the providers whose technicians could take it"
        else:
            reason = "no eligible technician works that day"
        unassigned.append({"job_id": str(job.id), "job_number": job.number, "reason": reason})
    plan = DispatchPlan(
        id=uuid.uuid4(),
        city_id=city_id,
        provider_id=None if ctx.principal.sees_everything else ctx.principal.provider_id,
        day=day,
        state="proposed",
        created_at=ctx.now,
        created_by=ctx.principal.user_id,
        time_limit_s=time_limit,
        solve_s=round(sol.seconds, 3),
        travel_m=sol.travel_m,
        baseline_travel_m=greedy.travel_m,
        baseline_served=greedy.served,
        routes=routes,
        unassigned=unassigned,
        outcome={},
    )
    session.add(plan)
    await session.flush()
    return plan


async def get_plan(session: AsyncSession, ctx: RequestContext, plan_id: uuid.UUID) -> DispatchPlan:
    plan = await session.get(DispatchPlan, plan_id)
    if plan is None or not (
        ctx.principal.sees_everything or plan.provider_id == ctx.principal.provider_id
    ):
        raise NotFound("plan", plan_id)
    return plan


def _open(plan: DispatchPlan) -> None:
    if plan.state != "proposed":
        raise Conflict(
            "plan_not_open",
            f"This plan is {plan.state}; propose a new one.",
            {"state": plan.state},
        )


async def accept(session: AsyncSession, ctx: RequestContext, plan_id: uuid.UUID) -> DispatchPlan:
    """Assign and book every planned visit still as it was when planned; a job changed
    since (another dispatcher, a phone) is skipped and listed in ``outcome``."""
    from server.jobs.schemas import AppointmentIn, AssignIn
    from server.jobs.service import JobService

    plan = await get_plan(session, ctx, plan_id)
    _open(plan)
    if not ctx.principal.sees_everything and ctx.principal.role == Role.TECHNICIAN:
        raise Forbidden("role_forbidden", "Technicians do not accept plans.")
    service = JobService(session, ctx)
    reason = f"day plan {plan.day.isoformat()} ({str(plan.id)[:8]}): visits sequenced"
    applied: list[str] = []
    skipped: list[dict[str, str]] = []
    for route in plan.routes:
        tech_id = uuid.UUID(str(route["technician_id"]))
        provider_id = uuid.UUID(str(route["provider_id"]))
        for stop in route["stops"]:  # type: ignore[attr-defined]
            job = await session.get(Job, uuid.UUID(stop["job_id"]), with_for_update=True)
            number = stop["job_number"]
            if job is None or job.version != stop["job_version"]:
                skipped.append({"job_number": number, "reason": "changed since the plan"})
                continue
            if stop["booked"]:
                continue  # already this technician's: the plan only worked around it
            try:
                async with session.begin_nested():
                    if stop["pending"]:
                        await service.set_appointment(
                            job.id,
                            AppointmentIn(
                                window_start=datetime.fromisoformat(stop["window_start"]),
                                window_end=datetime.fromisoformat(stop["window_end"]),
                                reason=reason,
                            ),
                        )
                    await service.assign(
                        job.id,
                        AssignIn(
                            provider_id=provider_id,
                            technician_id=tech_id,
                            reason=reason,
                            override_conflict=True,
                        ),
                    )
            except (Conflict, Invalid, Forbidden, NotFound) as exc:
                skipped.append({"job_number": number, "reason": exc.message})
                continue
            applied.append(number)
    plan.state = "accepted"
    plan.decided_at, plan.decided_by = ctx.now, ctx.principal.user_id
    plan.outcome = {"applied": applied, "skipped": skipped}
    await session.flush()
    return plan


async def discard(session: AsyncSession, ctx: RequestContext, plan_id: uuid.UUID) -> DispatchPlan:
    plan = await get_plan(session, ctx, plan_id)
    _open(plan)
    plan.state = "discarded"
    plan.decided_at, plan.decided_by = ctx.now, ctx.principal.user_id
    await session.flush()
    return plan
