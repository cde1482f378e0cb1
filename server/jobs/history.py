"""``record_change``: the one way a job changes hands or state — a history row, a version
bump, and the hooks (phones' buckets) in the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.context import RequestContext
from server.db.base import new_id
from server.db.models import Job, JobEvent
from server.jobs import hooks

__all__ = ["event_values", "record_change", "record_request_change"]


def event_values(
    job: Any,
    kind: str,
    data: dict[str, Any],
    *,
    now: datetime,
    actor_id: uuid.UUID | None,
    actor_role: str | None,
    source: str,
    device_id: uuid.UUID | None = None,
    remote_addr: str | None = None,
) -> dict[str, Any]:
    """The columns of the history row of a change to ``job`` (a ``Job``, or anything
    with its ``id`` and ``version``; the version already bumped when the change is not
    a fact): a ``JobEvent``, or a row for a bulk insert."""
    return {
        "id": new_id(),
        "job_id": job.id,
        "at": now,
        "kind": kind,
        "job_version": job.version,
        "actor_id": actor_id,
        "actor_role": actor_role,
        "source": source,
        "device_id": device_id,
        "remote_addr": remote_addr,
        "data": data,
    }


async def record_change(
    session: AsyncSession,
    job: Job,
    kind: str,
    data: dict[str, Any],
    *,
    now: datetime,
    actor_id: uuid.UUID | None,
    actor_role: str | None,
    source: str,
    device_id: uuid.UUID | None = None,
    remote_addr: str | None = None,
    previous_technician: uuid.UUID | None = None,
    fact: bool = False,
) -> JobEvent:
    """Record a change to ``job``. ``fact=True``: the phone reported something (a note, a
    check-in on a job already on site) that leaves the job itself as it was — history
    only, no new version, nothing for the phones to pull again. (A push writes its
    deferred facts' rows in bulk instead: ``event_values``, and
    ``sync.mutation_base.Deferred``.)"""
    if not fact:
        job.version += 1
        job.updated_at = now
    event = JobEvent(
        **event_values(
            job,
            kind,
            data,
            now=now,
            actor_id=actor_id,
            actor_role=actor_role,
            source=source,
            device_id=device_id,
            remote_addr=remote_addr,
        )
    )
    session.add(event)
    await session.flush()
    if not fact:
        await hooks.job_changed(session, job, previous_technician=previous_technician)
        await hooks.job_recorded(session, job, event)
    return event


async def record_request_change(
    session: AsyncSession,
    ctx: RequestContext,
    job: Job,
    kind: str,
    data: dict[str, Any],
    *,
    previous_technician: uuid.UUID | None = None,
    fact: bool = False,
) -> JobEvent:
    """``record_change`` for a change made through a request: who, in which role, from
    which device and address, and when, all come from ``ctx``."""
    return await record_change(
        session,
        job,
        kind,
        data,
        now=ctx.now,
        actor_id=ctx.actor_id,
        actor_role=ctx.actor_role,
        source=ctx.source,
        device_id=ctx.principal.device_id,
        remote_addr=ctx.remote_addr,
        previous_technician=previous_technician,
        fact=fact,
    )
