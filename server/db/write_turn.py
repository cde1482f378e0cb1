"""SQLite's one write lock, handed out in order within the process.

SQLite gives its write lock to whichever waiting connection's busy handler happens to
retry first, and the handler sleeps between retries (1, 2, 5 … up to 100 ms). Under a
wave of writers (the 8 am reconnect: hundreds of phones pushing edits and photos) that
is two losses at once: the lock lies idle while every waiter sleeps, and a writer can
lose the race again and again until its busy timeout ends it with 503.

``WriteTurn`` puts a first-come, first-served queue in front of ``BEGIN IMMEDIATE``:
a writer of this process waits for its turn on the event loop, takes the lock at once
when it gets it, and hands the turn to the next writer the moment its COMMIT or
ROLLBACK returns. SQLite's own lock still guards the file (another process — the CLI,
a second server — still queues on the busy handler), so the turn only decides the
order, never correctness: a turn released early costs a short busy wait, nothing more.

A writer that waits longer than the busy timeout for its turn gets the pool's timeout
error, which the app answers as every busy database: 503 ``retry_later``.

Two kinds of writer take turns:
- the async writer engine: its ``begin`` event waits for the turn (``acquire_in_greenlet``,
  inside SQLAlchemy's greenlet), and the engine's dialect hands it on after the
  COMMIT or ROLLBACK (``bind_engine``);
- a whole transaction run in a thread of its own (``sync.push_sqlite``): its caller
  holds the turn around the hand-off (``async with turn:``).
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.util import await_only

from server.metrics import SQLITE_WRITER_WAIT

__all__ = ["WriteTurn"]


class WriteTurn:
    """A first-come, first-served turn at the write lock, for one process and loop.

    Not an ``asyncio.Lock``: the owner is a database connection (released from the
    dialect's commit, not from the task that acquired), and a server's tests run apps
    on more than one event loop over their life."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._owner: object | None = None
        self._waiters: collections.deque[tuple[asyncio.Future[None], object]] = collections.deque()

    @property
    def owner(self) -> object | None:
        return self._owner

    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, owner: object) -> None:
        """Wait for the turn (FIFO) and give it to ``owner``; ``PoolTimeout`` after
        ``timeout_s``."""
        if self._owner is owner:
            return
        if self._owner is None and not self._waiters:
            self._owner = owner
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (fut, owner)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(fut, self.timeout_s)
        except BaseException as exc:
            if self._owner is owner:
                self.release(owner)  # handed the turn as the wait gave up: pass it on
            else:
                self._waiters.remove(entry)
            if isinstance(exc, TimeoutError):
                raise PoolTimeout(f"waited {self.timeout_s:g} s for SQLite's write lock") from None
            raise

    def release(self, owner: object) -> None:
        """Hand the turn to the next waiter; a no-op unless ``owner`` holds it (so every
        place a transaction can end may call it)."""
        if self._owner is not owner:
            return
        self._owner = None
        while self._waiters:
            fut, next_owner = self._waiters.popleft()
            if fut.done():  # gave up waiting
                continue
            self._owner = next_owner
            fut.set_result(None)
            return

    async def __aenter__(self) -> None:
        started = time.perf_counter()
        await self.acquire(asyncio.current_task())
        SQLITE_WRITER_WAIT.observe(time.perf_counter() - started)

    async def __aexit__(self, *_exc: object) -> None:
        self.release(asyncio.current_task())

    def acquire_in_greenlet(self, owner: object) -> None:
        """From synchronous code SQLAlchemy runs for an async engine (an event)."""
        await_only(self.acquire(owner))

    def bind_engine(self, engine: Engine) -> None:
        """Hand the turn on whenever a transaction of ``engine`` ends: after its dialect's
        COMMIT or ROLLBACK returns (or fails), and when a connection goes back to the
        pool or is thrown away holding it."""
        dialect: Any = engine.dialect
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(dbapi_conn: Any) -> None:
            try:
                commit(dbapi_conn)
            finally:
                self.release(_raw(dbapi_conn))

        def do_rollback(dbapi_conn: Any) -> None:
            try:
                rollback(dbapi_conn)
            finally:
                self.release(_raw(dbapi_conn))

        dialect.do_commit, dialect.do_rollback = do_commit, do_rollback

        @event.listens_for(engine, "checkin")
        def _on_checkin(dbapi_conn: Any, _record: Any) -> None:
            self.release(dbapi_conn)

        @event.listens_for(engine, "invalidate")
        def _on_invalidate(dbapi_conn: Any, _record: Any, _exc: Any) -> None:
            self.release(dbapi_conn)


def _raw(conn: Any) -> object:
    """The DBAPI connection under a pool's proxy (what the dialect is handed)."""
    return getattr(conn, "dbapi_connection", None) or conn
