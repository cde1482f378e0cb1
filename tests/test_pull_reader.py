"""On SQLite a pull runs in one hand-off to a thread (``SqlitePullReader``); it must give
byte for byte the answer of the SQLAlchemy ``pull`` at every step: snapshot pages,
incremental pages, superseded and removed entities, the head, a reset."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import msgspec
import pytest
from world import build_world

from server.auth.account import Account
from server.db.engine import make_database
from server.errors import Invalid
from sync.buckets import Change, write
from sync.cursor import Cursor, CursorCodec
from sync.pull import SqlitePullReader, encode_page, pull

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_sqlite_reader_answers_exactly_like_pull(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the reader is for SQLite")
    world = build_world(database_url)
    tech = world["tech1"]
    codec = CursorCodec("reader-test-key")
    articles = [uuid.uuid4() for _ in range(7)]
    device = uuid.uuid4()  # no sync state: last_applied_mid 0

    async def scenario() -> int:
        db = make_database(database_url)
        reader = SqlitePullReader(database_url.split("///", 1)[1], threads=2)
        try:

            async def both(cursor: str | None, limit: int) -> tuple[bytes, bytes]:
                seen: list[Account] = []
                args = {
                    "check": seen.append,
                    "codec": codec,
                    "technician_id": tech,
                    "device_id": device,
                    "cursor": cursor,
                    "limit": limit,
                    "now": NOW,
                }
                async with db.reader() as s:
                    expected = encode_page(await pull(s, **args))  # type: ignore[arg-type]
                got = encode_page(await reader.pull(**args))  # type: ignore[arg-type]
                assert got == expected
                # the account as both read it, in the types of SQLAlchemy's
                assert seen[0] == seen[1] == Account(True, "technician", world["p1"])
                return got, expected

            # An empty bucket, then writes: puts, a newer put of two, a remove.
            await both(None, 3)
            async with db.writer() as s:
                await write(s, {tech: [Change("put", "kb_article", a, {"n": 1}) for a in articles]})
                await s.commit()
            cursor = None
            pages = 0
            for _ in range(20):  # the snapshot, three documents a page
                body, _ = await both(cursor, 3)
                page = msgspec.json.decode(body)
                cursor, pages = page["cursor"], pages + 1
                if not page["has_more"]:
                    break
            async with db.writer() as s:
                await write(
                    s,
                    {
                        tech: [
                            Change("put", "kb_article", articles[0], {"n": 2}),
                            Change("put", "kb_article", articles[1], {"n": 2}),
                            Change("put", "kb_article", articles[0], {"n": 3}),
                            Change("remove", "kb_article", articles[2]),
                        ]
                    },
                )
                await s.commit()
            for _ in range(20):  # the incremental pages, two operations a page
                body, _ = await both(cursor, 2)
                page = msgspec.json.decode(body)
                cursor, pages = page["cursor"], pages + 1
                if not page["has_more"]:
                    break
            body, _ = await both(cursor, 2)  # at the head
            assert msgspec.json.decode(body)["ops"] == []
            head = body
            stale = codec.encode(Cursor(tech, 99, "i", 1))
            body, _ = await both(stale, 2)
            assert msgspec.json.decode(body)["reset"] is True
            with pytest.raises(Invalid):
                await reader.pull(
                    codec=codec,
                    technician_id=tech,
                    device_id=None,
                    cursor="forged.cursor",
                    limit=2,
                    now=NOW,
                )
            # The poll at the head is answered on the event loop: no thread needed.
            reader._executor.shutdown()
            at_head, _ = await both(cursor, 2)
            assert at_head == head
            with pytest.raises(RuntimeError):  # anything else still goes to the threads
                await both(None, 2)
            return pages
        finally:
            reader.close()
            await db.dispose()

    pages = asyncio.run(scenario())
    assert pages >= 5  # three snapshot pages, at least two incremental ones


def test_cursors_issued_before_are_still_accepted_and_issued_alike() -> None:
    """Phones keep their cursor across a server upgrade: the MAC is computed another way
    now (a pre-keyed HMAC), and these, issued by the earlier code, must still decode and
    be issued byte for byte the same."""
    codec = CursorCodec("vector-key")
    tech = uuid.UUID("01a203ac-137a-7f83-9d09-6bf04681bb75")
    vectors = {
        "WyIwMWEyMDNhYzEzN2E3ZjgzOWQwOTZiZjA0NjgxYmI3NSIsMywiaSIsNTUzLCIiLCIiXQ"
        ".CnG50Gm6gvR5vVyE": Cursor(tech, 3, "i", 553),
        "WyIwMWEyMDNhYzEzN2E3ZjgzOWQwOTZiZjA0NjgxYmI3NSIsMSwicyIsNDAsImpvYl9wYWNrZXQiLCIw"
        "MWEyMDNhYy0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDEiXQ.cvJMkZLmT2IrV6MV": Cursor(
            tech, 1, "s", 40, "job_packet", "01a203ac-0000-7000-8000-000000000001"
        ),
    }
    for text, cursor in vectors.items():
        assert codec.decode(text, tech) == cursor
        assert codec.encode(cursor) == text
        with pytest.raises(Invalid):  # one character of the MAC changed
            codec.decode(text[:-1] + ("A" if text[-1] != "A" else "B"), tech)


def test_remembered_cursors_are_checked_as_before() -> None:
    """The codec remembers the cursors it checked: a repeat answers the same, another
    technician is still refused, and a forged cursor is refused every time."""
    codec = CursorCodec("memory-key")
    tech, other = uuid.uuid4(), uuid.uuid4()
    text = codec.encode(Cursor(tech, 2, "i", 9))
    assert codec.encode(Cursor(tech, 2, "i", 9)) is text  # remembered
    first = codec.decode(text, tech)
    assert codec.decode(text, tech) is first and first == Cursor(tech, 2, "i", 9)
    with pytest.raises(Invalid) as foreign:
        codec.decode(text, other)
    assert foreign.value.code == "cursor_foreign"
    forged = text[:-1] + ("A" if text[-1] != "A" else "B")
    for _ in range(2):
        with pytest.raises(Invalid) as refused:
            codec.decode(forged, tech)
        assert refused.value.code == "cursor_invalid"
    assert CursorCodec("another-key").encode(Cursor(tech, 2, "i", 9)) != text
