"""Engines and sessions for SQLite (embedded) and PostgreSQL.

SQLite: WAL, foreign keys on, a busy timeout, and two session factories — writers open
their transaction with ``BEGIN IMMEDIATE`` so concurrent writers queue on the busy
timeout instead of failing with "database is locked" when they upgrade a read lock;
readers use a deferred transaction and never block each other (WAL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = ["Database", "make_database"]

SQLITE_BUSY_TIMEOUT_MS = 15_000


@dataclass(slots=True)
class Database:
    """The engines of one app and the session factories built on them."""

    engine: AsyncEngine
    write_engine: AsyncEngine
    reader: async_sessionmaker[AsyncSession]
    writer: async_sessionmaker[AsyncSession]

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()


def _json_encode(obj: Any) -> str:
    return msgspec.json.encode(obj).decode()


# msgspec reads and writes the JSON columns (bucket documents, history data) several
# times faster than the standard library.
JSON_CODEC = {"json_serializer": _json_encode, "json_deserializer": msgspec.json.decode}


def _sqlite_engine(url: str, *, immediate: bool, echo: bool) -> AsyncEngine:
    engine = create_async_engine(
        url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **JSON_CODEC
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


def make_database(
    url: str, *, echo: bool = False, pool_size: int = 10, info: dict[str, Any] | None = None
) -> Database:
    """``info``: what every session carries in ``session.info`` (the app's callback
    policy, say)."""
    if url.startswith("sqlite"):
        read = _sqlite_engine(url, immediate=False, echo=echo)
        write = _sqlite_engine(url, immediate=True, echo=echo)
    else:
        read = write = create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            **JSON_CODEC,
        )
    return Database(
        engine=read,
        write_engine=write,
        reader=async_sessionmaker(read, expire_on_commit=False, info=info),
        writer=async_sessionmaker(write, expire_on_commit=False, info=info),
    )
