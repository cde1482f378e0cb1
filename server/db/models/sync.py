"""Sync state: per-technician buckets (an operation log with a gapless version and the
current documents), per-device push state, and the append-only hash-chained ledger."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import Base, IdMixin, Json, utcnow


class Bucket(Base):
    """One technician's bucket. ``version`` is bumped (row-locked) in the transaction that
    appends operations, so commit order equals version order. Cursors older than
    ``min_version`` or of another ``epoch`` are answered with a reset."""

    __tablename__ = "buckets"

    technician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    epoch: Mapped[int] = mapped_column(BigInteger, default=1)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    min_version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BucketOp(Base):
    """One operation in a bucket's log. The document itself lives in ``BucketEntity``:
    an op whose entity has moved on is superseded and skipped by pulls."""

    __tablename__ = "bucket_ops"
    __table_args__ = (Index("ix_bucket_ops_entity", "technician_id", "entity_id"),)

    technician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("buckets.technician_id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[uuid.UUID]
    op: Mapped[str] = mapped_column(String(8))
    """``put`` or ``remove``."""


class BucketEntity(Base):
    """What a technician's phone should hold now: the latest document per entity."""

    __tablename__ = "bucket_entities"
    __table_args__ = (Index("ix_bucket_entities_entity", "entity_type", "entity_id"),)

    technician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("buckets.technician_id", ondelete="CASCADE"), primary_key=True
    )
    entity_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    doc: Mapped[dict[str, object]] = mapped_column(Json)


class DeviceSyncState(Base):
    """Per device: the last applied mutation number and the head of its ledger chain,
    updated in the same transaction as each mutation's effects."""

    __tablename__ = "device_sync_state"

    device_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    last_mid: Mapped[int] = mapped_column(BigInteger, default=0)
    ledger_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    ledger_head: Mapped[str] = mapped_column(String(64), default="0" * 64)
    last_push_at: Mapped[datetime | None]
    clock_skew_ms: Mapped[int | None] = mapped_column(BigInteger)


class LedgerEntry(IdMixin, Base):
    """A mutation as received, whatever became of it. Append-only; chained per device:
    ``hash`` covers ``prev_hash`` and every field below, so any later edit or deletion
    breaks the chain at that row."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("uq_ledger_device_seq", "device_id", "seq", unique=True),
        Index("ix_ledger_device_mid", "device_id", "mid"),
        Index("ix_ledger_job", "job_id"),
    )

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id", ondelete="RESTRICT"))
    seq: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    mid: Mapped[int | None] = mapped_column(BigInteger)
    mutation_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(64))
    job_id: Mapped[uuid.UUID | None]
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    raw_sha256: Mapped[str] = mapped_column(String(64))
    device_time: Mapped[datetime | None]
    """The device's clock when the mutation was made (evidence, never used to order)."""
    sent_at: Mapped[datetime | None]
    """The device's clock when the push was sent."""
    received_at: Mapped[datetime]
    clock_skew_ms: Mapped[int | None] = mapped_column(BigInteger)
    """Estimated device clock minus server clock, from ``sent_at``."""
    outcome: Mapped[str] = mapped_column(String(16))
    """``applied``, ``resolved``, ``duplicate``, ``rejected``."""
    code: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, object]] = mapped_column(Json, default=dict)
    signature_status: Mapped[str] = mapped_column(String(16), default="absent")
    """``absent``, ``valid``, ``invalid``, ``no_key``."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class JobHolder(Base):
    """Every technician whose bucket ever held a job. Never compacted: a fact a phone
    recorded offline for a job taken from it must still be recognised as theirs."""

    __tablename__ = "job_holders"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    technician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    since: Mapped[datetime] = mapped_column(default=utcnow)
