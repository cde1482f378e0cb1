"""The audit trail of desk actions: who created, changed or deleted what, from where,
with the values before and after (secrets left out). Rows are only ever added."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, IdMixin, Json, utcnow


class AuditEvent(IdMixin, Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_entity", "entity", "entity_id", "at"),
        Index("ix_audit_events_actor", "actor_id", "at"),
        Index("ix_audit_events_provider", "actor_provider_id", "at"),
    )

    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[uuid.UUID | None]
    """The desk user (no foreign key: the trail outlives a deleted account)."""
    actor_name: Mapped[str | None] = mapped_column(String(200))
    """The actor's full name when they acted (kept if the account is renamed or removed)."""
    actor_role: Mapped[str] = mapped_column(String(32))
    actor_provider_id: Mapped[uuid.UUID | None]
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(400))
    action: Mapped[str] = mapped_column(String(8))
    """``create``, ``update``, ``delete``."""
    entity: Mapped[str] = mapped_column(String(32))
    """``customer``, ``customer_phone``, ``appliance``, ``job``, ``fee_policy``,
    ``evidence_rules``, ``checklist``, ``kb_article``, ``user``, ``device``, ``city``,
    ``provider``."""
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, object] | None] = mapped_column(Json)
    after: Mapped[dict[str, object] | None] = mapped_column(Json)
