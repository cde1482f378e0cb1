"""Messages to customers: queued in the same transaction as the change that causes them,
handed later to a ``Sender`` (``gateway.py``) by ``drain``.

Statuses: ``queued`` -> ``sending`` -> ``accepted`` (the gateway has it) ->
``delivered`` | ``failed`` (the gateway's receipt, ``receipts.py``); ``logged`` when no
gateway is configured. A failed try waits (``retry_delay``) and is tried again, up to
``sms_max_attempts``; then, or at once when the gateway refuses the message, it is a
``dead_letter`` that the desk lists and can retry (``retry``).

Bodies are written in the customer's language (the brand's default, zh-CN, until
customers carry a preference) from the ``msgctxt "sms"`` entries of the gettext catalogs,
with the job's kind as a label and times in the city's zone (Babel).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.base import utcnow
from server.db.engine import Database
from server.db.models import City, Customer, Job, Notification
from server.i18n import format_time, label, t, window
from server.i18n.catalog import pick
from server.notifications.gateway import (
    LogSender,
    PermanentFailure,
    Sender,
    TemporaryFailure,
)
from server.settings import Settings

__all__ = [
    "DEAD_STATUSES",
    "LogSender",
    "RetryPolicy",
    "Sender",
    "claim_time",
    "drain",
    "enqueue",
    "local_time",
    "message_locale",
    "retry",
    "window_text",
]

log = logging.getLogger("doorstep.notifications")

DEAD_STATUSES = ("dead_letter", "failed")
"""What the desk's dead-letter list shows: given up on, or reported undelivered."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6
    first_delay: timedelta = timedelta(seconds=30)
    longest_delay: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(minutes=5)
    """How long a claimed (``sending``) row stays with its sender before another takes it."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=max(1, settings.sms_max_attempts),
            first_delay=timedelta(seconds=max(1, settings.sms_retry_seconds)),
            lease=timedelta(seconds=max(60, 3 * settings.sms_gateway_timeout)),
        )

    def retry_delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed try: doubling, capped."""
        return min(self.first_delay * (2 ** max(0, attempts - 1)), self.longest_delay)


def local_time(at: datetime | None, tz: str) -> str:
    if at is None:
        return "(to be arranged)"
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).strftime("%a %d %b %H:%M")


TEMPLATES = {  # English defaults; the catalogs' ``sms`` entries are what is sent
    "appointment_booked": (
        "Your {kind} visit ({number}) is booked for {new_window}. Details and changes: {link}"
    ),
    "appointment_rescheduled": (
        "Your {kind} visit ({number}) has moved from {old_window} to {new_window}. "
        "Reply to this message if that time does not suit you."
    ),
    "appointment_unscheduled": (
        "Your {kind} visit ({number}) planned for {old_window} is no longer booked; "
        "we will call you to arrange a new time."
    ),
    "appointment_cancelled": "Your {kind} visit ({number}) planned for {old_window} is cancelled.",
    "maintenance_due": (
        "Your {service} ({number}) is due: we have booked a visit for {new_window}. "
        "Reply to this message if that time does not suit you."
    ),
    "claim_not_home": (
        "Our technician reports that nobody was home at {time} for your {kind} visit "
        "({number}). If you were home, reply HOME; if that is right, reply OK."
    ),
}


async def enqueue(
    session: AsyncSession, job: Job, template: str, params: dict[str, str]
) -> Notification | None:
    """Queue a message to the job's customer (first phone), in their language. None if
    they have no phone."""
    customer = await session.get(Customer, job.customer_id)
    if customer is None or not customer.phones:
        return None
    locale = _locale_of(customer)
    key = template
    if template == "appointment_booked" and "link" not in params:
        key = "appointment_booked_nolink"  # no customer page link to give
    body = t(
        locale,
        "sms",
        key,
        TEMPLATES[template],
        number=job.number,
        kind=label(locale, "job_kind", job.kind),
        **params,
    )
    n = Notification(
        template=template,
        recipient=customer.phones[0].number,
        body=body,
        params=params,
        customer_id=customer.id,
        job_id=job.id,
    )
    session.add(n)
    await session.flush()
    return n


def _locale_of(customer: Customer | None) -> str:
    return pick(getattr(customer, "locale", None))


async def message_locale(session: AsyncSession, job: Job) -> str:
    """The language of messages to the job's customer: their own once customers carry a
    preference, else the brand's default (zh-CN)."""
    return _locale_of(await session.get(Customer, job.customer_id))


async def _zone(session: AsyncSession, job: Job) -> str:
    city = await session.get(City, job.city_id)
    return city.timezone if city else "UTC"


async def window_text(
    session: AsyncSession, job: Job, start: datetime | None, end: datetime | None
) -> str:
    """An appointment as the customer reads it: ``12月2日周三 14:00-16:00`` in the
    city's zone and the customer's language; "(to be arranged)" when there is none."""
    locale = await message_locale(session, job)
    if start is None:
        return t(locale, "sms", "to_be_arranged")
    return window(start, end, await _zone(session, job), locale)


async def claim_time(session: AsyncSession, job: Job, at: datetime | None) -> str:
    """``14:05`` in the city's zone: when the technician says nobody was home."""
    locale = await message_locale(session, job)
    if at is None:
        return t(locale, "sms", "to_be_arranged")
    return format_time(at, await _zone(session, job), locale)


def _due(now: datetime) -> object:
    return or_(
        and_(
            Notification.status == "queued",
            or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
        ),
        and_(Notification.status == "sending", Notification.next_attempt_at < now),
    )


async def drain(
    db: Database,
    sender: Sender,
    *,
    now: datetime | None = None,
    policy: RetryPolicy | None = None,
    limit: int = 100,
) -> int:
    """Hand over what is due; the number handed over. Each row is claimed with a guarded
    update (a lease), so several app nodes can drain at once without sending a message
    twice; a sender that dies mid-send leaves a lease that lapses, and the message goes
    again with the same idempotency key."""
    policy = policy or RetryPolicy()
    now = now or utcnow()
    async with db.reader() as s:
        ids: list[uuid.UUID] = list(
            await s.scalars(
                select(Notification.id)
                .where(_due(now))  # type: ignore[arg-type]
                .order_by(Notification.created_at)
                .limit(limit)
            )
        )
    handed = 0
    for nid in ids:
        async with db.writer() as s:
            claimed = await s.execute(
                update(Notification)
                .where(Notification.id == nid, _due(now))  # type: ignore[arg-type]
                .values(
                    status="sending",
                    attempts=Notification.attempts + 1,
                    next_attempt_at=now + policy.lease,
                )
                .execution_options(synchronize_session=False)
            )
            await s.commit()
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        async with db.reader() as s:
            n = await s.get(Notification, nid)
            assert n is not None
            s.expunge(n)
        try:
            result = await sender.send(n)
        except TemporaryFailure as exc:
            permanent = isinstance(exc, PermanentFailure) or n.attempts >= policy.max_attempts
            values: dict[str, object] = {"error": exc.code}
            if permanent:
                values.update(status="dead_letter", failed_at=now, next_attempt_at=None)
            else:
                values.update(status="queued", next_attempt_at=now + policy.retry_delay(n.attempts))
            log.warning("notification %s not handed over (%s)", nid, exc.code)
        else:
            values = {"status": result.status, "sent_at": now, "next_attempt_at": None}
            values["error"] = None
            if result.status == "accepted":
                values["accepted_at"] = now
                if result.gateway_id:
                    values["gateway_id"] = result.gateway_id
            handed += 1
        async with db.writer() as s:
            # Only our own claim is settled: a receipt may have moved it on meanwhile.
            if "accepted_at" in values:
                await s.execute(
                    update(Notification)
                    .where(Notification.id == nid, Notification.status != "sending")
                    .values(
                        sent_at=now,
                        gateway_id=values.get("gateway_id", Notification.gateway_id),
                    )
                    .execution_options(synchronize_session=False)
                )
            await s.execute(
                update(Notification)
                .where(Notification.id == nid, Notification.status == "sending")
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            await s.commit()
    return handed


async def retry(session: AsyncSession, notification: Notification, now: datetime) -> None:
    """Send a dead letter (or an undelivered message) again, with a fresh count of tries."""
    notification.status = "queued"
    notification.attempts = 0
    notification.next_attempt_at = None
    notification.failed_at = None
    notification.error = None
    await session.flush()
