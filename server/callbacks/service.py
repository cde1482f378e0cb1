"""Working the callback queue: list it by risk, take a task, record what the customer
said, correct an entry.

Rules in one place:
- only the brand's staff see callbacks; auditors and admins work them;
- a task is worked by the auditor who took it (a guarded update, so two auditors
  cannot both take it); the hold lapses after the policy's ``hold``;
- outcomes are never edited: a correction is a new entry naming the one it replaces,
  and only the task's current entry can be corrected;
- ``contradicted`` records a violation against the technician and the provider (the
  fine from the city's policy) and puts the job back to dispatch; correcting it away
  voids the violation (kept, with the entry that voided it);
- ``unreachable`` brings the task back after the next delay of the retry schedule,
  until the last attempt closes it;
- the loop closes (order → visit → callback → ``closed``): a completed job whose
  completion callback is done — confirmed, or the customer unreachable after the whole
  retry schedule — becomes ``closed``; a correction to ``contradicted`` reopens it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from server.auth.scope import require_brand_staff
from server.callbacks.policy import policy_of
from server.callbacks.schemas import OutcomeIn
from server.context import RequestContext
from server.db.models import (
    CallbackOutcome,
    CallbackTask,
    Customer,
    FeePolicy,
    Job,
    Provider,
    User,
    Violation,
)
from server.errors import Conflict, Invalid, NotFound
from server.jobs import hooks
from server.jobs.history import record_request_change
from sync.vocabulary import JobStatus

__all__ = ["CallbackService", "QueueFilters", "TaskRow", "held_now"]

FINAL = frozenset({"confirmed", "contradicted", "rescheduled"})
CLOSING_RESULTS = frozenset({"confirmed", "unreachable"})
"""A completion callback settled with one of these closes the job's loop."""
VIOLATION_KIND = {
    "not_home": "false_not_home",
    "completion": "false_completion",
    "unable": "false_unable",
    "status_check": "false_status",
}


@dataclass(frozen=True, slots=True)
class QueueFilters:
    state: str = "open"
    """``open`` (callable now), ``waiting`` (unreachable, called again later),
    ``done``, ``cancelled``, ``all``."""
    kind: str | None = None
    provider_id: uuid.UUID | None = None
    technician_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None
    mine: bool = False
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class TaskRow:
    """A task with the names the queue shows beside it."""

    task: CallbackTask
    job: Job
    customer_name: str
    technician_name: str | None
    provider_name: str | None
    holder_name: str | None


class CallbackService:
    def __init__(self, session: AsyncSession, ctx: RequestContext) -> None:
        self.s = session
        self.ctx = ctx
        self.p = ctx.principal
        require_brand_staff(self.p)

    # --- reading ------------------------------------------------------------------

    async def queue(self, f: QueueFilters) -> tuple[list[TaskRow], int]:
        """Callable tasks: not-home claims first, then by the probability that the claim is
        false, then deadline; other states newest first."""
        now = self.ctx.now
        where: list[Any] = []
        callable_now = or_(
            CallbackTask.next_attempt_at.is_(None), CallbackTask.next_attempt_at <= now
        )
        if f.state == "open":
            where += [CallbackTask.state == "open", callable_now]
        elif f.state == "waiting":
            where += [CallbackTask.state == "open", CallbackTask.next_attempt_at > now]
        elif f.state != "all":
            where.append(CallbackTask.state == f.state)
        for col, value in (
            (CallbackTask.kind, f.kind),
            (CallbackTask.provider_id, f.provider_id),
            (CallbackTask.technician_id, f.technician_id),
            (CallbackTask.job_id, f.job_id),
        ):
            if value is not None:
                where.append(col == value)
        if f.mine:
            where += [CallbackTask.holder_id == self.p.user_id, CallbackTask.held_until > now]
        total = (
            await self.s.scalar(select(func.count()).select_from(CallbackTask).where(*where)) or 0
        )
        if f.state == "open":
            # Not-home claims first (the mission), riskiest first, then deadlines.
            order = [
                case((CallbackTask.kind == "not_home", 0), else_=1),
                func.coalesce(
                    CallbackTask.risk_probability, CallbackTask.risk_score / 100.0
                ).desc(),
                CallbackTask.risk_score.desc(),
                CallbackTask.due_at,
                CallbackTask.created_at,
                CallbackTask.id,
            ]
        else:
            order = [CallbackTask.created_at.desc(), CallbackTask.id]
        rows = await self._rows(where, order, f.limit, f.offset)
        return rows, total

    async def get(self, task_id: uuid.UUID) -> TaskRow:
        rows = await self._rows([CallbackTask.id == task_id], [CallbackTask.id], 1, 0)
        if not rows:
            raise NotFound("callback", task_id)
        return rows[0]

    async def _rows(
        self, where: list[Any], order: list[Any], limit: int, offset: int
    ) -> list[TaskRow]:
        tech, holder = aliased(User), aliased(User)
        result = await self.s.execute(
            select(
                CallbackTask, Job, Customer.name, tech.full_name, Provider.name, holder.full_name
            )
            .join(Job, Job.id == CallbackTask.job_id)
            .join(Customer, Customer.id == Job.customer_id)
            .outerjoin(tech, tech.id == CallbackTask.technician_id)
            .outerjoin(Provider, Provider.id == CallbackTask.provider_id)
            .outerjoin(holder, holder.id == CallbackTask.holder_id)
            .where(*where)
            .order_by(*order)
            .limit(limit)
            .offset(offset)
        )
        return [TaskRow(t, j, c, tn, pn, hn) for t, j, c, tn, pn, hn in result.all()]

    async def outcomes(self, task_id: uuid.UUID) -> list[CallbackOutcome]:
        return list(
            await self.s.scalars(
                select(CallbackOutcome)
                .where(CallbackOutcome.task_id == task_id)
                .order_by(CallbackOutcome.recorded_at, CallbackOutcome.id)
            )
        )

    # --- taking -------------------------------------------------------------------

    async def take(self, task_id: uuid.UUID) -> CallbackTask:
        now = self.ctx.now
        hold = policy_of(self.s).hold
        result = await self.s.execute(
            update(CallbackTask)
            .where(
                CallbackTask.id == task_id,
                CallbackTask.state == "open",
                or_(
                    CallbackTask.holder_id.is_(None),
                    CallbackTask.held_until <= now,
                    CallbackTask.holder_id == self.p.user_id,
                ),
            )
            .values(holder_id=self.p.user_id, held_until=now + hold)
            .execution_options(synchronize_session=False)
        )
        task = await self._task(task_id, refresh=True)
        if result.rowcount != 1:  # type: ignore[attr-defined]
            if task.state != "open":
                raise Conflict(
                    "task_closed",
                    "This callback is already settled; record a correction to change it.",
                    {"state": task.state, "result": task.result},
                )
            await self._refuse_held(task)
        return task

    async def release(self, task_id: uuid.UUID) -> CallbackTask:
        task = await self._task(task_id)
        await self._ensure_holding(task)
        task.holder_id, task.held_until = None, None
        await self.s.flush()
        return task

    # --- outcomes -----------------------------------------------------------------

    async def record(self, task_id: uuid.UUID, data: OutcomeIn) -> CallbackOutcome:
        task = await self._task(task_id, lock=True)
        now = self.ctx.now
        previous: CallbackOutcome | None = None
        if data.corrects is not None:
            previous = await self.s.get(CallbackOutcome, data.corrects)
            if previous is None or previous.task_id != task.id:
                raise Invalid(
                    "correction_target_missing",
                    "There is no outcome with that id on this callback to correct.",
                    {"corrects": str(data.corrects)},
                )
            replaced_by = await self.s.scalar(
                select(CallbackOutcome.id).where(CallbackOutcome.corrects_id == previous.id)
            )
            if replaced_by is not None:
                raise Conflict(
                    "already_corrected",
                    "That entry was already corrected; correct the newer entry instead.",
                    {"corrected_by": str(replaced_by)},
                )
            current = await self._current(task.id)
            if current is None or current.id != previous.id:
                raise Conflict(
                    "not_current_outcome",
                    "Only the callback's current outcome can be corrected.",
                    {"current": str(current.id) if current else None},
                )
            if task.state == "open":
                await self._ensure_holding(task)
        else:
            if task.state != "open":
                current = await self._current(task.id)
                raise Conflict(
                    "task_closed",
                    "This callback is already settled; to change its outcome, record a "
                    "correction that refers to the current entry.",
                    {"state": task.state, "current": str(current.id) if current else None},
                )
            await self._ensure_holding(task)
        self._check(task, data)
        entry = CallbackOutcome(
            id=uuid.uuid4(),
            task_id=task.id,
            job_id=task.job_id,
            outcome=data.outcome,
            satisfaction=data.satisfaction,
            comment=data.comment,
            recorded_by=self.p.user_id,
            recorded_at=now,
            corrects_id=previous.id if previous else None,
        )
        self.s.add(entry)
        await self.s.flush()
        await self._settle(task, entry, previous)
        job = await self.s.get(Job, task.job_id)
        assert job is not None
        await self._history(
            job,
            "callback_outcome",
            {
                "task_id": str(task.id),
                "outcome_id": str(entry.id),
                "outcome": entry.outcome,
                "satisfaction": entry.satisfaction,
                "corrects": str(previous.id) if previous else None,
            },
            fact=True,
        )
        if data.outcome == "contradicted" and (
            previous is None or previous.outcome != "contradicted"
        ):
            await self._reopen(job, task, entry)
        else:
            await self._close_loop(job, task, entry)
        return entry

    def _check(self, task: CallbackTask, data: OutcomeIn) -> None:
        if data.satisfaction is not None and data.outcome != "confirmed":
            raise Invalid(
                "satisfaction_not_applicable",
                "Satisfaction is asked only when the customer confirms the visit.",
                {"outcome": data.outcome},
            )
        if task.kind == "completion" and data.outcome == "confirmed" and data.satisfaction is None:
            raise Invalid(
                "satisfaction_required",
                "Ask how satisfied the customer is: very_satisfied, satisfied or dissatisfied.",
            )

    async def _settle(
        self, task: CallbackTask, entry: CallbackOutcome, previous: CallbackOutcome | None
    ) -> None:
        now = self.ctx.now
        policy = policy_of(self.s)
        task.holder_id, task.held_until = None, None
        if entry.outcome == "unreachable":
            task.attempts += 1
            if task.attempts < policy.max_attempts:
                task.state, task.result, task.closed_at = "open", None, None
                task.next_attempt_at = now + policy.retry_delays[task.attempts - 1]
            else:
                task.state, task.result, task.closed_at = "done", "unreachable", now
                task.next_attempt_at = None
        else:
            task.state, task.result, task.closed_at = "done", entry.outcome, now
            task.next_attempt_at = None
        if previous is not None and previous.outcome == "contradicted":
            await self.s.execute(
                update(Violation)
                .where(Violation.outcome_id == previous.id, Violation.voided_at.is_(None))
                .values(voided_at=now, voided_by_outcome_id=entry.id)
                .execution_options(synchronize_session=False)
            )
        if entry.outcome == "contradicted":
            job = await self.s.get(Job, task.job_id)
            assert job is not None
            policy_row = await self.s.scalar(
                select(FeePolicy).where(FeePolicy.city_id == job.city_id)
            )
            self.s.add(
                Violation(
                    id=uuid.uuid4(),
                    job_id=task.job_id,
                    task_id=task.id,
                    outcome_id=entry.id,
                    kind=VIOLATION_KIND[task.kind],
                    technician_id=task.technician_id,
                    provider_id=task.provider_id,
                    fine_amount=policy_row.false_report_fine if policy_row else 0,
                    currency=policy_row.currency if policy_row else "CNY",
                    recorded_at=now,
                )
            )
        await self.s.flush()

    async def _reopen(self, job: Job, task: CallbackTask, entry: CallbackOutcome) -> None:
        """Put a job whose claim was contradicted back to dispatch: the technician loses
        it (the phone is told), the appointment is cleared, the provider keeps it until a
        dispatcher decides otherwise. A job already moved on since the claim is left be."""
        reopenable = {JobStatus.UNABLE_TO_COMPLETE, JobStatus.COMPLETED}
        if task.kind == "completion":
            reopenable.add(JobStatus.CLOSED)  # the loop had closed on this very callback
        if job.status not in reopenable:
            return
        before = {
            "status": job.status,
            "technician_id": str(job.technician_id) if job.technician_id else None,
        }
        previous_technician = job.technician_id
        job.status = JobStatus.ASSIGNED if job.provider_id else JobStatus.NEW
        job.technician_id = None
        job.window_start = job.window_end = None
        job.completed_at = None
        job.unable_reason = None
        await self._history(
            job,
            "reopened",
            {
                "reason": "callback_contradicted",
                "task_id": str(task.id),
                "outcome_id": str(entry.id),
                "before": before,
            },
            previous_technician=previous_technician,
        )
        await hooks.dispatch_wanted(
            self.s,
            job,
            trigger="reopened",
            now=self.ctx.now,
            default_capacity=self.ctx.settings.dispatch_default_jobs_per_window,
            actor_id=self.p.user_id,
            actor_role=self.p.role,
        )

    async def _close_loop(self, job: Job, task: CallbackTask, entry: CallbackOutcome) -> None:
        """``completed`` → ``closed`` when the job's completion callback is done with the
        customer confirmed or unreachable to the end of the retry schedule."""
        if task.kind != "completion" or task.state != "done" or job.status != JobStatus.COMPLETED:
            return
        if task.result not in CLOSING_RESULTS:
            return
        job.status = JobStatus.CLOSED
        await self._history(
            job,
            "closed",
            {
                "reason": f"callback_{task.result}",
                "task_id": str(task.id),
                "outcome_id": str(entry.id),
                "before": {"status": JobStatus.COMPLETED},
            },
        )

    # --- shared -------------------------------------------------------------------

    async def _task(
        self, task_id: uuid.UUID, *, lock: bool = False, refresh: bool = False
    ) -> CallbackTask:
        stmt = select(CallbackTask).where(CallbackTask.id == task_id)
        if lock:
            stmt = stmt.with_for_update()
        if refresh:
            stmt = stmt.execution_options(populate_existing=True)
        task = await self.s.scalar(stmt)
        if task is None:
            raise NotFound("callback", task_id)
        return task

    async def _current(self, task_id: uuid.UUID) -> CallbackOutcome | None:
        corrected = select(CallbackOutcome.corrects_id).where(
            CallbackOutcome.task_id == task_id, CallbackOutcome.corrects_id.is_not(None)
        )
        return await self.s.scalar(
            select(CallbackOutcome)
            .where(CallbackOutcome.task_id == task_id, CallbackOutcome.id.not_in(corrected))
            .order_by(CallbackOutcome.recorded_at.desc(), CallbackOutcome.id.desc())
            .limit(1)
        )

    async def _ensure_holding(self, task: CallbackTask) -> None:
        now = self.ctx.now
        if held_now(task, now) and task.holder_id == self.p.user_id:
            return
        await self._refuse_held(task)

    async def _refuse_held(self, task: CallbackTask) -> None:
        now = self.ctx.now
        if held_now(task, now) and task.held_until is not None:
            holder = await self.s.get(User, task.holder_id)
            raise Conflict(
                "task_held_by_other",
                f"{holder.full_name if holder else 'Another auditor'} is working this callback.",
                {"holder_id": str(task.holder_id), "held_until": task.held_until.isoformat()},
            )
        raise Conflict("task_not_taken", "Take the callback before recording its outcome.")

    async def _history(
        self,
        job: Job,
        kind: str,
        data: dict[str, Any],
        *,
        previous_technician: uuid.UUID | None = None,
        fact: bool = False,
    ) -> None:
        await record_request_change(
            self.s, self.ctx, job, kind, data, previous_technician=previous_technician, fact=fact
        )


def held_now(task: CallbackTask, now: datetime) -> bool:
    """Someone holds the task and the hold has not lapsed."""
    return task.holder_id is not None and task.held_until is not None and task.held_until > now
