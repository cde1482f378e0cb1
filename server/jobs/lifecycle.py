"""The job state machine: which status changes are legal, and what counts as overdue.

Pure rules with no I/O, shared by the dispatch API and the sync engine.
"""

from __future__ import annotations

from datetime import datetime

from sync.vocabulary import CLOSED_STATUSES, JobPriority, JobStatus

__all__ = [
    "BEFORE_ARRIVAL",
    "FIELD_ACTIVE",
    "TECHNICIAN_MOVES",
    "can_move",
    "is_closed",
    "overdue_reasons",
]

S = JobStatus

BEFORE_ARRIVAL = frozenset({S.NEW, S.ASSIGNED, S.ACKNOWLEDGED, S.EN_ROUTE})
"""Nobody is at the door yet."""

FIELD_ACTIVE = frozenset({S.ACKNOWLEDGED, S.EN_ROUTE, S.ON_SITE, S.IN_PROGRESS, S.PAUSED})
"""A technician is working the job; a reassignment or reschedule takes it from them."""

# What a technician's phone may do from each status (the sync engine enforces these).
TECHNICIAN_MOVES: dict[JobStatus, frozenset[JobStatus]] = {
    S.ASSIGNED: frozenset({S.ACKNOWLEDGED, S.EN_ROUTE, S.ON_SITE, S.UNABLE_TO_COMPLETE}),
    S.ACKNOWLEDGED: frozenset({S.EN_ROUTE, S.ON_SITE, S.UNABLE_TO_COMPLETE}),
    S.EN_ROUTE: frozenset({S.ON_SITE, S.UNABLE_TO_COMPLETE}),
    S.ON_SITE: frozenset({S.IN_PROGRESS, S.COMPLETED, S.UNABLE_TO_COMPLETE}),
    S.IN_PROGRESS: frozenset({S.PAUSED, S.COMPLETED, S.UNABLE_TO_COMPLETE}),
    S.PAUSED: frozenset({S.IN_PROGRESS, S.COMPLETED, S.UNABLE_TO_COMPLETE}),
}


def is_closed(status: str) -> bool:
    return status in CLOSED_STATUSES


def can_move(current: str, target: str) -> bool:
    return JobStatus(target) in TECHNICIAN_MOVES.get(JobStatus(current), frozenset())


def overdue_reasons(
    *,
    status: str,
    priority: str,
    now: datetime,
    contact_due_at: datetime | None,
    contacted_at: datetime | None,
    onsite_due_at: datetime | None,
    arrived_at: datetime | None,
    window_end: datetime | None,
) -> list[str]:
    """Why a job is late, if it is: ``contact_overdue``, ``onsite_overdue`` (urgent SLA
    clocks) and ``appointment_missed`` (the window ended with nobody on site)."""
    if is_closed(status) or status == S.UNABLE_TO_COMPLETE:
        return []
    reasons = []
    if priority == JobPriority.URGENT:
        if contacted_at is None and contact_due_at is not None and contact_due_at < now:
            reasons.append("contact_overdue")
        if arrived_at is None and onsite_due_at is not None and onsite_due_at < now:
            reasons.append("onsite_overdue")
    if status in BEFORE_ARRIVAL and window_end is not None and window_end < now:
        reasons.append("appointment_missed")
    return reasons
