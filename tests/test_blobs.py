"""Resumable blob uploads: a photo over a link that keeps dropping, no resend of what the
server holds, and every refusal (offset, hash, size, type) leaving nothing visible. Each
test runs on both blob stores: the filesystem one and an S3 bucket (moto on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from phones import BASE, Forward
from s3 import STORES, Held
from sqlalchemy import select
from world import PASSWORD, assert_error, login, run_db

from client_sdk import Phone
from client_sdk.uploads import upload_blob
from server.app import make_blob_store
from server.db.base import utcnow
from server.db.engine import make_database
from server.db.models.evidence import Blob, BlobUpload
from server.settings import Settings
from sync.blobs import expire_uploads

URL = "/sync/v1/blobs/"


def _jpeg() -> bytes:
    """A real photo's shape: EXIF capture time and GPS, some 800 KB."""
    from fixtures.photos import make_jpeg

    return make_jpeg(
        width=1600,
        height=1200,
        seed=5,
        quality=95,
        taken_at=datetime(2026, 11, 20, 6, 30, tzinfo=UTC),
        latitude=30.2791,
        longitude=120.1301,
    )


pytestmark = pytest.mark.parametrize("settings", STORES, indirect=True)


@pytest.fixture
def held(settings: Settings) -> Any:
    with Held(settings) as h:
        yield h
    if settings.blob_store == "s3":
        assert not settings.resolved_blob_dir.exists()  # nothing went to a local folder


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return _jpeg()


@pytest.fixture
def tech(client: Any, world: Any) -> dict[str, str]:
    return login(client, "tech1")


def _patch(client: Any, headers: dict[str, str], sha: str, body: bytes, **over: Any) -> Any:
    h = {
        **headers,
        "Upload-Offset": str(over.get("offset", 0)),
        "Upload-Length": str(over.get("length", len(body))),
        "Content-Type": over.get("content_type", "image/jpeg"),
    }
    return client.patch(URL + sha, content=body, headers=h)


def _rows(url: str, sha: str) -> tuple[Blob | None, BlobUpload | None]:
    async def work(s: Any) -> tuple[Blob | None, BlobUpload | None]:
        blob = await s.scalar(select(Blob).where(Blob.sha256 == sha))
        up = await s.scalar(select(BlobUpload).where(BlobUpload.sha256 == sha))
        return blob, up

    return run_db(url, work)


def test_flaky_upload_resumes_then_reupload_sends_nothing(
    client: Any, world: Any, settings: Any, held: Held, tmp_path: Path, jpeg: bytes
) -> None:
    net = Forward(client)
    phone = Phone(tmp_path / "p.db", BASE, transport=net, sleep=lambda _s: None)
    phone.login("tech1", PASSWORD)
    phone.enroll()
    phone.login("tech1", PASSWORD)
    seen: list[tuple[str, str | None]] = []
    patches = 0

    def flaky(request: httpx.Request, send: Any) -> httpx.Response:
        nonlocal patches
        seen.append((request.method, request.headers.get("upload-offset")))
        if request.method != "PATCH":
            return send()
        patches += 1
        if patches % 3 == 0:
            send()  # the server stored the chunk, the phone never heard
            raise httpx.ReadError("connection reset")
        if patches % 5 == 0:
            raise httpx.ConnectError("no signal")
        return send()

    net.hook = flaky
    sha = upload_blob(phone.api, jpeg, "image/jpeg", chunk_size=32 * 1024, sleep=lambda _s: None)
    assert sha == hashlib.sha256(jpeg).hexdigest()
    heads = [m for m, _ in seen if m == "HEAD"]
    assert len(heads) >= 4  # one at the start, one after each drop
    blob, upload = _rows(settings.database_url, sha)
    assert blob is not None and upload is None
    assert blob.size == len(jpeg) and blob.content_type == "image/jpeg"
    assert str(blob.user_id) == str(world["tech1"])
    # the photo's evidence was read once it was whole
    assert (
        abs(blob.info["latitude"] - 30.2791) < 1e-5
        and abs(blob.info["longitude"] - 120.1301) < 1e-5
    )
    assert blob.info["taken_at"].startswith("2026-11-20T06:30")
    assert held.blob(sha) == jpeg
    assert held.partial(sha) is None
    assert held.derived(sha, "thumb") and held.derived(sha, "display")

    # The same bytes again: one HEAD, no PATCH.
    seen.clear()
    assert upload_blob(phone.api, jpeg, "image/jpeg") == sha
    assert seen == [("HEAD", None)]

    r = client.get(URL + sha, headers=login(client, "tech1"))
    assert r.status_code == 200 and r.content == jpeg
    assert r.headers["content-type"].startswith("image/jpeg")
    assert client.get(URL + sha, headers=login(client, "dispatcher")).content == jpeg
    assert_error(client.get(URL + sha, headers=login(client, "tech1b")), 404, "blob_not_found")
    phone.close()


def test_head_answers_each_state(client: Any, tech: dict[str, str], jpeg: bytes) -> None:
    sha = hashlib.sha256(jpeg).hexdigest()
    r = client.head(URL + sha, headers=tech)
    assert r.status_code == 404 and r.content == b""

    r = _patch(client, tech, sha, jpeg[:1000], length=len(jpeg))
    assert r.status_code == 204 and r.headers["upload-offset"] == "1000"
    r = client.head(URL + sha, headers=tech)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["upload-complete"] == "?0" and r.headers["upload-offset"] == "1000"
    assert client.get(URL + sha, headers=tech).status_code == 404  # not visible yet

    r = _patch(client, tech, sha, jpeg[1000:], offset=1000, length=len(jpeg))
    assert r.status_code == 201, r.text
    assert r.json() == {"sha256": sha, "size": len(jpeg), "content_type": "image/jpeg"}
    r = client.head(URL + sha, headers=tech)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["upload-complete"] == "?1"
    assert r.headers["content-length"] == str(len(jpeg))


def test_wrong_offset_gets_server_offset(
    client: Any, tech: dict[str, str], settings: Any, held: Held, jpeg: bytes
) -> None:
    sha = hashlib.sha256(jpeg).hexdigest()
    assert _patch(client, tech, sha, jpeg[:500], length=len(jpeg)).status_code == 204
    for wrong in (0, 400, 900):
        r = _patch(client, tech, sha, jpeg[wrong : wrong + 100], offset=wrong, length=len(jpeg))
        body = assert_error(r, 409, "offset_mismatch")
        assert body["details"]["offset"] == 500 and r.headers["upload-offset"] == "500"
    _, upload = _rows(settings.database_url, sha)
    assert upload is not None and upload.offset == 500
    assert held.partial(sha) == jpeg[:500]  # the refused chunks wrote nothing


def test_hash_mismatch_leaves_nothing(
    client: Any, tech: dict[str, str], settings: Any, held: Held, jpeg: bytes
) -> None:
    sha = hashlib.sha256(b"other bytes").hexdigest()
    assert _patch(client, tech, sha, jpeg[:4096], length=len(jpeg)).status_code == 204
    r = _patch(client, tech, sha, jpeg[4096:], offset=4096, length=len(jpeg))
    assert_error(r, 422, "hash_mismatch")
    assert _rows(settings.database_url, sha) == (None, None)
    assert held.blob(sha) is None and held.partial(sha) is None
    assert client.head(URL + sha, headers=tech).status_code == 404


def test_refusals(client: Any, world: Any, tech: dict[str, str], settings: Any) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    sha = hashlib.sha256(png).hexdigest()
    big = str(25 * 1024 * 1024 + 1)
    assert_error(_patch(client, tech, sha, png[:10], length=big), 413, "blob_too_large")
    r = _patch(client, tech, sha, png, content_type="application/pdf")
    body = assert_error(r, 415, "unsupported_type")
    assert "image/jpeg" in body["details"]["allowed"]
    assert_error(_patch(client, tech, sha, png, content_type="image/jpeg"), 422, "type_mismatch")
    assert_error(_patch(client, tech, sha, png, length=50), 422, "length_exceeded")
    assert_error(_patch(client, tech, sha.upper(), png), 400, "invalid_hash")
    assert_error(_patch(client, tech, "abc", png), 400, "invalid_hash")
    assert client.head(URL + "../etc", headers=tech).status_code == 404
    assert _rows(settings.database_url, sha) == (None, None)  # refusals leave no upload
    desk = login(client, "dispatcher")
    assert_error(_patch(client, desk, sha, png, content_type="image/png"), 403, "role_forbidden")
    r = _patch(client, tech, sha, png, content_type="image/png")
    assert r.status_code == 201 and r.json()["size"] == len(png)


def test_expiry_removes_abandoned_upload(
    client: Any, tech: dict[str, str], settings: Any, held: Held, jpeg: bytes
) -> None:
    sha = hashlib.sha256(jpeg).hexdigest()
    assert _patch(client, tech, sha, jpeg[:2048], length=len(jpeg)).status_code == 204
    r = _patch(client, tech, sha, jpeg[2048:4096], offset=2048, length=len(jpeg))
    assert r.status_code == 204
    assert held.partial(sha) == jpeg[:4096]

    async def expire(older_than: Any) -> int:
        # The maintenance round's path: a store made from the settings, as a node does.
        db, store = make_database(settings.database_url), make_blob_store(settings)
        try:
            return await expire_uploads(db, store, older_than)
        finally:
            await store.close()
            await db.dispose()

    assert asyncio.run(expire(utcnow() - timedelta(hours=1))) == 0  # still fresh
    assert held.partial(sha) == jpeg[:4096]
    assert asyncio.run(expire(utcnow() + timedelta(seconds=1))) == 1
    assert _rows(settings.database_url, sha) == (None, None)
    assert held.partial(sha) is None
    assert client.head(URL + sha, headers=tech).status_code == 404
    # The phone starts over from 0.
    r = _patch(client, tech, sha, jpeg[100:200], offset=100, length=len(jpeg))
    assert assert_error(r, 409, "offset_mismatch")["details"]["offset"] == 0
