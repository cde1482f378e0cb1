"""Extension points other features attach to job changes, called inside the same
transaction: the sync feature keeps the phones' buckets in step here, the audit
feature its rules for repeat repairs."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Job, User

__all__ = ["check_assignment", "job_changed"]


async def job_changed(
    session: AsyncSession, job: Job, *, previous_technician: uuid.UUID | None
) -> None:
    """A job changed (already flushed). Nothing to do until phones sync."""
    _ = (session, job, previous_technician)


async def check_assignment(session: AsyncSession, job: Job, technician: User) -> None:
    """Raise to refuse giving ``job`` to ``technician``."""
    _ = (session, job, technician)
