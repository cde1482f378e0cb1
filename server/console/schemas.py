"""Wire types of the console's read models."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from server.jobs.schemas import JobOut

__all__ = ["Board", "JobSection"]


class JobSection(msgspec.Struct):
    items: list[JobOut]
    total: int
    """How many jobs match; ``items`` holds at most ``limit`` of them."""


class Board(msgspec.Struct):
    now: datetime
    day_start: datetime
    """Start of "today", as the caller asked for it (their local midnight)."""
    day_end: datetime
    horizon_end: datetime
    """End of the "upcoming" section."""
    clocks: JobSection
    """Open urgent jobs and every overdue job: overdue first, then the soonest clock."""
    today: JobSection
    """Appointments overlapping today, soonest first, whatever their status."""
    upcoming: JobSection
    """Appointments after today up to ``horizon_end``."""
    pending: JobSection
    """Open jobs with no appointment yet, oldest first."""
    names: dict[uuid.UUID, str]
    """A readable name for every provider, technician, customer and city the sections
    refer to, by id."""
    addresses: dict[uuid.UUID, str]
    """The address of every customer the sections refer to."""
