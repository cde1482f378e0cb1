"""A customer's whole history — appliances, visits, repairs, callbacks — for one customer
or a page of lookup results, with a fixed number of set-based queries:

1. the appliances of all the customers (``customer_id IN …``, ``ix_appliances_customer_id``);
2. their visible jobs with provider and technician names joined in (``customer_id IN …``,
   ``ix_jobs_customer_id``; names by primary key);
3. for repairs, the number of repairs per appliance, grouped in the database
   (``appliance_id IN …``, ``ix_jobs_appliance_id``);
4. for the brand's staff, the callbacks on those jobs and their current outcomes.

Never one query per customer or per job. Provider staff see only their own provider's
jobs inside a customer's history (``server.auth.scope.job_filter``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from server.auth.scope import job_filter
from server.context import RequestContext
from server.customers.convert import appliance_out, customer_out, local_today
from server.customers.schemas import (
    ApplianceOut,
    CallbackSummary,
    CustomerHistory,
    NamedRef,
    VisitOut,
)
from server.db.models import (
    Appliance,
    CallbackOutcome,
    CallbackTask,
    City,
    Customer,
    Job,
    Provider,
    User,
)
from sync.vocabulary import JobKind

__all__ = ["load_histories"]


async def load_histories(
    session: AsyncSession, ctx: RequestContext, customers: list[tuple[Customer, City]]
) -> list[CustomerHistory]:
    """The history of each customer, in the order given."""
    if not customers:
        return []
    p = ctx.principal
    ids = [customer.id for customer, _ in customers]
    today = {customer.id: local_today(ctx.now, city.timezone) for customer, city in customers}

    appliances: dict[uuid.UUID, list[ApplianceOut]] = defaultdict(list)
    for appliance in await session.scalars(
        select(Appliance)
        .where(Appliance.customer_id.in_(ids))
        .order_by(Appliance.created_at, Appliance.id)
    ):
        appliances[appliance.customer_id].append(
            appliance_out(appliance, today[appliance.customer_id])
        )

    technician = aliased(User)
    job_rows = (
        await session.execute(
            select(
                Job.id,
                Job.customer_id,
                Job.number,
                Job.kind,
                Job.status,
                Job.priority,
                Job.window_start,
                Job.window_end,
                Job.provider_id,
                Provider.name.label("provider_name"),
                Job.technician_id,
                technician.full_name.label("technician_name"),
                Job.appliance_id,
                Job.previous_job_id,
                Job.created_at,
                Job.completed_at,
                Job.unable_reason,
            )
            .outerjoin(Provider, Provider.id == Job.provider_id)
            .outerjoin(technician, technician.id == Job.technician_id)
            .where(Job.customer_id.in_(ids), job_filter(p))
            .order_by(Job.created_at.desc(), Job.id.desc())
        )
    ).all()

    repaired = {
        row.appliance_id
        for row in job_rows
        if row.kind == JobKind.REPAIR and row.appliance_id is not None
    }
    repairs: dict[uuid.UUID, int] = {}
    if repaired:
        counted = await session.execute(
            select(Job.appliance_id, func.count())
            .where(Job.appliance_id.in_(repaired), Job.kind == JobKind.REPAIR, job_filter(p))
            .group_by(Job.appliance_id)
        )
        repairs = {aid: count for aid, count in counted if aid is not None}

    jobs: dict[uuid.UUID, list[VisitOut]] = defaultdict(list)
    for row in job_rows:
        is_counted = row.kind == JobKind.REPAIR and row.appliance_id is not None
        jobs[row.customer_id].append(
            VisitOut(
                id=row.id,
                number=row.number,
                kind=row.kind,
                status=row.status,
                priority=row.priority,
                window_start=row.window_start,
                window_end=row.window_end,
                provider=(
                    NamedRef(id=row.provider_id, name=row.provider_name)
                    if row.provider_id is not None
                    else None
                ),
                technician=(
                    NamedRef(id=row.technician_id, name=row.technician_name)
                    if row.technician_id is not None
                    else None
                ),
                appliance_id=row.appliance_id,
                previous_job_id=row.previous_job_id,
                created_at=row.created_at,
                completed_at=row.completed_at,
                unable_reason=row.unable_reason,
                appliance_repair_count=repairs.get(row.appliance_id) if is_counted else None,
            )
        )

    callbacks = await _callbacks(session, ids) if p.sees_everything else {}
    return [
        CustomerHistory(
            customer=customer_out(customer, city),
            appliances=appliances.get(customer.id, []),
            jobs=jobs.get(customer.id, []),
            callbacks=callbacks.get(customer.id, []),
        )
        for customer, city in customers
    ]


async def _callbacks(
    session: AsyncSession, ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[CallbackSummary]]:
    """4. the callbacks on their jobs with each one's current outcome (the latest entry no
    other entry corrects), in two set-based queries."""
    rows = (
        await session.execute(
            select(CallbackTask, Job.customer_id)
            .join(Job, Job.id == CallbackTask.job_id)
            .where(Job.customer_id.in_(ids))
            .order_by(CallbackTask.created_at.desc(), CallbackTask.id)
        )
    ).all()
    task_ids = [t.id for t, _ in rows]
    satisfaction: dict[uuid.UUID, str | None] = {}
    if task_ids:
        corrected = select(CallbackOutcome.corrects_id).where(
            CallbackOutcome.task_id.in_(task_ids), CallbackOutcome.corrects_id.is_not(None)
        )
        for o in await session.scalars(
            select(CallbackOutcome)
            .where(CallbackOutcome.task_id.in_(task_ids), CallbackOutcome.id.not_in(corrected))
            .order_by(CallbackOutcome.recorded_at)
        ):
            satisfaction[o.task_id] = o.satisfaction
    out: dict[uuid.UUID, list[CallbackSummary]] = defaultdict(list)
    for t, customer_id in rows:
        out[customer_id].append(
            CallbackSummary(
                id=t.id,
                job_id=t.job_id,
                kind=t.kind,
                state=t.state,
                result=t.result,
                satisfaction=satisfaction.get(t.id),
                created_at=t.created_at,
                closed_at=t.closed_at,
            )
        )
    return out
