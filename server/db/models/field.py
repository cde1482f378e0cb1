"""Facts a technician's phone reports from the field. Each is keyed by the phone's UUID
(so a resend never duplicates it) and never edited; ``flags`` mark facts that arrived
after the job was reassigned or cancelled — kept, because auditors need them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, IdMixin, Json, utcnow


class FactMixin(IdMixin):
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    technician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    device_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL")
    )
    device_time: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    flags: Mapped[list[str]] = mapped_column(Json, default=list)


class JobNote(FactMixin, Base):
    __tablename__ = "job_notes"

    text: Mapped[str] = mapped_column(Text)


class Checkin(FactMixin, Base):
    """A GPS fix reported at arrival (``check_in``) or departure (``check_out``).
    ``distance_m`` and ``geofence`` are the server's verdict against the customer's
    coordinates."""

    __tablename__ = "checkins"
    __table_args__ = (Index("ix_checkins_technician_fix", "technician_id", "fix_time"),)

    kind: Mapped[str] = mapped_column(String(16), default="check_in")
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    accuracy_m: Mapped[float | None]
    fix_time: Mapped[datetime | None]
    location_provider: Mapped[str | None] = mapped_column(String(16))
    mock_location: Mapped[bool] = mapped_column(default=False)
    distance_m: Mapped[float | None]
    geofence: Mapped[str | None] = mapped_column(String(16))
    """``pass``, ``fail``, ``too_inaccurate``, ``no_fix``."""
