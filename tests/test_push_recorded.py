"""Recorded pushes give the same outcomes and the same ledger bytes, whatever path the
push takes to write them (issue 17: the SQLite one-hand-off chunk, batched statements).

A fixed world (every id that enters a ledger row or an outcome is fixed, and so is the
clock) receives a mixed set of pushes: notes, the same note resent under a new mid,
whole pushes resent, a mid reused by another mutation, poison (arguments that do not
decode, unknown names, jobs that do not exist or were never ours), mutations outside
``DEFERRABLE`` between notes, a note after a reassignment, several chunks. What comes
out (outcomes, ledger rows with their hashes, the device's head, notes, history events,
jobs) is compared with golden values captured from the code before the push was
reshaped, on every backend, and on every path the push can take.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import select
from world import World

from server.db.engine import Database, make_database
from server.db.models import (
    Device,
    DeviceSyncState,
    Job,
    JobEvent,
    JobHolder,
    JobNote,
    LedgerEntry,
    User,
)
from sync import metrics
from sync.push import CHUNK, push

NOW = datetime(2026, 5, 4, 8, 30, 0, 123456, tzinfo=UTC)
SENT = NOW - timedelta(seconds=3)
_LEDGER_COLUMNS = [c.key for c in LedgerEntry.__table__.columns if c.key != "id"]


def _id(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"doorstep-test/{name}")


TECH, OTHER, DEVICE = _id("tech"), _id("other"), _id("device")
MINE, MINE2, THEIRS, HELD = _id("job-mine"), _id("job-mine2"), _id("job-theirs"), _id("job-held")


async def _arrange(db: Database, w: World) -> None:
    async with db.writer() as s:
        for uid, name in ((TECH, "rec-tech"), (OTHER, "rec-other")):
            s.add(
                User(
                    id=uid,
                    username=name,
                    full_name=name,
                    password_hash="x",
                    role="technician",
                    provider_id=w["p1"],
                    skill_level="senior",
                )
            )
        await s.flush()
        s.add(Device(id=DEVICE, user_id=TECH, label="rec", enrolled_at=NOW))
        for n, (jid, tech) in enumerate(
            ((MINE, TECH), (MINE2, TECH), (THEIRS, OTHER), (HELD, OTHER))
        ):
            s.add(
                Job(
                    id=jid,
                    number=f"REC-{n}",
                    kind="repair",
                    status="assigned",
                    customer_id=w["customer1"],
                    appliance_id=w["appliance1"],
                    city_id=w["hangzhou"],
                    provider_id=w["p1"],
                    technician_id=tech,
                    version=3,
                    created_at=NOW - timedelta(days=1),
                    updated_at=NOW - timedelta(days=1),
                )
            )
        await s.flush()
        # HELD was ours before it was given to OTHER: our late notes are kept, flagged.
        s.add(JobHolder(job_id=HELD, technician_id=TECH, since=NOW - timedelta(days=1)))
        s.add(JobHolder(job_id=THEIRS, technician_id=OTHER, since=NOW - timedelta(days=1)))
        await s.commit()


def _m(mid: int, name: str, job: uuid.UUID | None, args: Any, tag: str | None = None) -> dict:
    return {
        "mid": mid,
        "id": str(_id(tag or f"m{mid}")),
        "name": name,
        "job_id": str(job) if job else None,
        "args": args,
        "device_time": (NOW - timedelta(minutes=60 - mid % 60)).isoformat(),
    }


def _note(mid: int, job: uuid.UUID, note: str, tag: str | None = None) -> dict:
    return _m(mid, "job.note", job, {"note_id": str(_id(note)), "text": f"note {note}"}, tag)


def _pushes() -> list[list[dict]]:
    first: list[dict] = []
    mid = 0

    def nxt() -> int:
        nonlocal mid
        mid += 1
        return mid

    first.append(_note(nxt(), MINE, "n1"))
    first.append(_note(nxt(), MINE, "n1"))  # the same fact under a new mid
    first.append(_m(nxt(), "job.note", MINE, {"note_id": "not a uuid", "text": "x"}))
    first.append(_m(nxt(), "job.no_such_thing", MINE, {}))
    first.append(_note(nxt(), _id("job-missing"), "n2"))
    first.append(_note(nxt(), THEIRS, "n3"))
    first.append(_note(nxt(), HELD, "n4"))
    first.append(_m(nxt(), "job.complete", MINE, {"summary": "too soon"}))  # illegal
    first.append(_m(nxt(), "job.acknowledge", MINE, {}))
    first.append(_note(nxt(), MINE, "n5"))
    for i in range(CHUNK - len(first) + 5):  # into a second chunk
        first.append(_note(nxt(), MINE2 if i % 3 else MINE, f"pad{i}"))
    first.append(_m(nxt(), "job.acknowledge", MINE2, {}))
    first.append(_note(nxt(), MINE2, "n6"))
    first.append(_note(nxt(), MINE2, "pad0"))  # stored by the chunk before
    second = [
        *first[-4:-2],  # resent: duplicates with their first outcomes
        _note(mid - 1, MINE, "other", tag="reused"),  # a mid reused by another mutation
        first[-1],
        _note(nxt(), MINE, "n7"),
        _m(nxt(), "job.en_route", MINE, {}),
        _note(nxt(), MINE, "n8"),
    ]
    # a whole chunk of plain notes, the common case
    third = [_note(nxt(), MINE2 if i % 2 else MINE, f"bulk{i}") for i in range(CHUNK + 3)]
    return [first, second, third]


def _body(mutations: list[dict]) -> bytes:
    return json.dumps(
        {
            "device_id": str(DEVICE),
            "schema_version": 1,
            "device_time": SENT.isoformat(),
            "mutations": mutations,
        }
    ).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


async def _record(
    url: str, handoff: bool, pushes: list[list[dict]] | None = None
) -> dict[str, Any]:
    from world import _build

    w = await _build(url)
    db = make_database(url)
    try:
        await _arrange(db, w)
        responses = [
            msgspec.to_builtins(
                await push(
                    db, _body(ms), user_id=TECH, token_device_id=DEVICE, now=NOW, handoff=handoff
                )
            )
            for ms in pushes or _pushes()
        ]
        async with db.reader() as s:
            ledger = [
                {c: getattr(r, c) for c in _LEDGER_COLUMNS}
                for r in await s.scalars(
                    select(LedgerEntry)
                    .where(LedgerEntry.device_id == DEVICE)
                    .order_by(LedgerEntry.seq)
                )
            ]
            state = await s.get(DeviceSyncState, DEVICE)
            assert state is not None
            head = [state.last_mid, state.ledger_seq, state.ledger_head, state.clock_skew_ms]
            notes = sorted(
                ((n.id, n.job_id, n.text, n.flags, n.device_time, n.received_at))
                for n in await s.scalars(select(JobNote).where(JobNote.device_id == DEVICE))
            )
            events = sorted(
                json.dumps(
                    _plain(
                        [e.job_id, e.kind, e.data, e.job_version, e.at, e.actor_id, e.device_id]
                    ),
                    sort_keys=True,
                )
                for e in await s.scalars(select(JobEvent).where(JobEvent.source == "sync"))
            )
            jobs = [
                (j.id, j.status, j.version)
                for j in await s.scalars(select(Job).where(Job.number.like("REC-%")))
            ]
        return _plain(
            {
                "responses": responses,
                "ledger": ledger,
                "head": head,
                "notes": notes,
                "events": events,
                "jobs": sorted(jobs),
            }
        )
    finally:
        await db.dispose()


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


# Captured from the push as it was before issue 17 (commit 0067809), on SQLite and
# PostgreSQL alike.
GOLDEN_HEAD = "d22bb5e7d2f2be88c343ae473081f2fc5bb788a7ea61cad09435ec71b95057a4"
GOLDEN = {
    "responses": "73167bed0c5cbfe0821aa6a369b30e66b87a8c8e86772788cdc70c32ea604da6",
    "ledger": "a944bc83edb545762f13c289ee4cc33b740cc3e37ff5057f142584d46c57878f",
    "notes": "929ac2b2ed93bd1988cee54d8139477548b20c3981353c4b3a84e6e4e02191d4",
    "events": "26d6625f5861cb8eea2d2fc0f76d7e8a70ec12dca2cd644a8b3f9a20956df5bb",
    "jobs": "5d46941ae752e18830f482be1272ff322a9ba598b500f1a2e7d87ea58e716493",
}


@pytest.mark.parametrize("handoff", [False, True], ids=["ordinary", "one_handoff"])
def test_recorded_pushes_give_the_golden_outcomes_and_ledger(database_url, handoff):
    before = metrics.snapshot()
    got = asyncio.run(_record(database_url, handoff))
    taken = metrics.snapshot().get("push.chunk.one_handoff", 0) - before.get(
        "push.chunk.one_handoff", 0
    )
    # On SQLite the third push's two chunks of notes take the one hand-off; the others
    # (moves, resends, jobs not ours) fall back or never try.
    assert taken == (2 if handoff and database_url.startswith("sqlite") else 0)
    outcomes = [o["status"] for r in got["responses"] for o in r["outcomes"]]
    assert outcomes.count("applied") > CHUNK and "duplicate" in outcomes
    assert {o.get("code") for r in got["responses"] for o in r["outcomes"]} >= {
        "illegal_transition",
        "job_not_found",
        "job_not_yours",
        "unknown_mutation",
        "invalid_arguments",
        "mid_reused",
    }
    assert got["head"] == [114, 118, GOLDEN_HEAD, -3000]
    assert {k: _digest(got[k]) for k in GOLDEN} == GOLDEN


def _poison_among_notes() -> list[list[dict]]:
    notes = [_note(mid, MINE if mid % 2 else MINE2, f"p{mid}") for mid in range(2, 8)]
    poison = [
        _m(8, "job.note", MINE, {"note_id": "not a uuid", "text": "x"}),
        _m(9, "job.no_such_thing", MINE, {}),
        _m(10, "job.complete", MINE, {"summary": 7}),  # arguments that do not decode
        _note(11, MINE, "p1"),  # the same fact again
    ]
    return [
        [_note(1, MINE, "p1")],  # the device's first push: the ordinary path
        [*notes, *poison],  # one hand-off: every rejection is decided before the chunk
        [_note(12, MINE, "q1"), _note(13, _id("job-missing"), "q2")],  # falls back
        [  # resends, then a new note
            _note(11, MINE, "p1"),
            _note(12, MINE, "q1"),
            _note(13, _id("job-missing"), "q2"),
            _note(14, MINE, "q3"),
        ],
        [_note(15, THEIRS, "q4"), _note(16, HELD, "q5")],  # jobs not ours now: fall back
    ]


def _stored(url: str) -> dict[str, list[tuple]] | None:
    """On SQLite, the stored bytes of the rows a push writes (random ids left out)."""
    if not url.startswith("sqlite"):
        return None
    conn = sqlite3.connect(url.split("///", 1)[1])
    try:
        return {
            table: sorted(
                tuple(str(v) for v in row) for row in conn.execute(f"SELECT {columns} FROM {table}")
            )
            for table, columns in (
                ("job_notes", "*"),
                ("job_events", "job_id, at, kind, job_version, actor_id, source, data"),
                ("ledger_entries", ", ".join(_LEDGER_COLUMNS)),
                ("device_sync_state", "*"),
            )
        }
    finally:
        conn.close()


def test_one_handoff_gives_what_the_ordinary_path_gives(fresh_database):
    pushes = _poison_among_notes()
    before = metrics.snapshot()
    ordinary = asyncio.run(_record(first := fresh_database(), False, pushes))
    stored = _stored(first)
    handoff = asyncio.run(_record(url := fresh_database(), True, pushes))
    after = metrics.snapshot()
    assert handoff == ordinary
    assert _stored(url) == stored
    codes = [o.get("code") for o in ordinary["responses"][1]["outcomes"]]
    assert codes == [None] * 6 + [
        "invalid_arguments",
        "unknown_mutation",
        "invalid_arguments",
        None,
    ]
    if url.startswith("sqlite"):
        for name, n in (("push.chunk.one_handoff", 1), ("push.chunk.fell_back", 4)):
            assert after.get(name, 0) - before.get(name, 0) == n, name


def test_a_chunk_that_fails_on_the_writer_thread_runs_on_the_ordinary_path(
    fresh_database, monkeypatch
):
    """Not transient, not a rejection (our own bug, say): nothing of it is kept, and the
    ordinary path gives the chunk its usual outcomes."""
    from sync import push_sqlite

    pushes = _poison_among_notes()[:2]
    ordinary = asyncio.run(_record(fresh_database(), False, pushes))

    def broken(*_: Any) -> None:
        raise RuntimeError("a bug in the writer thread")

    monkeypatch.setattr(push_sqlite, "_insert_rows", broken)
    before = metrics.snapshot().get("push.chunk.one_handoff", 0)
    assert asyncio.run(_record(fresh_database(), True, pushes)) == ordinary
    assert metrics.snapshot().get("push.chunk.one_handoff", 0) == before
