"""Repeat repairs: the rules, in one place.

A ``repair`` job created on an appliance that already had repair jobs created within the
30 days before it is a repeat: ``repeat_of_id`` is the earliest of those, ``repeat_seq``
their count + 1 (2: the second repair, flagged for an auditor's review; 3 or more: a
complaint, which only a ``senior`` technician may be assigned). Other kinds of job never
count, and neither does a job that was cancelled when the repeat was created.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import job_filter
from server.context import RequestContext
from server.db.models import Job, User
from server.db.models.user import SkillLevel
from server.errors import Conflict, Invalid
from server.jobs.history import record_change
from sync.vocabulary import JobKind, JobStatus

__all__ = [
    "COMPLAINT_SEQ",
    "REPEAT_WINDOW",
    "check_assignment",
    "earlier_repairs",
    "is_complaint",
    "link_repeat",
    "review",
    "search",
]

REPEAT_WINDOW = timedelta(days=30)
COMPLAINT_SEQ = 3
"""The third repair within the window (and every one after it) is a complaint."""


def is_complaint(job: Job) -> bool:
    return job.repeat_seq >= COMPLAINT_SEQ


def _counted_before(appliance_id: uuid.UUID, at: datetime) -> ColumnElement[bool]:
    """Repair jobs on the appliance created in the window before ``at`` that were not
    cancelled at ``at`` (one cancelled later still counted when the repeat was made)."""
    return and_(
        Job.appliance_id == appliance_id,
        Job.kind == JobKind.REPAIR,
        Job.created_at >= at - REPEAT_WINDOW,
        Job.created_at < at,
        or_(Job.status != JobStatus.CANCELLED, Job.cancelled_at > at),
    )


async def earlier_repairs(session: AsyncSession, job: Job) -> list[Job]:
    """The repairs ``job`` repeats, earliest first: empty when it is not a repeat."""
    if job.kind != JobKind.REPAIR or job.appliance_id is None:
        return []
    rows = await session.scalars(
        select(Job)
        .where(_counted_before(job.appliance_id, job.created_at), Job.id != job.id)
        .order_by(Job.created_at, Job.id)
    )
    return list(rows)


async def link_repeat(session: AsyncSession, job: Job) -> dict[str, Any] | None:
    """Mark a new job as a repeat when it is one; return what its ``repeat_repair``
    history entry records (None: not a repeat)."""
    earlier = await earlier_repairs(session, job)
    if not earlier:
        return None
    job.repeat_of_id = earlier[0].id
    job.repeat_seq = len(earlier) + 1
    return {
        "repeat_of_id": str(job.repeat_of_id),
        "repeat_seq": job.repeat_seq,
        "complaint": is_complaint(job),
        "chain": [{"id": str(j.id), "number": j.number} for j in earlier],
    }


def check_assignment(job: Job, technician: User) -> None:
    """A complaint goes to a senior technician only."""
    if is_complaint(job) and technician.skill_level != SkillLevel.SENIOR:
        raise Invalid(
            "senior_technician_required",
            f"Job {job.number} is repair number {job.repeat_seq} on this appliance within "
            f"30 days (a complaint): only a senior technician may take it, and "
            f"{technician.full_name} is {technician.skill_level or 'of no recorded level'}.",
            {"repeat_seq": job.repeat_seq, "skill_level": technician.skill_level},
        )


# --- the auditors' list and review ---------------------------------------------------


async def search(
    session: AsyncSession,
    ctx: RequestContext,
    *,
    reviewed: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[Job, list[Job]]], int]:
    """Repeat jobs the caller may see, complaints first, newest first, each with the
    repairs it repeats."""
    where = [job_filter(ctx.principal), Job.repeat_seq > 0]
    if reviewed is not None:
        where.append(
            Job.repeat_reviewed_at.is_not(None) if reviewed else Job.repeat_reviewed_at.is_(None)
        )
    total = await session.scalar(select(func.count()).select_from(Job).where(*where)) or 0
    jobs = await session.scalars(
        select(Job)
        .where(*where)
        .order_by((Job.repeat_seq >= COMPLAINT_SEQ).desc(), Job.created_at.desc(), Job.id)
        .limit(limit)
        .offset(offset)
    )
    return [(j, await earlier_repairs(session, j)) for j in jobs], total


async def review(session: AsyncSession, ctx: RequestContext, job: Job, note: str) -> list[Job]:
    """An auditor looked at a repeat repair: stamp it and keep the note in its history.
    Returns the repairs it repeats."""
    if job.repeat_seq == 0:
        raise Conflict(
            "not_a_repeat", f"Job {job.number} is not a repeat repair.", {"job_id": str(job.id)}
        )
    if job.repeat_reviewed_at is not None:
        raise Conflict(
            "already_reviewed",
            f"Job {job.number} was already reviewed.",
            {"reviewed_at": job.repeat_reviewed_at.isoformat()},
        )
    job.repeat_reviewed_at = ctx.now
    p = ctx.principal
    await record_change(
        session,
        job,
        "repeat_reviewed",
        {"note": note, "repeat_seq": job.repeat_seq, "repeat_of_id": str(job.repeat_of_id)},
        now=ctx.now,
        actor_id=p.user_id,
        actor_role=p.role,
        source=ctx.source,
        device_id=p.device_id,
        remote_addr=ctx.remote_addr,
    )
    return await earlier_repairs(session, job)
