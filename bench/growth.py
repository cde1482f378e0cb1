"""Cost growth: does a pull get slower as the logs grow?

Two copies of the same seeded database, side by side in one process, each served by its
own app: a *small* one whose bucket logs hold 10 thousand operations in all, and a
*big* one with ``--growth-ops`` (1 million by default, 10 million with ``--big``). In
both, the technician's own log has grown too (5 thousand operations in the small copy,
the 100 thousand a log keeps at most, ``DOORSTEP_BUCKET_LOG_KEEP``, in the big one); the
rest belongs to other technicians. The filler is written with plain ``sqlite3``
``executemany`` (a few seconds per million rows), not through the app.

Measured, interleaved round by round: the same technician's incremental pull of the last
50 operations, and an empty pull at the head, on the big copy against the small one.
The ratio should stay near 1: every query the pull makes walks an index by
``(technician_id, version)``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench.asgi import AsgiCaller
from bench.harness import Comparison, Progress, Side, compare
from bench.seed import Sizes, seed
from bench.sync_bench import SECRET

__all__ = ["GrowthOptions", "run"]

SMALL_TOTAL = 10_000
SMALL_OWN = 5_000
LOG_KEEP = 100_000
TAIL = 50
CHUNK = 50_000


@dataclass(frozen=True, slots=True)
class GrowthOptions:
    big_total: int = 1_000_000
    rounds: int = 30
    warmup: int = 3
    max_seconds: float | None = 20.0
    small_total: int = SMALL_TOTAL
    small_own: int = SMALL_OWN
    big_own: int = LOG_KEEP


def _fill(path: Path, technician: uuid.UUID, own: int, total: int) -> dict[str, Any]:
    """Append ``own`` operations to the technician's log (puts of the documents it holds,
    round-robin) and give other technicians logs of up to ``LOG_KEEP`` operations each,
    until the logs hold ``total`` operations in all."""
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=OFF")  # filler technicians are not users
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA journal_mode=WAL")
    tech = technician.hex
    conn.execute("BEGIN")
    head = conn.execute("SELECT version FROM buckets WHERE technician_id = ?", (tech,)).fetchone()[
        0
    ]
    entities = conn.execute(
        "SELECT entity_type, entity_id FROM bucket_entities WHERE technician_id = ? "
        "ORDER BY entity_type, entity_id",
        (tech,),
    ).fetchall()
    ops = [(tech, head + 1 + i, *entities[i % len(entities)], "put") for i in range(own)]
    conn.executemany(
        "INSERT INTO bucket_ops (technician_id, version, entity_type, entity_id, op) "
        "VALUES (?, ?, ?, ?, ?)",
        ops,
    )
    last: dict[tuple[str, str], int] = {}
    for _t, version, etype, eid, _op in ops:
        last[(etype, eid)] = version
    conn.executemany(
        "UPDATE bucket_entities SET version = ? "
        "WHERE technician_id = ? AND entity_type = ? AND entity_id = ?",
        [(v, tech, etype, eid) for (etype, eid), v in last.items()],
    )
    new_head = head + own
    conn.execute("UPDATE buckets SET version = ? WHERE technician_id = ?", (new_head, tech))
    conn.execute("COMMIT")

    existing = conn.execute("SELECT count(*) FROM bucket_ops").fetchone()[0]
    remaining = max(0, total - existing)
    doc = conn.execute(
        "SELECT doc FROM bucket_entities WHERE technician_id = ? LIMIT 1", (tech,)
    ).fetchone()[0]
    others = 0
    while remaining > 0:
        other = uuid.uuid4().hex
        n = min(LOG_KEEP, remaining)
        docs = [uuid.uuid4().hex for _ in range(50)]
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO buckets (technician_id, epoch, version, min_version, updated_at) "
            "VALUES (?, 1, ?, 0, '2026-01-01 00:00:00.000000')",
            (other, n),
        )
        conn.executemany(
            "INSERT INTO bucket_entities (technician_id, entity_type, entity_id, version, doc) "
            "VALUES (?, 'job_packet', ?, ?, ?)",
            [(other, d, n - 50 + k + 1, doc) for k, d in enumerate(docs)],
        )
        for start in range(0, n, CHUNK):
            conn.executemany(
                "INSERT INTO bucket_ops (technician_id, version, entity_type, entity_id, op) "
                "VALUES (?, ?, 'job_packet', ?, 'put')",
                [(other, v + 1, docs[v % 50]) for v in range(start, min(n, start + CHUNK))],
            )
        conn.execute("COMMIT")
        remaining -= n
        others += 1
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ops_total = conn.execute("SELECT count(*) FROM bucket_ops").fetchone()[0]
    conn.close()
    return {
        "ops_total": ops_total,
        "own_ops": own,
        "other_technicians": others,
        "head": new_head,
        "seed_seconds": round(time.perf_counter() - started, 1),
        "file_mb": round(path.stat().st_size / 2**20, 1),
    }


async def _measure(
    folder: Path, base: Path, ids: dict[str, uuid.UUID], password: str, options: GrowthOptions
) -> list[Comparison]:
    from server.app import create_app
    from server.settings import Settings
    from sync.cursor import Cursor, CursorCodec

    def settings(path: Path) -> Settings:
        return Settings(
            data_dir=path.parent,
            database_url=f"sqlite+aiosqlite:///{path}",
            secret_key=SECRET,
            access_token_ttl=3600,
            password_time_cost=1,
            password_memory_kib=8,
            outbox_interval=0,
            maintenance_interval=0,
            # The baselines run on this process's event loop (Pillow, sqlite3): admission
            # control would read their time as a saturated loop and shed Doorstep's side.
            admission_max_loop_lag_ms=0,
        )

    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Seed the base database through the app, then copy it.
    app = create_app(settings(base))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    sizes = Sizes(jobs=20, customers=5, past_visits=1, ops=TAIL, mutations=1)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://doorstep.bench") as client,
    ):
        world = await seed(client, app.state.db, ids, password, sizes)
    copies = {"small": folder / "small" / "doorstep.db", "big": folder / "big" / "doorstep.db"}
    info: dict[str, dict[str, Any]] = {}
    progress = Progress()
    for name, path in copies.items():
        path.parent.mkdir()
        shutil.copy(base, path)
        own, total = (
            (options.small_own, options.small_total)
            if name == "small"
            else (options.big_own, options.big_total)
        )
        progress.update(f"[bench] growth: seeding {total:,} operations ({name})")
        info[name] = await asyncio.to_thread(_fill, path, world.technician_id, own, total)
        progress.done(
            f"[bench] growth: {name} copy: {info[name]['ops_total']:,} operations "
            f"({info[name]['file_mb']} MB) seeded in {info[name]['seed_seconds']} s"
        )

    codec = CursorCodec(SECRET)
    results: list[Comparison] = []
    async with AsyncExitStack() as stack:
        callers: dict[str, AsgiCaller] = {}
        for name, path in copies.items():
            a = create_app(settings(path))
            await stack.enter_async_context(a.lifespan())
            callers[name] = AsgiCaller(a)  # no HTTP client in the timed call

        def side(name: str, back: int) -> Side:
            head = info[name]["head"]
            params: dict[str, Any] = {
                "cursor": codec.encode(Cursor(world.technician_id, 1, "i", head - back)),
                "limit": 200,
            }

            call = callers[name].prepare("GET", "/sync/v1/pull", params, world.phone)

            async def get(_: Any) -> None:
                r = await callers[name].send(call)
                page = msgspec.json.decode(r.body) if r.status == 200 else {}
                if r.status != 200 or page["reset"] or page["has_more"]:
                    raise RuntimeError(f"growth pull ({name}): {r.status} {r.text[:200]}")

            return Side(run=get)

        for back, label in ((TAIL, f"incremental pull ({TAIL} ops)"), (0, "empty pull")):
            results.append(
                await compare(
                    f"growth_{'incremental' if back else 'empty'}",
                    f"{label}: {info['big']['ops_total']:,} vs "
                    f"{info['small']['ops_total']:,} logged ops",
                    subject=side("big", back),
                    baseline=side("small", back),
                    rounds=options.rounds,
                    warmup=options.warmup,
                    max_seconds=options.max_seconds,
                    progress=progress,
                )
            )
            results[-1].extra.update(small=info["small"], big=info["big"])
    return results


def run(options: GrowthOptions) -> list[Comparison]:
    from server.db.migrate import upgrade
    from tests.world import PASSWORD, build_world

    with tempfile.TemporaryDirectory(prefix="doorstep-growth-") as tmp:
        folder = Path(tmp)
        base = folder / "base.db"
        url = f"sqlite+aiosqlite:///{base}"
        upgrade(url)
        ids = dict(build_world(url).ids)
        return asyncio.run(_measure(folder, base, ids, PASSWORD, options))


if __name__ == "__main__":
    for c in run(GrowthOptions(big_total=int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)):
        print(c.label, f"{c.ratio:.2f}x")
