"""Maintenance plans: the recurring services appliances need, and the jobs Doorstep makes
for them ahead of time.

``run(session, now, settings)`` is the periodic task (the app's maintenance loop, or
``doorstep maintenance-jobs``): for every active plan it keeps one schedule row per
matching appliance and task (first due ``interval_days`` after the install date, else
the purchase date, else when the appliance was recorded), and for every schedule due
within the task's ``lead_days`` with no open job it creates a ``maintenance`` job:

* made through ``JobService.create``, so dispatched as any new job: the automatic choice
  in the city's mode (``auto`` assigns, ``suggest`` proposes, ``manual`` leaves it), by
  the same rules — the appliance's installer first;
* booked into the first offered window from the due day (``OFFERED_WINDOWS``) the
  installer is free in (when they are still active and their provider still covers the
  city), else pending;
* carrying the task's parts (``Job.parts``: in the API and the phone's packet);
* the customer told (the ``maintenance_due`` message, in their locale).

Completing the job records the service as done and sets the next due date from that day;
cancelling it skips this round (next due one interval later).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.context import system_context
from server.db.engine import Database
from server.db.models import (
    Appliance,
    City,
    Customer,
    Job,
    JobEvent,
    MaintenancePlan,
    MaintenanceSchedule,
    MaintenanceTask,
    Provider,
    User,
)
from server.dispatch import calendar
from server.errors import Conflict
from server.jobs.schemas import JobCreate
from server.notifications.outbox import enqueue, window_text
from server.settings import Settings
from sync.vocabulary import JobKind, JobPriority, JobSource, JobStatus

__all__ = [
    "OFFERED_WINDOWS",
    "RunReport",
    "on_job_event",
    "run",
    "run_periodic",
    "schedule_state",
]

OFFERED_WINDOWS = ((time(10), time(12)), (time(14), time(16)))
"""Local windows offered to the customer, tried in order on the due day and the next
days until the installer is free."""
OFFER_DAYS = 5


@dataclass(slots=True)
class RunReport:
    scheduled: int = 0
    """Schedule rows added (appliances newly under a plan)."""
    created: list[str] = field(default_factory=list)
    """Job numbers made."""


def _base_day(appliance: Appliance) -> date:
    if appliance.install_date is not None:
        return appliance.install_date
    if appliance.purchase_date is not None:
        return appliance.purchase_date
    return appliance.created_at.date()


def _matches(plan: MaintenancePlan) -> Any:
    if plan.appliance_id is not None:
        return Appliance.id == plan.appliance_id
    clauses = [Appliance.category == plan.category]
    if plan.brand:
        clauses.append(Appliance.brand == plan.brand)
    if plan.model:
        clauses.append(Appliance.model == plan.model)
    return and_(*clauses)


def schedule_state(s: MaintenanceSchedule, job_status: str | None, today: date, lead: int) -> str:
    """``overdue`` (past its due day, not done), ``due`` (within the lead time, or a job
    is open), ``done`` (done and not yet due again), ``upcoming``."""
    if s.due_on < today:
        return "overdue"
    if s.job_id is not None or s.due_on - timedelta(days=lead) <= today:
        return "due"
    if s.last_done_on is not None:
        return "done"
    return "upcoming"


async def run_periodic(db: Database, now: datetime, settings: Settings) -> RunReport:
    """``run`` in its own transaction (the app's maintenance loop, the CLI)."""
    async with db.writer() as s:
        report = await run(s, now, settings)
        await s.commit()
    return report


async def run(session: AsyncSession, now: datetime, settings: Settings) -> RunReport:
    """Schedule appliances newly under a plan and create the jobs now due (idempotent:
    at most one open job per appliance and task)."""
    report = RunReport()
    plans = list(await session.scalars(select(MaintenancePlan).where(MaintenancePlan.active)))
    for plan in plans:
        tasks = list(
            await session.scalars(
                select(MaintenanceTask).where(
                    MaintenanceTask.plan_id == plan.id, MaintenanceTask.interval_days.is_not(None)
                )
            )
        )
        if not tasks:
            continue
        appliances = list(await session.scalars(select(Appliance).where(_matches(plan))))
        if not appliances:
            continue
        known = {
            (r.appliance_id, r.task_id)
            for r in await session.execute(
                select(MaintenanceSchedule.appliance_id, MaintenanceSchedule.task_id).where(
                    MaintenanceSchedule.task_id.in_([t.id for t in tasks])
                )
            )
        }
        for a in appliances:
            for t in tasks:
                if (a.id, t.id) in known:
                    continue
                assert t.interval_days is not None
                session.add(
                    MaintenanceSchedule(
                        id=uuid.uuid4(),
                        appliance_id=a.id,
                        task_id=t.id,
                        due_on=_base_day(a) + timedelta(days=t.interval_days),
                        updated_at=now,
                    )
                )
                report.scheduled += 1
    await session.flush()
    # Due within each task's lead time, no open job: make one.
    rows = (
        await session.execute(
            select(MaintenanceSchedule, MaintenanceTask)
            .join(MaintenanceTask, MaintenanceTask.id == MaintenanceSchedule.task_id)
            .join(MaintenancePlan, MaintenancePlan.id == MaintenanceTask.plan_id)
            .where(MaintenancePlan.active, MaintenanceSchedule.job_id.is_(None))
            .order_by(MaintenanceSchedule.due_on, MaintenanceSchedule.id)
            .with_for_update(of=MaintenanceSchedule, skip_locked=True)
        )
    ).all()
    for sched, task in rows:
        appliance = await session.get(Appliance, sched.appliance_id)
        if appliance is None:
            continue
        customer = await session.get(Customer, appliance.customer_id)
        if customer is None:
            continue
        city = await session.get(City, customer.city_id)
        zone = calendar.city_zone(city.timezone if city else None)
        today = now.astimezone(zone).date()
        if sched.due_on - timedelta(days=task.lead_days) > today:
            continue
        job = await _create_job(session, now, settings, sched, task, appliance, customer, zone)
        report.created.append(job.number)
    return report


async def _create_job(
    session: AsyncSession,
    now: datetime,
    settings: Settings,
    sched: MaintenanceSchedule,
    task: MaintenanceTask,
    appliance: Appliance,
    customer: Customer,
    zone: Any,
) -> Job:
    """The job, made through ``JobService.create`` as a desk's would be (history, repeat
    link, the phones' packets, and the automatic choice in the city's dispatch mode: the
    same rules, installer first), in the first window the installer is free in."""
    from server.jobs.service import JobService

    technician = await _installer(session, appliance, customer.city_id)
    probe = Job(id=uuid.uuid4(), city_id=customer.city_id)  # not added: checks the calendar
    window = await _offer(session, settings, probe, technician, sched.due_on, now, zone)
    service = JobService(session, system_context(settings, now))
    job = await service.create(
        JobCreate(
            customer_id=customer.id,
            kind=JobKind.MAINTENANCE,
            appliance_id=appliance.id,
            priority=JobPriority.NORMAL,
            source=JobSource.CALL,
            description=f"{task.name} (maintenance plan, due {sched.due_on.isoformat()})",
            window_start=window[0] if window else None,
            window_end=window[1] if window else None,
        ),
        parts=list(task.parts),
        history={
            "maintenance": {
                "schedule_id": str(sched.id),
                "task": task.name,
                "due_on": sched.due_on.isoformat(),
                "parts": list(task.parts),
            }
        },
    )
    sched.job_id = job.id
    sched.updated_at = now
    text = await window_text(session, job, job.window_start, job.window_end)
    await enqueue(session, job, "maintenance_due", {"service": task.name, "new_window": text})
    return job


async def _installer(
    session: AsyncSession, appliance: Appliance, city_id: uuid.UUID
) -> User | None:
    if appliance.installer_id is None:
        return None
    tech = await session.get(User, appliance.installer_id)
    if tech is None or not tech.active or tech.provider_id is None:
        return None
    provider = await session.get(Provider, tech.provider_id)
    if provider is None or not provider.active or city_id not in {c.id for c in provider.cities}:
        return None
    return tech


async def _offer(
    session: AsyncSession,
    settings: Settings,
    job: Job,
    technician: User | None,
    due_on: date,
    now: datetime,
    zone: Any,
) -> tuple[datetime, datetime] | None:
    """The first offered window from the due day (not before tomorrow) the technician is
    free in; with no technician the first one."""
    first = max(due_on, now.astimezone(zone).date() + timedelta(days=1))
    for d in range(OFFER_DAYS):
        day = first + timedelta(days=d)
        for a, b in OFFERED_WINDOWS:
            start = datetime.combine(day, a, tzinfo=zone)
            end = datetime.combine(day, b, tzinfo=zone)
            if technician is None:
                return start, end
            try:
                await calendar.check_booking(
                    session,
                    job,
                    technician,
                    start,
                    end,
                    None,
                    max(1, settings.dispatch_default_jobs_per_window),
                )
            except Conflict:
                continue
            return start, end
    return None


async def on_job_event(session: AsyncSession, job: Job, event: JobEvent) -> None:
    """A maintenance job completed: the service is done, next due one interval from that
    day. Cancelled: this round is skipped."""
    if job.kind != JobKind.MAINTENANCE or event.kind not in (
        JobStatus.COMPLETED.value,
        JobStatus.CANCELLED.value,
        "cancelled",
    ):
        return
    sched = await session.scalar(
        select(MaintenanceSchedule).where(MaintenanceSchedule.job_id == job.id)
    )
    if sched is None:
        return
    task = await session.get(MaintenanceTask, sched.task_id)
    interval = timedelta(days=(task.interval_days if task and task.interval_days else 365))
    if job.status == JobStatus.COMPLETED:
        city = await session.get(City, job.city_id)
        day = event.at.astimezone(calendar.city_zone(city.timezone if city else None)).date()
        sched.last_done_on, sched.last_job_id = day, job.id
        sched.due_on = day + interval
    else:
        sched.due_on = sched.due_on + interval
    sched.job_id = None
    sched.updated_at = event.at
    await session.flush()
