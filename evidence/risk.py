"""How likely a claim is to be false, and why: one calibrated logistic model.

``gather`` reads a task's facts from the database (``evidence.features.ClaimFacts``);
``score`` is a pure function of them: the graded features (``evidence.features``), each
times a non-negative weight, added as log-odds to the intercept of the task's kind,
give the **probability that the claim is false**. Every factor keeps its contribution
in log-odds and in words ("door photo taken 420 m from the address: +1.8").

The weights are a versioned ``WeightSet``: ``DEFAULT`` ships with the code; a brand
learns its own from its callback outcomes (``doorstep risk fit``, scikit-learn) and an
admin activates it (``evidence.models``). Every task keeps the version that scored it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from evidence.features import (
    CallFact,
    CarrierFact,
    ClaimFacts,
    Feature,
    FixFact,
    PhotoFact,
    extract,
)
from evidence.trace import merge_chunks
from server.db.models import (
    CallAttempt,
    CallbackTask,
    CarrierCallRecord,
    Checkin,
    ClaimVerdict,
    CompletionReport,
    Customer,
    Job,
    LedgerEntry,
    LocationTraceChunk,
    Photo,
    Violation,
)

__all__ = [
    "DEFAULT",
    "FEE_FINDINGS",
    "OPERATING_POINT",
    "RiskFacts",
    "WeightSet",
    "assess",
    "gather",
    "score",
]

RiskFacts = ClaimFacts
"""The facts the model reads (the name the callback audit knows)."""

OPERATING_POINT = 0.5
"""A task at or above this probability is flagged as a likely false claim."""
FEE_FINDINGS = frozenset({"charge_in_warranty", "charge_above_policy", "charge_not_in_policy"})
RATE_PERIOD = timedelta(days=30)
ADDRESS_PERIOD = timedelta(days=60)
HISTORY_PERIOD = timedelta(days=90)
CARRIER_IN_USE = timedelta(days=30)
CLAIM_TYPE = {"not_home": "customer_not_home", "completion": "completed"}
CLAIM_MUTATION = {"not_home": "job.unable_to_complete", "unable": "job.unable_to_complete"}


@dataclass(frozen=True, slots=True)
class WeightSet:
    version: str
    intercepts: dict[str, float]
    """Log-odds of a false claim with no factor, per task kind."""
    weights: dict[str, float] = field(default_factory=dict)
    """Per feature code (``rule_failed:*`` and ``fee_policy:*`` share their prefix's)."""

    def weight(self, code: str) -> float:
        if code in self.weights:
            return max(0.0, self.weights[code])
        prefix = code.split(":", 1)[0] + ":*"
        return max(0.0, self.weights.get(prefix, 0.0))


DEFAULT = WeightSet(
    version="default-2",  # the trace factors (default-1: before them)
    intercepts={"not_home": -2.2, "unable": -2.5, "completion": -3.5, "status_check": -3.0},
    weights={
        # Where the phone was: ``fence`` and ``photo_gps`` are log-likelihood ratios / 4.
        "fence": 4.0,
        "fence_no_fix": 1.6,
        "photo_gps": 2.8,
        "mock_location": 4.0,
        "no_check_in": 3.0,
        "impossible_travel": 2.0,
        # The location trace (``evidence.trace``); no trace: no factor at all.
        "trace_stop": 2.5,
        "trace_drive_by": 3.0,
        "trace_elsewhere": 3.5,
        "trace_check_in": 2.0,
        "trace_photo": 1.5,
        # When, and for how long.
        "time_on_site": 3.0,
        "claim_after_leaving": 1.5,
        "claim_before_window": 5.0,
        "claim_after_window": 2.5,
        "clock_skew": 3.0,
        "photo_time": 2.0,
        # Calls and photos.
        "calls": 2.2,
        "short_calls": 1.0,
        "carrier_calls": 2.5,
        "no_door_photo": 0.6,
        "reused_photo": 3.0,
        # History and what the customer said.
        "technician_not_home_rate": 1.0,
        "technician_contradicted": 1.2,
        "repeated_address": 0.5,
        "customer_says_home": 5.0,
        "customer_confirms_away": 2.5,
        # Completion reports.
        "rule_failed:*": 0.8,
        "fee_policy:*": 1.5,
    },
)


def _words(f: Feature, contribution: float) -> str:
    return f"{f.words}: {contribution:+.1f}"


def score(facts: ClaimFacts, weights: WeightSet = DEFAULT) -> tuple[float, list[dict[str, Any]]]:
    """The probability that the claim is false and its factors, largest push first:
    ``{"code", "contribution", "points", "value", "words", "detail"}`` (``points``: the
    contribution, for readers of the older integer scores)."""
    logit = weights.intercepts.get(facts.kind, -3.0)
    factors: list[dict[str, Any]] = []
    for f in extract(facts):
        contribution = weights.weight(f.code) * f.value
        if abs(contribution) < 0.05:
            continue
        logit += contribution
        factors.append(
            {
                "code": f.code,
                "contribution": round(contribution, 2),
                "points": round(contribution, 1),
                "value": round(f.value, 3),
                "words": _words(f, contribution),
                "detail": f.detail,
            }
        )
    factors.sort(key=lambda x: -float(x["contribution"]))
    return 1.0 / (1.0 + math.exp(-logit)), factors


async def gather(session: AsyncSession, task: CallbackTask, now: datetime) -> ClaimFacts:
    job = await session.get(Job, task.job_id)
    assert job is not None
    f = ClaimFacts(
        kind=task.kind,
        claimed_at=task.claimed_device_time or task.claimed_at,
        window_start=task.window_start,
        window_end=task.window_end,
        customer_reply=task.customer_reply,
    )
    claim_type = CLAIM_TYPE.get(task.kind)
    if claim_type:
        verdict = await session.scalar(
            select(ClaimVerdict)
            .where(ClaimVerdict.job_id == job.id, ClaimVerdict.claim_type == claim_type)
            .order_by(ClaimVerdict.computed_at.desc())
            .limit(1)
        )
        if verdict is not None:
            f.failed_rules = [str(v.get("code")) for v in verdict.verdicts if not v.get("passed")]
    if task.kind == "status_check":
        return f
    customer = await session.get(Customer, job.customer_id)
    if customer is not None and customer.latitude is not None and customer.longitude is not None:
        f.customer = (customer.latitude, customer.longitude)
    f.fixes = [
        FixFact(
            c.kind,
            c.latitude,
            c.longitude,
            c.accuracy_m,
            c.fix_time or c.device_time,
            c.mock_location,
        )
        for c in await session.scalars(
            select(Checkin)
            .where(Checkin.job_id == job.id, Checkin.technician_id == task.technician_id)
            .order_by(Checkin.fix_time)
        )
    ]
    f.calls = [
        CallFact(c.started_at, c.duration_s, c.outcome)
        for c in await session.scalars(select(CallAttempt).where(CallAttempt.job_id == job.id))
    ]
    if task.kind == "not_home":
        f.carrier = await _carrier(session, job.id, now)
        chunks = (
            await session.execute(
                select(LocationTraceChunk.started_at, LocationTraceChunk.points).where(
                    LocationTraceChunk.job_id == job.id,
                    LocationTraceChunk.technician_id == task.technician_id,
                )
            )
        ).all()
        if chunks:
            f.trace = merge_chunks((row[0], row[1]) for row in chunks)
    f.photos = [
        PhotoFact(p.kind, p.taken_at, p.latitude, p.longitude, len(p.reused_from or []))
        for p in await session.scalars(select(Photo).where(Photo.job_id == job.id))
    ]
    if task.kind == "completion":
        report = await session.scalar(
            select(CompletionReport)
            .where(CompletionReport.job_id == job.id)
            .order_by(CompletionReport.received_at.desc())
            .limit(1)
        )
        if report is not None:
            f.findings = [
                str(x.get("code")) for x in report.findings if x.get("code") in FEE_FINDINGS
            ]
    mutation = CLAIM_MUTATION.get(task.kind, "job.complete")
    f.skew_ms = await session.scalar(
        select(LedgerEntry.clock_skew_ms)
        .where(
            LedgerEntry.job_id == job.id,
            LedgerEntry.name == mutation,
            LedgerEntry.outcome.in_(["applied", "resolved"]),
        )
        .order_by(LedgerEntry.received_at.desc())
        .limit(1)
    )
    if task.kind == "not_home" and task.claimed_at is not None:
        await _previous_fix(session, task, f)
        await _history(session, task, job, f)
    return f


async def _carrier(session: AsyncSession, job_id: Any, now: datetime) -> list[CarrierFact] | None:
    """The carrier's records of the job, or ``None`` when no carrier is in use (none has
    posted a record to this server in the last 30 days): a missing carrier is not a
    missing record."""
    in_use = await session.scalar(
        select(CarrierCallRecord.id)
        .where(CarrierCallRecord.received_at >= now - CARRIER_IN_USE)
        .limit(1)
    )
    if in_use is None:
        return None
    return [
        CarrierFact(r.started_at, r.duration_s, r.answered)
        for r in await session.scalars(
            select(CarrierCallRecord).where(CarrierCallRecord.job_id == job_id)
        )
    ]


async def _previous_fix(session: AsyncSession, task: CallbackTask, f: ClaimFacts) -> None:
    """The technician's last fix on another job before arriving at this one."""
    arrivals = [x.at for x in f.fixes if x.kind == "check_in" and x.at is not None]
    if not arrivals or task.technician_id is None:
        return
    row = (
        await session.execute(
            select(Checkin.latitude, Checkin.longitude, Checkin.fix_time)
            .where(
                Checkin.technician_id == task.technician_id,
                Checkin.job_id != task.job_id,
                Checkin.latitude.is_not(None),
                Checkin.fix_time.is_not(None),
                Checkin.fix_time < min(arrivals),
                Checkin.fix_time > min(arrivals) - timedelta(hours=4),
            )
            .order_by(Checkin.fix_time.desc())
            .limit(1)
        )
    ).first()
    if row is not None and row[0] is not None and row[1] is not None and row[2] is not None:
        f.previous_fix = (row[0], row[1], row[2])


async def _history(session: AsyncSession, task: CallbackTask, job: Job, f: ClaimFacts) -> None:
    assert task.claimed_at is not None
    since = task.claimed_at - RATE_PERIOD
    is_nh = case((CallbackTask.kind == "not_home", 1), else_=0)
    claims = select(func.count(CallbackTask.id), func.sum(is_nh)).where(
        CallbackTask.kind.in_(["not_home", "unable", "completion"]),
        CallbackTask.claimed_at >= since,
        CallbackTask.claimed_at <= task.claimed_at,
        CallbackTask.technician_id.is_not(None),
    )
    everyone = (await session.execute(claims)).one()
    mine = (
        await session.execute(claims.where(CallbackTask.technician_id == task.technician_id))
    ).one()
    f.tech_claims, f.tech_not_home = int(mine[0] or 0), int(mine[1] or 0)
    f.peer_claims = int(everyone[0] or 0) - f.tech_claims
    f.peer_not_home = int(everyone[1] or 0) - f.tech_not_home
    if task.technician_id is not None:
        f.tech_contradicted = (
            await session.scalar(
                select(func.count(Violation.id)).where(
                    Violation.technician_id == task.technician_id,
                    Violation.job_id != job.id,
                    Violation.voided_at.is_(None),
                    Violation.recorded_at >= task.claimed_at - HISTORY_PERIOD,
                    Violation.recorded_at <= task.claimed_at,
                )
            )
            or 0
        )
    f.earlier_not_home_at_address = (
        await session.scalar(
            select(func.count(CallbackTask.id))
            .join(Job, Job.id == CallbackTask.job_id)
            .where(
                Job.customer_id == job.customer_id,
                CallbackTask.kind == "not_home",
                CallbackTask.id != task.id,
                CallbackTask.claimed_at < task.claimed_at,
                CallbackTask.claimed_at >= task.claimed_at - ADDRESS_PERIOD,
            )
        )
        or 0
    )


async def assess(session: AsyncSession, task: CallbackTask, now: datetime) -> None:
    from evidence.models import active_weights

    weights = await active_weights(session)
    probability, factors = score(await gather(session, task, now), weights)
    task.risk_probability = round(probability, 4)
    task.risk_score = round(probability * 100)
    task.risk_factors = factors
    task.risk_model = weights.version
    task.risk_computed_at = now
    await session.flush()
