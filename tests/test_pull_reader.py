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
                args = {
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
            return pages
        finally:
            reader.close()
            await db.dispose()

    pages = asyncio.run(scenario())
    assert pages >= 5  # three snapshot pages, at least two incremental ones
