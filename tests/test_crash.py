"""kill -9 of a real server process in the middle of pushes: after a restart the phone
resends, and nothing acknowledged is lost, nothing is applied twice, every ledger chain
verifies."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from servers import PATIENCE, ServerProcess, book_install, http_login
from sqlalchemy import func, select
from world import build_world

from server.db.engine import make_database
from server.db.models import JobNote, LedgerEntry
from sync.ledger import verify_all

pytestmark = pytest.mark.slow

NOTES = 240
KILLS = 3


class Pusher(threading.Thread):
    """A phone's outbox: numbered mutations, resent until each has an outcome."""

    def __init__(self, server: ServerProcess, job_id: str) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.job_id = job_id
        self.pending = [
            {
                "mid": i + 1,
                "id": str(uuid.uuid4()),
                "name": "job.note",
                "job_id": job_id,
                "args": {"note_id": str(uuid.uuid4()), "text": f"note {i + 1}"},
                "device_time": datetime.now(UTC).isoformat(),
            }
            for i in range(NOTES)
        ]
        self.outcomes: dict[int, str] = {}
        self.errors = 0
        self.headers: dict[str, str] = {}
        self.device_id = ""
        self.stop = threading.Event()

    def setup(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=10) as c:
            self.headers = http_login(c, "tech1")
            r = c.post("/sync/v1/devices", json={"label": "crash"}, headers=self.headers)
            r.raise_for_status()
            self.device_id = r.json()["device_id"]

    def run(self) -> None:
        deadline = time.monotonic() + PATIENCE
        while self.pending and not self.stop.is_set() and time.monotonic() < deadline:
            batch = self.pending[:20]
            try:
                with httpx.Client(base_url=self.server.url, timeout=5) as c:
                    r = c.post(
                        "/sync/v1/push",
                        headers=self.headers,
                        json={
                            "device_id": self.device_id,
                            "schema_version": 1,
                            "device_time": datetime.now(UTC).isoformat(),
                            "mutations": batch,
                        },
                    )
            except httpx.HTTPError:
                self.errors += 1
                time.sleep(0.05)
                continue
            if r.status_code != 200:
                self.errors += 1
                time.sleep(0.05)
                continue
            for o in r.json()["outcomes"]:
                self.outcomes.setdefault(
                    o["mid"], o["status"] if o["status"] != "duplicate" else o["first_status"]
                )
            done = {o["mid"] for o in r.json()["outcomes"]}
            self.pending = [m for m in self.pending if m["mid"] not in done]


def test_kill9_during_pushes_loses_and_duplicates_nothing(database_url, tmp_path):
    world = build_world(database_url)
    server = ServerProcess(
        {
            "DOORSTEP_DATABASE_URL": database_url,
            "DOORSTEP_SECRET_KEY": "crash-test-secret-" + "x" * 48,
        },
        tmp_path,
    )
    server.start()
    pusher: Pusher | None = None
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            job = book_install(c, world)
        pusher = Pusher(server, job["id"])
        pusher.setup()
        pusher.start()
        rng = random.Random(7)
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 0.8))
            server.kill()
            time.sleep(0.2)
            server.start()
        pusher.join(PATIENCE + 30)
        assert not pusher.is_alive(), "the phone never finished pushing"
        assert pusher.pending == []
    finally:
        if pusher is not None:
            pusher.stop.set()
        server.stop()

    assert pusher is not None
    assert sorted(pusher.outcomes) == list(range(1, NOTES + 1))
    assert set(pusher.outcomes.values()) == {"applied"}

    async def check() -> tuple[int, int, list]:
        db = make_database(database_url)
        try:
            async with db.reader() as s:
                notes = await s.scalar(select(func.count()).select_from(JobNote))
                applied = (
                    await s.execute(
                        select(LedgerEntry.mid, func.count())
                        .where(LedgerEntry.outcome == "applied")
                        .group_by(LedgerEntry.mid)
                        .having(func.count() > 1)
                    )
                ).all()
                reports = await verify_all(s)
            return notes or 0, len(applied), reports
        finally:
            await db.dispose()

    notes, doubled, reports = asyncio.run(check())
    assert notes == NOTES  # none lost, none twice
    assert doubled == 0
    assert reports and all(r.ok for r in reports), reports
