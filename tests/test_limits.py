"""Limits on what one phone may send: pull, push and upload rates per device (429 with
Retry-After), request body size (413), concurrent uploads per device (429), and a
chunk trickled too slowly (408, its slot freed, nothing of it kept).

Tests set tight limits; the defaults are generous enough for the suite and benchmarks.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from estate import small_jpeg
from litestar.testing import TestClient
from servers import ServerProcess
from world import PASSWORD, assert_error, build_world

from server.app import create_app
from server.settings import Settings


@contextmanager
def _client(settings: Settings, **limits: Any) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(settings.replace(**limits))) as c:
        yield c


def _phone(client: Any, who: str = "tech1") -> tuple[dict[str, str], str]:
    login = {"username": who, "password": PASSWORD}
    token = client.post("/auth/login", json=login).json()["access_token"]
    r = client.post(
        "/sync/v1/devices", json={"label": "t"}, headers={"Authorization": f"Bearer {token}"}
    )
    device = r.json()["device_id"]
    pair = client.post("/auth/login", json={**login, "device_id": device}).json()
    return {"Authorization": f"Bearer {pair['access_token']}"}, device


def _push(client: Any, headers: dict[str, str], device: str, mid: int) -> Any:
    return client.post(
        "/sync/v1/push",
        headers=headers,
        json={
            "device_id": device,
            "schema_version": 1,
            "device_time": datetime.now(UTC).isoformat(),
            "mutations": [
                {
                    "mid": mid,
                    "id": str(uuid.uuid4()),
                    "name": "job.note",
                    "job_id": str(uuid.uuid4()),
                    "args": {"note_id": str(uuid.uuid4()), "text": "x"},
                    "device_time": datetime.now(UTC).isoformat(),
                }
            ],
        },
    )


def _chunk(client: Any, headers: dict[str, str], data: bytes) -> Any:
    return client.patch(
        f"/sync/v1/blobs/{hashlib.sha256(data).hexdigest()}",
        content=data,
        headers={
            **headers,
            "Upload-Offset": "0",
            "Upload-Length": str(len(data)),
            "Content-Type": "image/jpeg",
        },
    )


def _throttled(r: Any, code: str = "rate_limited") -> None:
    body = assert_error(r, 429, code)
    retry = int(r.headers["retry-after"])
    assert retry >= 1 and body["details"]["retry_after"] == retry


def test_pull_rate_per_device(settings: Settings, world: Any) -> None:
    with _client(settings, rate_limit_pull=3) as client:
        mine, device = _phone(client)
        for _ in range(3):
            r = client.get("/sync/v1/pull", params={"device_id": device}, headers=mine)
            assert r.status_code == 200, r.text
        _throttled(client.get("/sync/v1/pull", params={"device_id": device}, headers=mine))
        # another phone has a bucket of its own; pushes have theirs
        other, other_device = _phone(client, "tech2")
        r = client.get("/sync/v1/pull", params={"device_id": other_device}, headers=other)
        assert r.status_code == 200
        assert _push(client, mine, device, 1).status_code == 200


def test_push_rate_per_device(settings: Settings, world: Any) -> None:
    with _client(settings, rate_limit_push=2) as client:
        mine, device = _phone(client)
        assert _push(client, mine, device, 1).status_code == 200
        assert _push(client, mine, device, 2).status_code == 200
        _throttled(_push(client, mine, device, 3))
        # the refused push changed nothing: the next one the server expects is still 3
        r = client.get("/sync/v1/pull", params={"device_id": device}, headers=mine)
        assert r.json()["last_applied_mid"] == 2


def test_upload_rate_per_device(settings: Settings, world: Any) -> None:
    with _client(settings, rate_limit_upload=2) as client:
        mine, _ = _phone(client)
        for seed in (1, 2):
            assert _chunk(client, mine, small_jpeg(seed)).status_code == 201
        _throttled(_chunk(client, mine, small_jpeg(3)))


def test_request_bodies_are_bounded(settings: Settings, world: Any) -> None:
    with _client(settings, request_max_bytes=4096, blob_max_chunk_bytes=1024) as client:
        mine, device = _phone(client)
        big = {"device_id": device, "schema_version": 1, "mutations": [], "pad": "x" * 8000}
        r = client.post("/sync/v1/push", json=big, headers=mine)
        assert_error(r, 413, "request_too_large")
        r = client.post("/auth/login", json={"username": "x" * 10_000, "password": "p"})
        assert_error(r, 413, "request_too_large")
        # a blob chunk over its own limit, even without a Content-Length to warn us
        data = os.urandom(2000)

        def body() -> Iterator[bytes]:
            yield data[:1000]
            yield data[1000:]

        r = client.patch(
            f"/sync/v1/blobs/{hashlib.sha256(data).hexdigest()}",
            content=body(),
            headers={
                **mine,
                "Upload-Offset": "0",
                "Upload-Length": "2000",
                "Content-Type": "image/jpeg",
            },
        )
        assert_error(r, 413, "chunk_too_large")


@pytest.mark.skipif(not os.environ.get("DOORSTEP_TEST_REDIS_URL"), reason="needs Redis")
def test_rate_shared_by_nodes_through_redis(settings: Settings, world: Any) -> None:
    shared = settings.replace(redis_url=os.environ["DOORSTEP_TEST_REDIS_URL"], rate_limit_pull=3)
    with TestClient(create_app(shared)) as a, TestClient(create_app(shared)) as b:
        mine, device = _phone(a)
        for node in (a, b, a):
            r = node.get("/sync/v1/pull", params={"device_id": device}, headers=mine)
            assert r.status_code == 200, r.text
        _throttled(b.get("/sync/v1/pull", params={"device_id": device}, headers=mine))


# --- a real server: concurrent and trickled uploads -----------------------------------


def _trickle_start(server: ServerProcess, headers: dict[str, str], length: int) -> socket.socket:
    """Open an upload and send its headers and a first byte, then nothing more."""
    sha = "ab" * 32
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = (
        f"PATCH /sync/v1/blobs/{sha} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {headers['Authorization']}\r\nUpload-Offset: 0\r\n"
        f"Upload-Length: {length}\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    sock.sendall(head.encode() + b"\xff")
    return sock


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(4096)
        if not part:
            break
        data += part
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        part = sock.recv(4096)
        if not part:
            break
        rest += part
    return status, rest


def test_slow_upload_times_out_and_frees_its_slot(database_url: str, tmp_path: Path) -> None:
    import json

    build_world(database_url)
    server = ServerProcess(
        {
            "DOORSTEP_DATABASE_URL": database_url,
            "DOORSTEP_SECRET_KEY": "limits-test-secret-" + "x" * 48,
            "DOORSTEP_UPLOAD_CONCURRENCY": "1",
            "DOORSTEP_UPLOAD_CHUNK_TIMEOUT": "2",
        },
        tmp_path,
    )
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            mine, _ = _phone(c)
            slow = _trickle_start(server, mine, 5000)
            try:
                # the device's one slot is held by the trickling upload, once it has
                # reached the handler: until then a probe gets the slot and is refused
                # for its type (which keeps nothing)
                for _ in range(200):
                    probe = c.patch(
                        f"/sync/v1/blobs/{'cd' * 32}",
                        content=b"text",
                        headers={
                            **mine,
                            "Upload-Offset": "0",
                            "Upload-Length": "4",
                            "Content-Type": "text/plain",
                        },
                    )
                    if probe.status_code != 415:
                        break
                    time.sleep(0.02)
                _throttled(probe, "too_many_uploads")
                status, body = _read_response(slow)
            finally:
                slow.close()
            assert status == 408
            assert json.loads(body)["code"] == "upload_timeout"
            # nothing of the slow chunk was kept, and the slot is free again
            assert c.head(f"/sync/v1/blobs/{'ab' * 32}", headers=mine).status_code == 404
            assert _chunk(c, mine, small_jpeg(4)).status_code == 201
    finally:
        server.stop()
