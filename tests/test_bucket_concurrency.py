"""The bucket version under concurrent writers: commit order must equal version order,
so a reader pulling while writers commit never skips an operation (SYNC.md: a plain
sequence can commit out of order on PostgreSQL and make a reader skip a row forever)."""

from __future__ import annotations

import asyncio
import random
import uuid

from sqlalchemy import select
from world import build_world

from server.db.base import utcnow
from server.db.engine import make_database
from server.db.models import BucketOp
from sync.buckets import Change, write
from sync.cursor import CursorCodec
from sync.pull import begin_snapshot, pull

WRITERS = 6
WRITES_EACH = 15


def test_concurrent_writers_never_make_a_reader_skip(database_url):
    world = build_world(database_url)
    tech = world["tech1"]
    codec = CursorCodec("concurrency-test-key")

    async def scenario() -> tuple[list[int], list[int]]:
        db = make_database(database_url)
        done = asyncio.Event()
        seen: list[int] = []

        async def writer(n: int) -> None:
            rng = random.Random(n)
            for i in range(WRITES_EACH):
                async with db.writer() as s:
                    await write(
                        s, {tech: [Change("put", "kb_article", uuid.uuid4(), {"w": n, "i": i})]}
                    )
                    await asyncio.sleep(rng.uniform(0, 0.005))  # hold the transaction open a little
                    await s.commit()

        async def reader() -> None:
            cursor = None
            while True:
                finished = done.is_set()
                async with db.reader() as s:
                    await begin_snapshot(s)
                    page = await pull(
                        s,
                        codec=codec,
                        technician_id=tech,
                        device_id=None,
                        cursor=cursor,
                        limit=7,
                        now=utcnow(),
                    )
                seen.extend(op.version for op in page.ops)
                cursor = page.cursor
                if finished and not page.has_more:
                    return
                await asyncio.sleep(0)

        try:
            read = asyncio.create_task(reader())
            await asyncio.gather(*(writer(n) for n in range(WRITERS)))
            done.set()
            await read
            async with db.reader() as s:
                versions = list(
                    await s.scalars(
                        select(BucketOp.version)
                        .where(BucketOp.technician_id == tech)
                        .order_by(BucketOp.version)
                    )
                )
            return seen, versions
        finally:
            await db.dispose()

    seen, versions = asyncio.run(scenario())
    assert versions == list(range(1, WRITERS * WRITES_EACH + 1))  # gapless
    assert sorted(seen) == versions  # the reader saw every operation, none twice
