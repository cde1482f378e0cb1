"""A lean HTTP/1.1 load generator, for measuring the server rather than the client.

The fleet's phones (``bench/fleet.py``) are the reference client: each poll runs the
client's sync engine, its SQLite store and httpx, which on a two-core machine costs
about as much CPU as the server's answer. When the question is how much the *server*
can answer (two nodes against one), that client takes the very cores the second node
needs. This one works like ``wrk``: every phone is one keep-alive connection that sends
its own request, prepared once (its token, its cursor), again and again, and reads the
answer by its ``Content-Length``; tens of microseconds a request.

The requests are real phones' requests (``phone_polls``): the same bytes the reference
client would send for an empty pull, so the server does the same work.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

__all__ = ["phone_polls", "run"]


def phone_polls(base_url: str, stores: Path, users: list[str]) -> list[bytes]:
    """Each phone's empty pull as raw request bytes, from its store (token and cursor)."""
    from client_sdk.store import Store

    host = urlsplit(base_url).netloc
    out = []
    for username in users:
        store = Store(stores / f"{username}.db")
        try:
            tokens, cursor = store.load_tokens(), store.cursor
        finally:
            store.close()
        if tokens is None:
            raise RuntimeError(f"{username}'s phone has no tokens")
        query = f"?{urlencode({'cursor': cursor})}" if cursor else ""
        out.append(
            (
                f"GET /sync/v1/pull{query} HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {tokens.access_token}\r\n"
                "Accept: application/json\r\n\r\n"
            ).encode()
        )
    return out


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        await reader.readexactly(length)
        return status
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return status


async def _drive(url: str, requests: list[bytes], seconds: float) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    deadline = time.perf_counter() + seconds

    async def phone(request: bytes) -> None:
        writer = None
        while time.perf_counter() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                started = time.perf_counter()
                writer.write(request)
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors[f"pull: {status}"] += 1
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                errors[f"pull: {type(exc).__name__}"] += 1
                if writer is not None:
                    writer.close()
                writer = None
                await asyncio.sleep(0.05)
        if writer is not None:
            writer.close()

    started = time.time()
    await asyncio.gather(*(phone(r) for r in requests))
    return {
        "latencies": latencies,
        "errors": dict(errors),
        "started": started,
        "finished": time.time(),
    }


def _worker(url: str, requests: list[bytes], seconds: float, out: Any) -> None:
    out.put(asyncio.run(_drive(url, requests, seconds)))


def run(url: str, requests: list[bytes], seconds: float, processes: int = 1) -> dict[str, Any]:
    """Every request on a connection of its own, repeated for ``seconds``, in
    ``processes`` spawned processes; requests per second, latency, errors."""
    from bench.fleet import _stats, reports

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    chunks = [c for c in (requests[i::processes] for i in range(processes)) if c]
    procs = [ctx.Process(target=_worker, args=(url, c, seconds, queue)) for c in chunks]
    for proc in procs:
        proc.start()
    parts: list[dict[str, Any]] = reports(queue, procs)
    every = [x for p in parts for x in p["latencies"]]
    errors: Counter[str] = Counter()
    for p in parts:
        errors.update(p["errors"])
    elapsed = max(p["finished"] for p in parts) - min(p["started"] for p in parts)
    return {
        "phones": len(requests),
        "seconds": round(elapsed, 3),
        "requests": len(every),
        "requests_per_second": round(len(every) / elapsed, 1) if elapsed > 0 else 0.0,
        "latency": _stats(every),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
    }
