"""What an operator watches to find a latency tail: Prometheus metrics at ``GET /metrics``.

- ``doorstep_request_duration_seconds{method,route,status}``: a histogram per route
  template (``/sync/v1/pull``, not each id), from the first byte the app sees to the last
  it sends (the event stream is left out: it lasts as long as the phone listens);
- ``doorstep_event_loop_lag_seconds``: how late a timer that should fire every 100 ms
  fires — a saturated event loop shows here before anywhere else;
- ``doorstep_sqlite_writer_wait_seconds``: time a SQLite writer waited in
  ``BEGIN IMMEDIATE`` for the one write lock (``server/db/engine.py`` records it);
- ``doorstep_tcp_listen_overflows_total`` / ``doorstep_tcp_listen_drops_total``: the
  kernel's counters of connections refused because a listen backlog was full
  (``/proc/net/netstat``, ``TcpExt``; machine-wide, not only this process);
- ``doorstep_sync_total{name}``: the sync engine's counters (``sync/metrics.py``:
  rejected mutations by code, ``internal_rejected`` above all);
- ``doorstep_admission_shed_total{route,reason}``: requests answered a cheap 503
  ``retry_later`` by admission control (``server/admission.py``) instead of queueing;
- ``doorstep_push_queue_wait_seconds``: time a push waited for its turn (one push per
  device, then the node's FIFO writer queue: ``server/sync_api/push_queue.py``).

``prometheus_client`` keeps the metrics and writes the exposition format (a well-kept
library every scraper reads); the middleware is a few lines of ASGI of our own, so a
request pays one histogram observation and nothing else.

No web framework here (``server/db/engine.py`` records into it); the endpoint is
``server/metrics/routes.py``: off unless ``DOORSTEP_METRICS_TOKEN`` is set, then a
scraper sends it as ``Authorization: Bearer <token>``. Metrics name routes and counts,
never people.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from sync import metrics as sync_metrics

if TYPE_CHECKING:  # types only: nothing of the web framework is imported here
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ADMISSION_SHED",
    "LOOP",
    "PUSH_QUEUE_WAIT",
    "REGISTRY",
    "SQLITE_WRITER_WAIT",
    "LoopWatch",
    "MetricsMiddleware",
    "record",
    "watch_event_loop",
]

REGISTRY = CollectorRegistry(auto_describe=True)

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUEST_SECONDS = Histogram(
    "doorstep_request_duration_seconds",
    "Time from a request's arrival in the app to the last byte of its answer.",
    ("method", "route", "status"),
    buckets=_BUCKETS,
    registry=REGISTRY,
)
LOOP_LAG = Histogram(
    "doorstep_event_loop_lag_seconds",
    "How late a 100 ms timer fired on the event loop.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
SQLITE_WRITER_WAIT = Histogram(
    "doorstep_sqlite_writer_wait_seconds",
    "Time a SQLite write transaction waited for the write lock (BEGIN IMMEDIATE).",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0),
    registry=REGISTRY,
)

ADMISSION_SHED = Counter(
    "doorstep_admission_shed",
    "Requests answered 503 retry_later by admission control, by route and reason.",
    ("route", "reason"),
    registry=REGISTRY,
)
PUSH_QUEUE_WAIT = Histogram(
    "doorstep_push_queue_wait_seconds",
    "Time a push waited for its turn (its device's previous push, then the writer queue).",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0),
    registry=REGISTRY,
)

_UNTIMED = frozenset({"/sync/v1/events", "/metrics"})


def _netstat(path: Path = Path("/proc/net/netstat")) -> dict[str, int]:
    """The kernel's ``TcpExt`` counters, or nothing where there is no ``/proc``."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:") and values.startswith("TcpExt:"):
            return dict(zip(names.split()[1:], map(int, values.split()[1:]), strict=False))
    return {}


class _KernelAndSync(Collector):
    def collect(self) -> Iterator[Metric]:
        tcp = _netstat()
        for key, name in (("ListenOverflows", "overflows"), ("ListenDrops", "drops")):
            if key in tcp:
                yield CounterMetricFamily(
                    f"doorstep_tcp_listen_{name}",
                    f"The kernel's TcpExt {key} (machine-wide).",
                    value=tcp[key],
                )
        family = CounterMetricFamily(
            "doorstep_sync", "What the sync engine did (sync/metrics.py).", labels=("name",)
        )
        for name, value in sorted(sync_metrics.snapshot().items()):
            family.add_metric((name,), value)
        yield family


REGISTRY.register(_KernelAndSync())


@functools.lru_cache(maxsize=4096)
def _timer(method: str, route: str, status: int) -> Any:
    """The histogram of one method, route template and status: ``labels`` takes a lock
    and builds its key on every call; the few combinations an app has are remembered."""
    return REQUEST_SECONDS.labels(method, route, str(status))


class MetricsMiddleware:
    """Times each request by its route template (set by Litestar's router)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [0]

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        except Exception as exc:
            # Raised past this middleware (the auth middleware's refusals): the app's
            # outer error handler answers with the error's own status.
            if not status[0]:
                code = getattr(exc, "status", None) or getattr(exc, "status_code", None)
                status[0] = code if isinstance(code, int) else 500
            raise
        finally:
            record(scope, status[0], start)


def record(scope: Scope, status: int, start: float) -> None:
    """One request's duration since ``start`` (``time.perf_counter``), by its route
    template and ``status`` (0: none was sent, counted as 500). For the middleware and
    for the lean poll route (``server.sync_api.lean``)."""
    route = scope.get("path_template") or "unmatched"
    if route not in _UNTIMED:
        _timer(scope.get("method", ""), route, status or 500).observe(time.perf_counter() - start)


class LoopWatch:
    """The loop sampler's latest reading, for admission control to read in a few
    nanoseconds (``server/admission.py``)."""

    __slots__ = ("due", "last")

    def __init__(self) -> None:
        self.last = 0.0
        """The lag of the last tick, seconds."""
        self.due = math.inf
        """Loop time the next tick is due (infinity: no sampler running)."""

    def lag(self, now: float) -> float:
        """The lag at loop time ``now``: the last tick's, or more if the next tick is
        overdue — a saturated loop shows at once, not only when the late tick fires."""
        return max(self.last, now - self.due)


LOOP = LoopWatch()


async def watch_event_loop(interval: float = 0.1, watch: LoopWatch = LOOP) -> None:
    """Forever: sleep ``interval`` and record how much later than asked it woke."""
    loop = asyncio.get_running_loop()
    try:
        while True:
            asked = loop.time()
            watch.due = asked + interval
            await asyncio.sleep(interval)
            watch.last = max(0.0, loop.time() - asked - interval)
            LOOP_LAG.observe(watch.last)
    finally:
        watch.due, watch.last = math.inf, 0.0
