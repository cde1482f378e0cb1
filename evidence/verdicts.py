"""Re-checking a claim against its evidence rules after sync.

Claims: ``customer_not_home`` (the job could not be completed for that reason) and
``completed``. Each rule gives ``{"code", "passed", "detail"}``; missing evidence never
rejects a claim — a failed verdict raises its risk for the callback queue. The rules
are the configured ``EvidenceRuleSet`` rows, or the defaults shipped in packets.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evidence.rules import current_rules
from server.db.models import (
    CallAttempt,
    Checkin,
    ClaimVerdict,
    CompletionReport,
    Job,
    JobEvent,
    Photo,
    SignOff,
)
from server.jobs import hooks
from sync.vocabulary import JobStatus, UnableReason

__all__ = ["RULE_CODES", "claim_of", "latest", "recheck"]

RULE_CODES = frozenset(
    {
        "geofence_pass",
        "min_time_on_site",
        "min_call_attempts",
        "door_photo_on_site",
        "after_photo",
        "customer_sign_off",
        "required_checklist",
    }
)

Verdict = dict[str, Any]


def claim_of(job: Job) -> str | None:
    if (
        job.status == JobStatus.UNABLE_TO_COMPLETE
        and job.unable_reason == UnableReason.CUSTOMER_NOT_HOME
    ):
        return "customer_not_home"
    if job.status in (JobStatus.COMPLETED, JobStatus.CLOSED):
        return "completed"
    return None


async def recheck(
    session: AsyncSession, job_ids: list[uuid.UUID], now: datetime
) -> list[ClaimVerdict]:
    """Compute the verdicts of the claims standing on these jobs; store a new row only
    when the outcome differs from the latest one (the history shows changes, not polls)."""
    if not job_ids:
        return []
    rules, versions = await current_rules(session)
    out = []
    for job in await session.scalars(select(Job).where(Job.id.in_(job_ids))):
        claim = claim_of(job)
        if claim is None or claim not in rules:
            continue
        facts = await _facts(session, job)
        verdicts = [_judge(rule, facts) for rule in rules[claim]]
        latest = await session.scalar(
            select(ClaimVerdict)
            .where(ClaimVerdict.job_id == job.id, ClaimVerdict.claim_type == claim)
            .order_by(ClaimVerdict.computed_at.desc())
            .limit(1)
        )
        if (
            latest is not None
            and latest.verdicts == verdicts
            and latest.rules_version == versions.get(claim, 0)
        ):
            continue
        row = ClaimVerdict(
            job_id=job.id,
            claim_type=claim,
            rules_version=versions.get(claim, 0),
            computed_at=now,
            passed=all(v["passed"] for v in verdicts),
            verdicts=verdicts,
        )
        session.add(row)
        out.append(row)
    await session.flush()
    await hooks.evidence_changed(session, job_ids, now)
    return out


async def latest(session: AsyncSession, job_id: uuid.UUID) -> list[ClaimVerdict]:
    """The current verdict of each claim on the job, newest first."""
    out: dict[str, ClaimVerdict] = {}
    for v in await session.scalars(
        select(ClaimVerdict)
        .where(ClaimVerdict.job_id == job_id)
        .order_by(ClaimVerdict.computed_at.desc())
    ):
        out.setdefault(v.claim_type, v)
    return list(out.values())


async def _facts(session: AsyncSession, job: Job) -> dict[str, Any]:
    tech = job.technician_id
    claim = await session.scalar(
        select(JobEvent)
        .where(JobEvent.job_id == job.id, JobEvent.kind.in_(["unable_to_complete", "completed"]))
        .order_by(JobEvent.at.desc())
        .limit(1)
    )
    # The phone's clock, like the check-in and call times it is compared with.
    raw = claim.data.get("device_time") if claim is not None else None
    claimed_at = (
        datetime.fromisoformat(raw) if isinstance(raw, str) else (claim.at if claim else None)
    )
    checkins = list(
        await session.scalars(
            select(Checkin)
            .where(Checkin.job_id == job.id, Checkin.technician_id == tech)
            .order_by(Checkin.fix_time)
        )
    )
    calls = list(await session.scalars(select(CallAttempt).where(CallAttempt.job_id == job.id)))
    photos = list(await session.scalars(select(Photo).where(Photo.job_id == job.id)))
    report = await session.scalar(
        select(CompletionReport)
        .where(CompletionReport.job_id == job.id)
        .order_by(CompletionReport.received_at.desc())
        .limit(1)
    )
    sign_off = await session.scalar(
        select(SignOff)
        .where(SignOff.job_id == job.id)
        .order_by(SignOff.received_at.desc())
        .limit(1)
    )
    return {
        "claimed_at": claimed_at,
        "checkins": [c for c in checkins if c.kind == "check_in"],
        "calls": calls,
        "photos": photos,
        "report": report,
        "sign_off": sign_off,
    }


def _arrival(facts: dict[str, Any]) -> datetime | None:
    times = [
        c.fix_time or c.device_time for c in facts["checkins"] if (c.fix_time or c.device_time)
    ]
    return min(times) if times else None


def _judge(rule: dict[str, Any], f: dict[str, Any]) -> Verdict:
    code = str(rule.get("code"))
    arrived, claimed = _arrival(f), f["claimed_at"]
    if code == "geofence_pass":
        verdicts = [c.geofence for c in f["checkins"]]
        return _v(code, "pass" in verdicts, {"checkins": verdicts})
    if code == "min_time_on_site":
        need = timedelta(minutes=float(rule.get("minutes", 10)))
        if arrived is None or claimed is None:
            return _v(
                code, False, {"reason": "no check-in" if arrived is None else "no claim time"}
            )
        on_site = claimed - arrived
        return _v(
            code, on_site >= need, {"minutes_on_site": round(on_site.total_seconds() / 60, 1)}
        )
    if code == "min_call_attempts":
        need_calls = int(rule.get("count", 2))
        during = [
            c
            for c in f["calls"]
            if arrived is not None
            and claimed is not None
            and arrived - timedelta(minutes=5) <= c.started_at <= claimed
        ]
        return _v(
            code,
            len(during) >= need_calls,
            {"calls_during_visit": len(during), "calls_total": len(f["calls"])},
        )
    if code == "door_photo_on_site":
        doors = [p for p in f["photos"] if p.kind == "door"]
        fresh = [
            p
            for p in doors
            if not p.reused_from
            and p.taken_at is not None
            and arrived is not None
            and claimed is not None
            and arrived - timedelta(minutes=5)
            <= _aware(p.taken_at)
            <= claimed + timedelta(minutes=5)
        ]
        return _v(
            code,
            bool(fresh),
            {
                "door_photos": len(doors),
                "taken_on_site": len(fresh),
                "reused": sum(1 for p in doors if p.reused_from),
            },
        )
    if code == "after_photo":
        return _v(code, any(p.kind == "after" for p in f["photos"]), {})
    if code == "customer_sign_off":
        report, sign = f["report"], f["sign_off"]
        ok = report is not None and sign is not None and sign.report_sha256 == report.sha256
        return _v(code, ok, {"stale": report is not None and sign is not None and not ok})
    if code == "required_checklist":
        report = f["report"]
        missing = [
            x
            for x in (report.findings if report else [])
            if x.get("code") == "checklist_incomplete"
        ]
        return _v(
            code,
            report is not None and not missing,
            {"report": report is not None, "missing": missing},
        )
    return _v(code, False, {"reason": "unknown rule"})


def _aware(t: datetime) -> datetime:
    """EXIF times without a zone are kept naive; compare them as UTC (a known gap: the
    city's zone would be better)."""
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _v(code: str, passed: bool, detail: dict[str, Any]) -> Verdict:
    return {"code": code, "passed": bool(passed), "detail": detail}
