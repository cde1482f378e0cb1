"""Messages to customers: queued in the same transaction as the change that causes them,
sent later by a ``Sender``. The default sender stores and logs (no phone number or text
in the log: customers' data stays out of logs)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.base import utcnow
from server.db.engine import Database
from server.db.models import City, Customer, Job, Notification

__all__ = ["LogSender", "Sender", "drain", "enqueue", "local_time"]

log = logging.getLogger("doorstep.notifications")


class Sender(Protocol):
    """Delivers one message (an SMS gateway, say). Raise to leave it for a retry."""

    async def send(self, notification: Notification) -> None: ...


class LogSender:
    """Stores and logs: the default when no gateway is configured."""

    async def send(self, notification: Notification) -> None:
        log.info(
            "notification %s (%s) delivered to the log sender",
            notification.id,
            notification.template,
        )


def local_time(at: datetime | None, tz: str) -> str:
    if at is None:
        return "(to be arranged)"
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).strftime("%a %d %b %H:%M")


TEMPLATES = {
    "appointment_booked": "Your {kind} visit ({number}) is booked for {new_window}.",
    "appointment_rescheduled": (
        "Your {kind} visit ({number}) has moved from {old_window} to {new_window}. "
        "Reply to this message if that time does not suit you."
    ),
    "appointment_unscheduled": (
        "Your {kind} visit ({number}) planned for {old_window} is no longer booked; "
        "we will call you to arrange a new time."
    ),
    "appointment_cancelled": "Your {kind} visit ({number}) planned for {old_window} is cancelled.",
    "claim_not_home": (
        "Our technician reports that nobody was home at {time} for your {kind} visit "
        "({number}). If you were home, reply HOME; if that is right, reply OK."
    ),
}


async def enqueue(
    session: AsyncSession, job: Job, template: str, params: dict[str, str]
) -> Notification | None:
    """Queue a message to the job's customer (first phone). None if they have no phone."""
    customer = await session.get(Customer, job.customer_id)
    if customer is None or not customer.phones:
        return None
    body = TEMPLATES[template].format(number=job.number, kind=job.kind, **params)
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


async def window_text(
    session: AsyncSession, job: Job, start: datetime | None, end: datetime | None
) -> str:
    city = await session.get(City, job.city_id)
    tz = city.timezone if city else "UTC"
    if start is None:
        return local_time(None, tz)
    return f"{local_time(start, tz)} to {local_time(end, tz)[-5:]}"


async def drain(db: Database, sender: Sender, limit: int = 100) -> int:
    """Send what is queued. Each row is claimed with a guarded update, so several app
    nodes can drain at once without sending a message twice."""
    async with db.reader() as s:
        ids: list[uuid.UUID] = list(
            await s.scalars(
                select(Notification.id)
                .where(Notification.status == "queued")
                .order_by(Notification.created_at)
                .limit(limit)
            )
        )
    sent = 0
    for nid in ids:
        async with db.writer() as s:
            claimed = await s.execute(
                update(Notification)
                .where(Notification.id == nid, Notification.status == "queued")
                .values(status="sending", attempts=Notification.attempts + 1)
            )
            await s.commit()
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        async with db.writer() as s:
            n = await s.get(Notification, nid)
            assert n is not None
            try:
                await sender.send(n)
            except Exception as exc:  # a gateway failure: keep it queued, up to 5 tries
                n.status = "queued" if n.attempts < 5 else "failed"
                n.error = type(exc).__name__
                log.warning("notification %s not sent (%s)", nid, type(exc).__name__)
            else:
                n.status, n.sent_at = "sent", utcnow()
                sent += 1
            await s.commit()
    return sent
