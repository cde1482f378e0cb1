"""``/notifications``: the outbox of messages to customers, for the desk to see."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.params import Parameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import allow
from server.auth.scope import ensure_job_visible
from server.context import RequestContext
from server.db.models import Job, Notification
from server.db.models.user import Role

__all__ = ["NotificationController"]


class NotificationOut(msgspec.Struct):
    id: uuid.UUID
    created_at: datetime
    channel: str
    template: str
    recipient: str
    body: str
    job_id: uuid.UUID | None
    status: str
    """``queued``, ``sending``, ``sent``, ``failed``."""
    attempts: int
    sent_at: datetime | None


class NotificationController(Controller):
    path = "/notifications"
    tags = ["notifications"]

    @get("/", guards=[allow(Role.ADMIN, Role.DISPATCHER, Role.AUDITOR, Role.PROVIDER_MANAGER)])
    async def list_for_job(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        job_id: uuid.UUID,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> list[NotificationOut]:
        """Messages queued or sent to the customer of one job, newest first."""
        ensure_job_visible(ctx.principal, await db.get(Job, job_id), job_id)
        rows = await db.scalars(
            select(Notification)
            .where(Notification.job_id == job_id)
            .order_by(Notification.created_at.desc())
            .limit(limit)
        )
        return [
            NotificationOut(
                id=n.id,
                created_at=n.created_at,
                channel=n.channel,
                template=n.template,
                recipient=n.recipient,
                body=n.body,
                job_id=n.job_id,
                status=n.status,
                attempts=n.attempts,
                sent_at=n.sent_at,
            )
            for n in rows
        ]
