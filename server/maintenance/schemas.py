"""Wire types of maintenance plans (``/maintenance``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from sync.vocabulary import ApplianceCategory

__all__ = [
    "Part",
    "PlanCreate",
    "PlanOut",
    "RunOut",
    "ScheduleOut",
    "SchedulePage",
    "TaskIn",
    "TaskOut",
]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["Filter change"])]


class Part(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["RO-400G"])]
    name: Annotated[str, msgspec.Meta(max_length=200, examples=["RO membrane"])] = ""
    quantity: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1


class TaskIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    interval_days: Annotated[int, msgspec.Meta(ge=1, le=3650, examples=[180])]
    """Every so many days: from the install (or purchase) date, then from the day it was
    last done."""
    usage_interval: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """Or every so many units of use (litres filtered, say), whichever comes first;
    recorded for the technician, not yet read from the appliance."""
    usage_unit: Annotated[str, msgspec.Meta(max_length=16, examples=["L"])] = ""
    parts: list[Part] = []
    """What the technician brings: carried on the job."""
    lead_days: Annotated[int, msgspec.Meta(ge=0, le=90)] = 14
    """The job is created (and the customer told) this many days before it is due."""
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class PlanCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    category: ApplianceCategory
    brand: Annotated[str, msgspec.Meta(max_length=64)] = ""
    """Empty: every brand of the category."""
    model: Annotated[str, msgspec.Meta(max_length=120)] = ""
    """Empty: every model."""
    appliance_id: uuid.UUID | None = None
    """A plan for this one appliance (category, brand and model then ignored)."""
    tasks: Annotated[list[TaskIn], msgspec.Meta(min_length=1, max_length=20)]


class TaskOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    interval_days: int | None
    usage_interval: int | None
    usage_unit: str
    parts: list[Part]
    lead_days: int
    description: str


class PlanOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    category: str
    brand: str
    model: str
    appliance_id: uuid.UUID | None
    active: bool
    tasks: list[TaskOut]
    created_at: datetime


class PlanPage(msgspec.Struct):
    items: list[PlanOut]


State = Literal["due", "overdue", "done", "upcoming"]


class ScheduleOut(msgspec.Struct):
    id: uuid.UUID
    state: State
    due_on: date
    last_done_on: date | None
    task: str
    plan: str
    parts: list[Part]
    appliance_id: uuid.UUID
    appliance: str
    customer_id: uuid.UUID
    customer_name: str
    city_id: uuid.UUID
    job_id: uuid.UUID | None
    """The open maintenance job made for it."""
    job_number: str | None
    job_status: str | None
    last_job_id: uuid.UUID | None


class SchedulePage(msgspec.Struct):
    items: list[ScheduleOut]
    total: int
    limit: int
    offset: int


class RunOut(msgspec.Struct):
    scheduled: int
    created: list[str]
    """Job numbers created."""
