"""What a service needs to know about the request that calls it (no framework types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from server.auth.principal import Principal
from server.db.base import utcnow
from server.settings import Settings

__all__ = ["RequestContext"]


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
