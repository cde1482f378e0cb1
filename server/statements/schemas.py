"""Statements on the wire."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

__all__ = ["StatementLine", "StatementOut", "TechnicianStatement"]

Money = Annotated[int, msgspec.Meta(description="minor units (fen) of `currency`")]


class StatementLine(msgspec.Struct):
    """One job's money on the statement."""

    kind: Literal["bonus", "fine"]
    """``bonus``: a completion the customer was very satisfied with (the city's
    ``very_satisfied_bonus``); ``fine``: a claim the callback proved false (its
    violation's fine; a voided violation is not on the statement)."""
    job_id: uuid.UUID
    job_number: str
    task_id: uuid.UUID
    """The claim's callback."""
    claimed_at: datetime
    """The claim's time: it puts the line in its month (as scorecards count)."""
    amount: Money
    """Positive for a bonus, negative for a fine."""
    currency: str
    detail: str
    """The violation's kind (``false_not_home``…) or ``very_satisfied``."""
    violation_id: uuid.UUID | None = None


class TechnicianStatement(msgspec.Struct):
    technician_id: uuid.UUID | None
    """None: claims with no technician recorded."""
    technician_name: str
    bonus: Money | None
    fines: Money | None
    """A positive sum (the amount taken off)."""
    net: Money | None
    lines: list[StatementLine]


class StatementOut(msgspec.Struct):
    """``GET /providers/{id}/statements/{yyyy-mm}``. Amounts are null when the month
    mixes currencies (``currency`` is then ``mixed``)."""

    provider_id: uuid.UUID
    provider_name: str
    month: Annotated[str, msgspec.Meta(examples=["2026-11"])]
    timezone: str
    """The month's days are counted in this zone (the provider's cities')."""
    period_from: datetime
    period_to: datetime
    """Exclusive."""
    currency: str
    bonus: Money | None
    fines: Money | None
    net: Money | None
    technicians: list[TechnicianStatement]
    generated_at: datetime
