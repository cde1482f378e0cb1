"""Poison never blocks a phone's queue (issue 13): each reproduction of a mutation that
jammed a phone — a 500 on every resend, or a whole push refused — is now rejected on
its own with a stable code, uses up its mid, keeps its ledger row with the exact bytes,
and the mutations around it apply. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from test_sync_api import Phone, make_job
from world import login

from sync import metrics
from sync.mutations import HANDLERS
from sync.validation import SUPPORTED_SCHEMA_VERSIONS


@pytest.fixture
def desk(client, world):
    return login(client, "dispatcher")


def _note(phone: Phone, job_id: str, text: str = "ok") -> dict:
    return phone.mutation("job.note", job_id, {"note_id": str(uuid.uuid4()), "text": text})


def _call(phone: Phone, job_id: str, started_at: str) -> dict:
    args = {"call_id": str(uuid.uuid4()), "started_at": started_at, "outcome": "no_answer"}
    return phone.mutation("job.call_attempt", job_id, args)


def _ledger(client, device_id: str) -> list[dict]:
    auditor = login(client, "auditor")
    verify = client.get("/audit/ledger/verify", headers=auditor)
    assert verify.status_code == 200, verify.text
    assert all(r["ok"] for r in verify.json()), verify.json()
    r = client.get("/audit/ledger", params={"device_id": device_id, "limit": 500}, headers=auditor)
    assert r.status_code == 200, r.text
    return sorted(r.json(), key=lambda e: e["seq"])


def _statuses(res: dict) -> list[tuple[str, str | None]]:
    return [(o["status"], o.get("code")) for o in res["outcomes"]]


POISON: list[tuple[str, str, Any]] = [
    # (what, expected code, how to build it)
    ("call at year 1 (+05:00)", "timestamp_out_of_range", "0001-01-01T00:00:00+05:00"),
    ("call at 9999 (-00:01)", "timestamp_out_of_range", "9999-12-31T23:59:59-00:01"),
    ("call without offset", "timestamp_without_offset", "2026-11-20T09:30:00"),
]


def test_the_reproductions_are_rejected_alone_and_the_queue_moves_on(client, world, desk):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    ms = [
        _note(phone, job["id"]),
        *[_call(phone, job["id"], when) for _, _, when in POISON],
        phone.mutation(
            "job.check_in",
            job["id"],
            {"checkin_id": str(uuid.uuid4()), "fix_time": "0001-01-01T00:00:00+05:00"},
        ),
        _note(phone, job["id"], "before\u0000after"),
        phone.mutation(
            "job.report",
            job["id"],
            {
                "report_id": str(uuid.uuid4()),
                "parts": [{"name": "valve", "unit_price": 10**30}],
            },
        ),
        phone.mutation("job.pause", job["id"], {"reason": "x", "colour": "blue"}),
        phone.mutation("job.pause", job["id"], {"reason": 7}),
        {**phone.mutation("job.acknowledge", job["id"]), "device_time": "yesterday-ish"},
        phone.mutation("job.acknowledge", job["id"]),
        _note(phone, job["id"]),
    ]
    res = phone.push(ms)
    assert _statuses(res) == [
        ("applied", None),
        ("rejected", "timestamp_out_of_range"),
        ("rejected", "timestamp_out_of_range"),
        ("rejected", "timestamp_without_offset"),
        ("rejected", "timestamp_out_of_range"),
        ("rejected", "invalid_text"),
        ("rejected", "number_out_of_range"),
        ("rejected", "unknown_argument"),
        ("rejected", "invalid_arguments"),
        ("rejected", "invalid_mutation"),
        ("applied", None),
        ("applied", None),
    ]
    assert res["last_applied_mid"] == len(ms)  # every poison one used up its mid
    fields = [o.get("field") for o in res["outcomes"]]
    assert fields[1:8] == [
        "args.started_at",
        "args.started_at",
        "args.started_at",
        "args.fix_time",
        "args.text",
        "args.parts[0].unit_price",
        "args.colour",
    ]
    assert all(o.get("message") for o in res["outcomes"] if o["status"] == "rejected")
    # Resending the very same push changes nothing: every mutation is a duplicate.
    again = phone.push(ms)
    assert {o["status"] for o in again["outcomes"]} == {"duplicate"}
    # Every mutation kept its ledger row with the exact bytes received.
    entries = _ledger(client, phone.device_id)
    first = [e for e in entries if e["outcome"] != "duplicate"]
    assert [e["mid"] for e in first] == list(range(1, len(ms) + 1))
    nul_row = first[5]
    assert nul_row["code"] == "invalid_text"
    assert "before\\u0000after" in nul_row["raw_text"]  # the exact bytes, escape and all
    assert json.loads(nul_row["raw_text"])["id"] == ms[5]["id"]


def test_a_bad_device_time_is_dropped_and_flagged_not_rejected(client, world, desk):
    """The phone's clock is evidence, not meaning: a dead clock (1970) or a time without
    an offset must not lose the technician's action."""
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    ms = [
        {**phone.mutation("job.acknowledge", job["id"]), "device_time": "1970-01-01T00:00:00Z"},
        {**_note(phone, job["id"]), "device_time": "2026-11-20T09:30:00"},
    ]
    res = phone.push(ms)
    assert _statuses(res) == [("applied", None), ("applied", None)]
    entries = _ledger(client, phone.device_id)
    assert [e["device_time"] for e in entries] == [None, None]
    assert all("device_time_invalid" in e["detail"]["flags"] for e in entries)


def test_unsupported_schema_version_rejects_each_mutation_naming_the_versions(client, world, desk):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    body = {
        "device_id": phone.device_id,
        "schema_version": 99,
        "device_time": None,
        "mutations": [phone.mutation("job.acknowledge", job["id"])],
    }
    r = client.post("/sync/v1/push", json=body, headers=phone.headers)
    assert r.status_code == 200, r.text
    (o,) = r.json()["outcomes"]
    assert (o["status"], o["code"]) == ("rejected", "unsupported_schema_version")
    assert o["details"]["supported"] == list(SUPPORTED_SCHEMA_VERSIONS)
    assert "1" in o["message"]
    assert client.get(f"/jobs/{job['id']}", headers=desk).json()["status"] == "assigned"


def test_a_different_mutation_under_a_used_mid_is_rejected_mid_reused(client, world, desk):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    first = phone.mutation("job.acknowledge", job["id"])
    assert _statuses(phone.push([first])) == [("applied", None)]
    reused = {**_note(phone, job["id"], "another"), "mid": first["mid"]}
    phone.mid = first["mid"]
    (o,) = phone.push([reused])["outcomes"]
    (dup,) = phone.push([first])["outcomes"]
    assert (o["status"], o["code"]) == ("rejected", "mid_reused")
    assert o["first_id"] == first["id"]
    assert (dup["status"], dup["first_status"]) == ("duplicate", "applied")
    entries = _ledger(client, phone.device_id)
    flagged = [e for e in entries if e["code"] == "mid_reused"]
    assert len(flagged) == 1
    assert flagged[0]["mutation_id"] == reused["id"]
    assert flagged[0]["detail"]["first_mutation_id"] == first["id"]


def test_a_push_is_refused_whole_only_for_what_concerns_it(client, world, desk):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    base = {"device_id": phone.device_id, "schema_version": 1, "device_time": None}
    r = client.post("/sync/v1/push", content=b"{not json", headers=phone.headers)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_push")
    gap = {**base, "mutations": [{**phone.mutation("job.acknowledge", job["id"]), "mid": 5}]}
    r = client.post("/sync/v1/push", json=gap, headers=phone.headers)
    assert (r.status_code, r.json()["code"]) == (409, "mid_gap")
    deep = {**base, "mutations": [{"mid": 1, "args": {"a": json.loads("[" * 70 + "]" * 70)}}]}
    r = client.post("/sync/v1/push", json=deep, headers=phone.headers)
    assert (r.status_code, r.json()["code"]) == (400, "too_deeply_nested")


@pytest.fixture
def injected(monkeypatch: pytest.MonkeyPatch):
    """Handlers that fail unexpectedly when their text says so: ``job.pause`` (applied in
    a savepoint) and ``job.note`` (deferred, no savepoint), the latter after a statement
    PostgreSQL refuses (a data error that aborts the transaction)."""

    pause, note = HANDLERS["job.pause"], HANDLERS["job.note"]

    async def failing_pause(ctx, args, job):  # type: ignore[no-untyped-def]
        if args.reason == "boom":
            job.status = "completed"  # a change the savepoint must undo
            raise RuntimeError("injected failure in job.pause")
        return await pause(ctx, args, job)

    async def failing_note(ctx, args, job):  # type: ignore[no-untyped-def]
        if args.text == "boom":
            raise RuntimeError("injected failure in job.note")
        if args.text == "db-boom":
            if ctx.session.bind.dialect.name == "postgresql":
                await ctx.session.execute(text("SELECT CAST('x' AS INTEGER)"))
            raise RuntimeError("injected failure in job.note after the database")
        return await note(ctx, args, job)

    monkeypatch.setitem(HANDLERS, "job.pause", failing_pause)
    monkeypatch.setitem(HANDLERS, "job.note", failing_note)


def test_an_unexpected_exception_rejects_only_its_mutation(
    client, world, desk, injected, caplog: pytest.LogCaptureFixture
):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    before = metrics.snapshot().get("push.rejected.internal_rejected", 0)
    ms = [
        phone.mutation("job.acknowledge", job["id"]),
        _note(phone, job["id"], "boom"),
        _note(phone, job["id"]),
        phone.mutation("job.pause", job["id"], {"reason": "boom"}),
        _note(phone, job["id"], "db-boom"),
        phone.mutation("job.en_route", job["id"]),
        _note(phone, job["id"]),
    ]
    with caplog.at_level(logging.ERROR, logger="doorstep.sync"):
        res = phone.push(ms)
    assert _statuses(res) == [
        ("applied", None),
        ("rejected", "internal_rejected"),
        ("applied", None),
        ("rejected", "internal_rejected"),
        ("rejected", "internal_rejected"),
        ("applied", None),
        ("applied", None),
    ]
    assert res["last_applied_mid"] == len(ms)
    assert metrics.snapshot()["push.rejected.internal_rejected"] == before + 3
    failures = [r for r in caplog.records if "internal_rejected" in r.getMessage()]
    assert len(failures) == 3 and all(r.exc_info for r in failures)
    got = client.get(f"/jobs/{job['id']}", headers=desk).json()
    assert got["status"] == "en_route"  # the failed pause's change was rolled back
    history = client.get(f"/jobs/{job['id']}/history", headers=desk).json()
    notes = [e for e in history if e["kind"] == "fact:note"]
    assert len(notes) == 2
    # A resend: the failed ones are duplicates now, never tried (nor logged) again.
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="doorstep.sync"):
        again = phone.push(ms)
    assert {o["status"] for o in again["outcomes"]} == {"duplicate"}
    assert not [r for r in caplog.records if "internal_rejected" in r.getMessage()]
    _ledger(client, phone.device_id)  # the chain verifies
