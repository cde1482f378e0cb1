"""How likely a claim is to be false, and why: a score from 0 to 100 made of named
factors, each with its points and the facts behind it.

``gather`` reads the facts from the database; ``score`` is a pure function of them, so
the rules can be read (and tested) in one place. The points are in ``POINTS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import (
    CallbackTask,
    Checkin,
    ClaimVerdict,
    Job,
    LedgerEntry,
    Photo,
)

__all__ = ["POINTS", "RiskFacts", "assess", "gather", "score"]

Factor = dict[str, Any]

POINTS: dict[str, int] = {
    # The claim itself: "nobody was home" is checked before anything else.
    "not_home_claim": 20,
    # A failed evidence rule (server/admin/evidence_rules.py), per rule.
    "rule:geofence_pass": 25,
    "rule:min_time_on_site": 10,
    "rule:min_call_attempts": 15,
    "rule:door_photo_on_site": 15,
    "rule:after_photo": 10,
    "rule:customer_sign_off": 15,
    "rule:required_checklist": 5,
    "rule:other": 10,
    # Patterns.
    "claim_before_window": 20,
    "quick_claim": 10,
    "no_check_in": 15,
    "clock_skew": 10,
    "mock_location": 20,
    "reused_photo": 15,
    "impossible_travel": 20,
    "high_not_home_rate": 15,
    "repeated_address": 10,
    "customer_says_home": 40,
    "customer_confirms_away": -20,
}

QUICK_CLAIM = timedelta(minutes=5)
SKEW_LIMIT = timedelta(minutes=5)
RATE_PERIOD = timedelta(days=30)
ADDRESS_PERIOD = timedelta(days=60)
MIN_CLAIMS_FOR_RATE = 3
CLAIM_TYPE = {"not_home": "customer_not_home", "completion": "completed"}
CLAIM_MUTATION = {"not_home": "job.unable_to_complete", "unable": "job.unable_to_complete"}


@dataclass(slots=True)
class RiskFacts:
    kind: str
    claimed_at: datetime | None
    window_start: datetime | None
    failed_rules: list[dict[str, Any]] = field(default_factory=list)
    arrived_at: datetime | None = None
    check_ins: int = 0
    mock_checkins: int = 0
    impossible_travel: int = 0
    reused_photos: int = 0
    clock_skew_ms: int | None = None
    tech_not_home: int = 0
    tech_claims: int = 0
    peer_not_home: int = 0
    peer_claims: int = 0
    earlier_not_home_at_address: int = 0
    customer_reply: str | None = None


def score(f: RiskFacts) -> tuple[int, list[Factor]]:
    """The score (clamped to 0..100) and its factors, highest first."""
    out: list[Factor] = []

    def add(code: str, detail: dict[str, Any], key: str | None = None) -> None:
        out.append({"code": code, "points": POINTS[key or code], "detail": detail})

    not_home = f.kind == "not_home"
    if not_home:
        add("not_home_claim", {})
    for rule in f.failed_rules:
        code = str(rule.get("code"))
        key = f"rule:{code}" if f"rule:{code}" in POINTS else "rule:other"
        add(f"rule_failed:{code}", dict(rule.get("detail") or {}), key)
    claim_kinds = ("not_home", "unable")
    if f.kind in claim_kinds and f.claimed_at and f.window_start and f.claimed_at < f.window_start:
        add(
            "claim_before_window",
            {
                "claimed_at": f.claimed_at.isoformat(),
                "window_start": f.window_start.isoformat(),
                "minutes_early": round((f.window_start - f.claimed_at).total_seconds() / 60),
            },
        )
    if f.kind in claim_kinds and f.arrived_at is None and f.kind == "not_home":
        add("no_check_in", {})
    if (
        f.kind in claim_kinds
        and f.arrived_at is not None
        and f.claimed_at is not None
        and timedelta(0) <= f.claimed_at - f.arrived_at < QUICK_CLAIM
    ):
        add(
            "quick_claim",
            {"minutes_after_arrival": round((f.claimed_at - f.arrived_at).total_seconds() / 60, 1)},
        )
    if f.clock_skew_ms is not None and abs(f.clock_skew_ms) > SKEW_LIMIT.total_seconds() * 1000:
        add("clock_skew", {"skew_minutes": round(f.clock_skew_ms / 60000, 1)})
    if f.mock_checkins:
        add("mock_location", {"check_ins": f.mock_checkins})
    if f.reused_photos:
        add("reused_photo", {"photos": f.reused_photos})
    if f.impossible_travel:
        add("impossible_travel", {"check_ins": f.impossible_travel})
    if not_home and f.tech_not_home >= MIN_CLAIMS_FOR_RATE and f.tech_claims:
        rate = f.tech_not_home / f.tech_claims
        peer = f.peer_not_home / f.peer_claims if f.peer_claims else 0.0
        if rate > max(2 * peer, peer + 0.2):
            add(
                "high_not_home_rate",
                {
                    "technician_rate": round(rate, 3),
                    "peer_rate": round(peer, 3),
                    "technician_claims": f.tech_claims,
                    "days": RATE_PERIOD.days,
                },
            )
    if not_home and f.earlier_not_home_at_address:
        n = min(f.earlier_not_home_at_address, 2)
        out.append(
            {
                "code": "repeated_address",
                "points": POINTS["repeated_address"] * n,
                "detail": {"earlier_claims": f.earlier_not_home_at_address},
            }
        )
    if f.customer_reply == "was_home":
        add("customer_says_home", {})
    elif f.customer_reply == "was_away" and not_home:
        add("customer_confirms_away", {})
    total = max(0, min(100, sum(int(x["points"]) for x in out)))
    out.sort(key=lambda x: -int(x["points"]))
    return total, out


async def gather(session: AsyncSession, task: CallbackTask, now: datetime) -> RiskFacts:
    job = await session.get(Job, task.job_id)
    assert job is not None
    claimed = task.claimed_device_time or task.claimed_at
    f = RiskFacts(kind=task.kind, claimed_at=claimed, window_start=task.window_start)
    f.customer_reply = task.customer_reply
    claim_type = CLAIM_TYPE.get(task.kind)
    if claim_type:
        verdict = await session.scalar(
            select(ClaimVerdict)
            .where(ClaimVerdict.job_id == job.id, ClaimVerdict.claim_type == claim_type)
            .order_by(ClaimVerdict.computed_at.desc())
            .limit(1)
        )
        if verdict is not None:
            f.failed_rules = [v for v in verdict.verdicts if not v.get("passed")]
    if task.kind == "status_check":
        return f
    checkins = list(
        await session.scalars(
            select(Checkin).where(
                Checkin.job_id == job.id,
                Checkin.technician_id == task.technician_id,
                Checkin.kind == "check_in",
            )
        )
    )
    times = [t for c in checkins if (t := c.fix_time or c.device_time) is not None]
    f.arrived_at = min(times) if times else None
    f.check_ins = len(checkins)
    f.mock_checkins = sum(1 for c in checkins if c.mock_location)
    f.impossible_travel = sum(1 for c in checkins if "impossible_travel" in (c.flags or []))
    photos = await session.scalars(select(Photo.reused_from).where(Photo.job_id == job.id))
    f.reused_photos = sum(1 for r in photos if r)
    mutation = CLAIM_MUTATION.get(task.kind, "job.complete")
    f.clock_skew_ms = await session.scalar(
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
        await _rates(session, task, f)
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
    return f


async def _rates(session: AsyncSession, task: CallbackTask, f: RiskFacts) -> None:
    """The technician's share of not-home claims among their claims over the last 30
    days, against everyone else's."""
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


async def assess(session: AsyncSession, task: CallbackTask, now: datetime) -> None:
    total, factors = score(await gather(session, task, now))
    task.risk_score, task.risk_factors, task.risk_computed_at = total, factors, now
    await session.flush()
