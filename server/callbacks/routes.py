"""``/callbacks`` (the auditors' queue, evidence and outcomes), ``/violations`` and the
SMS gateway's ``/sms/inbound``."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from server.auth.guards import STAFF, allow
from server.auth.scope import require_brand_staff, require_desk
from server.callbacks import call_records, sms
from server.callbacks.evidence import Evidence, load_evidence
from server.callbacks.policy import policy_of
from server.callbacks.schemas import (
    CallbackOut,
    CallbackPage,
    CallRecordsIn,
    CallRecordsOut,
    CustomerReplyOut,
    OutcomeIn,
    OutcomeOut,
    SmsInboundIn,
    SmsInboundOut,
    ViolationOut,
)
from server.callbacks.service import CallbackService, QueueFilters, TaskRow, held_now
from server.context import RequestContext
from server.db.base import utcnow
from server.db.engine import Database
from server.db.models import CallbackOutcome, CustomerReply, Job, Provider, User, Violation
from server.db.models.user import Role
from server.errors import Invalid
from server.exports.csv_stream import columns_of, offset_pages
from server.exports.http import CSV_DESCRIPTION, CSV_HEADERS, csv_response
from server.jobs.loop import latest_answers

__all__ = [
    "CallRecordController",
    "CallbackController",
    "SmsController",
    "ViolationController",
]

READ = allow(Role.ADMIN, Role.AUDITOR, Role.DISPATCHER)
WORK = allow(Role.ADMIN, Role.AUDITOR)

StateParam = Annotated[
    Literal["open", "waiting", "done", "cancelled", "all"],
    Parameter(
        query="state",
        description="``open``: callable now, by risk then deadline; ``waiting``: "
        "unreachable customers to call again later",
    ),
]
KindParam = Literal["not_home", "unable", "completion", "status_check"] | None
MineParam = Annotated[bool, Parameter(description="Only the tasks I hold")]
CALLBACK_COLUMNS = columns_of(CallbackOut, drop=("outcomes", "replies", "violations"))
VIOLATION_COLUMNS = columns_of(ViolationOut)


def outcome_out(
    o: CallbackOutcome, names: dict[uuid.UUID, str], corrected_by: uuid.UUID | None
) -> OutcomeOut:
    return OutcomeOut(
        id=o.id,
        task_id=o.task_id,
        outcome=o.outcome,
        satisfaction=o.satisfaction,
        comment=o.comment,
        recorded_by=o.recorded_by,
        recorded_by_name=names.get(o.recorded_by) if o.recorded_by else None,
        recorded_at=o.recorded_at,
        corrects=o.corrects_id,
        corrected_by=corrected_by,
    )


def callback_out(row: TaskRow, now: datetime, max_attempts: int) -> CallbackOut:
    t, j = row.task, row.job
    held = held_now(t, now)
    return CallbackOut(
        id=t.id,
        kind=t.kind,
        state=t.state,
        job_id=t.job_id,
        job_number=j.number,
        job_status=j.status,
        city_id=j.city_id,
        customer_id=j.customer_id,
        customer_name=row.customer_name,
        technician_id=t.technician_id,
        technician_name=row.technician_name,
        provider_id=t.provider_id,
        provider_name=row.provider_name,
        unable_reason=t.unable_reason,
        claimed_at=t.claimed_at,
        claimed_device_time=t.claimed_device_time,
        window_start=t.window_start,
        window_end=t.window_end,
        created_at=t.created_at,
        due_at=t.due_at,
        overdue=t.state == "open" and t.due_at < now,
        next_attempt_at=t.next_attempt_at,
        attempts=t.attempts,
        max_attempts=max_attempts,
        risk_score=t.risk_score,
        risk_probability=t.risk_probability,
        risk_model=t.risk_model,
        risk_factors=list(t.risk_factors),
        holder_id=t.holder_id if held else None,
        holder_name=row.holder_name if held else None,
        held_until=t.held_until if held else None,
        result=t.result,
        closed_at=t.closed_at,
        customer_reply=t.customer_reply,
    )


async def _violations(
    db: AsyncSession, where: list[Any], limit: int = 500, offset: int = 0
) -> list[ViolationOut]:
    tech = aliased(User)
    rows = (
        await db.execute(
            select(Violation, Job.number, tech.full_name, Provider.name)
            .join(Job, Job.id == Violation.job_id)
            .outerjoin(tech, tech.id == Violation.technician_id)
            .outerjoin(Provider, Provider.id == Violation.provider_id)
            .where(*where)
            .order_by(Violation.recorded_at.desc(), Violation.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return [
        ViolationOut(
            id=v.id,
            job_id=v.job_id,
            job_number=number,
            task_id=v.task_id,
            outcome_id=v.outcome_id,
            kind=v.kind,
            technician_id=v.technician_id,
            technician_name=tech_name,
            provider_id=v.provider_id,
            provider_name=provider_name,
            fine_amount=v.fine_amount,
            currency=v.currency,
            recorded_at=v.recorded_at,
            voided_at=v.voided_at,
            voided_by_outcome_id=v.voided_by_outcome_id,
        )
        for v, number, tech_name, provider_name in rows
    ]


async def _detail(
    db: AsyncSession, svc: CallbackService, row: TaskRow, now: datetime
) -> CallbackOut:
    out = callback_out(row, now, policy_of(db).max_attempts)
    entries = await svc.outcomes(row.task.id)
    by = {e.recorded_by for e in entries if e.recorded_by}
    names: dict[uuid.UUID, str] = {}
    if by:
        rows = await db.execute(select(User.id, User.full_name).where(User.id.in_(by)))
        names = {uid: name for uid, name in rows.all()}
    corrected = {e.corrects_id: e.id for e in entries if e.corrects_id}
    out.outcomes = [outcome_out(e, names, corrected.get(e.id)) for e in entries]
    out.replies = [
        CustomerReplyOut(id=r.id, received_at=r.received_at, body=r.body, meaning=r.meaning)
        for r in await db.scalars(
            select(CustomerReply)
            .where(CustomerReply.task_id == row.task.id)
            .order_by(CustomerReply.received_at)
        )
    ]
    out.violations = await _violations(db, [Violation.task_id == row.task.id])
    if row.task.kind == "completion":
        answer = (await latest_answers(db, [row.task.job_id], "satisfaction")).get(row.task.job_id)
        if answer is not None:
            out.customer_satisfaction, out.customer_satisfaction_at = answer.value, answer.at
    return out


class CallbackController(Controller):
    path = "/callbacks"
    tags = ["callbacks"]

    @get("/", guards=[READ])
    async def queue(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        which: StateParam = "open",
        kind: KindParam = None,
        provider_id: uuid.UUID | None = None,
        technician_id: uuid.UUID | None = None,
        job_id: uuid.UUID | None = None,
        mine: MineParam = False,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=100_000)] = 0,
    ) -> CallbackPage:
        """The callback queue. Open tasks come not-home claims first, then by the
        probability that the claim is false (highest first) and then deadline;
        each carries the factors behind its score. Brand staff only."""
        svc = CallbackService(db, ctx)
        rows, total = await svc.queue(
            QueueFilters(
                state=which,
                kind=kind,
                provider_id=provider_id,
                technician_id=technician_id,
                job_id=job_id,
                mine=mine,
                limit=limit,
                offset=offset,
            )
        )
        attempts = policy_of(db).max_attempts
        return CallbackPage(
            items=[callback_out(r, ctx.now, attempts) for r in rows],
            total=total,
            limit=limit,
            offset=offset,
        )

    @get(
        "/export.csv",
        guards=[READ],
        media_type="text/csv",
        response_description=CSV_DESCRIPTION,
        response_headers=CSV_HEADERS,
    )
    async def export_callbacks(
        self,
        request: Request[Any, Any, Any],
        ctx: RequestContext,
        which: StateParam = "open",
        kind: KindParam = None,
        provider_id: uuid.UUID | None = None,
        technician_id: uuid.UUID | None = None,
        job_id: uuid.UUID | None = None,
        mine: MineParam = False,
    ) -> Stream:
        """The tasks ``GET /callbacks`` lists for the same filters, all of them, in its
        order, as CSV (streamed; an attachment): one column per field of a listed task
        (``risk_factors`` as JSON), times UTC in ISO 8601 with ``Z``. Brand staff only."""
        require_brand_staff(ctx.principal)
        database: Database = request.app.state.db

        filters = QueueFilters(
            state=which,
            kind=kind,
            provider_id=provider_id,
            technician_id=technician_id,
            job_id=job_id,
            mine=mine,
        )

        async def fetch(session: AsyncSession, limit: int, offset: int) -> list[CallbackOut]:
            svc = CallbackService(session, ctx)
            rows, _ = await svc.queue(replace(filters, limit=limit, offset=offset))
            attempts = policy_of(session).max_attempts
            return [callback_out(r, ctx.now, attempts) for r in rows]

        name = f"callbacks-{which}-{ctx.now:%Y%m%d-%H%M%S}.csv"
        return csv_response(name, CALLBACK_COLUMNS, offset_pages(database, fetch))

    @get("/{task_id:uuid}", guards=[READ])
    async def get_callback(
        self, db: AsyncSession, ctx: RequestContext, task_id: uuid.UUID
    ) -> CallbackOut:
        """One callback with every outcome recorded on it (corrections included), the
        customer's SMS replies and the violations it caused."""
        svc = CallbackService(db, ctx)
        return await _detail(db, svc, await svc.get(task_id), ctx.now)

    @get("/{task_id:uuid}/evidence", guards=[READ])
    async def evidence(self, db: AsyncSession, ctx: RequestContext, task_id: uuid.UUID) -> Evidence:
        """What the claim rests on: the ledger timeline (device time beside server time),
        the customer's location, check-ins with distances, calls, photos with EXIF,
        report and signature, and each rule's verdict."""
        row = await CallbackService(db, ctx).get(task_id)
        return await load_evidence(db, row.job.id)

    @post("/{task_id:uuid}/take", guards=[WORK], status_code=HTTP_200_OK)
    async def take(self, db: AsyncSession, ctx: RequestContext, task_id: uuid.UUID) -> CallbackOut:
        """Take a task: nobody else can work it until you record an outcome, release it,
        or the hold lapses. Taking one held by someone else is ``409 task_held_by_other``."""
        svc = CallbackService(db, ctx)
        await svc.take(task_id)
        return await _detail(db, svc, await svc.get(task_id), ctx.now)

    @post("/{task_id:uuid}/release", guards=[WORK], status_code=HTTP_200_OK)
    async def release(
        self, db: AsyncSession, ctx: RequestContext, task_id: uuid.UUID
    ) -> CallbackOut:
        """Give a task back to the queue without an outcome."""
        svc = CallbackService(db, ctx)
        await svc.release(task_id)
        return await _detail(db, svc, await svc.get(task_id), ctx.now)

    @post("/{task_id:uuid}/outcomes", guards=[WORK], status_code=HTTP_201_CREATED)
    async def record_outcome(
        self, db: AsyncSession, ctx: RequestContext, task_id: uuid.UUID, data: OutcomeIn
    ) -> CallbackOut:
        """Record what the customer said on a task you hold, or correct an entry with
        ``corrects`` (entries are never edited). ``contradicted`` records a violation and
        puts the job back to dispatch. Codes: ``task_not_taken``, ``task_held_by_other``,
        ``task_closed``, ``satisfaction_required``, ``satisfaction_not_applicable``,
        ``correction_target_missing``, ``already_corrected``, ``not_current_outcome``."""
        svc = CallbackService(db, ctx)
        await svc.record(task_id, data)
        return await _detail(db, svc, await svc.get(task_id), ctx.now)


class ViolationController(Controller):
    path = "/violations"
    tags = ["callbacks"]

    @get("/", guards=[allow(*STAFF)])
    async def list_violations(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        provider_id: uuid.UUID | None = None,
        technician_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        include_voided: bool = False,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        offset: Annotated[int, Parameter(ge=0, le=100_000)] = 0,
    ) -> list[ViolationOut]:
        """Contradicted claims and their fines. Provider staff see their own provider's."""
        where = _violation_where(ctx, provider_id, technician_id, since, until, include_voided)
        return await _violations(db, where, limit, offset)

    @get(
        "/export.csv",
        guards=[allow(*STAFF)],
        media_type="text/csv",
        response_description=CSV_DESCRIPTION,
        response_headers=CSV_HEADERS,
    )
    async def export_violations(
        self,
        request: Request[Any, Any, Any],
        ctx: RequestContext,
        provider_id: uuid.UUID | None = None,
        technician_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        include_voided: bool = False,
    ) -> Stream:
        """The violations ``GET /violations`` lists for the same filters, all of them,
        newest first, as CSV (streamed; an attachment): one column per field of a listed
        violation, fines in minor units of ``currency``, times UTC in ISO 8601 with
        ``Z``. Provider staff get their own provider's."""
        where = _violation_where(ctx, provider_id, technician_id, since, until, include_voided)
        database: Database = request.app.state.db

        async def fetch(session: AsyncSession, limit: int, offset: int) -> list[ViolationOut]:
            return await _violations(session, where, limit, offset)

        name = f"violations-{ctx.now:%Y%m%d-%H%M%S}.csv"
        return csv_response(name, VIOLATION_COLUMNS, offset_pages(database, fetch))


def _violation_where(
    ctx: RequestContext,
    provider_id: uuid.UUID | None,
    technician_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
    include_voided: bool,
) -> list[Any]:
    p = ctx.principal
    require_desk(p)
    if since is not None and until is not None and until <= since:
        raise Invalid("invalid_period", "The period must end after it starts.")
    where: list[Any] = []
    if not p.sees_everything:
        where.append(Violation.provider_id == p.provider_id)
    for col, value in (
        (Violation.provider_id, provider_id),
        (Violation.technician_id, technician_id),
    ):
        if value is not None:
            where.append(col == value)
    if since is not None:
        where.append(Violation.recorded_at >= since)
    if until is not None:
        where.append(Violation.recorded_at < until)
    if not include_voided:
        where.append(Violation.voided_at.is_(None))
    return [and_(*where)] if where else []


class SmsController(Controller):
    path = "/sms"
    tags = ["callbacks"]

    @post(
        "/inbound",
        opt={"public": True},
        security=[],
        status_code=HTTP_200_OK,
    )
    async def inbound(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        data: SmsInboundIn,
        x_doorstep_signature: Annotated[
            str | None,
            Parameter(
                header="X-Doorstep-Signature",
                description="``sha256=`` and the hex HMAC-SHA256 of the body with the "
                "gateway's shared secret",
            ),
        ] = None,
    ) -> SmsInboundOut:
        """A customer's SMS reply, posted by the SMS gateway. Replies to a "nobody was
        home" message are recorded on the callback (``HOME``: the customer disputes the
        claim; ``OK``: confirms it). Redelivered messages are recognised by
        ``message_id``. Unsigned or wrongly signed posts are ``401 bad_signature``."""
        sms.verify_signature(
            request.app.state.settings.sms_gateway_secret,
            await request.body(),
            x_doorstep_signature,
        )
        return await sms.receive(db, data, utcnow())


class CallRecordController(Controller):
    path = "/call-records"
    tags = ["callbacks"]

    @post("/inbound", opt={"public": True}, security=[], status_code=HTTP_200_OK)
    async def inbound(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        data: CallRecordsIn,
        x_doorstep_timestamp: Annotated[
            str | None,
            Parameter(
                header="X-Doorstep-Timestamp",
                description="Unix time in seconds of the post; outside the replay window: "
                "``401 stale_timestamp``",
            ),
        ] = None,
        x_doorstep_signature: Annotated[
            str | None,
            Parameter(
                header="X-Doorstep-Signature",
                description="``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>`` "
                "with the carrier's shared secret",
            ),
        ] = None,
    ) -> CallRecordsOut:
        """Call records of the carrier's number-protection service (masked numbers bound
        to jobs). Stored once per ``record_id``; the jobs' open callbacks are re-scored.
        Off (``403 call_records_disabled``) without a secret; see
        ``docs/protocol/call-records.md``."""
        settings = request.app.state.settings
        now = utcnow()
        call_records.verify(
            settings.call_records_secret,
            settings.call_records_window_s,
            await request.body(),
            x_doorstep_timestamp,
            x_doorstep_signature,
            now,
        )
        return await call_records.receive(db, data, now)
