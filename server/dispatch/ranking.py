"""The one scoring function of dispatch: who should take a job, best first, and why.

``rank`` ranks the active technicians of the providers that may take the job (the rules
are in ``server.dispatch.assign``'s docstring). It reads, whatever the number of
technicians:

1. the job's facts (city time zone, customer position, appliance installer): one query;
2. the providers covering the city with their quality and service areas: one query (and
   a count when an area caps the day's jobs);
3. the technicians with their home, calendar, open jobs, violations, latest fix and
   whether this customer contradicted them: one query;
4. calendars (leave, booked jobs) for the technicians being scored: two queries a batch.

Everything but the calendar — free time in the window and clashes — is known after (3),
so every technician has an upper bound on their score (their score as if free).
``top=k`` (the automatic choice keeps the first ten) scores technicians in order of that
bound and stops once ``k`` eligible technicians score above the bound of every one not
yet scored: the result is then exactly the first ``k`` of the full ranking. With ``top``,
technicians who can never be eligible (their provider is outside its service areas or
full; a complaint and not a senior) are left out in SQL; when fewer than ``k`` eligible
technicians remain the full ranking is made instead (its first ``k`` then include
ineligible ones, as before).
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Text, and_, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from server.db.models import (
    Appliance,
    CallbackOutcome,
    CallbackTask,
    Checkin,
    City,
    Customer,
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
from server.jobs.repeats import is_complaint
from sync.geo import distance_m
from sync.vocabulary import CLOSED_STATUSES, JobPriority, JobStatus

__all__ = ["Ranked", "Ranking", "Reason", "rank", "render"]

QUALITY_DAYS = 90
FIX_HOURS = 12
"""A fix older than this is not the technician's current position."""

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

BOUND_SLACK = 1e-6
"""Added to each upper bound: the score adds the same terms in another order, and float
sums may differ in their last bit."""
FIRST_BATCH = 20
"""Technicians scored first with ``top`` (then twice as many each round)."""


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


@dataclass(slots=True)
class Ranking:
    ranked: list[Ranked]
    candidates: int = 0
    """Technicians read (after the SQL pre-filter)."""
    scored: int = 0
    """Technicians whose calendars were read and who were scored."""
    full: bool = True
    """The whole ranking (False: its first ``top`` only)."""


@dataclass(slots=True)
class _JobFacts:
    job_id: uuid.UUID
    city_id: uuid.UUID
    zone: ZoneInfo
    where: tuple[float, float] | None
    installer_id: uuid.UUID | None
    installer_provider: uuid.UUID | None
    start: datetime
    end: datetime
    has_window: bool
    complaint: bool
    repeat_seq: int


@dataclass(slots=True)
class _Providers:
    ids: list[uuid.UUID]
    satisfaction: dict[uuid.UUID, float]
    violations: dict[uuid.UUID, int]
    blockers: dict[uuid.UUID, list[Reason]]


@dataclass(slots=True)
class _Cand:
    """One technician, with everything but their calendar for the window."""

    id: uuid.UUID
    provider_id: uuid.UUID
    full_name: str
    skill_level: str | None
    calendar: CalendarFacts | None
    open_jobs: int
    violations: int
    fix: tuple[float, float] | None
    contradicted: bool
    blockers: list[Reason] = field(default_factory=list)
    """The blockers known before the calendar (in the order the ranking lists them)."""
    bound: float = 0.0


def _span(job: Job, now: datetime) -> Interval:
    """The time the technician must be free in: the window; for a pending urgent job,
    until the on-site clock; else the next 24 hours."""
    if job.window_start is not None and job.window_end is not None:
        return job.window_start, job.window_end
    if job.priority == JobPriority.URGENT and job.onsite_due_at is not None:
        return now, max(job.onsite_due_at, now + timedelta(minutes=30))
    return now, now + timedelta(hours=24)


def _hhmm(iv: Interval, zone: ZoneInfo) -> str:
    a, b = iv[0].astimezone(zone), iv[1].astimezone(zone)
    return f"{a:%H:%M}\u2013{b:%H:%M}"


def _key(c: Ranked) -> tuple[Any, ...]:
    return (
        not c.eligible,
        -c.score,
        c.distance_km if c.distance_km is not None else 1e9,
        c.full_name,
        str(c.technician_id),
    )


async def _job_facts(session: AsyncSession, job: Job, now: datetime) -> _JobFacts:
    """The city's time zone, the customer's position and the appliance's installer, in
    one round trip (scalar subqueries: a missing row reads as NULL)."""
    appliance = Appliance.id == job.appliance_id if job.appliance_id is not None else None

    def _of(column: Any, where: Any) -> Any:
        return select(column).where(where).scalar_subquery()

    row = (
        await session.execute(
            select(
                _of(City.timezone, City.id == job.city_id),
                _of(Customer.latitude, Customer.id == job.customer_id),
                _of(Customer.longitude, Customer.id == job.customer_id),
                *(
                    (
                        _of(Appliance.installer_id, appliance),
                        _of(Appliance.installer_provider_id, appliance),
                    )
                    if appliance is not None
                    else ()
                ),
            )
        )
    ).one()
    tz, lat, lon = row[0], row[1], row[2]
    installer_id, installer_provider = (row[3], row[4]) if appliance is not None else (None, None)
    start, end = _span(job, now)
    return _JobFacts(
        job_id=job.id,
        city_id=job.city_id,
        zone=city_zone(tz),
        where=(lat, lon) if lat is not None and lon is not None else None,
        installer_id=installer_id,
        installer_provider=installer_provider,
        start=start,
        end=end,
        has_window=job.window_start is not None and job.window_end is not None,
        complaint=is_complaint(job),
        repeat_seq=job.repeat_seq,
    )


async def _providers(
    session: AsyncSession,
    jf: _JobFacts,
    *,
    now: datetime,
    provider_ids: list[uuid.UUID] | None,
) -> _Providers:
    """The active providers covering the city, their quality over the last 90 days
    (very-satisfied rate of confirmed visits, violations) and their service areas, in
    one query; those outside their areas or over a day's cap get blockers."""
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
            ServiceArea.id,
            ServiceArea.latitude,
            ServiceArea.longitude,
            ServiceArea.radius_km,
            ServiceArea.daily_jobs,
        )
        .join(provider_cities, provider_cities.c.provider_id == Provider.id)
        .outerjoin(
            ServiceArea,
            and_(ServiceArea.provider_id == Provider.id, ServiceArea.city_id == jf.city_id),
        )
        .where(provider_cities.c.city_id == jf.city_id, Provider.active.is_(True))
    )
    if provider_ids is not None:
        stmt = stmt.where(Provider.id.in_(provider_ids))
    rows = (await session.execute(stmt)).all()
    ids = list(dict.fromkeys(r[0] for r in rows))
    satisfaction = {r[0]: int(r[2] or 0) / r[1] for r in rows if r[1]}
    pviol = {r[0]: int(r[3] or 0) for r in rows}
    areas: dict[uuid.UUID, list[tuple[float, float, float, int | None]]] = defaultdict(list)
    for r in rows:
        if r[4] is not None:
            areas[r[0]].append((r[5], r[6], r[7], r[8]))
    blockers: dict[uuid.UUID, list[Reason]] = defaultdict(list)
    limits: dict[uuid.UUID, int] = {}
    for pid, mine in areas.items():
        if jf.where is not None:
            lat, lon = jf.where
            inside = [a for a in mine if distance_m(a[0], a[1], lat, lon) <= a[2] * 1000.0]
            if not inside:
                blockers[pid].append(Reason("outside_service_area"))
                continue
            mine = inside
        caps = [a[3] for a in mine if a[3] is not None]
        if caps and len(caps) == len(mine):
            limits[pid] = max(caps)
    if limits:
        local_day = jf.start.astimezone(jf.zone).date()
        day_start = datetime.combine(local_day, time(0), tzinfo=jf.zone)
        counted = (
            await session.execute(
                select(Job.provider_id, func.count())
                .where(
                    Job.provider_id.in_(list(limits)),
                    Job.city_id == jf.city_id,
                    Job.id != jf.job_id,
                    Job.status != JobStatus.CANCELLED,
                    Job.window_start >= day_start,
                    Job.window_start < day_start + timedelta(days=1),
                )
                .group_by(Job.provider_id)
            )
        ).all()
        for counted_pid, n in counted:
            if counted_pid is not None and n >= limits[counted_pid]:
                blockers[counted_pid].append(
                    Reason("provider_full", {"limit": str(limits[counted_pid])})
                )
    return _Providers(ids, satisfaction, pviol, blockers)


def _technicians_stmt(
    job: Job, jf: _JobFacts, providers: list[uuid.UUID], now: datetime, seniors_only: bool
) -> Any:
    """The technicians of ``providers`` with, per row, what scoring reads: calendar and
    home, open jobs, recent violations, the latest fix of the last 12 hours, and whether
    this customer contradicted them."""
    since = now - timedelta(days=QUALITY_DAYS)
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
    fixed = aliased(Checkin)
    latest_fix = (
        select(fixed.id)
        .where(
            fixed.technician_id == User.id,
            fixed.fix_time >= now - timedelta(hours=FIX_HOURS),
            fixed.fix_time <= now + timedelta(minutes=5),
            fixed.latitude.is_not(None),
            fixed.longitude.is_not(None),
        )
        .order_by(fixed.fix_time.desc(), fixed.id.desc())
        .limit(1)
        .correlate(User)
        .scalar_subquery()
    )
    contradicted = (
        select(Violation.id)
        .join(Job, Job.id == Violation.job_id)
        .where(
            Violation.technician_id == User.id,
            Violation.voided_at.is_(None),
            Job.customer_id == job.customer_id,
        )
        .correlate(User)
        .exists()
    )
    stmt = (
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
            Checkin.latitude,
            Checkin.longitude,
            contradicted,
        )
        .outerjoin(TechnicianCalendar, TechnicianCalendar.technician_id == User.id)
        .outerjoin(Checkin, Checkin.id == latest_fix)
        .where(
            User.provider_id.in_(providers),
            User.role == Role.TECHNICIAN,
            User.active.is_(True),
        )
    )
    if seniors_only:
        stmt = stmt.where(User.skill_level == SkillLevel.SENIOR)
    return stmt


def _origin(c: _Cand) -> tuple[tuple[float, float] | None, str]:
    if c.fix is not None:
        return c.fix, "distance_current"
    cal = c.calendar
    if cal is not None and cal.home_latitude is not None and cal.home_longitude is not None:
        return (cal.home_latitude, cal.home_longitude), "distance_home"
    return None, "distance_home"


def _bound(c: _Cand, jf: _JobFacts, pv: _Providers) -> float:
    """The highest score ``c`` can have: their score as if free in the window."""
    s = W_FREE + BOUND_SLACK
    if c.id == jf.installer_id:
        s += W_INSTALLER
    elif jf.installer_provider is not None and c.provider_id == jf.installer_provider:
        s += W_INSTALLER_PROVIDER
    origin, _ = _origin(c)
    if origin is not None and jf.where is not None:
        km = distance_m(origin[0], origin[1], jf.where[0], jf.where[1]) / 1000.0
        s -= W_PER_KM * min(km, MAX_KM)
    else:
        s -= W_UNKNOWN_DISTANCE
    s -= W_PER_OPEN_JOB * c.open_jobs
    if jf.repeat_seq >= 2 and c.skill_level == SkillLevel.SENIOR and not jf.complaint:
        s += W_SENIOR_FOR_REPEAT
    s -= W_VIOLATION * c.violations
    if (rate := pv.satisfaction.get(c.provider_id)) is not None:
        s += W_SATISFACTION * rate
    s -= W_PROVIDER_VIOLATION * pv.violations.get(c.provider_id, 0)
    return s


def _score(c: _Cand, td: TechDays, jf: _JobFacts, pv: _Providers) -> Ranked:
    """The technician's place in the ranking: blockers, score and reasons."""
    zone = jf.zone
    r = Ranked(
        technician_id=c.id,
        full_name=c.full_name,
        provider_id=c.provider_id,
        skill_level=c.skill_level,
        is_installer=c.id == jf.installer_id,
        open_jobs=c.open_jobs,
    )
    r.blockers.extend(c.blockers)
    if jf.has_window:
        for clash in td.clashes(jf.start, jf.end, jf.job_id):
            params = {}
            if clash.start and clash.end:
                params["hours"] = _hhmm((clash.start, clash.end), zone)
            if clash.job_number:
                params["number"] = clash.job_number
            r.blockers.append(Reason(f"clash_{clash.kind}", params))
    r.free = td.free_in(jf.start, jf.end, jf.job_id)
    if r.is_installer:
        r.score += W_INSTALLER
        r.reasons.append(Reason("installer"))
    elif jf.installer_provider is not None and c.provider_id == jf.installer_provider:
        r.score += W_INSTALLER_PROVIDER
        r.reasons.append(Reason("installer_provider"))
    origin, code = _origin(c)
    if origin is not None and jf.where is not None:
        km = distance_m(origin[0], origin[1], jf.where[0], jf.where[1]) / 1000.0
        r.distance_km = round(km, 1)
        r.score -= W_PER_KM * min(km, MAX_KM)
        r.reasons.append(Reason(code, {"km": f"{km:.1f}"}))
    else:
        r.score -= W_UNKNOWN_DISTANCE
        r.reasons.append(Reason("distance_unknown"))
    if r.free:
        r.score += W_FREE
        r.reasons.append(Reason("free", {"hours": ", ".join(_hhmm(iv, zone) for iv in r.free[:2])}))
    elif not jf.has_window:
        r.score -= W_NOT_FREE
        r.reasons.append(Reason("not_free"))
    r.score -= W_PER_OPEN_JOB * r.open_jobs
    r.reasons.append(Reason("open_jobs", {"n": str(r.open_jobs)}))
    if jf.repeat_seq >= 2 and c.skill_level == SkillLevel.SENIOR and not jf.complaint:
        r.score += W_SENIOR_FOR_REPEAT
        r.reasons.append(Reason("senior_for_repeat"))
    if (n := c.violations) > 0:
        r.score -= W_VIOLATION * n
        r.reasons.append(Reason("violations", {"n": str(n)}))
    if (rate := pv.satisfaction.get(c.provider_id)) is not None:
        r.score += W_SATISFACTION * rate
        r.reasons.append(Reason("provider_satisfaction", {"pct": f"{rate * 100:.0f}"}))
    if (n := int(pv.violations.get(c.provider_id, 0))) > 0:
        r.score -= W_PROVIDER_VIOLATION * n
        r.reasons.append(Reason("provider_violations", {"n": str(n)}))
    r.eligible = not r.blockers
    return r


async def rank(
    session: AsyncSession,
    job: Job,
    *,
    now: datetime,
    default_capacity: int = 0,
    provider_ids: list[uuid.UUID] | None = None,
    exclude: frozenset[uuid.UUID] = frozenset(),
    top: int | None = None,
) -> Ranking:
    """The ranking of the technicians who could be sent to ``job`` (see the module's
    docstring); ``top``: only its first ``top`` entries, exactly as the full ranking
    lists them."""
    jf = await _job_facts(session, job, now)
    pv = await _providers(session, jf, now=now, provider_ids=provider_ids)
    if not pv.ids:
        return Ranking([])
    ranker = _Ranker(session, job, jf, pv, now, default_capacity, exclude)
    if top is not None and top > 0:
        found = await ranker.shortlist(top)
        if found is not None:
            return found
        # Fewer than ``top`` eligible: the first ``top`` of the ranking include
        # ineligible ones, so it is the full ranking's head (same job facts, providers).
        full = await ranker.full()
        full.ranked = full.ranked[:top]
        return full
    return await ranker.full()


@dataclass(slots=True)
class _Ranker:
    """One job's ranking, from the job's facts and its providers read once."""

    session: AsyncSession
    job: Job
    jf: _JobFacts
    pv: _Providers
    now: datetime
    default_capacity: int
    exclude: frozenset[uuid.UUID]

    async def candidates(self, providers: list[uuid.UUID], *, seniors_only: bool) -> list[_Cand]:
        """The technicians of ``providers``, with what rules them out."""
        jf, pv = self.jf, self.pv
        stmt = _technicians_stmt(self.job, jf, providers, self.now, seniors_only=seniors_only)
        cands: list[_Cand] = []
        for row in (await self.session.execute(stmt)).all():
            c = _Cand(
                id=row[0],
                provider_id=row[1],
                full_name=row[2],
                skill_level=row[3],
                calendar=CalendarFacts(weekly=row[5] or "{}", jobs_per_window=row[6] or 1,
                                       home_latitude=row[7], home_longitude=row[8])
                if row[4] is not None
                else None,
                open_jobs=int(row[9] or 0),
                violations=int(row[10] or 0),
                fix=(row[11], row[12]) if row[11] is not None and row[12] is not None else None,
                contradicted=bool(row[13]),
            )  # fmt: skip
            c.blockers.extend(pv.blockers.get(c.provider_id, []))
            if c.id in self.exclude:
                c.blockers.append(Reason("taken_off"))
            if jf.complaint and c.skill_level != SkillLevel.SENIOR:
                c.blockers.append(Reason("senior_required", {"level": c.skill_level or "—"}))
            if c.contradicted:
                c.blockers.append(Reason("contradicted_here"))
            cands.append(c)
        return cands

    async def scored(self, batch: list[_Cand]) -> list[Ranked]:
        """``batch`` scored, their calendars read (leave, booked jobs) for the window."""
        jf = self.jf
        days = await load_days(
            self.session,
            batch,
            jf.start,
            jf.end,
            jf.zone,
            self.default_capacity,
            calendars={c.id: c.calendar for c in batch if c.calendar is not None},
        )
        return [_score(c, days[c.id], jf, self.pv) for c in batch]

    async def full(self) -> Ranking:
        cands = await self.candidates(self.pv.ids, seniors_only=False)
        out = await self.scored(cands)
        out.sort(key=_key)
        return Ranking(out, candidates=len(cands), scored=len(cands))

    async def shortlist(self, top: int) -> Ranking | None:
        """The first ``top`` eligible, scoring technicians in order of an upper bound on
        their score until no one left can beat the ``top``-th; None: fewer than ``top``
        are eligible."""
        jf, pv = self.jf, self.pv
        providers = [p for p in pv.ids if not pv.blockers.get(p)]
        if not providers:
            return None
        cands = await self.candidates(providers, seniors_only=jf.complaint)
        pool = [c for c in cands if not c.blockers]
        if len(pool) < top:
            return None  # no need to score them: the full ranking is the answer
        for c in pool:
            c.bound = _bound(c, jf, pv)
        pool.sort(key=lambda c: -c.bound)
        done: list[Ranked] = []
        at, size = 0, max(FIRST_BATCH, 2 * top)
        while at < len(pool):
            batch = pool[at : at + size]
            at += len(batch)
            done.extend(r for r in await self.scored(batch) if r.eligible)
            done.sort(key=_key)
            rest = pool[at].bound if at < len(pool) else -math.inf
            if len(done) >= top and done[top - 1].score > rest:
                return Ranking(done[:top], candidates=len(cands), scored=at, full=False)
            size *= 2
        return None
