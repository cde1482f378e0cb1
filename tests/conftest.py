"""Test databases: every test that asks for ``database_url`` runs on SQLite and, when
``DOORSTEP_TEST_POSTGRES_URL`` is set, on PostgreSQL too.

The schema is always made by the real Alembic migrations: once per session into an
SQLite template file (copied per test) and into a PostgreSQL database of our own
(created for the session, emptied between tests by DELETE, dropped at the end).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from server import wiring
from server.db.base import Base
from server.db.migrate import upgrade
from server.settings import Settings

wiring.install()  # job hooks, as the app installs them (tests also call services directly)

PG_ENV = "DOORSTEP_TEST_POSTGRES_URL"
PG_URL = os.environ.get(PG_ENV, "")
BACKENDS = ["sqlite", "postgresql"]
_STARTED = time.time()


def pytest_report_header(config: pytest.Config) -> list[str]:
    from browser import unavailable
    from s3 import moto_missing

    no_browser = unavailable()
    no_moto = moto_missing()
    return [
        f"doorstep: S3 blob store tests SKIPPED: {no_moto}"
        if no_moto
        else "doorstep: S3 blob store tests run against moto's S3 server on 127.0.0.1",
        f"doorstep: database tests run on SQLite and PostgreSQL ({make_url(PG_URL).host})"
        if PG_URL
        else f"doorstep: database tests run on SQLite only ({PG_ENV} not set)",
        f"doorstep: console browser tests SKIPPED: {no_browser}"
        if no_browser
        else "doorstep: console browser tests run in headless Chromium",
    ]


def pytest_sessionstart(session: pytest.Session) -> None:
    from browser import ARTIFACTS

    if not hasattr(session.config, "workerinput") and ARTIFACTS.is_dir():
        for old in ARTIFACTS.glob("*.png"):  # the controller only: workers share the folder
            old.unlink()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    _summarise_skips(terminalreporter)
    if PG_URL:
        ran = sum(
            1
            for outcome in ("passed", "failed")
            for report in terminalreporter.stats.get(outcome, [])
            if getattr(report, "when", "call") == "call" and "postgresql" in report.nodeid
        )
        terminalreporter.write_line(f"doorstep: PostgreSQL runs executed: {ran} tests.")
    else:
        terminalreporter.write_line(
            f"doorstep: PostgreSQL runs were SKIPPED ({PG_ENV} is not set); "
            "only SQLite was tested.",
            yellow=True,
            bold=True,
        )
    from browser import ARTIFACTS, unavailable

    if unavailable() is None and ARTIFACTS.is_dir():
        shots = [p for p in ARTIFACTS.glob("*.png") if p.stat().st_mtime >= _STARTED]
        if shots:
            terminalreporter.write_line(
                f"doorstep: {len(shots)} console screenshots saved in {ARTIFACTS}"
            )


LONG_FIRST = (
    "tests/test_bench_smoke.py::",
    "tests/test_fuzz.py::test_every_operation_as_every_caller",
    "tests/test_sync_properties.py::",
    "tests/test_poison_properties.py::",
    "tests/test_console_browser.py::",
    "tests/test_client_sdk.py::",
    "tests/test_balancer.py::",
)
"""The longest tests (tens of seconds each), run first, longest first, so that with
``pytest -n auto --dist worksteal`` (``make test``) no worker is left alone with one
of them at the end while the other idles; the rest keep their order."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next(
            (i for i, prefix in enumerate(LONG_FIRST) if item.nodeid.startswith(prefix)),
            len(LONG_FIRST),
        )

    items.sort(key=rank)  # stable: every worker collects the same order, as xdist needs


@pytest.fixture(autouse=True)
def _reap_children() -> Iterator[None]:
    """Whatever child process a test spawned (``servers.spawn``: every server, Redis or
    helper process) is stopped by PID and process group when the test ends, passed,
    failed or failed to start it. Processes of wider-scoped fixtures, started before
    this, are left to their own finalisers."""
    import servers

    before = set(servers._LIVE)
    yield
    for pid, proc in list(servers._LIVE.items()):
        if pid not in before:
            servers.reap(proc, grace=5)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import servers

    servers.reap_all()


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "doorstep.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


async def _admin_exec(url: str, *statements: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for stmt in statements:
                await conn.execute(text(stmt))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    if not PG_URL:
        pytest.skip(f"PostgreSQL runs skipped: {PG_ENV} is not set")
    name = f"doorstep_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _run(_admin_exec(PG_URL, f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        _run(_admin_exec(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


_EMPTY_ALL = "".join(f'DELETE FROM "{t.name}";' for t in reversed(Base.metadata.sorted_tables))
"""Children before parents. DELETE, not TRUNCATE: a test leaves a few rows, and
TRUNCATE of 53 tables makes new files for every one of them: 0.05 to 0.15 s a test on
a quiet machine, over 1 s when the disk is busy (measured 1.2 to 1.5 s here with other
suites running); DELETE of a few rows takes 0.03 to 0.05 s either way."""
_RESTART: dict[str, str] = {}
"""Per database: ``ALTER SEQUENCE … RESTART`` for its sequences (none today: UUID keys),
so a sequence added later restarts per test as TRUNCATE … RESTART IDENTITY did."""


async def _truncate(url: str) -> None:
    """Empty every table of the test database (one round trip, one transaction)."""
    import asyncpg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        if url not in _RESTART:
            rows = await conn.fetch("SELECT schemaname, sequencename FROM pg_sequences")
            _RESTART[url] = "".join(f'ALTER SEQUENCE "{s}"."{n}" RESTART;' for s, n in rows)
        # the simple query protocol runs the whole script in one implicit transaction
        await conn.execute(_EMPTY_ALL + _RESTART[url])
    finally:
        await conn.close()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "doorstep.db"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("pg_database")
    _run(_truncate(url))
    return url


@pytest.fixture
def settings(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Settings:
    """The test app's settings; the blob store is a folder unless a test parametrizes
    this fixture indirectly with ``s3.STORES`` (then also a fresh bucket on moto)."""
    from s3 import store_settings

    base = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-for-hs256-and-hs512-0123456789abcdef",
        password_time_cost=1,
        password_memory_kib=8,
        outbox_interval=0,
        maintenance_interval=0,
        ledger_checkpoint_interval=0,
        dispatch_default_jobs_per_window=0,  # tests of calendars give them (test_dispatch)
        # No shedding on the real loop's lag: a loaded test machine would get 503s;
        # tests/test_admission.py turns it on with a lag of its own making.
        admission_max_loop_lag_ms=0,
    )
    return store_settings(request, base, getattr(request, "param", "filesystem"))


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    from server.app import create_app

    return create_app(settings)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from litestar.testing import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture
def world(database_url: str):  # type: ignore[no-untyped-def]
    from world import build_world

    return build_world(database_url)


@pytest.fixture(params=BACKENDS)
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A callable giving a freshly migrated, empty database per call (for property tests
    that need a clean world per generated example)."""
    counter = iter(range(10**6))
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")

        def make_sqlite() -> str:
            path = tmp_path / f"example-{next(counter)}.db"
            shutil.copy(template, path)
            return f"sqlite+aiosqlite:///{path}"

        return make_sqlite
    url: str = request.getfixturevalue("pg_database")

    def make_pg() -> str:
        _run(_truncate(url))
        return url

    return make_pg


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server (moto) on a free port of 127.0.0.1, for the session."""
    from s3 import MotoServer, moto_missing

    missing = moto_missing()
    if missing:
        pytest.skip(f"S3 blob store tests skipped: {missing}")
    server = MotoServer()
    try:
        yield server.endpoint
    finally:
        server.stop()


def _summarise_skips(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """One line per reason a test was skipped (pyproject's ``-r`` lists failures, errors
    and xfails only), so the failures are never buried under hundreds of skip lines."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else "skipped"
        reason = str(reason).removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"doorstep: {n} skipped: {reason}")
