"""A provider's statement for one calendar month.

Lines are the claims made in the month (``CallbackTask.claimed_at``, in the provider's
cities' time zone) attributed to the provider, exactly as scorecards count them, so a
statement's net equals the provider's scorecard net for the same days:

- a **bonus** for a completion claim whose current callback outcome is
  ``very_satisfied`` (the job city's ``very_satisfied_bonus``);
- a **fine** for a violation (a contradicted claim) not voided by a correction.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.principal import Principal
from server.db.models import CallbackOutcome, CallbackTask, FeePolicy, Job, Provider, User
from server.db.models.callback import Violation
from server.errors import Invalid, NotFound
from server.i18n.formats import zone
from server.statements.schemas import StatementLine, StatementOut, TechnicianStatement

__all__ = ["MIXED", "parse_month", "statement", "statement_csv", "visible_provider"]

MIXED = "mixed"
DEFAULT_CURRENCY = "CNY"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str, tz: str) -> tuple[datetime, datetime]:
    """``2026-11`` → its first instant and the next month's, in ``tz``."""
    m = _MONTH.match(text.strip())
    month = int(m.group(2)) if m else 0
    if m is None or not 1 <= month <= 12 or int(m.group(1)) < 2000:
        raise Invalid(
            "invalid_month",
            "The month must be written yyyy-mm (2026-11).",
            {"month": text},
        )
    year = int(m.group(1))
    z = zone(tz)
    start = datetime(year, month, 1, tzinfo=z)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=z)
    return start.astimezone(UTC), end.astimezone(UTC)


async def visible_provider(
    session: AsyncSession, principal: Principal, provider_id: uuid.UUID
) -> Provider:
    """The provider, if the caller may read its statements: the brand's staff any,
    provider staff their own (another's answers 404, as if it did not exist)."""
    if not principal.sees_everything and (
        principal.is_technician or principal.provider_id != provider_id
    ):
        raise NotFound("provider", provider_id)
    provider = await session.get(Provider, provider_id)
    if provider is None:
        raise NotFound("provider", provider_id)
    return provider


def provider_zone(provider: Provider) -> str:
    """The zone of the provider's cities (the first by code when they differ)."""
    cities = sorted(provider.cities, key=lambda c: c.code)
    return cities[0].timezone if cities else "Asia/Shanghai"


def _current(outcomes: list[CallbackOutcome]) -> CallbackOutcome | None:
    corrected = {o.corrects_id for o in outcomes if o.corrects_id}
    left = [o for o in outcomes if o.id not in corrected]
    return max(left, key=lambda o: (o.recorded_at, o.id)) if left else None


async def statement(
    session: AsyncSession, provider: Provider, month: str, now: datetime
) -> StatementOut:
    tz = provider_zone(provider)
    start, end = parse_month(month, tz)
    local_start = start.astimezone(zone(tz))
    in_month = [
        CallbackTask.provider_id == provider.id,
        CallbackTask.claimed_at >= start,
        CallbackTask.claimed_at < end,
    ]
    lines: dict[uuid.UUID | None, list[StatementLine]] = defaultdict(list)

    # Bonuses: completion claims whose current outcome is very satisfied.
    rows = (
        await session.execute(
            select(CallbackTask, Job.number, FeePolicy.very_satisfied_bonus, FeePolicy.currency)
            .join(Job, Job.id == CallbackTask.job_id)
            .outerjoin(FeePolicy, FeePolicy.city_id == Job.city_id)
            .where(*in_month, CallbackTask.kind == "completion")
        )
    ).all()
    task_ids = [t.id for t, *_ in rows]
    outcomes: dict[uuid.UUID, list[CallbackOutcome]] = defaultdict(list)
    if task_ids:
        for o in await session.scalars(
            select(CallbackOutcome).where(CallbackOutcome.task_id.in_(task_ids))
        ):
            outcomes[o.task_id].append(o)
    for task, number, bonus, currency in rows:
        current = _current(outcomes.get(task.id, []))
        if current is None or current.satisfaction != "very_satisfied":
            continue
        assert task.claimed_at is not None
        lines[task.technician_id].append(
            StatementLine(
                kind="bonus",
                job_id=task.job_id,
                job_number=number,
                task_id=task.id,
                claimed_at=task.claimed_at,
                amount=int(bonus or 0),  # no fee policy: no bonus (as scorecards)
                currency=currency or DEFAULT_CURRENCY,
                detail="very_satisfied",
            )
        )

    # Fines: violations standing on claims of the month.
    fines = (
        await session.execute(
            select(Violation, CallbackTask, Job.number)
            .join(CallbackTask, CallbackTask.id == Violation.task_id)
            .join(Job, Job.id == Violation.job_id)
            .where(*in_month, Violation.voided_at.is_(None))
        )
    ).all()
    for v, task, number in fines:
        assert task.claimed_at is not None
        lines[task.technician_id].append(
            StatementLine(
                kind="fine",
                job_id=v.job_id,
                job_number=number,
                task_id=task.id,
                claimed_at=task.claimed_at,
                amount=-int(v.fine_amount),
                currency=v.currency or DEFAULT_CURRENCY,
                detail=v.kind,
                violation_id=v.id,
            )
        )

    names: dict[uuid.UUID, str] = {}
    wanted = {k for k in lines if k is not None}
    if wanted:
        names = {
            uid: name
            for uid, name in (
                await session.execute(select(User.id, User.full_name).where(User.id.in_(wanted)))
            ).all()
        }
    currencies = {line.currency for group in lines.values() for line in group}
    mixed = len(currencies) > 1
    techs = []
    for tid, group in lines.items():
        group.sort(key=lambda x: (x.claimed_at, x.job_number, x.kind))
        bonus = sum(x.amount for x in group if x.kind == "bonus")
        fined = -sum(x.amount for x in group if x.kind == "fine")
        techs.append(
            TechnicianStatement(
                technician_id=tid,
                technician_name=names.get(tid, "") if tid else "",
                bonus=None if mixed else bonus,
                fines=None if mixed else fined,
                net=None if mixed else bonus - fined,
                lines=group,
            )
        )
    techs.sort(key=lambda t: (t.technician_name.casefold(), str(t.technician_id)))
    all_lines = [x for group in lines.values() for x in group]
    bonus = sum(x.amount for x in all_lines if x.kind == "bonus")
    fined = -sum(x.amount for x in all_lines if x.kind == "fine")
    return StatementOut(
        provider_id=provider.id,
        provider_name=provider.name,
        month=f"{local_start.year:04d}-{local_start.month:02d}",
        timezone=tz,
        period_from=start,
        period_to=end,
        currency=MIXED if mixed else (next(iter(currencies)) if currencies else "CNY"),
        bonus=None if mixed else bonus,
        fines=None if mixed else fined,
        net=None if mixed else bonus - fined,
        technicians=techs,
        generated_at=now,
    )


CSV_COLUMNS = [
    "month",
    "provider_id",
    "provider_name",
    "technician_id",
    "technician_name",
    "kind",
    "job_number",
    "job_id",
    "claimed_at",
    "detail",
    "amount",
    "currency",
]
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_STARTS):
        return "'" + text  # a name a spreadsheet would run as a formula
    return text


def statement_csv(s: StatementOut) -> str:
    """One row per line (amounts in minor units, fines negative), RFC 4180."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for tech in s.technicians:
        for x in tech.lines:
            w.writerow(
                [
                    _cell(v)
                    for v in (
                        s.month,
                        s.provider_id,
                        s.provider_name,
                        tech.technician_id,
                        tech.technician_name,
                        x.kind,
                        x.job_number,
                        x.job_id,
                        x.claimed_at,
                        x.detail,
                        x.amount,
                        x.currency,
                    )
                ]
            )
    return buf.getvalue()
