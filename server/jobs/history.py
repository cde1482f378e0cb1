"""``record_change``: the one way a job changes hands or state — a history row, a version
bump, and the hooks (phones' buckets) in the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Job, JobEvent
from server.jobs import hooks

__all__ = ["record_change"]


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
    flush: bool = True,
) -> JobEvent:
    """Record a change to ``job``. ``fact=True``: the phone reported something (a note, a
    check-in on a job already on site) that leaves the job itself as it was — history
    only, no new version, nothing for the phones to pull again. ``flush=False`` (facts
    only): the event stays pending in the session, for a caller that flushes many at
    once before anything reads them."""
    if not flush and not fact:
        raise ValueError("only a fact's event may wait for the caller's flush")
    if not fact:
        job.version += 1
        job.updated_at = now
    event = JobEvent(
        job_id=job.id,
        at=now,
        kind=kind,
        job_version=job.version,
        actor_id=actor_id,
        actor_role=actor_role,
        source=source,
        device_id=device_id,
        remote_addr=remote_addr,
        data=data,
    )
    session.add(event)
    if flush:
        await session.flush()
    if not fact:
        await hooks.job_changed(session, job, previous_technician=previous_technician)
        await hooks.job_recorded(session, job, event)
    return event
