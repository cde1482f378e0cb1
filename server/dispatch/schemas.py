"""Wire types of the dispatch API: calendars, exceptions, service areas, a city's
dispatch settings, the automatic choices and the SLA alerts."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from server.jobs.schemas import ReasonOut

__all__ = [
    "AlertOut",
    "AlertPage",
    "CalendarIn",
    "CalendarOut",
    "ChoiceOut",
    "CityDispatchIn",
    "CityDispatchOut",
    "DeclineIn",
    "DispatchRunIn",
    "ExceptionIn",
    "ExceptionOut",
    "RankedOut",
    "ServiceAreaIn",
    "ServiceAreaOut",
]

HHMM = Annotated[
    str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$", examples=["08:30"])
]
Span = Annotated[list[HHMM], msgspec.Meta(min_length=2, max_length=2)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Note = Annotated[str, msgspec.Meta(max_length=500, examples=["Annual leave"])]


class CalendarIn(msgspec.Struct, forbid_unknown_fields=True):
    """A technician's working week, in the time zone of the city the work is in."""

    weekly: dict[Weekday, Annotated[list[Span], msgspec.Meta(max_length=6)]]
    """Per weekday, the working spans ``[start, end]`` as ``HH:MM``; a day left out is a
    day off. Empty: no hours given (any time counts as working time)."""
    jobs_per_window: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1
    """How many jobs may overlap in time (two with a helper)."""
    home_latitude: Latitude | None = None
    home_longitude: Longitude | None = None
    """Where the day starts: distance is measured from here until the first fix."""


class CalendarOut(msgspec.Struct):
    technician_id: uuid.UUID
    weekly: dict[str, list[list[str]]]
    jobs_per_window: int
    home_latitude: float | None
    home_longitude: float | None
    has_hours: bool
    """False: no weekly pattern (any time is working time)."""
    exceptions: list[ExceptionOut]
    """Leave, holidays and extra hours from today on (the technician's and their
    provider's)."""
    updated_at: datetime | None


class ExceptionIn(msgspec.Struct, forbid_unknown_fields=True):
    first_day: date
    last_day: date
    kind: Literal["off", "extra"] = "off"
    """``off``: leave or a holiday; ``extra``: working hours added."""
    start: HHMM | None = None
    """Local ``HH:MM``; with ``end``: only that part of each day. Both empty: whole days."""
    end: HHMM | None = None
    reason: Note = ""


class ExceptionOut(msgspec.Struct):
    id: uuid.UUID
    technician_id: uuid.UUID | None
    provider_id: uuid.UUID | None
    """Set without ``technician_id``: the whole provider's (a holiday)."""
    kind: str
    first_day: date
    last_day: date
    start: str | None
    end: str | None
    reason: str
    created_at: datetime


class ServiceAreaIn(msgspec.Struct, forbid_unknown_fields=True):
    city_id: uuid.UUID
    latitude: Latitude
    longitude: Longitude
    radius_km: Annotated[float, msgspec.Meta(gt=0, le=500)]
    name: Annotated[str, msgspec.Meta(max_length=120)] = ""
    daily_jobs: Annotated[int, msgspec.Meta(ge=0, le=100000)] | None = None
    """How many jobs a day the provider takes in this area (empty: no limit)."""


class ServiceAreaOut(msgspec.Struct):
    id: uuid.UUID
    provider_id: uuid.UUID
    city_id: uuid.UUID
    name: str
    latitude: float
    longitude: float
    radius_km: float
    daily_jobs: int | None


class CityDispatchIn(msgspec.Struct, forbid_unknown_fields=True):
    mode: Literal["auto", "suggest", "manual"]
    """``auto``: assign at once; ``suggest``: a dispatcher confirms; ``manual``: nothing
    is chosen automatically."""
    contact_warn_minutes: Annotated[int, msgspec.Meta(ge=0, le=1440)] = 10
    """Alert this long before an urgent job's contact clock runs out."""
    onsite_warn_minutes: Annotated[int, msgspec.Meta(ge=0, le=1440)] = 30
    redispatch_urgent: bool = False
    """When an urgent job's on-site clock runs out, give it to another technician who can
    still make it."""


class CityDispatchOut(msgspec.Struct):
    city_id: uuid.UUID
    mode: str
    contact_warn_minutes: int
    onsite_warn_minutes: int
    redispatch_urgent: bool
    stored: bool
    """False: the defaults (no settings saved for the city)."""


class RankedOut(msgspec.Struct):
    technician_id: uuid.UUID
    full_name: str
    provider_id: uuid.UUID
    eligible: bool
    score: float
    distance_km: float | None
    summary: str
    reasons: list[ReasonOut]
    blockers: list[ReasonOut]


class ChoiceOut(msgspec.Struct):
    """One automatic choice for a job and why."""

    id: uuid.UUID
    job_id: uuid.UUID
    at: datetime
    trigger: str
    """``created``, ``reopened``, ``requested``, ``redispatch``."""
    mode: str
    state: str
    """``applied``, ``suggested``, ``confirmed``, ``declined``, ``superseded``, ``none``."""
    provider_id: uuid.UUID | None
    technician_id: uuid.UUID | None
    summary: str
    """The reasons in words, in the caller's locale ("the installer, 2.1 km away, free
    14:00-16:00")."""
    reasons: list[ReasonOut]
    ranking: list[RankedOut]
    decided_by: uuid.UUID | None
    decided_at: datetime | None


class DispatchRunIn(msgspec.Struct, forbid_unknown_fields=True):
    mode: Literal["auto", "suggest"] | None = None
    """Empty: the city's mode (``manual`` cities get a suggestion)."""


class DeclineIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Note = ""


class AlertOut(msgspec.Struct):
    id: uuid.UUID
    job_id: uuid.UUID
    job_number: str
    kind: str
    """``contact_due_soon``, ``onsite_due_soon``, ``contact_breached``, ``onsite_breached``."""
    audience: str
    """``provider`` (its dispatchers; the technician's phone was poked) or
    ``call_center``."""
    provider_id: uuid.UUID | None
    technician_id: uuid.UUID | None
    due_at: datetime
    raised_at: datetime
    message: str
    data: dict[str, object]
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None


class AlertPage(msgspec.Struct):
    items: list[AlertOut]
    total: int
