"""The baselines: the same work done with stdlib ``sqlite3`` and msgspec, nothing else.

No HTTP, no auth, no ORM, no per-row objects: what a hand-written endpoint would have to
do at the least to give the same answer from the same database file. Each method is
synchronous and opens its own transaction on one long-lived connection, with the
pragmas the app uses (WAL, foreign keys on, ``synchronous=NORMAL``).

On SQLite the app stores UUIDs as 32-character hex text, datetimes as naive UTC text
and JSON as text; the queries here read and write those forms directly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["RawSqlite", "uuid7_hex"]

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def uuid7_hex() -> str:
    """A time-ordered UUID (v7) as 32 hex characters, like the app's ids."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64 | 0b10 << 62 | rand & ((1 << 62) - 1)
    return f"{value:032x}"


def _db_time(value: datetime) -> str:
    """A datetime as the app stores it on SQLite: naive UTC text."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class _Push(msgspec.Struct):
    device_id: str
    schema_version: int
    device_time: str | None
    mutations: list[msgspec.Raw]


class _NoteArgs(msgspec.Struct):
    note_id: str
    text: str


class _Mutation(msgspec.Struct):
    mid: int
    id: str
    name: str
    job_id: str
    args: _NoteArgs
    device_time: str | None = None


_INSERT_NOTE = """INSERT INTO job_notes
    (id, job_id, technician_id, device_id, device_time, received_at, flags, text)
    VALUES (?, ?, ?, ?, ?, ?, '[]', ?)"""
_INSERT_EVENT = """INSERT INTO job_events
    (id, job_id, at, kind, job_version, actor_id, actor_role, source, device_id, data)
    VALUES (?, ?, ?, 'fact:note', 0, ?, 'technician', 'sync', ?, ?)"""
_INSERT_LEDGER = """INSERT INTO ledger_entries
    (id, device_id, seq, user_id, mid, mutation_id, name, job_id, raw, raw_sha256,
     device_time, sent_at, received_at, clock_skew_ms, outcome, code, detail,
     signature_status, prev_hash, hash)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'applied', NULL, '{}', 'absent', ?, ?)"""
_INCREMENTAL = """SELECT o.version, o.entity_type, o.entity_id, o.op, e.version, e.doc
    FROM bucket_ops o LEFT JOIN bucket_entities e
      ON e.technician_id = o.technician_id AND e.entity_type = o.entity_type
     AND e.entity_id = o.entity_id
    WHERE o.technician_id = ? AND o.version > ? AND o.version <= ?
    ORDER BY o.version LIMIT ?"""


class RawSqlite:
    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("foreign_keys=ON", "busy_timeout=15000", "synchronous=NORMAL"):
            self.conn.execute(f"PRAGMA {pragma}")

    def close(self) -> None:
        self.conn.close()

    # --- pull --------------------------------------------------------------------------

    def _head(self, technician: str, device: str) -> tuple[int, int, int]:
        bucket = self.conn.execute(
            "SELECT epoch, version FROM buckets WHERE technician_id = ?", (technician,)
        ).fetchone()
        mid = self.conn.execute(
            "SELECT last_mid FROM device_sync_state WHERE device_id = ?", (device,)
        ).fetchone()
        return bucket[0], bucket[1], mid[0] if mid else 0

    @staticmethod
    def _answer(
        ops: list[dict[str, Any]],
        technician: str,
        epoch: int,
        version: int,
        has_more: bool,
        *,
        head: int,
        mid: int,
    ) -> bytes:
        cursor = base64.urlsafe_b64encode(f"{technician}:{epoch}:i:{version}".encode()).decode()
        return _encode(
            {
                "ops": ops,
                "cursor": cursor,
                "has_more": has_more,
                "reset": False,
                "last_applied_mid": mid,
                "bucket_version": head,
                "server_time": datetime.now(UTC),
            }
        )

    def first_sync(self, technician: str, device: str, limit: int) -> bytes:
        """Every document of the bucket as of its head, in (type, id) order."""
        self.conn.execute("BEGIN")
        try:
            epoch, head, mid = self._head(technician, device)
            rows = self.conn.execute(
                "SELECT entity_type, entity_id, version, doc FROM bucket_entities "
                "WHERE technician_id = ? AND version <= ? "
                "ORDER BY entity_type, entity_id LIMIT ?",
                (technician, head, limit + 1),
            ).fetchall()
        finally:
            self.conn.execute("COMMIT")
        ops = [
            {"op": "put", "type": t, "id": str(uuid.UUID(i)), "version": v, "doc": _decode(d)}
            for t, i, v, d in rows[:limit]
        ]
        return self._answer(ops, technician, epoch, head, len(rows) > limit, head=head, mid=mid)

    def incremental(self, technician: str, device: str, after: int, limit: int) -> bytes:
        """The operations after version ``after``, skipping those whose entity has
        moved on since (the later operation carries the latest document)."""
        self.conn.execute("BEGIN")
        try:
            epoch, head, mid = self._head(technician, device)
            rows = self.conn.execute(_INCREMENTAL, (technician, after, head, limit)).fetchall()
        finally:
            self.conn.execute("COMMIT")
        ops: list[dict[str, Any]] = []
        for version, etype, eid, op, current, doc in rows:
            if op == "put" and current == version:
                ops.append(
                    {
                        "op": "put",
                        "type": etype,
                        "id": str(uuid.UUID(eid)),
                        "version": version,
                        "doc": _decode(doc),
                    }
                )
            elif op == "remove" and current is None:
                ops.append(
                    {"op": "remove", "type": etype, "id": str(uuid.UUID(eid)), "version": version}
                )
        reached = rows[-1][0] if len(rows) == limit else head
        return self._answer(ops, technician, epoch, reached, reached < head, head=head, mid=mid)

    # --- push --------------------------------------------------------------------------

    def push(self, body: bytes, technician: str) -> bytes:
        """``job.note`` mutations: a note, a ledger row (hash-chained) and a job event
        each, and the device's state, in one transaction with ``executemany``."""
        req = _decode(body, type=_Push)
        device = uuid.UUID(req.device_id).hex
        now = datetime.now(UTC)
        received = _db_time(now)
        sent = _parse_time(req.device_time)
        skew = int((sent - now).total_seconds() * 1000) if sent else None
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            last_mid, seq, prev = self.conn.execute(
                "SELECT last_mid, ledger_seq, ledger_head FROM device_sync_state "
                "WHERE device_id = ?",
                (device,),
            ).fetchone()
            notes, events, ledger, outcomes = [], [], [], []
            for raw in req.mutations:
                raw_bytes = bytes(raw)
                m = _decode(raw_bytes, type=_Mutation)
                job = uuid.UUID(m.job_id).hex
                note = uuid.UUID(m.args.note_id).hex
                dt = _parse_time(m.device_time)
                dt_text = _db_time(dt) if dt else None
                seq += 1
                raw_sha = hashlib.sha256(raw_bytes).hexdigest()
                digest = hashlib.sha256(
                    json.dumps(
                        [prev, device, seq, technician, m.mid, m.id, m.name, job, raw_sha,
                         m.device_time, req.device_time, received, skew, "applied"],
                        separators=(",", ":"),
                    ).encode()
                ).hexdigest()  # fmt: skip
                notes.append((note, job, technician, device, dt_text, received, m.args.text))
                events.append(
                    (
                        uuid7_hex(),
                        job,
                        received,
                        technician,
                        device,
                        _encode({"note_id": m.args.note_id, "mutation_id": m.id, "mid": m.mid}),
                    )
                )
                ledger.append(
                    (uuid7_hex(), device, seq, technician, m.mid, m.id, m.name, job, raw_bytes,
                     raw_sha, dt_text, _db_time(sent) if sent else None, received, skew,
                     prev, digest)
                )  # fmt: skip
                prev = digest
                last_mid = m.mid
                outcomes.append({"mid": m.mid, "id": m.id, "status": "applied"})
            self.conn.executemany(_INSERT_NOTE, notes)
            self.conn.executemany(_INSERT_LEDGER, ledger)
            self.conn.executemany(_INSERT_EVENT, events)
            self.conn.execute(
                "UPDATE device_sync_state SET last_mid = ?, ledger_seq = ?, ledger_head = ?, "
                "last_push_at = ?, clock_skew_ms = ? WHERE device_id = ?",
                (last_mid, seq, prev, received, skew, device),
            )
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return _encode({"outcomes": outcomes, "last_applied_mid": last_mid, "server_time": now})
