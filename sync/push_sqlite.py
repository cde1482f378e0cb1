"""A push's chunk on SQLite in one hand-off to a writer thread (issue 17).

Through SQLAlchemy's async session and aiosqlite each statement costs about four
hand-offs between the event loop and aiosqlite's thread (cursor, execute, fetch, close),
plus the transaction's; for a chunk of fifty notes those hand-offs, not the statements,
were most of the push's time (``docs/performance.md``). Here the whole chunk — the
device's state, the jobs and note ids it needs, every mutation, the rows, the ledger's
``executemany``, the device's new head, the commit — runs in one call on a thread of its
own, on a synchronous SQLAlchemy connection (``Database.sync_writer``: the same file,
the same pragmas, ``BEGIN IMMEDIATE`` as the async writer, so it queues on the one write
lock like every other writer of the app).

No rule is written twice: the push's own code (``sync.push._one``, the handlers,
``prefetch``, ``ledger.Batch``, ``Deferred``) runs unchanged, driven to completion
synchronously (``_drive``) against ``_SyncSession``, which offers only the Core
statements those steps make for a chunk of ``DEFERRABLE`` mutations (plain selects of
columns and inserts). Anything else a mutation would need (an ORM lookup, a savepoint,
a resend's ledger lookup, a job not prefetched) raises ``Fallback``: the transaction is
rolled back having written nothing and the chunk runs on the ordinary path. So this
path takes the common chunk, notes and poison alike, and gives what the ordinary path
gives: the same outcomes and the same ledger bytes (``tests/test_push_recorded.py``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    Connection,
    Dialect,
    Engine,
    Executable,
    Insert,
    Select,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.failures import is_transient
from server.db.models import Device, DeviceSyncState
from sync import ledger, metrics
from sync.mutations import DEFERRABLE, EVIDENCE_FREE, Deferred, prefetch

if TYPE_CHECKING:
    from datetime import datetime

    from sync.push import Item, _Chunk
    from sync.wire import MutationOutcome, PushRequest

__all__ = ["Done", "Fallback", "run_chunk"]

log = logging.getLogger("doorstep.sync")

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _writer_thread() -> ThreadPoolExecutor:
    """One thread: SQLite has one writer at a time anyway, and one connection per file
    stays warm in it (its pool holds one)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(1, thread_name_prefix="doorstep-push")
        return _executor


class Fallback(BaseException):
    """This chunk needs what only the ordinary path has. A ``BaseException`` so that the
    push's own ``except Exception`` (a mutation our code failed on) never swallows it."""


def _drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never waits (every statement it makes is synchronous
    here) to its end; one that would wait falls back."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise Fallback("the chunk would wait on something")


class _SyncSession:
    """What the push's code may do with its session in a chunk on this path: plain
    statements on a synchronous connection (SQLite ignores ``FOR UPDATE``: the
    transaction holds the write lock). An ORM entity, a lookup by key, a savepoint…
    fall back rather than being answered differently."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @staticmethod
    def _plain(stmt: Executable) -> Executable:
        if isinstance(stmt, Insert):
            return stmt
        if isinstance(stmt, Select) and all(
            not isinstance(d["type"], type) for d in stmt.column_descriptions
        ):
            return stmt  # columns only: the same rows from a Core connection
        raise Fallback("a statement for the ORM session")

    async def execute(self, stmt: Executable, params: Any = None) -> Any:
        if isinstance(stmt, Insert) and isinstance(params, list) and _whole_rows(stmt, params):
            return _insert_rows(self._conn, cast(Table, stmt.table), params)
        return self._conn.execute(self._plain(stmt), params)

    async def scalars(self, stmt: Select[Any], params: Any = None) -> Any:
        if len(stmt.selected_columns) != 1:
            raise Fallback("scalars of more than one column")
        return self._conn.scalars(self._plain(stmt), params)

    def __getattr__(self, name: str) -> Any:
        raise Fallback(f"session.{name}")


def _whole_rows(stmt: Insert, rows: list[dict[str, Any]]) -> bool:
    """A plain ``INSERT`` of rows that give every column (the push's facts and ledger
    rows do): no default to compute, nothing returned."""
    table = stmt.table
    if not isinstance(table, Table) or stmt._values or stmt._returning or not rows:
        return False
    width = len(table.columns)
    return all(len(row) == width for row in rows) and rows[0].keys() == set(table.columns.keys())


@functools.cache
def _insert_plan(table: Table, dialect: Dialect) -> tuple[str, list[tuple[str, Any]]]:
    """The ``INSERT`` of every column of ``table`` and, per column, its key and the bind
    processor SQLAlchemy itself applies to it on this dialect (UUIDs as hex, datetimes
    in SQLite's text form, JSON through the engine's serializer): the same stored bytes
    as ``Connection.execute``, without building its parameters row by row."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(table.columns.keys()))
    order = list(compiled.positiontup or ())
    return compiled.string, [
        (key, table.columns[key].type.dialect_impl(dialect).bind_processor(dialect))
        for key in order
    ]


def _insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    sql, columns = _insert_plan(table, conn.dialect)
    # Column by column: one ``map`` per column, not a Python loop per value.
    values = [
        [row[key] for row in rows]
        if process is None
        else list(map(process, (row[key] for row in rows)))
        for key, process in columns
    ]
    conn.exec_driver_sql(sql, list(zip(*values, strict=True)))


@dataclass
class Done:
    """A chunk committed on this path."""

    outcomes: list[MutationOutcome]
    last_mid: int
    stopped: bool
    failures: list[tuple[Item, uuid.UUID, Exception]]


async def run_chunk(
    engine: Engine,
    req: PushRequest,
    chunk: list[Item],
    user_id: uuid.UUID,
    now: datetime,
    skew: int | None,
    *,
    first: bool,
) -> Done | None:
    """The chunk, committed, in one hand-off; None: it needs the ordinary path (nothing
    was written). Database errors propagate as on the ordinary path (a busy database
    is transient there too)."""
    if not chunk or any(i.env.name not in DEFERRABLE and i.problem is None for i in chunk):
        return None  # a chunk the ordinary path takes anyway: no hand-off for nothing
    call = functools.partial(_run, engine, req, chunk, user_id, now, skew, first)
    done = await asyncio.get_running_loop().run_in_executor(_writer_thread(), call)
    # How often the common case is taken (doorstep_sync{name=...} on /metrics).
    metrics.count("push.chunk.one_handoff" if done is not None else "push.chunk.fell_back")
    return done


def _run(
    engine: Engine,
    req: PushRequest,
    chunk: list[Item],
    user_id: uuid.UUID,
    now: datetime,
    skew: int | None,
    first: bool,
) -> Done | None:
    with engine.connect() as conn:
        trans = conn.begin()  # BEGIN IMMEDIATE (server.db.engine)
        try:
            done = _body(conn, req, chunk, user_id, now, skew, first)
        except Fallback:
            trans.rollback()
            return None
        except Exception as exc:
            trans.rollback()
            if is_transient(exc):
                raise  # busy or away: the push asks the phone to come back, as ever
            # Anything else (a constraint, our own bug): the ordinary path knows how to
            # reject the one mutation at fault; nothing was written here.
            log.warning("push: the one-hand-off chunk failed; ordinary path", exc_info=exc)
            return None
        except BaseException:
            trans.rollback()
            raise
        if done is None:
            trans.rollback()
            return None
        trans.commit()
        return done


def _body(
    conn: Connection,
    req: PushRequest,
    chunk: list[Item],
    user_id: uuid.UUID,
    now: datetime,
    skew: int | None,
    first: bool,
) -> Done | None:
    from sync.push import _Chunk, _one  # sync.push imports this module

    row = conn.execute(
        select(
            Device.user_id,
            Device.revoked_at,
            Device.public_key,
            Device.signature_alg,
            DeviceSyncState.last_mid,
            DeviceSyncState.ledger_seq,
            DeviceSyncState.ledger_head,
        )
        .join_from(Device, DeviceSyncState, DeviceSyncState.device_id == Device.id)
        .where(Device.id == req.device_id)
    ).first()
    # Not enrolled, revoked, a first push, a gap, a resend: the ordinary path answers.
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        return None
    if (first and chunk[0].mid > row.last_mid + 1) or chunk[0].mid <= row.last_mid:
        return None
    device = Device(
        id=req.device_id,
        user_id=user_id,
        public_key=row.public_key,
        signature_alg=row.signature_alg,
    )
    state = DeviceSyncState(
        device_id=req.device_id,
        last_mid=row.last_mid,
        ledger_seq=row.ledger_seq,
        ledger_head=row.ledger_head,
    )
    s = cast(AsyncSession, _SyncSession(conn))
    run: _Chunk = _Chunk(ledger.Batch(state), state.last_mid, Deferred())
    _drive(prefetch(s, [i.env for i in chunk if i.problem is None], run.deferred))
    outcomes: list[MutationOutcome] = []
    stopped = False
    for item in chunk:
        outcome = _drive(_one(s, run, device, item, req, user_id, now, skew))
        if outcome.status in ("applied", "resolved") and item.env.name not in EVIDENCE_FREE:
            raise Fallback("a claim to re-judge")
        outcomes.append(outcome)
        if outcome.code == "bad_signature":
            stopped = True
            break
    _drive(run.deferred.write(s))
    _drive(run.book.write(s))
    conn.execute(
        update(DeviceSyncState)
        .where(DeviceSyncState.device_id == req.device_id)
        .values(
            last_mid=run.last_mid,
            ledger_seq=state.ledger_seq,
            ledger_head=state.ledger_head,
            last_push_at=now,
            clock_skew_ms=skew,
        )
    )
    return Done(outcomes, run.last_mid, stopped, run.failures)
