"""Technicians' calendars and capacity: the rules, in one place.

A technician works the hours of their weekly pattern (in the time zone of the city the
job is in), minus leave and the provider's holidays, plus extra hours; a technician with
no pattern works any time. At most ``jobs_per_window`` of their open jobs may overlap in
time (one by default). Booking or assigning a window that breaks either is refused with
409 ``technician_busy`` naming the clash, unless a dispatcher overrides it with a reason
(kept in the job's history).
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import CalendarException, City, Job, TechnicianCalendar, User
from server.errors import Conflict, Invalid
from sync.vocabulary import CLOSED_STATUSES

__all__ = [
    "WEEKDAYS",
    "CalendarFacts",
    "Clash",
    "TechDays",
    "check_booking",
    "city_zone",
    "load_days",
    "parse_weekly",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class Clash:
    """Why a technician cannot take a window: ``appointment`` (another job overlaps and
    the capacity is used up), ``off`` (leave or a holiday), ``outside_hours``."""

    kind: str
    message: str
    job_id: uuid.UUID | None = None
    job_number: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "job_id": str(self.job_id) if self.job_id else None,
            "job_number": self.job_number,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


@dataclass(slots=True)
class TechDays:
    """One technician's working time and booked jobs over a span of days."""

    technician_id: uuid.UUID
    zone: ZoneInfo
    has_hours: bool
    jobs_per_window: int
    working: list[Interval] = field(default_factory=list)
    """Working intervals (UTC) over the span; empty with ``has_hours`` False: any time."""
    off: list[tuple[Interval, str]] = field(default_factory=list)
    booked: list[tuple[Interval, uuid.UUID, str]] = field(default_factory=list)
    """Open jobs with a window: (window, job id, job number)."""
    home: tuple[float, float] | None = None

    def clashes(self, start: datetime, end: datetime, skip_job: uuid.UUID | None) -> list[Clash]:
        out: list[Clash] = []
        zone = self.zone
        for (a, b), reason in self.off:
            if a < end and start < b:
                out.append(
                    Clash(
                        "off",
                        f"off {_span(a, b, zone)}" + (f" ({reason})" if reason else ""),
                        start=a,
                        end=b,
                    )
                )
        if self.has_hours and not _covered(start, end, self.working):
            hours = [
                iv
                for iv in self.working
                if iv[0].astimezone(zone).date() == start.astimezone(zone).date()
            ]
            text = ", ".join(_span(a, b, zone, with_day=False) for a, b in hours) or "none that day"
            out.append(Clash("outside_hours", f"outside working hours ({text})"))
        overlapping = [
            (iv, jid, num)
            for iv, jid, num in self.booked
            if jid != skip_job and iv[0] < end and start < iv[1]
        ]
        if self.jobs_per_window and len(overlapping) >= self.jobs_per_window:
            for (a, b), jid, num in overlapping:
                out.append(
                    Clash("appointment", f"booked {_span(a, b, zone)} with {num}", jid, num, a, b)
                )
        return out

    def free_in(self, start: datetime, end: datetime, skip_job: uuid.UUID | None) -> list[Interval]:
        """The parts of ``start``-``end`` where the technician works and is not booked."""
        spans: list[Interval] = (
            [(max(a, start), min(b, end)) for a, b in self.working if a < end and start < b]
            if self.has_hours
            else [(start, end)]
        )
        taken = [iv for iv, jid, _ in self.booked if jid != skip_job] + [iv for iv, _ in self.off]
        for ta, tb in sorted(taken):
            nxt: list[Interval] = []
            for a, b in spans:
                if tb <= a or b <= ta:
                    nxt.append((a, b))
                    continue
                if a < ta:
                    nxt.append((a, ta))
                if tb < b:
                    nxt.append((tb, b))
            spans = nxt
        return [iv for iv in spans if iv[1] > iv[0]]


def _covered(start: datetime, end: datetime, intervals: Sequence[Interval]) -> bool:
    at = start
    for a, b in sorted(intervals):
        if a <= at < b:
            at = b
            if at >= end:
                return True
    return at >= end


def _span(a: datetime, b: datetime, zone: ZoneInfo, *, with_day: bool = True) -> str:
    la, lb = a.astimezone(zone), b.astimezone(zone)
    if la.date() == lb.date() or ((lb - la) < timedelta(days=1) and lb.time() == time(0)):
        day = f"{la:%a %d %b} " if with_day else ""
        return f"{day}{la:%H:%M}-{lb:%H:%M}"
    return f"{la:%d %b %H:%M}-{lb:%d %b %H:%M}"


def city_zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _hhmm(value: str, what: str) -> time:
    try:
        hh, mm = value.split(":")
        if len(hh) != 2 or len(mm) != 2:
            raise ValueError
        if hh == "24" and mm == "00":
            return time(23, 59, 59)
        return time(int(hh), int(mm))
    except ValueError:
        raise Invalid("invalid_time", f"{what}: give a time as HH:MM, not {value!r}.") from None


def _parsed_weekly(
    weekly: dict[str, list[list[str]]] | str,
) -> dict[str, list[tuple[time, time]]]:
    """``parse_weekly`` remembered by content (the stored JSON text, or the pattern):
    most technicians share a few patterns, and ranking a city's technicians reads every
    one of them."""
    key = weekly if isinstance(weekly, str) else json.dumps(weekly, sort_keys=True)
    found = _WEEKLY_CACHE.get(key)
    if found is None:
        if len(_WEEKLY_CACHE) > 4096:
            _WEEKLY_CACHE.clear()
        pattern = json.loads(weekly) if isinstance(weekly, str) else weekly
        found = _WEEKLY_CACHE[key] = parse_weekly(pattern or {})
    return found


@dataclass(frozen=True, slots=True)
class CalendarFacts:
    """What ``load_days`` reads of a ``TechnicianCalendar`` (``weekly`` may be its stored
    JSON text, read without decoding it per row)."""

    weekly: dict[str, list[list[str]]] | str
    jobs_per_window: int
    home_latitude: float | None
    home_longitude: float | None


class Staff(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    @property
    def provider_id(self) -> uuid.UUID | None: ...


_WEEKLY_CACHE: dict[str, dict[str, list[tuple[time, time]]]] = {}


def parse_weekly(weekly: dict[str, list[list[str]]]) -> dict[str, list[tuple[time, time]]]:
    """Check and parse a weekly pattern; raises ``Invalid`` on a bad one."""
    out: dict[str, list[tuple[time, time]]] = {}
    for day, spans in weekly.items():
        if day not in WEEKDAYS:
            raise Invalid("invalid_weekday", f"{day!r} is not one of {', '.join(WEEKDAYS)}.")
        parsed = []
        for span in spans:
            if len(span) != 2:
                raise Invalid("invalid_hours", f"{day}: each span is [start, end].")
            a, b = _hhmm(span[0], day), _hhmm(span[1], day)
            if b <= a:
                raise Invalid("invalid_hours", f"{day}: {span[0]}-{span[1]} ends before it starts.")
            parsed.append((a, b))
        parsed.sort()
        for (_, b1), (a2, _) in itertools.pairwise(parsed):
            if a2 < b1:
                raise Invalid("invalid_hours", f"{day}: the spans overlap.")
        out[day] = parsed
    return out


def _local(day: date, t: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, t, tzinfo=zone)


def _days(start: datetime, end: datetime, zone: ZoneInfo) -> list[date]:
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


async def load_days(
    session: AsyncSession,
    technicians: Iterable[User | Staff],
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    default_capacity: int = 1,
    *,
    calendars: dict[uuid.UUID, Any] | None = None,
    id_filter: Any = None,
) -> dict[uuid.UUID, TechDays]:
    """Calendars, exceptions and booked jobs of ``technicians`` over ``start``-``end``
    (three queries whatever their number; two when the caller already has the
    ``calendars``). ``id_filter``: a select of the same technicians' ids, to use in the
    queries instead of binding every id."""
    techs = list(technicians)
    if not techs:
        return {}
    ids: Any = id_filter if id_filter is not None else [t.id for t in techs]
    days = _days(start - timedelta(days=1), end, zone)
    cals = (
        calendars
        if calendars is not None
        else {
            c.technician_id: c
            for c in await session.scalars(
                select(TechnicianCalendar).where(TechnicianCalendar.technician_id.in_(ids))
            )
        }
    )
    providers = {t.provider_id for t in techs if t.provider_id}
    exc = list(
        await session.scalars(
            select(CalendarException).where(
                or_(
                    CalendarException.technician_id.in_(ids),
                    CalendarException.provider_id.in_(providers)
                    & CalendarException.technician_id.is_(None),
                ),
                CalendarException.first_day <= days[-1],
                CalendarException.last_day >= days[0],
            )
        )
    )
    booked = (
        await session.execute(
            select(Job.technician_id, Job.window_start, Job.window_end, Job.id, Job.number).where(
                Job.technician_id.in_(ids),
                Job.status.not_in(list(CLOSED_STATUSES)),
                Job.window_start < end,
                Job.window_end > start,
            )
        )
    ).all()
    out: dict[uuid.UUID, TechDays] = {}
    local_cache: dict[tuple[date, time], datetime] = {}

    def _at(day: date, t: time) -> datetime:
        found = local_cache.get((day, t))
        if found is None:
            found = local_cache[(day, t)] = _local(day, t, zone)
        return found

    for t in techs:
        cal = cals.get(t.id)
        weekly = _parsed_weekly(cal.weekly) if cal is not None and cal.weekly else {}
        td = TechDays(
            technician_id=t.id,
            zone=zone,
            has_hours=bool(weekly),
            jobs_per_window=max(1, cal.jobs_per_window) if cal else default_capacity,
            home=(cal.home_latitude, cal.home_longitude)
            if cal and cal.home_latitude is not None and cal.home_longitude is not None
            else None,
        )
        mine = [
            e
            for e in exc
            if e.technician_id == t.id
            or (e.technician_id is None and e.provider_id == t.provider_id)
        ]
        for day in days:
            if weekly:
                for a, b in weekly.get(WEEKDAYS[day.weekday()], []):
                    td.working.append((_at(day, a), _at(day, b)))
            for e in mine:
                if not (e.first_day <= day <= e.last_day):
                    continue
                if e.start and e.end:
                    iv = (
                        _local(day, _hhmm(e.start, "start"), zone),
                        _local(day, _hhmm(e.end, "end"), zone),
                    )
                else:
                    iv = (
                        _local(day, time(0), zone),
                        _local(day + timedelta(days=1), time(0), zone),
                    )
                if e.kind == "extra":
                    td.working.append(iv)
                else:
                    td.off.append((iv, e.reason))
        td.working.sort()
        out[t.id] = td
    for tid, ws, we, jid, num in booked:
        if tid in out and ws is not None and we is not None:
            out[tid].booked.append(((ws, we), jid, num))
    return out


async def check_booking(
    session: AsyncSession,
    job: Job,
    technician: User,
    start: datetime | None,
    end: datetime | None,
    override_reason: str | None,
    default_capacity: int = 1,
) -> list[dict[str, Any]]:
    """Raise 409 ``technician_busy`` if ``technician`` cannot take ``job`` in
    ``start``-``end``; with ``override_reason`` return the clashes overridden instead
    (for the history). No window: nothing to check."""
    if start is None or end is None:
        return []
    city = await session.get(City, job.city_id)
    zone = city_zone(city.timezone if city else None)
    days = await load_days(session, [technician], start, end, zone, default_capacity)
    clashes = days[technician.id].clashes(start, end, job.id)
    if not clashes:
        return []
    found = [c.as_dict() for c in clashes]
    if override_reason:
        return found
    raise Conflict(
        "technician_busy",
        f"{technician.full_name} is not free then: "
        + "; ".join(c.message for c in clashes)
        + ". A dispatcher may override with a reason.",
        {"technician_id": str(technician.id), "clashes": found},
    )
