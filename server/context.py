"""What a service needs to know about the request that calls it (no framework types)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from server.auth.principal import Principal
from server.db.base import utcnow
from server.db.models.user import Role
from server.settings import Settings

__all__ = ["SYSTEM_USER", "RequestContext", "system_context"]

SYSTEM_USER = uuid.UUID(int=0)
"""The principal's id in ``system_context``: never a user, never stored (the server's own
acts are recorded with no actor and source ``system``)."""


@dataclass(frozen=True, slots=True)
class RequestContext:
    principal: Principal
    settings: Settings
    remote_addr: str | None = None
    source: str = "api"
    """``api`` for people at desks, ``sync`` for phones, ``system`` for jobs the server runs."""
    now: datetime = field(default_factory=utcnow)
    user_agent: str | None = None
    """The caller's ``User-Agent`` (kept in the audit trail with ``remote_addr``)."""

    @property
    def actor_id(self) -> uuid.UUID | None:
        """Who acts, for the history (None: the server itself)."""
        return None if self.source == "system" else self.principal.user_id

    @property
    def actor_role(self) -> str | None:
        return None if self.source == "system" else self.principal.role


def system_context(settings: Settings, now: datetime) -> RequestContext:
    """The context of work the server does by itself (maintenance jobs, say): the brand's
    scope, no actor in the history."""
    return RequestContext(
        Principal(SYSTEM_USER, Role.ADMIN, None), settings, source="system", now=now
    )
