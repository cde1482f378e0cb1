"""The sync benchmark: first sync, empty pull, a long incremental pull and a push, each
through the app's HTTP API in-process, each against a raw ``sqlite3`` + msgspec baseline
on the same database file (see ``bench/__main__.py`` for how to read the figures)."""

from __future__ import annotations

import asyncio
import cProfile
import gc
import inspect
import json
import logging
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
from sqlalchemy import event

from bench import profiling
from bench.asgi import AsgiCaller, Call
from bench.harness import Comparison, Progress, Side, compare, percentile
from bench.raw import RawSqlite
from bench.seed import BenchWorld, Sizes, mutation, push_body, seed
from server.db.engine import Database

__all__ = ["RESULTS", "Options", "main", "run", "table"]

RESULTS = Path(__file__).resolve().parent / "results"
SECRET = "bench-secret-key-that-is-long-enough-for-hs256-and-hs512-0123456789abcdef"


@dataclass(frozen=True, slots=True)
class Options:
    rounds: int = 30
    warmup: int = 3
    sizes: Sizes = field(default_factory=Sizes)
    max_seconds: float | None = 30.0
    """Per measurement: stop timing after this long (at least 5 rounds); None: never."""
    out: Path | None = RESULTS / "sync.json"
    profile: int = 0
    """Subject calls to run under cProfile per measurement after timing (0: none)."""


# --- the measurements ----------------------------------------------------------------


@contextmanager
def _counting(db: Database, state: Any = None) -> Iterator[list[int]]:
    """Count the SQL statements the app sends while inside (``BEGIN`` included): on its
    engines, and through the SQLite pull reader (``sync.pull.SqlitePullReader``) when
    the app's ``state`` has one."""
    count = [0]
    reader = getattr(state, "pull_reader", None)
    before = reader.statements if reader is not None else 0

    def listener(*_: Any) -> None:
        count[0] += 1

    engines = {id(e): e.sync_engine for e in (db.engine, db.write_engine)}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", listener)
    try:
        yield count
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", listener)
        reader = reader or getattr(state, "pull_reader", None)
        if reader is not None:
            count[0] += reader.statements - before


class _Bench:
    def __init__(
        self,
        db: Database,
        world: BenchWorld,
        raw: RawSqlite,
        options: Options,
        app: Any,
    ) -> None:
        self.db, self.world, self.raw, self.options = db, world, raw, options
        self.caller = AsgiCaller(app)
        """The timed calls go straight to the app's ASGI interface (``bench/asgi.py``)."""
        self.tech = world.technician_id.hex
        self.device = world.device_id.hex
        self.progress = Progress()
        self.subjects: dict[str, Side] = {}
        self.baseline_mid = 0
        self.state: Any = None
        """The app's state (for its SQLite pull reader's statement count)."""

    async def _get(self, params: dict[str, Any], call: Call | None = None) -> bytes:
        call = call or self.caller.prepare("GET", "/sync/v1/pull", params, self.world.phone)
        r = await self.caller.send(call)
        if r.status != 200:
            raise RuntimeError(f"pull: {r.status} {r.text}")
        return r.body

    def _pull_side(self, params: dict[str, Any]) -> Side:
        call = self.caller.prepare("GET", "/sync/v1/pull", params, self.world.phone)
        return Side(run=lambda _: self._get(params, call))

    @staticmethod
    def _same_ops(app: bytes, raw: bytes, what: str) -> int:
        """Both answers carry the same operations (the baseline does the same work)."""
        a, b = msgspec.json.decode(app), msgspec.json.decode(raw)
        if a["ops"] != b["ops"] or a["has_more"] != b["has_more"]:
            raise RuntimeError(f"{what}: the baseline's answer differs from the app's")
        return len(a["ops"])

    async def first_sync(self) -> Comparison:
        params = {"limit": 1000}
        n = self._same_ops(
            await self._get(params), self.raw.first_sync(self.tech, self.device, 1000), "first sync"
        )
        return await self._compare(
            "first_sync",
            f"first sync ({n} docs)",
            self._pull_side(params),
            Side(run=lambda _: self.raw.first_sync(self.tech, self.device, 1000)),
        )

    async def empty_pull(self) -> Comparison:
        params = {"cursor": self.world.cursor_head, "limit": 200}
        head = self.world.head
        n = self._same_ops(
            await self._get(params),
            self.raw.incremental(self.tech, self.device, head, 200),
            "empty pull",
        )
        if n:
            raise RuntimeError(f"empty pull: {n} operations after the head")
        return await self._compare(
            "empty_pull",
            "empty incremental pull",
            self._pull_side(params),
            Side(run=lambda _: self.raw.incremental(self.tech, self.device, head, 200)),
        )

    async def incremental_pull(self) -> Comparison:
        limit = self.options.sizes.ops
        params = {"cursor": self.world.cursor_before_ops, "limit": limit}
        after = self.world.head_before_ops
        n = self._same_ops(
            await self._get(params),
            self.raw.incremental(self.tech, self.device, after, limit),
            "incremental pull",
        )
        return await self._compare(
            "incremental_pull",
            f"incremental pull ({limit} ops -> {n} docs)",
            self._pull_side(params),
            Side(run=lambda _: self.raw.incremental(self.tech, self.device, after, limit)),
        )

    async def _ceiling(self, name: str, label: str, params: dict[str, Any]) -> Comparison:
        """Doorstep's pull against a bare Litestar handler sending the same bytes over
        the same in-process transport (``bench/bare.py``): the framework's floor."""
        from bench.bare import bare_app

        body = await self._get(params)
        bare = AsgiCaller(bare_app(body), host="bare.bench")

        call = bare.prepare("GET", "/sync/v1/pull", params, self.world.phone)

        async def get_bare(_: Any) -> bytes:
            r = await bare.send(call)
            if r.body != body:
                raise RuntimeError("the bare handler answered other bytes")
            return r.body

        return await self._compare(name, label, self._pull_side(params), Side(run=get_bare))

    async def ceiling_empty(self) -> Comparison:
        params = {"cursor": self.world.cursor_head, "limit": 200}
        return await self._ceiling(
            "ceiling_empty_pull", "empty pull vs bare Litestar handler", params
        )

    async def ceiling_first_sync(self) -> Comparison:
        return await self._ceiling(
            "ceiling_first_sync", "first sync vs bare Litestar handler", {"limit": 1000}
        )

    def _notes(self, device: uuid.UUID, first_mid: int) -> bytes:
        jobs = self.world.job_ids
        return push_body(
            device,
            [
                mutation(
                    first_mid + i,
                    "job.note",
                    jobs[i % len(jobs)],
                    {"note_id": str(uuid.uuid4()), "text": f"Checked the valve; note {i}."},
                )
                for i in range(self.options.sizes.mutations)
            ],
        )

    def _next_app_push(self) -> bytes:
        body = self._notes(self.world.device_id, self.world.mid + 1)
        self.world.mid += self.options.sizes.mutations
        return body

    def _next_raw_push(self) -> bytes:
        body = self._notes(self.world.baseline_device_id, self.baseline_mid + 1)
        self.baseline_mid += self.options.sizes.mutations
        return body

    async def _post_push(self, body: bytes) -> None:
        r = await self.caller.post(
            "/sync/v1/push",
            body,
            headers={**self.world.phone, "Content-Type": "application/json"},
        )
        if r.status != 200:
            raise RuntimeError(f"push: {r.status} {r.text}")

    async def push(self) -> Comparison:
        n = self.options.sizes.mutations
        result = await self._compare(
            "push",
            f"push ({n} job.note)",
            Side(run=self._post_push, prepare=self._next_app_push),
            Side(run=lambda body: self.raw.push(body, self.tech), prepare=self._next_raw_push),
        )
        # Every mutation was applied, on both sides (a push that rejected everything
        # would be fast and meaningless).
        for device, mids in (
            (self.world.device_id, self.world.mid),
            (self.world.baseline_device_id, self.baseline_mid),
        ):
            notes, last = self.raw.conn.execute(
                "SELECT (SELECT count(*) FROM job_notes WHERE device_id = ?), "
                "(SELECT last_mid FROM device_sync_state WHERE device_id = ?)",
                (device.hex, device.hex),
            ).fetchone()
            if notes != mids or last != mids:
                raise RuntimeError(f"push: {notes} notes, last mid {last}, expected {mids}")
        return result

    async def _compare(self, name: str, label: str, subject: Side, baseline: Side) -> Comparison:
        """Compare, counting the SQL statements of each of the subject's calls (the
        median is reported: the auth middleware adds a user lookup every few seconds)."""
        counts: list[int] = []
        run = subject.run
        self.subjects[name] = subject

        async def counted(arg: Any) -> None:
            with _counting(self.db, self.state) as statements:
                result = run(arg)
                if inspect.isawaitable(result):
                    await result
            counts.append(statements[0])

        result = await compare(
            name,
            label,
            subject=Side(run=counted, prepare=subject.prepare),
            baseline=baseline,
            rounds=self.options.rounds,
            warmup=self.options.warmup,
            max_seconds=self.options.max_seconds,
            progress=self.progress,
        )
        result.extra["sql_statements"] = int(percentile(counts, 50))
        return result

    # --- profiling -----------------------------------------------------------------

    async def profile(self, name: str, calls: int) -> dict[str, cProfile.Profile]:
        """Run the app's side of the measurement just taken ``calls`` more times under
        cProfile (right after it, so a pull still sees the bucket it was timed on). The
        push's chunks that run on the SQLite writer thread (``sync.push_sqlite``) are
        profiled there too, as a second profile (cProfile sees one thread)."""
        from sync import push_sqlite

        side = self.subjects[name]
        profiler, writer = cProfile.Profile(), cProfile.Profile()
        run_chunk = push_sqlite._run

        def profiled(*args: Any) -> Any:
            return writer.runcall(run_chunk, *args)

        push_sqlite._run = profiled  # type: ignore[assignment]
        try:
            for _ in range(calls):
                arg = side.prepare()
                profiler.enable()
                result = side.run(arg)
                if inspect.isawaitable(result):
                    await result
                profiler.disable()
        finally:
            push_sqlite._run = run_chunk  # type: ignore[assignment]
        profiles = {name: profiler}
        if writer.getstats():
            profiles[f"{name}.writer_thread"] = writer
        return profiles


async def _measure(
    path: Path, ids: dict[str, uuid.UUID], password: str, options: Options
) -> tuple[list[Comparison], dict[str, cProfile.Profile]]:
    from server.app import create_app
    from server.settings import Settings

    settings = Settings(
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
        # One phone makes thousands of calls a minute here; the limiter still runs
        # (its cost is part of every request), it only never says no.
        rate_limit_pull=10**9,
        rate_limit_push=10**9,
    )
    app = create_app(settings)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # ASGI typing differs
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://doorstep.bench") as client,
    ):
        started = time.perf_counter()
        db: Database = app.state.db
        world = await seed(client, db, ids, password, options.sizes)
        print(
            f"[bench] seeded {len(world.job_ids)} jobs, {world.entities} documents, "
            f"{options.sizes.ops} extra operations in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        raw = RawSqlite(path)
        try:
            bench = _Bench(db, world, raw, options, app)
            bench.state = app.state
            gc.collect()
            gc.freeze()  # the app's long-lived objects: out of every later collection
            results: list[Comparison] = []
            profiles: dict[str, cProfile.Profile] = {}
            for measure in (
                bench.first_sync,
                bench.empty_pull,
                bench.incremental_pull,
                bench.ceiling_first_sync,
                bench.ceiling_empty,
                bench.push,  # last: it appends to the bucket the pulls read
            ):
                results.append(await measure())
                if options.profile:
                    name = results[-1].name
                    profiles.update(await bench.profile(name, options.profile))
        finally:
            gc.unfreeze()
            raw.close()
    return results, profiles


def run(options: Options) -> tuple[list[Comparison], dict[str, cProfile.Profile]]:
    """Set up a world in a temporary folder, measure, tear down. Returns the comparisons
    and the profiles (none unless ``options.profile``)."""
    from server.db.migrate import upgrade
    from tests.world import PASSWORD, build_world  # the first users and places

    with tempfile.TemporaryDirectory(prefix="doorstep-bench-") as tmp:
        path = Path(tmp) / "doorstep.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        ids = dict(build_world(url).ids)
        return asyncio.run(_measure(path, ids, PASSWORD, options))


# --- the report --------------------------------------------------------------------


def table(results: list[Comparison]) -> str:
    head = (
        f"{'measurement':<38} {'doorstep ms':>11} {'baseline ms':>11} {'ratio':>7} "
        f"{'p10 ratio':>9} {'p90 ratio':>9} {'cpu ratio':>9} {'rounds':>6} {'sql/req':>7}"
    )
    lines = [head, "-" * len(head)]
    for c in results:
        p = c.paired
        lines.append(
            f"{c.label:<38} {c.subject.median:>11.3f} {c.baseline.median:>11.3f} "
            f"{c.ratio:>6.1f}x {p.p10:>8.1f}x {p.p90:>8.1f}x {c.cpu_ratio:>8.1f}x "
            f"{c.rounds:>6} {c.extra.get('sql_statements', ''):>7}"
        )
    return "\n".join(lines)


LEGEND = """\
ratio      Doorstep's median wall time / the baseline's (lower is better)
p10, p90   spread of the per-round ratios (baseline and Doorstep timed back to back)
cpu ratio  the same with CPU time (all threads): trust it over `ratio` on a busy machine
sql/req    SQL statements the app sent for one request
Absolute times are context only: compare ratios and statement counts between runs."""


def _meta(
    options: Options, started_at: datetime, seconds: float, load: tuple[float, ...]
) -> dict[str, Any]:
    return {
        "started_at": started_at.isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "rounds": options.rounds,
        "warmup": options.warmup,
        "max_seconds": options.max_seconds,
        "sizes": asdict(options.sizes),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_start": [round(x, 2) for x in load],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }


def main(options: Options) -> list[Comparison]:
    started_at, started, load = datetime.now(UTC), time.perf_counter(), os.getloadavg()
    results, profiles = run(options)
    print()
    print(table(results))
    print()
    print(LEGEND)
    out_dir = options.out.parent if options.out is not None else RESULTS
    if profiles:
        out_dir.mkdir(parents=True, exist_ok=True)
    for name, profiler in profiles.items():
        print(profiling.report(name, profiler, options.profile))
        profiler.dump_stats(out_dir / f"{name}.prof")
    if options.out is not None:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "meta": _meta(options, started_at, time.perf_counter() - started, load),
            "results": [c.as_dict() for c in results],
        }
        options.out.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nwrote {options.out}")
    return results
