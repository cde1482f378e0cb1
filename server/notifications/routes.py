"""``/notifications``: the outbox of messages to customers, for the desk to see; the dead
letters and their retry; ``/sms/receipts``, the gateway's delivery receipts."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import allow
from server.auth.scope import ensure_job_visible, require_brand_staff
from server.context import RequestContext
from server.db.base import utcnow
from server.db.models import Job, Notification
from server.db.models.user import Role
from server.errors import Conflict, NotFound
from server.notifications import signing
from server.notifications.outbox import DEAD_STATUSES, retry
from server.notifications.receipts import apply_receipt
from server.notifications.schemas import DeadLetters, NotificationOut, ReceiptIn, ReceiptOut

__all__ = ["NotificationController", "ReceiptController"]


def notification_out(n: Notification) -> NotificationOut:
    return NotificationOut(
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
        next_attempt_at=n.next_attempt_at,
        accepted_at=n.accepted_at,
        delivered_at=n.delivered_at,
        failed_at=n.failed_at,
        error=n.error,
        gateway_id=n.gateway_id,
    )


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
        return [notification_out(n) for n in rows]

    @get("/dead-letters", guards=[allow(Role.ADMIN, Role.DISPATCHER, Role.AUDITOR)])
    async def dead_letters(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> DeadLetters:
        """Messages that did not reach the customer: ``dead_letter`` (every try failed, or
        the gateway refused it) and ``failed`` (the delivery receipt said so), the most
        recent failure first. The brand's staff only."""
        require_brand_staff(ctx.principal)
        where = Notification.status.in_(DEAD_STATUSES)
        total = await db.scalar(select(func.count()).select_from(Notification).where(where))
        rows = await db.scalars(
            select(Notification)
            .where(where)
            .order_by(Notification.failed_at.desc(), Notification.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return DeadLetters(
            items=[notification_out(n) for n in rows],
            total=int(total or 0),
            limit=limit,
            offset=offset,
        )

    @post(
        "/{notification_id:uuid}/retry",
        guards=[allow(Role.ADMIN, Role.DISPATCHER)],
        status_code=HTTP_200_OK,
    )
    async def retry_one(
        self, db: AsyncSession, ctx: RequestContext, notification_id: uuid.UUID
    ) -> NotificationOut:
        """Queue a dead letter (or an undelivered message) again, with a fresh count of
        tries: the next outbox round sends it, with the same idempotency key. Anything
        else answers 409 ``not_retryable``."""
        require_brand_staff(ctx.principal)
        n = await db.get(Notification, notification_id, with_for_update=True)
        if n is None:
            raise NotFound("notification", notification_id)
        if n.status not in DEAD_STATUSES:
            raise Conflict(
                "not_retryable",
                "Only dead letters and undelivered messages can be retried.",
                {"status": n.status},
            )
        await retry(db, n, ctx.now)
        return notification_out(n)


class ReceiptController(Controller):
    path = "/sms/receipts"
    tags = ["notifications"]

    @post("/", opt={"public": True}, security=[], status_code=HTTP_200_OK)
    async def receipt(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        data: ReceiptIn,
        x_doorstep_signature: Annotated[
            str | None,
            Parameter(
                header="X-Doorstep-Signature",
                description="``sha256=`` and the hex HMAC-SHA256 of the body with the "
                "gateway's shared secret",
            ),
        ] = None,
    ) -> ReceiptOut:
        """A delivery receipt posted by the SMS gateway: ``accepted``, ``delivered`` or
        ``failed`` for a message we sent (by our ``message_id`` or the gateway's
        ``gateway_id``). Redelivered or stale receipts change nothing (``duplicate``).
        Unsigned or wrongly signed posts are ``401 bad_signature``."""
        signing.verify(
            request.app.state.settings.sms_gateway_secret,
            await request.body(),
            x_doorstep_signature,
        )
        return await apply_receipt(db, data, utcnow())
