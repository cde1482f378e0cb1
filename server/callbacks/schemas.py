"""Wire types of the callback audit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "CallbackOut",
    "CallbackPage",
    "CustomerReplyOut",
    "Outcome",
    "OutcomeIn",
    "OutcomeOut",
    "Satisfaction",
    "SmsInboundIn",
    "SmsInboundOut",
    "ViolationOut",
]

Outcome = Literal["confirmed", "contradicted", "unreachable", "rescheduled"]
Satisfaction = Literal["very_satisfied", "satisfied", "dissatisfied"]
TaskKind = Literal["not_home", "unable", "completion", "status_check"]


class OutcomeIn(msgspec.Struct, forbid_unknown_fields=True):
    """What the customer said. ``confirmed``: the claim is true (for a completion, the
    work was done — give ``satisfaction``); ``contradicted``: it is not ("I was home,
    nobody came") — a violation is recorded and the job goes back to dispatch;
    ``unreachable``: nobody answered — the callback comes back later, up to a limit;
    ``rescheduled``: the customer had rescheduled the visit themselves.

    ``corrects``: the id of the outcome this entry replaces (outcomes are never edited)."""

    outcome: Annotated[Outcome, msgspec.Meta(examples=["contradicted"])]
    satisfaction: Annotated[Satisfaction, msgspec.Meta(examples=["very_satisfied"])] | None = None
    comment: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    corrects: uuid.UUID | None = None


class OutcomeOut(msgspec.Struct):
    id: uuid.UUID
    task_id: uuid.UUID
    outcome: str
    satisfaction: str | None
    comment: str
    recorded_by: uuid.UUID | None
    recorded_by_name: str | None
    recorded_at: datetime
    corrects: uuid.UUID | None
    corrected_by: uuid.UUID | None
    """Set when a later entry replaced this one: it no longer counts."""


class CustomerReplyOut(msgspec.Struct):
    id: uuid.UUID
    received_at: datetime
    body: str
    meaning: str
    """``was_home``, ``was_away`` or ``unclear``."""


class ViolationOut(msgspec.Struct):
    id: uuid.UUID
    job_id: uuid.UUID
    job_number: str
    task_id: uuid.UUID
    outcome_id: uuid.UUID
    kind: str
    technician_id: uuid.UUID | None
    technician_name: str | None
    provider_id: uuid.UUID | None
    provider_name: str | None
    fine_amount: int
    """In the currency's minor unit."""
    currency: str
    recorded_at: datetime
    voided_at: datetime | None
    voided_by_outcome_id: uuid.UUID | None


class CallbackOut(msgspec.Struct):
    id: uuid.UUID
    kind: str
    state: str
    """``open``, ``done`` or ``cancelled``."""
    job_id: uuid.UUID
    job_number: str
    job_status: str
    city_id: uuid.UUID
    customer_id: uuid.UUID
    customer_name: str
    technician_id: uuid.UUID | None
    technician_name: str | None
    provider_id: uuid.UUID | None
    provider_name: str | None
    unable_reason: str | None
    claimed_at: datetime | None
    claimed_device_time: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    created_at: datetime
    due_at: datetime
    overdue: bool
    next_attempt_at: datetime | None
    """An unreachable customer is called again from then on."""
    attempts: int
    max_attempts: int
    risk_score: int
    """``risk_probability`` in percent, rounded (0..100)."""
    risk_probability: float | None
    """The risk model's probability that the claim is false (``None``: not scored yet)."""
    risk_model: str | None
    """The version of the weight set that scored it (``default-1``: the shipped one)."""
    risk_factors: list[dict[str, Any]]
    """Why: ``[{"code", "contribution", "points", "value", "words", "detail"}]``, largest
    push first. ``contribution`` is in log-odds; ``words`` says it for the auditor
    ("door photo taken 420 m from the address: +1.8")."""
    holder_id: uuid.UUID | None
    holder_name: str | None
    held_until: datetime | None
    result: str | None
    closed_at: datetime | None
    customer_reply: str | None
    customer_satisfaction: str | None = None
    """What the customer answered on their own page after the completion
    (``very_satisfied`` / ``satisfied`` / ``dissatisfied``), beside the auditor's
    ``satisfaction`` in ``outcomes``: the two are kept apart. Detail view only."""
    customer_satisfaction_at: datetime | None = None
    outcomes: list[OutcomeOut] = []
    replies: list[CustomerReplyOut] = []
    violations: list[ViolationOut] = []


class CallbackPage(msgspec.Struct):
    items: list[CallbackOut]
    total: int
    limit: int
    offset: int


class SmsInboundIn(msgspec.Struct, forbid_unknown_fields=True):
    """A customer's SMS as the gateway received it."""

    message_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    sender: Annotated[str, msgspec.Meta(min_length=3, max_length=32, examples=["+8613800000000"])]
    text: Annotated[str, msgspec.Meta(max_length=1000)]
    received_at: datetime | None = None


class SmsInboundOut(msgspec.Struct):
    matched: bool
    """False when the sender has no open confirmation request (nothing is stored)."""
    duplicate: bool = False
    task_id: uuid.UUID | None = None
    meaning: str | None = None


class CallRecordIn(msgspec.Struct, forbid_unknown_fields=True):
    """One call as the carrier's number-protection service recorded it."""

    record_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    """The carrier's id of the record: a redelivery with the same id is not stored twice."""
    masked_number: Annotated[str, msgspec.Meta(min_length=3, max_length=32)]
    job_id: uuid.UUID
    """The job the brand bound the masked number to when it was handed out."""
    caller: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    callee: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    started_at: datetime
    duration_s: Annotated[int, msgspec.Meta(ge=0, le=86_400)]
    """Seconds from dialling to hang-up (ringing included)."""
    answered: bool
    technician_id: uuid.UUID | None = None


class CallRecordsIn(msgspec.Struct, forbid_unknown_fields=True):
    records: Annotated[list[CallRecordIn], msgspec.Meta(min_length=1, max_length=500)]


class CallRecordsOut(msgspec.Struct):
    stored: int
    duplicates: int
    unknown_job: int
    """Records bound to no job of this server (stored, but they score nothing)."""
