"""The job lifecycle mutations (acknowledge … complete), the registry of every mutation
a phone may send, and ``apply``. Field-evidence mutations live in
``sync/field_evidence.py`` and ``sync/photos.py``; the shared rules in
``sync/mutation_base.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Appliance, Checkin, Job, JobNote
from sync import field_evidence, photos, wire
from sync.evidence_wire import EVIDENCE_ARGS
from sync.mutation_base import (
    Applied,
    Deferred,
    Handler,
    JobFacts,
    JobRef,
    MutationContext,
    Rejected,
    fact_fields,
    fact_flags,
    job_for,
    lost_reason,
    move,
    record,
)
from sync.validation import Violation, decode_args
from sync.vocabulary import JobStatus

__all__ = [
    "ARGS",
    "DEFERRABLE",
    "EVIDENCE_FREE",
    "HANDLERS",
    "Applied",
    "Deferred",
    "MutationContext",
    "Rejected",
    "apply",
    "prefetch",
]

S = JobStatus


# --- handlers --------------------------------------------------------------------------


async def acknowledge(ctx: MutationContext, _args: wire.EmptyArgs, job: Job | None) -> Applied:
    assert job is not None
    return await move(ctx, job, S.ACKNOWLEDGED, {})


async def en_route(ctx: MutationContext, args: wire.EnRouteArgs, job: Job | None) -> Applied:
    assert job is not None
    return await move(ctx, job, S.EN_ROUTE, {"eta": args.eta.isoformat() if args.eta else None})


async def check_in(ctx: MutationContext, args: wire.CheckInArgs, job: Job | None) -> Applied:
    """A check-in is a fact (kept whatever happens to the job) and, when the job is the
    technician's and still open, the move to ``on_site``."""
    assert job is not None
    if (args.latitude is None) != (args.longitude is None):
        raise Rejected("incomplete_coordinates", "Give both latitude and longitude, or neither.")
    flags = fact_flags(ctx, job)
    existing = await ctx.session.get(Checkin, args.checkin_id)
    if existing is None:
        checkin = await field_evidence.new_fix(ctx, job, args, flags, "check_in")
        ctx.session.add(checkin)
        await ctx.session.flush()
    if flags:
        await record(
            ctx,
            job,
            "fact:check_in",
            {"checkin_id": str(args.checkin_id), "flags": flags},
            fact=True,
        )
        return Applied(
            "resolved",
            flags[0],
            "The check-in was kept, but the job is no longer yours to move.",
            flags,
        )
    if job.status in (S.ON_SITE, S.IN_PROGRESS, S.PAUSED):
        await record(ctx, job, "fact:check_in", {"checkin_id": str(args.checkin_id)}, fact=True)
        return Applied()

    def arrived(j: Job) -> None:
        j.arrived_at = j.arrived_at or ctx.now

    return await move(ctx, job, S.ON_SITE, {"checkin_id": str(args.checkin_id)}, arrived)


async def start_work(ctx: MutationContext, _args: wire.EmptyArgs, job: Job | None) -> Applied:
    assert job is not None
    return await move(ctx, job, S.IN_PROGRESS, {})


async def note(ctx: MutationContext, args: wire.NoteArgs, job: JobFacts | None) -> Applied:
    assert job is not None
    d = ctx.deferred
    if d is not None and (args.note_id in d.note_ids or args.note_id in d.checked_note_ids):
        known = args.note_id in d.note_ids
    else:
        known = await ctx.session.get(JobNote, args.note_id) is not None
    if known:
        return Applied()  # the same fact sent under a new mid: already kept
    flags = fact_flags(ctx, job)
    values = {"id": args.note_id, **fact_fields(ctx, job, flags), "text": args.text}
    if d is not None:
        d.add(JobNote, values)
        d.note_ids.add(args.note_id)
    else:
        ctx.session.add(JobNote(**values))
        await ctx.session.flush()
    await record(ctx, job, "fact:note", {"note_id": str(args.note_id), "flags": flags}, fact=True)
    return Applied(flags=flags)


async def pause(ctx: MutationContext, args: wire.PauseArgs, job: Job | None) -> Applied:
    assert job is not None
    return await move(ctx, job, S.PAUSED, {"reason": args.reason})


async def complete(ctx: MutationContext, args: wire.CompleteArgs, job: Job | None) -> Applied:
    assert job is not None

    def done(j: Job) -> None:
        j.completed_at = ctx.now

    return await move(ctx, job, S.COMPLETED, {"summary": args.summary}, done)


async def unable_to_complete(
    ctx: MutationContext, args: wire.UnableArgs, job: Job | None
) -> Applied:
    assert job is not None

    def why(j: Job) -> None:
        j.unable_reason = args.reason.value

    return await move(
        ctx, job, S.UNABLE_TO_COMPLETE, {"reason": args.reason.value, "note": args.note}, why
    )


async def request_reschedule(
    ctx: MutationContext, args: wire.RequestRescheduleArgs, job: Job | None
) -> Applied:
    assert job is not None
    lost = lost_reason(ctx, job)
    if lost:
        raise Rejected(*lost)
    if args.preferred_start and args.preferred_end and args.preferred_end <= args.preferred_start:
        raise Rejected("invalid_window", "The preferred window must end after it starts.")
    job.reschedule_requested_at = ctx.now
    await record(
        ctx,
        job,
        "reschedule_requested",
        {
            "reason": args.reason,
            "preferred_start": args.preferred_start.isoformat() if args.preferred_start else None,
            "preferred_end": args.preferred_end.isoformat() if args.preferred_end else None,
        },
    )
    return Applied()


async def set_serial(ctx: MutationContext, args: wire.SetSerialArgs, job: Job | None) -> Applied:
    """Last write wins in arrival order; the value it replaces stays in the job history."""
    assert job is not None
    if job.appliance_id != args.appliance_id:
        raise Rejected("appliance_not_on_job", "That appliance is not the one this job is for.")
    lost = lost_reason(ctx, job)
    if lost and lost[0] == "job_reassigned":
        raise Rejected(*lost)
    appliance = await ctx.session.get(Appliance, args.appliance_id, with_for_update=True)
    assert appliance is not None
    before = appliance.serial
    appliance.serial = args.serial
    appliance.updated_at = ctx.now
    await record(
        ctx,
        job,
        "appliance_serial_set",
        {"before": before, "serial": args.serial, "appliance_id": str(appliance.id)},
    )
    return Applied()


HANDLERS: dict[str, Handler] = {
    "job.acknowledge": acknowledge,
    "job.en_route": en_route,
    "job.check_in": check_in,
    "job.start_work": start_work,
    "job.note": note,
    "job.pause": pause,
    "job.complete": complete,
    "job.unable_to_complete": unable_to_complete,
    "job.request_reschedule": request_reschedule,
    "appliance.set_serial": set_serial,
    **field_evidence.HANDLERS,
    **photos.HANDLERS,
}
DEFERRABLE = frozenset({"job.note"})
"""Mutations a push may apply without a savepoint and leave unflushed until the end of
its chunk (``MutationContext.deferred``). Each of them, checked by reading it:

- raises ``Rejected`` only before it writes anything (``apply``: unknown name, bad
  arguments, ``job_for``), so there is never a half-applied mutation to roll back; any
  other exception aborts the whole chunk, with or without a savepoint;
- only inserts facts (no job version, no hooks, no bucket change), held back as rows
  until the chunk ends or a mutation outside this set comes (the push writes them
  before it runs), so only the same handler's own duplicate check could miss them, and
  it looks at ``Deferred`` too.
A handler that changes this must leave the set."""
EVIDENCE_FREE = frozenset({"job.note"})
"""Mutations whose facts no claim rule (``evidence/rules.py``) and no risk factor
reads: a push does not re-judge the claims on their jobs."""
ARGS: dict[str, type[msgspec.Struct]] = {**wire.MUTATION_ARGS, **EVIDENCE_ARGS}
assert set(HANDLERS) <= set(ARGS), "every mutation needs an args type"


async def prefetch(
    session: AsyncSession, envelopes: list[wire.MutationEnvelope], deferred: Deferred
) -> None:
    """Read, for the ``DEFERRABLE`` mutations of a chunk, what their handlers would read
    one by one: their jobs (locked, in id order) and which of their note ids exist."""
    job_ids: set[uuid.UUID] = set()
    note_ids: set[uuid.UUID] = set()
    for env in envelopes:
        if env.name != "job.note" or env.job_id is None:
            continue
        try:
            args = msgspec.json.decode(env.args, type=wire.NoteArgs)
        except msgspec.DecodeError:
            continue  # rejected by ``apply``
        job_ids.add(env.job_id)
        note_ids.add(args.note_id)
    if job_ids:
        rows = await session.execute(_JOB_REFS, {"ids": list(job_ids)})
        deferred.jobs.update((row.id, JobRef(*row)) for row in rows)
    if note_ids:
        stored = await session.scalars(_STORED_NOTES, {"ids": list(note_ids)})
        deferred.note_ids.update(stored)
        deferred.checked_note_ids.update(note_ids)


# Built once, with one expanding parameter: a statement built per push, with a bind per
# id, cost more to build and to key for the statement cache than to run.
_JOB_REFS = (
    select(Job.id, Job.technician_id, Job.status, Job.version)
    .where(Job.id.in_(bindparam("ids", expanding=True)))
    .order_by(Job.id)
    .with_for_update()
)
_STORED_NOTES = select(JobNote.id).where(JobNote.id.in_(bindparam("ids", expanding=True)))


async def apply(ctx: MutationContext, args: Any = None) -> Applied:
    """Validate and apply one mutation; raise ``Rejected`` if it can never apply.
    ``args``: already decoded and checked by the push (``sync.validation``)."""
    name = ctx.envelope.name
    handler = HANDLERS.get(name)
    if handler is None:
        raise Rejected("unknown_mutation", f"No mutation is called {name!r}.")
    if args is None:
        try:
            args = decode_args(bytes(ctx.envelope.args), ARGS[name], name)
        except Violation as v:
            raise Rejected(v.code, v.message) from v
    job = await job_for(ctx)
    return await handler(ctx, args, job)
