"""Several app nodes: ``doorstep serve`` processes on one PostgreSQL database and one
Redis, behind a real load balancer (nginx, configured as in the README's "Scale out":
``bench/balancer.py``; installed with apt-get when missing and the bench runs as root,
else a tiny round-robin TCP proxy in this process stands in, said so), as in the
README's "Scale out": migrations run once, the same secret on every node.

``throughput``
    The fleet's poll (``bench/fleet.py``: reference-client phones in load processes,
    pulling again and again) through the balancer, first with one node behind it, then
    with two. Figure: two nodes' requests per second over one node's.
``throughput, shared socket``
    The same poll with the nodes sharing one listening socket that the benchmark opens
    and hands to each (``doorstep serve --fd``), the kernel spreading the connections:
    one machine's nodes behind one address with no proxy process taking a share of the
    same two cores. Figure: two nodes over one node, again.
``throughput, shared socket, lean client``
    The same again, the phones' polls sent by ``bench/loadgen.py`` (like ``wrk``: each
    phone's request prepared once, resent on its own keep-alive connection) instead of
    the reference client, whose sync engine costs about as much CPU per poll as the
    server's answer and so takes the very cores a second node would use.
``pokes across nodes``
    A phone listens on ``GET /sync/v1/events`` on node A; a dispatcher changes the
    address of the phone's customer through node B. Node B publishes to Redis, node A pokes the phone.
    Figure: that every poke arrived; the delay from the dispatcher's request to the
    poke is reported (it includes the change itself).

Needs PostgreSQL and Redis: ``DOORSTEP_BENCH_POSTGRES_URL`` (an admin URL, default
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``; a fresh database is created
next to it and dropped after) and ``DOORSTEP_BENCH_REDIS_URL`` (default
``redis://127.0.0.1:6379/0``). Skipped with a message when either is unreachable.

The proxy balances connections, not requests (each phone keeps its connection, as
behind most load balancers); with hundreds of phones the nodes get even shares.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import tempfile
import threading
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import loadgen, server_metrics
from bench.balancer import Nginx, ensure_nginx
from bench.fleet import Fleet, FleetOptions, Served, demo_world, server_env, start_doorstep
from bench.harness import Progress, percentile

__all__ = ["NodesOptions", "RoundRobinProxy", "run"]

ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True, slots=True)
class NodesOptions:
    phones: int = 200
    seconds: float = 10.0
    workers: int = 4
    pokes: int = 10


class RoundRobinProxy:
    """Accepts TCP connections on 127.0.0.1 and pipes each to the next upstream port in
    turn. Runs its own event loop in a thread; ``upstreams`` may be changed between
    phases (new connections follow it)."""

    def __init__(self, upstreams: list[int]) -> None:
        self.upstreams = upstreams
        self._turn = itertools.count()
        self.port = 0
        self.connections: dict[int, int] = {}
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=4096)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ports = self.upstreams
        port = ports[next(self._turn) % len(ports)]
        self.connections[port] = self.connections.get(port, 0) + 1
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                with suppress(Exception):
                    dst.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._writers.discard(writer)
            self._writers.discard(up_writer)

    def close(self) -> None:
        """Close every connection, stop the loop and close it (no socket left open).
        Closing twice does nothing."""
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._server.wait_closed()
            await asyncio.sleep(0)  # let the closed transports release their sockets

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


async def _create_database(admin_url: str) -> str | None:
    """A fresh database next to ``admin_url``; its SQLAlchemy URL, or None if PostgreSQL
    cannot be reached."""
    import asyncpg

    dsn = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"doorstep_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin_url.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def _drop_database(admin_url: str, url: str) -> None:
    import asyncpg

    dsn = admin_url.replace("postgresql+asyncpg://", "postgresql://")
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _served(url: str) -> int:
    """Requests a node has answered so far, by its own metrics (0 if unreadable)."""
    seen = server_metrics.scrape(url)
    return int(sum(seen.get("doorstep_request_duration_seconds_count", {}).values()))


def _redis_ok(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=2)
        ok = bool(client.ping())
        client.close()
        return ok
    except redis.RedisError:
        return False


def _pokes(node_a: Served, node_b: Served, folder: Path, username: str, n: int) -> dict[str, Any]:
    """``n`` times: change the address of the phone's customer through node B (its job
    packet changes), wait for the poke on node A's event stream."""
    from client_sdk.store import Store

    store = Store(folder / "phones" / f"{username}.db")
    try:
        tokens = store.load_tokens()
        packets = [d for d in store.documents("job_packet")]
    finally:
        store.close()
    if tokens is None or not packets:
        return {"error": "the phone has no tokens or no jobs"}
    customer = packets[0].doc["customer"]["id"]
    desk = httpx.post(
        f"{node_b.url}/auth/login",
        json={"username": "dispatcher", "password": "doorstep-demo"},
        timeout=30,
    ).json()["access_token"]
    delays: list[float] = []
    received = 0
    got = threading.Event()
    arrived = [0.0]
    opened = threading.Event()
    stop = threading.Event()

    def listen() -> None:
        headers = {"Authorization": f"Bearer {tokens.access_token}"}
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(60, read=60)) as c,
                c.stream("GET", f"{node_a.url}/sync/v1/events", headers=headers) as r,
            ):
                opened.set()
                for line in r.iter_lines():
                    if stop.is_set():
                        return
                    if line.startswith("event:") and "poke" in line:
                        arrived[0] = time.perf_counter()
                        got.set()
        except httpx.HTTPError:  # the node stopped under the open stream
            opened.set()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    opened.wait(10)
    time.sleep(0.5)  # the stream subscribes before it sends anything
    got.clear()
    for i in range(n):
        got.clear()
        sent = time.perf_counter()
        r = httpx.patch(
            f"{node_b.url}/customers/{customer}",
            json={"address": f"Room {100 + i}, 1 Wensan Road (gate code changed)"},
            headers={"Authorization": f"Bearer {desk}"},
            timeout=30,
        )
        r.raise_for_status()
        if got.wait(10):
            delays.append(arrived[0] - sent)
            received += 1
        time.sleep(0.1)
    stop.set()
    return {
        "sent": n,
        "received": received,
        "p50_ms": round(percentile(delays, 50) * 1000, 2) if delays else None,
        "max_ms": round(max(delays) * 1000, 2) if delays else None,
    }


def run(options: NodesOptions, progress: Progress | None = None) -> dict[str, Any] | None:
    """The figures, or None (said why) without PostgreSQL or Redis."""
    progress = progress or Progress()
    admin = os.environ.get("DOORSTEP_BENCH_POSTGRES_URL", ADMIN_URL)
    redis_url = os.environ.get("DOORSTEP_BENCH_REDIS_URL", REDIS_URL)
    if not _redis_ok(redis_url):
        progress.done(f"[bench] nodes: skipped: no Redis at {redis_url}")
        return None
    url = asyncio.run(_create_database(admin))
    if url is None:
        progress.done("[bench] nodes: skipped: no PostgreSQL (DOORSTEP_BENCH_POSTGRES_URL)")
        return None
    result: dict[str, Any] = {"cores": os.cpu_count()}
    try:
        with tempfile.TemporaryDirectory(prefix="doorstep-nodes-") as tmp:
            folder = Path(tmp)
            env = server_env(
                DOORSTEP_DATA_DIR=str(folder / "data"),
                DOORSTEP_DATABASE_URL=url,
                DOORSTEP_REDIS_URL=redis_url,
            )
            progress.update("[bench] nodes: migrating once, loading the demo brand")
            users = demo_world(options.phones, env)[: options.phones]
            nodes = [start_doorstep(env, folder), start_doorstep(env, folder)]
            proxy: Nginx | RoundRobinProxy | None = None
            try:
                binary, why = ensure_nginx()
                if binary is not None:
                    proxy = Nginx(binary, [nodes[0].port])
                    result["balancer"] = "nginx"
                else:
                    progress.done(f"[bench] nodes: {why}: the Python proxy stands in for it")
                    proxy = RoundRobinProxy([nodes[0].port])
                    result["balancer"] = "python proxy"
                fleet = Fleet(
                    folder,
                    FleetOptions(phones=options.phones, workers=options.workers),
                    progress,
                )
                progress.update(f"[bench] nodes: {len(users)} phones log in and sync")
                fleet.phase("setup", proxy.url, users)
                fleet.phase("first_sync", proxy.url, users)
                for count in (1, 2):
                    proxy.upstreams = [n.port for n in nodes[:count]]
                    before = [_served(n.url) for n in nodes]
                    progress.update(f"[bench] nodes: {len(users)} phones polling {count} node(s)")
                    phase = fleet.phase("poll", proxy.url, users, seconds=options.seconds)
                    result[f"nodes_{count}"] = phase
                    # each node's own count of what it answered (its /metrics)
                    phase["node_requests"] = {
                        str(n.port): _served(n.url) - b for n, b in zip(nodes, before, strict=True)
                    }
                    progress.done(
                        f"[bench] nodes: {count} node(s): {phase['requests_per_second']:.0f} "
                        f"req/s, p99 {phase['latency'].get('p99_ms', 0):.0f} ms, "
                        f"{phase['errors']} errors"
                    )
                if isinstance(proxy, RoundRobinProxy):
                    result["connections"] = dict(proxy.connections)
                result["speedup"] = round(
                    result["nodes_2"]["requests_per_second"]
                    / max(result["nodes_1"]["requests_per_second"], 1e-9),
                    3,
                )
                progress.update("[bench] nodes: pokes from node B to a phone on node A")
                result["pokes"] = _pokes(nodes[0], nodes[1], folder, users[0], options.pokes)
                progress.done(
                    f"[bench] nodes: pokes across nodes: {result['pokes'].get('received')}/"
                    f"{options.pokes}, p50 {result['pokes'].get('p50_ms')} ms"
                )
                proxy.close()
                for n in nodes:
                    n.stop()
                _shared_socket(env, folder, fleet, users, options, progress, result)
            finally:
                if proxy is not None:
                    proxy.close()
                for n in nodes:
                    n.stop()
    finally:
        asyncio.run(_drop_database(admin, url))
    return result


def _shared_socket(
    env: dict[str, str],
    folder: Path,
    fleet: Fleet,
    users: list[Any],
    options: NodesOptions,
    progress: Progress,
    result: dict[str, Any],
) -> None:
    """The poll against one and two nodes sharing one listening socket."""
    with socket.create_server(("127.0.0.1", 0), backlog=4096) as listener:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        polls = loadgen.phone_polls(url, fleet.stores, users)
        for count in (1, 2):
            nodes = [start_doorstep(env, folder, listener=listener) for _ in range(count)]
            try:
                progress.update(f"[bench] nodes: {len(users)} phones polling {count} on a socket")
                phase = fleet.phase("poll", url, users, seconds=options.seconds)
                progress.update(f"[bench] nodes: lean load client, {count} node(s) on a socket")
                cpu = sum(n.cpu_seconds() for n in nodes)
                lean = loadgen.run(url, polls, seconds=options.seconds)
                cpu = sum(n.cpu_seconds() for n in nodes) - cpu
                lean["node_cpu_ms_per_request"] = round(cpu * 1000 / max(lean["requests"], 1), 3)
            finally:
                for n in nodes:
                    n.stop()
            result[f"shared_{count}"] = phase
            result[f"lean_{count}"] = lean
            for name, p in (("reference", phase), ("lean", lean)):
                progress.done(
                    f"[bench] nodes: {count} node(s) on one socket, {name} client: "
                    f"{p['requests_per_second']:.0f} req/s, "
                    f"p99 {p['latency'].get('p99_ms', 0):.0f} ms, {p['errors']} errors"
                )
    result["lean_speedup"] = round(
        result["lean_2"]["requests_per_second"]
        / max(result["lean_1"]["requests_per_second"], 1e-9),
        3,
    )
    result["shared_speedup"] = round(
        result["shared_2"]["requests_per_second"]
        / max(result["shared_1"]["requests_per_second"], 1e-9),
        3,
    )


if __name__ == "__main__":
    import json

    print(json.dumps(run(NodesOptions(phones=20, seconds=3, pokes=3)), indent=1, default=str))
