"""Fee policies, service checklists and knowledge articles: reference material admins
write and everyone (phones included) reads.

Checklists and articles carry a ``version`` that grows with every replacement, so a
phone can tell its offline copy is stale.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.admin.schemas import ChecklistIn, FeePolicyIn, KbArticleIn
from server.context import RequestContext
from server.db.models import Checklist, City, FeePolicy, Job, KbArticle
from server.errors import Invalid, NotFound
from server.jobs import hooks
from sync.vocabulary import ApplianceCategory, JobKind

__all__ = [
    "ANY_CATEGORY",
    "create_article",
    "get_fee_policy",
    "list_articles",
    "list_checklists",
    "put_checklist",
    "put_fee_policy",
    "replace_article",
]

ANY_CATEGORY = "*"
"""A checklist for every appliance category of a job kind."""


JOB_KINDS = frozenset(k.value for k in JobKind)
CATEGORIES = frozenset(c.value for c in ApplianceCategory) | {ANY_CATEGORY}


def _unique_codes(codes: Iterable[str]) -> None:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise Invalid(
                "duplicate_item", f"The item code {code!r} appears twice.", {"code": code}
            )
        seen.add(code)


# --- fee policies -------------------------------------------------------------------


async def _city(session: AsyncSession, city_id: uuid.UUID) -> City:
    city = await session.get(City, city_id)
    if city is None:
        raise NotFound("city", city_id)
    return city


async def get_fee_policy(
    session: AsyncSession, ctx: RequestContext, city_id: uuid.UUID
) -> FeePolicy:
    await _city(session, city_id)
    policy = await session.scalar(select(FeePolicy).where(FeePolicy.city_id == city_id))
    if policy is None:
        missing = NotFound("fee_policy", city_id)
        missing.message = "This city has no fee policy yet."
        raise missing
    return policy


async def put_fee_policy(
    session: AsyncSession, ctx: RequestContext, city_id: uuid.UUID, data: FeePolicyIn
) -> FeePolicy:
    """Create the city's fee policy, or replace it whole."""
    await _city(session, city_id)
    _unique_codes(i.code for i in data.items)
    policy = await session.scalar(
        select(FeePolicy).where(FeePolicy.city_id == city_id).with_for_update()
    )
    if policy is None:
        policy = FeePolicy(city_id=city_id)
        session.add(policy)
    policy.currency = data.currency
    policy.visit_fee = data.visit_fee
    policy.visit_fee_in_warranty = data.visit_fee_in_warranty
    policy.items = msgspec.to_builtins(data.items)
    policy.very_satisfied_bonus = data.very_satisfied_bonus
    policy.false_report_fine = data.false_report_fine
    policy.updated_at = ctx.now
    await session.flush()
    await hooks.packets_stale(session, Job.city_id == city_id)
    return policy


# --- checklists ---------------------------------------------------------------------


async def list_checklists(session: AsyncSession, ctx: RequestContext) -> Sequence[Checklist]:
    stmt = select(Checklist).order_by(Checklist.job_kind, Checklist.category)
    return (await session.scalars(stmt)).all()


async def put_checklist(
    session: AsyncSession, ctx: RequestContext, job_kind: str, category: str, data: ChecklistIn
) -> Checklist:
    """Create or replace the checklist of a job kind (and appliance category)."""
    if job_kind not in JOB_KINDS:
        raise Invalid(
            "unknown_job_kind",
            f"{job_kind!r} is not a job kind: {', '.join(JobKind)}.",
            {"job_kind": job_kind},
        )
    if category not in CATEGORIES:
        raise Invalid(
            "unknown_category",
            f"{category!r} is not an appliance category ({', '.join(ApplianceCategory)}) "
            f"nor {ANY_CATEGORY!r}.",
            {"category": category},
        )
    _unique_codes(i.code for i in data.items)
    checklist = await session.scalar(
        select(Checklist)
        .where(Checklist.job_kind == job_kind, Checklist.category == category)
        .with_for_update()
    )
    if checklist is None:
        checklist = Checklist(job_kind=job_kind, category=category, version=1)
        session.add(checklist)
    else:
        checklist.version += 1
    checklist.items = msgspec.to_builtins(data.items)
    checklist.updated_at = ctx.now
    await session.flush()
    await hooks.packets_stale(session, Job.kind == job_kind)
    return checklist


# --- knowledge articles -------------------------------------------------------------


async def list_articles(
    session: AsyncSession, ctx: RequestContext, category: str | None
) -> Sequence[KbArticle]:
    stmt = select(KbArticle).order_by(KbArticle.category, KbArticle.title, KbArticle.id)
    if category is not None:
        stmt = stmt.where(KbArticle.category == category)
    return (await session.scalars(stmt)).all()


async def create_article(
    session: AsyncSession, ctx: RequestContext, data: KbArticleIn
) -> KbArticle:
    article = KbArticle(
        category=data.category, title=data.title, body=data.body, version=1, updated_at=ctx.now
    )
    session.add(article)
    await session.flush()
    await hooks.kb_article_changed(session, article, None)
    return article


async def replace_article(
    session: AsyncSession, ctx: RequestContext, article_id: uuid.UUID, data: KbArticleIn
) -> KbArticle:
    article = await session.scalar(
        select(KbArticle).where(KbArticle.id == article_id).with_for_update()
    )
    if article is None:
        raise NotFound("kb_article", article_id)
    old_category = article.category
    article.category = data.category
    article.title = data.title
    article.body = data.body
    article.version += 1
    article.updated_at = ctx.now
    await session.flush()
    await hooks.kb_article_changed(session, article, old_category)
    return article
