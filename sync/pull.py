"""``pull``: a snapshot of a bucket, then incremental pages of its log.

Runs in one read snapshot (REPEATABLE READ on PostgreSQL; a WAL read transaction on
SQLite), so ``last_applied_mid`` and the operations agree: a phone never sees its
mutation acknowledged without its effect.

The hot path of the whole server (a phone polls it all day), so it is written for
speed: no ORM objects, statements built once with bind parameters, the caller's
account (``server.auth.account``: checked here, so the auth middleware makes no lookup
of its own), the bucket head and the device's last mutation read in one statement, no
log query when the cursor is at the head, and documents sent as the JSON text the database holds (``msgspec.Raw``)
instead of being decoded and encoded again. The bytes on the wire are those of
``sync.wire.PullResponse``.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Text, and_, bindparam, cast, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from server.auth.account import Account
from server.db.dialect import is_postgresql
from server.db.models import Bucket, BucketEntity, BucketOp, Device, DeviceSyncState, User
from server.errors import Invalid
from sync.cursor import Cursor, CursorCodec

__all__ = [
    "PullOp",
    "PullPage",
    "SqlitePullReader",
    "begin_snapshot",
    "encode_page",
    "poll",
    "pull",
]


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

_HEAD = (
    select(
        User.active,
        User.role,
        User.provider_id,
        Device.user_id,
        Device.revoked_at,
        Bucket.epoch,
        Bucket.version,
        Bucket.min_version,
        select(DeviceSyncState.last_mid)
        .where(DeviceSyncState.device_id == bindparam("device"))
        .scalar_subquery(),
    )
    .select_from(User)
    .outerjoin(Bucket, Bucket.technician_id == User.id)
    .outerjoin(Device, Device.id == bindparam("device"))
    .where(User.id == bindparam("tech"))
)
"""The caller's account (``server.auth.account.ACCOUNT``'s columns), the bucket head
(NULL: a technician who never had anything) and the device's last mutation: one row,
or none for an unknown user."""

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

AccountCheck = Callable[[Account], None]
"""Raises unless the caller may still pull (``server.auth.account.check_account``):
given the account row read in the pull's own snapshot, before anything is answered."""


def _head(row: Sequence[Any] | None, check: AccountCheck | None) -> tuple[int, int, int, int]:
    """(epoch, head, floor, last_mid) from the head row, once ``check`` passed."""
    if check is not None:
        check(Account.of(row))
    if row is None or row[5] is None:  # a technician who never had anything
        return 1, 0, 0, (row[8] if row is not None else None) or 0
    return row[5], row[6], row[7], row[8] or 0


Answer = Callable[..., PullPage]
"""``answer(ops, cursor, has_more, reset=False)``: a page of this pull."""


def _answerer(codec: CursorCodec, last_mid: int, head: int, now: datetime) -> Answer:
    def answer(ops: list[PullOp], at: Cursor, has_more: bool, reset: bool = False) -> PullPage:
        return PullPage(
            ops=ops,
            cursor=codec.encode(at),
            has_more=has_more,
            reset=reset,
            last_applied_mid=last_mid,
            bucket_version=head,
            server_time=now,
        )

    return answer


def _poll_cursor(codec: CursorCodec, cursor: str, technician_id: uuid.UUID) -> Cursor | None:
    """The cursor of a poll (incremental phase), or None: not a poll, or not valid (the
    whole pull then reports it, after the account check)."""
    try:
        c = codec.decode(cursor, technician_id)
    except Invalid:
        return None
    return c if c.phase == "i" else None


def _at_head(
    codec: CursorCodec, c: Cursor, head: tuple[int, int, int, int], now: datetime
) -> PullPage | None:
    """The empty page of a poll whose cursor is at the head, or None."""
    epoch, version, floor, last_mid = head
    if c.epoch != epoch or c.version != version or c.version < floor:
        return None
    return _answerer(codec, last_mid, version, now)([], c, False)


async def poll(
    conn: AsyncConnection,
    *,
    codec: CursorCodec,
    technician_id: uuid.UUID,
    device_id: uuid.UUID | None,
    cursor: str,
    now: datetime,
    check: AccountCheck | None = None,
) -> PullPage | None:
    """The poll a phone makes all day, in one statement and no transaction of its own
    (one statement reads one snapshot; on PostgreSQL a BEGIN, a COMMIT and a SET of the
    isolation level are three round trips more than the answer needs). ``conn`` in
    autocommit. None: not a poll at the head; ``pull`` answers it."""
    c = _poll_cursor(codec, cursor, technician_id)
    if c is None:
        return None
    row = (await conn.execute(_HEAD, {"tech": technician_id, "device": device_id})).first()
    return _at_head(codec, c, _head(row, check), now)


async def pull(
    session: Executor,
    *,
    codec: CursorCodec,
    technician_id: uuid.UUID,
    device_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
    now: datetime,
    check: AccountCheck | None = None,
) -> PullPage:
    """Call inside a session begun with ``begin_snapshot`` (or a connection in a
    transaction at REPEATABLE READ on PostgreSQL)."""
    row = (await session.execute(_HEAD, {"tech": technician_id, "device": device_id})).first()
    epoch, head, floor, last_mid = _head(row, check)

    answer = _answerer(codec, last_mid, head, now)

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


# --- SQLite: the whole pull in one hand-off (or none) -----------------------------------

_SQL_HEAD = """SELECT u.active, u.role, u.provider_id, d.user_id, d.revoked_at,
    b.epoch, b.version, b.min_version,
    (SELECT last_mid FROM device_sync_state WHERE device_id = ?1)
    FROM users u LEFT JOIN buckets b ON b.technician_id = u.id
    LEFT JOIN devices d ON d.id = ?1
    WHERE u.id = ?2"""
_SQL_SNAPSHOT = """SELECT entity_type, entity_id, version, doc FROM bucket_entities
    WHERE technician_id = ? AND version <= ? {after}
    ORDER BY entity_type, entity_id LIMIT ?"""
_SQL_INCREMENTAL = """SELECT o.version, o.entity_type, o.entity_id, o.op, e.version, e.doc
    FROM bucket_ops o LEFT JOIN bucket_entities e
      ON e.technician_id = o.technician_id AND e.entity_type = o.entity_type
     AND e.entity_id = o.entity_id
    WHERE o.technician_id = ? AND o.version > ? AND o.version <= ?
    ORDER BY o.version LIMIT ?"""


@functools.lru_cache(maxsize=8192)
def _uuid(hex_text: str) -> uuid.UUID:
    """A stored UUID (the same few providers and users on every poll: remembered)."""
    return uuid.UUID(hex=hex_text)


class SqlitePullReader:
    """``pull`` on SQLite with the standard library's ``sqlite3``, in one hand-off to a
    small thread pool of its own (one read connection per thread).

    Why: through SQLAlchemy and aiosqlite, each statement is about four hand-offs
    between the event loop and aiosqlite's thread (cursor, execute, fetch, close), plus
    the transaction's and the pool's own; on a busy machine those hand-offs, not the
    queries, were most of a pull's cost (``docs/performance.md``). Same statements,
    same snapshot (one read transaction), same answer as ``pull``; on SQLite UUIDs are
    stored as 32 hex characters and documents as JSON text. The poll at the head, the
    request a phone makes all day, needs no thread at all (``_poll``)."""

    def __init__(self, path: str, threads: int = 4) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="doorstep-pull")
        self.statements = 0
        """SQL statements run so far, ``BEGIN`` included, ``COMMIT`` not (for the benchmark;
        approximate under concurrent pulls)."""

    def _connection(self, waits: bool = True) -> sqlite3.Connection:
        """This thread's read connection. ``waits=False``: the event loop's own (for
        ``_poll``), which never waits for a lock (``busy_timeout=0``)."""
        name = "conn" if waits else "poll_conn"
        conn: sqlite3.Connection | None = getattr(self._local, name, None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={15000 if waits else 0}")
            conn.execute("PRAGMA query_only=ON")
            setattr(self._local, name, conn)
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
        check: AccountCheck | None = None,
    ) -> PullPage:
        if cursor is not None:
            page = self._poll(codec, technician_id, device_id, cursor, now, check)
            if page is not None:
                return page
        return await asyncio.get_running_loop().run_in_executor(
            self._executor,
            functools.partial(
                self._pull, codec, technician_id, device_id, cursor, limit, now, check
            ),
        )

    def _poll(
        self,
        codec: CursorCodec,
        technician_id: uuid.UUID,
        device_id: uuid.UUID | None,
        cursor: str,
        now: datetime,
        check: AccountCheck | None,
    ) -> PullPage | None:
        """The poll a phone makes all day, answered on the event loop: an incremental
        cursor already at the head needs only the head statement (a few index pages,
        tens of microseconds), and a hand-off to a thread would cost several times the
        query. The connection never waits (``busy_timeout=0``; a WAL reader rarely has
        to). None: not such a poll, or SQLite was busy; ``_pull`` then answers the
        whole pull in its own transaction (and reports a bad cursor, after the account
        check)."""
        c = _poll_cursor(codec, cursor, technician_id)
        if c is None:
            return None
        conn = self._connection(waits=False)
        try:
            # One statement, in autocommit: SQLite runs it in a read transaction of its
            # own, so the head and the account it reads come from one snapshot.
            self.statements += 1
            head = self._head(conn, technician_id, device_id, check)
        except sqlite3.OperationalError:  # busy or locked: the thread may wait, not the loop
            return None
        return _at_head(codec, c, head, now)

    @staticmethod
    def _head(
        conn: sqlite3.Connection,
        technician_id: uuid.UUID,
        device_id: uuid.UUID | None,
        check: AccountCheck | None,
    ) -> tuple[int, int, int, int]:
        device = device_id.hex if device_id is not None else None
        row = conn.execute(_SQL_HEAD, (device, technician_id.hex)).fetchone()
        if row is not None:  # the types SQLAlchemy gives (UUIDs are hex text here)
            active, role, provider, device_user = row[:4]
            row = (
                None if active is None else bool(active),
                role,
                None if provider is None else _uuid(provider),
                None if device_user is None else _uuid(device_user),
                *row[4:],
            )
        return _head(row, check)

    def _pull(
        self,
        codec: CursorCodec,
        technician_id: uuid.UUID,
        device_id: uuid.UUID | None,
        cursor: str | None,
        limit: int,
        now: datetime,
        check: AccountCheck | None,
    ) -> PullPage:
        conn = self._connection()
        conn.execute("BEGIN")
        self.statements += 2  # BEGIN and the head (COMMIT not counted, as on the engines)
        try:
            epoch, head, floor, last_mid = self._head(conn, technician_id, device_id, check)
            c = codec.decode(cursor, technician_id) if cursor is not None else None

            answer = _answerer(codec, last_mid, head, now)

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
