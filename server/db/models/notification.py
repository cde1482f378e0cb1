"""The outbox of messages to customers (SMS). A sender drains it (server/notifications);
rows are never deleted."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, IdMixin, Json, utcnow


class Notification(IdMixin, Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_created", "status", "created_at"),)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    channel: Mapped[str] = mapped_column(String(16), default="sms")
    template: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, object]] = mapped_column(Json, default=dict)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="queued")
    """``queued`` (waiting for its first or next try), ``sending`` (claimed by a sender),
    ``logged`` (the log sender kept it: nothing left the server), ``accepted`` (the
    gateway took it), ``delivered`` / ``failed`` (the gateway's delivery receipt),
    ``dead_letter`` (every try failed, or the gateway refused it: listed for the desk to
    retry). Older rows may say ``sent`` (before gateways: the log sender)."""
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime | None]
    """When it left the outbox (accepted by the gateway, or logged)."""
    error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    """``queued``: not before this (the backoff after a failed try); ``sending``: the
    claim lapses then (a sender that died mid-send), and it is tried again."""
    gateway_id: Mapped[str | None] = mapped_column(String(128), index=True)
    """The gateway's id for the message, from its answer or a receipt."""
    accepted_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    """When a delivery receipt said ``failed``, or the message went to the dead letters."""
