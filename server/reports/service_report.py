"""Assemble a job's service report from its facts.

Framework-free on purpose: the JSON route, the printable page and the customer's link
all render the same ``ServiceReport``, so what a customer sees can never drift from
what the desk sees (minus the audit-only parts, which the renderer leaves out).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from evidence import verdicts
from server.db.models import Appliance, Checkin, City, Customer, Job
from server.db.models.evidence import CompletionReport, Photo, SignOff
from server.db.models.provider import FeePolicy, Provider
from server.db.models.user import User
from server.errors import NotFound
from sync.field_evidence import sign_off_status

__all__ = [
    "ApplianceInfo",
    "ChargeLine",
    "PartLine",
    "PhotoRef",
    "ReportBody",
    "ServiceReport",
    "SignOffInfo",
    "Times",
    "VerdictInfo",
    "build",
]


class ApplianceInfo(msgspec.Struct):
    category: str
    brand: str
    model: str
    serial: str | None
    warranty_end: date | None
    in_warranty: bool
    """On the day of the visit (or today, before one)."""


class Times(msgspec.Struct):
    window_start: datetime | None
    window_end: datetime | None
    arrived_at: datetime | None
    """The job's arrival, or else the earliest check-in fix."""
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    completed_at: datetime | None
    time_on_site_s: int | None
    """Check-out minus check-in, when both fixes carry a time."""


class PartLine(msgspec.Struct):
    name: str
    code: str
    quantity: int
    unit_price: int
    total: int


class ChargeLine(msgspec.Struct):
    code: str
    label: str
    amount: int


class ReportBody(msgspec.Struct):
    """The latest completion report: the one a sign-off must be bound to."""

    report_id: uuid.UUID
    sha256: str
    received_at: datetime
    work_done: str
    parts: list[PartLine]
    charges: list[ChargeLine]
    parts_total: int
    charges_total: int
    checklist: dict[str, bool]
    findings: list[dict[str, Any]]
    """Audit-only: never shown on the customer's page."""


class PhotoRef(msgspec.Struct):
    photo_id: uuid.UUID
    sha256: str
    taken_at: datetime | None


class SignOffInfo(msgspec.Struct):
    signer_name: str
    signed_at: datetime | None
    report_sha256: str
    signed: bool
    """The latest report is the one the customer signed."""
    stale: bool
    """The customer signed an earlier report: the current one was never approved."""


class VerdictInfo(msgspec.Struct):
    claim_type: str
    passed: bool
    computed_at: datetime
    rules_version: int
    verdicts: list[dict[str, Any]]


class ServiceReport(msgspec.Struct):
    job_id: uuid.UUID
    number: str
    kind: str
    status: str
    customer_name: str
    customer_address: str
    """No phone numbers: this document is handed to the customer and may be forwarded."""
    appliance: ApplianceInfo | None
    technician_name: str | None
    provider_name: str | None
    currency: str
    timezone: str
    """The city's IANA zone: every time a person reads on the report is local to it."""
    times: Times
    report: ReportBody | None
    photos: dict[str, list[PhotoRef]]
    sign_off: SignOffInfo | None
    verdicts: list[VerdictInfo]
    """Audit-only: never shown on the customer's page."""


def _int(value: object, default: int = 0) -> int:
    return int(value) if isinstance(value, int | float) else default


def _report_body(row: CompletionReport) -> ReportBody:
    parts = [
        PartLine(
            name=str(p.get("name", "")),
            code=str(p.get("code", "")),
            quantity=_int(p.get("quantity"), 1),
            unit_price=_int(p.get("unit_price")),
            total=_int(p.get("quantity"), 1) * _int(p.get("unit_price")),
        )
        for p in row.parts
    ]
    charges = [
        ChargeLine(
            code=str(c.get("code", "")), label=str(c.get("label", "")), amount=_int(c.get("amount"))
        )
        for c in row.charges
    ]
    return ReportBody(
        report_id=row.id,
        sha256=row.sha256,
        received_at=row.received_at,
        work_done=row.work_done,
        parts=parts,
        charges=charges,
        parts_total=sum(p.total for p in parts),
        charges_total=sum(c.amount for c in charges),
        checklist={str(k): bool(v) for k, v in row.checklist.items()},
        findings=[dict(f) for f in row.findings],
    )


async def _fix_times(
    session: AsyncSession, job_id: uuid.UUID
) -> tuple[datetime | None, datetime | None]:
    """Earliest arrival fix and latest departure fix: the widest honest span on site."""
    checked_in = await session.scalar(
        select(Checkin.fix_time)
        .where(Checkin.job_id == job_id, Checkin.kind == "check_in", Checkin.fix_time.is_not(None))
        .order_by(Checkin.fix_time)
        .limit(1)
    )
    checked_out = await session.scalar(
        select(Checkin.fix_time)
        .where(Checkin.job_id == job_id, Checkin.kind == "check_out", Checkin.fix_time.is_not(None))
        .order_by(Checkin.fix_time.desc())
        .limit(1)
    )
    return checked_in, checked_out


async def build(session: AsyncSession, job_id: uuid.UUID) -> ServiceReport:
    """Everything the report shows, read in one session. Visibility is the caller's
    business (a desk route checks scope; a customer link carries a signed job id)."""
    job = await session.get(Job, job_id)
    if job is None:
        raise NotFound("job", job_id)
    customer = await session.get(Customer, job.customer_id)
    appliance = (
        await session.get(Appliance, job.appliance_id) if job.appliance_id is not None else None
    )
    technician = (
        await session.get(User, job.technician_id) if job.technician_id is not None else None
    )
    provider = await session.get(Provider, job.provider_id) if job.provider_id is not None else None
    policy = await session.scalar(select(FeePolicy).where(FeePolicy.city_id == job.city_id))
    city = await session.get(City, job.city_id)

    checked_in, checked_out = await _fix_times(session, job_id)
    on_site = (
        int((checked_out - checked_in).total_seconds())
        if checked_in is not None and checked_out is not None
        else None
    )
    times = Times(
        window_start=job.window_start,
        window_end=job.window_end,
        arrived_at=job.arrived_at or checked_in,
        checked_in_at=checked_in,
        checked_out_at=checked_out,
        completed_at=job.completed_at,
        time_on_site_s=on_site,
    )

    # Same ordering as sign_off_status, so "the latest report" means one thing everywhere.
    latest = await session.scalar(
        select(CompletionReport)
        .where(CompletionReport.job_id == job_id)
        .order_by(CompletionReport.received_at.desc(), CompletionReport.device_time.desc())
        .limit(1)
    )

    photos: dict[str, list[PhotoRef]] = {}
    for p in await session.scalars(
        select(Photo).where(Photo.job_id == job_id).order_by(Photo.received_at, Photo.id)
    ):
        photos.setdefault(p.kind, []).append(
            PhotoRef(photo_id=p.id, sha256=p.sha256, taken_at=p.taken_at)
        )

    signed = await session.scalar(
        select(SignOff)
        .where(SignOff.job_id == job_id)
        .order_by(SignOff.received_at.desc(), SignOff.device_time.desc())
        .limit(1)
    )
    sign_off: SignOffInfo | None = None
    if signed is not None:
        state = await sign_off_status(session, job_id)
        sign_off = SignOffInfo(
            signer_name=signed.signer_name,
            signed_at=signed.signed_at,
            report_sha256=signed.report_sha256,
            signed=bool(state["signed"]),
            stale=bool(state["stale"]),
        )

    latest_verdicts = await verdicts.latest(session, job_id)

    visit_day = (job.completed_at or job.arrived_at or job.created_at).date()
    return ServiceReport(
        job_id=job.id,
        number=job.number,
        kind=job.kind,
        status=job.status,
        customer_name=customer.name if customer is not None else "",
        customer_address=customer.address if customer is not None else "",
        appliance=(
            ApplianceInfo(
                category=appliance.category,
                brand=appliance.brand,
                model=appliance.model,
                serial=appliance.serial,
                warranty_end=appliance.warranty_end,
                in_warranty=appliance.in_warranty(visit_day),
            )
            if appliance is not None
            else None
        ),
        technician_name=technician.full_name if technician is not None else None,
        provider_name=provider.name if provider is not None else None,
        currency=policy.currency if policy is not None else "CNY",
        timezone=city.timezone if city is not None else "UTC",
        times=times,
        report=_report_body(latest) if latest is not None else None,
        photos=photos,
        sign_off=sign_off,
        verdicts=[
            VerdictInfo(
                claim_type=v.claim_type,
                passed=v.passed,
                computed_at=v.computed_at,
                rules_version=v.rules_version,
                verdicts=[dict(x) for x in v.verdicts],
            )
            for v in latest_verdicts
        ],
    )
