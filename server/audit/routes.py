"""``/audit/events``: the audit trail of desk actions, as a list and as a CSV download."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit import service
from server.audit.schemas import AuditAction, AuditEntity, AuditEventOut, AuditEventPage
from server.auth.guards import allow
from server.context import RequestContext
from server.db.engine import Database
from server.db.models.user import Role
from server.exports.csv_stream import columns_of
from server.exports.http import CSV_DESCRIPTION, CSV_HEADERS, csv_response

__all__ = ["AuditController"]

READ = allow(Role.ADMIN, Role.AUDITOR, Role.PROVIDER_MANAGER)
COLUMNS = columns_of(AuditEventOut)

EntityParam = Annotated[AuditEntity | None, Parameter(description="The kind of object")]
EntityIdParam = Annotated[
    str | None, Parameter(max_length=64, description="One object's id (with `entity`)")
]
ActorParam = Annotated[uuid.UUID | None, Parameter(description="Who acted (a user id)")]
ActionParam = Annotated[AuditAction | None, Parameter(description="`create`, `update`, `delete`")]
FromParam = Annotated[
    datetime | None, Parameter(query="from", description="At or after this instant")
]
ToParam = Annotated[datetime | None, Parameter(query="to", description="Before this instant")]


def _filters(
    entity: str | None,
    entity_id: str | None,
    actor_id: uuid.UUID | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
) -> service.AuditFilters:
    f = service.AuditFilters(
        entity=entity,
        entity_id=entity_id,
        actor_id=actor_id,
        action=action,
        since=since,
        until=until,
    )
    f.check()
    return f


class AuditController(Controller):
    path = "/audit/events"
    tags = ["audit"]

    @get("/", guards=[READ])
    async def list_events(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        entity: EntityParam = None,
        entity_id: EntityIdParam = None,
        actor_id: ActorParam = None,
        action: ActionParam = None,
        since: FromParam = None,
        until: ToParam = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        cursor: Annotated[
            str | None,
            Parameter(max_length=200, description="`next_cursor` of the previous page"),
        ] = None,
    ) -> AuditEventPage:
        """Desk actions — every create, change and delete of customers (and their
        phones), appliances, jobs, fee policies, evidence rules, checklists, knowledge
        articles, users, devices, cities and providers made through the API by a desk
        user — newest first: who (id, name, role, provider), when, from where (address,
        user agent, the call), and the values before and after. Secrets are never shown
        (``"[redacted]"``). Admins and auditors read everything; a provider's manager
        what their own provider's people did. Page with ``cursor``; a bad cursor is
        ``422 invalid_cursor``, ``to`` not after ``from`` ``422 invalid_period``."""
        f = _filters(entity, entity_id, actor_id, action, since, until)
        rows, next_cursor = await service.page(db, ctx.principal, f, limit, cursor)
        return AuditEventPage(
            items=[service.event_out(e) for e in rows], limit=limit, next_cursor=next_cursor
        )

    @get(
        "/export.csv",
        guards=[READ],
        media_type="text/csv",
        response_description=CSV_DESCRIPTION,
        response_headers=CSV_HEADERS,
    )
    async def export_events(
        self,
        request: Request[Any, Any, Any],
        ctx: RequestContext,
        entity: EntityParam = None,
        entity_id: EntityIdParam = None,
        actor_id: ActorParam = None,
        action: ActionParam = None,
        since: FromParam = None,
        until: ToParam = None,
    ) -> Stream:
        """The audit trail as CSV (streamed, newest first): every event the same
        filters select in the list, in the caller's scope, with the list item's fields
        as columns (``before``/``after`` as JSON; times UTC, ISO 8601 with ``Z``)."""
        f = _filters(entity, entity_id, actor_id, action, since, until)
        database: Database = request.app.state.db

        async def items() -> AsyncIterator[AuditEventOut]:
            async with database.reader() as session:
                try:
                    async for e in service.iterate(session, ctx.principal, f):
                        yield service.event_out(e)
                finally:
                    await session.rollback()

        name = f"audit-events-{ctx.now:%Y%m%d-%H%M%S}.csv"
        return csv_response(name, COLUMNS, items())
