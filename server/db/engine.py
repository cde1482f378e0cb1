"""Engines and sessions for SQLite (embedded) and PostgreSQL.

SQLite: WAL, foreign keys on, a busy timeout, and two session factories — writers open
their transaction with ``BEGIN IMMEDIATE`` so concurrent writers queue on the busy
timeout instead of failing with "database is locked" when they upgrade a read lock;
readers use a deferred transaction and never block each other (WAL).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from server.metrics import SQLITE_WRITER_WAIT

__all__ = ["Database", "make_database", "sqlite_sync_writer"]

SQLITE_BUSY_TIMEOUT_MS = 15_000


@dataclass(slots=True)
class Database:
    """The engines of one app and the session factories built on them."""

    engine: AsyncEngine
    write_engine: AsyncEngine
    reader: async_sessionmaker[AsyncSession]
    writer: async_sessionmaker[AsyncSession]
    sync_writer: Engine | None = None
    """SQLite file databases: the synchronous writer engine (``sqlite_sync_writer``)."""

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()
        if self.sync_writer is not None:
            self.sync_writer.dispose()


def _json_encode(obj: Any) -> str:
    return msgspec.json.encode(obj).decode()


# msgspec reads and writes the JSON columns (bucket documents, history data) several
# times faster than the standard library.
JSON_CODEC = {"json_serializer": _json_encode, "json_deserializer": msgspec.json.decode}


def _quiet_aiosqlite() -> None:
    # aiosqlite's DEBUG lines print every statement's parameters (customers' phone
    # numbers and addresses): keep them off even when the root logger is at DEBUG.
    quiet = logging.getLogger("aiosqlite")
    if quiet.level == logging.NOTSET:
        quiet.setLevel(logging.INFO)


def _configure_sqlite(engine: Engine, *, immediate: bool, busy_timeout_ms: int) -> None:
    """The pragmas and the way transactions begin, for every SQLite engine (async, and
    the push's synchronous writer, ``sqlite_sync_writer``): the same on both, so their
    writes queue on the one write lock in the same way."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    if immediate:  # the one write lock: how long writers queue for it is a metric

        @event.listens_for(engine, "begin")
        def _on_begin_immediate(conn: Any) -> None:
            started = time.perf_counter()
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            SQLITE_WRITER_WAIT.observe(time.perf_counter() - started)

    else:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")


def _sqlite_engine(
    url: str, *, immediate: bool, echo: bool, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> AsyncEngine:
    _quiet_aiosqlite()
    engine = create_async_engine(
        url,
        echo=echo,
        connect_args={"timeout": busy_timeout_ms / 1000},
        hide_parameters=True,  # customers' numbers stay out of logs and errors
        **JSON_CODEC,
    )
    _configure_sqlite(engine.sync_engine, immediate=immediate, busy_timeout_ms=busy_timeout_ms)
    return engine


def sqlite_sync_writer(
    url: str, *, echo: bool = False, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> Engine | None:
    """A synchronous writer engine (the standard library's ``sqlite3``) on the same file
    as ``url``, configured as the async writer (WAL, ``BEGIN IMMEDIATE``, the busy
    timeout): for work that runs a whole transaction in one hand-off to a thread of its
    own (``sync.push_sqlite``) instead of a hand-off per statement. None for an
    in-memory database (another connection would see another database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    engine = create_engine(
        parsed.set(drivername="sqlite+pysqlite"),
        echo=echo,
        # Used by one thread at a time, but disposed of from the event loop's.
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
        hide_parameters=True,
        pool_size=1,
        max_overflow=0,
        **JSON_CODEC,
    )
    _configure_sqlite(engine, immediate=True, busy_timeout_ms=busy_timeout_ms)
    return engine


def _drop_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """At checkout, pass over a pooled connection that PostgreSQL has closed (a restart, a
    failover, an idle timeout): the pool opens a fresh one instead.

    SQLAlchemy's ``pool_pre_ping`` does the same with a round trip at every checkout, and
    on asyncpg that ping is three (BEGIN, ``;``, ROLLBACK): on an empty pull, about a
    third of the database work. asyncpg already knows when the server closed the socket.
    A connection that died without a word (a cable, a firewall) fails its statement
    instead: SQLAlchemy then drops every older pooled connection, and the client gets
    503 ``retry_later`` and tries again."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def make_database(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 10,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    info: dict[str, Any] | None = None,
) -> Database:
    """``info``: what every session carries in ``session.info`` (the app's callback
    policy, say)."""
    if url.startswith("sqlite"):
        read = _sqlite_engine(url, immediate=False, echo=echo, busy_timeout_ms=busy_timeout_ms)
        write = _sqlite_engine(url, immediate=True, echo=echo, busy_timeout_ms=busy_timeout_ms)
    else:
        asyncpg = make_url(url).get_driver_name() == "asyncpg"
        read = write = create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=not asyncpg,  # other drivers: a round trip at every checkout
            hide_parameters=True,  # customers' numbers stay out of logs and errors
            **JSON_CODEC,
        )
        if asyncpg:
            event.listen(read.sync_engine, "checkout", _drop_closed)
    return Database(
        engine=read,
        write_engine=write,
        reader=async_sessionmaker(read, expire_on_commit=False, info=info),
        writer=async_sessionmaker(write, expire_on_commit=False, info=info),
        sync_writer=(
            sqlite_sync_writer(url, echo=echo, busy_timeout_ms=busy_timeout_ms)
            if url.startswith("sqlite")
            else None
        ),
    )
