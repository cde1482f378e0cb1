"""Faults: kill -9 of the server in the middle of photo uploads, and the database
briefly unavailable.

After the kills a phone that resumes its uploads (HEAD for the offset, PATCH from
there) and resends its mutations ends with every photo stored exactly once, byte for
byte, no partial file or upload row left behind, every photo fact recorded once and
every ledger chain intact. While the database cannot be written, phones get 503
``retry_later`` with Retry-After and lose nothing: resent later, the work applies
exactly once. (``test_crash.py`` kills the server during pushes.)
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import PATIENCE, START_TIMEOUT, ServerProcess, book_install, http_login
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from world import PASSWORD, assert_error, build_world, login

from server.db.engine import make_database
from server.db.models import JobNote, Photo
from server.db.models.evidence import Blob, BlobUpload
from sync.ledger import verify_all

PHOTOS = 6
CHUNK = 48 * 1024
KILLS = 3


def _photos() -> list[bytes]:
    from fixtures.photos import make_jpeg

    return [make_jpeg(width=900, height=700, seed=20 + i, quality=95) for i in range(PHOTOS)]


class Uploader(threading.Thread):
    """A phone's upload queue: each photo resumed from the server's offset after any
    failure, then one ``job.photo`` mutation per photo, resent until answered."""

    def __init__(self, server: ServerProcess, headers: dict[str, str], device: str, job: str):
        super().__init__(daemon=True)
        self.server, self.headers, self.device, self.job = server, headers, device, job
        self.photos = _photos()
        self.done: set[str] = set()
        self.outcomes: dict[int, str] = {}
        self.failures = 0
        self.stop = threading.Event()
        self.photo_ids = [str(uuid.uuid4()) for _ in self.photos]

    def _offset(self, c: httpx.Client, sha: str) -> int | None:
        r = c.head(f"/sync/v1/blobs/{sha}", headers=self.headers)
        if r.status_code == 404:
            return 0
        r.raise_for_status()
        return None if r.headers.get("upload-complete") == "?1" else int(r.headers["upload-offset"])

    def _upload(self, c: httpx.Client, data: bytes) -> None:
        sha = hashlib.sha256(data).hexdigest()
        offset = self._offset(c, sha)
        while offset is not None:
            part = data[offset : offset + CHUNK]
            r = c.patch(
                f"/sync/v1/blobs/{sha}",
                content=part,
                headers={
                    **self.headers,
                    "Upload-Offset": str(offset),
                    "Upload-Length": str(len(data)),
                    "Content-Type": "image/jpeg",
                },
            )
            if r.status_code == 409:
                offset = int(r.json()["details"]["offset"])
            elif r.status_code == 204:
                offset = int(r.headers["upload-offset"])
            elif r.status_code == 201:
                offset = None
            else:
                raise httpx.HTTPStatusError(r.text, request=r.request, response=r)
        self.done.add(sha)

    def _push(self, c: httpx.Client) -> None:
        pending = [
            {
                "mid": i + 1,
                "id": str(uuid.UUID(int=i + 1)),
                "name": "job.photo",
                "job_id": self.job,
                "args": {
                    "photo_id": self.photo_ids[i],
                    "sha256": hashlib.sha256(p).hexdigest(),
                    "kind": "door",
                },
                "device_time": datetime.now(UTC).isoformat(),
            }
            for i, p in enumerate(self.photos)
            if i + 1 not in self.outcomes
        ]
        if not pending:
            return
        r = c.post(
            "/sync/v1/push",
            headers=self.headers,
            json={
                "device_id": self.device,
                "schema_version": 1,
                "device_time": datetime.now(UTC).isoformat(),
                "mutations": pending,
            },
        )
        r.raise_for_status()
        for o in r.json()["outcomes"]:
            status = o["status"] if o["status"] != "duplicate" else o["first_status"]
            self.outcomes.setdefault(o["mid"], status)

    def run(self) -> None:
        deadline = time.monotonic() + PATIENCE
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                with httpx.Client(base_url=self.server.url, timeout=5) as c:
                    for data in self.photos:
                        if hashlib.sha256(data).hexdigest() not in self.done:
                            self._upload(c, data)
                    self._push(c)
                if len(self.outcomes) == len(self.photos):
                    return
            except httpx.HTTPError:
                self.failures += 1
                time.sleep(0.05)


def _wait(done: Any, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)


def _state(url: str, shas: list[str]) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        db = make_database(url)
        try:
            async with db.reader() as s:
                blobs = dict((await s.execute(select(Blob.sha256, Blob.size))).all())
                uploads = await s.scalar(select(func.count()).select_from(BlobUpload))
                photos = (await s.execute(select(Photo.id, Photo.sha256))).all()
                reports = await verify_all(s)
            return {"blobs": blobs, "uploads": uploads, "photos": photos, "reports": reports}
        finally:
            await db.dispose()

    return asyncio.run(go())


@pytest.mark.slow
def test_kill9_during_uploads_loses_nothing_and_leaves_no_half_blob(
    database_url: str, tmp_path: Path
) -> None:
    world = build_world(database_url)
    server = ServerProcess(
        {
            "DOORSTEP_DATABASE_URL": database_url,
            "DOORSTEP_SECRET_KEY": "faults-test-secret-" + "x" * 48,
        },
        tmp_path,
    )
    server.start()
    uploader: Uploader | None = None
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            _desk, tech, device, job = _day_start(c, world)
        uploader = Uploader(server, tech, device, job)
        uploader.start()
        rng = random.Random(11)
        # Kill while there is still work: after the first, third and fifth photo, at a
        # random moment of the next one; keep the server down until the phone has felt it
        # (a loaded machine must not let the uploads slip between the kills).
        for photos_done in range(1, 2 * KILLS, 2):
            _wait(lambda n=photos_done: len(uploader.done) >= n or not uploader.is_alive())
            if not uploader.is_alive():
                break
            time.sleep(rng.uniform(0.0, 0.15))
            felt = uploader.failures
            server.kill()
            _wait(lambda felt=felt: uploader.failures > felt or not uploader.is_alive(), 10)
            server.start()
        uploader.join(PATIENCE + 30)
        assert not uploader.is_alive(), "the phone never finished uploading"
    finally:
        if uploader is not None:
            uploader.stop.set()
        server.stop()

    shas = [hashlib.sha256(p).hexdigest() for p in uploader.photos]
    assert uploader.failures > 0, "no kill landed during the uploads: the test proved nothing"
    assert uploader.done == set(shas)
    assert uploader.outcomes == {i + 1: "applied" for i in range(PHOTOS)}
    state = _state(database_url, shas)
    # every photo exactly once, byte for byte; nothing half-made anywhere
    assert set(state["blobs"]) == set(shas)
    blob_dir = tmp_path / "blobs"
    for data, sha in zip(uploader.photos, shas, strict=True):
        stored = (blob_dir / sha[:2] / sha).read_bytes()
        assert hashlib.sha256(stored).hexdigest() == sha and state["blobs"][sha] == len(data)
    assert state["uploads"] == 0
    partial = blob_dir / "partial"
    assert not partial.exists() or not any(partial.iterdir()), list(partial.iterdir())
    assert sorted(str(sha) for _, sha in state["photos"]) == sorted(shas)
    assert state["reports"] and all(r.ok for r in state["reports"]), state["reports"]


# --- the database briefly unavailable ------------------------------------------------


def _push_notes(client: Any, headers: dict[str, str], device: str, job: str, mids: range) -> Any:
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
                    "id": str(uuid.UUID(int=mid)),
                    "name": "job.note",
                    "job_id": job,
                    "args": {"note_id": str(uuid.UUID(int=1000 + mid)), "text": f"note {mid}"},
                    "device_time": datetime.now(UTC).isoformat(),
                }
                for mid in mids
            ],
        },
    )


def _day_start(client: Any, world: Any) -> tuple[dict[str, str], dict[str, str], str, str]:
    """The desk's headers, tech1's device-bound headers, the device and tech1's job."""
    job = book_install(client, world)
    plain = http_login(client, "tech1")
    device = client.post("/sync/v1/devices", json={"label": "x"}, headers=plain).json()
    tech = http_login(client, "tech1", device["device_id"])
    return http_login(client, "dispatcher"), tech, device["device_id"], job["id"]


def _retry_later(r: Any) -> None:
    body = assert_error(r, 503, "retry_later")
    assert int(r.headers["retry-after"]) >= 1 and body["details"]["retry_after"] >= 1


def _notes(url: str) -> int:
    async def go() -> int:
        db = make_database(url)
        try:
            async with db.reader() as s:
                return int(await s.scalar(select(func.count()).select_from(JobNote)) or 0)
        finally:
            await db.dispose()

    return asyncio.run(go())


def _outage(database_url: str) -> Any:
    """A context manager making the database refuse writes (SQLite: an exclusive lock
    held past the busy timeout) or every connection (PostgreSQL: connections
    disallowed and the app's open ones terminated)."""
    from contextlib import contextmanager

    @contextmanager
    def sqlite_lock() -> Any:
        path = make_url(database_url).database
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()

    @contextmanager
    def pg_down() -> Any:
        name = make_url(database_url).database
        admin = make_url(database_url).set(database="postgres")

        async def run(*statements: str) -> None:
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
            try:
                async with engine.connect() as conn:
                    for stmt in statements:
                        await conn.execute(text(stmt))
            finally:
                await engine.dispose()

        asyncio.run(
            run(
                f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()",
            )
        )
        try:
            yield
        finally:
            asyncio.run(run(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))

    return sqlite_lock() if database_url.startswith("sqlite") else pg_down()


def test_database_unavailable_answers_retry_later_and_loses_nothing(
    settings: Any, world: Any, database_url: str
) -> None:
    from litestar.testing import TestClient

    from server.app import create_app

    app = create_app(settings.replace(sqlite_busy_timeout_ms=300))
    with TestClient(app) as client:
        desk, tech, device, job = _day_start(client, world)
        assert _push_notes(client, tech, device, job, range(1, 4)).json()["last_applied_mid"] == 3
        with _outage(database_url):
            _retry_later(_push_notes(client, tech, device, job, range(4, 8)))
            r = client.post(f"/jobs/{job}/contacted", json={}, headers=desk)
            _retry_later(r)
            if not database_url.startswith("sqlite"):  # SQLite readers still read (WAL)
                app.state.status_cache.forget_user(world["tech1"])
                _retry_later(
                    client.get("/sync/v1/pull", params={"device_id": device}, headers=tech)
                )
        # back: the phone resends what got no answer, and it applies once
        r = _push_notes(client, tech, device, job, range(4, 8))
        assert r.status_code == 200, r.text
        assert [o["status"] for o in r.json()["outcomes"]] == ["applied"] * 4
        again = _push_notes(client, tech, device, job, range(4, 8)).json()
        assert {o["status"] for o in again["outcomes"]} == {"duplicate"}
    assert _notes(database_url) == 7


def test_upload_resumes_when_a_crash_took_the_partial_file(
    client: Any, world: Any, settings: Any
) -> None:
    """The window between publishing a blob's file and committing its row: the upload
    row says N bytes, the disk holds none. The phone must be led back to 0, not bounced
    between two offsets."""
    data = _photos()[0]
    sha = hashlib.sha256(data).hexdigest()
    tech = {
        "Authorization": f"Bearer {client.post('/auth/login', json={'username': 'tech1', 'password': PASSWORD}).json()['access_token']}"
    }

    def chunk(offset: int, part: bytes) -> Any:
        return client.patch(
            f"/sync/v1/blobs/{sha}",
            content=part,
            headers={
                **tech,
                "Upload-Offset": str(offset),
                "Upload-Length": str(len(data)),
                "Content-Type": "image/jpeg",
            },
        )

    assert chunk(0, data[:CHUNK]).status_code == 204
    (settings.resolved_blob_dir / "partial" / sha).unlink()
    lost = chunk(CHUNK, data[CHUNK:])
    assert_error(lost, 409, "offset_mismatch")
    assert lost.json()["details"]["offset"] == 0
    assert client.head(f"/sync/v1/blobs/{sha}", headers=tech).headers["upload-offset"] == "0"
    assert chunk(0, data).status_code == 201
    assert (
        hashlib.sha256((settings.resolved_blob_dir / sha[:2] / sha).read_bytes()).hexdigest() == sha
    )


def test_connections_postgresql_closed_are_replaced_without_a_failed_request(
    client: Any, world: Any, database_url: str
) -> None:
    """PostgreSQL restarted, failed over or timed idle connections out: the pool's
    connections are closed under it. The next requests get fresh ones (a pooled
    connection is checked at checkout, ``server/db/engine.py``) instead of a 503."""
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's connections")
    desk = login(client, "dispatcher")
    name = make_url(database_url).database
    admin = make_url(database_url).set(database="postgres")

    async def terminate() -> int:
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                # the timeout makes it wait until each backend is gone
                r = await conn.execute(
                    text(
                        "WITH app AS MATERIALIZED (SELECT pid FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()) "
                        "SELECT count(*) FROM app WHERE pg_terminate_backend(pid, 5000)"
                    ),
                    {"name": name},
                )
                return int(r.scalar_one())
        finally:
            await engine.dispose()

    for _ in range(3):
        assert client.get("/jobs", headers=desk).status_code == 200
        assert asyncio.run(terminate()) >= 1  # the app's pooled connections
        for _ in range(3):
            r = client.get("/jobs", headers=desk)
            assert r.status_code == 200, r.text
