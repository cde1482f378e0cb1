"""Scorecards on the wire. The CSV form has exactly the columns of one item, in order."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

__all__ = [
    "MIXED",
    "ProviderScorecard",
    "ProviderScorecards",
    "Scorecard",
    "TechnicianScorecard",
    "TechnicianScorecards",
]

MIXED = "mixed"
"""``currency`` of a row whose money spans several currencies: its amounts are null
(ask again with ``city_id``: one city has one fee policy, so one currency)."""

_Rate = (
    Annotated[
        float,
        msgspec.Meta(ge=0, le=1, description="0..1, rounded to 4 places; null: none to count"),
    ]
    | None
)
_Money = Annotated[int, msgspec.Meta(description="minor units (fen, cents) of `currency`")] | None
"""Null when ``currency`` is ``mixed``."""


class Scorecard(msgspec.Struct, kw_only=True):
    """The figures every scorecard row has (technician rows add who, provider rows which
    company). Every figure counts claims made in the period: a ``completion``,
    ``unable`` or ``not_home`` callback task whose ``claimed_at`` is in it."""

    rank: int
    """1 = best: ``score`` (highest first, none to score last), then very-satisfied
    count, then fewest contradicted claims, then name."""
    jobs: int
    """Distinct jobs with a claim."""
    completed: int
    """Distinct jobs with a completion claim."""
    completion_rate: _Rate
    surveyed: int
    """Completion claims whose current callback outcome records a satisfaction."""
    very_satisfied: int
    """Completion claims whose current outcome is ``very_satisfied`` (nothing else counts)."""
    very_satisfied_rate: _Rate
    """The plain rate: ``very_satisfied / surveyed``."""
    score: (
        Annotated[
            float,
            msgspec.Meta(
                le=1,
                description=(
                    "very_satisfied_rate - 0.2 x contradicted (rounded to 4 places; "
                    "may be negative); null: nothing surveyed and nothing contradicted"
                ),
            ),
        ]
        | None
    )
    """What the ranking uses: the very-satisfied rate minus ``0.2`` for every proven
    false report (a contradicted claim whose violation — and fine — stands). A provider
    with a rate of 0.8 and one 2,000 CNY fine scores 0.6 and ranks below one at 0.67
    without fines. With nothing surveyed the rate counts as 0."""
    contradicted: int
    """Claims the customer contradicted (violations not voided by a correction)."""
    first_time_fixes: int
    """Completed jobs with no earlier ``unable``/``not_home`` claim on the job and no
    repeat repair created within 30 days after the completion claim."""
    first_time_fix_rate: _Rate
    repeat_repairs: int
    """Repeat repairs (``repeat_seq`` ≥ 2, not cancelled) whose previous job is one
    completed here in the period."""
    urgent_jobs: int
    urgent_sla_met: int
    """Urgent jobs contacted by ``contact_due_at`` and reached by ``onsite_due_at``."""
    urgent_sla_rate: _Rate
    currency: str
    """ISO 4217 code of the amounts, or ``mixed``."""
    bonus: _Money
    """Very-satisfied completions times the job city's ``very_satisfied_bonus``."""
    fines: _Money
    """Sum of the contradicted claims' fines."""
    net: _Money
    """``bonus - fines``."""


class TechnicianScorecard(Scorecard, kw_only=True):
    technician_id: uuid.UUID
    technician_name: str
    provider_id: uuid.UUID | None
    """The provider the technician worked for when making the claims (a technician who
    moved in the period has one row per provider)."""
    provider_name: str | None


class ProviderScorecard(Scorecard, kw_only=True):
    provider_id: uuid.UUID
    provider_name: str


class _Page(msgspec.Struct, kw_only=True):
    period_from: datetime
    period_to: datetime
    """Exclusive."""
    city_id: uuid.UUID | None
    ranked: int
    """How many rows were ranked (the caller may see fewer: ranks are never renumbered)."""
    generated_at: datetime


class TechnicianScorecards(_Page, kw_only=True):
    provider_id: uuid.UUID | None
    items: list[TechnicianScorecard]


class ProviderScorecards(_Page, kw_only=True):
    items: list[ProviderScorecard]
