"""Shared pieces for tests that drive phones (``client_sdk``) against the app."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from client_sdk import Phone

BASE = "http://testserver.local"


def _window(hours: float) -> dict[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)
    return {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=2)).isoformat(),
    }


def make_job(
    client: httpx.Client, desk: dict[str, str], w: Any, tech: str = "tech1", hours: float = 24
) -> str:
    body = {
        "customer_id": str(w["customer1"]),
        "kind": "repair",
        "appliance_id": str(w["appliance1"]),
        **_window(hours),
    }
    r = client.post("/jobs", json=body, headers=desk)
    assert r.status_code == 201, r.text
    job_id: str = r.json()["id"]
    assign(client, desk, w, job_id, tech)
    return job_id


def assign(client: httpx.Client, desk: dict[str, str], w: Any, job_id: str, tech: str) -> None:
    r = client.post(
        f"/jobs/{job_id}/assign",
        json={"provider_id": str(w["p1"]), "technician_id": str(w[tech])},
        headers=desk,
    )
    assert r.status_code == 200, r.text


def server_status(client: httpx.Client, desk: dict[str, str], job_id: str | uuid.UUID) -> str:
    status: str = client.get(f"/jobs/{job_id}", headers=desk).json()["status"]
    return status


def changes_per_mutation(
    client: httpx.Client, desk: dict[str, str], job_id: str | uuid.UUID
) -> Counter[str]:
    """How many history rows each phone mutation produced on the job."""
    history = client.get(f"/jobs/{job_id}/history", headers=desk).json()
    return Counter(e["data"]["mutation_id"] for e in history if "mutation_id" in e["data"])


def server_bucket(phone: Phone) -> dict[tuple[str, uuid.UUID], tuple[int, dict[str, Any]]]:
    """The technician's bucket as a fresh snapshot (GET /sync/v1/pull without a cursor)."""
    out: dict[tuple[str, uuid.UUID], tuple[int, dict[str, Any]]] = {}
    cursor = None
    while True:
        page = phone.api.pull(cursor, 2, phone.device_id)
        out.update({(op.type, op.id): (op.version, op.doc or {}) for op in page.ops})
        cursor = page.cursor
        if not page.has_more:
            return out


def local_bucket(phone: Phone) -> dict[tuple[str, uuid.UUID], tuple[int, dict[str, Any]]]:
    return {(d.type, d.id): (d.version, d.doc) for d in phone.store.documents()}


class Forward(httpx.BaseTransport):
    """Sends each request through the app's TestClient. ``hook(request, send)`` may
    replace the answer, raise a network error before sending, or send and then raise
    (the server acted but the phone never heard)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.hook: Callable[[httpx.Request, Callable[[], httpx.Response]], httpx.Response] | None
        self.hook = None

    def _send(self, request: httpx.Request) -> httpx.Response:
        r = self.client.send(request)
        headers = [(k, v) for k, v in r.headers.items() if k.lower() != "content-encoding"]
        return httpx.Response(r.status_code, headers=headers, content=r.content)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.hook is not None:
            return self.hook(request, lambda: self._send(request))
        return self._send(request)


def is_push(request: httpx.Request) -> bool:
    return request.url.path == "/sync/v1/push"
