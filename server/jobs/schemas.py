"""Wire types of the dispatch API for jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from sync.vocabulary import JobKind, JobPriority, JobSource, JobStatus

__all__ = [
    "AppointmentIn",
    "AssignIn",
    "CancelIn",
    "Candidate",
    "ContactIn",
    "JobCreate",
    "JobEventOut",
    "JobOut",
    "JobPage",
    "ReasonOut",
    "RepeatLink",
    "RepeatRepairOut",
    "RepeatRepairPage",
    "RepeatReviewIn",
    "candidate_out",
    "reason_out",
]

Reason = Annotated[str, msgspec.Meta(max_length=500, examples=["Customer asked for the evening"])]
Window = Annotated[datetime, msgspec.Meta(tz=True, examples=["2026-11-23T02:00:00Z"])]


class JobCreate(msgspec.Struct, forbid_unknown_fields=True):
    customer_id: uuid.UUID
    kind: JobKind
    appliance_id: uuid.UUID | None = None
    """Required for after-sales work (repair, maintenance, relocation)."""
    priority: JobPriority = JobPriority.NORMAL
    source: JobSource = JobSource.CALL
    description: Annotated[
        str, msgspec.Meta(max_length=4000, examples=["No hot water since Monday"])
    ] = ""
    window_start: Window | None = None
    """Appointment window; leave both empty for a pending appointment."""
    window_end: Window | None = None
    provider_id: uuid.UUID | None = None
    technician_id: uuid.UUID | None = None
    previous_job_id: uuid.UUID | None = None
    """The earlier job on the same appliance; found automatically when omitted."""
    external_ref: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["JD-2026112300417"])]
        | None
    ) = None
    """The shop's sale or the brand's order reference: unique per ``source`` (a second
    job with the same one is refused, 409 ``external_ref_taken``)."""


class AssignIn(msgspec.Struct, forbid_unknown_fields=True):
    provider_id: uuid.UUID
    technician_id: uuid.UUID | None = None
    """Empty: the provider picks the technician later."""
    reason: Reason = ""
    override_conflict: bool = False
    """Assign although the technician is busy, off or outside working hours then
    (``technician_busy``); needs a ``reason``, kept in the history."""


class AppointmentIn(msgspec.Struct, forbid_unknown_fields=True):
    window_start: Window
    window_end: Window
    reason: Reason = ""
    override_conflict: bool = False
    """Book although the technician is busy, off or outside working hours then
    (``technician_busy``); needs a ``reason``, kept in the history."""


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[
        str, msgspec.Meta(min_length=1, max_length=500, examples=["Customer returned the unit"])
    ]


class ContactIn(msgspec.Struct, forbid_unknown_fields=True):
    at: Window | None = None
    """When the customer was reached; now when omitted."""
    note: Reason = ""


class PartyRef(msgspec.Struct):
    id: uuid.UUID
    name: str


class JobOut(msgspec.Struct):
    id: uuid.UUID
    number: Annotated[str, msgspec.Meta(examples=["J2611-000042"])]
    kind: JobKind
    priority: JobPriority
    source: JobSource
    status: JobStatus
    description: str
    customer_id: uuid.UUID
    appliance_id: uuid.UUID | None
    city_id: uuid.UUID
    provider_id: uuid.UUID | None
    technician_id: uuid.UUID | None
    previous_job_id: uuid.UUID | None
    repeat_of_id: uuid.UUID | None
    """A repeat repair: the first repair of the same appliance within the 30 days before."""
    repeat_seq: int
    """0: not a repeat; 2: the second repair within 30 days (for review); 3 or more: a
    complaint."""
    is_complaint: bool
    """Only a senior technician may be assigned."""
    repeat_reviewed_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    pending_appointment: bool
    contact_due_at: datetime | None
    onsite_due_at: datetime | None
    contacted_at: datetime | None
    arrived_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    unable_reason: str | None
    reschedule_requested_at: datetime | None
    overdue: list[str]
    """``contact_overdue``, ``onsite_overdue``, ``appointment_missed``."""
    version: int
    created_at: datetime
    updated_at: datetime
    external_ref: str | None = None
    """The shop's sale or the brand's order reference."""
    parts: list[dict[str, Any]] = []
    """Parts and consumables to bring: ``[{"code", "name", "quantity"}]`` (a maintenance
    job's filters, say)."""


class JobPage(msgspec.Struct):
    items: list[JobOut]
    total: int
    limit: int
    offset: int


class JobEventOut(msgspec.Struct):
    id: uuid.UUID
    at: datetime
    kind: str
    actor_id: uuid.UUID | None
    actor_role: str | None
    source: str
    device_id: uuid.UUID | None
    remote_addr: str | None
    data: dict[str, Any]


class ReasonOut(msgspec.Struct):
    """One reason of a dispatch choice: a stable ``code`` with its ``params``, and the
    ``text`` in the caller's locale."""

    code: Annotated[str, msgspec.Meta(examples=["installer"])]
    params: dict[str, str]
    text: Annotated[str, msgspec.Meta(examples=["the installer"])]


class Candidate(msgspec.Struct):
    technician_id: uuid.UUID
    full_name: str
    provider_id: uuid.UUID
    skill_level: str | None
    is_installer: bool
    """Installed this appliance: after-sales work goes to them first."""
    open_jobs: int
    eligible: bool = True
    """False: may not take the job (``blockers`` say why); listed after every eligible one."""
    score: float = 0.0
    """Higher is better; only the order matters."""
    distance_km: float | None = None
    """From the technician's last fix of the day, else their home position."""
    free: list[list[datetime]] = msgspec.field(default_factory=list)
    """Free spans ``[start, end]`` in the window (or, pending, in the next hours)."""
    summary: Annotated[str, msgspec.Meta(examples=["the installer, 2.1 km away"])] = ""
    """The reasons (or the blockers) in words, in the caller's locale."""
    reasons: list[ReasonOut] = msgspec.field(default_factory=list)
    blockers: list[ReasonOut] = msgspec.field(default_factory=list)


def reason_out(reason: Any, locale: str) -> ReasonOut:
    from server.dispatch.assign import render

    d = reason if isinstance(reason, dict) else reason.as_dict()
    return ReasonOut(
        code=str(d.get("code", "")),
        params={str(k): str(v) for k, v in (d.get("params") or {}).items()},
        text=render(d, locale),
    )


def candidate_out(r: Any, locale: str) -> Candidate:
    """A ``server.dispatch.assign.Ranked`` on the wire."""
    return Candidate(
        technician_id=r.technician_id,
        full_name=r.full_name,
        provider_id=r.provider_id,
        skill_level=r.skill_level,
        is_installer=r.is_installer,
        open_jobs=r.open_jobs,
        eligible=r.eligible,
        score=round(r.score, 2),
        distance_km=r.distance_km,
        free=[[a, b] for a, b in r.free],
        summary=r.summary(locale),
        reasons=[reason_out(x, locale) for x in r.reasons],
        blockers=[reason_out(x, locale) for x in r.blockers],
    )


class RepeatLink(msgspec.Struct):
    """One earlier repair a repeat repair repeats."""

    id: uuid.UUID
    number: str
    status: JobStatus
    created_at: datetime
    provider_id: uuid.UUID | None
    technician_id: uuid.UUID | None


class RepeatRepairOut(msgspec.Struct):
    job: JobOut
    chain: list[RepeatLink]
    """The repairs on the same appliance within the 30 days before it, earliest first (the
    first is ``job.repeat_of_id``); cancelled ones count only if cancelled afterwards."""


class RepeatRepairPage(msgspec.Struct):
    items: list[RepeatRepairOut]
    total: int
    limit: int
    offset: int


class RepeatReviewIn(msgspec.Struct, forbid_unknown_fields=True):
    note: Annotated[
        str,
        msgspec.Meta(
            min_length=1, max_length=2000, examples=["Different fault: the thermostat this time"]
        ),
    ]
    """What the auditor found."""
