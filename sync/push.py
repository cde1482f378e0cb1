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
nothing.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

from evidence import verdicts
from server.db.dialect import insert_for
from server.db.engine import Database
from server.db.models import Device, DeviceSyncState, LedgerEntry
from server.errors import Conflict, Forbidden, Invalid, RetryLater
from sync import buckets, ledger
from sync.mutations import (
    DEFERRABLE,
    EVIDENCE_FREE,
    Applied,
    Deferred,
    MutationContext,
    Rejected,
    apply,
    prefetch,
)
from sync.signing import verify_signature
from sync.wire import MutationEnvelope, MutationOutcome, PushRequest, PushResponse

__all__ = ["CHUNK", "push"]

CHUNK = 50
"""Mutations per transaction: long enough to batch writes, short enough not to hold
SQLite's write lock for long."""
FUTURE_SLACK = timedelta(minutes=10)


def _transient(exc: BaseException) -> bool:
    """Busy, locked or unreachable: the phone keeps its mutations and resends them."""
    if isinstance(exc, OperationalError | PoolTimeout | OSError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


AfterCommit = Callable[[AsyncSession], Awaitable[None]]


def decode_request(body: bytes) -> tuple[PushRequest, list[MutationEnvelope]]:
    try:
        req = msgspec.json.decode(body, type=PushRequest)
    except msgspec.DecodeError as exc:
        raise Invalid("invalid_push", f"The push body is not valid: {exc}") from exc
    envelopes = []
    for i, raw in enumerate(req.mutations):
        try:
            envelopes.append(msgspec.json.decode(raw, type=MutationEnvelope))
        except msgspec.DecodeError as exc:
            raise Invalid(
                "invalid_mutation", f"Mutation {i} is not valid: {exc}", {"index": i}
            ) from exc
    for prev, nxt in itertools.pairwise(envelopes):
        if nxt.mid != prev.mid + 1:
            raise Invalid(
                "mids_not_consecutive",
                "Mutations must be sent in mid order with no gaps.",
                {"after_mid": prev.mid, "got_mid": nxt.mid},
            )
    return req, envelopes


async def push(
    db: Database,
    body: bytes,
    *,
    user_id: uuid.UUID,
    token_device_id: uuid.UUID | None,
    now: datetime,
    after_commit: AfterCommit | None = None,
) -> PushResponse:
    req, envelopes = decode_request(body)
    if token_device_id is not None and token_device_id != req.device_id:
        raise Forbidden("device_mismatch", "The access token belongs to another device.")
    skew = int((req.device_time - now).total_seconds() * 1000) if req.device_time else None
    outcomes: list[MutationOutcome] = []
    last_mid = 0
    stopped = False
    for start in range(0, max(len(envelopes), 1), CHUNK):
        chunk = list(
            zip(envelopes[start : start + CHUNK], req.mutations[start : start + CHUNK], strict=True)
        )
        try:
            async with db.writer() as s:
                state, device = await _lock_device(s, req.device_id, user_id)
                buckets.defer_packets(s)
                if start == 0 and envelopes and envelopes[0].mid > state.last_mid + 1:
                    raise Conflict(
                        "mid_gap",
                        f"Mutation {state.last_mid + 1} is missing: resend from there.",
                        {"expected_mid": state.last_mid + 1, "got_mid": envelopes[0].mid},
                    )
                changed: set[uuid.UUID] = set()
                run = _Chunk(ledger.Batch(state), state.last_mid, Deferred())
                await prefetch(
                    s, [env for env, _ in chunk if env.mid > state.last_mid], run.deferred
                )
                for env, raw in chunk:
                    outcome = await _one(s, run, device, env, raw, req, user_id, now, skew)
                    outcomes.append(outcome)
                    if (
                        outcome.status in ("applied", "resolved")
                        and env.job_id is not None
                        and env.name not in EVIDENCE_FREE
                    ):
                        changed.add(env.job_id)
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
        except Exception as exc:
            if not _transient(exc):
                raise
            del outcomes[start:]
            if start == 0:
                raise RetryLater() from exc
            return PushResponse(
                outcomes=outcomes, last_applied_mid=last_mid, server_time=now, retry_after=2
            )
        if after_commit is not None:
            await after_commit(s)  # pokes: only once the chunk is durable
        if stopped:
            break
    return PushResponse(outcomes=outcomes, last_applied_mid=last_mid, server_time=now)


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
    the device's state once, at the end), the facts it has not flushed yet."""

    book: ledger.Batch
    last_mid: int
    deferred: Deferred


async def _one(
    s: AsyncSession,
    run: _Chunk,
    device: Device,
    env: MutationEnvelope,
    raw: msgspec.Raw,
    req: PushRequest,
    user_id: uuid.UUID,
    now: datetime,
    skew: int | None,
) -> MutationOutcome:
    raw_bytes = bytes(raw)
    detail: dict[str, object] = {}
    if env.device_time is not None and env.device_time > now + FUTURE_SLACK:
        detail["flags"] = ["device_time_in_future"]

    def record(
        outcome: str, code: str | None, sig: str, extra: dict[str, object] | None = None
    ) -> None:
        run.book.add(
            device_id=device.id,
            user_id=user_id,
            raw=raw_bytes,
            mid=env.mid,
            mutation_id=str(env.id),
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

    sig = verify_signature(device.public_key, raw_bytes, device.signature_alg)
    if env.mid <= run.last_mid:
        first = await s.scalar(
            select(LedgerEntry)
            .where(
                LedgerEntry.device_id == device.id,
                LedgerEntry.mid == env.mid,
                LedgerEntry.outcome.in_(["applied", "resolved", "rejected"]),
                LedgerEntry.signature_status != "invalid",
            )
            .order_by(LedgerEntry.seq)
            .limit(1)
        )
        record(
            "duplicate",
            first.code if first else None,
            sig,
            {"first_outcome": first.outcome if first else None},
        )
        return MutationOutcome(
            mid=env.mid,
            id=env.id,
            status="duplicate",
            code=first.code if first else None,
            first_status=first.outcome if first else None,  # type: ignore[arg-type]
        )

    if sig == "invalid":
        # Not applied and the mid does not advance: a forged mutation must not use up a
        # number the real phone will send.
        record("rejected", "bad_signature", sig)
        return MutationOutcome(
            mid=env.mid,
            id=env.id,
            status="rejected",
            code="bad_signature",
            message="The signature does not match this device's key.",
        )
    if sig == "absent" and device.public_key:
        # A device enrolled with a key signs everything: a stolen access token alone
        # must not be enough to write evidence. Rejected for good, so the mid is used up.
        message = "This device was enrolled with a key: every mutation must be signed."
        record("rejected", "signature_required", sig, {"message": message})
        run.last_mid = env.mid
        return MutationOutcome(
            mid=env.mid, id=env.id, status="rejected", code="signature_required", message=message
        )
    deferrable = env.name in DEFERRABLE
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
    try:
        if deferrable:
            # Nothing to roll back on Rejected (see DEFERRABLE); what the chunk holds
            # back is only facts its reads do not depend on.
            result = await apply(ctx)
        else:
            async with s.begin_nested():
                result = await apply(ctx)
    except Rejected as r:
        result = None
        rejection = r
    if result is None:
        record(
            "rejected",
            rejection.code,
            sig,
            {"message": rejection.message, "flags_out": rejection.flags},
        )
        outcome = MutationOutcome(
            mid=env.mid,
            id=env.id,
            status="rejected",
            code=rejection.code,
            message=rejection.message,
            flags=rejection.flags,
        )
    else:
        assert isinstance(result, Applied)
        record(
            result.status, result.code, sig, {"flags_out": result.flags} if result.flags else None
        )
        outcome = MutationOutcome(
            mid=env.mid,
            id=env.id,
            status=result.status,  # type: ignore[arg-type]
            code=result.code,
            message=result.message,
            flags=result.flags,
        )
    run.last_mid = env.mid
    return outcome
