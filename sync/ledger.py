"""The ledger: every mutation a phone sent, as received, chained per device.

Why a chain: the ledger is the evidence a provider must not be able to rewrite (PRODUCT.md,
"What must hold" 2). Each row's ``hash`` covers the previous row's hash and every field of
the row, and ``DeviceSyncState`` keeps the head (last ``seq`` and ``hash``). Editing a row
breaks its own hash; deleting or inserting one breaks the links (``seq`` and
``prev_hash``) after it; deleting the last rows disagrees with the head.

What a chain cannot show on its own: someone with write access who recomputes every hash
after an edit *and* updates the head. Device signatures (``sync.signing``) protect the raw
bytes of signed mutations against that; anchoring heads outside the database would
protect the rest: ``sync.checkpoints``.

The hash encoding is fixed (changing it invalidates every stored chain): SHA-256, hex, of
the ASCII JSON array (``json.dumps``, ``sort_keys=True``, ``separators=(",", ":")``,
``ensure_ascii=True``, ``allow_nan=False``)::

    ["doorstep.ledger.v1", prev_hash, device_id, seq, user_id, mid, mutation_id, name,
     job_id, raw_sha256, device_time, sent_at, received_at, clock_skew_ms, outcome, code,
     detail, signature_status]

UUIDs as lowercase hyphenated strings; datetimes in UTC as
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (naive ones are taken as UTC); ``None`` as ``null``;
``detail`` as JSON with every float that has an integral value written as an integer
(PostgreSQL's ``jsonb`` turns ``1e17`` into ``100000000000000000`` and ``-0.0`` into
``0.0``, so only this form hashes the same before and after a round trip).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, cast

import msgspec
from sqlalchemy import Table, insert, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.base import new_id
from server.db.models.sync import DeviceSyncState, LedgerEntry
from server.db.models.user import Device
from sync.signing import verify_signature

__all__ = [
    "BATCH_SIZE",
    "GENESIS",
    "Batch",
    "BreakReason",
    "ChainReport",
    "CheckpointMismatch",
    "append",
    "entry_hash",
    "normalize_detail",
    "verify_all",
    "verify_chain",
]

GENESIS = "0" * 64
"""``prev_hash`` of a device's first row, and the head of a chain with no rows."""

HASH_VERSION = "doorstep.ledger.v1"
BATCH_SIZE = 1000
"""Rows read per query while verifying: a chain of millions never sits in memory."""

BreakReason = Literal[
    "hash_mismatch",
    "prev_hash_mismatch",
    "seq_gap",
    "raw_sha256_mismatch",
    "signature_mismatch",
    "head_mismatch",
]

_MAX_LEN = {"mutation_id": 64, "name": 64, "code": 64, "outcome": 16, "signature_status": 16}


class CheckpointMismatch(msgspec.Struct):
    """A stored checkpoint (``sync.checkpoints``) that disagrees with the chain."""

    checkpoint: str
    """The checkpoint's name in the blob store (``checkpoints/<time>-<hash>.json``)."""
    written_at: datetime | None
    reason: Literal["head_missing", "head_changed", "checkpoint_invalid"]
    """``head_changed``: the row at the head the checkpoint saw has another hash now (the
    chain was rewritten, even if it verifies on its own). ``head_missing``: that row is
    gone (last rows deleted, head moved back). ``checkpoint_invalid``: the checkpoint's
    signature does not verify (it was altered, or its key is not trusted), so nothing is
    checked against it."""
    message: str
    seq: int | None = None
    """The head's ``seq`` as the checkpoint saw it."""
    expected_hash: str | None = None
    """The head's hash as the checkpoint saw it."""
    found_hash: str | None = None
    """The hash at that ``seq`` now (None when the row is gone)."""


class ChainReport(msgspec.Struct):
    """The result of checking one device's chain, stopping at the first break."""

    device_id: uuid.UUID
    rows: int
    """Rows checked (up to and including the first broken one)."""
    ok: bool
    first_broken_seq: int | None = None
    """``seq`` of the first row that fails; for ``head_mismatch`` after deleted last
    rows, the first missing ``seq``."""
    first_broken_id: uuid.UUID | None = None
    """Id of that row (``None`` when the row is missing)."""
    reason: BreakReason | None = None
    """``hash_mismatch``: the row's content was edited. ``prev_hash_mismatch`` or
    ``seq_gap``: a row before it was deleted or inserted. ``raw_sha256_mismatch``: the
    raw bytes were edited. ``signature_mismatch``: the raw bytes, checked again against
    the device's public key, no longer give the recorded ``signature_status`` (a signed
    mutation rewritten, even with every hash recomputed). ``head_mismatch``: the last
    rows were deleted (or rows were added after the recorded head)."""
    message: str | None = None
    """What was expected and what was found, for people."""
    head_seq: int = 0
    """The chain length recorded in the device's sync state."""
    checkpoints: int = 0
    """How many trusted checkpoints saw this device's chain (each pins it up to the head
    it saw)."""
    checkpoint_mismatches: list[CheckpointMismatch] = msgspec.field(default_factory=list)
    """Checkpoints that disagree with the chain: ``ok`` speaks of the chain alone, so a
    chain rewritten with every hash recomputed is ``ok`` with a ``head_changed`` here."""


# --- the hash ------------------------------------------------------------------------


def _dt(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _uid(value: uuid.UUID | str | None) -> str | None:
    if value is None or type(value) is uuid.UUID:
        return None if value is None else str(value)
    return str(uuid.UUID(str(value)))


def _canonical_json(value: Any) -> Any:
    """``value`` with integral floats as ints; refuses NaN and infinities."""
    if isinstance(value, dict):
        return {str(k): _canonical_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical_json(v) for v in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("ledger detail cannot hold NaN or infinity")
        return int(Decimal(repr(value))) if value.is_integer() else value
    return value


def normalize_detail(detail: Any) -> dict[str, Any]:
    """``detail`` as plain JSON (UUIDs, datetimes, enums and Structs become strings or
    objects), with NUL characters and lone surrogates replaced by U+FFFD: PostgreSQL
    cannot store them, and the raw bytes keep the exact original anyway."""
    plain = msgspec.to_builtins(detail, str_keys=True)
    if not isinstance(plain, dict):
        raise ValueError("ledger detail must be a JSON object")
    _canonical_json(plain)  # refuse NaN and infinity before they reach the database
    stripped: dict[str, Any] = _strip_nul(plain)
    return stripped


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _clean(text: str) -> str:
    return _UNSTORABLE.sub("\ufffd", text)


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    return value


def entry_hash(
    prev_hash: str,
    *,
    device_id: uuid.UUID,
    seq: int,
    user_id: uuid.UUID,
    mid: int | None,
    mutation_id: str | None,
    name: str | None,
    job_id: uuid.UUID | None,
    raw_sha256: str,
    device_time: datetime | None,
    sent_at: datetime | None,
    received_at: datetime,
    clock_skew_ms: int | None,
    outcome: str,
    code: str | None,
    detail: dict[str, Any],
    signature_status: str,
) -> str:
    """The SHA-256 (hex) of one row and its predecessor's hash (encoding: module doc)."""
    values = [
        HASH_VERSION,
        prev_hash,
        _uid(device_id),
        int(seq),
        _uid(user_id),
        None if mid is None else int(mid),
        mutation_id,
        name,
        _uid(job_id),
        raw_sha256,
        _dt(device_time),
        _dt(sent_at),
        _dt(received_at),
        None if clock_skew_ms is None else int(clock_skew_ms),
        outcome,
        code,
        _canonical_json(msgspec.to_builtins(detail, str_keys=True)),
        signature_status,
    ]
    encoded = json.dumps(
        values, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return hashlib.sha256(encoded.encode("ascii")).hexdigest()


# --- writing -------------------------------------------------------------------------


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("ledger datetimes must be timezone-aware")
    return value


def _text(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    value = _clean(value)  # PostgreSQL text cannot hold NUL or lone surrogates
    if len(value) > _MAX_LEN[field]:
        raise ValueError(f"ledger {field} longer than {_MAX_LEN[field]} characters")
    return value


def _row(
    prev_hash: str,
    seq: int,
    *,
    device_id: uuid.UUID,
    user_id: uuid.UUID,
    raw: bytes,
    mid: int | None,
    mutation_id: str | None,
    name: str | None,
    job_id: uuid.UUID | None,
    device_time: datetime | None,
    sent_at: datetime | None,
    received_at: datetime,
    clock_skew_ms: int | None,
    outcome: str,
    code: str | None,
    detail: dict[str, Any],
    signature_status: str,
) -> dict[str, Any]:
    """The columns of the row after ``prev_hash`` at ``seq``, its hash included."""
    raw = bytes(raw)
    fields: dict[str, Any] = {
        "device_id": device_id,
        "seq": seq,
        "user_id": user_id,
        "mid": mid,
        "mutation_id": _text("mutation_id", mutation_id),
        "name": _text("name", name),
        "job_id": job_id,
        "raw_sha256": hashlib.sha256(raw).hexdigest(),
        "device_time": _aware(device_time),
        "sent_at": _aware(sent_at),
        "received_at": _aware(received_at),
        "clock_skew_ms": clock_skew_ms,
        "outcome": _text("outcome", outcome),
        "code": _text("code", code),
        "detail": normalize_detail(detail),
        "signature_status": _text("signature_status", signature_status),
    }
    digest = entry_hash(prev_hash, **fields)
    return {**fields, "raw": raw, "prev_hash": prev_hash, "hash": digest}


async def append(
    session: AsyncSession,
    state: DeviceSyncState,
    *,
    device_id: uuid.UUID,
    **row: Any,
) -> LedgerEntry:
    """Add the next row of ``device_id``'s chain and move the head in ``state``.

    The caller has locked ``state`` (``SELECT … FOR UPDATE``) in this transaction, so
    two pushes of one device cannot both take the same ``seq``; this function flushes
    and never commits, so the row lands in the same transaction as the mutation's
    effects and the bump of ``last_mid``. Text fields over their column length raise
    ``ValueError`` (identically on SQLite and PostgreSQL); NUL characters and lone
    surrogates are replaced by U+FFFD (PostgreSQL refuses them); ``raw`` is kept byte
    for byte. The keywords are those of ``entry_hash`` plus ``raw`` (instead of
    ``raw_sha256``), without ``seq``. Many rows at once: ``Batch``."""
    if state.device_id != device_id:
        raise ValueError("sync state of another device")
    values = _row(
        state.ledger_head or GENESIS, (state.ledger_seq or 0) + 1, device_id=device_id, **row
    )
    entry = LedgerEntry(**values)
    session.add(entry)
    state.ledger_seq = values["seq"]
    state.ledger_head = values["hash"]
    await session.flush()
    return entry


class Batch:
    """The next rows of one device's chain, hashed in order as they are added and
    written with one ``executemany`` (``write``): a push appends a row per mutation and
    writes them once per chunk, in the same transaction. Same rows, same hashes as
    ``append`` one at a time.

    The caller has locked ``state`` in this transaction; ``write`` moves its head. Until
    then ``seq`` and ``head`` are the chain's head including the rows not yet written."""

    def __init__(self, state: DeviceSyncState) -> None:
        self.state = state
        self.seq: int = state.ledger_seq or 0
        self.head: str = state.ledger_head or GENESIS
        self.rows: list[dict[str, Any]] = []

    def add(self, *, device_id: uuid.UUID, **row: Any) -> dict[str, Any]:
        """Hash the next row (keywords as ``append``); raises ``ValueError`` as it does,
        before anything is kept."""
        if self.state.device_id != device_id:
            raise ValueError("sync state of another device")
        values = _row(self.head, self.seq + 1, device_id=device_id, **row)
        values["id"] = new_id()
        self.rows.append(values)
        self.seq, self.head = values["seq"], values["hash"]
        return values

    async def write(self, session: AsyncSession) -> None:
        """Insert the rows added since the last ``write`` and move the head in
        ``state`` (flushed with the caller's next flush or commit)."""
        if self.rows:
            await session.execute(insert(cast(Table, LedgerEntry.__table__)), self.rows)
            self.rows = []
        self.state.ledger_seq = self.seq
        self.state.ledger_head = self.head


# --- verifying -----------------------------------------------------------------------

_HASHED = (
    "device_id", "seq", "user_id", "mid", "mutation_id", "name", "job_id", "raw_sha256",
    "device_time", "sent_at", "received_at", "clock_skew_ms", "outcome", "code", "detail",
    "signature_status",
)  # fmt: skip
_COLUMNS = [getattr(LedgerEntry, c) for c in ("id", *_HASHED, "raw", "prev_hash", "hash")]


async def _head(session: AsyncSession, device_id: uuid.UUID) -> tuple[int, str]:
    """The recorded head, read fresh (never the session's cached object)."""
    row = (
        await session.execute(
            select(DeviceSyncState.ledger_seq, DeviceSyncState.ledger_head).where(
                DeviceSyncState.device_id == device_id
            )
        )
    ).first()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


async def verify_chain(session: AsyncSession, device_id: uuid.UUID) -> ChainReport:
    """Check one device's chain from ``seq`` 1 to the recorded head, in batches.

    Per row, in this order: ``seq`` follows the previous one (``seq_gap``), ``prev_hash``
    is the previous row's hash (``prev_hash_mismatch``), the recomputed hash matches
    (``hash_mismatch``), the raw bytes match ``raw_sha256`` (``raw_sha256_mismatch``),
    the raw bytes verified again with the device's public key give the recorded
    ``signature_status`` (``signature_mismatch``: only the phone's private key can sign,
    so a rewrite of the whole chain with recomputed hashes is caught here for every
    signed row). Then the last row must be the head kept in ``DeviceSyncState``.

    The head is read after the rows: a row and its head move in one transaction, so a
    head behind the rows read is tampering, and a head ahead of them is either rows
    appended meanwhile (read on, as on PostgreSQL each statement of a READ COMMITTED
    transaction sees newer commits) or deleted last rows."""
    checked = 0
    last_seq = 0
    last_hash = GENESIS
    last_id: uuid.UUID | None = None

    def broken(
        reason: BreakReason, seq: int, row_id: uuid.UUID | None, message: str, head: int
    ) -> ChainReport:
        return ChainReport(
            device_id=device_id,
            rows=checked,
            ok=False,
            first_broken_seq=seq,
            first_broken_id=row_id,
            reason=reason,
            message=message,
            head_seq=head,
        )

    device = (
        await session.execute(
            select(Device.public_key, Device.signature_alg).where(Device.id == device_id)
        )
    ).first()
    public_key, alg = (device.public_key, device.signature_alg) if device else (None, None)
    head_seq, head_hash = 0, GENESIS
    while True:
        new_rows = 0
        while True:
            stmt = (
                select(*_COLUMNS)
                .where(LedgerEntry.device_id == device_id, LedgerEntry.seq > last_seq)
                .order_by(LedgerEntry.seq)
                .limit(BATCH_SIZE)
            )
            batch = (await session.execute(stmt)).all()
            for row in batch:
                checked += 1
                new_rows += 1
                if row.seq != last_seq + 1:
                    msg = f"expected seq {last_seq + 1}, found {row.seq}: rows deleted"
                    return broken("seq_gap", row.seq, row.id, msg, head_seq)
                if row.prev_hash != last_hash:
                    msg = "prev_hash is not the previous row's hash: a row was replaced"
                    return broken("prev_hash_mismatch", row.seq, row.id, msg, head_seq)
                recomputed = entry_hash(row.prev_hash, **{c: getattr(row, c) for c in _HASHED})
                if recomputed != row.hash:
                    msg = "the row's content no longer matches its hash: it was edited"
                    return broken("hash_mismatch", row.seq, row.id, msg, head_seq)
                if hashlib.sha256(row.raw).hexdigest() != row.raw_sha256:
                    msg = "the raw bytes no longer match raw_sha256: they were edited"
                    return broken("raw_sha256_mismatch", row.seq, row.id, msg, head_seq)
                # Only a key proves anything: a keyless device's rows rest on the hashes.
                status = verify_signature(public_key, row.raw, alg) if public_key else None
                if status is not None and status != row.signature_status:
                    msg = (
                        f"the raw bytes verify as {status!r} with the device's key, the row "
                        f"says {row.signature_status!r}: the mutation was rewritten"
                    )
                    return broken("signature_mismatch", row.seq, row.id, msg, head_seq)
                last_seq, last_hash, last_id = row.seq, row.hash, row.id
            if len(batch) < BATCH_SIZE:
                break
        head_seq, head_hash = await _head(session, device_id)
        if head_seq > last_seq and new_rows:
            continue  # rows may have been appended while we read: read on
        break

    if head_seq > last_seq:
        msg = f"the head records {head_seq} rows, only {last_seq} found: last rows deleted"
        return broken("head_mismatch", last_seq + 1, None, msg, head_seq)
    if head_seq < last_seq:
        msg = f"rows after the recorded head (seq {head_seq}) were added"
        extra = await session.scalar(
            select(LedgerEntry.id).where(
                LedgerEntry.device_id == device_id, LedgerEntry.seq == head_seq + 1
            )
        )
        return broken("head_mismatch", head_seq + 1, extra, msg, head_seq)
    if head_hash != last_hash:
        msg = "the last row's hash is not the recorded head"
        return broken("head_mismatch", last_seq, last_id, msg, head_seq)
    return ChainReport(device_id=device_id, rows=checked, ok=True, head_seq=head_seq)


async def verify_all(session: AsyncSession) -> list[ChainReport]:
    """Check the chain of every device that has ledger rows or a sync state (a state
    without rows must still say ``seq`` 0, or its rows were all deleted)."""
    ids = union(
        select(LedgerEntry.device_id).distinct(), select(DeviceSyncState.device_id)
    ).subquery()
    device_ids = (await session.scalars(select(ids.c.device_id).order_by(ids.c.device_id))).all()
    return [await verify_chain(session, d) for d in device_ids]
