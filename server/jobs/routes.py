"""``/jobs``: the dispatcher's work orders."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post, put
from litestar.params import Parameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import ANY_ROLE, STAFF, allow
from server.context import RequestContext
from server.db.engine import Database
from server.db.models import Job, JobEvent
from server.db.models.user import Role
from server.exports.csv_stream import PAGE, columns_of, offset_pages
from server.exports.http import CSV_DESCRIPTION, CSV_HEADERS, csv_response
from server.i18n.http import request_locale
from server.jobs.lifecycle import overdue_reasons
from server.jobs.loop import LoopOut, job_loop
from server.jobs.repeats import is_complaint
from server.jobs.schemas import (
    AppointmentIn,
    AssignIn,
    CancelIn,
    Candidate,
    ContactIn,
    JobCreate,
    JobEventOut,
    JobOut,
    JobPage,
)
from server.jobs.service import JobFilters, JobService
from sync.vocabulary import JobKind, JobPriority, JobStatus

__all__ = ["JobController", "job_out"]

R = Role
DISPATCH = allow(R.ADMIN, R.DISPATCHER, R.PROVIDER_MANAGER)
CREATE = allow(R.ADMIN, R.DISPATCHER)


StatusParam = Annotated[list[JobStatus] | None, Parameter(description="Any of these statuses")]
WindowFromParam = Annotated[
    datetime | None, Parameter(description="Windows ending at or after this instant")
]
WindowToParam = Annotated[
    datetime | None, Parameter(description="Windows starting before this instant")
]
PendingParam = Annotated[bool | None, Parameter(description="true: no appointment yet")]
OverdueParam = Annotated[bool | None, Parameter(description="true: only jobs late on a clock")]
RescheduleParam = Annotated[
    bool | None,
    Parameter(description="true: the customer or the technician asked for another time"),
]
JOB_COLUMNS = columns_of(JobOut)


def _job_filters(
    status: list[JobStatus] | None,
    provider_id: uuid.UUID | None,
    technician_id: uuid.UUID | None,
    city_id: uuid.UUID | None,
    customer_id: uuid.UUID | None,
    kind: JobKind | None,
    priority: JobPriority | None,
    window_from: datetime | None,
    window_to: datetime | None,
    pending: bool | None,
    overdue: bool | None,
    limit: int,
    offset: int,
    *,
    reschedule_requested: bool | None = None,
) -> JobFilters:
    return JobFilters(
        status=[s.value for s in status] if status else None,
        provider_id=provider_id,
        technician_id=technician_id,
        city_id=city_id,
        customer_id=customer_id,
        kind=kind.value if kind else None,
        priority=priority.value if priority else None,
        window_from=window_from,
        window_to=window_to,
        pending=pending,
        reschedule_requested=reschedule_requested,
        overdue=overdue,
        limit=limit,
        offset=offset,
    )


def job_out(job: Job, now: datetime) -> JobOut:
    return JobOut(
        id=job.id,
        number=job.number,
        kind=JobKind(job.kind),
        priority=JobPriority(job.priority),
        source=job.source,  # type: ignore[arg-type]
        status=JobStatus(job.status),
        description=job.description,
        customer_id=job.customer_id,
        appliance_id=job.appliance_id,
        city_id=job.city_id,
        provider_id=job.provider_id,
        technician_id=job.technician_id,
        previous_job_id=job.previous_job_id,
        repeat_of_id=job.repeat_of_id,
        repeat_seq=job.repeat_seq,
        is_complaint=is_complaint(job),
        repeat_reviewed_at=job.repeat_reviewed_at,
        window_start=job.window_start,
        window_end=job.window_end,
        pending_appointment=job.window_start is None,
        contact_due_at=job.contact_due_at,
        onsite_due_at=job.onsite_due_at,
        contacted_at=job.contacted_at,
        arrived_at=job.arrived_at,
        completed_at=job.completed_at,
        cancelled_at=job.cancelled_at,
        cancel_reason=job.cancel_reason,
        unable_reason=job.unable_reason,
        reschedule_requested_at=job.reschedule_requested_at,
        overdue=overdue_reasons(
            status=job.status,
            priority=job.priority,
            now=now,
            contact_due_at=job.contact_due_at,
            contacted_at=job.contacted_at,
            onsite_due_at=job.onsite_due_at,
            arrived_at=job.arrived_at,
            window_end=job.window_end,
        ),
        version=job.version,
        created_at=job.created_at,
        updated_at=job.updated_at,
        external_ref=job.external_ref,
        parts=list(job.parts or []),
    )


def event_out(e: JobEvent) -> JobEventOut:
    return JobEventOut(
        id=e.id,
        at=e.at,
        kind=e.kind,
        actor_id=e.actor_id,
        actor_role=e.actor_role,
        source=e.source,
        device_id=e.device_id,
        remote_addr=e.remote_addr,
        data=e.data,
    )


class JobController(Controller):
    path = "/jobs"
    tags = ["jobs"]

    @post("/", guards=[CREATE], status_code=HTTP_201_CREATED)
    async def create(self, db: AsyncSession, ctx: RequestContext, data: JobCreate) -> JobOut:
        """Create a work order from a sale or a call.

        Urgent jobs get SLA clocks (contact within 30 minutes, on site within 2 hours by
        default). After-sales jobs are linked to the appliance's previous job. Give a
        provider (and technician) to assign at once; provider staff create only for their
        own provider."""
        job = await JobService(db, ctx).create(data)
        return job_out(job, ctx.now)

    @get("/", guards=[allow(ANY_ROLE)])
    async def list_jobs(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        status: StatusParam = None,
        provider_id: uuid.UUID | None = None,
        technician_id: uuid.UUID | None = None,
        city_id: uuid.UUID | None = None,
        customer_id: uuid.UUID | None = None,
        kind: JobKind | None = None,
        priority: JobPriority | None = None,
        window_from: WindowFromParam = None,
        window_to: WindowToParam = None,
        pending: PendingParam = None,
        reschedule_requested: RescheduleParam = None,
        overdue: OverdueParam = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=2**31 - 1)] = 0,
    ) -> JobPage:
        """Jobs visible to the caller, filtered; appointments soonest first, pending last.

        Technicians see their own jobs; provider staff their provider's; the call center
        everything."""
        f = _job_filters(
            status, provider_id, technician_id, city_id, customer_id, kind, priority,
            window_from, window_to, pending, overdue, limit, offset,
            reschedule_requested=reschedule_requested,
        )  # fmt: skip
        jobs, total = await JobService(db, ctx).search(f)
        return JobPage(
            items=[job_out(j, ctx.now) for j in jobs], total=total, limit=limit, offset=offset
        )

    @get(
        "/export.csv",
        guards=[allow(STAFF)],
        media_type="text/csv",
        response_description=CSV_DESCRIPTION,
        response_headers=CSV_HEADERS,
    )
    async def export_jobs(
        self,
        request: Request[Any, Any, Any],
        ctx: RequestContext,
        status: StatusParam = None,
        provider_id: uuid.UUID | None = None,
        technician_id: uuid.UUID | None = None,
        city_id: uuid.UUID | None = None,
        customer_id: uuid.UUID | None = None,
        kind: JobKind | None = None,
        priority: JobPriority | None = None,
        window_from: WindowFromParam = None,
        window_to: WindowToParam = None,
        pending: PendingParam = None,
        reschedule_requested: RescheduleParam = None,
        overdue: OverdueParam = None,
    ) -> Stream:
        """The jobs ``GET /jobs`` lists for the same filters, all of them, in its order,
        as CSV (streamed; ``text/csv``, an attachment): one column per field of a job
        in the list (``overdue`` as a JSON list), times UTC in ISO 8601 with ``Z``.
        Desk staff, in their scope (provider staff get their provider's jobs)."""
        f = _job_filters(
            status, provider_id, technician_id, city_id, customer_id, kind, priority,
            window_from, window_to, pending, overdue, PAGE, 0,
            reschedule_requested=reschedule_requested,
        )  # fmt: skip
        database: Database = request.app.state.db

        async def fetch(session: AsyncSession, limit: int, offset: int) -> list[JobOut]:
            page = dataclasses.replace(f, limit=limit, offset=offset)
            jobs, _ = await JobService(session, ctx).search(page)
            return [job_out(j, ctx.now) for j in jobs]

        name = f"jobs-{ctx.now:%Y%m%d-%H%M%S}.csv"
        return csv_response(name, JOB_COLUMNS, offset_pages(database, fetch))

    @get("/overdue", guards=[allow(R.AUDITOR, R.ADMIN, R.DISPATCHER, R.PROVIDER_MANAGER)])
    async def overdue_jobs(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> JobPage:
        """Jobs late on an SLA clock or past their window with nobody on site."""
        jobs, total = await JobService(db, ctx).search(JobFilters(overdue=True, limit=limit))
        return JobPage(
            items=[job_out(j, ctx.now) for j in jobs], total=total, limit=limit, offset=0
        )

    @get("/{job_id:uuid}", guards=[allow(ANY_ROLE)])
    async def get_job(self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID) -> JobOut:
        """One job, if the caller may see it (404 otherwise)."""
        return job_out(await JobService(db, ctx).get(job_id), ctx.now)

    @get("/{job_id:uuid}/history", guards=[allow(ANY_ROLE)])
    async def history(
        self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID
    ) -> list[JobEventOut]:
        """Every change to the job: what, who, from where (desk, phone, system), when."""
        return [event_out(e) for e in await JobService(db, ctx).history(job_id)]

    @get(
        "/{job_id:uuid}/loop", guards=[allow(R.ADMIN, R.DISPATCHER, R.AUDITOR, R.PROVIDER_MANAGER)]
    )
    async def loop(self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID) -> LoopOut:
        """The job's closed loop: order → visit → callback → closed, each step with when
        it was reached; the auditor's callback result and the customer's own
        satisfaction answer (from their page) side by side. A job is ``closed`` once its
        completion callback is done (confirmed, or unreachable after every retry)."""
        return await job_loop(db, await JobService(db, ctx).get(job_id))

    @get("/{job_id:uuid}/candidates", guards=[DISPATCH])
    async def candidates(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        ctx: RequestContext,
        job_id: uuid.UUID,
    ) -> list[Candidate]:
        """Technicians who could take the job, ranked by the automatic dispatch's rules,
        with the reasons in words (in the caller's locale: ``?lang=``, the user's, then
        ``Accept-Language``).

        The appliance's installer first when free; complaints only to seniors; then
        distance (last fix, else home), free time in the window, load, and the
        provider's very-satisfied rate and violations. Ineligible technicians
        (``eligible: false``, ``blockers`` say why) come after every eligible one."""
        locale = await request_locale(request, db, ctx.principal.user_id)
        return await JobService(db, ctx).candidates(job_id, locale)

    @post("/{job_id:uuid}/assign", guards=[DISPATCH], status_code=HTTP_200_OK)
    async def assign(
        self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID, data: AssignIn
    ) -> JobOut:
        """Assign or reassign to a provider and (optionally) a technician.

        The provider must cover the job's city; the technician must be an active
        technician of that provider. A technician working the job loses it at once."""
        return job_out(await JobService(db, ctx).assign(job_id, data), ctx.now)

    @put("/{job_id:uuid}/appointment", guards=[DISPATCH], status_code=HTTP_200_OK)
    async def set_appointment(
        self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID, data: AppointmentIn
    ) -> JobOut:
        """Book or move the appointment window. Moving a booked appointment queues a
        message to the customer."""
        return job_out(await JobService(db, ctx).set_appointment(job_id, data), ctx.now)

    @post("/{job_id:uuid}/reschedule", guards=[DISPATCH], status_code=HTTP_200_OK)
    async def reschedule(
        self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID, data: AppointmentIn
    ) -> JobOut:
        """Reschedule: the same as setting the appointment, named for the dispatcher's
        action. A job that could not be completed is rebooked; the customer is told."""
        return job_out(await JobService(db, ctx).set_appointment(job_id, data), ctx.now)

    @delete("/{job_id:uuid}/appointment", guards=[DISPATCH], status_code=HTTP_200_OK)
    async def clear_appointment(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        job_id: uuid.UUID,
        reason: Annotated[str, Parameter(max_length=500)] = "",
    ) -> JobOut:
        """Clear the window: the appointment is pending again (the customer is told)."""
        return job_out(await JobService(db, ctx).clear_appointment(job_id, reason), ctx.now)

    @post("/{job_id:uuid}/cancel", guards=[CREATE], status_code=HTTP_200_OK)
    async def cancel(
        self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID, data: CancelIn
    ) -> JobOut:
        """Cancel (call center only). A booked customer is told."""
        return job_out(await JobService(db, ctx).cancel(job_id, data.reason), ctx.now)

    @post("/{job_id:uuid}/contacted", guards=[DISPATCH], status_code=HTTP_200_OK)
    async def contacted(
        self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID, data: ContactIn
    ) -> JobOut:
        """Record that the customer was reached (stops the urgent contact clock)."""
        return job_out(
            await JobService(db, ctx).record_contact(job_id, data.at, data.note), ctx.now
        )
