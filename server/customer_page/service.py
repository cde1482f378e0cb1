"""What the customer's page shows and what its buttons do.

The page shows the appointment in the city's time, the technician's first name and skill
level (never their phone), and, as the job moves: a reschedule request (goes to the
dispatchers as ``reschedule_requested``, like the phone's), after a "not home" claim the
customer's own answer (recorded exactly as an SMS reply: ``server.callbacks.sms.
record_reply``, which re-scores the callback), after a completion the service report and
a satisfaction answer (a ``customer_answers`` row, kept apart from the auditor's
callback outcome).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.callbacks import sms
from server.db.models import (
    Appliance,
    CallbackTask,
    City,
    CustomerAnswer,
    CustomerLink,
    Job,
    User,
)
from server.errors import Conflict
from server.jobs.history import record_change
from sync.vocabulary import JobStatus

__all__ = [
    "DONE",
    "NotHomeAnswer",
    "PageView",
    "Satisfaction",
    "answer_not_home",
    "answer_satisfaction",
    "first_name",
    "request_reschedule",
    "view",
]

NotHomeAnswer = Literal["was_home", "was_away"]
Satisfaction = Literal["very_satisfied", "satisfied", "dissatisfied"]
DONE = frozenset({JobStatus.COMPLETED, JobStatus.CLOSED})
"""Statuses after which the report and the satisfaction question show."""
NO_RESCHEDULE = frozenset({JobStatus.COMPLETED, JobStatus.CLOSED, JobStatus.CANCELLED})
_CJK = re.compile(r"[\u3400-\u9fff]")


def first_name(full_name: str) -> tuple[str, bool]:
    """``("Tom", False)`` of ``Tom Lee``; ``("王", True)`` of ``王建国`` — a Chinese name
    is shown as the surname with a title (``王师傅``), as customers address technicians."""
    name = full_name.strip()
    if not name:
        return "", False
    if _CJK.match(name) and " " not in name:
        return name[0], True
    return name.split()[0], False


@dataclass(frozen=True, slots=True)
class PageView:
    job: Job
    link: CustomerLink
    tz: str
    category: str | None
    technician_first_name: str | None
    technician_title: bool
    technician_level: str | None
    not_home: CallbackTask | None
    """The job's latest not-home claim, when the job still stands on it."""
    not_home_answer: str | None
    satisfaction: str | None
    reschedule_requested_at: datetime | None

    @property
    def done(self) -> bool:
        return self.job.status in DONE

    @property
    def can_reschedule(self) -> bool:
        return self.job.status not in NO_RESCHEDULE


async def _latest(session: AsyncSession, job_id: uuid.UUID, kind: str) -> CustomerAnswer | None:
    answer: CustomerAnswer | None = await session.scalar(
        select(CustomerAnswer)
        .where(CustomerAnswer.job_id == job_id, CustomerAnswer.kind == kind)
        .order_by(CustomerAnswer.at.desc(), CustomerAnswer.id.desc())
        .limit(1)
    )
    return answer


async def _standing_not_home(session: AsyncSession, job: Job) -> CallbackTask | None:
    if job.status != JobStatus.UNABLE_TO_COMPLETE or job.unable_reason != "customer_not_home":
        return None
    return await sms.not_home_task(session, job.id)


async def view(session: AsyncSession, link: CustomerLink, job: Job) -> PageView:
    city = await session.get(City, job.city_id)
    appliance = await session.get(Appliance, job.appliance_id) if job.appliance_id else None
    tech = await session.get(User, job.technician_id) if job.technician_id else None
    name, titled = first_name(tech.full_name) if tech is not None else ("", False)
    not_home = await _standing_not_home(session, job)
    answer = await _latest(session, job.id, "not_home") if not_home is not None else None
    if answer is not None and not_home is not None and answer.at < not_home.created_at:
        answer = None  # an answer to an earlier claim
    satisfaction = await _latest(session, job.id, "satisfaction")
    return PageView(
        job=job,
        link=link,
        tz=city.timezone if city is not None else "UTC",
        category=appliance.category if appliance is not None else None,
        technician_first_name=name or None,
        technician_title=titled,
        technician_level=tech.skill_level if tech is not None else None,
        not_home=not_home,
        not_home_answer=answer.value if answer is not None else None,
        satisfaction=satisfaction.value if satisfaction is not None else None,
        reschedule_requested_at=job.reschedule_requested_at,
    )


def _answer(
    link: CustomerLink, kind: str, value: str, note: str, now: datetime, remote: str | None
) -> CustomerAnswer:
    return CustomerAnswer(
        id=uuid.uuid4(),
        job_id=link.job_id,
        link_id=link.id,
        kind=kind,
        value=value,
        note=note,
        at=now,
        remote_addr=remote,
    )


async def request_reschedule(
    session: AsyncSession,
    link: CustomerLink,
    job: Job,
    note: str,
    now: datetime,
    remote: str | None,
) -> CustomerAnswer:
    """The customer asks for another time: the job shows ``reschedule_requested_at`` on
    the dispatchers' lists (``GET /jobs?reschedule_requested=true``) with a
    ``reschedule_requested`` history entry, as when a technician asks."""
    if job.status in NO_RESCHEDULE:
        raise Conflict(
            "reschedule_not_possible",
            f"Job {job.number} is {job.status}; there is no visit left to move.",
            {"status": job.status},
        )
    answer = _answer(link, "reschedule", "requested", note, now, remote)
    session.add(answer)
    job.reschedule_requested_at = now
    await record_change(
        session,
        job,
        "reschedule_requested",
        {"reason": note, "by": "customer", "answer_id": str(answer.id)},
        now=now,
        actor_id=None,
        actor_role="customer",
        source="customer_page",
        remote_addr=remote,
    )
    return answer


async def answer_not_home(
    session: AsyncSession,
    link: CustomerLink,
    job: Job,
    meaning: NotHomeAnswer,
    now: datetime,
    remote: str | None,
) -> CustomerAnswer:
    """ "I was home / nobody came" (``was_home``) or "I was out" (``was_away``): lands on
    the not-home callback exactly as the SMS reply would, and moves its risk."""
    task = await _standing_not_home(session, job)
    if task is None:
        raise Conflict(
            "no_not_home_claim",
            "There is no 'nobody was home' report on this visit to answer.",
        )
    answer = _answer(link, "not_home", meaning, "", now, remote)
    session.add(answer)
    await session.flush()
    await sms.record_reply(
        session,
        job.id,
        message_id=f"page:{answer.id}",
        body=f"[customer page] {meaning}",
        meaning=meaning,
        notification_id=None,
        received_at=now,
        now=now,
    )
    return answer


async def answer_satisfaction(
    session: AsyncSession,
    link: CustomerLink,
    job: Job,
    value: Satisfaction,
    note: str,
    now: datetime,
    remote: str | None,
) -> CustomerAnswer:
    """How satisfied the customer says they are, after a completion. Stored apart from
    the auditor's callback outcome (which stays what the auditor heard) and shown beside
    it; a later answer replaces an earlier one on the page (both are kept)."""
    if job.status not in DONE:
        raise Conflict(
            "visit_not_completed",
            "The visit is not completed yet; the satisfaction question comes after it.",
            {"status": job.status},
        )
    answer = _answer(link, "satisfaction", value, note, now, remote)
    session.add(answer)
    await session.flush()
    return answer
