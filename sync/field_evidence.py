"""Field-evidence mutations: call attempts, check-out, the completion report and the
customer's sign-off.

All four are facts (SYNC.md): inserts keyed by the phone's UUID, so a resend is a no-op,
and kept — flagged — when they arrive after the job was reassigned, cancelled or closed,
because callback auditors judge technicians' claims by exactly this evidence. None of
them moves the job; only an answered call changes it (``contacted_at``).

The completion report's ``sha256`` is what the customer's sign-off is bound to. The
phone computes the same hash and shows it to the customer, so its form is fixed
(``sync.canonical.report_sha256``, docs/protocol.md): the lowercase hex SHA-256 of the
RFC 8785 (JCS) bytes of the report's arguments without ``report_id``, with every field
present (defaults included) and in its JSON form::

    {"charges":   [{"amount": int, "code": str, "label": str}, ...],
     "checklist": {item_code: bool, ...},
     "parts":     [{"code": str, "name": str, "quantity": int, "unit_price": int}, ...],
     "photos":    {kind: ["<lowercase hyphenated uuid>", ...], ...},
     "work_done": str}

lists in the order the phone sent them.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Appliance, Checkin, Customer, Job
from server.db.models.catalog import Checklist
from server.db.models.evidence import (
    CallAttempt,
    CompletionReport,
    LocationTraceChunk,
    Photo,
    SignOff,
)
from server.db.models.provider import City, FeePolicy
from sync import geo, wire
from sync.canonical import REPORT_FIELDS, report_sha256
from sync.evidence_wire import CallAttemptArgs, CheckOutArgs, ReportArgs, SignOffArgs
from sync.mutation_base import (
    Applied,
    Handler,
    MutationContext,
    Rejected,
    fact_fields,
    fact_flags,
    record,
)
from sync.trace_wire import LocationTraceArgs, decode_points

__all__ = [
    "FUTURE_SLACK",
    "HANDLERS",
    "MAX_TRACE_POINTS",
    "new_fix",
    "report_content",
    "report_findings",
    "report_sha256",
    "sign_off_status",
]

FUTURE_SLACK = timedelta(minutes=10)
"""Phone clocks drift; beyond this a device time ahead of the server is suspicious."""

VISIT_FEE = "visit_fee"
MAX_TRACE_POINTS = 20_000
"""At most this many trace points kept per job (every chunk, every trace): beyond it a
chunk is rejected ``trace_too_long`` (a day of points every 5 s is 17,280)."""


def _aware(value: datetime | None, name: str) -> None:
    """Reject a timestamp without an offset: it cannot be compared with anything."""
    if value is not None and value.tzinfo is None:
        raise Rejected("invalid_arguments", f"{name} needs a UTC offset.")


# --- shared: a GPS fix ------------------------------------------------------------------


async def new_fix(
    ctx: MutationContext, job: Job, args: wire.CheckInArgs, flags: list[str], kind: str
) -> Checkin:
    """A check-in or check-out row with the server's verdicts: distance to the customer
    and geofence, and ``impossible_travel`` when the technician's previous fix is too far
    to have been reached in the time between them. Fix times are the phone's (evidence);
    a missing one falls back to the device time of the mutation.

    Shared by arrival and departure so both get the same verdicts
    (``sync.mutations._new_checkin`` should become ``new_fix(..., "check_in")``)."""
    customer = await ctx.session.get(Customer, job.customer_id)
    verdict, distance = geo.geofence(
        latitude=args.latitude,
        longitude=args.longitude,
        accuracy_m=args.accuracy_m,
        target_latitude=customer.latitude if customer else None,
        target_longitude=customer.longitude if customer else None,
    )
    flags = list(flags)
    if args.mock_location:
        flags.append("mock_location")
    at = args.fix_time or ctx.envelope.device_time
    if args.latitude is not None and args.longitude is not None and at is not None:
        previous = (
            await ctx.session.execute(
                select(Checkin.latitude, Checkin.longitude, Checkin.fix_time)
                .where(
                    Checkin.technician_id == ctx.technician_id,
                    Checkin.latitude.is_not(None),
                    Checkin.fix_time.is_not(None),
                    Checkin.fix_time <= at,
                )
                .order_by(Checkin.fix_time.desc())
                .limit(1)
            )
        ).first()
        lat, lon, when = previous if previous is not None else (None, None, None)
        if lat is not None and lon is not None and when is not None:
            before = geo.Fix(lat, lon, when)
            if (
                geo.impossible_travel(before, geo.Fix(args.latitude, args.longitude, at))
                is not None
            ):
                flags.append("impossible_travel")
    return Checkin(
        id=args.checkin_id,
        **fact_fields(ctx, job, flags),
        kind=kind,
        latitude=args.latitude,
        longitude=args.longitude,
        accuracy_m=args.accuracy_m,
        fix_time=at,
        location_provider=args.location_provider,
        mock_location=args.mock_location,
        distance_m=distance,
        geofence=verdict,
    )


# --- job.call_attempt -------------------------------------------------------------------


async def call_attempt(ctx: MutationContext, args: CallAttemptArgs, job: Job | None) -> Applied:
    """A call or message to the customer. "Customer not home" claims are checked against
    these, and an answered one is the contact that stops the urgent SLA clock."""
    assert job is not None
    _aware(args.started_at, "started_at")
    if await ctx.session.get(CallAttempt, args.call_id) is not None:
        return Applied()  # the same fact sent under a new mid: already kept
    flags = fact_flags(ctx, job)
    future = args.started_at > ctx.now + FUTURE_SLACK
    if future:
        flags.append("device_time_in_future")
    ctx.session.add(
        CallAttempt(
            id=args.call_id,
            **fact_fields(ctx, job, flags),
            channel=args.channel,
            started_at=args.started_at,
            duration_s=args.duration_s,
            outcome=args.outcome,
        )
    )
    await ctx.session.flush()
    # A call claimed to happen in the future cannot prove a contact made by now.
    contacted = (
        args.outcome == "answered"
        and not future
        and (job.contacted_at is None or args.started_at < job.contacted_at)
    )
    if contacted:
        job.contacted_at = args.started_at
    await record(
        ctx,
        job,
        "fact:call_attempt",
        {
            "call_id": str(args.call_id),
            "outcome": args.outcome,
            "started_at": args.started_at.isoformat(),
            "contacted": contacted,
            "flags": flags,
        },
        fact=not contacted,
    )
    return Applied(flags=flags)


# --- job.check_out ----------------------------------------------------------------------


async def check_out(ctx: MutationContext, args: CheckOutArgs, job: Job | None) -> Applied:
    """The departure fix. With the earliest arrival fix it gives the time on site, which
    auditors compare with the work claimed; the job itself does not move."""
    assert job is not None
    if (args.latitude is None) != (args.longitude is None):
        raise Rejected("incomplete_coordinates", "Give both latitude and longitude, or neither.")
    _aware(args.fix_time, "fix_time")
    if await ctx.session.get(Checkin, args.checkin_id) is not None:
        return Applied()
    flags = fact_flags(ctx, job)
    fix = await new_fix(ctx, job, args, flags, "check_out")
    arrived = await ctx.session.scalar(
        select(Checkin.fix_time)
        .where(
            Checkin.job_id == job.id,
            Checkin.technician_id == ctx.technician_id,
            Checkin.kind == "check_in",
            Checkin.fix_time.is_not(None),
        )
        .order_by(Checkin.fix_time)
        .limit(1)
    )
    time_on_site: int | None = None
    if arrived is None:
        fix.flags = [*fix.flags, "no_check_in"]
    elif fix.fix_time is not None:
        time_on_site = int((fix.fix_time - arrived).total_seconds())
        if time_on_site < 0:
            fix.flags = [*fix.flags, "check_out_before_check_in"]
    ctx.session.add(fix)
    await ctx.session.flush()
    await record(
        ctx,
        job,
        "fact:check_out",
        {
            "checkin_id": str(args.checkin_id),
            "geofence": fix.geofence,
            "distance_m": fix.distance_m,
            "time_on_site_s": time_on_site,
            "flags": fix.flags,
        },
        fact=True,
    )
    return Applied(flags=fix.flags)


# --- job.location_trace -----------------------------------------------------------------


async def location_trace(ctx: MutationContext, args: LocationTraceArgs, job: Job | None) -> Applied:
    """A chunk of the phone's breadcrumbs (``sync.trace_wire``; the columns were checked
    before this runs). Kept decoded, one row per chunk; the stops are found when a claim
    is judged (``evidence.trace``), never here."""
    assert job is not None
    chunk_id = uuid.uuid5(args.trace_id, str(args.seq))
    existing = await ctx.session.get(LocationTraceChunk, chunk_id)
    if existing is not None:
        if existing.job_id != job.id:
            raise Rejected(
                "trace_id_reused", "That trace_id belongs to another job: start a new trace."
            )
        return Applied()  # the same chunk sent again
    points = decode_points(args)
    stored = await ctx.session.scalar(
        select(func.coalesce(func.sum(LocationTraceChunk.point_count), 0)).where(
            LocationTraceChunk.job_id == job.id
        )
    )
    if int(stored or 0) + len(points) > MAX_TRACE_POINTS:
        raise Rejected(
            "trace_too_long",
            f"This job already holds {stored} trace points; at most {MAX_TRACE_POINTS} "
            "are kept per job.",
        )
    flags = fact_flags(ctx, job)
    mocked = sum(1 for p in points if p.mock)
    if mocked:
        flags.append("mock_location")
    if points[-1].at > ctx.now + FUTURE_SLACK:
        flags.append("device_time_in_future")
    start = points[0].at
    speeds = [p.speed_mps for p in points] if args.speed_dms is not None else None
    ctx.session.add(
        LocationTraceChunk(
            id=chunk_id,
            **fact_fields(ctx, job, flags),
            trace_id=args.trace_id,
            seq=args.seq,
            last=args.last,
            started_at=start,
            ended_at=points[-1].at,
            point_count=len(points),
            mock_points=mocked,
            points={
                "t_ms": [round((p.at - start).total_seconds() * 1000) for p in points],
                "lat": [p.latitude for p in points],
                "lon": [p.longitude for p in points],
                "acc": [p.accuracy_m for p in points],
                "speed": speeds,
                "mock": list(args.mock),
            },
        )
    )
    await ctx.session.flush()
    await record(
        ctx,
        job,
        "fact:location_trace",
        {
            "trace_id": str(args.trace_id),
            "seq": args.seq,
            "points": len(points),
            "last": args.last,
            "flags": flags,
        },
        fact=True,
    )
    return Applied(flags=flags)


# --- job.report -------------------------------------------------------------------------


def report_content(args: ReportArgs) -> dict[str, Any]:
    """The hashed part of a report (everything but its id), in JSON form."""
    built = msgspec.to_builtins(args)
    assert isinstance(built, dict)
    return {k: built[k] for k in REPORT_FIELDS}


def _finding(code: str, detail: str, items: list[str] | None = None) -> dict[str, object]:
    out: dict[str, object] = {"code": code, "detail": detail}
    if items is not None:
        out["items"] = items
    return out


async def report_findings(
    session: AsyncSession, job: Job, args: ReportArgs, today: date
) -> list[dict[str, object]]:
    """What auditors should look at: charges outside the city's fee policy (a visit fee
    inside warranty above all), required checklist items not done, photos that are not
    this job's. Never a reason to refuse the report: the customer saw it."""
    findings: list[dict[str, object]] = []
    policy = await session.scalar(select(FeePolicy).where(FeePolicy.city_id == job.city_id))
    appliance = (
        await session.get(Appliance, job.appliance_id) if job.appliance_id is not None else None
    )
    in_warranty = appliance is not None and appliance.in_warranty(today)
    items: dict[str, dict[str, Any]] = {
        str(i.get("code")): dict(i) for i in (policy.items if policy is not None else [])
    }
    for charge in args.charges:
        if charge.code == VISIT_FEE and policy is not None:
            cap: int | None = policy.visit_fee
            allowed_in_warranty = policy.visit_fee_in_warranty
        elif charge.code in items:
            item = items[charge.code]
            raw = item.get("max_amount")
            cap = int(raw) if isinstance(raw, int | float) else None
            allowed_in_warranty = bool(item.get("allowed_in_warranty", False))
        else:
            findings.append(
                _finding(
                    "charge_not_in_policy",
                    f"{charge.code!r} is not in this city's fee policy.",
                    [charge.code],
                )
            )
            continue
        if cap is not None and charge.amount > cap:
            findings.append(
                _finding(
                    "charge_above_policy",
                    f"{charge.code!r} of {charge.amount} is above the policy's {cap}.",
                    [charge.code],
                )
            )
        if in_warranty and charge.amount > 0 and not allowed_in_warranty:
            findings.append(
                _finding(
                    "charge_in_warranty",
                    f"{charge.code!r} charged while the appliance is in warranty.",
                    [charge.code],
                )
            )

    category = appliance.category if appliance is not None else "*"
    checklists = {
        c.category: c
        for c in await session.scalars(
            select(Checklist).where(
                Checklist.job_kind == job.kind, Checklist.category.in_([category, "*"])
            )
        )
    }
    checklist = checklists.get(category) or checklists.get("*")  # as in the job packet
    if checklist is not None:
        missing = [
            str(i.get("code"))
            for i in checklist.items
            if i.get("required") and not args.checklist.get(str(i.get("code")), False)
        ]
        if missing:
            findings.append(
                _finding(
                    "checklist_incomplete",
                    "Required checklist items not done: " + ", ".join(missing) + ".",
                    missing,
                )
            )

    claimed = {p for ids in args.photos.values() for p in ids}
    if claimed:
        known = set(
            await session.scalars(
                select(Photo.id).where(Photo.job_id == job.id, Photo.id.in_(claimed))
            )
        )
        unknown = sorted(str(p) for p in claimed - known)
        if unknown:
            findings.append(
                _finding("unknown_photo", "Photos that are not this job's were ignored.", unknown)
            )
    return findings


async def _local_today(ctx: MutationContext, job: Job) -> date:
    """Warranty ends on a calendar day of the customer's city."""
    city = await ctx.session.get(City, job.city_id)
    try:
        zone = ZoneInfo(city.timezone) if city is not None else ZoneInfo("UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return ctx.now.astimezone(zone).date()


async def report(ctx: MutationContext, args: ReportArgs, job: Job | None) -> Applied:
    """The completion report: kept whole (a newer one supersedes it for sign-off, the old
    one stays), hashed for the sign-off, and checked against policy for auditors."""
    assert job is not None
    if await ctx.session.get(CompletionReport, args.report_id) is not None:
        return Applied()
    flags = fact_flags(ctx, job)
    content = report_content(args)
    sha = report_sha256(args)
    findings = await report_findings(ctx.session, job, args, await _local_today(ctx, job))
    ctx.session.add(
        CompletionReport(
            id=args.report_id,
            **fact_fields(ctx, job, flags),
            sha256=sha,
            findings=findings,
            **content,
        )
    )
    await ctx.session.flush()
    await record(
        ctx,
        job,
        "fact:report",
        {
            "report_id": str(args.report_id),
            "sha256": sha,
            "findings": [f["code"] for f in findings],
            "flags": flags,
        },
        fact=True,
    )
    return Applied(flags=flags)


# --- job.sign_off -----------------------------------------------------------------------


async def sign_off(ctx: MutationContext, args: SignOffArgs, job: Job | None) -> Applied:
    """The customer's approval of one report, by its hash. Kept even when that report is
    unknown here (it may still be in the phone's queue, or never have been sent)."""
    assert job is not None
    if (args.latitude is None) != (args.longitude is None):
        raise Rejected("incomplete_coordinates", "Give both latitude and longitude, or neither.")
    _aware(args.signed_at, "signed_at")
    if not args.signature_sha256 and not args.strokes:
        raise Rejected("signature_required", "A sign-off needs a signature image or pen strokes.")
    if await ctx.session.get(SignOff, args.sign_off_id) is not None:
        return Applied()
    flags = fact_flags(ctx, job)
    known = await ctx.session.scalar(
        select(CompletionReport.id)
        .where(CompletionReport.job_id == job.id, CompletionReport.sha256 == args.report_sha256)
        .limit(1)
    )
    if known is None:
        flags.append("unknown_report")
    ctx.session.add(
        SignOff(
            id=args.sign_off_id,
            **fact_fields(ctx, job, flags),
            signer_name=args.signer_name,
            signed_at=args.signed_at,
            latitude=args.latitude,
            longitude=args.longitude,
            report_sha256=args.report_sha256,
            signature_sha256=args.signature_sha256,
            strokes=[[list(p) for p in s] for s in args.strokes] if args.strokes else None,
        )
    )
    await ctx.session.flush()
    await record(
        ctx,
        job,
        "fact:sign_off",
        {
            "sign_off_id": str(args.sign_off_id),
            "report_sha256": args.report_sha256,
            "flags": flags,
        },
        fact=True,
    )
    return Applied(flags=flags)


async def sign_off_status(session: AsyncSession, job_id: uuid.UUID) -> dict[str, Any]:
    """Whether the job's current report is signed. The current report is the latest
    received (device time breaks ties within one push); a report sent after the
    customer signed shows as no longer signed (``stale``) — they never saw it."""
    latest = await session.scalar(
        select(CompletionReport.sha256)
        .where(CompletionReport.job_id == job_id)
        .order_by(CompletionReport.received_at.desc(), CompletionReport.device_time.desc())
        .limit(1)
    )
    signed_sha = await session.scalar(
        select(SignOff.report_sha256)
        .where(SignOff.job_id == job_id)
        .order_by(SignOff.received_at.desc(), SignOff.device_time.desc())
        .limit(1)
    )
    signed = (
        latest is not None
        and await session.scalar(
            select(SignOff.id)
            .where(SignOff.job_id == job_id, SignOff.report_sha256 == latest)
            .limit(1)
        )
        is not None
    )
    return {
        "signed": signed,
        "report_sha256": latest,
        "signed_sha256": signed_sha,
        "stale": signed_sha is not None and not signed,
    }


HANDLERS: dict[str, Handler] = {
    "job.call_attempt": call_attempt,
    "job.check_out": check_out,
    "job.location_trace": location_trace,
    "job.report": report,
    "job.sign_off": sign_off,
}
