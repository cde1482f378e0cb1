"""Signed checkpoints of every device's ledger head, kept outside the database.

Why: the hash chain (``sync.ledger``) shows an edit only to someone who cannot
recompute the hashes, and device signatures cover only what a phone signed. Someone with
write access to the database can still rewrite a keyless device's rows, or a row's
unsigned columns (its ``outcome``, its ``detail``), or drop a device's last rows, and
recompute every later hash and the head: the chain verifies again. A checkpoint is a
record, made earlier and kept elsewhere (the blob store: a folder or an S3 bucket, and
the log), of where every chain stood. A head a checkpoint saw must still be in the chain
at the same ``seq`` with the same hash, and since each hash covers all before it, the
whole chain up to there is pinned.

The document (JSON; the signature is over its RFC 8785 form without ``signature``)::

    {"format": "doorstep.checkpoint.v1", "written_at": "2026-03-02T01:15:00.000000Z",
     "alg": "ed25519", "key_id": "<16 hex>",
     "heads": [{"device_id": "...", "seq": 41, "mid": 40, "hash": "<64 hex>",
                "rows": 41}, ...],
     "signature": "<base64>"}

``alg`` is ``ed25519`` (the public key is enough to check it: ``doorstep ledger
public-key`` prints it) or ``hmac-sha256`` (a shared secret). ``key_id`` is the first 16
hex digits of the SHA-256 of the public key (or of the secret). Stored as
``checkpoints/<written_at>-<sha256 prefix>.json`` among the store's named objects, so
names sort by time.

What a checkpoint cannot do: show rows added after it, or survive whoever can delete
files in the store and rewrite the database. Keep the bucket versioned (or under an
object lock) and the log shipped elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.engine import Database
from server.db.models.sync import DeviceSyncState, LedgerEntry
from sync.blobs import BlobStore
from sync.canonical import canonical_json
from sync.ledger import ChainReport, CheckpointMismatch

__all__ = [
    "FORMAT",
    "PREFIX",
    "CheckpointCheck",
    "CheckpointKey",
    "Head",
    "Loaded",
    "attach",
    "compare",
    "load_checkpoints",
    "make_document",
    "write_checkpoint",
]

log = logging.getLogger("doorstep.ledger")

FORMAT = "doorstep.checkpoint.v1"
PREFIX = "checkpoints/"
_IN_BATCH = 500


def _key_id(material: bytes) -> str:
    return hashlib.sha256(material).hexdigest()[:16]


def _b64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass
class CheckpointKey:
    """Signs checkpoints (when it holds a private key or secret) and checks them
    against every trusted key."""

    alg: str | None = None
    """The algorithm new checkpoints are signed with; None: this key only checks."""
    private: Ed25519PrivateKey | None = None
    secret: bytes | None = None
    public_keys: dict[str, bytes] = field(default_factory=dict)
    """Trusted Ed25519 public keys (raw 32 bytes) by key id."""

    @classmethod
    def from_parts(
        cls, alg: str | None, key: bytes | None, trusted: Iterable[str] = ()
    ) -> CheckpointKey:
        """From ``Settings.checkpoint_key()`` and base64 public keys trusted besides.
        ``ValueError`` for a trusted key that is not base64 of 32 bytes."""
        me = cls(alg=alg)
        if alg == "ed25519" and key is not None:
            me.private = Ed25519PrivateKey.from_private_bytes(key)
            me.trust(me.public_key_raw())
        elif alg == "hmac-sha256" and key is not None:
            me.secret = key
        elif alg is not None:
            raise ValueError(f"unknown checkpoint algorithm {alg!r}")
        for text in trusted:
            if text.strip():
                me.trust(_public_raw(text.strip()))
        return me

    def trust(self, raw: bytes) -> None:
        Ed25519PublicKey.from_public_bytes(raw)  # ValueError when it is not a key
        self.public_keys[_key_id(raw)] = raw

    def public_key_raw(self) -> bytes:
        if self.private is None:
            raise ValueError("checkpoints are not signed with an Ed25519 key here")
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def public_key(self) -> str:
        """The base64 of the raw Ed25519 public key (what an auditor is given)."""
        return base64.b64encode(self.public_key_raw()).decode("ascii")

    @property
    def key_id(self) -> str:
        if self.private is not None:
            return _key_id(self.public_key_raw())
        if self.secret is not None:
            return _key_id(self.secret)
        raise ValueError("this checkpoint key cannot sign")

    def sign(self, body: dict[str, Any]) -> str:
        data = canonical_json(body)
        if self.private is not None:
            return base64.b64encode(self.private.sign(data)).decode("ascii")
        if self.secret is not None:
            return base64.b64encode(hmac.digest(self.secret, data, "sha256")).decode("ascii")
        raise ValueError("this checkpoint key cannot sign")

    def problem(self, document: dict[str, Any]) -> str | None:
        """Why ``document``'s signature cannot be trusted, or None when it verifies."""
        alg, key_id, signature = (document.get(k) for k in ("alg", "key_id", "signature"))
        if not isinstance(signature, str) or not isinstance(key_id, str):
            return "no signature"
        try:
            sig = _b64(signature)
            data = canonical_json({k: v for k, v in document.items() if k != "signature"})
        except (binascii.Error, ValueError):
            return "the signature or the document is malformed"
        if alg == "ed25519":
            raw = self.public_keys.get(key_id)
            if raw is None:
                return f"signed by key {key_id}, which is not trusted here"
            try:
                Ed25519PublicKey.from_public_bytes(raw).verify(sig, data)
            except InvalidSignature:
                return "the signature does not verify: the checkpoint was altered"
            return None
        if alg == "hmac-sha256":
            if self.secret is None or _key_id(self.secret) != key_id:
                return f"signed with HMAC key {key_id}, which is not configured here"
            if not hmac.compare_digest(hmac.digest(self.secret, data, "sha256"), sig):
                return "the signature does not verify: the checkpoint was altered"
            return None
        return f"unknown algorithm {alg!r}"


def _public_raw(text: str) -> bytes:
    try:
        raw = _b64(text)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not a base64 public key: {text!r}") from exc
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return raw


class Head(msgspec.Struct):
    """Where one device's chain stood when a checkpoint was written."""

    device_id: uuid.UUID
    seq: int
    """The head's ``seq`` (the chain's length)."""
    mid: int | None
    """The head row's ``mid`` (None for a row without one)."""
    hash: str
    """The head row's hash."""
    rows: int
    """Ledger rows the device had."""


class CheckpointCheck(msgspec.Struct):
    """One stored checkpoint, and whether its signature holds."""

    name: str
    written_at: datetime | None
    devices: int
    valid: bool
    problem: str | None = None


@dataclass
class Loaded:
    name: str
    document: dict[str, Any] | None
    heads: list[Head]
    written_at: datetime | None
    problem: str | None

    def check(self) -> CheckpointCheck:
        return CheckpointCheck(
            self.name, self.written_at, len(self.heads), self.problem is None, self.problem
        )


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


async def _heads(session: AsyncSession) -> list[Head]:
    counts = dict(
        (
            await session.execute(
                select(LedgerEntry.device_id, func.count()).group_by(LedgerEntry.device_id)
            )
        ).all()
    )
    rows = await session.execute(
        select(
            DeviceSyncState.device_id,
            DeviceSyncState.ledger_seq,
            DeviceSyncState.ledger_head,
            LedgerEntry.mid,
        )
        .outerjoin(
            LedgerEntry,
            and_(
                LedgerEntry.device_id == DeviceSyncState.device_id,
                LedgerEntry.seq == DeviceSyncState.ledger_seq,
            ),
        )
        .where(DeviceSyncState.ledger_seq > 0)
        .order_by(DeviceSyncState.device_id)
    )
    return [
        Head(device_id=d, seq=int(seq), mid=mid, hash=str(head), rows=int(counts.get(d, 0)))
        for d, seq, head, mid in rows.all()
    ]


def make_document(heads: Sequence[Head], key: CheckpointKey, now: datetime) -> dict[str, Any]:
    """The signed checkpoint document of ``heads``."""
    body: dict[str, Any] = {
        "format": FORMAT,
        "written_at": _utc(now),
        "alg": key.alg,
        "key_id": key.key_id,
        "heads": msgspec.to_builtins(list(heads)),
    }
    return {**body, "signature": key.sign(body)}


async def write_checkpoint(
    db: Database, store: BlobStore, key: CheckpointKey, now: datetime
) -> tuple[str, dict[str, Any]]:
    """Read every device's head, sign, store it and log it; returns (name, document).
    The store's errors propagate (the log line is written first, so it is never lost
    with them)."""
    async with db.reader() as session:
        heads = await _heads(session)
    document = make_document(heads, key, now)
    data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    digest = hashlib.sha256(data).hexdigest()
    stamp = now.astimezone(UTC).strftime("%Y%m%dt%H%M%S%fz")
    name = f"{PREFIX}{stamp}-{digest[:12]}.json"
    log.info(
        "ledger checkpoint %s (%d devices, sha256 %s): %s",
        name,
        len(heads),
        digest,
        data.decode(),
    )
    await store.put_named(name, data)
    return name, document


def _parse(name: str, data: bytes, key: CheckpointKey) -> Loaded:
    try:
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} document")
        heads = msgspec.convert(document.get("heads"), list[Head])
        written = msgspec.convert(document.get("written_at"), datetime)
    except (ValueError, msgspec.ValidationError) as exc:
        return Loaded(name, None, [], None, f"unreadable: {exc}")
    return Loaded(name, document, heads, written, key.problem(document))


async def load_checkpoints(store: BlobStore, key: CheckpointKey) -> list[Loaded]:
    """Every stored checkpoint, oldest first, each with why it cannot be trusted (or
    None)."""
    loaded = []
    for name in await store.list_named(PREFIX):
        data = await store.get_named(name)
        if data is not None:
            loaded.append(_parse(name, data, key))
    return loaded


async def compare(
    session: AsyncSession, checkpoints: Sequence[Loaded], devices: set[uuid.UUID] | None = None
) -> tuple[dict[uuid.UUID, list[CheckpointMismatch]], dict[uuid.UUID, int]]:
    """Compare the chains with the heads of the trusted checkpoints (of ``devices``, or
    of all). Returns the mismatches and how many checkpoints saw each device."""
    wanted: dict[uuid.UUID, dict[int, list[tuple[str, Loaded]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    seen: dict[uuid.UUID, int] = defaultdict(int)
    for cp in checkpoints:
        if cp.problem is not None:
            continue
        for head in cp.heads:
            if devices is None or head.device_id in devices:
                wanted[head.device_id][head.seq].append((head.hash, cp))
                seen[head.device_id] += 1
    found: dict[uuid.UUID, list[CheckpointMismatch]] = defaultdict(list)
    for device_id, by_seq in wanted.items():
        seqs = sorted(by_seq)
        stored: dict[int, str] = {}
        for at in range(0, len(seqs), _IN_BATCH):
            batch = seqs[at : at + _IN_BATCH]
            rows = await session.execute(
                select(LedgerEntry.seq, LedgerEntry.hash).where(
                    LedgerEntry.device_id == device_id, LedgerEntry.seq.in_(batch)
                )
            )
            stored.update((int(s), str(h)) for s, h in rows.all())
        for seq in seqs:
            for expected, cp in by_seq[seq]:
                now_hash = stored.get(seq)
                if now_hash == expected:
                    continue
                reason: Literal["head_missing", "head_changed"]
                if now_hash is None:
                    reason = "head_missing"
                    message = f"checkpoint {cp.name} saw seq {seq}; the chain has no such row"
                else:
                    reason = "head_changed"
                    message = (
                        f"checkpoint {cp.name} saw seq {seq} with hash {expected[:12]}…, the "
                        f"chain has {now_hash[:12]}…: the chain was rewritten"
                    )
                found[device_id].append(
                    CheckpointMismatch(
                        checkpoint=cp.name,
                        written_at=cp.written_at,
                        reason=reason,
                        seq=seq,
                        expected_hash=expected,
                        found_hash=now_hash,
                        message=message,
                    )
                )
    return dict(found), dict(seen)


async def attach(
    session: AsyncSession,
    reports: list[ChainReport],
    checkpoints: Sequence[Loaded],
    devices: set[uuid.UUID] | None = None,
) -> list[ChainReport]:
    """``reports`` with each device's checkpoint comparison filled in, plus a report for
    every device a checkpoint saw that the database no longer knows at all. A
    checkpoint that cannot be trusted is named in every report (``checkpoint_invalid``):
    none of the chains is checked against it."""
    mismatches, seen = await compare(session, checkpoints, devices)
    by_device = {r.device_id: r for r in reports}
    for device_id in sorted(set(mismatches) | set(seen)):
        if device_id not in by_device:
            report = ChainReport(device_id=device_id, rows=0, ok=True)
            by_device[device_id] = report
            reports.append(report)
    invalid = [cp for cp in checkpoints if cp.problem is not None]
    for report in reports:
        report.checkpoints = seen.get(report.device_id, 0)
        report.checkpoint_mismatches = list(mismatches.get(report.device_id, ()))
        report.checkpoint_mismatches += [
            CheckpointMismatch(
                checkpoint=cp.name,
                written_at=cp.written_at,
                reason="checkpoint_invalid",
                message=f"checkpoint {cp.name} cannot be trusted: {cp.problem}",
            )
            for cp in invalid
        ]
    return reports
