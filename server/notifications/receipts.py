"""Delivery receipts: the gateway tells us what became of a message it accepted.

A receipt names the message by our ``message_id`` (the idempotency key we sent) or by
the gateway's own id. Receipts may come twice or out of order; a status only moves
forward (``delivered`` and ``failed`` are final, except that a late ``delivered`` wins
over a ``failed`` or a dead letter: the customer has the message)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Notification
from server.notifications.schemas import ReceiptIn, ReceiptOut

__all__ = ["apply_receipt"]

_RANK = {"queued": 0, "sending": 0, "dead_letter": 1, "accepted": 1, "failed": 2, "delivered": 3}


def _moves(current: str, reported: str) -> bool:
    if current in ("logged", "sent"):
        return False
    if current == "failed":
        return reported == "delivered"
    return _RANK.get(reported, 0) > _RANK.get(current, 0)


async def _find(session: AsyncSession, r: ReceiptIn) -> Notification | None:
    if r.message_id:
        try:
            nid = uuid.UUID(r.message_id)
        except ValueError:
            nid = None
        if nid is not None:
            found = await session.get(Notification, nid, with_for_update=True)
            if found is not None:
                return found
    if r.gateway_id:
        return await session.scalar(
            select(Notification).where(Notification.gateway_id == r.gateway_id).limit(1)
        )
    return None


async def apply_receipt(session: AsyncSession, r: ReceiptIn, now: datetime) -> ReceiptOut:
    n = await _find(session, r)
    if n is None:
        return ReceiptOut(matched=False)
    at = r.at or now
    if r.gateway_id and not n.gateway_id:
        n.gateway_id = r.gateway_id
    if not _moves(n.status, r.status):
        return ReceiptOut(matched=True, message_id=n.id, status=n.status, duplicate=True)
    if r.status == "accepted":
        n.accepted_at = n.accepted_at or at
    elif r.status == "delivered":
        n.accepted_at = n.accepted_at or at
        n.delivered_at = at
        n.error = None
    else:
        n.failed_at = at
        n.error = (r.error or "undelivered")[:200]
    n.sent_at = n.sent_at or at
    n.status = r.status
    n.next_attempt_at = None
    await session.flush()
    return ReceiptOut(matched=True, message_id=n.id, status=n.status, duplicate=False)
