"""Signed checkpoints of the ledger's chain heads, outside the database: someone with
database access rewrites a chain completely (raw bytes edited, every later hash and the
head recomputed) so that it verifies on its own, and the comparison with a checkpoint
written before catches it; a checkpoint file altered in the store is reported too. On
both blob stores (a folder, an S3 bucket on moto) and both databases."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from s3 import STORES
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from world import login, run_db

from server.app import make_blob_store, make_checkpoint_key
from server.cli import main as cli_main
from server.db.base import utcnow
from server.db.engine import make_database
from server.db.models import DeviceSyncState, LedgerEntry
from server.settings import Settings
from sync.checkpoints import PREFIX, CheckpointKey, Head, make_document, write_checkpoint
from sync.ledger import _HASHED, GENESIS, entry_hash
from sync.signing import sign

pytestmark = pytest.mark.parametrize("settings", STORES, indirect=True)

JOB = uuid.UUID("01900000-0000-7000-8000-000000000001")
FORGED = f"{PREFIX}20260302t000000000000z-forged.json"


def _cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The CLI sees the test app's database, key file and blob store."""
    monkeypatch.setenv("DOORSTEP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DOORSTEP_DATA_DIR", str(settings.data_dir))
    for name in ("blob_store", "s3_bucket", "s3_endpoint_url", "s3_region", "s3_prefix"):
        monkeypatch.setenv(f"DOORSTEP_{name.upper()}", str(getattr(settings, name)))
    monkeypatch.setenv("DOORSTEP_S3_ACCESS_KEY_ID", settings.s3_access_key_id)
    monkeypatch.setenv("DOORSTEP_S3_SECRET_ACCESS_KEY", settings.s3_secret_access_key)
    if settings.blob_dir is not None:
        monkeypatch.setenv("DOORSTEP_BLOB_DIR", str(settings.blob_dir))


def _enrol(client: Any, headers: dict[str, str], key: Ed25519PrivateKey | None) -> uuid.UUID:
    body: dict[str, Any] = {}
    if key is not None:
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        body["public_key"] = base64.b64encode(raw).decode()
    r = client.post("/sync/v1/devices", json=body, headers=headers)
    assert r.status_code in (200, 201), r.text
    return uuid.UUID(r.json()["device_id"])


def _push(
    client: Any,
    headers: dict[str, str],
    device_id: uuid.UUID,
    key: Ed25519PrivateKey | None,
    mids: range,
) -> None:
    mutations = []
    for mid in mids:
        m = {"mid": mid, "id": str(uuid.uuid4()), "name": "job.note", "job_id": str(JOB),
             "args": {"note_id": str(uuid.uuid4()), "text": f"客户不在家 {mid}"}}  # fmt: skip
        mutations.append({**m, "signature": sign(key, m)} if key is not None else m)
    body = {"device_id": str(device_id), "schema_version": 1, "device_time": None}
    r = client.post("/sync/v1/push", json={**body, "mutations": mutations}, headers=headers)
    assert r.status_code == 200, r.text


def _rewrite(url: str, device_id: uuid.UUID, seq: int, raw: bytes | None = None) -> None:
    """Replace row ``seq``'s raw bytes (``raw``, or the note's text edited) and
    recompute its ``raw_sha256``, its hash, every later hash and the head: the chain is
    consistent again."""

    async def go(s: AsyncSession) -> None:
        rows = list(
            await s.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.device_id == device_id)
                .order_by(LedgerEntry.seq)
            )
        )
        target = rows[seq - 1]
        if raw is None:
            forged = json.loads(target.raw)
            forged["args"]["text"] = "customer was home, refused"
            raw_bytes = json.dumps(forged).encode()
        else:
            raw_bytes = raw
        target.raw = raw_bytes
        prev = GENESIS
        for row in rows:
            row.raw_sha256 = hashlib.sha256(row.raw).hexdigest()
            row.prev_hash = prev
            row.hash = entry_hash(prev, **{c: getattr(row, c) for c in _HASHED})
            prev = row.hash
        state = await s.get(DeviceSyncState, device_id)
        assert state is not None
        state.ledger_head = prev

    run_db(url, go)


def _raw(url: str, device_id: uuid.UUID, seq: int) -> bytes:
    async def go(s: AsyncSession) -> bytes:
        raw = await s.scalar(
            select(LedgerEntry.raw).where(
                LedgerEntry.device_id == device_id, LedgerEntry.seq == seq
            )
        )
        assert raw is not None
        return bytes(raw)

    return run_db(url, go)


def _verify(client: Any, auditor: dict[str, str]) -> dict[str, dict[str, Any]]:
    r = client.get("/audit/ledger/verify", headers=auditor)
    assert r.status_code == 200, r.text
    return {report["device_id"]: report for report in r.json()}


def test_a_full_chain_rewrite_is_caught_by_an_earlier_checkpoint(
    client, world, settings, monkeypatch, capsys
):
    _cli_env(monkeypatch, settings)
    headers = login(client, "tech1")
    key = Ed25519PrivateKey.generate()
    signed = _enrol(client, headers, key)
    keyless = _enrol(client, headers, None)
    _push(client, headers, signed, key, range(1, 4))
    _push(client, headers, keyless, None, range(1, 4))
    auditor = login(client, "auditor")

    assert cli_main(["ledger", "checkpoint"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"checkpoint {PREFIX}") and "2 devices, signed ed25519" in out
    before = _verify(client, auditor)
    for device in (signed, keyless):
        report = before[str(device)]
        assert report["ok"] and report["checkpoints"] == 1, report
        assert report["checkpoint_mismatches"] == []
    assert cli_main(["verify-ledger"]) == 0
    capsys.readouterr()

    # A keyless device's row: its raw bytes edited. A signed device's row: its raw bytes
    # replaced by another mutation the same phone really signed (the signature verifies).
    _rewrite(settings.database_url, keyless, 2)
    _rewrite(settings.database_url, signed, 2, raw=_raw(settings.database_url, signed, 3))

    after = _verify(client, auditor)
    for device in (signed, keyless):
        report = after[str(device)]
        # the hash chain and the signatures alone pass ...
        assert (report["ok"], report["reason"], report["rows"]) == (True, None, 3), report
        # ... the checkpoint does not
        [mismatch] = report["checkpoint_mismatches"]
        assert mismatch["reason"] == "head_changed" and mismatch["seq"] == 3, mismatch
        assert mismatch["checkpoint"].startswith(PREFIX)
        assert mismatch["found_hash"] != mismatch["expected_hash"]

    assert cli_main(["verify-ledger", "--device", str(keyless)]) == 1
    out = capsys.readouterr().out
    assert f"device {keyless}: 3 rows OK, seen by 1 checkpoints" in out
    assert f"device {keyless}: CHECKPOINT head_changed: checkpoint {PREFIX}" in out
    assert cli_main(["verify-ledger", "--no-checkpoints"]) == 0  # the chains alone pass
    capsys.readouterr()


def test_deleted_last_rows_with_the_head_moved_back_are_caught(client, world, settings):
    headers = login(client, "tech1")
    device = _enrol(client, headers, None)
    _push(client, headers, device, None, range(1, 4))
    store = make_blob_store(settings)
    key = make_checkpoint_key(settings)

    async def checkpoint() -> None:
        db = make_database(settings.database_url)
        try:
            await write_checkpoint(db, store, key, utcnow())
        finally:
            await db.dispose()
            await store.close()

    asyncio.run(checkpoint())

    async def truncate(s: AsyncSession) -> None:
        last = await s.scalar(
            select(LedgerEntry).where(LedgerEntry.device_id == device, LedgerEntry.seq == 3)
        )
        assert last is not None
        state = await s.get(DeviceSyncState, device)
        assert state is not None
        state.ledger_seq, state.ledger_head = 2, last.prev_hash
        await s.delete(last)

    run_db(settings.database_url, truncate)
    report = _verify(client, login(client, "auditor"))[str(device)]
    assert (report["ok"], report["rows"]) == (True, 2), report
    [mismatch] = report["checkpoint_mismatches"]
    assert (mismatch["reason"], mismatch["seq"], mismatch["found_hash"]) == (
        "head_missing",
        3,
        None,
    )


def test_an_altered_checkpoint_is_reported_and_not_trusted(
    client, world, settings, monkeypatch, capsys
):
    _cli_env(monkeypatch, settings)
    headers = login(client, "tech1")
    device = _enrol(client, headers, None)
    _push(client, headers, device, None, range(1, 3))
    assert cli_main(["ledger", "checkpoint"]) == 0
    name = capsys.readouterr().out.split()[1].rstrip(":")

    async def tamper() -> None:
        store = make_blob_store(settings)
        try:
            data = await store.get_named(name)
            assert data is not None
            document = json.loads(data)
            document["heads"][0]["hash"] = "f" * 64  # what a rewrite would like it to say
            await store.put_named(name, json.dumps(document).encode())
            # and one signed by a key nobody trusts
            other = Ed25519PrivateKey.generate().private_bytes_raw()
            stranger = CheckpointKey.from_parts("ed25519", other)
            forged = make_document(
                [Head(device_id=device, seq=2, mid=2, hash="e" * 64, rows=2)],
                stranger,
                datetime(2026, 3, 2, tzinfo=UTC),
            )
            await store.put_named(FORGED, json.dumps(forged).encode())
        finally:
            await store.close()

    asyncio.run(tamper())
    report = _verify(client, login(client, "auditor"))[str(device)]
    assert report["ok"] and report["checkpoints"] == 0, report
    problems = {m["checkpoint"]: m for m in report["checkpoint_mismatches"]}
    assert set(problems) == {name, FORGED}
    assert all(m["reason"] == "checkpoint_invalid" for m in problems.values())
    assert "altered" in problems[name]["message"]
    assert "not trusted" in problems[FORGED]["message"]

    assert cli_main(["verify-ledger"]) == 1
    out = capsys.readouterr().out
    assert f"checkpoint {name}: INVALID: the signature does not verify" in out
    assert "0 trusted checkpoints, 2 invalid" in out


def test_the_public_key_alone_checks_a_checkpoint(client, world, settings, monkeypatch, capsys):
    """An auditor holding only the printed public key verifies the checkpoints (no
    secret, no key file)."""
    _cli_env(monkeypatch, settings)
    headers = login(client, "tech1")
    device = _enrol(client, headers, None)
    _push(client, headers, device, None, range(1, 3))
    assert cli_main(["ledger", "checkpoint"]) == 0
    assert cli_main(["ledger", "public-key"]) == 0
    out = capsys.readouterr().out
    public = out.splitlines()[-1].split()[1]

    Path(settings.data_dir, "checkpoint.key").rename(Path(settings.data_dir, "moved.key"))
    assert cli_main(["verify-ledger"]) == 1  # nothing to check them with: not trusted
    assert "0 trusted checkpoints, 1 invalid" in capsys.readouterr().out
    assert cli_main(["verify-ledger", "--public-key", public]) == 0
    out = capsys.readouterr().out
    assert "1 trusted checkpoints, 0 invalid" in out
    assert f"device {device}: 2 rows OK, seen by 1 checkpoints" in out


def test_hmac_checkpoints(client, world, settings):
    """Without an Ed25519 key, a dedicated HMAC secret signs them."""
    secret = settings.replace(ledger_checkpoint_hmac_key="a-dedicated-checkpoint-secret")
    key = make_checkpoint_key(secret)
    assert key.alg == "hmac-sha256" and key.private is None
    document = make_document([], key, datetime(2026, 3, 2, 9, 15, tzinfo=UTC))
    assert key.problem(document) is None
    other = make_checkpoint_key(settings.replace(ledger_checkpoint_hmac_key="other"))
    assert (other.problem(document) or "").startswith("signed with HMAC key")
    document["written_at"] = "2020-01-01T00:00:00.000000Z"
    assert "altered" in (key.problem(document) or "")


def test_named_objects_on_either_store(settings):
    """The stores' small named objects: put replaces whole, get of none is None, list is
    by prefix in name order, and no name climbs out of the named folder."""

    async def work() -> None:
        store = make_blob_store(settings)
        try:
            assert await store.list_named(PREFIX) == []
            assert await store.get_named("checkpoints/none.json") is None
            await store.put_named("checkpoints/b.json", b"one")
            await store.put_named("checkpoints/a.json", b"two")
            await store.put_named("checkpoints/b.json", b"three")
            await store.put_named("other/c.json", b"four")
            assert await store.list_named(PREFIX) == ["checkpoints/a.json", "checkpoints/b.json"]
            assert await store.get_named("checkpoints/b.json") == b"three"
            for bad in ("../secret.key", "/etc/passwd", "checkpoints/.hidden", "A.json", ""):
                with pytest.raises(ValueError):
                    await store.put_named(bad, b"x")
        finally:
            await store.close()

    asyncio.run(work())
