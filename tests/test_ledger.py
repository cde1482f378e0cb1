"""The ledger's hash chain: intact chains verify, and every edit or deletion made straight
in the database is caught at the right row — by ``verify_chain``, the CLI and the
auditor API — on SQLite and PostgreSQL. Also device signatures of mutations."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from world import assert_error, login, run_db

from server.cli import main as cli_main
from server.db.engine import make_database
from server.db.models import Device, DeviceSyncState, LedgerEntry
from sync import ledger
from sync.ledger import GENESIS, ChainReport, append, entry_hash, verify_all, verify_chain
from sync.signing import LEGACY_ALG, canonical_bytes, load_public_key, sign, verify_signature

T = TypeVar("T")
CST = timezone(timedelta(hours=8))
JOB = uuid.UUID("01900000-0000-7000-8000-000000000001")


async def _new_device(s: AsyncSession, user_id: uuid.UUID) -> uuid.UUID:
    device = Device(user_id=user_id, label="test phone")
    s.add(device)
    await s.flush()
    s.add(DeviceSyncState(device_id=device.id))
    await s.flush()
    return device.id


async def _append_all(
    s: AsyncSession, device_id: uuid.UUID, user_id: uuid.UUID, entries: list[dict[str, Any]]
) -> list[LedgerEntry]:
    state = await s.scalar(
        select(DeviceSyncState).where(DeviceSyncState.device_id == device_id).with_for_update()
    )
    assert state is not None
    return [await append(s, state, device_id=device_id, user_id=user_id, **e) for e in entries]


async def _enrolled(
    s: AsyncSession, user_id: uuid.UUID, entries: list[dict[str, Any]]
) -> tuple[uuid.UUID, list[LedgerEntry]]:
    device_id = await _new_device(s, user_id)
    return device_id, await _append_all(s, device_id, user_id, entries)


def _entry(i: int, **over: Any) -> dict[str, Any]:
    mutation = {"mid": i, "name": "job.note", "args": {"text": f"note {i} — 门锁"}}
    received = datetime(2026, 3, 2, 9, 15, 0, 123456, tzinfo=CST) + timedelta(minutes=i)
    e: dict[str, Any] = {
        "raw": msgspec.json.encode(mutation),
        "mid": i,
        "mutation_id": str(uuid.uuid4()),
        "name": "job.note",
        "job_id": JOB,
        "device_time": received - timedelta(seconds=90, microseconds=7),
        "sent_at": received - timedelta(seconds=80),
        "received_at": received,
        "clock_skew_ms": -80_001,
        "outcome": "rejected" if i == 2 else "applied",
        "code": "job_reassigned" if i == 2 else None,
        "detail": {"flags": ["after_reassignment"], "distance_m": 12.5, "big": 1e17, "z": -0.0},
        "signature_status": "absent",
    }
    e.update(over)
    return e


def _chain(url: str, user_id: uuid.UUID, n: int = 5) -> tuple[uuid.UUID, list[LedgerEntry]]:
    return run_db(url, lambda s: _enrolled(s, user_id, [_entry(i) for i in range(1, n + 1)]))


def _verify(url: str, device_id: uuid.UUID) -> ChainReport:
    return run_db(url, lambda s: verify_chain(s, device_id))


def _edit(url: str, device_id: uuid.UUID, seq: int, **values: Any) -> None:
    async def go(s: AsyncSession) -> None:
        await s.execute(
            update(LedgerEntry)
            .where(LedgerEntry.device_id == device_id, LedgerEntry.seq == seq)
            .values(**values)
        )

    run_db(url, go)


def _delete(url: str, device_id: uuid.UUID, seq: int) -> None:
    async def go(s: AsyncSession) -> None:
        await s.execute(
            delete(LedgerEntry).where(LedgerEntry.device_id == device_id, LedgerEntry.seq == seq)
        )

    run_db(url, go)


# --- verify_chain --------------------------------------------------------------------


def test_intact_chain_verifies(database_url, world, monkeypatch):
    monkeypatch.setattr(ledger, "BATCH_SIZE", 2)  # read the chain over several batches
    device_id, rows = _chain(database_url, world["tech1"])
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS and rows[1].prev_hash == rows[0].hash
    report = _verify(database_url, device_id)
    assert report.ok and report.rows == 5 and report.head_seq == 5, report
    assert report.reason is None and report.first_broken_seq is None

    async def all_reports(s: AsyncSession) -> list[ChainReport]:
        await _new_device(s, world["tech2"])  # a state and no rows yet: an intact chain
        return await verify_all(s)

    reports = run_db(database_url, all_reports)
    assert len(reports) == 2 and all(r.ok for r in reports)
    assert {r.rows for r in reports} == {0, 5}


def test_datetimes_hash_alike_in_any_zone():
    at = datetime(2026, 3, 2, 9, 15, 0, 123456, tzinfo=CST)
    fields: dict[str, Any] = {k: v for k, v in _entry(1).items() if k != "raw"}
    fields.update(device_id=JOB, seq=1, user_id=JOB, raw_sha256="a" * 64, received_at=at)
    utc = entry_hash(GENESIS, **fields)
    assert entry_hash(GENESIS, **{**fields, "received_at": at.astimezone(UTC)}) == utc
    naive = at.astimezone(UTC).replace(tzinfo=None)
    assert entry_hash(GENESIS, **{**fields, "received_at": naive}) == utc
    later = at + timedelta(microseconds=1)
    assert entry_hash(GENESIS, **{**fields, "received_at": later}) != utc


def test_edited_outcome_is_caught(database_url, world):
    device_id, rows = _chain(database_url, world["tech1"])
    _edit(database_url, device_id, 2, outcome="applied", code=None)
    report = _verify(database_url, device_id)
    assert not report.ok
    assert (report.first_broken_seq, report.first_broken_id) == (2, rows[1].id)
    assert report.reason == "hash_mismatch" and report.rows == 2


def test_edited_raw_is_caught(database_url, world):
    device_id, rows = _chain(database_url, world["tech1"])
    _edit(database_url, device_id, 3, raw=b'{"mid":3,"name":"job.complete"}')
    report = _verify(database_url, device_id)
    assert (report.ok, report.first_broken_seq, report.reason) == (False, 3, "raw_sha256_mismatch")
    assert report.first_broken_id == rows[2].id


def test_rehashed_row_breaks_the_next_link(database_url, world):
    """Editing a row and recomputing its own hash still leaves the next row's link."""
    device_id, rows = _chain(database_url, world["tech1"])
    r = rows[1]
    fields = {c: getattr(r, c) for c in ("device_id", "seq", "user_id", "mid", "mutation_id",
                                         "name", "job_id", "raw_sha256", "device_time",
                                         "sent_at", "received_at", "clock_skew_ms", "code",
                                         "detail", "signature_status")}  # fmt: skip
    forged = entry_hash(r.prev_hash, **fields, outcome="applied")
    _edit(database_url, device_id, 2, outcome="applied", hash=forged)
    report = _verify(database_url, device_id)
    assert (report.first_broken_seq, report.reason) == (3, "prev_hash_mismatch")
    assert report.first_broken_id == rows[2].id


def test_deleted_middle_row_is_caught(database_url, world, monkeypatch):
    monkeypatch.setattr(ledger, "BATCH_SIZE", 2)  # the gap falls across a batch boundary
    device_id, rows = _chain(database_url, world["tech1"])
    _delete(database_url, device_id, 3)
    report = _verify(database_url, device_id)
    assert (report.ok, report.first_broken_seq, report.reason) == (False, 4, "seq_gap")
    assert report.first_broken_id == rows[3].id and "expected seq 3" in (report.message or "")


def test_deleted_last_row_is_caught(database_url, world):
    device_id, _rows = _chain(database_url, world["tech1"])
    _delete(database_url, device_id, 5)
    report = _verify(database_url, device_id)
    assert (report.ok, report.first_broken_seq, report.reason) == (False, 5, "head_mismatch")
    assert report.first_broken_id is None and report.head_seq == 5 and report.rows == 4


def test_rows_beyond_the_recorded_head_are_caught(database_url, world):
    device_id, rows = _chain(database_url, world["tech1"])

    async def rewind(s: AsyncSession) -> None:
        await s.execute(
            update(DeviceSyncState)
            .where(DeviceSyncState.device_id == device_id)
            .values(ledger_seq=3, ledger_head=rows[2].hash)
        )

    run_db(database_url, rewind)
    report = _verify(database_url, device_id)
    assert (report.ok, report.first_broken_seq, report.reason) == (False, 4, "head_mismatch")
    assert report.first_broken_id == rows[3].id and report.head_seq == 3


def test_unstorable_text_is_replaced_and_still_verifies(database_url, world):
    """PostgreSQL refuses NUL (and lone surrogates): the ledger must still record."""
    entry = _entry(1, name="job.\x00note", detail={"m\x00": "a\ud800b"}, code="x\x00")
    device_id, rows = run_db(database_url, lambda s: _enrolled(s, world["tech1"], [entry]))
    assert rows[0].name == "job.\ufffdnote" and rows[0].detail == {"m\ufffd": "a\ufffdb"}
    assert _verify(database_url, device_id).ok
    with pytest.raises(ValueError, match="longer than 64"):
        run_db(database_url, lambda s: _enrolled(s, world["tech1"], [_entry(1, name="n" * 65)]))
    with pytest.raises(ValueError, match="NaN"):
        run_db(
            database_url,
            lambda s: _enrolled(s, world["tech1"], [_entry(1, detail={"x": float("nan")})]),
        )


# --- the CLI -------------------------------------------------------------------------


def test_cli_verify_ledger(database_url, world, monkeypatch, capsys):
    monkeypatch.setenv("DOORSTEP_DATABASE_URL", database_url)
    intact, _ = _chain(database_url, world["tech1"], n=3)
    tampered, rows = _chain(database_url, world["tech1b"], n=3)

    assert cli_main(["verify-ledger"]) == 0
    out = capsys.readouterr().out
    assert f"device {intact}: 3 rows OK" in out and f"device {tampered}: 3 rows OK" in out

    _edit(database_url, tampered, 2, detail={"flags": []})
    assert cli_main(["verify-ledger"]) == 1
    out = capsys.readouterr().out
    assert f"device {intact}: 3 rows OK" in out
    assert f"device {tampered}: BROKEN at seq 2 (row {rows[1].id}): hash_mismatch" in out

    assert cli_main(["verify-ledger", "--device", str(intact)]) == 0
    assert capsys.readouterr().out.strip() == f"device {intact}: 3 rows OK"
    assert cli_main(["verify-ledger", "--device", "not-a-uuid"]) == 2


# --- the auditor API -----------------------------------------------------------------


def test_auditor_api(client, world, database_url):
    device_id, rows = _chain(database_url, world["tech1"], n=3)
    auditor = login(client, "auditor")

    r = client.get("/audit/ledger/verify", headers=auditor)
    assert r.status_code == 200, r.text
    assert r.json() == [
        {
            "device_id": str(device_id),
            "rows": 3,
            "ok": True,
            "first_broken_seq": None,
            "first_broken_id": None,
            "reason": None,
            "message": None,
            "head_seq": 3,
            "checkpoints": 0,
            "checkpoint_mismatches": [],
        }
    ]

    r = client.get("/audit/ledger", params={"device_id": str(device_id)}, headers=auditor)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [row["seq"] for row in body] == [1, 2, 3]
    first = body[0]
    assert "raw" not in first and json.loads(first["raw_text"]) == json.loads(rows[0].raw)
    assert "门锁" in first["raw_text"]
    assert datetime.fromisoformat(first["device_time"]) == rows[0].device_time
    assert datetime.fromisoformat(first["received_at"]) == rows[0].received_at
    assert first["clock_skew_ms"] == -80_001 and first["hash"] == rows[0].hash
    assert body[1]["outcome"] == "rejected" and body[1]["code"] == "job_reassigned"

    page = client.get(
        "/audit/ledger",
        params={"device_id": str(device_id), "after_seq": 1, "limit": 1},
        headers=auditor,
    ).json()
    assert [row["seq"] for row in page] == [2]
    by_job = client.get("/audit/ledger", params={"job_id": str(JOB)}, headers=auditor).json()
    assert [row["id"] for row in by_job] == [str(e.id) for e in rows]

    assert_error(client.get("/audit/ledger", headers=auditor), 422, "one_filter")
    both = {"device_id": str(device_id), "job_id": str(JOB)}
    assert_error(client.get("/audit/ledger", params=both, headers=auditor), 422, "one_filter")

    # the auditor sees the break
    _edit(database_url, device_id, 2, outcome="applied")
    r = client.get("/audit/ledger/verify", params={"device_id": str(device_id)}, headers=auditor)
    [report] = r.json()
    assert (report["ok"], report["first_broken_seq"], report["reason"]) == (
        False,
        2,
        "hash_mismatch",
    )
    assert report["first_broken_id"] == str(rows[1].id)

    admin = login(client, "admin")
    assert client.get("/audit/ledger/verify", headers=admin).status_code == 200
    for who in ("tech1", "dispatcher", "manager1"):
        headers = login(client, who)
        assert_error(client.get("/audit/ledger/verify", headers=headers), 403, "role_forbidden")
        assert_error(
            client.get("/audit/ledger", params={"job_id": str(JOB)}, headers=headers),
            403,
            "role_forbidden",
        )


# --- signatures ----------------------------------------------------------------------


def _raw_key(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _mutation() -> dict[str, Any]:
    return {
        "mid": 7,
        "id": str(uuid.uuid4()),
        "name": "job.unable_to_complete",
        "job_id": str(JOB),
        "args": {"reason": "customer_not_home", "note": "Knocked twice, 门 locked", "n": 1.0},
        "device_time": "2026-03-02T09:15:00.123456Z",
    }


def test_signatures():
    key = Ed25519PrivateKey.generate()
    public = _raw_key(key)
    m = _mutation()
    signed = {**m, "signature": sign(key, m)}
    # the phone may send its keys in any order and with any spacing
    raw = json.dumps(dict(reversed(signed.items())), indent=2, ensure_ascii=False).encode()
    assert verify_signature(public, raw) == "valid"
    assert verify_signature(public, msgspec.json.encode(signed)) == "valid"

    tampered = {**signed, "args": {**m["args"], "reason": "refused_by_customer"}}
    assert verify_signature(public, msgspec.json.encode(tampered)) == "invalid"
    other = Ed25519PrivateKey.generate()
    assert verify_signature(_raw_key(other), raw) == "invalid"
    for bad in ("!!not base64!!", base64.b64encode(b"short").decode(), 12345, ""):
        assert verify_signature(public, msgspec.json.encode({**m, "signature": bad})) == "invalid"

    assert verify_signature(public, msgspec.json.encode(m)) == "absent"
    assert verify_signature(public, msgspec.json.encode({**m, "signature": None})) == "absent"
    assert verify_signature(public, b"not json") == "absent"
    assert verify_signature(None, raw) == "no_key"
    assert verify_signature(b"", raw) == "no_key"
    assert verify_signature(b"\x01" * 5, raw) == "invalid"  # an unusable stored key

    assert canonical_bytes(signed) == canonical_bytes(m)
    assert canonical_bytes({"b": {"y": 1, "x": 2}, "a": 1}) == b'{"a":1,"b":{"x":2,"y":1}}'


def test_devices_enrolled_before_jcs_keep_their_sorted_json_signatures():
    key = Ed25519PrivateKey.generate()
    m = {**_mutation(), "args": {"accuracy_m": 5.0, "small": 0.0000099}}
    old = msgspec.json.encode({**m, "signature": sign(key, m, LEGACY_ALG)})
    new = msgspec.json.encode({**m, "signature": sign(key, m)})
    assert verify_signature(_raw_key(key), old, LEGACY_ALG) == "valid"
    assert verify_signature(_raw_key(key), new) == "valid"
    # the two forms differ on these floats: a new device accepts only JCS; an old one
    # also accepts JCS (its app was upgraded)
    assert verify_signature(_raw_key(key), old) == "invalid"
    assert verify_signature(_raw_key(key), new, LEGACY_ALG) == "valid"
    other = msgspec.json.encode({**m, "signature": sign(Ed25519PrivateKey.generate(), m)})
    assert verify_signature(_raw_key(key), other, LEGACY_ALG) == "invalid"
    assert canonical_bytes(m, LEGACY_ALG) != canonical_bytes(m)
    # a value without a JCS form cannot be signed, and never verifies
    big = {**m, "args": {"n": 2**60}}
    with pytest.raises(ValueError):
        canonical_bytes(big)
    forged = msgspec.json.encode({**big, "signature": sign(key, big, LEGACY_ALG)})
    assert verify_signature(_raw_key(key), forged) == "invalid"


def test_load_public_key():
    public = _raw_key(Ed25519PrivateKey.generate())
    assert load_public_key(base64.b64encode(public).decode()) == public
    for bad in ("", "%%%", base64.b64encode(b"x" * 31).decode(), base64.b64encode(public * 2).decode(),
                "é"):  # fmt: skip
        with pytest.raises(ValueError):
            load_public_key(bad)


# --- property: any single edit or deletion is found at its row -----------------------

_TZ = st.sampled_from([UTC, CST, timezone(timedelta(hours=-3, minutes=-30))])
_WHEN = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=_TZ)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_ENTRY = st.fixed_dictionaries(
    {
        "raw": st.binary(max_size=120),
        "mid": st.none() | st.integers(1, 2**62),
        "mutation_id": st.none() | st.uuids().map(str),
        "name": st.none() | st.text(max_size=64),
        "job_id": st.none() | st.uuids(),
        "device_time": st.none() | _WHEN,
        "sent_at": st.none() | _WHEN,
        "received_at": _WHEN,
        "clock_skew_ms": st.none() | st.integers(-(2**40), 2**40),
        "outcome": st.sampled_from(["applied", "resolved", "duplicate", "rejected"]),
        "code": st.none() | st.text(max_size=64),
        "detail": st.dictionaries(st.text(max_size=6), _JSON, max_size=4),
        "signature_status": st.sampled_from(["absent", "no_key", "valid", "invalid"]),
    }
)
_EDITS = [
    "delete", "raw", "raw_sha256", "hash", "prev_hash", "user_id", "mid", "mutation_id",
    "name", "job_id", "device_time", "sent_at", "received_at", "clock_skew_ms", "outcome",
    "code", "detail", "signature_status",
]  # fmt: skip
_OTHER = datetime(2031, 1, 1, tzinfo=UTC)


def _changed(field: str, old: Any, other_user: uuid.UUID) -> Any:
    """A value for ``field`` that surely differs from ``old``."""
    tag = uuid.uuid4().hex[:8]
    return {
        "raw": lambda: bytes(old) + b"!",
        "raw_sha256": lambda: "f" * 64,
        "hash": lambda: "e" * 64,
        "prev_hash": lambda: "d" * 64,
        "user_id": lambda: other_user,
        "mid": lambda: (old or 0) + 1,
        "mutation_id": lambda: f"forged-{tag}",
        "name": lambda: f"forged-{tag}",
        "code": lambda: f"forged-{tag}",
        "job_id": uuid.uuid4,
        "device_time": lambda: _OTHER if old is None else old + timedelta(microseconds=1),
        "sent_at": lambda: _OTHER if old is None else old - timedelta(microseconds=1),
        "received_at": lambda: old + timedelta(microseconds=1),
        "clock_skew_ms": lambda: (old or 0) + 1,
        "outcome": lambda: "rejected" if old == "applied" else "applied",
        "signature_status": lambda: "invalid" if old == "valid" else "valid",
        "detail": lambda: {**old, "forged": tag},
    }[field]()


# Runs on both backends: each example enrols a device of its own in the test's database,
# so examples cannot see each other's rows (hence the function-scoped fixture is fine).
@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(entries=st.lists(_ENTRY, min_size=1, max_size=6), data=st.data())
def test_any_single_edit_is_found_at_its_row(database_url, world, entries, data):
    n = len(entries)
    k = data.draw(st.integers(1, n), label="seq")
    edit = data.draw(st.sampled_from(_EDITS), label="edit")

    async def run() -> tuple[ChainReport, ChainReport, list[LedgerEntry]]:
        db = make_database(database_url)
        try:
            async with db.writer() as s:
                device_id, rows = await _enrolled(s, world["tech1"], entries)
                await s.commit()
            async with db.reader() as s:
                intact = await verify_chain(s, device_id)
            async with db.writer() as s:
                where = (LedgerEntry.device_id == device_id, LedgerEntry.seq == k)
                if edit == "delete":
                    await s.execute(delete(LedgerEntry).where(*where))
                else:
                    old = await s.scalar(select(getattr(LedgerEntry, edit)).where(*where))
                    new = _changed(edit, old, world["tech1b"])
                    await s.execute(update(LedgerEntry).where(*where).values({edit: new}))
                await s.commit()
            async with db.reader() as s:
                return intact, await verify_chain(s, device_id), rows
        finally:
            await db.dispose()

    intact, report, rows = asyncio.run(run())
    assert intact.ok and intact.rows == n, intact
    expected = {
        "raw": (k, "raw_sha256_mismatch"),
        "prev_hash": (k, "prev_hash_mismatch"),
        "delete": (k + 1, "seq_gap") if k < n else (n, "head_mismatch"),
    }.get(edit, (k, "hash_mismatch"))
    assert (report.ok, report.first_broken_seq, report.reason) == (False, *expected), report
    row_id = None if edit == "delete" and k == n else rows[expected[0] - 1].id
    assert report.first_broken_id == row_id


def test_a_full_rewrite_of_a_signed_row_is_caught_by_its_signature(client, world, database_url):
    """Someone with database access edits a signed mutation's raw bytes and recomputes
    its ``raw_sha256``, its hash, every later hash and the head: the hash chain is
    consistent again, but the bytes no longer verify with the device's public key."""
    from sync.ledger import _HASHED

    key = Ed25519PrivateKey.generate()
    headers = login(client, "tech1")
    pub = base64.b64encode(_raw_key(key)).decode()
    device = client.post("/sync/v1/devices", json={"public_key": pub}, headers=headers).json()
    device_id = uuid.UUID(device["device_id"])
    body = {"device_id": str(device_id), "schema_version": 1, "device_time": None}
    mutations = []
    for mid in (1, 2, 3):
        m = {"mid": mid, "id": str(uuid.uuid4()), "name": "job.note", "job_id": str(JOB),
             "args": {"note_id": str(uuid.uuid4()), "text": f"客户不在家 {mid}"}}  # fmt: skip
        mutations.append({**m, "signature": sign(key, m)})
    r = client.post("/sync/v1/push", json={**body, "mutations": mutations}, headers=headers)
    assert r.status_code == 200, r.text
    assert _verify(database_url, device_id).ok

    async def rewrite(s: AsyncSession) -> None:
        rows = list(
            await s.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.device_id == device_id)
                .order_by(LedgerEntry.seq)
            )
        )
        forged = json.loads(rows[1].raw)
        forged["args"]["text"] = "customer was home, refused"  # the signature stays
        rows[1].raw = json.dumps(forged).encode()
        prev = GENESIS
        for row in rows:
            row.raw_sha256 = hashlib.sha256(row.raw).hexdigest()
            row.prev_hash = prev
            row.hash = entry_hash(prev, **{c: getattr(row, c) for c in _HASHED})
            prev = row.hash
        state = await s.get(DeviceSyncState, device_id)
        assert state is not None
        state.ledger_head = prev

    run_db(database_url, rewrite)
    report = _verify(database_url, device_id)
    assert (report.ok, report.first_broken_seq, report.reason) == (
        False,
        2,
        "signature_mismatch",
    ), report
