"""Field evidence that travels apart from sync: content-addressed blobs (photos,
signatures), their resumable uploads, and what phones say about them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
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
