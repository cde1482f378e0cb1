"""``/maintenance``: plans of recurring services, what is due, overdue and done."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal

import msgspec
from litestar import Controller, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import STAFF, allow
from server.context import RequestContext
from server.db.models import (
    Appliance,
    Customer,
    Job,
    MaintenancePlan,
    MaintenanceSchedule,
    MaintenanceTask,
)
from server.db.models.user import Role
from server.errors import Invalid, NotFound
from server.maintenance import service
from server.maintenance.schemas import (
    Part,
    PlanCreate,
    PlanOut,
    PlanPage,
    RunOut,
    ScheduleOut,
    SchedulePage,
    TaskOut,
)

__all__ = ["MaintenanceController"]

ADMIN_ONLY = allow(Role.ADMIN)
SEE = allow(STAFF)
WRITERS = allow(Role.ADMIN, Role.DISPATCHER)


def _plan_out(plan: MaintenancePlan, tasks: list[MaintenanceTask]) -> PlanOut:
    return PlanOut(
        id=plan.id,
        name=plan.name,
        category=plan.category,
        brand=plan.brand,
        model=plan.model,
        appliance_id=plan.appliance_id,
        active=plan.active,
        created_at=plan.created_at,
        tasks=[
            TaskOut(
                id=t.id,
                name=t.name,
                interval_days=t.interval_days,
                usage_interval=t.usage_interval,
                usage_unit=t.usage_unit,
                parts=msgspec.convert(t.parts, list[Part]),
                lead_days=t.lead_days,
                description=t.description,
            )
            for t in tasks
        ],
    )


async def _tasks(
    db: AsyncSession, plan_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[MaintenanceTask]]:
    out: dict[uuid.UUID, list[MaintenanceTask]] = {p: [] for p in plan_ids}
    for t in await db.scalars(
        select(MaintenanceTask)
        .where(MaintenanceTask.plan_id.in_(plan_ids))
        .order_by(MaintenanceTask.name, MaintenanceTask.id)
    ):
        out[t.plan_id].append(t)
    return out


class MaintenanceController(Controller):
    path = "/maintenance"
    tags = ["maintenance"]

    @get("/plans", guards=[SEE])
    async def list_plans(self, db: AsyncSession) -> PlanPage:
        """Every maintenance plan with its recurring services."""
        plans = list(await db.scalars(select(MaintenancePlan).order_by(MaintenancePlan.name)))
        tasks = await _tasks(db, [p.id for p in plans])
        return PlanPage(items=[_plan_out(p, tasks[p.id]) for p in plans])

    @post("/plans", guards=[ADMIN_ONLY], status_code=HTTP_201_CREATED)
    async def create_plan(self, db: AsyncSession, ctx: RequestContext, data: PlanCreate) -> PlanOut:
        """Create a plan for an appliance model (category, and brand and model when
        given) or for one appliance: the recurring services, each with its interval and
        the parts it needs. The next periodic run schedules the matching appliances."""
        if data.appliance_id is not None and await db.get(Appliance, data.appliance_id) is None:
            raise Invalid("unknown_appliance", "No appliance with that id.")
        plan = MaintenancePlan(
            id=uuid.uuid4(),
            name=data.name,
            category=data.category.value,
            brand=data.brand,
            model=data.model,
            appliance_id=data.appliance_id,
            active=True,
            created_at=ctx.now,
        )
        db.add(plan)
        await db.flush()
        tasks = [
            MaintenanceTask(
                id=uuid.uuid4(),
                plan_id=plan.id,
                name=t.name,
                interval_days=t.interval_days,
                usage_interval=t.usage_interval,
                usage_unit=t.usage_unit,
                parts=msgspec.to_builtins(t.parts),
                lead_days=t.lead_days,
                description=t.description,
            )
            for t in data.tasks
        ]
        db.add_all(tasks)
        await db.flush()
        return _plan_out(plan, tasks)

    @get("/plans/{plan_id:uuid}", guards=[SEE])
    async def get_plan(self, db: AsyncSession, plan_id: uuid.UUID) -> PlanOut:
        """One plan."""
        plan = await db.get(MaintenancePlan, plan_id)
        if plan is None:
            raise NotFound("maintenance_plan", plan_id)
        return _plan_out(plan, (await _tasks(db, [plan.id]))[plan.id])

    @post("/run", guards=[ADMIN_ONLY], status_code=HTTP_200_OK)
    async def run_now(self, db: AsyncSession, ctx: RequestContext) -> RunOut:
        """Run the periodic task now: schedule appliances newly under a plan, create the
        maintenance jobs due within their lead time (routed to the installer, a window
        offered, the customer told). The server does this by itself every maintenance
        round; this is for an operator."""
        report = await service.run(db, ctx.now, ctx.settings)
        return RunOut(scheduled=report.scheduled, created=report.created)

    @get("/schedule", guards=[SEE])
    async def schedule(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        due_state: Annotated[
            Literal["due", "overdue", "done", "upcoming"] | None,
            Parameter(
                query="state",
                description="due (within lead time or a job open), overdue, done, upcoming",
            ),
        ] = None,
        city_id: uuid.UUID | None = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> SchedulePage:
        """What maintenance is due, overdue and done, soonest due first. Provider staff
        see the appliances their provider installed or has a job for."""
        today = ctx.now.date()
        q = (
            select(MaintenanceSchedule, MaintenanceTask, MaintenancePlan, Appliance, Customer, Job)
            .join(MaintenanceTask, MaintenanceTask.id == MaintenanceSchedule.task_id)
            .join(MaintenancePlan, MaintenancePlan.id == MaintenanceTask.plan_id)
            .join(Appliance, Appliance.id == MaintenanceSchedule.appliance_id)
            .join(Customer, Customer.id == Appliance.customer_id)
            .outerjoin(Job, Job.id == MaintenanceSchedule.job_id)
        )
        where = []
        if city_id is not None:
            where.append(Customer.city_id == city_id)
        p = ctx.principal
        if not p.sees_everything:
            where.append(
                (Appliance.installer_provider_id == p.provider_id)
                | (Job.provider_id == p.provider_id)
            )
        state = due_state
        if state == "overdue":
            where.append(MaintenanceSchedule.due_on < today)
        elif state == "due":
            where.append(MaintenanceSchedule.due_on >= today)
            where.append(
                MaintenanceSchedule.job_id.is_not(None)
                | (MaintenanceSchedule.due_on <= today + timedelta(days=90))
            )
        elif state == "done":
            where.append(MaintenanceSchedule.last_done_on.is_not(None))
            where.append(MaintenanceSchedule.job_id.is_(None))
            where.append(MaintenanceSchedule.due_on >= today)
        rows = (
            await db.execute(
                q.where(*where).order_by(MaintenanceSchedule.due_on, MaintenanceSchedule.id)
            )
        ).all()
        items = []
        for s, t, plan, a, c, j in rows:
            st = service.schedule_state(s, j.status if j else None, today, t.lead_days)
            if state is not None and st != state:
                continue
            items.append(
                ScheduleOut(
                    id=s.id,
                    state=st,  # type: ignore[arg-type]
                    due_on=s.due_on,
                    last_done_on=s.last_done_on,
                    task=t.name,
                    plan=plan.name,
                    parts=msgspec.convert(t.parts, list[Part]),
                    appliance_id=a.id,
                    appliance=" ".join(x for x in (a.brand, a.model) if x) or a.category,
                    customer_id=c.id,
                    customer_name=c.name,
                    city_id=c.city_id,
                    job_id=j.id if j else None,
                    job_number=j.number if j else None,
                    job_status=j.status if j else None,
                    last_job_id=s.last_job_id,
                )
            )
        return SchedulePage(
            items=items[offset : offset + limit], total=len(items), limit=limit, offset=offset
        )
