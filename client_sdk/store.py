"""The phone's local store: one SQLite file (stdlib ``sqlite3``, WAL) holding what the
phone needs offline and what it still owes the server.

Why SQLite and one transaction per step: a phone can be killed at any instant. Every
change that must stay consistent — a queued mutation and its number, a pulled page and
the cursor after it, a push answer and the outbox rows it acknowledges — is written in
one ``BEGIN IMMEDIATE`` transaction, so after a crash the store is either before or
after the step, and the sync protocol (``mid`` duplicates, re-pulls from the stored
cursor) makes redoing the step harmless.

Tables: ``documents`` (type, id, version, JSON), ``outbox`` (pending mutations with their
signed bytes), ``outcomes`` (acknowledged mutations, kept for the app to show),
``deferred_removes`` (job packets the server took away while mutations for them were
still pending) and ``meta`` (device, key, tokens, cursor, mid counters).
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client_sdk.api import Tokens
from sync.wire import MutationOutcome, Op

__all__ = ["JOB_PACKET", "Document", "PageResult", "PendingMutation", "RecordedOutcome", "Store"]

JOB_PACKET = "job_packet"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB);
CREATE TABLE IF NOT EXISTS documents (
    type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, doc BLOB NOT NULL,
    PRIMARY KEY (type, id));
CREATE TABLE IF NOT EXISTS outbox (
    mid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, job_id TEXT,
    args TEXT NOT NULL, device_time TEXT NOT NULL, base_version INTEGER, raw BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS ix_outbox_job ON outbox (job_id);
CREATE TABLE IF NOT EXISTS outcomes (
    mid INTEGER PRIMARY KEY, id TEXT NOT NULL, name TEXT NOT NULL, job_id TEXT,
    status TEXT NOT NULL, code TEXT, message TEXT, flags TEXT NOT NULL, first_status TEXT,
    recorded_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deferred_removes (
    type TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (type, id));
"""


@dataclass(frozen=True, slots=True)
class PendingMutation:
    """A mutation in the outbox. ``raw`` is what is sent, byte for byte: the signed
    canonical JSON plus its ``signature``."""

    mid: int
    id: uuid.UUID
    name: str
    job_id: uuid.UUID | None
    args: dict[str, Any]
    device_time: str
    base_version: int | None
    raw: bytes


@dataclass(frozen=True, slots=True)
class RecordedOutcome:
    """What became of a mutation. ``status`` is the server's (``applied``, ``resolved``,
    ``duplicate``, ``rejected``) or ``acknowledged`` when only a pull's
    ``last_applied_mid`` said it was received (its push answer was lost)."""

    mid: int
    id: uuid.UUID
    name: str
    job_id: uuid.UUID | None
    status: str
    code: str | None
    message: str | None
    flags: list[str]
    first_status: str | None
    recorded_at: str


@dataclass(frozen=True, slots=True)
class Document:
    type: str
    id: uuid.UUID
    version: int
    doc: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PageResult:
    puts: int
    removes: int
    deferred: int
    acknowledged: int


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _uuid(text: str | None) -> uuid.UUID | None:
    return uuid.UUID(text) if text else None


class Store:
    """The local store. Safe to share between the app thread and a sync thread (one
    connection guarded by a lock). A new ``Store`` on the same file sees everything."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a mutation the technician saw queued survives a power cut, not only a crash.
        self._db.execute("PRAGMA synchronous=FULL")
        with self._tx() as db:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, begun as a writer so it never fails half-way on a lock."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    # --- meta --------------------------------------------------------------------

    def _get(self, key: str, db: sqlite3.Connection | None = None) -> Any:
        if db is not None:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        else:
            rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
            row = rows[0] if rows else None
        return row[0] if row else None

    @staticmethod
    def _set(db: sqlite3.Connection, key: str, value: Any) -> None:
        if value is None:
            db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    @property
    def device_id(self) -> uuid.UUID | None:
        return _uuid(self._get("device_id"))

    def private_key(self) -> Ed25519PrivateKey | None:
        raw = self._get("private_key")
        return Ed25519PrivateKey.from_private_bytes(bytes(raw)) if raw else None

    def save_device(self, device_id: uuid.UUID, private_key: bytes, last_applied_mid: int) -> None:
        with self._tx() as db:
            self._set(db, "device_id", str(device_id))
            self._set(db, "private_key", private_key)
            self._set(db, "last_acked_mid", last_applied_mid)

    def trace_state(self, job_id: uuid.UUID) -> tuple[uuid.UUID, int]:
        """The job's trace id and its next chunk number (a new trace the first time)."""
        raw = self._get(f"trace:{job_id}")
        if raw:
            d = msgspec.json.decode(raw)
            return uuid.UUID(d["trace_id"]), int(d["seq"])
        return uuid.uuid4(), 0

    def save_trace_state(self, job_id: uuid.UUID, trace_id: uuid.UUID, seq: int) -> None:
        with self._tx() as db:
            self._set(
                db,
                f"trace:{job_id}",
                msgspec.json.encode({"trace_id": str(trace_id), "seq": seq}).decode(),
            )

    def load_tokens(self) -> Tokens | None:
        raw = self._get("tokens")
        if not raw:
            return None
        d = msgspec.json.decode(raw)
        return Tokens(d["access_token"], d["refresh_token"], d["username"], uuid.UUID(d["user_id"]))

    def save_tokens(self, tokens: Tokens | None) -> None:
        value = None
        if tokens is not None:
            value = msgspec.json.encode(
                {
                    "access_token": tokens.access_token,
                    "refresh_token": tokens.refresh_token,
                    "username": tokens.username,
                    "user_id": str(tokens.user_id),
                }
            )
        with self._tx() as db:
            self._set(db, "tokens", value)
            if tokens is not None:
                self._set(db, "username", tokens.username)

    @property
    def username(self) -> str | None:
        value = self._get("username")
        return str(value) if value else None

    @property
    def cursor(self) -> str | None:
        value = self._get("cursor")
        return str(value) if value else None

    @property
    def last_acked_mid(self) -> int:
        return int(self._get("last_acked_mid") or 0)

    # --- documents ---------------------------------------------------------------

    def get_document(self, type_: str, id_: uuid.UUID) -> Document | None:
        rows = self._read(
            "SELECT version, doc FROM documents WHERE type = ? AND id = ?", (type_, str(id_))
        )
        if not rows:
            return None
        return Document(type_, id_, rows[0][0], msgspec.json.decode(rows[0][1]))

    def documents(self, type_: str | None = None) -> list[Document]:
        sql, params = "SELECT type, id, version, doc FROM documents", tuple[str, ...]()
        if type_ is not None:
            sql, params = sql + " WHERE type = ?", (type_,)
        return [
            Document(t, uuid.UUID(i), v, msgspec.json.decode(d))
            for t, i, v, d in self._read(sql + " ORDER BY type, id", params)
        ]

    def withdrawn(self) -> set[uuid.UUID]:
        """Job packets the server removed, kept until their pending mutations are acked."""
        return {uuid.UUID(i) for (i,) in self._read("SELECT id FROM deferred_removes")}

    # --- outbox ------------------------------------------------------------------

    def enqueue(self, build: Callable[[int], PendingMutation]) -> PendingMutation:
        """Number and write one mutation in one transaction. ``build(mid)`` makes it
        (and signs it: the ``mid`` is inside the signed bytes)."""
        with self._tx() as db:
            queued = int(self._get("last_queued_mid", db) or 0)
            acked = int(self._get("last_acked_mid", db) or 0)
            top = db.execute("SELECT COALESCE(MAX(mid), 0) FROM outbox").fetchone()[0]
            m = build(max(queued, acked, top) + 1)
            db.execute(
                "INSERT INTO outbox (mid, id, name, job_id, args, device_time, base_version, raw)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    m.mid,
                    str(m.id),
                    m.name,
                    str(m.job_id) if m.job_id else None,
                    msgspec.json.encode(m.args).decode(),
                    m.device_time,
                    m.base_version,
                    m.raw,
                ),
            )
            self._set(db, "last_queued_mid", m.mid)
        return m

    def pending(self, limit: int | None = None) -> list[PendingMutation]:
        """Pending mutations in ``mid`` order."""
        sql = "SELECT mid, id, name, job_id, args, device_time, base_version, raw FROM outbox"
        sql += " ORDER BY mid" + (f" LIMIT {int(limit)}" if limit is not None else "")
        return [
            PendingMutation(
                mid, uuid.UUID(i), name, _uuid(job), msgspec.json.decode(args), dt, base, bytes(raw)
            )
            for mid, i, name, job, args, dt, base, raw in self._read(sql)
        ]

    def pending_count(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM outbox")[0][0])

    def outcomes(self) -> list[RecordedOutcome]:
        return [
            RecordedOutcome(
                mid, uuid.UUID(i), name, _uuid(job), st, code, msg, msgspec.json.decode(fl), fs, at
            )
            for mid, i, name, job, st, code, msg, fl, fs, at in self._read(
                "SELECT mid, id, name, job_id, status, code, message, flags, first_status,"
                " recorded_at FROM outcomes ORDER BY mid"
            )
        ]

    def acknowledge(self, outcomes: Iterable[MutationOutcome], last_applied_mid: int) -> int:
        """Record a push answer: each outcome moves its mutation
        from the outbox to ``outcomes``; then everything ≤ ``last_applied_mid`` goes too,
        and deferred removes whose job has nothing pending are applied. Returns how many
        outbox rows left."""
        with self._tx() as db:
            n = 0
            for o in outcomes:
                n += self._settle(
                    db, o.mid, o.status, o.code, o.message, list(o.flags), o.first_status
                )
            n += self._ack_up_to(db, last_applied_mid)
            self._apply_deferred(db)
        return n

    @staticmethod
    def _settle(
        db: sqlite3.Connection,
        mid: int,
        status: str,
        code: str | None,
        message: str | None,
        flags: list[str],
        first_status: str | None,
    ) -> int:
        row = db.execute("SELECT id, name, job_id FROM outbox WHERE mid = ?", (mid,)).fetchone()
        if row is None:
            return 0
        db.execute(
            "INSERT OR REPLACE INTO outcomes (mid, id, name, job_id, status, code, message,"
            " flags, first_status, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                mid,
                *row,
                status,
                code,
                message,
                msgspec.json.encode(flags).decode(),
                first_status,
                _now(),
            ),
        )
        db.execute("DELETE FROM outbox WHERE mid = ?", (mid,))
        return 1

    def _ack_up_to(self, db: sqlite3.Connection, last_applied_mid: int) -> int:
        acked = max(int(self._get("last_acked_mid", db) or 0), last_applied_mid)
        self._set(db, "last_acked_mid", acked)
        n = 0
        for (mid,) in db.execute("SELECT mid FROM outbox WHERE mid <= ?", (acked,)).fetchall():
            n += self._settle(db, mid, "acknowledged", None, None, [], None)
        return n

    @staticmethod
    def _apply_deferred(db: sqlite3.Connection) -> None:
        """A deferred remove takes effect once no pending mutation names its job."""
        db.execute(
            "DELETE FROM documents WHERE (type, id) IN (SELECT d.type, d.id FROM"
            " deferred_removes d WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.job_id = d.id))"
        )
        db.execute(
            "DELETE FROM deferred_removes WHERE NOT EXISTS"
            " (SELECT 1 FROM outbox o WHERE o.job_id = deferred_removes.id)"
        )

    # --- pulls -------------------------------------------------------------------

    def apply_page(self, ops: Iterable[Op], cursor: str, last_applied_mid: int) -> PageResult:
        """Apply one pull page and advance the cursor, in one transaction. A ``remove``
        of a job packet with pending mutations is deferred (SYNC.md); a later ``put``
        of it (the job came back) cancels the deferral."""
        puts = removes = deferred = 0
        with self._tx() as db:
            for op in ops:
                key = (op.type, str(op.id))
                if op.op == "put":
                    db.execute(
                        "INSERT INTO documents (type, id, version, doc) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (type, id) DO UPDATE SET version = excluded.version,"
                        " doc = excluded.doc",
                        (*key, op.version, msgspec.json.encode(op.doc)),
                    )
                    db.execute("DELETE FROM deferred_removes WHERE type = ? AND id = ?", key)
                    puts += 1
                elif (
                    op.type == JOB_PACKET
                    and db.execute(
                        "SELECT 1 FROM outbox WHERE job_id = ? LIMIT 1", (key[1],)
                    ).fetchone()
                ):
                    db.execute(
                        "INSERT OR IGNORE INTO deferred_removes (type, id) VALUES (?, ?)", key
                    )
                    deferred += 1
                else:
                    db.execute("DELETE FROM documents WHERE type = ? AND id = ?", key)
                    removes += 1
            self._set(db, "cursor", cursor)
            acked = self._ack_up_to(db, last_applied_mid)
            self._apply_deferred(db)
        return PageResult(puts, removes, deferred, acked)

    def reset_bucket(self) -> None:
        """Forget the bucket (a ``reset`` answer): drop every document and the cursor,
        but never a pending mutation — packets of jobs that still have some are kept as
        deferred removes, undone if the new snapshot puts them again."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO deferred_removes (type, id) SELECT type, id FROM documents"
                " WHERE type = ? AND id IN (SELECT job_id FROM outbox)",
                (JOB_PACKET,),
            )
            db.execute(
                "DELETE FROM documents WHERE (type, id) NOT IN"
                " (SELECT type, id FROM deferred_removes)"
            )
            self._set(db, "cursor", None)
