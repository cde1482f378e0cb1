"""Dispatch rules for jobs: create, list, assign, book, reschedule, cancel, SLA clocks.

Every change goes through ``_record``: one history row, one version bump, and (from the
sync feature on) the phones' buckets — in the caller's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import ensure_job_visible, job_filter
from server.context import RequestContext
from server.customer_page import links
from server.db.counters import next_value
from server.db.models import Appliance, Customer, Job, JobEvent, Provider, User
from server.db.models.user import Role
from server.dispatch import assign, calendar
from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.jobs import hooks, repeats
from server.jobs.history import record_request_change
from server.jobs.lifecycle import BEFORE_ARRIVAL, FIELD_ACTIVE, is_closed
from server.jobs.schemas import AppointmentIn, AssignIn, Candidate, JobCreate, candidate_out
from server.notifications.outbox import enqueue, window_text
from sync.vocabulary import CLOSED_STATUSES, JobKind, JobPriority, JobStatus

__all__ = ["JobFilters", "JobService"]

AFTER_SALES = frozenset({JobKind.REPAIR, JobKind.MAINTENANCE, JobKind.RELOCATION})
MAX_WINDOW = timedelta(hours=12)
PAST_SLACK = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class JobFilters:
    status: list[str] | None = None
    provider_id: uuid.UUID | None = None
    technician_id: uuid.UUID | None = None
    city_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    kind: str | None = None
    priority: str | None = None
    window_from: datetime | None = None
    window_to: datetime | None = None
    pending: bool | None = None
    reschedule_requested: bool | None = None
    overdue: bool | None = None
    limit: int = 50
    offset: int = 0


def overdue_clause(now: datetime) -> Any:
    """SQL twin of ``lifecycle.overdue_reasons``: keep the two in step."""
    open_ = Job.status.not_in([*CLOSED_STATUSES, JobStatus.UNABLE_TO_COMPLETE])
    urgent = Job.priority == JobPriority.URGENT
    return and_(
        open_,
        or_(
            and_(urgent, Job.contacted_at.is_(None), Job.contact_due_at < now),
            and_(urgent, Job.arrived_at.is_(None), Job.onsite_due_at < now),
            and_(Job.status.in_(list(BEFORE_ARRIVAL)), Job.window_end < now),
        ),
    )


class JobService:
    def __init__(self, session: AsyncSession, ctx: RequestContext) -> None:
        self.s = session
        self.ctx = ctx
        self.p = ctx.principal

    # --- reading ------------------------------------------------------------------

    async def get(self, job_id: uuid.UUID) -> Job:
        return ensure_job_visible(self.p, await self.s.get(Job, job_id), job_id)

    async def search(self, f: JobFilters) -> tuple[list[Job], int]:
        where = [job_filter(self.p)]
        if f.status:
            where.append(Job.status.in_(f.status))
        for col, value in (
            (Job.provider_id, f.provider_id),
            (Job.technician_id, f.technician_id),
            (Job.city_id, f.city_id),
            (Job.customer_id, f.customer_id),
            (Job.kind, f.kind),
            (Job.priority, f.priority),
        ):
            if value is not None:
                where.append(col == value)
        if f.window_from is not None:
            where.append(Job.window_end >= f.window_from)
        if f.window_to is not None:
            where.append(Job.window_start < f.window_to)
        if f.reschedule_requested is not None:
            asked = Job.reschedule_requested_at
            where.append(asked.is_not(None) if f.reschedule_requested else asked.is_(None))
        if f.pending is not None:
            where.append(Job.window_start.is_(None) if f.pending else Job.window_start.is_not(None))
        if f.overdue:
            where.append(overdue_clause(self.ctx.now))
        total = await self.s.scalar(select(func.count()).select_from(Job).where(*where)) or 0
        rows = await self.s.scalars(
            select(Job)
            .where(*where)
            .order_by(Job.window_start.is_(None), Job.window_start, Job.created_at, Job.id)
            .limit(f.limit)
            .offset(f.offset)
        )
        return list(rows), total

    async def history(self, job_id: uuid.UUID) -> list[JobEvent]:
        await self.get(job_id)
        rows = await self.s.scalars(
            select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.at, JobEvent.id)
        )
        return list(rows)

    async def candidates(self, job_id: uuid.UUID, locale: str) -> list[Candidate]:
        """Technicians who could take the job, ranked by the automatic dispatch's rules
        (``server.dispatch.assign.rank_candidates``) with their reasons in ``locale``;
        ineligible ones (flagged, with why) after every eligible one."""
        job = await self.get(job_id)
        providers: list[uuid.UUID] | None = [job.provider_id] if job.provider_id else None
        if not self.p.sees_everything:
            providers = [self.p.provider_id] if self.p.provider_id else []
        ranked = await assign.rank_candidates(
            self.s,
            job,
            now=self.ctx.now,
            default_capacity=self.ctx.settings.dispatch_default_jobs_per_window,
            provider_ids=providers,
        )
        return [candidate_out(r, locale) for r in ranked]

    # --- creating -----------------------------------------------------------------

    async def create(
        self,
        data: JobCreate,
        *,
        parts: list[dict[str, Any]] | None = None,
        history: dict[str, Any] | None = None,
    ) -> Job:
        """Create a job; then the automatic choice as the city's mode says, unless a
        technician was given. ``parts`` (consumables the job carries) and ``history``
        (more for the ``created`` event) are for the server's own callers: the
        maintenance plans."""
        customer = await self.s.get(Customer, data.customer_id)
        if customer is None:
            raise Invalid(
                "unknown_customer",
                "No customer with that id.",
                {"customer_id": str(data.customer_id)},
            )
        appliance = None
        if data.appliance_id is not None:
            appliance = await self.s.get(Appliance, data.appliance_id)
            if appliance is None or appliance.customer_id != customer.id:
                raise Invalid("unknown_appliance", "That appliance is not this customer's.")
        elif data.kind in AFTER_SALES:
            raise Invalid(
                "appliance_required", f"A {data.kind.value} job needs the appliance it is for."
            )
        self._check_window(data.window_start, data.window_end, require_future=True)
        provider_id = data.provider_id
        if not self.p.sees_everything:
            if provider_id not in (None, self.p.provider_id):
                raise Forbidden(
                    "provider_forbidden", "You can only create jobs for your own provider."
                )
            provider_id = self.p.provider_id
        previous_id = data.previous_job_id
        if previous_id is not None:
            prev = await self.s.get(Job, previous_id)
            if prev is None or prev.appliance_id is None or prev.appliance_id != data.appliance_id:
                raise Invalid(
                    "unknown_previous_job", "The previous job must be on the same appliance."
                )
        elif appliance is not None and data.kind in AFTER_SALES:
            previous_id = await self.s.scalar(
                select(Job.id)
                .where(Job.appliance_id == appliance.id)
                .order_by(Job.created_at.desc())
                .limit(1)
            )
        if data.external_ref is not None:
            taken = await self.s.scalar(
                select(Job.number).where(
                    Job.external_ref == data.external_ref, Job.source == data.source
                )
            )
            if taken is not None:
                raise Conflict(
                    "external_ref_taken",
                    f"Job {taken} already has the {data.source.value} reference "
                    f"{data.external_ref}.",
                    {"job_number": taken, "external_ref": data.external_ref},
                )
        now = self.ctx.now
        number = await next_value(self.s, "job_number")
        job = Job(
            id=uuid.uuid4(),
            number=f"J{now:%y%m}-{number:06d}",
            kind=data.kind,
            priority=data.priority,
            source=data.source,
            status=JobStatus.NEW,
            description=data.description,
            customer_id=customer.id,
            appliance_id=data.appliance_id,
            city_id=customer.city_id,
            previous_job_id=previous_id,
            window_start=data.window_start,
            window_end=data.window_end,
            external_ref=data.external_ref,
            created_by=self.ctx.actor_id,
            parts=list(parts or []),
            created_at=now,
            updated_at=now,
            version=0,
        )
        if data.priority == JobPriority.URGENT:
            job.contact_due_at = now + timedelta(minutes=self.ctx.settings.sla_contact_minutes)
            job.onsite_due_at = now + timedelta(minutes=self.ctx.settings.sla_onsite_minutes)
        self.s.add(job)
        await self.s.flush()
        await self._record(
            job,
            "created",
            {
                "kind": job.kind,
                "priority": job.priority,
                "source": job.source,
                "window": _window(job),
                **({"external_ref": job.external_ref} if job.external_ref else {}),
                **(history or {}),
            },
        )
        if (repeat := await repeats.link_repeat(self.s, job)) is not None:
            await self._record(job, "repeat_repair", repeat)
        if provider_id is not None:
            await self._assign(job, provider_id, data.technician_id, reason="")
        elif data.technician_id is not None:
            raise Invalid("provider_required", "Give the provider of the technician too.")
        if data.technician_id is None:
            await hooks.dispatch_wanted(
                self.s,
                job,
                trigger="created",
                now=now,
                default_capacity=self.ctx.settings.dispatch_default_jobs_per_window,
                actor_id=self.ctx.actor_id,
                actor_role=self.ctx.actor_role,
            )
        return job

    # --- assigning ----------------------------------------------------------------

    async def assign(self, job_id: uuid.UUID, data: AssignIn) -> Job:
        job = await self._open_job(job_id)
        if not self.p.sees_everything and data.provider_id != self.p.provider_id:
            raise Forbidden("provider_forbidden", "You can only assign within your own provider.")
        override = _override(data.override_conflict, data.reason)
        await self._assign(job, data.provider_id, data.technician_id, data.reason, override)
        return job

    async def _assign(
        self,
        job: Job,
        provider_id: uuid.UUID,
        technician_id: uuid.UUID | None,
        reason: str,
        override: str | None = None,
    ) -> None:
        provider = await self.s.get(Provider, provider_id)
        if provider is None:
            raise Invalid("unknown_provider", "No provider with that id.")
        if not provider.active:
            raise Invalid("provider_inactive", f"{provider.name} is not active.")
        if job.city_id not in {c.id for c in provider.cities}:
            raise Invalid(
                "provider_not_covering_city", f"{provider.name} does not cover this job's city."
            )
        if technician_id is not None:
            tech = await self.s.get(User, technician_id)
            if tech is None or tech.role != Role.TECHNICIAN:
                raise Invalid("unknown_technician", "No technician with that id.")
            if tech.provider_id != provider.id:
                raise Invalid(
                    "technician_not_in_provider",
                    f"{tech.full_name} does not work for {provider.name}.",
                )
            if not tech.active:
                raise Invalid("technician_inactive", f"{tech.full_name} is not active.")
            await hooks.check_assignment(self.s, job, tech)
        if job.provider_id == provider_id and job.technician_id == technician_id:
            return  # nothing changes: answering with the job as it is makes retries safe
        overridden: list[dict[str, Any]] = []
        if technician_id is not None:
            technician = await self.s.get(User, technician_id)
            assert technician is not None  # checked above
            overridden = await calendar.check_booking(
                self.s,
                job,
                technician,
                job.window_start,
                job.window_end,
                override,
                self.ctx.settings.dispatch_default_jobs_per_window,
            )
        before = {
            "provider_id": _s(job.provider_id),
            "technician_id": _s(job.technician_id),
            "status": job.status,
        }
        kind = "assigned" if job.provider_id is None and job.technician_id is None else "reassigned"
        previous_technician = job.technician_id
        job.provider_id, job.technician_id = provider_id, technician_id
        if (
            job.status == JobStatus.NEW
            or job.status in FIELD_ACTIVE
            or job.status == JobStatus.UNABLE_TO_COMPLETE
        ):
            job.status = JobStatus.ASSIGNED
        await self._record(
            job,
            kind,
            {
                "before": before,
                "provider_id": str(provider_id),
                "technician_id": _s(technician_id),
                "reason": reason,
                **({"conflict_overridden": overridden} if overridden else {}),
            },
            previous_technician=previous_technician,
        )

    # --- appointments -------------------------------------------------------------

    async def set_appointment(self, job_id: uuid.UUID, data: AppointmentIn) -> Job:
        job = await self._open_job(job_id)
        self._ensure_same_provider(job)
        self._check_window(data.window_start, data.window_end, require_future=True)
        override = _override(data.override_conflict, data.reason)
        await self._move_window(job, data.window_start, data.window_end, data.reason, override)
        return job

    async def clear_appointment(self, job_id: uuid.UUID, reason: str) -> Job:
        job = await self._open_job(job_id)
        self._ensure_same_provider(job)
        await self._move_window(job, None, None, reason)
        return job

    async def _move_window(
        self,
        job: Job,
        start: datetime | None,
        end: datetime | None,
        reason: str,
        override: str | None = None,
    ) -> None:
        old_start, old_end = job.window_start, job.window_end
        if (old_start, old_end) == (start, end):
            return
        overridden: list[dict[str, Any]] = []
        if job.technician_id is not None and start is not None:
            tech = await self.s.get(User, job.technician_id)
            if tech is not None:
                overridden = await calendar.check_booking(
                    self.s,
                    job,
                    tech,
                    start,
                    end,
                    override,
                    self.ctx.settings.dispatch_default_jobs_per_window,
                )
        job.window_start, job.window_end = start, end
        if job.status in FIELD_ACTIVE or job.status == JobStatus.UNABLE_TO_COMPLETE:
            # The visit moved: the technician starts over; an unable-to-complete job is rebooked.
            job.status = (
                JobStatus.ASSIGNED if job.technician_id or job.provider_id else JobStatus.NEW
            )
        job.reschedule_requested_at = None
        booked_before = old_start is not None
        kind = "rescheduled" if booked_before else "appointment_set"
        if start is None:
            kind = "appointment_cleared"
        await self._record(
            job,
            kind,
            {
                "before": {"start": _s(old_start), "end": _s(old_end)},
                "window": _window(job),
                "reason": reason,
                **({"conflict_overridden": overridden} if overridden else {}),
            },
        )
        old_text = await window_text(self.s, job, old_start, old_end)
        new_text = await window_text(self.s, job, start, end)
        if booked_before and start is not None:
            await enqueue(
                self.s,
                job,
                "appointment_rescheduled",
                {"old_window": old_text, "new_window": new_text},
            )
        elif booked_before:
            await enqueue(self.s, job, "appointment_unscheduled", {"old_window": old_text})
        else:
            _, token = await links.issue(
                self.s,
                job,
                key=self.ctx.settings.signing_key(),
                now=self.ctx.now,
                days=self.ctx.settings.customer_link_days,
                reason="booking",
                created_by=self.p.user_id,
            )
            link = links.page_url(self.ctx.settings.public_url, token)
            await enqueue(self.s, job, "appointment_booked", {"new_window": new_text, "link": link})

    # --- cancelling and contact ---------------------------------------------------

    async def cancel(self, job_id: uuid.UUID, reason: str) -> Job:
        job = await self._open_job(job_id)
        if not self.p.sees_everything:
            raise Forbidden("provider_forbidden", "Only the call center can cancel a job.")
        before = job.status
        job.status = JobStatus.CANCELLED
        job.cancelled_at, job.cancel_reason = self.ctx.now, reason
        await self._record(
            job,
            "cancelled",
            {"before": {"status": before}, "reason": reason},
            previous_technician=job.technician_id,
        )
        if job.window_start is not None:
            text = await window_text(self.s, job, job.window_start, job.window_end)
            await enqueue(self.s, job, "appointment_cancelled", {"old_window": text})
        return job

    async def record_contact(self, job_id: uuid.UUID, at: datetime | None, note: str) -> Job:
        job = await self._open_job(job_id)
        self._ensure_same_provider(job)
        at = at or self.ctx.now
        if at > self.ctx.now + PAST_SLACK:
            raise Invalid("contact_in_future", "A contact cannot be recorded in the future.")
        if job.contacted_at is None or at < job.contacted_at:
            job.contacted_at = at
        await self._record(job, "customer_contacted", {"at": at.isoformat(), "note": note})
        return job

    # --- shared -------------------------------------------------------------------

    async def _open_job(self, job_id: uuid.UUID) -> Job:
        job = await self.get(job_id)
        if self.p.is_technician:
            raise Forbidden("role_forbidden", "Technicians change jobs through sync.")
        if is_closed(job.status):
            raise Conflict(
                "job_closed",
                f"Job {job.number} is {job.status}; it can no longer change.",
                {"status": job.status},
            )
        return job

    def _ensure_same_provider(self, job: Job) -> None:
        if not self.p.sees_everything and job.provider_id != self.p.provider_id:
            raise NotFound("job", job.id)

    def _check_window(
        self, start: datetime | None, end: datetime | None, *, require_future: bool
    ) -> None:
        if start is None and end is None:
            return
        if start is None or end is None:
            raise Invalid(
                "incomplete_window", "Give both the start and the end of the window, or neither."
            )
        if end <= start:
            raise Invalid(
                "invalid_window",
                "The appointment window must end after it starts.",
                {"window_start": start.isoformat(), "window_end": end.isoformat()},
            )
        if end - start > MAX_WINDOW:
            raise Invalid("window_too_long", "An appointment window may be at most 12 hours long.")
        if require_future and end < self.ctx.now - PAST_SLACK:
            raise Invalid("window_in_past", "The appointment window has already ended.")

    async def _record(
        self,
        job: Job,
        kind: str,
        data: dict[str, Any],
        previous_technician: uuid.UUID | None = None,
    ) -> None:
        await record_request_change(
            self.s, self.ctx, job, kind, data, previous_technician=previous_technician
        )


def _override(override_conflict: bool, reason: str) -> str | None:
    """The reason a dispatcher gives to book over a clash (None: no override)."""
    if not override_conflict:
        return None
    if not reason.strip():
        raise Invalid("override_reason_required", "Say why the clash is overridden (reason).")
    return reason


def _s(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _window(job: Job) -> dict[str, str | None]:
    return {"start": _s(job.window_start), "end": _s(job.window_end)}
