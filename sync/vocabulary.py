"""Words the server and the phones share: job kinds, statuses, reasons.

Values travel on the wire and are stored as plain strings, so adding a member never
needs a schema migration. Kept free of any framework so the phone client can import it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "CLOSED_STATUSES",
    "ApplianceCategory",
    "JobKind",
    "JobPriority",
    "JobSource",
    "JobStatus",
    "UnableReason",
]


class JobKind(StrEnum):
    DELIVERY = "delivery"
    INSTALL = "install"
    REPAIR = "repair"
    MAINTENANCE = "maintenance"
    RELOCATION = "relocation"


class JobPriority(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class JobSource(StrEnum):
    SALE = "sale"
    CALL = "call"


class JobStatus(StrEnum):
    NEW = "new"
    """Created; no provider yet."""
    ASSIGNED = "assigned"
    """Given to a provider (and, when ``technician_id`` is set, to a technician)."""
    ACKNOWLEDGED = "acknowledged"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    COMPLETED = "completed"
    UNABLE_TO_COMPLETE = "unable_to_complete"
    """The technician says it could not be done (not home, needs parts…); awaits a
    callback and usually a new appointment."""
    CANCELLED = "cancelled"
    CLOSED = "closed"
    """The loop is closed: completed, and its completion callback is done (the customer
    confirmed, or stayed unreachable through the retry schedule). Set by the server only;
    a callback corrected to ``contradicted`` reopens the job. The packet leaves the
    technician's phone at once."""


CLOSED_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.CANCELLED, JobStatus.CLOSED})


class UnableReason(StrEnum):
    CUSTOMER_NOT_HOME = "customer_not_home"
    CUSTOMER_RESCHEDULED = "customer_rescheduled"
    NEEDS_PARTS = "needs_parts"
    CUSTOMER_REFUSED = "customer_refused"
    UNSAFE_SITE = "unsafe_site"
    OTHER = "other"


class ApplianceCategory(StrEnum):
    WATER_HEATER = "water_heater"
    WALL_BOILER = "wall_boiler"
    WATER_PURIFIER = "water_purifier"
    SMART_LOCK = "smart_lock"
    SOLAR_HEATER = "solar_heater"
    OTHER = "other"
