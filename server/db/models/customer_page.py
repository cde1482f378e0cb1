"""The customer's page: the links we sent, and what the customer answered on it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, IdMixin, utcnow


class CustomerLink(IdMixin, Base):
    """One signed link to a job's customer page. The token carries this row's id and
    expiry under an HMAC; the row is what makes it revocable."""

    __tablename__ = "customer_links"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(String(32), default="booking")
    """``booking`` (sent in the booking message) or ``desk`` (made by a desk user)."""
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    last_opened_at: Mapped[datetime | None]


class CustomerAnswer(IdMixin, Base):
    """What the customer said on their page: a reschedule request, a not-home answer
    (also stored as a ``CustomerReply``, like an SMS), or a satisfaction answer — kept
    apart from the auditor's callback outcome."""

    __tablename__ = "customer_answers"
    __table_args__ = (Index("ix_customer_answers_job_at", "job_id", "at"),)

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    link_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customer_links.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(16))
    """``reschedule``, ``not_home`` or ``satisfaction``."""
    value: Mapped[str] = mapped_column(String(24))
    """``requested``; ``was_home`` / ``was_away``; ``very_satisfied`` / ``satisfied`` /
    ``dissatisfied``."""
    note: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    remote_addr: Mapped[str | None] = mapped_column(String(64))
