"""Pokes: the hubs on their own, the SSE route through the app, and two real server
processes poking each other through Redis.

Every wait here has a timeout: a poke that never comes must fail a test, not hang it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import anyio
import httpx
import pytest
from litestar.testing import TestClient
from servers import START_TIMEOUT, reap, spawn, wait_ready
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from world import assert_error, build_world, login

from server.settings import Settings
from sync.pokes import (
    POKES_KEY,
    LocalPokeHub,
    PokeHub,
    RedisPokeHub,
    add_pokes,
    make_hub,
    publish_after_commit,
)

__all__: list[str] = []

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("DOORSTEP_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("DOORSTEP_TEST_REDIS_URL", "")


def run(fn: Callable[[], Awaitable[T]], timeout: float = 20) -> T:
    """Run an async test body on a fresh loop, bounded in time."""

    async def main() -> T:
        async with asyncio.timeout(timeout):
            return await fn()

    return asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- the in-process hub ---------------------------------------------------------------


def test_pokes_coalesce_while_nobody_waits() -> None:
    async def body() -> None:
        hub = LocalPokeHub()
        tech = uuid.uuid4()
        async with hub.subscribe(tech) as sub:
            for _ in range(5):
                await hub.publish([tech])
            assert await sub.wait(1) is True
            assert await sub.wait(0.05) is False  # five pokes, one wake-up

    run(body)


def test_wait_times_out_and_ignores_other_technicians() -> None:
    async def body() -> None:
        hub = LocalPokeHub()
        tech, other = uuid.uuid4(), uuid.uuid4()
        async with hub.subscribe(tech) as sub:
            await hub.publish([other])
            started = time.monotonic()
            assert await sub.wait(0.1) is False
            assert time.monotonic() - started >= 0.09

    run(body)


def test_a_poke_wakes_every_waiting_stream_of_the_technician() -> None:
    async def body() -> None:
        hub = LocalPokeHub()
        tech = uuid.uuid4()
        async with hub.subscribe(tech) as a, hub.subscribe(tech) as b:
            waiting = [asyncio.create_task(a.wait(5)), asyncio.create_task(b.wait(5))]
            await asyncio.sleep(0.01)  # both are waiting now
            await hub.publish({tech})
            assert await asyncio.gather(*waiting) == [True, True]

    run(body)


def test_leaving_a_subscription_frees_it() -> None:
    async def body() -> None:
        hub = LocalPokeHub()
        techs = [uuid.uuid4() for _ in range(50)]
        for i in range(1000):
            async with hub.subscribe(techs[i % 50]):
                assert hub.subscriber_count() == 1
        with contextlib.suppress(RuntimeError):
            async with hub.subscribe(techs[0]):
                raise RuntimeError("the stream failed")
        assert hub.subscriber_count() == 0
        assert hub._subscribers == {}  # no empty per-technician entries left behind
        await hub.publish(techs)  # nobody listens: nothing to do, nothing kept

    run(body)


def test_too_many_streams_close_the_oldest() -> None:
    async def body() -> None:
        hub = LocalPokeHub(max_per_technician=2)
        tech = uuid.uuid4()
        async with hub.subscribe(tech) as first, hub.subscribe(tech) as second:
            waiting = asyncio.create_task(first.wait(5))
            await asyncio.sleep(0.01)
            async with hub.subscribe(tech) as third:
                assert first.closed and await waiting is False  # released at once
                assert not second.closed and not third.closed
                assert hub.subscriber_count(tech) == 2
        assert hub.subscriber_count() == 0

    run(body)


def test_stop_closes_every_subscription() -> None:
    async def body() -> None:
        hub = LocalPokeHub()
        await hub.start()
        async with hub.subscribe(uuid.uuid4()) as sub:
            await hub.stop()
            assert sub.closed and await sub.wait(5) is False
        async with hub.subscribe(uuid.uuid4()) as late:
            assert late.closed  # a stopped hub hands out closed subscriptions
        assert hub.subscriber_count() == 0

    run(body)


class _FailingHub(LocalPokeHub):
    async def publish(self, technician_ids: Any) -> None:
        raise RuntimeError("transport exploded")


def test_publish_after_commit_takes_the_pokes_once() -> None:
    async def body() -> None:
        hub = LocalPokeHub()
        tech = uuid.uuid4()
        session = SimpleNamespace(info={})
        add_pokes(session, [tech, None])
        assert session.info[POKES_KEY] == {tech}
        async with hub.subscribe(tech) as sub:
            await publish_after_commit(session, hub)
            assert POKES_KEY not in session.info
            assert await sub.wait(1)
            await publish_after_commit(session, hub)  # nothing collected: nothing sent
            assert not await sub.wait(0.05)
        # no hub, or a failing one: the pokes are dropped, the request goes on
        session.info[POKES_KEY] = {tech}
        await publish_after_commit(session, None)
        assert POKES_KEY not in session.info
        session.info[POKES_KEY] = {tech}
        await publish_after_commit(session, _FailingHub())
        assert POKES_KEY not in session.info

    run(body)


def test_make_hub_picks_the_transport() -> None:
    assert type(make_hub("")) is LocalPokeHub
    hub = make_hub("redis://127.0.0.1:6379/0")
    assert isinstance(hub, RedisPokeHub) and isinstance(hub, PokeHub)

    async def close() -> None:
        await hub.stop()  # never started: closing is still clean

    run(close)


# --- the Redis hub --------------------------------------------------------------------


def test_redis_hub_without_redis_delivers_locally_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there

    async def body() -> None:
        hub = RedisPokeHub(url, reconnect_min=0.05, reconnect_max=0.2)
        hub.MAX_UNSENT = 3
        await hub.start()
        try:
            tech = uuid.uuid4()
            async with hub.subscribe(tech) as sub:
                started = time.monotonic()
                await hub.publish([tech])
                assert time.monotonic() - started < 1.5
                assert await sub.wait(1)
                assert not hub.connected
                assert hub._unsent == {tech}
                await hub.publish([uuid.uuid4() for _ in range(5)])  # too many to keep
                assert hub._unsent_all and not hub._unsent
                await asyncio.sleep(0.3)  # the listener keeps retrying, quietly
                assert not hub.connected
        finally:
            await hub.stop()

    with caplog.at_level("WARNING", logger="doorstep.pokes"):
        run(body)
    assert any("cannot publish to Redis" in r.getMessage() for r in caplog.records)
    assert any("Redis listener cannot connect" in r.getMessage() for r in caplog.records)


def test_redis_messages_from_other_nodes_reach_local_streams() -> None:
    async def body() -> None:
        hub = RedisPokeHub("redis://127.0.0.1:1/0")  # never started: no Redis needed
        tech, other = uuid.uuid4(), uuid.uuid4()
        async with hub.subscribe(tech) as sub, hub.subscribe(other) as sub_other:
            hub._on_message(f"{hub.node} {tech}".encode())
            assert not await sub.wait(0.01)  # our own message: delivered when published
            hub._on_message(f"othernode {uuid.uuid4()} {tech}".encode())
            assert await sub.wait(0.01) and not await sub_other.wait(0.01)
            hub._on_message(b"othernode not-a-uuid")
            hub._on_message(b"")
            assert not await sub.wait(0.01)
            hub._on_message(b"othernode *")
            assert await sub.wait(0.01) and await sub_other.wait(0.01)
        await hub.stop()

    run(body)


class PrivateRedis:
    """A throwaway redis-server on its own port, to stop and start at will (the shared
    one must never be restarted by a test)."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        self.proc = spawn(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        reap(self.proc)
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            reap(proc, grace=5)


async def _until(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
def test_redis_hubs_poke_each_other_and_survive_a_redis_restart(tmp_path: Path) -> None:
    server = PrivateRedis(free_port(), tmp_path)
    url = f"redis://127.0.0.1:{server.port}/0"

    async def body() -> None:
        a = RedisPokeHub(url, reconnect_min=0.05, reconnect_max=0.3)
        b = RedisPokeHub(url, reconnect_min=0.05, reconnect_max=0.3)
        await a.start()
        await b.start()
        try:
            tech = uuid.uuid4()
            assert await a.wait_connected(5) and await b.wait_connected(5)
            async with a.subscribe(tech) as on_a, b.subscribe(tech) as on_b:
                await a.publish([tech])
                assert await on_a.wait(0.1)  # the publishing node: at once
                assert await on_b.wait(3)  # the other node: through Redis
                assert not await on_a.wait(0.3)  # its own message is not a second poke

                # Redis goes away: publishing still works here and does not raise
                await asyncio.to_thread(server.stop)
                await _until(lambda: not a.connected and not b.connected, 10, "the loss")
                started = time.monotonic()
                await a.publish([tech])
                assert time.monotonic() - started < 1.5
                assert await on_a.wait(0.1)
                assert not await on_b.wait(0.2)

                # Redis is back: both listeners reconnect, and nobody is left stale
                await asyncio.to_thread(server.start)
                await _until(lambda: a.connections >= 2 and b.connections >= 2, 15, "reconnection")
                assert await on_b.wait(3)  # woken on reconnect (and by the held poke)
                while await on_b.wait(0.5):
                    pass
                await _until(lambda: not a._unsent, 5, "the held poke to be sent")
                await a.publish([tech])
                assert await on_b.wait(3)
        finally:
            await a.stop()
            await b.stop()

    server.start()
    try:
        run(body, timeout=60)
    finally:
        server.stop()


# --- the SSE route, through the app ---------------------------------------------------


class SseStream:
    """One GET driven straight through the app's ASGI interface, on the test client's
    event loop, with each body chunk handed to the test thread as it is sent.

    Why not ``client.get`` or ``client.stream``: Litestar's TestClient buffers the whole
    response before returning, and this one never ends on its own.
    """

    def __init__(self, client: TestClient[Any], path: str, headers: dict[str, str]) -> None:
        self.app = client.app
        self._portal = client.blocking_portal
        self._messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self._disconnect: anyio.Event = self._portal.call(anyio.Event)
        self._requested = False
        self._buffer = ""
        self.ended = False
        url = httpx.URL(path)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [
                (b"host", b"testserver"),
                *((k.lower().encode(), v.encode()) for k, v in headers.items()),
            ],
            "client": ("testclient", 50000),
            "server": ("testserver", 80),
        }
        self._call = self._portal.start_task_soon(self.app, scope, self._receive, self._send)
        start = self._get(5)
        assert start["type"] == "http.response.start", start
        self.status: int = start["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}

    async def _receive(self) -> dict[str, Any]:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._disconnect.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        self._messages.put(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self._disconnect.set()  # as a server does once a response is complete

    def _get(self, timeout: float) -> dict[str, Any]:
        try:
            return self._messages.get(timeout=max(timeout, 0.01))
        except queue.Empty:
            raise TimeoutError from None

    def next_event(self, timeout: float) -> tuple[str, str]:
        """The next SSE block: ``(event name, data)``, ``("comment", text)`` or
        ``("end", "")``; ``TimeoutError`` if nothing complete arrives in time."""
        deadline = time.monotonic() + timeout
        while "\r\n\r\n" not in self._buffer:
            if self.ended:
                return ("end", "")
            message = self._get(deadline - time.monotonic())
            if message["type"] == "http.response.body":
                self._buffer += message.get("body", b"").decode()
                self.ended = not message.get("more_body", False)
        block, self._buffer = self._buffer.split("\r\n\r\n", 1)
        fields: dict[str, str] = {}
        for line in block.split("\r\n"):
            name, _, value = line.partition(":")
            fields.setdefault(name or "comment", value.removeprefix(" "))
        if "event" in fields:
            return (fields["event"], fields.get("data", ""))
        assert set(fields) == {"comment"}, block  # no bare data: clients would dispatch it
        return ("comment", fields["comment"])

    def wait_for_poke(self, timeout: float) -> int:
        """Read until a poke; return how many heartbeats came before it."""
        deadline = time.monotonic() + timeout
        heartbeats = 0
        while True:
            event = self.next_event(deadline - time.monotonic())
            if event == ("poke", "{}"):
                return heartbeats
            assert event == ("comment", "heartbeat"), event
            heartbeats += 1

    def collect(self, seconds: float) -> list[tuple[str, str]]:
        """Everything that arrives within ``seconds``."""
        deadline = time.monotonic() + seconds
        events: list[tuple[str, str]] = []
        with contextlib.suppress(TimeoutError):
            while (left := deadline - time.monotonic()) > 0:
                events.append(self.next_event(left))
                if events[-1][0] == "end":
                    break
        return events

    def close(self) -> None:
        """Disconnect like a client, and require the app to finish cleanly."""
        self._portal.call(self._disconnect.set)
        self._call.result(timeout=5)


@contextlib.contextmanager
def sse(
    client: TestClient[Any], headers: dict[str, str], heartbeat: int = 1
) -> Iterator[SseStream]:
    stream = SseStream(client, f"/sync/v1/events?heartbeat={heartbeat}", headers)
    try:
        yield stream
    finally:
        stream.close()


def _window() -> dict[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=24)
    return {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=2)).isoformat(),
    }


def _assign(
    client: TestClient[Any], desk: dict[str, str], job_id: str, world: Any, tech: str
) -> None:
    r = client.post(
        f"/jobs/{job_id}/assign",
        json={"provider_id": str(world["p1"]), "technician_id": str(world[tech])},
        headers=desk,
    )
    assert r.status_code == 200, r.text


def test_events_poke_the_technician_a_job_is_given_to(client: TestClient[Any], world: Any) -> None:
    desk = login(client, "dispatcher")
    tech1, tech1b = login(client, "tech1"), login(client, "tech1b")
    with sse(client, tech1) as s1, sse(client, tech1b) as s1b:
        assert s1.status == 200, s1.collect(0.1)
        assert s1.headers["content-type"].startswith("text/event-stream")
        assert s1.headers["cache-control"] == "no-cache"
        assert s1.next_event(5) == ("poke", "{}")  # pull once on connecting
        assert s1b.next_event(5) == ("poke", "{}")

        r = client.post(
            "/jobs",
            json={"customer_id": str(world["customer1"]), "kind": "install", **_window()},
            headers=desk,
        )
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        _assign(client, desk, job_id, world, "tech1")
        s1.wait_for_poke(5)

        # tech1b is not involved: heartbeats only (at least two at heartbeat=1)
        quiet = s1b.collect(3)
        assert set(quiet) == {("comment", "heartbeat")} and len(quiet) >= 2, quiet

        # reassigned: the one who loses the job and the one who gets it both pull
        _assign(client, desk, job_id, world, "tech1b")
        s1b.wait_for_poke(5)
        s1.wait_for_poke(5)
    assert client.app.state.pokes.subscriber_count() == 0  # disconnects freed them


def test_events_heartbeat_while_nothing_happens(client: TestClient[Any], world: Any) -> None:
    with sse(client, login(client, "tech1"), heartbeat=1) as s:
        assert s.next_event(5) == ("poke", "{}")
        started = time.monotonic()
        assert s.next_event(5) == ("comment", "heartbeat")
        assert s.next_event(5) == ("comment", "heartbeat")
        assert 1.5 < time.monotonic() - started < 6


def test_events_refuse_others_and_bad_parameters(client: TestClient[Any], world: Any) -> None:
    assert_error(client.get("/sync/v1/events"), 401, "not_authenticated")
    assert_error(
        client.get("/sync/v1/events", headers=login(client, "dispatcher")), 403, "role_forbidden"
    )
    tech = login(client, "tech1")
    for bad in ("0", "61", "soon"):
        assert_error(
            client.get(f"/sync/v1/events?heartbeat={bad}", headers=tech), 400, "invalid_request"
        )
    assert client.app.state.pokes.subscriber_count() == 0


def test_events_end_when_the_access_token_expires(settings: Settings, world: Any) -> None:
    from server.app import create_app

    with TestClient(create_app(settings.replace(access_token_ttl=2))) as c:
        with sse(c, login(c, "tech1"), heartbeat=1) as s:
            assert s.next_event(5) == ("poke", "{}")
            events = s.collect(6)
            assert events and events[-1] == ("end", ""), events
            assert set(events[:-1]) <= {("comment", "heartbeat")}
        assert c.app.state.pokes.subscriber_count() == 0


def test_events_are_documented(client: TestClient[Any]) -> None:
    op = client.get("/docs/openapi.json").json()["paths"]["/sync/v1/events"]["get"]
    assert "event: poke" in op["description"] and "heartbeat" in op["description"]
    (param,) = [p for p in op["parameters"] if p["name"] == "heartbeat"]
    assert param["schema"]["minimum"] == 1 and param["schema"]["maximum"] == 60
    assert "text/event-stream" in op["responses"]["200"]["content"]


# --- two server processes, one Redis ----------------------------------------------------


async def _admin_sql(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    """Two ``doorstep serve`` processes on one fresh PostgreSQL database and one Redis:
    ``(base url A, base url B, world)``. Always stopped and dropped afterwards."""
    if not (PG_URL and REDIS_URL):
        pytest.skip(
            "cross-node pokes need DOORSTEP_TEST_POSTGRES_URL and DOORSTEP_TEST_REDIS_URL "
            "(e.g. redis://127.0.0.1:6379/0)"
        )
    import redis

    from server.db.migrate import upgrade

    name = f"doorstep_pokes_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin_sql(PG_URL, f'CREATE DATABASE "{name}"'))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        upgrade(url)
        world = build_world(url)
        probe = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        try:
            listeners_before = dict(probe.pubsub_numsub("doorstep:pokes")).get(b"doorstep:pokes", 0)
            env = {k: v for k, v in os.environ.items() if not k.startswith("DOORSTEP_")}
            env.update(
                DOORSTEP_DATABASE_URL=url,
                DOORSTEP_REDIS_URL=REDIS_URL,
                DOORSTEP_SECRET_KEY="cross-node-test-secret-" + uuid.uuid4().hex,
                DOORSTEP_DATA_DIR=str(tmp_path),
                DOORSTEP_OUTBOX_INTERVAL="0",
                DOORSTEP_PASSWORD_TIME_COST="1",
                DOORSTEP_PASSWORD_MEMORY_KIB="8",
            )
            bases = []
            for node in ("a", "b"):
                port = free_port()
                log = tmp_path / f"node-{node}.log"
                with log.open("wb") as out:
                    procs.append(
                        spawn(
                            [
                                sys.executable,
                                "-m",
                                "server.cli",
                                "serve",
                                "--host",
                                "127.0.0.1",
                                "--port",
                                str(port),
                            ],
                            cwd=REPO,
                            env=env,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                        )
                    )
                bases.append(f"http://127.0.0.1:{port}")
                wait_ready(bases[-1], procs[-1], log)
            # both nodes' listeners are on the channel before anything is published
            deadline = time.monotonic() + START_TIMEOUT
            while dict(probe.pubsub_numsub("doorstep:pokes")).get(b"doorstep:pokes", 0) < (
                listeners_before + 2
            ):
                assert time.monotonic() < deadline, "the nodes never subscribed in Redis"
                time.sleep(0.1)
        finally:
            probe.close()
        yield bases[0], bases[1], world
    finally:
        for proc in procs:
            reap(proc)
        asyncio.run(_admin_sql(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _sse_events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line:
            name, _, value = line.partition(":")
            fields.setdefault(name or "comment", value.removeprefix(" "))
            continue
        if "event" in fields:
            yield (fields["event"], fields.get("data", ""))
        elif fields:
            yield ("comment", fields.get("comment", ""))
        fields = {}


def _http_login(http: httpx.Client, username: str) -> dict[str, str]:
    from world import PASSWORD

    r = http.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.mark.slow
def test_a_change_on_one_node_pokes_a_stream_on_another(two_nodes: tuple[str, str, Any]) -> None:
    base_a, base_b, world = two_nodes
    timeout = httpx.Timeout(10, read=5)  # heartbeat=1: a read never waits 5 s unless broken
    with (
        httpx.Client(base_url=base_a, timeout=timeout) as a,
        httpx.Client(base_url=base_b, timeout=timeout) as b,
    ):
        desk = _http_login(a, "dispatcher")
        tech1 = _http_login(b, "tech1")
        with b.stream("GET", "/sync/v1/events?heartbeat=1", headers=tech1) as stream:
            assert stream.status_code == 200
            events = _sse_events(stream)
            assert next(events) == ("poke", "{}")
            # settle: two heartbeats in a row, so a poke from here on is the change's
            # (B's listener wakes its streams once when it connects to Redis)
            quiet, deadline = 0, time.monotonic() + 10
            while quiet < 2:
                quiet = quiet + 1 if next(events) == ("comment", "heartbeat") else 0
                assert time.monotonic() < deadline, "the stream never settled"

            r = a.post(
                "/jobs",
                json={"customer_id": str(world["customer1"]), "kind": "install", **_window()},
                headers=desk,
            )
            assert r.status_code == 201, r.text
            r = a.post(
                f"/jobs/{r.json()['id']}/assign",
                json={"provider_id": str(world["p1"]), "technician_id": str(world["tech1"])},
                headers=desk,
            )
            assert r.status_code == 200, r.text
            assigned_at = time.monotonic()
            for event in events:
                if event == ("poke", "{}"):
                    break
                assert event == ("comment", "heartbeat"), event
                assert time.monotonic() - assigned_at < 5, "no poke on node B within 5 s"
            assert time.monotonic() - assigned_at < 5
