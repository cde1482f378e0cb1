"""SLA escalation: alerts before and when an urgent job's clock runs out.

One round (``escalate``, run by the app's maintenance loop every
``maintenance_interval`` seconds, the clock passed in):

- **due soon** (the city's ``contact_warn_minutes`` / ``onsite_warn_minutes`` before,
  10 and 30 by default): the assigned technician's phone is poked (it pulls and shows
  the job) and the provider's dispatchers and managers are alerted (a
  ``dispatch_alerts`` row with ``audience: provider``, and an SMS in the outbox to each
  one's phone);
- **run out**: the call center's dispatchers are alerted (``audience: call_center``),
  the job is marked breached (``jobs.sla_breached_at`` and an ``sla_breached`` history
  entry), and — when the city says ``redispatch_urgent`` and it is the on-site clock —
  the job goes to another technician who is free now (``redispatch`` choice).

Each (job, alert kind) is raised once (a unique key), so rounds may overlap or repeat.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.dialect import insert_for
from server.db.models import City, CityDispatch, DispatchAlert, Job, Notification, User
from server.db.models.user import Role
from server.dispatch import assign
from server.dispatch.calendar import city_zone
from server.i18n import DEFAULT_LOCALE, t
from server.jobs.history import record_change
from sync.pokes import add_pokes
from sync.vocabulary import CLOSED_STATUSES, JobPriority, JobStatus

__all__ = ["ALERT_KINDS", "Round", "escalate"]

ALERT_KINDS = ("contact_due_soon", "onsite_due_soon", "contact_breached", "onsite_breached")
BATCH = 500


@dataclass(slots=True)
class Round:
    """What one round did."""

    alerts: list[uuid.UUID] = field(default_factory=list)
    breached: list[uuid.UUID] = field(default_factory=list)
    redispatched: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    """job id → the technician it went to."""
    poked: set[uuid.UUID] = field(default_factory=set)


async def escalate(session: AsyncSession, now: datetime, *, default_capacity: int = 0) -> Round:
    """One round at ``now``, in the caller's transaction (commit, then publish the
    pokes collected in ``session.info``)."""
    out = Round()
    longest = await _longest_warning(session)
    horizon = now + timedelta(minutes=longest)
    open_ = Job.status.not_in([*CLOSED_STATUSES, JobStatus.UNABLE_TO_COMPLETE])
    jobs = list(
        await session.scalars(
            select(Job)
            .where(
                Job.priority == JobPriority.URGENT,
                open_,
                or_(
                    (Job.contacted_at.is_(None) & (Job.contact_due_at <= horizon)),
                    (Job.arrived_at.is_(None) & (Job.onsite_due_at <= horizon)),
                ),
            )
            .order_by(Job.onsite_due_at, Job.id)
            .limit(BATCH)
        )
    )
    if not jobs:
        return out
    raised = {
        (jid, kind)
        for jid, kind in (
            await session.execute(
                select(DispatchAlert.job_id, DispatchAlert.kind).where(
                    DispatchAlert.job_id.in_([j.id for j in jobs])
                )
            )
        ).all()
    }
    cities = {j.city_id for j in jobs}
    settings = {c: await assign.city_settings(session, c) for c in cities}
    zones = {
        c.id: city_zone(c.timezone)
        for c in await session.scalars(select(City).where(City.id.in_(cities)))
    }
    for job in jobs:
        cfg = settings[job.city_id]
        zone = zones.get(job.city_id) or city_zone(None)
        clocks = []
        if job.contacted_at is None and job.contact_due_at is not None:
            clocks.append(("contact", job.contact_due_at, cfg.contact_warn_minutes))
        if job.arrived_at is None and job.onsite_due_at is not None:
            clocks.append(("onsite", job.onsite_due_at, cfg.onsite_warn_minutes))
        for clock, due, warn in clocks:
            params = {"number": job.number, "due": f"{due.astimezone(zone):%H:%M}"}
            if due <= now:
                kind = f"{clock}_breached"
                if (job.id, kind) in raised:
                    continue
                data: dict[str, object] = {"clock": clock}
                if clock == "onsite" and cfg.redispatch_urgent:
                    moved = await _redispatch(session, job, now, default_capacity)
                    if moved is not None:
                        data["redispatched_to"] = str(moved)
                        out.redispatched[job.id] = moved
                if await _raise(session, out, job, kind, "call_center", due, now, params, data):
                    await _breach(session, out, job, clock, due, now)
            elif due - timedelta(minutes=warn) <= now:
                kind = f"{clock}_due_soon"
                if (job.id, kind) in raised or (job.id, f"{clock}_breached") in raised:
                    continue
                audience = "provider" if job.provider_id else "call_center"
                raised_now = await _raise(session, out, job, kind, audience, due, now, params, {})
                if raised_now and job.technician_id is not None:
                    add_pokes(session, [job.technician_id])
                    out.poked.add(job.technician_id)
    await session.flush()
    return out


async def _longest_warning(session: AsyncSession) -> int:
    row = (
        await session.execute(
            select(
                func.max(CityDispatch.contact_warn_minutes),
                func.max(CityDispatch.onsite_warn_minutes),
            )
        )
    ).one()
    return max(30, int(row[0] or 0), int(row[1] or 0))


async def _raise(
    session: AsyncSession,
    out: Round,
    job: Job,
    kind: str,
    audience: str,
    due: datetime,
    now: datetime,
    params: dict[str, str],
    data: dict[str, object],
) -> bool:
    """Insert the alert once (a concurrent round may have raised it: then nothing) and
    queue its SMS to the people it is for. True when this round raised it."""
    message = t(DEFAULT_LOCALE, "dispatch_alert", kind, default=kind, **params)
    alert_id = uuid.uuid4()
    insert = insert_for(session)
    result = await session.execute(
        insert(DispatchAlert)
        .values(
            id=alert_id,
            job_id=job.id,
            kind=kind,
            audience=audience,
            provider_id=job.provider_id,
            technician_id=job.technician_id,
            due_at=due,
            raised_at=now,
            message=message,
            data={**data, "params": params},
        )
        .on_conflict_do_nothing(index_elements=["job_id", "kind"])
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    out.alerts.append(alert_id)
    if audience == "provider":
        who = (User.provider_id == job.provider_id) & User.role.in_(
            [Role.DISPATCHER, Role.PROVIDER_MANAGER]
        )
    else:
        who = (User.provider_id.is_(None)) & (User.role == Role.DISPATCHER)
    for phone in await session.scalars(
        select(User.phone).where(who, User.active.is_(True), User.phone.is_not(None)).limit(20)
    ):
        session.add(
            Notification(
                template=f"sla_{kind}",
                recipient=phone,
                body=message,
                params={**params, "alert_id": str(alert_id)},
                job_id=job.id,
                created_at=now,
            )
        )
    return True


async def _breach(
    session: AsyncSession, out: Round, job: Job, clock: str, due: datetime, now: datetime
) -> None:
    first = job.sla_breached_at is None
    if first:
        job.sla_breached_at = now
    out.breached.append(job.id)
    await record_change(
        session,
        job,
        "sla_breached",
        {"clock": clock, "due_at": due.isoformat(), "first": first},
        now=now,
        actor_id=None,
        actor_role=None,
        source="system",
    )


async def _redispatch(
    session: AsyncSession, job: Job, now: datetime, default_capacity: int
) -> uuid.UUID | None:
    """Give the urgent job to another technician free now; None if nobody is."""
    exclude = frozenset({job.technician_id}) if job.technician_id else frozenset()
    choice = await assign.choose(
        session,
        job,
        trigger="redispatch",
        now=now,
        default_capacity=default_capacity,
        mode="auto",
        exclude=exclude,
        require_free_now=True,
        any_provider=True,
    )
    if choice is None or choice.state != "applied":
        return None
    return choice.technician_id
