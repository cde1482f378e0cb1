"""SQLite's write lock handed out in arrival order (``server.db.write_turn``): writers of
one process take turns first come, first served, every way a transaction can end hands
the turn on, and a writer that waits too long gets a transient error (503), never a
hang."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from server.db.engine import make_database
from server.db.failures import is_transient
from server.db.write_turn import WriteTurn


def _db(tmp_path: Path, **kw):  # type: ignore[no-untyped-def]
    db = make_database(f"sqlite+aiosqlite:///{tmp_path / 'turn.db'}", **kw)
    assert db.write_turn is not None
    return db


async def _table(db) -> None:  # type: ignore[no-untyped-def]
    async with db.writer() as s, s.begin():
        await s.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER, k TEXT)"))


def test_writers_take_the_lock_in_arrival_order_and_nothing_is_lost(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[int], list[int], int]:
        db = _db(tmp_path)
        await _table(db)
        entered: list[int] = []
        holder = asyncio.Event()

        async def first() -> None:
            async with db.writer() as s, s.begin():
                await s.execute(text("INSERT INTO t VALUES (0, 'w')"))
                entered.append(0)
                holder.set()
                await asyncio.sleep(0.2)  # the others queue behind it meanwhile

        async def writer(n: int) -> None:
            async with db.writer() as s, s.begin():
                await s.execute(text("INSERT INTO t VALUES (:n, 'w')"), {"n": n})
                entered.append(n)
                await asyncio.sleep(0)

        tasks = [asyncio.create_task(first())]
        await holder.wait()
        for n in range(1, 13):  # more writers than the pool's five connections
            tasks.append(asyncio.create_task(writer(n)))
            await asyncio.sleep(0.005)  # a known arrival order
        await asyncio.gather(*tasks)
        async with db.reader() as s:
            stored = sorted((await s.execute(text("SELECT n FROM t"))).scalars())
        turn = db.write_turn
        waiting = turn.waiting() + (turn.owner is not None)
        await db.dispose()
        return entered, stored, waiting

    entered, stored, waiting = asyncio.run(scenario())
    assert stored == list(range(13))
    # SQLite's busy handler would let them in in whatever order their retries fell.
    assert entered == list(range(13))
    assert waiting == 0


def test_every_way_a_transaction_ends_hands_the_turn_on(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        db = _db(tmp_path)
        await _table(db)
        turn = db.write_turn
        seen: list[str] = []

        async def free(what: str) -> None:
            seen.append(f"{what}: {'held' if turn.owner is not None else 'free'}")

        # commit, then the same session writes again (a second turn, no self-deadlock)
        async with db.writer() as s:
            await s.execute(text("INSERT INTO t VALUES (1, 'a')"))
            await s.commit()
            await free("after commit")
            await s.execute(text("INSERT INTO t VALUES (2, 'a')"))
            await s.commit()
        # an error inside the transaction: rolled back
        with pytest.raises(RuntimeError):
            async with db.writer() as s, s.begin():
                await s.execute(text("INSERT INTO t VALUES (3, 'b')"))
                raise RuntimeError("a bug")
        await free("after an error")
        # a session closed without commit or rollback (back to the pool, reset)
        s = db.writer()
        await s.execute(text("INSERT INTO t VALUES (4, 'c')"))
        await s.close()
        await free("after close")
        # a statement that fails: the turn is free once it rolls back
        async with db.writer() as s:
            with pytest.raises(OperationalError):
                await s.execute(text("INSERT INTO nowhere VALUES (1)"))
            await s.rollback()
        await free("after a failed statement")
        # a task cancelled while it holds the turn
        holding = asyncio.Event()

        async def stuck() -> None:
            async with db.writer() as s, s.begin():
                await s.execute(text("INSERT INTO t VALUES (5, 'd')"))
                holding.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(stuck())
        await holding.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await free("after a cancel")
        async with db.writer() as s, s.begin():  # and the next writer gets in
            await s.execute(text("INSERT INTO t VALUES (6, 'e')"))
        async with db.reader() as s:
            seen.append(str(sorted((await s.execute(text("SELECT n FROM t"))).scalars())))
        await db.dispose()
        return seen

    assert asyncio.run(scenario()) == [
        "after commit: free",
        "after an error: free",
        "after close: free",
        "after a failed statement: free",
        "after a cancel: free",
        "[1, 2, 6]",
    ]


def test_a_writer_that_waits_too_long_gets_a_transient_error(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, int]:
        db = _db(tmp_path, busy_timeout_ms=300)
        await _table(db)
        holding, done = asyncio.Event(), asyncio.Event()

        async def hog() -> None:
            async with db.writer() as s, s.begin():
                await s.execute(text("INSERT INTO t VALUES (1, 'hog')"))
                holding.set()
                await done.wait()

        task = asyncio.create_task(hog())
        await holding.wait()
        try:
            async with db.writer() as s, s.begin():
                await s.execute(text("INSERT INTO t VALUES (2, 'late')"))
        except Exception as exc:  # what kind of failure is the point
            transient = is_transient(exc)
        else:
            transient = False
        done.set()
        await task
        async with db.writer() as s, s.begin():  # the turn was not left behind
            await s.execute(text("INSERT INTO t VALUES (3, 'next')"))
        async with db.reader() as s:
            count = (await s.execute(text("SELECT count(*) FROM t"))).scalar_one()
        await db.dispose()
        return transient, count

    assert asyncio.run(scenario()) == (True, 2)


def test_the_turn_itself_first_come_first_served() -> None:
    async def scenario() -> list[str]:
        turn = WriteTurn(timeout_s=60)
        order: list[str] = []
        await turn.acquire("a")
        await turn.acquire("a")  # the holder asking again is not a deadlock

        async def wait(name: str) -> None:
            await turn.acquire(name)
            order.append(name)

        tasks = [asyncio.create_task(wait(n)) for n in ("b", "c", "d")]
        await asyncio.sleep(0)
        tasks[1].cancel()  # "c" gives up: skipped, not handed a turn it cannot release
        await asyncio.sleep(0)
        turn.release("nobody")  # not the holder: nothing happens
        assert turn.owner == "a"
        turn.release("a")
        await tasks[0]
        turn.release("b")
        await tasks[2]
        turn.release("d")
        order.append(f"owner={turn.owner} waiting={turn.waiting()}")
        return order

    assert asyncio.run(scenario()) == ["b", "d", "owner=None waiting=0"]
