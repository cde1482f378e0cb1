"""Scorecards computed with a handful of aggregate queries (never one per row), the same
on SQLite and PostgreSQL.

What counts (see ``schemas.Scorecard`` for each figure): claims — callback tasks of kind
``completion``, ``unable`` or ``not_home`` — whose ``claimed_at`` falls in
``[start, end)``, attributed to the task's ``technician_id`` / ``provider_id`` (who made
the claim, as they were then). Everything about a claim (its outcome, its violation, the
repeat repairs after it) counts in the period of the claim, so a period's scorecard moves
when an outcome is recorded or corrected later.

``scorecards_for`` is the unscoped computation (for reuse); ``visible_scorecards``
applies the caller's scope.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any, Literal

import msgspec
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from server.auth.principal import Principal
from server.db.dialect import is_postgresql
from server.db.models import CallbackOutcome, CallbackTask, FeePolicy, Job, Provider, User
from server.db.models.callback import Violation
from server.errors import Invalid, NotFound
from server.exports.csv_stream import csv_text
from server.scorecards.schemas import (
    MIXED,
    ProviderScorecard,
    ProviderScorecards,
    Scorecard,
    TechnicianScorecard,
    TechnicianScorecards,
)

__all__ = [
    "CLAIM_KINDS",
    "DEFAULT_PERIOD",
    "FALSE_REPORT_PENALTY",
    "MAX_PERIOD",
    "REPEAT_WINDOW",
    "By",
    "Period",
    "csv_columns",
    "parse_period",
    "scorecards_csv",
    "scorecards_for",
    "visible_scorecards",
]

By = Literal["technician", "provider"]

CLAIM_KINDS = ("completion", "unable", "not_home")
FAILED_VISIT_KINDS = ("unable", "not_home")
DEFAULT_PERIOD = timedelta(days=30)
MAX_PERIOD = timedelta(days=366)
REPEAT_WINDOW = timedelta(days=30)
FALSE_REPORT_PENALTY = Fraction(1, 5)
"""Taken off the very-satisfied rate for each proven false report (``Scorecard.score``)."""
DEFAULT_CURRENCY = "CNY"
"""Of a city without a fee policy (as for fines, see the callback design)."""


# --- the period -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime
    """Exclusive."""


def _instant(name: str, value: str) -> datetime:
    """A date (midnight UTC) or an ISO 8601 datetime (UTC when it names no offset)."""
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise Invalid(
            "invalid_date",
            f"`{name}` must be a date (2025-06-01) or a date and time (2025-06-01T08:00:00Z).",
            {"field": name, "value": value},
        ) from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_period(start: str | None, end: str | None, now: datetime) -> Period:
    """``end`` defaults to now, ``start`` to 30 days before ``end``."""
    stop = _instant("to", end) if end else now
    try:
        begin = _instant("from", start) if start else stop - DEFAULT_PERIOD
    except OverflowError as exc:  # `to` in the first days of year 1
        raise Invalid(
            "invalid_date", "`to` is too early for a period.", {"field": "to", "value": end}
        ) from exc
    if stop <= begin:
        raise Invalid(
            "invalid_period",
            "The period must end after it starts (`to` is exclusive).",
            {"from": begin.isoformat(), "to": stop.isoformat()},
        )
    if stop - begin > MAX_PERIOD:
        raise Invalid(
            "period_too_long",
            f"A scorecard covers at most {MAX_PERIOD.days} days; ask for a shorter period.",
            {"from": begin.isoformat(), "to": stop.isoformat(), "max_days": MAX_PERIOD.days},
        )
    return Period(begin, stop)


# --- the queries ------------------------------------------------------------------------


@dataclass(slots=True)
class _Figures:
    """One row's counts while they are gathered from the queries."""

    jobs: int = 0
    completed: int = 0
    surveyed: int = 0
    very_satisfied: int = 0
    contradicted: int = 0
    first_time_fixes: int = 0
    repeat_repairs: int = 0
    urgent_jobs: int = 0
    urgent_sla_met: int = 0
    bonus: int = 0
    fines: int = 0
    currencies: set[str] = field(default_factory=set)
    """Of the amounts (bonuses and fines)."""
    city_currencies: set[str] = field(default_factory=set)
    """Of the jobs' cities: the currency of a row without any amount."""


Key = tuple[uuid.UUID | None, ...]


def _within_days_after(
    session: AsyncSession, later: Any, earlier: Any, days: int
) -> ColumnElement[bool]:
    """``earlier <= later <= earlier + days`` between two columns: date arithmetic is the
    one thing SQLite and PostgreSQL spell differently."""
    if is_postgresql(session):
        bound: ColumnElement[bool] = later <= earlier + literal_column(
            f"interval '{int(days)} days'"
        )
    else:
        bound = func.julianday(later) - func.julianday(earlier) <= days
    return and_(later >= earlier, bound)


def _rate(part: int, whole: int) -> Fraction | None:
    return Fraction(part, whole) if whole else None


def _rounded(rate: Fraction | None) -> float | None:
    return None if rate is None else round(float(rate), 4)


async def _gather(
    session: AsyncSession,
    by: By,
    period: Period,
    provider_id: uuid.UUID | None,
    city_id: uuid.UUID | None,
    technician_id: uuid.UUID | None,
) -> dict[Key, _Figures]:
    conds: list[ColumnElement[bool]] = [
        CallbackTask.kind.in_(CLAIM_KINDS),
        CallbackTask.claimed_at >= period.start,
        CallbackTask.claimed_at < period.end,
    ]
    if by == "technician":
        conds.append(CallbackTask.technician_id.is_not(None))
    else:
        conds.append(CallbackTask.provider_id.is_not(None))
    if provider_id is not None:
        conds.append(CallbackTask.provider_id == provider_id)
    if technician_id is not None:
        conds.append(CallbackTask.technician_id == technician_id)
    if city_id is not None:
        conds.append(
            CallbackTask.job_id.in_(select(Job.id).where(Job.city_id == city_id).scalar_subquery())
        )
    claims = (
        select(
            CallbackTask.id.label("task_id"),
            CallbackTask.job_id,
            CallbackTask.kind,
            CallbackTask.claimed_at,
            CallbackTask.technician_id,
            CallbackTask.provider_id,
        )
        .where(*conds)
        .cte("claims")
    )

    def keys(sel: Any) -> list[Any]:
        if by == "technician":
            return [sel.c.technician_id, sel.c.provider_id]
        return [sel.c.provider_id]

    out: dict[Key, _Figures] = {}

    def row_for(row: Sequence[Any]) -> _Figures:
        n = len(keys(claims))
        return out.setdefault(tuple(row[:n]), _Figures())

    def currencies(into: set[str], low: str | None, high: str | None) -> None:
        into.update(c for c in (low, high) if c)

    # 1. Jobs, urgent jobs and their SLA, and the currencies of the jobs' cities.
    job_keys = select(*keys(claims), claims.c.job_id).distinct().subquery("job_keys")
    urgent = Job.priority == "urgent"
    sla_met = and_(
        urgent,
        Job.contacted_at.is_not(None),
        Job.contact_due_at.is_not(None),
        Job.arrived_at.is_not(None),
        Job.onsite_due_at.is_not(None),
        Job.contacted_at <= Job.contact_due_at,
        Job.arrived_at <= Job.onsite_due_at,
    )
    policy_currency = func.coalesce(FeePolicy.currency, DEFAULT_CURRENCY)
    q1: Select[Any] = (
        select(
            *keys(job_keys),
            func.count(),
            func.sum(case((urgent, 1), else_=0)),
            func.sum(case((sla_met, 1), else_=0)),
            func.min(policy_currency),
            func.max(policy_currency),
        )
        .select_from(job_keys)
        .join(Job, Job.id == job_keys.c.job_id)
        .outerjoin(FeePolicy, FeePolicy.city_id == Job.city_id)
        .group_by(*keys(job_keys))
    )
    for row in await session.execute(q1):
        f = row_for(row)
        f.jobs, f.urgent_jobs, f.urgent_sla_met = int(row[-5]), int(row[-4]), int(row[-3])
        currencies(f.city_currencies, row[-2], row[-1])

    # 2. Completed jobs, first-time fixes, repeat repairs.
    completions = (
        select(*keys(claims), claims.c.job_id, func.min(claims.c.claimed_at).label("done_at"))
        .where(claims.c.kind == "completion")
        .group_by(*keys(claims), claims.c.job_id)
        .subquery("completions")
    )
    earlier = aliased(CallbackTask)
    failed_before = exists().where(
        earlier.job_id == completions.c.job_id,
        earlier.kind.in_(FAILED_VISIT_KINDS),
        earlier.claimed_at < completions.c.done_at,
    )
    repeat = aliased(Job)
    is_repeat = and_(
        repeat.previous_job_id == completions.c.job_id,
        repeat.repeat_seq >= 2,
        repeat.cancelled_at.is_(None),
    )
    repeated_soon = exists().where(
        is_repeat,
        _within_days_after(session, repeat.created_at, completions.c.done_at, REPEAT_WINDOW.days),
    )
    per_job = select(
        *keys(completions),
        case((or_(failed_before, repeated_soon), 0), else_=1).label("first_time"),
        select(func.count()).where(is_repeat).scalar_subquery().label("repeats"),
    ).subquery("per_job")
    q2: Select[Any] = select(
        *keys(per_job),
        func.count(),
        func.sum(per_job.c.first_time),
        func.sum(per_job.c.repeats),
    ).group_by(*keys(per_job))
    for row in await session.execute(q2):
        f = row_for(row)
        f.completed, f.first_time_fixes, f.repeat_repairs = (int(x or 0) for x in row[-3:])

    # 3. Satisfaction from each completion claim's current outcome, and the bonus.
    # The current outcome: the latest entry of the task that no other entry corrects.
    corrector = aliased(CallbackOutcome)
    current = (
        select(
            CallbackOutcome.task_id,
            CallbackOutcome.satisfaction,
            func.row_number()
            .over(
                partition_by=CallbackOutcome.task_id,
                order_by=(CallbackOutcome.recorded_at.desc(), CallbackOutcome.id.desc()),
            )
            .label("nth"),
        )
        .where(~exists().where(corrector.corrects_id == CallbackOutcome.id))
        .subquery("current_outcome")
    )
    very = current.c.satisfaction == "very_satisfied"
    q3: Select[Any] = (
        select(
            *keys(claims),
            func.count(current.c.satisfaction),
            func.sum(case((very, 1), else_=0)),
            func.sum(case((very, func.coalesce(FeePolicy.very_satisfied_bonus, 0)), else_=0)),
            func.min(case((very, policy_currency))),
            func.max(case((very, policy_currency))),
        )
        .select_from(claims)
        .join(current, and_(current.c.task_id == claims.c.task_id, current.c.nth == 1))
        .join(Job, Job.id == claims.c.job_id)
        .outerjoin(FeePolicy, FeePolicy.city_id == Job.city_id)
        .where(claims.c.kind == "completion")
        .group_by(*keys(claims))
    )
    for row in await session.execute(q3):
        f = row_for(row)
        f.surveyed, f.very_satisfied, f.bonus = (int(x or 0) for x in row[-5:-2])
        currencies(f.currencies, row[-2], row[-1])

    # 4. Contradicted claims and their fines (voided violations do not count).
    q4: Select[Any] = (
        select(
            *keys(claims),
            func.count(Violation.id),
            func.coalesce(func.sum(Violation.fine_amount), 0),
            func.min(Violation.currency),
            func.max(Violation.currency),
        )
        .select_from(claims)
        .join(Violation, Violation.task_id == claims.c.task_id)
        .where(Violation.voided_at.is_(None))
        .group_by(*keys(claims))
    )
    for row in await session.execute(q4):
        f = row_for(row)
        f.contradicted, f.fines = int(row[-4]), int(row[-3])
        currencies(f.currencies, row[-2], row[-1])
    return out


def _score(f: _Figures) -> Fraction | None:
    """``very_satisfied_rate - FALSE_REPORT_PENALTY x contradicted``; None with nothing
    to score."""
    rate = _rate(f.very_satisfied, f.surveyed)
    if rate is None and not f.contradicted:
        return None
    return (rate or Fraction(0)) - FALSE_REPORT_PENALTY * f.contradicted


def _figures(f: _Figures, rank: int) -> dict[str, Any]:
    mixed = len(f.currencies) > 1
    if mixed:
        currency = MIXED
    elif f.currencies:
        currency = next(iter(f.currencies))
    else:  # nothing earned or fined: 0 in the currency of the row's cities
        currency = min(f.city_currencies, default=DEFAULT_CURRENCY)
    return {
        "rank": rank,
        "jobs": f.jobs,
        "completed": f.completed,
        "completion_rate": _rounded(_rate(f.completed, f.jobs)),
        "surveyed": f.surveyed,
        "very_satisfied": f.very_satisfied,
        "very_satisfied_rate": _rounded(_rate(f.very_satisfied, f.surveyed)),
        "score": _rounded(_score(f)),
        "contradicted": f.contradicted,
        "first_time_fixes": f.first_time_fixes,
        "first_time_fix_rate": _rounded(_rate(f.first_time_fixes, f.completed)),
        "repeat_repairs": f.repeat_repairs,
        "urgent_jobs": f.urgent_jobs,
        "urgent_sla_met": f.urgent_sla_met,
        "urgent_sla_rate": _rounded(_rate(f.urgent_sla_met, f.urgent_jobs)),
        "currency": currency,
        "bonus": None if mixed else f.bonus,
        "fines": None if mixed else f.fines,
        "net": None if mixed else f.bonus - f.fines,
    }


def _rank_key(f: _Figures, name: str, ident: str) -> tuple[Any, ...]:
    score = _score(f)
    return (score is None, -(score or 0), -f.very_satisfied, f.contradicted, name.casefold(), ident)


async def scorecards_for(
    session: AsyncSession,
    by: By,
    period: Period,
    *,
    provider_id: uuid.UUID | None = None,
    city_id: uuid.UUID | None = None,
    technician_id: uuid.UUID | None = None,
) -> list[Scorecard]:
    """Every technician's (``by="technician"``) or provider's scorecard for the period,
    ranked, unscoped: ``TechnicianScorecard`` or ``ProviderScorecard`` rows. Only those
    with a claim in the period have a row. ``provider_id``/``city_id``/``technician_id``
    narrow the claims counted (and so the population ranked)."""
    figures = await _gather(session, by, period, provider_id, city_id, technician_id)
    providers = await _names(session, Provider.id, Provider.name, {k[-1] for k in figures})
    if by == "provider":
        ordered = sorted(
            figures.items(),
            key=lambda kv: _rank_key(kv[1], providers.get(kv[0][0], ""), str(kv[0][0])),
        )
        return [
            ProviderScorecard(
                provider_id=_present(key[0]),
                provider_name=providers.get(key[0], ""),
                **_figures(f, rank),
            )
            for rank, (key, f) in enumerate(ordered, start=1)
        ]
    names = await _names(session, User.id, User.full_name, {k[0] for k in figures})
    ordered = sorted(
        figures.items(),
        key=lambda kv: _rank_key(kv[1], names.get(kv[0][0], ""), f"{kv[0][0]}/{kv[0][1]}"),
    )
    return [
        TechnicianScorecard(
            technician_id=_present(key[0]),
            technician_name=names.get(key[0], ""),
            provider_id=key[1],
            provider_name=providers.get(key[1]),
            **_figures(f, rank),
        )
        for rank, (key, f) in enumerate(ordered, start=1)
    ]


def _present(ident: uuid.UUID | None) -> uuid.UUID:
    assert ident is not None, "rows are only made for claims with this id set"
    return ident


async def _names(
    session: AsyncSession, id_col: Any, name_col: Any, ids: set[uuid.UUID | None]
) -> dict[uuid.UUID | None, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(id_col, name_col).where(id_col.in_(wanted)))
    return {row[0]: row[1] for row in rows}


# --- the caller's view ------------------------------------------------------------------


async def visible_scorecards(
    session: AsyncSession,
    principal: Principal,
    by: By,
    period: Period,
    now: datetime,
    *,
    provider_id: uuid.UUID | None = None,
    city_id: uuid.UUID | None = None,
) -> TechnicianScorecards | ProviderScorecards:
    """Ranks are computed over everyone the filters select; the caller then sees only
    their rows: the brand's staff everything, provider staff their own provider's rows
    (another provider's id answers 404, as if it did not exist)."""
    foreign = principal.is_technician or provider_id != principal.provider_id
    if not principal.sees_everything and provider_id is not None and foreign:
        raise NotFound("provider", provider_id)
    rows = await scorecards_for(session, by, period, provider_id=provider_id, city_id=city_id)
    ranked = len(rows)
    if not principal.sees_everything:
        own = principal.provider_id if not principal.is_technician else None
        rows = [r for r in rows if own is not None and getattr(r, "provider_id", None) == own]
    common: dict[str, Any] = {
        "period_from": period.start,
        "period_to": period.end,
        "city_id": city_id,
        "ranked": ranked,
        "generated_at": now,
    }
    if by == "provider":
        return ProviderScorecards(
            items=[r for r in rows if isinstance(r, ProviderScorecard)], **common
        )
    return TechnicianScorecards(
        provider_id=provider_id,
        items=[r for r in rows if isinstance(r, TechnicianScorecard)],
        **common,
    )


# --- CSV --------------------------------------------------------------------------------

_IDENTITY = {
    "technician": ["rank", "technician_id", "technician_name", "provider_id", "provider_name"],
    "provider": ["rank", "provider_id", "provider_name"],
}


def csv_columns(by: By) -> list[str]:
    """The JSON item's fields, who first, then the figures in their JSON order."""
    item = TechnicianScorecard if by == "technician" else ProviderScorecard
    first = _IDENTITY[by]
    return first + [f.name for f in msgspec.structs.fields(item) if f.name not in first]


def scorecards_csv(by: By, rows: Sequence[Scorecard]) -> str:
    """A header row, then one line per row (RFC 4180, CRLF); empty cells for nulls
    (``server.exports.csv_stream``, the API's one CSV writer)."""
    return csv_text(csv_columns(by), rows)
