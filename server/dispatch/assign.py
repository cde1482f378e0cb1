"""Automatic assignment, explainable: who should take a job, and why, in words.

``rank_candidates`` is the one scoring function (the candidates endpoint, the automatic
choice, the SLA re-dispatch and the day planner all use it). It ranks the active
technicians of the providers that may take the job:

- **provider**: covers the job's city, and — when it has service areas there — the
  customer's address lies in one of them; not over an area's ``daily_jobs`` for that
  day; its quality over the last 90 days (very-satisfied rate of confirmed completions,
  violations) weighs in;
- **technician**: the appliance's installer first; complaints (third repair within 30
  days) only to seniors; distance from the last fix of the day (else the home position);
  open jobs; free time in the window (calendar, leave, other appointments); a technician
  whose claim this customer contradicted is not sent back to them.

Reasons are stored as codes with parameters (``{"code": "installer", "params": {}}``) and
rendered in the reader's locale by ``server.i18n`` (``msgctxt "dispatch_reason"``); the
stored ``summary`` is in the brand's default locale. Ineligible technicians are listed
after every eligible one, with the reasons that rule them out.

The ranking itself is ``server.dispatch.ranking`` (a fixed number of indexed queries per
job, whatever the number of technicians; the automatic choice scores only as many
technicians as it takes to be sure of the first ten).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import CityDispatch, DispatchChoice, Job
from server.dispatch.ranking import Ranked, Reason, rank, render
from server.i18n import DEFAULT_LOCALE
from server.jobs.history import record_change
from server.jobs.lifecycle import FIELD_ACTIVE
from sync.vocabulary import JobStatus

__all__ = [
    "MODES",
    "Ranked",
    "Reason",
    "apply_choice",
    "choose",
    "city_settings",
    "rank_candidates",
    "render",
]

MODES = ("auto", "suggest", "manual")
DEFAULT_MODE = "suggest"
RANKING_KEPT = 10
"""How many candidates a stored choice keeps."""


async def city_settings(session: AsyncSession, city_id: uuid.UUID) -> CityDispatch:
    """The city's dispatch settings (defaults, not stored, when it has none)."""
    row = await session.get(CityDispatch, city_id)
    if row is not None:
        return row
    return CityDispatch(
        city_id=city_id,
        mode=DEFAULT_MODE,
        contact_warn_minutes=10,
        onsite_warn_minutes=30,
        redispatch_urgent=False,
    )


async def rank_candidates(
    session: AsyncSession,
    job: Job,
    *,
    now: datetime,
    default_capacity: int = 0,
    provider_ids: list[uuid.UUID] | None = None,
    exclude: frozenset[uuid.UUID] = frozenset(),
) -> list[Ranked]:
    """Every active technician who could be sent to ``job``, best first, ineligible ones
    (with their ``blockers``) after all eligible ones. ``provider_ids`` narrows the
    providers considered (the job's own, or the caller's); ``exclude`` rules out
    technicians (the one an urgent job is taken from)."""
    found = await rank(
        session,
        job,
        now=now,
        default_capacity=default_capacity,
        provider_ids=provider_ids,
        exclude=exclude,
    )
    return found.ranked


async def apply_choice(
    session: AsyncSession,
    job: Job,
    best: Ranked,
    *,
    now: datetime,
    kind: str,
    choice_id: uuid.UUID,
    actor_id: uuid.UUID | None = None,
    actor_role: str | None = None,
) -> None:
    """Give ``job`` to the chosen technician (the system's act, in the history with the
    choice and its reasons)."""
    before = {
        "provider_id": str(job.provider_id) if job.provider_id else None,
        "technician_id": str(job.technician_id) if job.technician_id else None,
        "status": job.status,
    }
    previous = job.technician_id
    job.provider_id, job.technician_id = best.provider_id, best.technician_id
    if (
        job.status == JobStatus.NEW
        or job.status in FIELD_ACTIVE
        or job.status == JobStatus.UNABLE_TO_COMPLETE
    ):
        job.status = JobStatus.ASSIGNED
    await record_change(
        session,
        job,
        kind,
        {
            "before": before,
            "provider_id": str(best.provider_id),
            "technician_id": str(best.technician_id),
            "reason": best.summary(DEFAULT_LOCALE),
            "dispatch_choice_id": str(choice_id),
            "reasons": [r.as_dict() for r in best.reasons],
        },
        now=now,
        actor_id=actor_id,
        actor_role=actor_role,
        source="system",
        previous_technician=previous,
    )


async def choose(
    session: AsyncSession,
    job: Job,
    *,
    trigger: str,
    now: datetime,
    default_capacity: int = 0,
    mode: str | None = None,
    exclude: frozenset[uuid.UUID] = frozenset(),
    actor_id: uuid.UUID | None = None,
    actor_role: str | None = None,
    require_free_now: bool = False,
    any_provider: bool = False,
) -> DispatchChoice | None:
    """Make (and store) the automatic choice for ``job`` as its city's mode says:
    ``auto`` assigns at once, ``suggest`` stores a suggestion a dispatcher confirms,
    ``manual`` does nothing (None). Earlier open suggestions are superseded.
    ``require_free_now``: only a technician free within the next 15 minutes (an urgent
    re-dispatch); ``any_provider``: not only the job's provider's technicians."""
    if mode is None:
        mode = (await city_settings(session, job.city_id)).mode
    if mode not in ("auto", "suggest"):
        return None
    # Only the first RANKING_KEPT are stored, so only those are ranked (exactly as the full
    # ranking lists them); a re-dispatch needing someone free now may look further down.
    found = await rank(
        session,
        job,
        now=now,
        default_capacity=default_capacity,
        provider_ids=[job.provider_id] if job.provider_id and not any_provider else None,
        exclude=exclude,
        top=None if require_free_now else RANKING_KEPT,
    )
    ranked = found.ranked
    soon = now + timedelta(minutes=15)
    best = next(
        (
            r
            for r in ranked
            if r.eligible and (not require_free_now or (r.free and r.free[0][0] <= soon))
        ),
        None,
    )
    if trigger != "created":  # a job made in this transaction has no earlier suggestion
        await session.execute(
            update(DispatchChoice)
            .where(DispatchChoice.job_id == job.id, DispatchChoice.state == "suggested")
            .values(state="superseded")
            .execution_options(synchronize_session=False)
        )
    applied = best is not None and mode == "auto"
    choice = DispatchChoice(
        id=uuid.uuid4(),
        job_id=job.id,
        at=now,
        trigger=trigger,
        mode=mode,
        state="none" if best is None else ("applied" if mode == "auto" else "suggested"),
        provider_id=best.provider_id if best else None,
        technician_id=best.technician_id if best else None,
        summary=best.summary(DEFAULT_LOCALE) if best else render(Reason("nobody"), DEFAULT_LOCALE),
        reasons=[r.as_dict() for r in best.reasons] if best else [Reason("nobody").as_dict()],
        ranking=[c.as_dict() for c in ranked[:RANKING_KEPT]],
        decided_at=now if applied else None,
    )
    session.add(choice)
    await session.flush()
    if applied:
        assert best is not None
        kind = "assigned" if job.technician_id is None and job.provider_id is None else "reassigned"
        await apply_choice(
            session,
            job,
            best,
            now=now,
            kind=kind,
            choice_id=choice.id,
            actor_id=actor_id,
            actor_role=actor_role,
        )
    return choice
