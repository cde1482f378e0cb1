"""The S3-compatible blob store against a real S3 HTTP server (moto's, on 127.0.0.1):
chunk objects and their truncation rules, a wrong hash never published, large blobs
written in parts, HEAD and streaming GET, key prefixes sharing a bucket, an unreachable
store answering 503, two app nodes sharing one bucket and one database, and the
settings that choose the store.

The HTTP behaviour common to both stores (resume, refusals, expiry, thumbnails) runs on
both in ``test_blobs.py`` and ``test_photos.py``."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient
from s3 import Held, new_bucket, s3_settings
from world import assert_error, login

from fixtures.photos import make_jpeg
from server.app import create_app
from server.errors import Conflict, RetryLater
from server.settings import Settings
from sync.blob_s3 import S3BlobStore
from sync.blobs import READ_CHUNK

URL = "/sync/v1/blobs/"


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _store(endpoint: str, bucket: str, prefix: str = "team/a", **kw: Any) -> S3BlobStore:
    store = S3BlobStore.connect(
        bucket,
        prefix=prefix,
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="test",
        secret_access_key="test",
    )
    for name, value in kw.items():
        setattr(store, name, value)
    return store


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    return new_bucket(s3_endpoint)


@pytest.fixture
def store(s3_endpoint: str, bucket: str) -> Iterator[S3BlobStore]:
    s = _store(s3_endpoint, bucket)
    yield s
    _run(s.close())


def _keys(store: S3BlobStore) -> list[str]:
    listed = store.client.list_objects_v2(Bucket=store.bucket)
    return sorted(o["Key"] for o in listed.get("Contents", ()))


async def _read(stream: Any) -> tuple[bytes, int]:
    blocks = [b async for b in stream]
    return b"".join(blocks), len(blocks)


# --- the store -----------------------------------------------------------------------


def test_chunks_are_objects_and_resends_drop_what_lies_beyond(store: S3BlobStore) -> None:
    data = os.urandom(3000)
    sha = hashlib.sha256(data).hexdigest()

    async def work() -> None:
        assert await store.put_part(sha, 0, data[:1000]) == 1000
        assert await store.put_part(sha, 1000, data[1000:2000]) == 2000
        assert await store.put_part(sha, 2000, b"x" * 700) == 2700  # commit failed, say
        parts = f"team/a/partials/{sha}/"
        assert _keys(store) == [
            f"{parts}000000000000",
            f"{parts}000000001000",
            f"{parts}000000002000",
        ]
        # The row still says 1000: the chunk is sent again, and what lay beyond goes.
        assert await store.put_part(sha, 1000, data[1000:2000]) == 2000
        assert _keys(store) == [f"{parts}000000000000", f"{parts}000000001000"]
        # Resent from further back than a chunk boundary: the chunk across it is cut.
        assert await store.put_part(sha, 500, data[500:2000]) == 2000
        assert _keys(store) == [f"{parts}000000000000", f"{parts}000000000500"]
        assert await store.put_part(sha, 2000, data[2000:]) == 3000
        assert not await store.exists(sha)  # a partial upload is never a blob
        assert await store.finalize(sha)
        assert _keys(store) == [f"team/a/blobs/{sha[:2]}/{sha}"]  # chunks gone
        assert await store.exists(sha)
        assert await store.read(sha) == data

    _run(work())


def test_lost_chunks_are_reported_with_the_offset_still_held(store: S3BlobStore) -> None:
    data = os.urandom(3000)
    sha = hashlib.sha256(data).hexdigest()

    async def work() -> None:
        await store.put_part(sha, 0, data[:1000])
        await store.put_part(sha, 1000, data[1000:2000])
        store.client.delete_object(Bucket=store.bucket, Key=f"team/a/partials/{sha}/000000001000")
        with pytest.raises(Conflict) as lost:
            await store.put_part(sha, 2000, data[2000:])
        assert lost.value.code == "offset_mismatch" and lost.value.details == {"offset": 1000}
        assert await store.put_part(sha, 1000, data[1000:]) == 3000
        assert await store.finalize(sha) and await store.read(sha) == data

    _run(work())


def test_wrong_hash_publishes_nothing_and_drops_the_chunks(store: S3BlobStore) -> None:
    sha = hashlib.sha256(b"what the phone claimed").hexdigest()

    async def work() -> None:
        await store.put_part(sha, 0, b"other ")
        await store.put_part(sha, 6, b"bytes")
        assert await store.finalize(sha) is False
        assert _keys(store) == []
        assert not await store.exists(sha)
        assert await store.finalize(sha) is False  # nothing left to publish
        with pytest.raises(FileNotFoundError):
            await store.read(sha)

    _run(work())


def test_large_blob_is_written_in_parts_and_streamed_back(s3_endpoint: str, bucket: str) -> None:
    store = _store(s3_endpoint, bucket, multipart_threshold=5 * 1024 * 1024)
    data = os.urandom(11 * 1024 * 1024 + 123)
    sha = hashlib.sha256(data).hexdigest()

    async def work() -> None:
        step = 3 * 1024 * 1024
        for at in range(0, len(data), step):
            await store.put_part(sha, at, data[at : at + step])
        assert await store.finalize(sha)
        head = store.client.head_object(Bucket=bucket, Key=store.key(sha))
        assert head["ContentLength"] == len(data)
        assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three parts
        back, blocks = await _read(store.open(sha))
        assert back == data and blocks >= len(data) // READ_CHUNK
        await store.close()

    _run(work())


def test_derivatives_head_and_prefixes(s3_endpoint: str, bucket: str) -> None:
    one, two = _store(s3_endpoint, bucket, "one"), _store(s3_endpoint, bucket, "two/")
    data = b"\xff\xd8\xff" + os.urandom(500)
    sha = hashlib.sha256(data).hexdigest()

    async def work() -> None:
        assert await one.open_derived(sha, "thumb") is None
        await one.put_part(sha, 0, data)
        assert await one.finalize(sha)
        await one.put_derived(sha, "thumb", b"thumb bytes")
        stream = await one.open_derived(sha, "thumb")
        assert stream is not None and (await _read(stream))[0] == b"thumb bytes"
        # The other deployment in the same bucket sees none of it.
        assert not await two.exists(sha) and await two.open_derived(sha, "thumb") is None
        assert await one.exists(sha)
        with pytest.raises(ValueError):
            await one.put_derived(sha, "../../etc", b"")
        await one.discard(sha)  # no partial: no error
        await one.close()
        await two.close()

    _run(work())
    assert _keys(one) == [f"one/blobs/{sha[:2]}/{sha}", f"one/derived/{sha[:2]}/{sha}.thumb.jpg"]


def _dead_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens here now


def test_unreachable_store_is_retry_later_not_a_crash() -> None:
    store = _store(_dead_endpoint(), "any-bucket")
    sha = hashlib.sha256(b"x").hexdigest()

    async def work() -> None:
        with pytest.raises(RetryLater):
            await store.put_part(sha, 0, b"x")
        with pytest.raises(RetryLater):
            await store.exists(sha)
        await store.close()

    _run(work())


def test_unreachable_store_answers_503_and_keeps_nothing(
    settings: Settings, world: Any, s3_endpoint: str
) -> None:
    dead = s3_settings(settings, s3_endpoint).replace(s3_endpoint_url=_dead_endpoint())
    data = make_jpeg(width=64, height=48, seed=3, taken_at=None, latitude=None, longitude=None)
    sha = hashlib.sha256(data).hexdigest()
    with TestClient(create_app(dead)) as client:
        tech = login(client, "tech1")
        r = client.patch(
            URL + sha,
            content=data,
            headers={
                **tech,
                "Upload-Offset": "0",
                "Upload-Length": str(len(data)),
                "Content-Type": "image/jpeg",
            },
        )
        assert_error(r, 503, "retry_later")
        assert client.head(URL + sha, headers=tech).status_code == 404  # nothing held


def test_expiry_goes_on_when_the_store_is_away(
    settings: Settings, world: Any, s3_endpoint: str
) -> None:
    from server.db.base import utcnow
    from server.db.engine import make_database
    from sync.blobs import expire_uploads

    live = s3_settings(settings, s3_endpoint)
    data = make_jpeg(width=64, height=48, seed=4, taken_at=None, latitude=None, longitude=None)
    sha = hashlib.sha256(data).hexdigest()
    with TestClient(create_app(live)) as client:
        tech = login(client, "tech1")
        assert _chunk(client, tech, sha, data, 0, 100).status_code == 204
    dead = _store(_dead_endpoint(), live.s3_bucket)

    async def expire() -> int:
        db = make_database(live.database_url)
        try:
            return await expire_uploads(db, dead, utcnow() + timedelta(seconds=1))
        finally:
            await dead.close()
            await db.dispose()

    assert _run(expire()) == 1  # the row is gone; the chunk stays, harmless
    with Held(live) as held:
        assert held.partial(sha) == data[:100]


# --- several app nodes ---------------------------------------------------------------


def _chunk(client: Any, headers: dict[str, str], sha: str, data: bytes, at: int, end: int) -> Any:
    return client.patch(
        URL + sha,
        content=data[at:end],
        headers={
            **headers,
            "Upload-Offset": str(at),
            "Upload-Length": str(len(data)),
            "Content-Type": "image/jpeg",
        },
    )


def test_two_nodes_share_uploads_blobs_and_thumbnails(
    settings: Settings, world: Any, s3_endpoint: str
) -> None:
    shared = s3_settings(settings, s3_endpoint)
    data = make_jpeg(width=900, height=600, seed=21, latitude=30.1, longitude=120.2)
    sha = hashlib.sha256(data).hexdigest()
    third = len(data) // 3
    with (
        TestClient(create_app(shared)) as a,
        TestClient(create_app(shared)) as b,
        Held(shared) as held,
    ):
        tech = login(a, "tech1")
        assert _chunk(a, tech, sha, data, 0, third).status_code == 204
        # The next chunk goes to the other node, which finds the upload where A left it.
        r = b.head(URL + sha, headers=tech)
        assert r.headers["upload-complete"] == "?0" and r.headers["upload-offset"] == str(third)
        assert _chunk(b, tech, sha, data, third, 2 * third).status_code == 204
        # A resend from an earlier offset (a phone that missed an answer) is refused with
        # the offset the database holds, on either node, and changes nothing.
        for node in (a, b):
            r = _chunk(node, tech, sha, data, 0, third)
            assert_error(r, 409, "offset_mismatch")
            assert r.headers["upload-offset"] == str(2 * third)
        assert held.partial(sha) == data[: 2 * third]
        assert held.blob(sha) is None
        done = _chunk(a, tech, sha, data, 2 * third, len(data))
        assert done.status_code == 201, done.text
        assert held.blob(sha) == data and held.partial(sha) is None
        assert held.keys("partials/") == []
        # Any node serves the blob, its HEAD and its thumbnails.
        desk = login(b, "dispatcher")
        for node in (a, b):
            r = node.head(URL + sha, headers=tech)
            assert r.headers["upload-complete"] == "?1"
            assert r.headers["content-length"] == str(len(data))
            assert node.get(URL + sha, headers=desk).content == data
            thumb = node.get(f"{URL}{sha}/thumbnail", headers=desk)
            assert thumb.status_code == 200 and thumb.content == held.derived(sha, "thumb")
            assert thumb.content[:3] == b"\xff\xd8\xff"
        # The same photo from another phone: one HEAD says it is there, on either node.
        assert b.head(URL + sha, headers=login(b, "tech1")).headers["upload-complete"] == "?1"
    assert not shared.resolved_blob_dir.exists()  # no node wrote to a local folder


# --- settings ------------------------------------------------------------------------


def test_settings_choose_and_check_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "DOORSTEP_BLOB_STORE": "s3",
        "DOORSTEP_S3_BUCKET": "photos",
        "DOORSTEP_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "DOORSTEP_S3_REGION": "eu-central-1",
        "DOORSTEP_S3_PREFIX": "/doorstep/prod/",
    }
    s = Settings.from_env(env)
    assert (s.blob_store, s.s3_bucket, s.s3_region) == ("s3", "photos", "eu-central-1")
    assert Settings().blob_store == "filesystem"
    from server.app import make_blob_store

    store = make_blob_store(s)
    assert isinstance(store, S3BlobStore)
    assert store.bucket == "photos" and store.prefix == "doorstep/prod/"
    assert store.key("ab" * 32) == f"doorstep/prod/blobs/ab/{'ab' * 32}"
    _run(store.close())

    with pytest.raises(ValueError, match="DOORSTEP_S3_BUCKET"):
        Settings.from_env({"DOORSTEP_BLOB_STORE": "s3"})
    with pytest.raises(ValueError, match="DOORSTEP_BLOB_STORE"):
        Settings.from_env({"DOORSTEP_BLOB_STORE": "ftp"})
    with pytest.raises(ValueError, match="DOORSTEP_S3_SECRET_ACCESS_KEY"):
        Settings.from_env({**env, "DOORSTEP_S3_ACCESS_KEY_ID": "AKIA"})

    # The command line says so and stops, before serving anything.
    from server.cli import main

    monkeypatch.setenv("DOORSTEP_BLOB_STORE", "s3")
    monkeypatch.delenv("DOORSTEP_S3_BUCKET", raising=False)
    assert main(["serve"]) == 2
