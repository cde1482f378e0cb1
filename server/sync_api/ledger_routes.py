"""``/audit/ledger``: what phones actually sent, and whether the record is intact.

Why an API of its own: the callback team must be able to read a claim exactly as the
phone sent it (the raw bytes, the device's clock beside the server's) and to check that
nobody — provider, dispatcher or admin — rewrote it since (PRODUCT.md, "What must
hold" 2). Reading only: there is no route that changes a ledger row.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import Parameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.guards import allow
from server.db.models.sync import LedgerEntry
from server.db.models.user import Role
from server.errors import Invalid
from sync.checkpoints import attach, load_checkpoints
from sync.ledger import ChainReport, verify_all, verify_chain

__all__ = ["LedgerController", "LedgerRowOut", "ledger_row_out"]

AUDIT = allow(Role.AUDITOR, Role.ADMIN)


class LedgerRowOut(msgspec.Struct):
    """One ledger row as an auditor reads it: everything but the raw bytes, which come
    as text instead."""

    id: uuid.UUID
    device_id: uuid.UUID
    seq: int
    user_id: uuid.UUID
    mid: int | None
    mutation_id: str | None
    name: str | None
    job_id: uuid.UUID | None
    outcome: str
    """``applied``, ``resolved``, ``duplicate`` or ``rejected``."""
    code: str | None
    device_time: datetime | None
    """The phone's clock when the technician acted (evidence, never trusted for order)."""
    received_at: datetime
    """The server's clock when the mutation arrived."""
    sent_at: datetime | None
    """The phone's clock when it sent the push."""
    clock_skew_ms: int | None
    """Estimated phone clock minus server clock."""
    signature_status: str
    """``absent``, ``no_key``, ``valid`` or ``invalid``."""
    detail: dict[str, Any]
    raw_text: str
    """The mutation exactly as the phone sent it, decoded as UTF-8 (undecodable bytes
    shown as U+FFFD; ``raw_sha256`` is over the bytes)."""
    raw_sha256: str
    prev_hash: str
    hash: str


def ledger_row_out(e: LedgerEntry) -> LedgerRowOut:
    return LedgerRowOut(
        id=e.id,
        device_id=e.device_id,
        seq=e.seq,
        user_id=e.user_id,
        mid=e.mid,
        mutation_id=e.mutation_id,
        name=e.name,
        job_id=e.job_id,
        outcome=e.outcome,
        code=e.code,
        device_time=e.device_time,
        received_at=e.received_at,
        sent_at=e.sent_at,
        clock_skew_ms=e.clock_skew_ms,
        signature_status=e.signature_status,
        detail=e.detail,
        raw_text=bytes(e.raw).decode("utf-8", errors="replace"),
        raw_sha256=e.raw_sha256,
        prev_hash=e.prev_hash,
        hash=e.hash,
    )


class LedgerController(Controller):
    path = "/audit/ledger"
    tags = ["audit"]

    @get("/verify", guards=[AUDIT])
    async def verify(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        device_id: Annotated[
            uuid.UUID | None, Parameter(description="One device; omit for every device")
        ] = None,
    ) -> list[ChainReport]:
        """Check the hash chain of one device or of all, and say where the first break
        is (``hash_mismatch``: a row was edited; ``seq_gap`` / ``prev_hash_mismatch``:
        a row was deleted or inserted; ``raw_sha256_mismatch``: the raw bytes were
        edited; ``signature_mismatch``: a signed mutation was rewritten;
        ``head_mismatch``: the last rows were deleted). Then compare each chain with
        every signed checkpoint in the blob store: ``checkpoint_mismatches`` lists a
        head a checkpoint saw that is gone (``head_missing``) or has another hash
        (``head_changed``: the chain was rewritten with its hashes recomputed), and
        every checkpoint whose signature does not verify (``checkpoint_invalid``)."""
        if device_id is not None:
            reports = [await verify_chain(db, device_id)]
        else:
            reports = await verify_all(db)
        state = request.app.state
        checkpoints = await load_checkpoints(state.blob_store, state.checkpoint_key)
        devices = None if device_id is None else {device_id}
        return await attach(db, reports, checkpoints, devices)

    @get("/", guards=[AUDIT])
    async def rows(
        self,
        db: AsyncSession,
        device_id: Annotated[
            uuid.UUID | None, Parameter(description="Rows of one device, in seq order")
        ] = None,
        job_id: Annotated[
            uuid.UUID | None, Parameter(description="Rows about one job, in arrival order")
        ] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        after_seq: Annotated[
            int, Parameter(ge=0, description="With device_id: rows after this seq (paging)")
        ] = 0,
    ) -> list[LedgerRowOut]:
        """Ledger rows of one device or about one job (give exactly one of the two)."""
        if (device_id is None) == (job_id is None):
            raise Invalid("one_filter", "Give exactly one of device_id and job_id.")
        stmt = select(LedgerEntry).limit(limit)
        if device_id is not None:
            stmt = stmt.where(
                LedgerEntry.device_id == device_id, LedgerEntry.seq > after_seq
            ).order_by(LedgerEntry.seq)
        else:
            if after_seq:
                raise Invalid(
                    "after_seq_needs_device",
                    "after_seq pages through one device's rows; use it with device_id.",
                )
            stmt = stmt.where(LedgerEntry.job_id == job_id).order_by(
                LedgerEntry.received_at, LedgerEntry.device_id, LedgerEntry.seq
            )
        return [ledger_row_out(e) for e in (await db.scalars(stmt)).all()]
