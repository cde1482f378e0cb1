"""Extension points other features attach to job changes, called inside the same
transaction: the sync feature keeps the phones' buckets in step here, the callback
audit opens its tasks and re-scores them, the repeat-repair rules refuse assignments.

Nothing here imports those features: each registers its handlers at start-up
(``server.wiring.install``, called by the app, the CLI and the test suite), so the
layers stay apart and there is no import circle between ``server.jobs`` and ``sync``.
A point with no handler does nothing, except ``job_changed``: a job change that keeps
no phone in step is a bug, so it refuses to run before the wiring is installed.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Job, JobEvent, KbArticle, User

__all__ = [
    "HOOKS",
    "check_assignment",
    "dispatch_wanted",
    "evidence_changed",
    "installed",
    "job_changed",
    "job_recorded",
    "kb_article_changed",
    "packets_stale",
    "register",
]

Handler = Callable[..., Awaitable[None]]

HOOKS = (
    "job_changed",
    "job_recorded",
    "evidence_changed",
    "packets_stale",
    "kb_article_changed",
    "check_assignment",
    "dispatch_wanted",
)
_handlers: dict[str, list[Handler]] = {name: [] for name in HOOKS}


def register(name: str, handler: Handler) -> None:
    """Attach ``handler`` to the extension point ``name`` (once: registering the same
    handler again is a no-op, so installing the wiring twice is harmless)."""
    if name not in _handlers:
        raise ValueError(f"no extension point {name!r}")
    if handler not in _handlers[name]:
        _handlers[name].append(handler)


def installed() -> bool:
    return bool(_handlers["job_changed"])


async def _call(name: str, *args: Any, **kw: Any) -> None:
    for handler in _handlers[name]:
        await handler(*args, **kw)


async def job_changed(
    session: AsyncSession, job: Job, *, previous_technician: uuid.UUID | None
) -> None:
    """A job changed (already flushed): keep the technicians' buckets in step (a
    ``remove`` for one who lost it, a ``put`` for the one who has it) and mark them
    for a poke after commit."""
    if not installed():
        raise RuntimeError("job hooks are not installed: call server.wiring.install()")
    await _call("job_changed", session, job, previous_technician=previous_technician)


async def job_recorded(session: AsyncSession, job: Job, event: JobEvent) -> None:
    """A change to a job was recorded (claims included): the callback audit opens the
    callbacks it calls for, and closes those it no longer needs."""
    await _call("job_recorded", session, job, event)


async def evidence_changed(session: AsyncSession, job_ids: list[uuid.UUID], now: datetime) -> None:
    """Evidence on these jobs arrived or was re-judged: re-score their open callbacks."""
    await _call("evidence_changed", session, job_ids, now)


async def packets_stale(session: AsyncSession, where: Any) -> None:
    """Something a job packet shows changed outside the job (customer, appliance,
    checklist, fee policy): re-send the packets of the jobs matching ``where``."""
    await _call("packets_stale", session, where)


async def kb_article_changed(
    session: AsyncSession, article: KbArticle, old_category: str | None
) -> None:
    """An article was written: phones holding it get the new text, and packets of jobs on
    appliances of its category (old and new) get the new list of links."""
    await _call("kb_article_changed", session, article, old_category)


async def check_assignment(session: AsyncSession, job: Job, technician: User) -> None:
    """Raise to refuse giving ``job`` to ``technician``: a repeat-repair complaint goes
    to a senior technician only."""
    await _call("check_assignment", session, job, technician)


async def dispatch_wanted(
    session: AsyncSession,
    job: Job,
    *,
    trigger: str,
    now: datetime,
    default_capacity: int,
    actor_id: uuid.UUID | None,
    actor_role: str | None,
) -> None:
    """A job needs a technician (created without one, or reopened by a contradicted
    callback): the automatic dispatch chooses, as the city's mode says."""
    await _call(
        "dispatch_wanted",
        session,
        job,
        trigger=trigger,
        now=now,
        default_capacity=default_capacity,
        actor_id=actor_id,
        actor_role=actor_role,
    )
