"""The closed loop of the after-sales practice, read off one job: order → visit →
callback → closed, with what the customer said on their own page beside the auditor's
result.

The job becomes ``closed`` in ``server.callbacks.service`` (its completion callback
done: confirmed, or the customer unreachable through the retry schedule); this module
only reads.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import CallbackOutcome, CallbackTask, CustomerAnswer, Job, JobEvent
from sync.vocabulary import JobStatus

__all__ = ["LoopOut", "LoopStep", "job_loop", "latest_answers"]

StepState = Literal["done", "pending", "failed", "reopened"]


class LoopStep(msgspec.Struct):
    step: Literal["order", "visit", "callback", "closed"]
    state: StepState
    """``done``; ``pending`` (not reached yet); ``failed`` (a visit that could not be
    completed, e.g. nobody home); ``reopened`` (the callback contradicted the claim and
    the job went back to dispatch)."""
    at: datetime | None
    """When the step was reached (UTC)."""
    detail: str | None = None
    """``visit``: the unable reason of a failed visit; ``callback``: the task's state
    or result (``confirmed``, ``unreachable``, ``contradicted``…); ``closed``: why
    (``callback_confirmed`` / ``callback_unreachable``)."""


class LoopOut(msgspec.Struct):
    """``GET /jobs/{id}/loop``."""

    job_id: uuid.UUID
    status: JobStatus
    closed: bool
    steps: list[LoopStep]
    callback_id: uuid.UUID | None
    """The completion callback (else the latest claim's callback) the loop waits on."""
    callback_result: str | None
    """The auditor's result on it, and their satisfaction answer when confirmed."""
    callback_satisfaction: str | None
    customer_satisfaction: str | None
    """What the customer answered on their page (``very_satisfied`` / ``satisfied`` /
    ``dissatisfied``): kept apart from the auditor's result and shown beside it."""
    customer_answered_at: datetime | None
    reopened: int
    """How many times a contradicted callback reopened the job."""


async def latest_answers(
    session: AsyncSession, job_ids: list[uuid.UUID], kind: str
) -> dict[uuid.UUID, CustomerAnswer]:
    """Each job's latest customer answer of ``kind``."""
    if not job_ids:
        return {}
    rows = await session.scalars(
        select(CustomerAnswer)
        .where(CustomerAnswer.job_id.in_(job_ids), CustomerAnswer.kind == kind)
        .order_by(CustomerAnswer.at, CustomerAnswer.id)
    )
    return {a.job_id: a for a in rows}


async def job_loop(session: AsyncSession, job: Job) -> LoopOut:
    events = list(
        await session.scalars(
            select(JobEvent)
            .where(
                JobEvent.job_id == job.id,
                JobEvent.kind.in_(["completed", "unable_to_complete", "reopened", "closed"]),
            )
            .order_by(JobEvent.at, JobEvent.job_version)
        )
    )
    tasks = list(
        await session.scalars(
            select(CallbackTask)
            .where(
                CallbackTask.job_id == job.id,
                CallbackTask.kind.in_(["completion", "not_home", "unable"]),
            )
            .order_by(CallbackTask.created_at, CallbackTask.id)
        )
    )
    task = next((t for t in reversed(tasks) if t.kind == "completion"), None)
    if task is None and tasks:
        task = tasks[-1]
    last_visit = next(
        (e for e in reversed(events) if e.kind in ("completed", "unable_to_complete")), None
    )
    last_reopen = next((e for e in reversed(events) if e.kind == "reopened"), None)
    closed_event = next((e for e in reversed(events) if e.kind == "closed"), None)
    steps = [LoopStep(step="order", state="done", at=job.created_at)]

    if job.status in (JobStatus.COMPLETED, JobStatus.CLOSED):
        steps.append(LoopStep(step="visit", state="done", at=job.completed_at))
    elif (
        last_visit is not None
        and last_visit.kind == "unable_to_complete"
        and (last_reopen is None or last_reopen.at <= last_visit.at)
    ):
        reason = last_visit.data.get("reason") if isinstance(last_visit.data, dict) else None
        steps.append(
            LoopStep(
                step="visit",
                state="failed",
                at=last_visit.at,
                detail=reason if isinstance(reason, str) else job.unable_reason,
            )
        )
    else:
        steps.append(LoopStep(step="visit", state="pending", at=None))

    if task is None:
        steps.append(LoopStep(step="callback", state="pending", at=None))
    elif task.state == "done" and task.result == "contradicted":
        steps.append(
            LoopStep(step="callback", state="reopened", at=task.closed_at, detail="contradicted")
        )
    elif task.state == "done":
        steps.append(LoopStep(step="callback", state="done", at=task.closed_at, detail=task.result))
    else:
        detail = "waiting" if task.attempts else task.state
        steps.append(LoopStep(step="callback", state="pending", at=None, detail=detail))

    if job.status == JobStatus.CLOSED:
        why = closed_event.data.get("reason") if closed_event is not None else None
        steps.append(
            LoopStep(
                step="closed",
                state="done",
                at=closed_event.at if closed_event is not None else job.updated_at,
                detail=why if isinstance(why, str) else None,
            )
        )
    else:
        steps.append(LoopStep(step="closed", state="pending", at=None))

    satisfaction = None
    if task is not None and task.state == "done":
        current = await session.scalar(
            select(CallbackOutcome)
            .where(CallbackOutcome.task_id == task.id)
            .order_by(CallbackOutcome.recorded_at.desc(), CallbackOutcome.id.desc())
            .limit(1)
        )
        satisfaction = current.satisfaction if current is not None else None
    answer = (await latest_answers(session, [job.id], "satisfaction")).get(job.id)
    return LoopOut(
        job_id=job.id,
        status=JobStatus(job.status),
        closed=job.status == JobStatus.CLOSED,
        steps=steps,
        callback_id=task.id if task is not None else None,
        callback_result=task.result if task is not None else None,
        callback_satisfaction=satisfaction,
        customer_satisfaction=answer.value if answer is not None else None,
        customer_answered_at=answer.at if answer is not None else None,
        reopened=sum(1 for e in events if e.kind == "reopened"),
    )
