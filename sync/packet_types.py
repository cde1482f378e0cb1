"""The job packet: one document per job with everything a technician needs offline."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import msgspec

__all__ = [
    "ApplianceInfo",
    "CalendarDoc",
    "CalendarExceptionInfo",
    "ChecklistInfo",
    "CustomerInfo",
    "FeePolicyInfo",
    "JobInfo",
    "JobPacket",
    "KbArticleDoc",
    "KbLink",
    "PartInfo",
    "PastVisit",
    "PhoneInfo",
    "TraceSampling",
]


class JobInfo(msgspec.Struct):
    id: uuid.UUID
    number: str
    kind: str
    priority: str
    status: str
    description: str
    window_start: datetime | None
    window_end: datetime | None
    contact_due_at: datetime | None
    onsite_due_at: datetime | None
    previous_job_id: uuid.UUID | None
    unable_reason: str | None
    reschedule_requested_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    version: int
    """Send it back as ``base_version`` with mutations on this job."""
    repeat_seq: int = 0
    """2: the appliance's second repair within 30 days (reviewed); 3 or more: a
    complaint — take extra care, it is the customer's third visit for this."""
    is_complaint: bool = False
    parts: list[PartInfo] = []
    """Parts and consumables to bring (a maintenance job's filters, say)."""


class PartInfo(msgspec.Struct):
    code: str
    name: str = ""
    quantity: int = 1


class PhoneInfo(msgspec.Struct):
    number: str
    label: str


class CustomerInfo(msgspec.Struct):
    id: uuid.UUID
    name: str
    phones: list[PhoneInfo]
    address: str
    city: str
    timezone: str
    latitude: float | None
    longitude: float | None


class PastVisit(msgspec.Struct):
    job_id: uuid.UUID
    number: str
    kind: str
    status: str
    date: datetime
    technician: str | None
    summary: str
    """What was done (the completion summary), or why it could not be."""


class ApplianceInfo(msgspec.Struct):
    id: uuid.UUID
    category: str
    brand: str
    model: str
    serial: str | None
    purchase_date: date | None
    install_date: date | None
    warranty_end: date | None
    in_warranty: bool
    installed_by: str | None
    service_history: list[PastVisit]
    """Earlier jobs on this appliance, newest first."""


class ChecklistInfo(msgspec.Struct):
    version: int
    items: list[dict[str, Any]]
    """``{"code", "label", "required"}``."""


class FeePolicyInfo(msgspec.Struct):
    currency: str
    visit_fee: int
    visit_fee_in_warranty: bool
    items: list[dict[str, Any]]
    """``{"code", "label", "max_amount", "allowed_in_warranty"}``, amounts in minor units."""


class KbLink(msgspec.Struct):
    id: uuid.UUID
    title: str


class TraceSampling(msgspec.Struct, omit_defaults=False):
    """How the brand wants the phone to record its location trace
    (``job.location_trace``, docs/protocol/location-trace.md): from ``en_route`` until
    the claim (check-out, ``job.complete`` or ``job.unable_to_complete``), a point when
    ``interval_s`` have passed since the last one and the phone moved ``min_distance_m``
    or more, and in any case every ``stationary_interval_s`` (a phone standing at a door
    must still leave points there); a chunk at least every ``chunk_every_s`` and at most
    ``max_points_per_chunk`` points in one."""

    enabled: bool = True
    interval_s: int = 10
    min_distance_m: int = 20
    stationary_interval_s: int = 60
    chunk_every_s: int = 300
    max_points_per_chunk: int = 500


class JobPacket(msgspec.Struct):
    job: JobInfo
    customer: CustomerInfo
    appliance: ApplianceInfo | None
    checklist: ChecklistInfo
    fee_policy: FeePolicyInfo | None
    evidence_rules: dict[str, list[dict[str, Any]]]
    """Per claim (``customer_not_home``, ``completed``): what evidence the phone should
    collect before the technician makes the claim."""
    kb_articles: list[KbLink]
    """Articles for the appliance's category; each is its own ``kb_article`` document."""
    location_trace: TraceSampling = msgspec.field(default_factory=TraceSampling)
    """The location trace the brand wants recorded (``enabled: false``: none)."""


class KbArticleDoc(msgspec.Struct):
    id: uuid.UUID
    category: str
    title: str
    body: str
    version: int


class CalendarExceptionInfo(msgspec.Struct):
    id: uuid.UUID
    kind: str
    """``off`` (leave, a holiday) or ``extra`` (hours added)."""
    first_day: date
    last_day: date
    start: str | None
    """Local ``HH:MM``; empty with ``end``: the whole day."""
    end: str | None
    reason: str
    provider_wide: bool
    """A holiday of the whole provider, not the technician's own."""


class CalendarDoc(msgspec.Struct):
    """The technician's own calendar: their working week, capacity and the leave,
    holidays and extra hours from today on. Hours are local to the city the work is in
    (a job packet's ``customer.timezone``); the day's visits are the job packets."""

    technician_id: uuid.UUID
    weekly: dict[str, list[list[str]]]
    """``{"mon": [["08:30", "12:00"], ["13:00", "18:00"]], …}``; a day missing is a day
    off; empty: no hours given."""
    jobs_per_window: int
    timezone: str
    """The time zone of the technician's provider's (first) city."""
    exceptions: list[CalendarExceptionInfo]
    updated_at: datetime | None
