"""What every mutation handler builds on: the context, the outcomes, and the shared
conflict rules (SYNC.md):

- status changes follow the job state machine; one that is no longer legal is rejected
  with a reason the phone can show (``job_reassigned``, ``job_cancelled``…), never
  silently reverted;
- facts (notes, check-ins, calls, photos…) are inserts keyed by the phone's UUID: a
  resend never duplicates them, and facts for a job reassigned or cancelled meanwhile
  are kept and flagged.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import Table, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.base import Base
from server.db.models import Job, JobEvent, JobHolder
from server.jobs.history import event_values, record_change
from server.jobs.lifecycle import can_move
from sync import wire
from sync.vocabulary import JobStatus

__all__ = [
    "Applied",
    "Deferred",
    "Handler",
    "JobFacts",
    "JobRef",
    "MutationContext",
    "Rejected",
    "fact_fields",
    "fact_flags",
    "job_for",
    "lost_reason",
    "move",
    "record",
]

S = JobStatus


class Rejected(Exception):
    """Permanently invalid: recorded in the ledger with ``code``; the mid still advances."""

    def __init__(self, code: str, message: str, flags: list[str] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.flags = code, message, flags or []


@dataclass
class Applied:
    status: str = "applied"  # or "resolved"
    code: str | None = None
    message: str | None = None
    flags: list[str] = field(default_factory=list)


class JobFacts(Protocol):
    """What a fact's handler reads of its job: a ``Job``, or a ``JobRef``."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def technician_id(self) -> uuid.UUID | None: ...
    @property
    def status(self) -> str: ...
    @property
    def version(self) -> int: ...


@dataclass(frozen=True, slots=True)
class JobRef:
    """The four columns of a locked job a ``DEFERRABLE`` handler reads, without the ORM
    object (its 32 columns cost more to load than the notes cost to write)."""

    id: uuid.UUID
    technician_id: uuid.UUID | None
    status: str
    version: int


@dataclass
class Deferred:
    """What a push's chunk holds back to write at once (``DEFERRABLE`` in
    ``sync.mutations``): the facts' rows, as plain column values rather than ORM objects
    (a chunk of 50 notes is 100 rows: building, tracking and flushing objects for them
    cost more than everything else in the push), written with one ``executemany`` per
    table (``write``) before anything else reads them. Until then a handler must look
    here for what the chunk already holds."""

    rows: dict[type[Base], list[dict[str, Any]]] = field(default_factory=dict)
    """Rows to insert, per model, in the order they were added."""
    note_ids: set[uuid.UUID] = field(default_factory=set)
    """Notes that exist, stored or pending, among ``checked_note_ids``."""
    checked_note_ids: set[uuid.UUID] = field(default_factory=set)
    """Note ids read from the database at the chunk's start (``prefetch``): for these,
    ``note_ids`` is the whole truth (only ``job.note`` inserts notes, and the push holds
    the writer lock on SQLite)."""
    jobs: dict[uuid.UUID, JobRef] = field(default_factory=dict)
    """Jobs read and locked (``FOR UPDATE``) at the chunk's start: ``job_for`` takes
    them from here instead of reading each again. Valid until a mutation outside
    ``DEFERRABLE`` runs (it may change any job): the push then clears them."""

    def add(self, model: type[Base], values: dict[str, Any]) -> None:
        self.rows.setdefault(model, []).append(values)

    def mark(self) -> tuple[dict[type[Base], int], set[uuid.UUID]]:
        """Where the held-back rows stand, to ``undo`` one mutation's part of them."""
        return {m: len(v) for m, v in self.rows.items()}, set(self.note_ids)

    def undo(self, mark: tuple[dict[type[Base], int], set[uuid.UUID]]) -> None:
        """Drop what was held back since ``mark`` (a mutation that failed half-way)."""
        counts, note_ids = mark
        for model in list(self.rows):
            del self.rows[model][counts.get(model, 0) :]
            if not self.rows[model]:
                del self.rows[model]
        self.note_ids = note_ids

    async def write(self, session: AsyncSession) -> None:
        """Insert the rows held back, one ``executemany`` per table (parents first: the
        models are added in dependency order by the handlers)."""
        rows, self.rows = self.rows, {}
        for model, values in rows.items():
            # The table, not the mapped class: a plain executemany, no ORM bookkeeping.
            await session.execute(insert(cast(Table, model.__table__)), values)


@dataclass
class MutationContext:
    session: AsyncSession
    technician_id: uuid.UUID
    device_id: uuid.UUID
    envelope: wire.MutationEnvelope
    now: datetime
    deferred: Deferred | None = None
    """Set when the handler's inserts may stay pending (see ``Deferred``)."""


Handler = Callable[[MutationContext, Any, Any], Awaitable[Applied]]
"""``(ctx, args, job)``: ``job`` is a ``Job``, or a ``JobRef`` for a ``DEFERRABLE``
handler under a push (``job_for``); ``None`` only for mutations without a job."""


# --- shared rules ----------------------------------------------------------------------


async def job_for(ctx: MutationContext) -> Job | JobRef:
    """The mutation's job, locked; a ``JobRef`` when the push has one (``Deferred``)."""
    if ctx.envelope.job_id is None:
        raise Rejected("job_required", "This mutation needs a job_id.")
    job: Job | JobRef | None = None
    if ctx.deferred is not None:
        job = ctx.deferred.jobs.get(ctx.envelope.job_id)
    if job is None:
        job = await ctx.session.get(Job, ctx.envelope.job_id, with_for_update=True)
    if job is None:
        raise Rejected("job_not_found", "No such job.")
    if job.technician_id != ctx.technician_id:
        had_it = await ctx.session.scalar(
            select(
                exists().where(
                    JobHolder.technician_id == ctx.technician_id, JobHolder.job_id == job.id
                )
            )
        )
        if not had_it:
            raise Rejected("job_not_yours", "This job was never assigned to you.")
    return job


def lost_reason(ctx: MutationContext, job: JobFacts) -> tuple[str, str] | None:
    """Why the phone's technician may no longer move this job, if so."""
    if job.technician_id != ctx.technician_id:
        return "job_reassigned", "The job was given to another technician."
    if job.status == S.CANCELLED:
        return "job_cancelled", "The job was cancelled."
    if job.status == S.COMPLETED:
        return "job_closed", "The job is already completed."
    if job.status == S.CLOSED:
        return "job_closed", "The job is closed: completed and confirmed by the callback."
    return None


def fact_fields(ctx: MutationContext, job: JobFacts, flags: list[str]) -> dict[str, Any]:
    """The columns every fact shares (``FactMixin``): whose, from which phone, when."""
    return {
        "job_id": job.id,
        "technician_id": ctx.technician_id,
        "device_id": ctx.device_id,
        "device_time": ctx.envelope.device_time,
        "received_at": ctx.now,
        "flags": flags,
    }


def fact_flags(ctx: MutationContext, job: JobFacts) -> list[str]:
    if job.technician_id != ctx.technician_id:
        return ["after_reassignment"]
    if job.status == S.CANCELLED:
        return ["after_cancellation"]
    if job.status in (S.COMPLETED, S.CLOSED):
        return ["after_completion"]
    return []


async def unseen_changes(ctx: MutationContext, job: Job) -> list[str]:
    """Desk changes the phone had not seen when the technician acted."""
    base = ctx.envelope.base_version
    if base is None or base >= job.version:
        return []
    kinds = await ctx.session.scalars(
        select(JobEvent.kind).where(
            JobEvent.job_id == job.id, JobEvent.job_version > base, JobEvent.source != "sync"
        )
    )
    return sorted(set(kinds))


async def move(
    ctx: MutationContext,
    job: Job,
    target: JobStatus,
    data: dict[str, Any],
    apply_fields: Callable[[Job], None] | None = None,
) -> Applied:
    lost = lost_reason(ctx, job)
    if lost:
        raise Rejected(*lost)
    if not can_move(job.status, target):
        raise Rejected(
            "illegal_transition",
            f"A job that is {job.status.replace('_', ' ')} cannot become {target.value.replace('_', ' ')}.",
        )
    unseen = await unseen_changes(ctx, job)
    before = job.status
    job.status = target
    if apply_fields:
        apply_fields(job)
    await record(ctx, job, target.value, {"before": before, **data})
    if {"rescheduled", "appointment_set", "appointment_cleared"} & set(unseen):
        return Applied(
            "resolved",
            "rescheduled_meanwhile",
            "Applied; the appointment had been moved while the phone was offline.",
        )
    return Applied()


async def record(
    ctx: MutationContext, job: JobFacts, kind: str, data: dict[str, Any], *, fact: bool = False
) -> None:
    data = {**data, "mutation_id": str(ctx.envelope.id), "mid": ctx.envelope.mid}
    if ctx.envelope.device_time is not None:
        data["device_time"] = ctx.envelope.device_time.isoformat()
    who: dict[str, Any] = {
        "now": ctx.now,
        "actor_id": ctx.technician_id,
        "actor_role": "technician",
        "source": "sync",
        "device_id": ctx.device_id,
    }
    if fact and ctx.deferred is not None:
        # A fact changes nothing record_change would do beyond its history row.
        ctx.deferred.add(JobEvent, event_values(job, kind, data, **who))
        return
    assert isinstance(job, Job), "only a push's deferred facts work on a JobRef"
    await record_change(ctx.session, job, kind, data, fact=fact, **who)
