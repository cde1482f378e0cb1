"""Automatic assignment, explainable: who should take a job, and why, in words.

``rank_candidates`` is the one scoring function (the candidates endpoint, the automatic
choice, the SLA re-dispatch and the day planner all use it). It ranks the active
technicians of the providers that may take the job:

- **provider**: covers the job's city, and — when it has service areas there — the
  customer's address lies in one of them; not over an area's ``daily_jobs`` for that
  day; its quality over the last 90 days (very-satisfied rate of confirmed completions,
  violations) weighs in;
- **technician**: the appliance's installer first; complaints (third repair within 30
  days) only to seniors; distance from the last fix of the day (else the home position);
  open jobs; free time in the window (calendar, leave, other appointments); a technician
  whose claim this customer contradicted is not sent back to them.

Reasons are stored as codes with parameters (``{"code": "installer", "params": {}}``) and
rendered in the reader's locale by ``server.i18n`` (``msgctxt "dispatch_reason"``); the
stored ``summary`` is in the brand's default locale. Ineligible technicians are listed
after every eligible one, with the reasons that rule them out.

A fixed number of indexed queries per job, whatever the number of technicians: the
providers covering the city, their technicians, and grouped counts over those ids.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Text, and_, cast, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import (
    Appliance,
    CallbackOutcome,
    CallbackTask,
    Checkin,
    City,
    CityDispatch,
    Customer,
    DispatchChoice,
    Job,
    Provider,
    ServiceArea,
    TechnicianCalendar,
    User,
    Violation,
    provider_cities,
)
from server.db.models.user import Role, SkillLevel
from server.dispatch.calendar import CalendarFacts, Interval, TechDays, city_zone, load_days
from server.i18n import DEFAULT_LOCALE, t
from server.jobs.history import record_change
from server.jobs.lifecycle import FIELD_ACTIVE
from server.jobs.repeats import is_complaint
from sync.geo import distance_m
from sync.vocabulary import CLOSED_STATUSES, JobPriority, JobStatus

__all__ = [
    "MODES",
    "Ranked",
    "Reason",
    "apply_choice",
    "choose",
    "city_settings",
    "rank_candidates",
    "render",
]

MODES = ("auto", "suggest", "manual")
DEFAULT_MODE = "suggest"
QUALITY_DAYS = 90
FIX_HOURS = 12
"""A fix older than this is not the technician's current position."""
RANKING_KEPT = 10
"""How many candidates a stored choice keeps."""

# Weights of the score (higher is better). Eligibility is not a weight: ineligible
# technicians always come after eligible ones.
W_INSTALLER = 40.0
W_INSTALLER_PROVIDER = 5.0
W_PER_KM = 1.5
MAX_KM = 40.0
W_UNKNOWN_DISTANCE = 15.0
W_PER_OPEN_JOB = 4.0
W_FREE = 10.0
W_NOT_FREE = 10.0
W_SATISFACTION = 20.0
W_PROVIDER_VIOLATION = 2.0
W_VIOLATION = 8.0
W_SENIOR_FOR_REPEAT = 5.0


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason, as a code and its parameters (rendered by ``render``)."""

    code: str
    params: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params)}


def render(reason: Reason | dict[str, Any], locale: str) -> str:
    """The reason in words, in ``locale`` (an unknown code reads as itself)."""
    if isinstance(reason, dict):
        code, params = str(reason.get("code", "")), dict(reason.get("params") or {})
    else:
        code, params = reason.code, reason.params
    return t(locale, "dispatch_reason", code, default=code, **params)


@dataclass(frozen=True, slots=True)
class _Tech:
    id: uuid.UUID
    provider_id: uuid.UUID | None
    full_name: str
    skill_level: str | None


@dataclass(slots=True)
class Ranked:
    technician_id: uuid.UUID
    full_name: str
    provider_id: uuid.UUID
    skill_level: str | None
    is_installer: bool
    open_jobs: int
    eligible: bool = True
    score: float = 0.0
    distance_km: float | None = None
    free: list[Interval] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    """Why this technician ranks where they do."""
    blockers: list[Reason] = field(default_factory=list)
    """Why they may not take it (empty: eligible)."""

    def summary(self, locale: str = DEFAULT_LOCALE) -> str:
        return ", ".join(render(r, locale) for r in (self.blockers or self.reasons))

    def as_dict(self) -> dict[str, Any]:
        return {
            "technician_id": str(self.technician_id),
            "provider_id": str(self.provider_id),
            "full_name": self.full_name,
            "score": round(self.score, 2),
            "eligible": self.eligible,
            "distance_km": self.distance_km,
            "reasons": [r.as_dict() for r in self.reasons],
            "blockers": [r.as_dict() for r in self.blockers],
        }


async def city_settings(session: AsyncSession, city_id: uuid.UUID) -> CityDispatch:
    """The city's dispatch settings (defaults, not stored, when it has none)."""
    row = await session.get(CityDispatch, city_id)
    if row is not None:
        return row
    return CityDispatch(
        city_id=city_id,
        mode=DEFAULT_MODE,
        contact_warn_minutes=10,
        onsite_warn_minutes=30,
        redispatch_urgent=False,
    )


def _hhmm(iv: Interval, zone: ZoneInfo) -> str:
    a, b = iv[0].astimezone(zone), iv[1].astimezone(zone)
    return f"{a:%H:%M}\u2013{b:%H:%M}"


def _span(job: Job, now: datetime) -> Interval:
    """The time the technician must be free in: the window; for a pending urgent job,
    until the on-site clock; else the next 24 hours."""
    if job.window_start is not None and job.window_end is not None:
        return job.window_start, job.window_end
    if job.priority == JobPriority.URGENT and job.onsite_due_at is not None:
        return now, max(job.onsite_due_at, now + timedelta(minutes=30))
    return now, now + timedelta(hours=24)


def _contains(area: ServiceArea, lat: float, lon: float) -> bool:
    return distance_m(area.latitude, area.longitude, lat, lon) <= area.radius_km * 1000.0


async def rank_candidates(
    session: AsyncSession,
    job: Job,
    *,
    now: datetime,
    default_capacity: int = 0,
    provider_ids: list[uuid.UUID] | None = None,
    exclude: frozenset[uuid.UUID] = frozenset(),
) -> list[Ranked]:
    """Every active technician who could be sent to ``job``, best first, ineligible ones
    (with their ``blockers``) after all eligible ones. ``provider_ids`` narrows the
    providers considered (the job's own, or the caller's); ``exclude`` rules out
    technicians (the one an urgent job is taken from)."""
    city = await session.get(City, job.city_id)
    zone = city_zone(city.timezone if city else None)
    customer = await session.get(Customer, job.customer_id)
    where: tuple[float, float] | None = None
    if customer is not None and customer.latitude is not None and customer.longitude is not None:
        where = (customer.latitude, customer.longitude)
    installer_id = installer_provider = None
    if job.appliance_id is not None:
        appliance = await session.get(Appliance, job.appliance_id)
        if appliance is not None:
            installer_id, installer_provider = (
                appliance.installer_id,
                appliance.installer_provider_id,
            )

    # --- providers ----------------------------------------------------------------------
    since = now - timedelta(days=QUALITY_DAYS)
    rated = (
        select(func.count(CallbackOutcome.id))
        .join(CallbackTask, CallbackTask.id == CallbackOutcome.task_id)
        .where(
            CallbackTask.provider_id == Provider.id,
            CallbackOutcome.outcome == "confirmed",
            CallbackOutcome.satisfaction.is_not(None),
            CallbackOutcome.recorded_at >= since,
        )
    )
    very = rated.where(CallbackOutcome.satisfaction == "very_satisfied")
    pviol_count = select(func.count(Violation.id)).where(
        Violation.provider_id == Provider.id,
        Violation.voided_at.is_(None),
        Violation.recorded_at >= since,
    )
    stmt = (
        select(
            Provider.id,
            rated.scalar_subquery(),
            very.scalar_subquery(),
            pviol_count.scalar_subquery(),
        )
        .join(provider_cities, provider_cities.c.provider_id == Provider.id)
        .where(provider_cities.c.city_id == job.city_id, Provider.active.is_(True))
    )
    if provider_ids is not None:
        stmt = stmt.where(Provider.id.in_(provider_ids))
    quality = (await session.execute(stmt)).all()
    providers = [row[0] for row in quality]
    if not providers:
        return []
    # quality over the last 90 days: very-satisfied rate of confirmed visits, violations
    satisfaction = {pid: int(v or 0) / n for pid, n, v, _ in quality if n}
    pviol = {pid: int(x or 0) for pid, _, _, x in quality}
    start, end = _span(job, now)
    local_day = start.astimezone(zone).date()
    day_start = datetime.combine(local_day, time(0), tzinfo=zone)
    day_end = day_start + timedelta(days=1)
    areas: dict[uuid.UUID, list[ServiceArea]] = defaultdict(list)
    for a in await session.scalars(
        select(ServiceArea).where(
            ServiceArea.provider_id.in_(providers), ServiceArea.city_id == job.city_id
        )
    ):
        areas[a.provider_id].append(a)
    provider_blockers: dict[uuid.UUID, list[Reason]] = defaultdict(list)
    limits: dict[uuid.UUID, int] = {}
    for pid, mine in areas.items():
        if where is not None:
            inside = [a for a in mine if _contains(a, *where)]
            if not inside:
                provider_blockers[pid].append(Reason("outside_service_area"))
                continue
            mine = inside
        caps = [a.daily_jobs for a in mine if a.daily_jobs is not None]
        if caps and len(caps) == len(mine):
            limits[pid] = max(caps)
    if limits:
        counted = (
            await session.execute(
                select(Job.provider_id, func.count())
                .where(
                    Job.provider_id.in_(list(limits)),
                    Job.city_id == job.city_id,
                    Job.id != job.id,
                    Job.status != JobStatus.CANCELLED,
                    Job.window_start >= day_start,
                    Job.window_start < day_end,
                )
                .group_by(Job.provider_id)
            )
        ).all()
        for counted_pid, n in counted:
            if counted_pid is not None and n >= limits[counted_pid]:
                provider_blockers[counted_pid].append(
                    Reason("provider_full", {"limit": str(limits[counted_pid])})
                )
    # --- technicians --------------------------------------------------------------------
    open_count = (
        select(func.count(Job.id))
        .where(
            Job.technician_id == User.id,
            Job.status.not_in(list(CLOSED_STATUSES)),
            Job.id != job.id,
        )
        .scalar_subquery()
    )
    viol_count = (
        select(func.count(Violation.id))
        .where(
            Violation.technician_id == User.id,
            Violation.voided_at.is_(None),
            Violation.recorded_at >= since,
        )
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(
                User.id,
                User.provider_id,
                User.full_name,
                User.skill_level,
                TechnicianCalendar.technician_id,
                cast(TechnicianCalendar.weekly, Text),
                TechnicianCalendar.jobs_per_window,
                TechnicianCalendar.home_latitude,
                TechnicianCalendar.home_longitude,
                open_count,
                viol_count,
            )
            .outerjoin(TechnicianCalendar, TechnicianCalendar.technician_id == User.id)
            .where(
                User.provider_id.in_(providers),
                User.role == Role.TECHNICIAN,
                User.active.is_(True),
            )
        )
    ).all()
    if not rows:
        return []
    techs = [_Tech(r[0], r[1], r[2], r[3]) for r in rows]
    calendars: dict[uuid.UUID, Any] = {
        r[0]: CalendarFacts(weekly=r[5] or "{}", jobs_per_window=r[6] or 1,
                            home_latitude=r[7], home_longitude=r[8])
        for r in rows
        if r[4] is not None
    }  # fmt: skip
    open_jobs = {r[0]: int(r[9] or 0) for r in rows}
    tviol = {r[0]: int(r[10] or 0) for r in rows}
    # the technicians as a subquery, not a list of 100-odd ids to bind in every query
    ids: Any = select(User.id).where(
        User.provider_id.in_(providers), User.role == Role.TECHNICIAN, User.active.is_(True)
    )
    latest = (
        select(Checkin.technician_id, func.max(Checkin.fix_time).label("at"))
        .where(
            Checkin.technician_id.in_(ids),
            Checkin.fix_time >= now - timedelta(hours=FIX_HOURS),
            Checkin.fix_time <= now + timedelta(minutes=5),
            Checkin.latitude.is_not(None),
            Checkin.longitude.is_not(None),
        )
        .group_by(Checkin.technician_id)
        .subquery()
    )
    fixes: dict[uuid.UUID, tuple[float, float]] = {}
    for tid, lat, lon in (
        await session.execute(
            select(Checkin.technician_id, Checkin.latitude, Checkin.longitude).join(
                latest,
                and_(
                    latest.c.technician_id == Checkin.technician_id,
                    latest.c.at == Checkin.fix_time,
                ),
            )
        )
    ).all():
        if lat is not None and lon is not None:
            fixes[tid] = (lat, lon)
    contradicted_here = set(
        await session.scalars(
            select(Violation.technician_id)
            .join(Job, Job.id == Violation.job_id)
            .where(
                Job.customer_id == job.customer_id,
                Violation.technician_id.in_(ids),
                Violation.voided_at.is_(None),
            )
            .distinct()
        )
    )
    days = await load_days(session, techs, start, end, zone, default_capacity, calendars=calendars)
    complaint = is_complaint(job)
    has_window = job.window_start is not None and job.window_end is not None

    out: list[Ranked] = []
    for u in techs:
        assert u.provider_id is not None  # filtered above
        r = Ranked(
            technician_id=u.id,
            full_name=u.full_name,
            provider_id=u.provider_id,
            skill_level=u.skill_level,
            is_installer=u.id == installer_id,
            open_jobs=int(open_jobs.get(u.id, 0)),
        )
        r.blockers.extend(provider_blockers.get(u.provider_id, []))
        if u.id in exclude:
            r.blockers.append(Reason("taken_off"))
        if complaint and u.skill_level != SkillLevel.SENIOR:
            r.blockers.append(Reason("senior_required", {"level": u.skill_level or "—"}))
        if u.id in contradicted_here:
            r.blockers.append(Reason("contradicted_here"))
        td: TechDays = days[u.id]
        if has_window:
            for c in td.clashes(start, end, job.id):
                params = {"hours": _hhmm((c.start, c.end), zone)} if c.start and c.end else {}
                if c.job_number:
                    params["number"] = c.job_number
                r.blockers.append(Reason(f"clash_{c.kind}", params))
        r.free = td.free_in(start, end, job.id)
        # the score
        if r.is_installer:
            r.score += W_INSTALLER
            r.reasons.append(Reason("installer"))
        elif installer_provider is not None and u.provider_id == installer_provider:
            r.score += W_INSTALLER_PROVIDER
            r.reasons.append(Reason("installer_provider"))
        origin, code = fixes.get(u.id), "distance_current"
        if origin is None:
            origin, code = td.home, "distance_home"
        if origin is not None and where is not None:
            km = distance_m(origin[0], origin[1], where[0], where[1]) / 1000.0
            r.distance_km = round(km, 1)
            r.score -= W_PER_KM * min(km, MAX_KM)
            r.reasons.append(Reason(code, {"km": f"{km:.1f}"}))
        else:
            r.score -= W_UNKNOWN_DISTANCE
            r.reasons.append(Reason("distance_unknown"))
        if r.free:
            r.score += W_FREE
            r.reasons.append(
                Reason("free", {"hours": ", ".join(_hhmm(iv, zone) for iv in r.free[:2])})
            )
        elif not has_window:
            r.score -= W_NOT_FREE
            r.reasons.append(Reason("not_free"))
        r.score -= W_PER_OPEN_JOB * r.open_jobs
        r.reasons.append(Reason("open_jobs", {"n": str(r.open_jobs)}))
        if job.repeat_seq >= 2 and u.skill_level == SkillLevel.SENIOR and not complaint:
            r.score += W_SENIOR_FOR_REPEAT
            r.reasons.append(Reason("senior_for_repeat"))
        if (n := int(tviol.get(u.id, 0))) > 0:
            r.score -= W_VIOLATION * n
            r.reasons.append(Reason("violations", {"n": str(n)}))
        if (rate := satisfaction.get(u.provider_id)) is not None:
            r.score += W_SATISFACTION * rate
            r.reasons.append(Reason("provider_satisfaction", {"pct": f"{rate * 100:.0f}"}))
        if (n := int(pviol.get(u.provider_id, 0))) > 0:
            r.score -= W_PROVIDER_VIOLATION * n
            r.reasons.append(Reason("provider_violations", {"n": str(n)}))
        r.eligible = not r.blockers
        out.append(r)
    out.sort(
        key=lambda c: (
            not c.eligible,
            -c.score,
            c.distance_km if c.distance_km is not None else 1e9,
            c.full_name,
            str(c.technician_id),
        )
    )
    return out


async def apply_choice(
    session: AsyncSession,
    job: Job,
    best: Ranked,
    *,
    now: datetime,
    kind: str,
    choice_id: uuid.UUID,
    actor_id: uuid.UUID | None = None,
    actor_role: str | None = None,
) -> None:
    """Give ``job`` to the chosen technician (the system's act, in the history with the
    choice and its reasons)."""
    before = {
        "provider_id": str(job.provider_id) if job.provider_id else None,
        "technician_id": str(job.technician_id) if job.technician_id else None,
        "status": job.status,
    }
    previous = job.technician_id
    job.provider_id, job.technician_id = best.provider_id, best.technician_id
    if (
        job.status == JobStatus.NEW
        or job.status in FIELD_ACTIVE
        or job.status == JobStatus.UNABLE_TO_COMPLETE
    ):
        job.status = JobStatus.ASSIGNED
    await record_change(
        session,
        job,
        kind,
        {
            "before": before,
            "provider_id": str(best.provider_id),
            "technician_id": str(best.technician_id),
            "reason": best.summary(DEFAULT_LOCALE),
            "dispatch_choice_id": str(choice_id),
            "reasons": [r.as_dict() for r in best.reasons],
        },
        now=now,
        actor_id=actor_id,
        actor_role=actor_role,
        source="system",
        previous_technician=previous,
    )


async def choose(
    session: AsyncSession,
    job: Job,
    *,
    trigger: str,
    now: datetime,
    default_capacity: int = 0,
    mode: str | None = None,
    exclude: frozenset[uuid.UUID] = frozenset(),
    actor_id: uuid.UUID | None = None,
    actor_role: str | None = None,
    require_free_now: bool = False,
    any_provider: bool = False,
) -> DispatchChoice | None:
    """Make (and store) the automatic choice for ``job`` as its city's mode says:
    ``auto`` assigns at once, ``suggest`` stores a suggestion a dispatcher confirms,
    ``manual`` does nothing (None). Earlier open suggestions are superseded.
    ``require_free_now``: only a technician free within the next 15 minutes (an urgent
    re-dispatch); ``any_provider``: not only the job's provider's technicians."""
    if mode is None:
        mode = (await city_settings(session, job.city_id)).mode
    if mode not in ("auto", "suggest"):
        return None
    ranked = await rank_candidates(
        session,
        job,
        now=now,
        default_capacity=default_capacity,
        provider_ids=[job.provider_id] if job.provider_id and not any_provider else None,
        exclude=exclude,
    )
    soon = now + timedelta(minutes=15)
    best = next(
        (
            r
            for r in ranked
            if r.eligible and (not require_free_now or (r.free and r.free[0][0] <= soon))
        ),
        None,
    )
    await session.execute(
        update(DispatchChoice)
        .where(DispatchChoice.job_id == job.id, DispatchChoice.state == "suggested")
        .values(state="superseded")
        .execution_options(synchronize_session=False)
    )
    choice = DispatchChoice(
        id=uuid.uuid4(),
        job_id=job.id,
        at=now,
        trigger=trigger,
        mode=mode,
        state="none" if best is None else ("applied" if mode == "auto" else "suggested"),
        provider_id=best.provider_id if best else None,
        technician_id=best.technician_id if best else None,
        summary=best.summary(DEFAULT_LOCALE) if best else render(Reason("nobody"), DEFAULT_LOCALE),
        reasons=[r.as_dict() for r in best.reasons] if best else [Reason("nobody").as_dict()],
        ranking=[c.as_dict() for c in ranked[:RANKING_KEPT]],
    )
    session.add(choice)
    await session.flush()
    if best is not None and mode == "auto":
        kind = "assigned" if job.technician_id is None and job.provider_id is None else "reassigned"
        await apply_choice(
            session,
            job,
            best,
            now=now,
            kind=kind,
            choice_id=choice.id,
            actor_id=actor_id,
            actor_role=actor_role,
        )
        choice.decided_at = now
    return choice
