"""``pull``: a snapshot of a bucket, then incremental pages of its log.

Runs in one read snapshot (REPEATABLE READ on PostgreSQL; a WAL read transaction on
SQLite), so ``last_applied_mid`` and the operations agree: a phone never sees its
mutation acknowledged without its effect.

The hot path of the whole server (a phone polls it all day), so it is written for
speed: no ORM objects, statements built once with bind parameters, the bucket head and
the device's last mutation read in one statement, no log query when the cursor is at
the head, and documents sent as the JSON text the database holds (``msgspec.Raw``)
instead of being decoded and encoded again. The bytes on the wire are those of
``sync.wire.PullResponse``.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Text, and_, bindparam, cast, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from server.db.dialect import is_postgresql
from server.db.models import Bucket, BucketEntity, BucketOp, DeviceSyncState
from sync.cursor import Cursor, CursorCodec

__all__ = ["PullOp", "PullPage", "SqlitePullReader", "begin_snapshot", "encode_page", "pull"]


class PullOp(msgspec.Struct, omit_defaults=True):
    """``sync.wire.Op`` with the document as the stored JSON text."""

    op: str
    type: str
    id: uuid.UUID
    version: int
    doc: msgspec.Raw | None = None


class PullPage(msgspec.Struct):
    """``sync.wire.PullResponse`` as the server builds it (same fields, same order)."""

    ops: list[PullOp]
    cursor: str
    has_more: bool
    reset: bool
    last_applied_mid: int
    bucket_version: int
    server_time: datetime


_encoder = msgspec.json.Encoder()


def encode_page(page: PullPage) -> bytes:
    """The response body: the JSON of a ``PullResponse``."""
    return _encoder.encode(page)


_DOC = cast(BucketEntity.doc, Text)  # the stored JSON text, not decoded (JSONB as text)

_HEAD = select(
    Bucket.epoch,
    Bucket.version,
    Bucket.min_version,
    select(DeviceSyncState.last_mid)
    .where(DeviceSyncState.device_id == bindparam("device"))
    .scalar_subquery(),
).where(Bucket.technician_id == bindparam("tech"))

_LAST_MID = select(DeviceSyncState.last_mid).where(DeviceSyncState.device_id == bindparam("device"))

_SNAPSHOT_COLUMNS = (BucketEntity.entity_type, BucketEntity.entity_id, BucketEntity.version, _DOC)
_SNAPSHOT_ORDER = (BucketEntity.entity_type, BucketEntity.entity_id)

_INCREMENTAL = (
    select(
        BucketOp.version,
        BucketOp.entity_type,
        BucketOp.entity_id,
        BucketOp.op,
        BucketEntity.version,
        _DOC,
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
        BucketOp.technician_id == bindparam("tech"),
        BucketOp.version > bindparam("after"),
        BucketOp.version <= bindparam("head"),
    )
    .order_by(BucketOp.version)
    .limit(bindparam("limit"))
)


async def begin_snapshot(session: AsyncSession) -> None:
    """Start the session's transaction as one consistent snapshot (call it first)."""
    if is_postgresql(session):
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


Executor = AsyncSession | AsyncConnection
"""A session or, lighter for a read that needs no ORM at all, a connection."""


async def pull(
    session: Executor,
    *,
    codec: CursorCodec,
    technician_id: uuid.UUID,
    device_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> PullPage:
    """Call inside a session begun with ``begin_snapshot`` (or a connection in a
    transaction at REPEATABLE READ on PostgreSQL)."""
    row = (await session.execute(_HEAD, {"tech": technician_id, "device": device_id})).one_or_none()
    if row is not None:
        epoch, head, floor, last_mid = row
    else:  # a technician who never had anything
        epoch, head, floor = 1, 0, 0
        last_mid = None
        if device_id is not None:
            last_mid = await session.scalar(_LAST_MID, {"device": device_id})
    last_mid = last_mid or 0

    def answer(ops: list[PullOp], c: Cursor, has_more: bool, reset: bool = False) -> PullPage:
        return PullPage(
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
    if c.version == head:  # nothing new: the poll a phone makes all day
        return answer([], c, has_more=False)
    return answer(*await _incremental(session, c, head, limit))


async def _snapshot(session: Executor, c: Cursor, limit: int) -> tuple[list[PullOp], Cursor, bool]:
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
            select(*_SNAPSHOT_COLUMNS).where(*where).order_by(*_SNAPSHOT_ORDER).limit(limit + 1)
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    ops = [PullOp("put", t, i, v, msgspec.Raw(d)) for t, i, v, d in rows]
    if more:
        last = rows[-1]
        return ops, Cursor(c.technician_id, c.epoch, "s", c.version, last[0], str(last[1])), True
    # The snapshot is done: continue with the operations after it.
    return ops, Cursor(c.technician_id, c.epoch, "i", c.version), False


async def _incremental(
    session: Executor, c: Cursor, head: int, limit: int
) -> tuple[list[PullOp], Cursor, bool]:
    """Operations after the cursor. An operation whose entity has moved on since is
    skipped: the later operation carries the latest document."""
    rows = (
        await session.execute(
            _INCREMENTAL,
            {"tech": c.technician_id, "after": c.version, "head": head, "limit": limit},
        )
    ).all()
    ops: list[PullOp] = []
    for version, etype, eid, op, current_version, doc in rows:
        if op == "put" and current_version == version:
            ops.append(PullOp("put", etype, eid, version, msgspec.Raw(doc)))
        elif op == "remove" and current_version is None:
            ops.append(PullOp("remove", etype, eid, version))
    reached = rows[-1][0] if len(rows) == limit else head
    return ops, Cursor(c.technician_id, c.epoch, "i", reached), reached < head


# --- SQLite: the whole pull in one hand-off --------------------------------------------

_SQL_HEAD = """SELECT epoch, version, min_version,
    (SELECT last_mid FROM device_sync_state WHERE device_id = ?)
    FROM buckets WHERE technician_id = ?"""
_SQL_LAST_MID = "SELECT last_mid FROM device_sync_state WHERE device_id = ?"
_SQL_SNAPSHOT = """SELECT entity_type, entity_id, version, doc FROM bucket_entities
    WHERE technician_id = ? AND version <= ? {after}
    ORDER BY entity_type, entity_id LIMIT ?"""
_SQL_INCREMENTAL = """SELECT o.version, o.entity_type, o.entity_id, o.op, e.version, e.doc
    FROM bucket_ops o LEFT JOIN bucket_entities e
      ON e.technician_id = o.technician_id AND e.entity_type = o.entity_type
     AND e.entity_id = o.entity_id
    WHERE o.technician_id = ? AND o.version > ? AND o.version <= ?
    ORDER BY o.version LIMIT ?"""


class SqlitePullReader:
    """``pull`` on SQLite with the standard library's ``sqlite3``, in one hand-off to a
    small thread pool of its own (one read connection per thread).

    Why: through SQLAlchemy and aiosqlite, each statement is about four hand-offs
    between the event loop and aiosqlite's thread (cursor, execute, fetch, close), plus
    the transaction's and the pool's own; on a busy machine those hand-offs, not the
    queries, were most of a pull's cost (``docs/performance.md``). Same statements,
    same snapshot (one read transaction), same answer as ``pull``; on SQLite UUIDs are
    stored as 32 hex characters and documents as JSON text."""

    def __init__(self, path: str, threads: int = 4) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="doorstep-pull")
        self.statements = 0
        """SQL statements run so far, ``BEGIN`` included, ``COMMIT`` not (for the benchmark;
        approximate under concurrent pulls)."""

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=15000")
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    async def pull(
        self,
        *,
        codec: CursorCodec,
        technician_id: uuid.UUID,
        device_id: uuid.UUID | None,
        cursor: str | None,
        limit: int,
        now: datetime,
    ) -> PullPage:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor,
            functools.partial(self._pull, codec, technician_id, device_id, cursor, limit, now),
        )

    def _pull(
        self,
        codec: CursorCodec,
        technician_id: uuid.UUID,
        device_id: uuid.UUID | None,
        cursor: str | None,
        limit: int,
        now: datetime,
    ) -> PullPage:
        c = codec.decode(cursor, technician_id) if cursor is not None else None
        conn = self._connection()
        tech = technician_id.hex
        device = device_id.hex if device_id is not None else None
        conn.execute("BEGIN")
        self.statements += 2  # BEGIN and the head (COMMIT not counted, as on the engines)
        try:
            row = conn.execute(_SQL_HEAD, (device, tech)).fetchone()
            if row is not None:
                epoch, head, floor, last_mid = row
            else:
                epoch, head, floor = 1, 0, 0
                self.statements += 1
                found = conn.execute(_SQL_LAST_MID, (device,)).fetchone() if device else None
                last_mid = found[0] if found else None
            last_mid = last_mid or 0

            def answer(
                ops: list[PullOp], at: Cursor, has_more: bool, reset: bool = False
            ) -> PullPage:
                return PullPage(
                    ops=ops,
                    cursor=codec.encode(at),
                    has_more=has_more,
                    reset=reset,
                    last_applied_mid=last_mid,
                    bucket_version=head,
                    server_time=now,
                )

            if c is None:
                self.statements += 1
                return answer(*self._snapshot(conn, Cursor(technician_id, epoch, "s", head), limit))
            if c.epoch != epoch or c.version < floor or c.version > head:
                return answer([], Cursor(technician_id, epoch, "s", head), False, reset=True)
            if c.phase == "s":
                self.statements += 1
                return answer(*self._snapshot(conn, c, limit))
            if c.version == head:
                return answer([], c, has_more=False)
            self.statements += 1
            return answer(*self._incremental(conn, c, head, limit))
        finally:
            conn.execute("COMMIT")

    @staticmethod
    def _snapshot(
        conn: sqlite3.Connection, c: Cursor, limit: int
    ) -> tuple[list[PullOp], Cursor, bool]:
        params: list[Any] = [c.technician_id.hex, c.version]
        after = ""
        if c.after_type:
            after = "AND (entity_type, entity_id) > (?, ?)"
            params += [c.after_type, uuid.UUID(c.after_id).hex]
        rows = conn.execute(_SQL_SNAPSHOT.format(after=after), (*params, limit + 1)).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        ops = [PullOp("put", t, uuid.UUID(hex=i), v, msgspec.Raw(d)) for t, i, v, d in rows]
        if more:
            last = ops[-1]
            return (
                ops,
                Cursor(c.technician_id, c.epoch, "s", c.version, last.type, str(last.id)),
                True,
            )
        return ops, Cursor(c.technician_id, c.epoch, "i", c.version), False

    @staticmethod
    def _incremental(
        conn: sqlite3.Connection, c: Cursor, head: int, limit: int
    ) -> tuple[list[PullOp], Cursor, bool]:
        rows = conn.execute(
            _SQL_INCREMENTAL, (c.technician_id.hex, c.version, head, limit)
        ).fetchall()
        ops: list[PullOp] = []
        for version, etype, eid, op, current_version, doc in rows:
            if op == "put" and current_version == version:
                ops.append(PullOp("put", etype, uuid.UUID(hex=eid), version, msgspec.Raw(doc)))
            elif op == "remove" and current_version is None:
                ops.append(PullOp("remove", etype, uuid.UUID(hex=eid), version))
        reached = rows[-1][0] if len(rows) == limit else head
        return ops, Cursor(c.technician_id, c.epoch, "i", reached), reached < head

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
