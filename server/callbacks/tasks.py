"""Callback tasks are made here, and nowhere else.

- A job completed: a ``completion`` callback (confirm the work, ask how satisfied).
- A job that could not be completed: ``not_home`` when the technician says nobody was
  home — due within the policy's deadline (2 hours by default) and before the job's
  next appointment, with a message asking the customer to reply if they were home —
  or ``unable`` for any other reason.
- A job still open when its appointment day has ended (in the city's time zone): a
  ``status_check``, made by the maintenance sweep; it is cancelled if the job is then
  finished, because the claim brings its own callback.

Each task carries its risk (``evidence.risk``), refreshed as evidence arrives.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from evidence import risk
from server.callbacks.policy import policy_of
from server.db.dialect import insert_for
from server.db.engine import Database
from server.db.models import CallbackTask, City, Job, JobEvent, Notification
from server.notifications.outbox import claim_time, enqueue
from sync.vocabulary import CLOSED_STATUSES, JobStatus, UnableReason

__all__ = ["ask_customer", "on_job_event", "refresh_risk", "sweep_status_checks"]

log = logging.getLogger("doorstep.callbacks")

OPEN = "open"


async def on_job_event(session: AsyncSession, job: Job, event: JobEvent) -> None:
    now = event.at
    if event.kind == JobStatus.COMPLETED:
        await _close_status_checks(session, job.id, now)
        await _open_claim_task(session, job, event, "completion")
    elif event.kind == JobStatus.UNABLE_TO_COMPLETE:
        await _close_status_checks(session, job.id, now)
        not_home = job.unable_reason == UnableReason.CUSTOMER_NOT_HOME
        task = await _open_claim_task(session, job, event, "not_home" if not_home else "unable")
        if task is not None and not_home:
            await ask_customer(session, job, task)
    elif event.kind == "cancelled":
        await _close_status_checks(session, job.id, now)
    elif event.kind in ("appointment_set", "rescheduled") and job.window_start is not None:
        # A not-home claim is checked before the visit it was rebooked to.
        await session.execute(
            update(CallbackTask)
            .where(
                CallbackTask.job_id == job.id,
                CallbackTask.kind == "not_home",
                CallbackTask.state == OPEN,
                CallbackTask.due_at > job.window_start,
            )
            .values(due_at=job.window_start)
        )


async def _open_claim_task(
    session: AsyncSession, job: Job, event: JobEvent, kind: str
) -> CallbackTask | None:
    policy = policy_of(session)
    now = event.at
    due = {
        "completion": policy.completion_due,
        "not_home": policy.not_home_due,
        "unable": policy.unable_due,
    }[kind]
    raw = event.data.get("device_time")
    task = CallbackTask(
        id=uuid.uuid4(),
        job_id=job.id,
        kind=kind,
        basis=f"v{event.job_version}",
        state=OPEN,
        claim_event_id=event.id,
        unable_reason=job.unable_reason if kind != "completion" else None,
        claimed_at=now,
        claimed_device_time=datetime.fromisoformat(raw) if isinstance(raw, str) else None,
        window_start=job.window_start,
        window_end=job.window_end,
        technician_id=event.actor_id if event.actor_role == "technician" else job.technician_id,
        provider_id=job.provider_id,
        created_at=now,
        due_at=now + due,
        attempts=0,
        risk_factors=[],
    )
    session.add(task)
    await session.flush()
    await risk.assess(session, task, now)
    return task


async def ask_customer(session: AsyncSession, job: Job, task: CallbackTask) -> Notification | None:
    """Queue "our technician reports nobody was home at 14:05; reply if you were"."""
    at = task.claimed_device_time or task.claimed_at
    return await enqueue(
        session, job, "claim_not_home", {"time": await claim_time(session, job, at)}
    )


async def _close_status_checks(session: AsyncSession, job_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(CallbackTask)
        .where(
            CallbackTask.job_id == job_id,
            CallbackTask.kind == "status_check",
            CallbackTask.state == OPEN,
        )
        .values(state="cancelled", result="superseded", closed_at=now, holder_id=None)
    )


async def refresh_risk(session: AsyncSession, job_ids: list[uuid.UUID], now: datetime) -> None:
    """New evidence on these jobs (a photo, a re-judged claim, a customer's reply):
    re-score their open callbacks."""
    if not job_ids:
        return
    rows = await session.scalars(
        select(CallbackTask).where(CallbackTask.job_id.in_(job_ids), CallbackTask.state == OPEN)
    )
    for task in rows:
        await risk.assess(session, task, now)


async def sweep_status_checks(db: Database, now: datetime, lookback_days: int = 3) -> int:
    """Open a status check for every job still open after its appointment day ended in
    its city. Safe to run on several nodes at once: one task per job and day."""
    async with db.writer() as s:
        rows = (
            await s.execute(
                select(Job, City.timezone)
                .join(City, City.id == Job.city_id)
                .where(
                    Job.window_end.is_not(None),
                    Job.window_end < now,
                    Job.window_end > now - timedelta(days=lookback_days),
                    Job.status.not_in([*CLOSED_STATUSES, JobStatus.UNABLE_TO_COMPLETE]),
                )
            )
        ).all()
        made = 0
        policy = policy_of(s)
        insert = insert_for(s)
        for job, tz in rows:
            zone = _zone(tz)
            assert job.window_end is not None
            day = job.window_end.astimezone(zone).date()
            if now.astimezone(zone).date() <= day:
                continue  # the appointment day has not ended yet
            result = await s.execute(
                insert(CallbackTask)
                .values(
                    id=uuid.uuid4(),
                    job_id=job.id,
                    kind="status_check",
                    basis=f"day:{day.isoformat()}",
                    state=OPEN,
                    window_start=job.window_start,
                    window_end=job.window_end,
                    technician_id=job.technician_id,
                    provider_id=job.provider_id,
                    created_at=now,
                    due_at=now + policy.status_check_due,
                    attempts=0,
                    risk_score=0,
                    risk_factors=[],
                )
                .on_conflict_do_nothing()
            )
            made += result.rowcount or 0  # type: ignore[attr-defined]
        if made:
            for task in await s.scalars(
                select(CallbackTask).where(
                    CallbackTask.kind == "status_check",
                    CallbackTask.state == OPEN,
                    CallbackTask.risk_computed_at.is_(None),
                )
            ):
                await risk.assess(s, task, now)
        await s.commit()
    if made:
        log.info("callbacks: %d status checks opened", made)
    return made


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
