"""Fee policies, checklists and knowledge articles: admins write them, everyone reads
them (technicians' phones carry them offline)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get, post, put
from litestar.openapi.spec import Example
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.admin import policy_service as service
from server.admin.schemas import (
    ChecklistIn,
    ChecklistOut,
    FeePolicyIn,
    FeePolicyOut,
    KbArticleIn,
    KbArticleOut,
    checklist_out,
    fee_policy_out,
    kb_article_out,
)
from server.auth.guards import ANY_ROLE, allow
from server.context import RequestContext
from server.db.models import Role

__all__ = ["ChecklistController", "FeePolicyController", "KbArticleController"]

ADMIN = allow(Role.ADMIN)
READERS = allow(ANY_ROLE)


class FeePolicyController(Controller):
    path = "/cities/{city_id:uuid}/fee-policy"
    tags = ["fee policies"]

    @get(guards=[READERS])
    async def get_fee_policy(
        self, db: AsyncSession, ctx: RequestContext, city_id: uuid.UUID
    ) -> FeePolicyOut:
        """What a customer in this city may be charged, and the city's callback bonus and
        fine. Any signed-in role.

        404 `city_not_found` for an unknown city, `fee_policy_not_found` when it has no
        policy yet."""
        return fee_policy_out(await service.get_fee_policy(db, ctx, city_id))

    @put(guards=[ADMIN])
    async def put_fee_policy(
        self, db: AsyncSession, ctx: RequestContext, city_id: uuid.UUID, data: FeePolicyIn
    ) -> FeePolicyOut:
        """Set the city's fee policy, replacing any earlier one. Admins only.

        Amounts are integers in the currency's minor unit; item codes are unique (422
        `duplicate_item`)."""
        return fee_policy_out(await service.put_fee_policy(db, ctx, city_id, data))


class ChecklistController(Controller):
    path = "/checklists"
    tags = ["checklists"]

    @get(guards=[READERS])
    async def list_checklists(self, db: AsyncSession, ctx: RequestContext) -> list[ChecklistOut]:
        """Every service checklist, by job kind and appliance category. Any signed-in
        role."""
        return [checklist_out(c) for c in await service.list_checklists(db, ctx)]

    @put("/{job_kind:str}", guards=[ADMIN])
    async def put_checklist(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        job_kind: Annotated[
            str,
            Parameter(
                description="A job kind: delivery, install, repair, maintenance, relocation.",
                examples=[Example(value="install")],
            ),
        ],
        data: ChecklistIn,
        category: Annotated[
            str,
            Parameter(
                description="An appliance category, or `*` (the default) for all of them.",
                examples=[Example(value="smart_lock")],
            ),
        ] = service.ANY_CATEGORY,
    ) -> ChecklistOut:
        """Set the checklist of a job kind (and appliance category), replacing any
        earlier one and raising its `version`. Admins only.

        422 `unknown_job_kind`, `unknown_category`, or `duplicate_item` for a repeated
        item code."""
        return checklist_out(await service.put_checklist(db, ctx, job_kind, category, data))


class KbArticleController(Controller):
    path = "/kb-articles"
    tags = ["knowledge base"]

    @get(guards=[READERS])
    async def list_articles(
        self,
        db: AsyncSession,
        ctx: RequestContext,
        category: Annotated[
            str | None, Parameter(description="Only articles of this category.")
        ] = None,
    ) -> list[KbArticleOut]:
        """Knowledge articles, by category and title. Any signed-in role."""
        return [kb_article_out(a) for a in await service.list_articles(db, ctx, category)]

    @post(guards=[ADMIN])
    async def create_article(
        self, db: AsyncSession, ctx: RequestContext, data: KbArticleIn
    ) -> KbArticleOut:
        """Write a knowledge article. Admins only."""
        return kb_article_out(await service.create_article(db, ctx, data))

    @put("/{article_id:uuid}", guards=[ADMIN])
    async def replace_article(
        self, db: AsyncSession, ctx: RequestContext, article_id: uuid.UUID, data: KbArticleIn
    ) -> KbArticleOut:
        """Replace a knowledge article whole, raising its `version`. Admins only.

        404 `kb_article_not_found`."""
        return kb_article_out(await service.replace_article(db, ctx, article_id, data))
