"""``GET /metrics``: the Prometheus exposition of ``server.metrics``."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request, Response, get
from prometheus_client import generate_latest

from server.errors import NotFound, Unauthorized
from server.metrics import REGISTRY

__all__ = ["metrics"]


@get(
    "/metrics",
    opt={"public": True},
    tags=["meta"],
    security=[],
    sync_to_thread=False,
    include_in_schema=True,
)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus metrics (text exposition format) for operators: request durations per
    route, event-loop lag, SQLite writer wait, the kernel's listen-queue overflows and
    the sync engine's counters. Off (404) unless ``DOORSTEP_METRICS_TOKEN`` is set; then
    send it as ``Authorization: Bearer <token>`` (401 ``not_authenticated`` otherwise)."""
    token: str | None = request.app.state.settings.metrics_token
    if not token:
        raise NotFound("metrics")  # off: DOORSTEP_METRICS_TOKEN is not set
    sent = request.headers.get("authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        raise Unauthorized("not_authenticated", "Send the metrics token as a bearer token.")
    return Response(
        generate_latest(REGISTRY),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )
