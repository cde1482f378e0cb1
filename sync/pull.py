"""``pull``: a snapshot of a bucket, then incremental pages of its log.

Runs in one read snapshot (REPEATABLE READ on PostgreSQL; a WAL read transaction on
SQLite), so ``last_applied_mid`` and the operations agree: a phone never sees its
mutation acknowledged without its effect.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.dialect import is_postgresql
from server.db.models import Bucket, BucketEntity, BucketOp, DeviceSyncState
from sync.cursor import Cursor, CursorCodec
from sync.wire import Op, PullResponse

__all__ = ["begin_snapshot", "pull"]


async def begin_snapshot(session: AsyncSession) -> None:
    """Start the session's transaction as one consistent snapshot (call it first)."""
    if is_postgresql(session):
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


async def pull(
    session: AsyncSession,
    *,
    codec: CursorCodec,
    technician_id: uuid.UUID,
    device_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> PullResponse:
    """Call inside a session begun with ``begin_snapshot``."""
    bucket = (
        await session.execute(
            select(Bucket.epoch, Bucket.version, Bucket.min_version).where(
                Bucket.technician_id == technician_id
            )
        )
    ).one_or_none()
    epoch, head, floor = bucket if bucket is not None else (1, 0, 0)
    last_mid = 0
    if device_id is not None:
        last_mid = (
            await session.scalar(
                select(DeviceSyncState.last_mid).where(DeviceSyncState.device_id == device_id)
            )
        ) or 0

    def answer(ops: list[Op], c: Cursor, has_more: bool, reset: bool = False) -> PullResponse:
        return PullResponse(
            ops=ops,
            cursor=codec.encode(c),
            has_more=has_more,
            reset=reset,
            last_applied_mid=last_mid,
            bucket_version=head,
            server_time=now,
        )

    if cursor is None:
        start = Cursor(technician_id, epoch, "s", head)
        return answer(*await _snapshot(session, start, limit))
    c = codec.decode(cursor, technician_id)
    if c.epoch != epoch or c.version < floor or c.version > head:
        return answer([], Cursor(technician_id, epoch, "s", head), has_more=False, reset=True)
    if c.phase == "s":
        return answer(*await _snapshot(session, c, limit))
    return answer(*await _incremental(session, c, head, limit))


async def _snapshot(session: AsyncSession, c: Cursor, limit: int) -> tuple[list[Op], Cursor, bool]:
    """Entities as of version ``c.version``, in (type, id) order. Entities changed later
    are left to the incremental phase, which delivers every operation after it."""
    where = [BucketEntity.technician_id == c.technician_id, BucketEntity.version <= c.version]
    if c.after_type:
        where.append(
            tuple_(BucketEntity.entity_type, BucketEntity.entity_id)
            > tuple_(c.after_type, uuid.UUID(c.after_id))
        )
    rows = (
        await session.execute(
            select(
                BucketEntity.entity_type,
                BucketEntity.entity_id,
                BucketEntity.version,
                BucketEntity.doc,
            )
            .where(*where)
            .order_by(BucketEntity.entity_type, BucketEntity.entity_id)
            .limit(limit + 1)
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    ops = [Op(op="put", type=t, id=i, version=v, doc=d) for t, i, v, d in rows]
    if more:
        last = rows[-1]
        return ops, Cursor(c.technician_id, c.epoch, "s", c.version, last[0], str(last[1])), True
    # The snapshot is done: continue with the operations after it.
    return ops, Cursor(c.technician_id, c.epoch, "i", c.version), False


async def _incremental(
    session: AsyncSession, c: Cursor, head: int, limit: int
) -> tuple[list[Op], Cursor, bool]:
    """Operations after the cursor. An operation whose entity has moved on since is
    skipped: the later operation carries the latest document."""
    rows = (
        await session.execute(
            select(
                BucketOp.version,
                BucketOp.entity_type,
                BucketOp.entity_id,
                BucketOp.op,
                BucketEntity.version,
                BucketEntity.doc,
            )
            .outerjoin(
                BucketEntity,
                and_(
                    BucketEntity.technician_id == BucketOp.technician_id,
                    BucketEntity.entity_type == BucketOp.entity_type,
                    BucketEntity.entity_id == BucketOp.entity_id,
                ),
            )
            .where(
                BucketOp.technician_id == c.technician_id,
                BucketOp.version > c.version,
                BucketOp.version <= head,
            )
            .order_by(BucketOp.version)
            .limit(limit)
        )
    ).all()
    ops: list[Op] = []
    for version, etype, eid, op, current_version, doc in rows:
        if op == "put" and current_version == version:
            ops.append(Op(op="put", type=etype, id=eid, version=version, doc=doc))
        elif op == "remove" and current_version is None:
            ops.append(Op(op="remove", type=etype, id=eid, version=version))
    reached = rows[-1][0] if len(rows) == limit else head
    return ops, Cursor(c.technician_id, c.epoch, "i", reached), reached < head
