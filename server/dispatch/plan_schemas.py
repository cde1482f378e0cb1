"""Wire types of the day's plan (``/dispatch/plans``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

__all__ = ["PlanIn", "PlanOut", "PlanPage", "PlanRoute", "PlanStop", "PlanUnassigned"]


class PlanIn(msgspec.Struct, forbid_unknown_fields=True):
    city_id: uuid.UUID
    day: Annotated[date, msgspec.Meta(examples=["2026-11-24"])]
    """The local day (in the city's time zone)."""
    time_limit_s: Annotated[float, msgspec.Meta(gt=0, le=120, examples=[10])] = 10.0
    """How long the solver may search; the best plan found by then is proposed."""


class PlanStop(msgspec.Struct):
    job_id: uuid.UUID
    job_number: str
    job_version: int
    """The job as planned: if it has changed by acceptance, it is skipped."""
    booked: bool
    """Already this technician's: the plan only works around it."""
    pending: bool
    """The job had no appointment: accepting books ``window_start``-``window_end``."""
    arrive: datetime
    leave: datetime
    window_start: datetime | None
    window_end: datetime | None
    travel_m: int
    """From the previous stop (the first: from the technician's home or the city centre)."""
    urgent: bool


class PlanRoute(msgspec.Struct):
    technician_id: uuid.UUID
    technician_name: str
    provider_id: uuid.UUID
    travel_m: int
    stops: list[PlanStop]


class PlanUnassigned(msgspec.Struct):
    job_id: uuid.UUID
    job_number: str
    reason: str


class PlanSkipped(msgspec.Struct):
    job_number: str
    reason: str


class PlanOutcome(msgspec.Struct):
    applied: list[str]
    """Job numbers assigned (and booked)."""
    skipped: list[PlanSkipped]
    """Jobs changed since the plan was made, or refused."""


class PlanOut(msgspec.Struct):
    id: uuid.UUID
    city_id: uuid.UUID
    provider_id: uuid.UUID | None
    day: date
    state: Literal["proposed", "accepted", "discarded"]
    created_at: datetime
    time_limit_s: float
    solve_s: float
    travel_m: int
    baseline_travel_m: int
    """The greedy nearest-free-technician rule's travel on the same jobs."""
    baseline_served: int
    """Jobs the greedy rule fitted (compare with the stops of ``routes``)."""
    routes: list[PlanRoute]
    unassigned: list[PlanUnassigned]
    decided_at: datetime | None
    outcome: PlanOutcome | None
    """After acceptance: what was applied and what was skipped."""


class PlanPage(msgspec.Struct):
    items: list[PlanOut]
