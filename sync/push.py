"""``push``: a device's mutations, each exactly once, in order (SYNC.md, Replicache rules).

Per mutation: ``mid`` ≤ last applied → ``duplicate`` (with the first outcome);
``mid`` > last + 1 → the push is refused naming the expected ``mid``; otherwise the
mutation is applied (or rejected with a code) in a savepoint, and gets its ledger row
and the bump of the device's last ``mid`` in the same transaction. Mutations are
committed in chunks; a transient database failure stops the push and asks the phone to
retry later, and nothing after it is applied.

Writes are batched per chunk (the figures: docs/performance.md): the ledger rows are
hashed in order as the mutations come and inserted with one ``executemany``
(``ledger.Batch``); the device's state (last ``mid``, ledger head) is updated once;
mutations in ``DEFERRABLE`` (facts such as notes) run without a savepoint and their rows
are flushed together. All of it before the chunk's commit, so a chunk is still all or
nothing. On SQLite a chunk of such mutations runs whole in one hand-off to a writer
thread (``sync.push_sqlite``), through this same code.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from evidence import verdicts
from server.db.dialect import insert_for
from server.db.engine import Database
from server.db.failures import is_transient
from server.db.models import Device, DeviceSyncState, LedgerEntry
from server.errors import Conflict, DoorstepError, Forbidden, Invalid, RetryLater
from sync import buckets, ledger, metrics, push_sqlite
from sync.mutations import (
    ARGS,
    DEFERRABLE,
    EVIDENCE_FREE,
    HANDLERS,
    Applied,
    Deferred,
    MutationContext,
    Rejected,
    apply,
    prefetch,
)
from sync.signing import verify_signature
from sync.validation import (
    MAX_DEPTH,
    Violation,
    check_schema_version,
    check_text,
    check_time,
    check_value,
    decode_args,
    json_too_deep,
)
from sync.wire import (
    MutationEnvelope,
    MutationOutcome,
    MutationProbe,
    PushRequest,
    PushResponse,
)

__all__ = ["CHUNK", "push"]

log = logging.getLogger("doorstep.sync")

CHUNK = 50
"""Mutations per transaction: long enough to batch writes, short enough not to hold
SQLite's write lock for long."""
FUTURE_SLACK = timedelta(minutes=10)
NIL = uuid.UUID(int=0)


def _transient(exc: BaseException) -> bool:
    """Busy, locked or unreachable: the phone keeps its mutations and resends them."""
    return is_transient(exc)


AfterCommit = Callable[[AsyncSession], Awaitable[None]]


@dataclass
class Item:
    """One mutation as received: its exact bytes, what could be read of it, and — when
    it breaks a rule — the ``Violation`` it is rejected with (before anything runs)."""

    mid: int
    id: uuid.UUID
    raw: bytes
    env: MutationEnvelope
    problem: Violation | None = None
    args: Any = None
    flags: list[str] = field(default_factory=list)


def _clean(text: str, limit: int = 64) -> str:
    """A text safe for a ledger column (the raw bytes keep the original)."""
    return text.replace("\x00", "\\u0000")[:limit]


def _item(raw: bytes, index: int, version: int) -> Item:
    try:
        probe = msgspec.json.decode(raw, type=MutationProbe)
    except msgspec.DecodeError as exc:
        raise Invalid(
            "invalid_mutation",
            f"Mutation {index} has no readable mid: {exc}",
            {"index": index},
        ) from exc
    try:
        ident = uuid.UUID(str(probe.id))
    except ValueError:
        ident = NIL
    try:
        env = msgspec.json.decode(raw, type=MutationEnvelope)
    except msgspec.DecodeError as exc:
        name = msgspec.json.decode(raw).get("name")
        placeholder = MutationEnvelope(
            mid=probe.mid, id=ident, name=_clean(name) if isinstance(name, str) else ""
        )
        problem = Violation("invalid_mutation", _clean(f"The mutation is not valid: {exc}", 500))
        return Item(probe.mid, ident, raw, placeholder, problem)
    item = Item(probe.mid, ident, raw, env)
    if env.device_time is not None:
        try:
            check_time(env.device_time, "device_time")
        except Violation:
            # The phone's clock is evidence, not meaning: a dead clock (1970) must not
            # lose the technician's action. Dropped, flagged; the raw bytes keep it.
            env.device_time = None
            item.flags.append("device_time_invalid")
    try:
        if ident == NIL:
            raise Violation("invalid_mutation", "The mutation's id is not a UUID.", "id")
        check_schema_version(version)
        check_text(env.name, "name")
        check_value(env.base_version, "base_version")
        if env.name not in HANDLERS:
            raise Violation("unknown_mutation", f"No mutation is called {env.name!r}.", "name")
        item.args = decode_args(bytes(env.args), ARGS[env.name], env.name)
    except Violation as v:
        item.problem = v
        env.name = _clean(env.name)
    return item


def decode_request(body: bytes) -> tuple[PushRequest, list[Item]]:
    """The push, and each mutation read and checked on its own. Only what concerns the
    whole push refuses it: a body that is not a push, a mutation without a ``mid``,
    ``mid`` values out of order."""
    if json_too_deep(body):
        raise DoorstepError(
            "too_deeply_nested",
            f"The request body nests deeper than {MAX_DEPTH} levels.",
            {"max_depth": MAX_DEPTH},
        )
    try:
        req = msgspec.json.decode(body, type=PushRequest)
    except msgspec.DecodeError as exc:
        raise Invalid("invalid_push", f"The push body is not valid: {exc}") from exc
    if req.device_time is not None:
        try:
            check_time(req.device_time, "device_time")
        except Violation:
            req.device_time = None  # no clock-skew estimate from a clock that is off
    items = [_item(bytes(raw), i, req.schema_version) for i, raw in enumerate(req.mutations)]
    for prev, nxt in itertools.pairwise(items):
        if nxt.mid != prev.mid + 1:
            raise Invalid(
                "mids_not_consecutive",
                "Mutations must be sent in mid order with no gaps.",
                {"after_mid": prev.mid, "got_mid": nxt.mid},
            )
    return req, items


class _Redo(Exception):
    """A deferred mutation (no savepoint of its own) failed inside the database: the
    chunk's transaction may be unusable, so the chunk runs again, every mutation in a
    savepoint, and the failing one is rejected alone."""


async def push(
    db: Database,
    body: bytes,
    *,
    user_id: uuid.UUID,
    token_device_id: uuid.UUID | None,
    now: datetime,
    after_commit: AfterCommit | None = None,
    handoff: bool = True,
) -> PushResponse:
    """``handoff``: on SQLite, run each chunk that can in one hand-off to the writer
    thread (``sync.push_sqlite``); False: always the ordinary path (the tests compare
    the two)."""
    req, items = decode_request(body)
    if token_device_id is not None and token_device_id != req.device_id:
        raise Forbidden("device_mismatch", "The access token belongs to another device.")
    skew = int((req.device_time - now).total_seconds() * 1000) if req.device_time else None
    outcomes: list[MutationOutcome] = []
    last_mid = 0
    stopped = False
    for start in range(0, max(len(items), 1), CHUNK):
        chunk = items[start : start + CHUNK]
        session: AsyncSession | None = None
        try:
            done = None
            if handoff and db.sync_writer is not None:
                done = await push_sqlite.run_chunk(
                    db.sync_writer, req, chunk, user_id, now, skew, first=start == 0
                )
            if done is not None:
                # Such a chunk changes no bucket: there is nothing to poke.
                outcomes.extend(done.outcomes)
                last_mid, stopped = done.last_mid, done.stopped
                _report(done.failures)
            else:
                for safe in (False, True):
                    try:
                        last_mid, stopped, session = await _chunk(
                            db,
                            req,
                            chunk,
                            outcomes,
                            user_id,
                            now,
                            skew,
                            first=start == 0,
                            safe=safe,
                        )
                        break
                    except _Redo:
                        del outcomes[start:]
        except Exception as exc:
            if not _transient(exc):
                raise
            del outcomes[start:]
            if start == 0:
                raise RetryLater() from exc
            return PushResponse(
                outcomes=outcomes, last_applied_mid=last_mid, server_time=now, retry_after=2
            )
        if after_commit is not None and session is not None:
            await after_commit(session)  # pokes: only once the chunk is durable
        if stopped:
            break
    return PushResponse(outcomes=outcomes, last_applied_mid=last_mid, server_time=now)


async def _chunk(
    db: Database,
    req: PushRequest,
    chunk: list[Item],
    outcomes: list[MutationOutcome],
    user_id: uuid.UUID,
    now: datetime,
    skew: int | None,
    *,
    first: bool,
    safe: bool,
) -> tuple[int, bool, AsyncSession]:
    """One chunk in one transaction; ``safe``: every mutation in a savepoint."""
    stopped = False
    async with db.writer() as s:
        state, device = await _lock_device(s, req.device_id, user_id)
        buckets.defer_packets(s)
        if first and chunk and chunk[0].mid > state.last_mid + 1:
            raise Conflict(
                "mid_gap",
                f"Mutation {state.last_mid + 1} is missing: resend from there.",
                {"expected_mid": state.last_mid + 1, "got_mid": chunk[0].mid},
            )
        changed: set[uuid.UUID] = set()
        run = _Chunk(ledger.Batch(state), state.last_mid, Deferred(), safe)
        if not safe:
            await prefetch(
                s,
                [i.env for i in chunk if i.mid > state.last_mid and i.problem is None],
                run.deferred,
            )
        for item in chunk:
            outcome = await _one(s, run, device, item, req, user_id, now, skew)
            outcomes.append(outcome)
            if (
                outcome.status in ("applied", "resolved")
                and item.env.job_id is not None
                and item.env.name not in EVIDENCE_FREE
            ):
                changed.add(item.env.job_id)
            if outcome.code == "bad_signature":
                stopped = True
                break
        await run.deferred.write(s)  # the facts, one executemany per table
        await run.book.write(s)
        state.last_mid = run.last_mid
        # A claim is re-judged as its evidence arrives (resends change nothing).
        await verdicts.recheck(s, list(changed), now)
        await buckets.flush_deferred(s)
        state.last_push_at = now
        state.clock_skew_ms = skew
        last_mid = state.last_mid
        await s.commit()
    _report(run.failures)
    return last_mid, stopped, s


def _report(failures: list[tuple[Item, uuid.UUID, Exception]]) -> None:
    """Mutations our own code failed on, once their chunk is committed."""
    for item, device_id, exc in failures:
        log.error(
            "mutation %s (mid %s, %s) of device %s failed; rejected as internal_rejected",
            item.id,
            item.mid,
            item.env.name,
            device_id,
            exc_info=exc,
        )
        metrics.count("push.rejected.internal_rejected")


async def _lock_device(
    s: AsyncSession, device_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[DeviceSyncState, Device]:
    device = await s.get(Device, device_id)
    if device is None or device.user_id != user_id:
        raise Forbidden("device_not_enrolled", "That device is not enrolled to you.")
    if device.revoked_at is not None:
        raise Forbidden("device_revoked", "This device has been revoked.")
    locked = select(DeviceSyncState).where(DeviceSyncState.device_id == device_id)
    state = await s.scalar(locked.with_for_update())
    if state is None:  # the device's first push
        insert = insert_for(s)
        await s.execute(
            insert(DeviceSyncState).values(device_id=device_id).on_conflict_do_nothing()
        )
        state = (await s.execute(locked.with_for_update())).scalar_one()
    return state, device


@dataclass
class _Chunk:
    """One chunk under way: its ledger rows, the device's last ``mid`` so far (written to
    the device's state once, at the end), the facts it has not flushed yet; ``safe``:
    no mutation is deferred (each runs in a savepoint)."""

    book: ledger.Batch
    last_mid: int
    deferred: Deferred
    safe: bool = False
    failures: list[tuple[Item, uuid.UUID, Exception]] = field(default_factory=list)
    """Mutations our own code failed on: logged and counted once the chunk commits."""


def _rejected(item: Item, code: str, message: str, **extra: Any) -> MutationOutcome:
    return MutationOutcome(
        mid=item.mid, id=item.id, status="rejected", code=code, message=message, **extra
    )


async def _one(
    s: AsyncSession,
    run: _Chunk,
    device: Device,
    item: Item,
    req: PushRequest,
    user_id: uuid.UUID,
    now: datetime,
    skew: int | None,
) -> MutationOutcome:
    env = item.env
    detail: dict[str, object] = {}
    flags = list(item.flags)
    if env.device_time is not None and env.device_time > now + FUTURE_SLACK:
        flags.append("device_time_in_future")
    if flags:
        detail["flags"] = flags

    def record(
        outcome: str, code: str | None, sig: str, extra: dict[str, object] | None = None
    ) -> None:
        run.book.add(
            device_id=device.id,
            user_id=user_id,
            raw=item.raw,
            mid=item.mid,
            mutation_id=str(item.id),
            name=env.name,
            job_id=env.job_id,
            device_time=env.device_time,
            sent_at=req.device_time,
            received_at=now,
            clock_skew_ms=skew,
            outcome=outcome,
            code=code,
            detail={**detail, **(extra or {})},
            signature_status=sig,
        )

    sig = verify_signature(device.public_key, item.raw, device.signature_alg)
    if item.mid <= run.last_mid:
        return await _resent(s, device, item, sig, record)

    if sig == "invalid":
        # Not applied and the mid does not advance: a forged mutation must not use up a
        # number the real phone will send.
        record("rejected", "bad_signature", sig)
        return _rejected(item, "bad_signature", "The signature does not match this device's key.")
    run.last_mid = item.mid  # from here on the mutation uses up its mid, whatever happens
    if sig == "absent" and device.public_key:
        # A device enrolled with a key signs everything: a stolen access token alone
        # must not be enough to write evidence. Rejected for good, so the mid is used up.
        message = "This device was enrolled with a key: every mutation must be signed."
        record("rejected", "signature_required", sig, {"message": message})
        return _rejected(item, "signature_required", message)
    if item.problem is not None:
        v = item.problem
        more: dict[str, Any] = dict(v.details or {})
        record(
            "rejected",
            v.code,
            sig,
            {"message": v.message, "field": v.field or None, **({"details": more} if more else {})},
        )
        return _rejected(item, v.code, v.message, field=v.field or None, details=more)
    try:
        result = await _apply(s, run, device, item, user_id, now)
    except Rejected as rejection:
        record(
            "rejected",
            rejection.code,
            sig,
            {"message": rejection.message, "flags_out": rejection.flags},
        )
        return _rejected(item, rejection.code, rejection.message, flags=rejection.flags)
    except _Redo:
        raise
    except Exception as exc:
        if _transient(exc):
            raise
        # Our own code failed on this mutation: its savepoint is rolled back, it is
        # rejected alone, and operators hear of it once the chunk is committed (the mid
        # is used up: a resend is a duplicate, so this never repeats).
        run.failures.append((item, device.id, exc))
        message = "The server could not apply this mutation; it is kept for the operators."
        record(
            "rejected", "internal_rejected", sig, {"message": message, "error": type(exc).__name__}
        )
        return _rejected(item, "internal_rejected", message)
    record(result.status, result.code, sig, {"flags_out": result.flags} if result.flags else None)
    return MutationOutcome(
        mid=item.mid,
        id=item.id,
        status=result.status,  # type: ignore[arg-type]
        code=result.code,
        message=result.message,
        flags=result.flags,
    )


async def _resent(
    s: AsyncSession,
    device: Device,
    item: Item,
    sig: str,
    record: Callable[..., None],
) -> MutationOutcome:
    """A ``mid`` already used: the same mutation again is a ``duplicate`` (answered with
    its first outcome); another mutation under that ``mid`` is a phone bug, rejected
    ``mid_reused`` and kept in the ledger, never silently dropped."""
    first = await s.scalar(
        select(LedgerEntry)
        .where(
            LedgerEntry.device_id == device.id,
            LedgerEntry.mid == item.mid,
            LedgerEntry.outcome.in_(["applied", "resolved", "rejected"]),
            LedgerEntry.signature_status != "invalid",
            LedgerEntry.code.is_distinct_from("mid_reused"),
        )
        .order_by(LedgerEntry.seq)
        .limit(1)
    )
    if first is not None and first.mutation_id not in (None, str(item.id)):
        message = (
            f"Mid {item.mid} was already used by mutation {first.mutation_id}; this one is "
            "not applied. Number new mutations after last_applied_mid."
        )
        record(
            "rejected",
            "mid_reused",
            sig,
            {"flags": ["mid_reused"], "first_mutation_id": first.mutation_id, "message": message},
        )
        return _rejected(item, "mid_reused", message, first_id=uuid.UUID(first.mutation_id))
    record(
        "duplicate",
        first.code if first else None,
        sig,
        {"first_outcome": first.outcome if first else None},
    )
    return MutationOutcome(
        mid=item.mid,
        id=item.id,
        status="duplicate",
        code=first.code if first else None,
        first_status=first.outcome if first else None,  # type: ignore[arg-type]
    )


async def _apply(
    s: AsyncSession,
    run: _Chunk,
    device: Device,
    item: Item,
    user_id: uuid.UUID,
    now: datetime,
) -> Applied:
    env = item.env
    deferrable = env.name in DEFERRABLE and not run.safe
    if not deferrable:
        # Whatever this mutation reads sees the facts the chunk has held back so far,
        # and whatever it changes, the jobs read at the chunk's start are no longer sure.
        await run.deferred.write(s)
        run.deferred.jobs.clear()
    ctx = MutationContext(
        session=s,
        technician_id=user_id,
        device_id=device.id,
        envelope=env,
        now=now,
        deferred=run.deferred if deferrable else None,
    )
    if not deferrable:
        async with s.begin_nested():
            return await apply(ctx, item.args)
    # No savepoint (see DEFERRABLE): what the mutation adds to the chunk's held-back
    # rows is taken back if it fails; a failure inside the database may have broken
    # the transaction, so the chunk is run again with savepoints.
    mark = run.deferred.mark()
    try:
        return await apply(ctx, item.args)
    except Rejected:
        run.deferred.undo(mark)
        raise
    except SQLAlchemyError as exc:
        if _transient(exc):
            raise
        raise _Redo() from exc
    except Exception:
        run.deferred.undo(mark)
        raise
