"""Repeat repairs for the auditors: the list to review, and the review itself.

The rules (what is a repeat, what is a complaint) live in ``server.jobs.repeats``.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import allow
from server.context import RequestContext
from server.db.models import Job
from server.db.models.user import Role
from server.jobs import repeats
from server.jobs.routes import job_out
from server.jobs.schemas import RepeatLink, RepeatRepairOut, RepeatRepairPage, RepeatReviewIn
from server.jobs.service import JobService
from sync.vocabulary import JobStatus

__all__ = ["RepeatRepairController"]

R = Role


def repeat_out(job: Job, chain: list[Job], ctx: RequestContext) -> RepeatRepairOut:
    return RepeatRepairOut(
        job=job_out(job, ctx.now),
        chain=[
            RepeatLink(
                id=j.id,
                number=j.number,
                status=JobStatus(j.status),
                created_at=j.created_at,
                provider_id=j.provider_id,
                technician_id=j.technician_id,
            )
            for j in chain
        ],
    )


class RepeatRepairController(Controller):
    path = "/"
    tags = ["repeat repairs"]

    @get(
        "/audit/repeat-repairs",
        guards=[allow(R.AUDITOR, R.ADMIN, R.DISPATCHER, R.PROVIDER_MANAGER)],
    )
    async def list_repeats(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        reviewed: Annotated[
            bool | None,
            Parameter(description="false: still to review; true: reviewed; omitted: all"),
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> RepeatRepairPage:
        """Repeat repairs (a repair on an appliance repaired within the 30 days before),
        complaints (the third or later) first, then newest first, each with the repairs it
        repeats. Provider staff see their provider's jobs only."""
        rows, total = await repeats.search(db, ctx, reviewed=reviewed, limit=limit, offset=offset)
        return RepeatRepairPage(
            items=[repeat_out(j, chain, ctx) for j, chain in rows],
            total=total,
            limit=limit,
            offset=offset,
        )

    @post(
        "/jobs/{job_id:uuid}/repeat-review",
        guards=[allow(R.AUDITOR, R.ADMIN)],
        status_code=HTTP_200_OK,
    )
    async def review(
        self, db: AsyncSession, ctx: RequestContext, job_id: uuid.UUID, data: RepeatReviewIn
    ) -> RepeatRepairOut:
        """Mark a repeat repair reviewed, with what the auditor found (kept in the job's
        history). 409 ``not_a_repeat`` for a job that is not one, ``already_reviewed``
        the second time."""
        job = await JobService(db, ctx).get(job_id)
        chain = await repeats.review(db, ctx, job, data.note)
        return repeat_out(job, chain, ctx)
