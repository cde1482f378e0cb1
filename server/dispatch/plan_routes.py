"""``/dispatch/plans``: the day's plan, proposed by the solver, accepted by a
dispatcher."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import allow
from server.context import RequestContext
from server.db.models import DispatchPlan
from server.db.models.user import Role
from server.dispatch import plans
from server.dispatch.plan_schemas import PlanIn, PlanOut, PlanPage

__all__ = ["PlanController", "plan_out"]

DISPATCH = allow(Role.ADMIN, Role.DISPATCHER, Role.PROVIDER_MANAGER)


def plan_out(plan: DispatchPlan) -> PlanOut:
    return msgspec.convert(
        {
            "id": plan.id,
            "city_id": plan.city_id,
            "provider_id": plan.provider_id,
            "day": plan.day,
            "state": plan.state,
            "created_at": plan.created_at,
            "time_limit_s": plan.time_limit_s,
            "solve_s": plan.solve_s,
            "travel_m": plan.travel_m,
            "baseline_travel_m": plan.baseline_travel_m,
            "baseline_served": plan.baseline_served,
            "routes": plan.routes,
            "unassigned": plan.unassigned,
            "decided_at": plan.decided_at,
            "outcome": plan.outcome or None,
        },
        PlanOut,
        from_attributes=True,
        strict=False,
    )


class PlanController(Controller):
    path = "/dispatch/plans"
    tags = ["dispatch"]

    @post("/", guards=[DISPATCH], status_code=HTTP_201_CREATED)
    async def propose(self, db: AsyncSession, ctx: RequestContext, data: PlanIn) -> PlanOut:
        """Propose the day's plan for a city: the pending jobs of that local day (and the
        unbooked ones) given to technicians and ordered, honouring appointment windows,
        working hours, leave, skills (complaints to seniors) and urgent jobs' on-site
        clocks, minimising travel (OR-Tools routing; straight-line distance times 1.3 where
        no road network is configured). Nothing changes until the plan is accepted.
        Provider staff plan their own technicians and jobs."""
        plan = await plans.propose(db, ctx, data.city_id, data.day, data.time_limit_s)
        return plan_out(plan)

    @get("/", guards=[DISPATCH])
    async def list_plans(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        city_id: uuid.UUID,
        day: Annotated[date | None, Parameter(description="the local day")] = None,
    ) -> PlanPage:
        """A city's plans (of a day), newest first."""
        where = [DispatchPlan.city_id == city_id]
        if day is not None:
            where.append(DispatchPlan.day == day)
        if not ctx.principal.sees_everything:
            where.append(DispatchPlan.provider_id == ctx.principal.provider_id)
        rows = await db.scalars(
            select(DispatchPlan).where(*where).order_by(DispatchPlan.created_at.desc()).limit(20)
        )
        return PlanPage(items=[plan_out(p) for p in rows])

    @get("/{plan_id:uuid}", guards=[DISPATCH])
    async def get_plan(self, db: AsyncSession, ctx: RequestContext, plan_id: uuid.UUID) -> PlanOut:
        """One plan."""
        return plan_out(await plans.get_plan(db, ctx, plan_id))

    @post("/{plan_id:uuid}/accept", guards=[DISPATCH], status_code=HTTP_200_OK)
    async def accept(self, db: AsyncSession, ctx: RequestContext, plan_id: uuid.UUID) -> PlanOut:
        """Accept a proposed plan: each planned job is assigned to its technician and,
        if its appointment was pending, booked into the offered window (the customer is
        told, as for any booking); each change is in the job's history with the plan as
        its reason. A job changed since the plan was made is skipped (``outcome``).
        409 ``plan_not_open`` if the plan was already accepted or discarded."""
        return plan_out(await plans.accept(db, ctx, plan_id))

    @post("/{plan_id:uuid}/discard", guards=[DISPATCH], status_code=HTTP_200_OK)
    async def discard(self, db: AsyncSession, ctx: RequestContext, plan_id: uuid.UUID) -> PlanOut:
        """Discard a proposed plan (409 ``plan_not_open`` if already decided)."""
        return plan_out(await plans.discard(db, ctx, plan_id))
