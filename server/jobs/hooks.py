"""Extension points other features attach to job changes, called inside the same
transaction: the sync feature keeps the phones' buckets in step here, the audit
feature its rules for repeat repairs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Appliance, Job, JobEvent, KbArticle, User

__all__ = [
    "check_assignment",
    "evidence_changed",
    "job_changed",
    "job_recorded",
    "kb_article_changed",
    "packets_stale",
]


async def job_changed(
    session: AsyncSession, job: Job, *, previous_technician: uuid.UUID | None
) -> None:
    """A job changed (already flushed): keep the technicians' buckets in step (a
    ``remove`` for one who lost it, a ``put`` for the one who has it) and mark them
    for a poke after commit."""
    from sync import buckets  # sync builds on server.db; imported late to keep layers apart

    await buckets.job_changed(session, job, previous_technician=previous_technician)


async def job_recorded(session: AsyncSession, job: Job, event: JobEvent) -> None:
    """A change to a job was recorded (claims included): the callback audit opens the
    callbacks it calls for, and closes those it no longer needs."""
    from server.callbacks import tasks
    from server.dispatch import installs

    await tasks.on_job_event(session, job, event)
    await installs.on_job_event(session, job, event)


async def evidence_changed(session: AsyncSession, job_ids: list[uuid.UUID], now: datetime) -> None:
    """Evidence on these jobs arrived or was re-judged: re-score their open callbacks."""
    from server.callbacks import tasks

    await tasks.refresh_risk(session, job_ids, now)


async def packets_stale(session: AsyncSession, where: Any) -> None:
    """Something a job packet shows changed outside the job (customer, appliance,
    checklist, fee policy): re-send the packets of the jobs matching ``where``."""
    from sync import buckets

    await buckets.refresh_jobs(session, where)


async def kb_article_changed(
    session: AsyncSession, article: KbArticle, old_category: str | None
) -> None:
    """An article was written: phones holding it get the new text, and packets of jobs on
    appliances of its category (old and new) get the new list of links."""
    from sync import buckets

    await buckets.kb_article_changed(session, article)
    categories = {article.category} | ({old_category} if old_category else set())
    on_category = select(Appliance.id).where(Appliance.category.in_(categories))
    await buckets.refresh_jobs(session, Job.appliance_id.in_(on_category))


async def check_assignment(session: AsyncSession, job: Job, technician: User) -> None:
    """Raise to refuse giving ``job`` to ``technician``: a repeat-repair complaint goes
    to a senior technician only."""
    from server.jobs import repeats  # repeats records history, which calls these hooks

    _ = session
    repeats.check_assignment(job, technician)
