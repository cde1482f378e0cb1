"""Reading the audit trail: filters, scope and keyset paging (newest first)."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.schemas import AuditEventOut
from server.auth.principal import Principal
from server.auth.scope import audit_filter
from server.db.models import AuditEvent
from server.errors import Invalid
from server.exports import csv_stream

__all__ = ["AuditFilters", "event_out", "iterate", "page"]


@dataclass(frozen=True, slots=True)
class AuditFilters:
    entity: str | None = None
    entity_id: str | None = None
    actor_id: uuid.UUID | None = None
    action: str | None = None
    since: datetime | None = None
    """Inclusive."""
    until: datetime | None = None
    """Exclusive."""

    def check(self) -> None:
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise Invalid("invalid_period", "The period must end after it starts.")


def event_out(e: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        id=e.id,
        at=e.at,
        action=e.action,  # type: ignore[arg-type]
        entity=e.entity,  # type: ignore[arg-type]
        entity_id=e.entity_id,
        actor_id=e.actor_id,
        actor_name=e.actor_name,
        actor_role=e.actor_role,
        actor_provider_id=e.actor_provider_id,
        remote_addr=e.remote_addr,
        user_agent=e.user_agent,
        method=e.method,
        path=e.path,
        before=e.before,
        after=e.after,
    )


def _where(p: Principal, f: AuditFilters) -> list[Any]:
    where: list[Any] = [audit_filter(p)]
    for col, value in (
        (AuditEvent.entity, f.entity),
        (AuditEvent.entity_id, f.entity_id),
        (AuditEvent.actor_id, f.actor_id),
        (AuditEvent.action, f.action),
    ):
        if value is not None:
            where.append(col == value)
    if f.since is not None:
        where.append(AuditEvent.at >= f.since)
    if f.until is not None:
        where.append(AuditEvent.at < f.until)
    return where


def encode_cursor(e: AuditEvent) -> str:
    raw = f"{e.at.isoformat()}|{e.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when, uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError) as e:
        raise Invalid("invalid_cursor", "That cursor was not given by this list.") from e


async def _rows(
    session: AsyncSession, where: list[Any], limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[AuditEvent]:
    clauses = list(where)
    if after is not None:
        at, ident = after
        clauses.append(or_(AuditEvent.at < at, and_(AuditEvent.at == at, AuditEvent.id < ident)))
    rows = await session.scalars(
        select(AuditEvent)
        .where(*clauses)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
    )
    return list(rows)


async def page(
    session: AsyncSession, p: Principal, f: AuditFilters, limit: int, cursor: str | None
) -> tuple[list[AuditEvent], str | None]:
    """One page, newest first, and the cursor of the next one (None: no more)."""
    f.check()
    after = decode_cursor(cursor) if cursor else None
    rows = await _rows(session, _where(p, f), limit + 1, after)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1]) if more and rows else None


async def iterate(
    session: AsyncSession, p: Principal, f: AuditFilters, chunk: int | None = None
) -> AsyncIterator[AuditEvent]:
    """Every event the filters select, newest first, read ``chunk`` at a time (default
    ``csv_stream.PAGE``), each page after the last one read (keyset paging)."""
    chunk = chunk or csv_stream.PAGE
    where = _where(p, f)
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        rows = await _rows(session, where, chunk, after)
        for row in rows:
            yield row
        if len(rows) < chunk:
            return
        after = (rows[-1].at, rows[-1].id)
