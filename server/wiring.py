"""Who listens to job changes (``server.jobs.hooks``): installed once at start-up by the
app, the CLI and the test suite. The one place that knows every feature, so the
features need not know each other."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Appliance, Job, KbArticle, User
from server.jobs import hooks

__all__ = ["install"]


async def _kb_article_changed(
    session: AsyncSession, article: KbArticle, old_category: str | None
) -> None:
    from sync import buckets

    await buckets.kb_article_changed(session, article)
    categories = {article.category} | ({old_category} if old_category else set())
    on_category = select(Appliance.id).where(Appliance.category.in_(categories))
    await buckets.refresh_jobs(session, Job.appliance_id.in_(on_category))


async def _check_assignment(session: AsyncSession, job: Job, technician: User) -> None:
    from server.jobs import repeats

    _ = session
    repeats.check_assignment(job, technician)


async def _dispatch_wanted(session: AsyncSession, job: Job, **kw: Any) -> None:
    from server.dispatch import assign

    await assign.choose(session, job, **kw)


def install() -> None:
    """Register every feature's handlers (idempotent)."""
    from server.audit import recorder
    from server.callbacks import tasks
    from server.dispatch import installs
    from server.maintenance import service as maintenance
    from sync import buckets

    hooks.register("job_changed", buckets.job_changed)
    hooks.register("job_recorded", tasks.on_job_event)
    hooks.register("job_recorded", installs.on_job_event)
    hooks.register("job_recorded", maintenance.on_job_event)
    hooks.register("evidence_changed", tasks.refresh_risk)
    hooks.register("packets_stale", buckets.refresh_jobs)
    hooks.register("kb_article_changed", _kb_article_changed)
    hooks.register("check_assignment", _check_assignment)
    hooks.register("dispatch_wanted", _dispatch_wanted)
    recorder.install()  # the audit trail of desk actions (session events)
