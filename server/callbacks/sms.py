"""Asking the customer directly: when a "not home" claim arrives, a message goes out
("our technician reports nobody was home at 14:05; reply if you were"); the SMS
gateway posts the reply here, and it is recorded on the callback and raises (or
lowers) its risk. The auditor still calls: a reply is evidence, not an outcome.

The gateway signs each post with the shared secret: ``X-Doorstep-Signature:
sha256=<hex HMAC-SHA256 of the body>``.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.callbacks import tasks
from server.callbacks.schemas import SmsInboundIn, SmsInboundOut
from server.db.models import CallbackTask, CustomerPhone, CustomerReply, Notification
from server.notifications import signing

__all__ = ["interpret", "not_home_task", "receive", "record_reply", "verify_signature"]

REPLY_WINDOW = timedelta(days=7)
WAS_HOME = re.compile(
    r"^\s*(home|yes|y|i was( at)? home|i was here|was home|在家|是)\b", re.IGNORECASE
)
WAS_AWAY = re.compile(r"^\s*(ok|okay|no|n|not home|correct|right|不在家|对)\b", re.IGNORECASE)


def interpret(text: str) -> str:
    """``was_home`` (the claim is disputed), ``was_away`` (confirmed) or ``unclear``."""
    if WAS_HOME.search(text):
        return "was_home"
    if WAS_AWAY.search(text):
        return "was_away"
    return "unclear"


def verify_signature(secret: str, body: bytes, header: str | None) -> None:
    signing.verify(secret, body, header)


async def receive(session: AsyncSession, msg: SmsInboundIn, now: datetime) -> SmsInboundOut:
    """Record a reply on the callback of the latest confirmation request sent to that
    number. Unknown senders are not stored (they may be anyone)."""
    existing = await session.scalar(
        select(CustomerReply).where(CustomerReply.message_id == msg.message_id)
    )
    if existing is not None:
        return SmsInboundOut(
            matched=True,
            duplicate=True,
            task_id=existing.task_id,
            meaning=existing.meaning,
        )
    digits = re.sub(r"\D", "", msg.sender)
    if len(digits) < 6:
        return SmsInboundOut(matched=False)
    same_number = or_(
        CustomerPhone.digits == digits,
        *([CustomerPhone.digits.endswith(digits, autoescape=True)] if len(digits) >= 8 else []),
    )
    customers = select(CustomerPhone.customer_id).where(same_number)
    request = await session.scalar(
        select(Notification)
        .where(
            Notification.template == "claim_not_home",
            Notification.customer_id.in_(customers),
            Notification.created_at >= now - REPLY_WINDOW,
        )
        .order_by(Notification.created_at.desc())
        .limit(1)
    )
    if request is None or request.job_id is None:
        return SmsInboundOut(matched=False)
    meaning = interpret(msg.text)
    task = await record_reply(
        session,
        request.job_id,
        message_id=msg.message_id,
        body=msg.text,
        meaning=meaning,
        notification_id=request.id,
        received_at=msg.received_at or now,
        now=now,
    )
    return SmsInboundOut(
        matched=True, task_id=task.id if task else None, meaning=meaning, duplicate=False
    )


async def not_home_task(session: AsyncSession, job_id: uuid.UUID) -> CallbackTask | None:
    """The job's latest "customer not home" callback."""
    task: CallbackTask | None = await session.scalar(
        select(CallbackTask)
        .where(CallbackTask.job_id == job_id, CallbackTask.kind == "not_home")
        .order_by(CallbackTask.created_at.desc())
        .limit(1)
    )
    return task


async def record_reply(
    session: AsyncSession,
    job_id: uuid.UUID,
    *,
    message_id: str,
    body: str,
    meaning: str,
    notification_id: uuid.UUID | None,
    received_at: datetime,
    now: datetime,
) -> CallbackTask | None:
    """The customer's answer to a "nobody was home" claim, however it came (an SMS
    reply, or the buttons of their page): stored on the job's not-home callback, which
    is re-scored while it is open. Returns the callback, if there is one."""
    task = await not_home_task(session, job_id)
    session.add(
        CustomerReply(
            id=uuid.uuid4(),
            message_id=message_id,
            task_id=task.id if task else None,
            job_id=job_id,
            notification_id=notification_id,
            body=body,
            meaning=meaning,
            received_at=received_at,
        )
    )
    if task is not None and task.state == "open":
        task.customer_reply = meaning
        await session.flush()
        await tasks.refresh_risk(session, [task.job_id], now)
    await session.flush()
    return task
