"""The push's batched writes (notes flushed per chunk, ledger rows and device state
written once per chunk) keep the contract: every fact once, every rejection in place,
the chain intact, duplicates answered with their first outcome."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select
from test_sync_api import Phone, make_job
from world import login

from server.db.engine import make_database
from server.db.models import JobEvent, JobNote
from sync.push import CHUNK


@pytest.fixture
def desk(client, world):
    return login(client, "dispatcher")


def _counts(database_url: str, job_id: str) -> tuple[int, int]:
    jid = uuid.UUID(job_id)

    async def read() -> tuple[int, int]:
        db = make_database(database_url)
        try:
            async with db.reader() as s:
                notes = await s.scalar(
                    select(func.count()).select_from(JobNote).where(JobNote.job_id == jid)
                )
                events = await s.scalar(
                    select(func.count())
                    .select_from(JobEvent)
                    .where(JobEvent.job_id == jid, JobEvent.kind == "fact:note")
                )
            return notes or 0, events or 0
        finally:
            await db.dispose()

    return asyncio.run(read())


def _ledger(client, device_id: str) -> list[dict]:
    auditor = login(client, "auditor")
    verify = client.get("/audit/ledger/verify", headers=auditor)
    assert verify.status_code == 200, verify.text
    assert verify.json() and all(r["ok"] for r in verify.json()), verify.json()
    r = client.get("/audit/ledger", params={"device_id": device_id, "limit": 500}, headers=auditor)
    assert r.status_code == 200, r.text
    return r.json()


def _note(phone: Phone, job_id: str, note_id: str, text: str = "x") -> dict:
    return phone.mutation("job.note", job_id, {"note_id": note_id, "text": text})


def test_mixed_chunk_keeps_each_fact_once_and_rejections_in_place(
    client, world, desk, database_url
):
    job = make_job(client, desk, world)
    theirs = make_job(client, desk, world, tech="tech1b")
    phone = Phone(client, "tech1")
    n1, n2, n3, n4 = (str(uuid.uuid4()) for _ in range(4))
    assert phone.push([_note(phone, job["id"], n1)])["last_applied_mid"] == 1

    ms = [
        _note(phone, job["id"], n2),
        _note(phone, job["id"], n2),  # the same fact under a new mid, same chunk
        _note(phone, job["id"], n1),  # stored by the earlier push
        phone.mutation("job.complete", job["id"]),  # illegal from assigned
        _note(phone, job["id"], n3),
        _note(phone, theirs["id"], str(uuid.uuid4())),
        _note(phone, str(uuid.uuid4()), str(uuid.uuid4())),
        phone.mutation("job.acknowledge", job["id"]),
        _note(phone, job["id"], n4),
    ]
    res = phone.push(ms)
    got = [(o["status"], o.get("code")) for o in res["outcomes"]]
    assert got == [
        ("applied", None),
        ("applied", None),
        ("applied", None),
        ("rejected", "illegal_transition"),
        ("applied", None),
        ("rejected", "job_not_yours"),
        ("rejected", "job_not_found"),
        ("applied", None),
        ("applied", None),
    ]
    assert res["last_applied_mid"] == 10
    assert _counts(database_url, job["id"]) == (4, 4)  # n1..n4, each once
    assert client.get(f"/jobs/{job['id']}", headers=desk).json()["status"] == "acknowledged"

    rows = _ledger(client, phone.device_id)
    assert [r["seq"] for r in rows] == list(range(1, 11))
    assert [r["mid"] for r in rows] == list(range(1, 11))
    assert [r["outcome"] for r in rows][1:] == [s for s, _ in got]

    again = phone.push(ms)
    assert [o["status"] for o in again["outcomes"]] == ["duplicate"] * len(ms)
    assert [o["first_status"] for o in again["outcomes"]] == [s for s, _ in got]
    assert _counts(database_url, job["id"]) == (4, 4)
    assert len(_ledger(client, phone.device_id)) == 10 + len(ms)


def test_push_across_chunks_applies_everything_once(client, world, desk, database_url):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    n = 2 * CHUNK + 7
    res = phone.push([_note(phone, job["id"], str(uuid.uuid4())) for _ in range(n)])
    assert [o["status"] for o in res["outcomes"]] == ["applied"] * n
    assert res["last_applied_mid"] == n
    assert _counts(database_url, job["id"]) == (n, n)
    rows = _ledger(client, phone.device_id)
    assert [r["mid"] for r in rows] == list(range(1, n + 1))
    page = phone.pull_all()
    assert page["last_applied_mid"] == n


def _note_rows(database_url: str, job_id: str) -> dict[str, tuple[list[str], int]]:
    """Each note's flags and the job version its history event carries, by note id."""
    jid = uuid.UUID(job_id)

    async def read() -> dict[str, tuple[list[str], int]]:
        db = make_database(database_url)
        try:
            async with db.reader() as s:
                flags = {
                    str(n.id): list(n.flags)
                    for n in await s.scalars(select(JobNote).where(JobNote.job_id == jid))
                }
                versions = {
                    str(e.data["note_id"]): e.job_version
                    for e in await s.scalars(
                        select(JobEvent).where(JobEvent.job_id == jid, JobEvent.kind == "fact:note")
                    )
                }
            return {k: (flags[k], versions[k]) for k in flags}
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_notes_after_a_move_in_the_same_chunk_see_the_job_as_moved(
    client, world, desk, database_url
):
    """The jobs a chunk reads at its start are not trusted past a status change: a note
    after it carries the new version, and a note after completion is flagged."""
    job = make_job(client, desk, world)
    start = client.get(f"/jobs/{job['id']}", headers=desk).json()["version"]
    phone = Phone(client, "tech1")
    before, after_ack, after_done = (str(uuid.uuid4()) for _ in range(3))
    here = {"checkin_id": str(uuid.uuid4()), "latitude": 0.0, "longitude": 0.0}
    res = phone.push(
        [
            _note(phone, job["id"], before),
            phone.mutation("job.acknowledge", job["id"]),
            _note(phone, job["id"], after_ack),
            phone.mutation("job.check_in", job["id"], here),
            phone.mutation("job.start_work", job["id"]),
            phone.mutation("job.complete", job["id"], {"summary": "done"}),
            _note(phone, job["id"], after_done),
        ]
    )
    assert [o["status"] for o in res["outcomes"]][:2] == ["applied", "applied"]
    assert res["outcomes"][-2]["status"] == "applied", res["outcomes"]
    final = client.get(f"/jobs/{job['id']}", headers=desk).json()
    assert final["status"] == "completed"
    notes = _note_rows(database_url, job["id"])
    assert notes[before] == ([], start)
    assert notes[after_ack] == ([], start + 1)
    assert notes[after_done] == (["after_completion"], final["version"])
    assert res["outcomes"][-1]["flags"] == ["after_completion"]
