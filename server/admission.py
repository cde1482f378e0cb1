"""Admission control: when this node is saturated, a phone's sync request is answered
at once with ``503 retry_later`` and ``Retry-After`` instead of queueing for seconds.

Why: at the 8 am wave a node that accepts everything serves everyone late — each
request waits behind all the others on the one event loop (or for the one SQLite writer)
and the tail grows to tens of seconds, while phones that were told "come back in a
second or two" would have been served quickly then. The phone already backs off on
``retry_later`` (``client_sdk``, full jitter with the server's ``Retry-After`` as a
floor) and keeps its work: nothing is lost.

Saturated means one of (each a setting; 0 turns it off):

- the event loop's lag (``server.metrics.LOOP``: how late the 100 ms sampler is, read
  without waiting for it to fire) is above ``admission_max_loop_lag_ms``;
- the pushes waiting for the writer on this node (``server/sync_api/push_queue.py``)
  are ``admission_max_push_queue`` or more — for a push only;
- the admitted requests in flight on this node are ``admission_max_in_flight`` or more.

Only the phones' sync routes are shed (``/sync/v1/…``: pull, push, enrolment, packets,
blobs): they are what a wave is made of and the phone retries them by itself. Never
shed: ``/health`` (a balancer would take a busy node out of service, making the wave
worse for the others), ``/metrics`` (the operator must see the saturation), the event
stream (held open, it costs nothing per poke), and everything else: logins, the
console, the auditors' pages are people, not a fleet, and few.

Cheap by construction: a pure ASGI middleware that runs before the access-token check,
reads no body, touches no database and decodes no JSON; the answer's bytes are built
once per language.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from server.i18n.errors import localize_message
from server.metrics import ADMISSION_SHED, LOOP
from server.settings import Settings
from server.sync_api.push_queue import PushQueue

if TYPE_CHECKING:  # types only
    from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send

__all__ = ["Admission", "AdmissionMiddleware", "admitted_route"]

SHED_PREFIX = "/sync/v1/"
NEVER_SHED = frozenset({"/sync/v1/events"})
MESSAGE = "The service is busy; try again shortly."


def admitted_route(path: str) -> bool:
    """Whether admission control may shed a request for ``path``."""
    return path.startswith(SHED_PREFIX) and path not in NEVER_SHED


def _loop_lag() -> float:
    return LOOP.lag(asyncio.get_running_loop().time())


class Admission:
    """The node's admission state: thresholds, the push queue, requests in flight."""

    def __init__(
        self,
        settings: Settings,
        *,
        lag: Callable[[], float] = _loop_lag,
        rng: random.Random | None = None,
    ) -> None:
        self.max_loop_lag = settings.admission_max_loop_lag_ms / 1000.0
        self.max_push_queue = settings.admission_max_push_queue
        self.max_in_flight = settings.admission_max_in_flight
        self.retry_after = max(1, settings.admission_retry_after)
        slots = settings.push_concurrency or (2 if settings.is_sqlite else 8)
        self.pushes = PushQueue(slots)
        self.lag = lag
        """Seconds the event loop is behind; tests replace it to saturate the node."""
        self.in_flight = 0
        self.rng = rng or random.Random()
        self._bodies: dict[tuple[str, int], bytes] = {}

    def refusal(self, path: str) -> str | None:
        """Why a request for ``path`` must be shed now (``None``: admit it)."""
        if self.max_in_flight and self.in_flight >= self.max_in_flight:
            return "in_flight"
        if self.max_loop_lag and self.lag() > self.max_loop_lag:
            return "loop_lag"
        if (
            self.max_push_queue
            and path == "/sync/v1/push"
            and self.pushes.waiting >= self.max_push_queue
        ):
            return "push_queue"
        return None

    def answer(self, accept_language: str | None) -> tuple[int, bytes]:
        """A ``Retry-After`` and the error body in the caller's language. The wait is
        drawn between ``retry_after`` and twice it, so the phones shed in one burst do
        not all come back in the same second (the phone's jitter never goes below the
        server's floor)."""
        wait = self.rng.randint(self.retry_after, 2 * self.retry_after)
        key = (accept_language or "", wait)
        body = self._bodies.get(key)
        if body is None:
            body = msgspec.json.encode(
                {
                    "code": "retry_later",
                    "message": localize_message("retry_later", MESSAGE, accept_language),
                    "details": {"retry_after": wait},
                }
            )
            if len(self._bodies) < 256:  # a few languages, a few waits
                self._bodies[key] = body
        return wait, body

    async def shed(self, scope: Scope, send: Send, path: str, reason: str) -> None:
        """Answer ``503 retry_later`` for ``path`` at once (no body read, no database)."""
        route = "/".join(path.split("/")[:4])  # /sync/v1/pull, /sync/v1/blobs: no ids
        ADMISSION_SHED.labels(route, reason).inc()
        wait, body = self.answer(_header(scope, b"accept-language"))
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(wait).encode()),
            ],
        }
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def admit(
        self, scope: Scope, receive: Receive, send: Send, path: str, app: ASGIApp
    ) -> None:
        """Shed the request for ``path`` if the node is saturated, else run ``app`` on it,
        counted in flight: the middleware's way in. (The lean poll route calls ``refusal``
        and ``shed`` itself, so that it times a shed answer as the metrics middleware does.)"""
        reason = self.refusal(path)
        if reason is not None:
            await self.shed(scope, send, path, reason)
            return
        self.in_flight += 1
        try:
            await app(scope, receive, send)
        finally:
            self.in_flight -= 1


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class AdmissionMiddleware:
    """Sheds the phones' sync requests while the node is saturated (``Admission``)."""

    def __init__(self, app: ASGIApp, admission: Admission) -> None:
        self.app = app
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not admitted_route(path):
            await self.app(scope, receive, send)
            return
        await self.admission.admit(scope, receive, send, path, self.app)
