"""Field evidence that travels apart from sync: content-addressed blobs (photos,
signatures), their resumable uploads, and what phones say about them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, Json, utcnow
from server.db.models.field import FactMixin


class Blob(Base):
    """A complete blob, verified against its SHA-256 before this row exists."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    device_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL")
    )
    info: Mapped[dict[str, object]] = mapped_column(Json, default=dict)
    """What the server read from it (image size, EXIF time, GPS, camera, perceptual hash)."""


class BlobUpload(Base):
    """An upload in progress: one per hash at a time. Abandoned ones expire."""

    __tablename__ = "blob_uploads"
    __table_args__ = (Index("ix_blob_uploads_updated", "updated_at"),)

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    length: Mapped[int] = mapped_column(BigInteger)
    """The size the phone announced."""
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    content_type: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    device_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Photo(FactMixin, Base):
    """A photo a phone attached to a job, by the hash of its blob (which may arrive after
    the mutation: ``blob pending``)."""

    __tablename__ = "photos"
    __table_args__ = (Index("ix_photos_sha256", "sha256"), Index("ix_photos_phash", "phash"))

    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    """``before``, ``after``, ``serial_plate``, ``door``, ``other``."""
    taken_at: Mapped[datetime | None]
    """EXIF capture time, as the camera wrote it."""
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    camera: Mapped[str | None] = mapped_column(String(120))
    phash: Mapped[str | None] = mapped_column(String(16))
    reused_from: Mapped[list[str]] = mapped_column(Json, default=list)
    """Jobs where the same picture (same bytes or same perceptual hash) was used before."""


class CallAttempt(FactMixin, Base):
    """A call or message from the technician to the customer."""

    __tablename__ = "call_attempts"

    channel: Mapped[str] = mapped_column(String(8), default="call")
    started_at: Mapped[datetime]
    duration_s: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[str] = mapped_column(String(24))
    """``answered``, ``no_answer``, ``busy``, ``unreachable_number``."""


class EvidenceRuleSet(Base):
    """The evidence rules of one claim type (configurable; shipped in job packets)."""

    __tablename__ = "evidence_rule_sets"

    claim_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    rules: Mapped[list[dict[str, object]]] = mapped_column(Json, default=list)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CompletionReport(FactMixin, Base):
    """What the technician reports at the end of a visit. A new report on the same job
    supersedes the older one (both are kept); ``sha256`` is over its canonical JSON, the
    value a customer's sign-off is bound to."""

    __tablename__ = "completion_reports"

    work_done: Mapped[str] = mapped_column(String(4000), default="")
    parts: Mapped[list[dict[str, object]]] = mapped_column(Json, default=list)
    charges: Mapped[list[dict[str, object]]] = mapped_column(Json, default=list)
    checklist: Mapped[dict[str, object]] = mapped_column(Json, default=dict)
    photos: Mapped[dict[str, object]] = mapped_column(Json, default=dict)
    """Photo ids by kind: ``{"before": [...], "after": [...], ...}``."""
    sha256: Mapped[str] = mapped_column(String(64))
    findings: Mapped[list[dict[str, object]]] = mapped_column(Json, default=list)
    """What the server found: charges outside the fee policy, a visit fee inside
    warranty, missing required checklist items."""


class SignOff(FactMixin, Base):
    """The customer's signature, bound to the SHA-256 of the report it approves."""

    __tablename__ = "sign_offs"

    signer_name: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime | None]
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    report_sha256: Mapped[str] = mapped_column(String(64))
    signature_sha256: Mapped[str | None] = mapped_column(String(64))
    """The signature image as a blob, when the phone sent one."""
    strokes: Mapped[list[object] | None] = mapped_column(Json)
    """Pen strokes ``[[[x, y, t], …], …]`` when the phone sent those instead."""


class ClaimVerdict(Base):
    """The server's re-check of one claim (``customer_not_home``, ``completed``) against
    its evidence rules. Recomputed as evidence arrives; the latest row is current."""

    __tablename__ = "claim_verdicts"
    __table_args__ = (Index("ix_claim_verdicts_job", "job_id", "computed_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    claim_type: Mapped[str] = mapped_column(String(32))
    rules_version: Mapped[int] = mapped_column(default=1)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    passed: Mapped[bool] = mapped_column(default=False)
    verdicts: Mapped[list[dict[str, object]]] = mapped_column(Json, default=list)
    """Per rule: ``{"code", "passed", "detail"}``."""


class CarrierCallRecord(Base):
    """A call record from the carrier's number-protection service: the phone cannot
    invent it. ``masked_number`` is bound by the brand to a job (and technician);
    ``record_id`` is the carrier's own id (a redelivery is recognised by it)."""

    __tablename__ = "carrier_call_records"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    record_id: Mapped[str] = mapped_column(String(128), unique=True)
    masked_number: Mapped[str] = mapped_column(String(32))
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), index=True
    )
    technician_id: Mapped[uuid.UUID | None] = mapped_column()
    caller: Mapped[str] = mapped_column(String(32))
    callee: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    duration_s: Mapped[int] = mapped_column(default=0)
    answered: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    """Also answers "is a carrier in use here" (any record in the last 30 days)."""


class LocationTraceChunk(FactMixin, Base):
    """One ``job.location_trace`` chunk: the breadcrumbs a phone recorded en route and on
    site, decoded to absolute values and kept as columns (one row per chunk, not per
    point: a claim's trace is read whole, and 2,000 points in one JSON value cost far
    less to read than 2,000 rows). ``id`` is derived from ``(trace_id, seq)``, so a
    resent chunk is recognised."""

    __tablename__ = "location_trace_chunks"
    __table_args__ = (UniqueConstraint("trace_id", "seq"),)

    trace_id: Mapped[uuid.UUID]
    seq: Mapped[int]
    last: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime]
    """The first point's time (the phone's clock)."""
    ended_at: Mapped[datetime]
    point_count: Mapped[int]
    mock_points: Mapped[int] = mapped_column(default=0)
    points: Mapped[dict[str, object]] = mapped_column(Json, default=dict)
    """``{"t_ms": [ms after started_at], "lat": [deg], "lon": [deg], "acc": [m],
    "speed": [m/s or null] | null, "mock": [indices]}``."""
