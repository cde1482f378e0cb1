"""Wire types of the outbox, the dead letters and the gateway's delivery receipts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

__all__ = ["DeadLetters", "NotificationOut", "ReceiptIn", "ReceiptOut"]

_AT = "2026-12-02T15:04:05+08:00"


class NotificationOut(msgspec.Struct):
    id: uuid.UUID
    created_at: datetime
    channel: str
    template: str
    recipient: str
    body: str
    job_id: uuid.UUID | None
    status: str
    """``queued``, ``sending``, ``logged`` (no gateway: kept, not sent), ``accepted``,
    ``delivered``, ``failed`` (the receipt said so), ``dead_letter`` (given up; the desk
    can retry it)."""
    attempts: int
    sent_at: datetime | None
    next_attempt_at: datetime | None = None
    accepted_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    error: str | None = None
    """Why the last try failed: ``gateway_timeout``, ``gateway_unreachable``,
    ``gateway_http_<status>``, or the receipt's error."""
    gateway_id: str | None = None


class DeadLetters(msgspec.Struct):
    items: list[NotificationOut]
    total: int
    limit: int
    offset: int


class ReceiptIn(msgspec.Struct, forbid_unknown_fields=False):
    """A delivery receipt from the SMS gateway (unknown fields are ignored)."""

    status: Literal["accepted", "delivered", "failed"]
    message_id: (
        Annotated[
            str,
            msgspec.Meta(
                max_length=64,
                description="Our id of the message: its Idempotency-Key",
                examples=["0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b"],
            ),
        ]
        | None
    ) = None
    gateway_id: Annotated[str, msgspec.Meta(max_length=128, examples=["gw-829331"])] | None = None
    error: Annotated[str, msgspec.Meta(max_length=200, examples=["handset_off"])] | None = None
    at: Annotated[datetime, msgspec.Meta(examples=[_AT])] | None = None


class ReceiptOut(msgspec.Struct):
    matched: bool
    """False when no message has that id (nothing is stored; do not redeliver)."""
    message_id: uuid.UUID | None = None
    status: str | None = None
    """The message's status after the receipt."""
    duplicate: bool = False
    """The receipt changed nothing (a redelivery, or older news than we have)."""
