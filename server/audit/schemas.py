"""The audit trail on the wire."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import msgspec

__all__ = ["AuditAction", "AuditEntity", "AuditEventOut", "AuditEventPage"]

AuditAction = Literal["create", "update", "delete"]
AuditEntity = Literal[
    "customer",
    "customer_phone",
    "appliance",
    "job",
    "fee_policy",
    "evidence_rules",
    "checklist",
    "kb_article",
    "user",
    "device",
    "city",
    "provider",
]


class AuditEventOut(msgspec.Struct, kw_only=True):
    """One desk action on one object."""

    id: uuid.UUID
    at: datetime
    """When (the server's clock for the request), UTC."""
    action: AuditAction
    entity: AuditEntity
    """The kind of object."""
    entity_id: str
    """Its id (an evidence rule set's is its claim type)."""
    actor_id: uuid.UUID | None
    actor_name: str | None
    """The actor's full name when they acted."""
    actor_role: str
    actor_provider_id: uuid.UUID | None
    remote_addr: str | None
    """The client address the request came from."""
    user_agent: str | None
    method: str
    path: str
    """The API call that made the change."""
    before: dict[str, Any] | None
    """``update``: the changed fields' old values; ``delete``: every field; ``create``:
    null. Secrets (password and token hashes, keys) read ``"[redacted]"``."""
    after: dict[str, Any] | None
    """``create``: every field; ``update``: the changed fields' new values; ``delete``:
    null."""


class AuditEventPage(msgspec.Struct):
    items: list[AuditEventOut]
    """Newest first."""
    limit: int
    next_cursor: str | None
    """Pass as ``cursor`` for the next (older) page; null on the last page."""
