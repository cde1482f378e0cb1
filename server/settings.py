"""Settings, read once from ``DOORSTEP_*`` environment variables and passed to ``create_app``.

Nothing here is a module-level global: tests build a ``Settings`` of their own.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "DOORSTEP_"
BLOB_STORES = ("filesystem", "s3")


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("data")
    """Folder for the embedded database, the generated signing secret and blobs."""

    database_url: str = ""
    """SQLAlchemy async URL. Empty: an SQLite file ``doorstep.db`` in ``data_dir``.
    PostgreSQL: ``postgresql+asyncpg://user@host:5432/db``."""

    blob_dir: Path | None = None
    """Folder for uploaded photos and signatures. Empty: ``data_dir/blobs``."""

    blob_store: str = "filesystem"
    """Where photos and signatures live: ``filesystem`` (``blob_dir``: one machine) or
    ``s3`` (an S3-compatible bucket that every app node shares; needs ``s3_bucket``)."""

    s3_bucket: str = ""
    """The bucket of ``blob_store=s3`` (it must exist)."""

    s3_endpoint_url: str = ""
    """S3 API address for MinIO, Ceph, R2 and the like (path-style). Empty: AWS S3."""

    s3_region: str = ""
    """The bucket's region. Empty: from the AWS configuration (``AWS_REGION``, ...)."""

    s3_prefix: str = ""
    """Key prefix, so several deployments can share one bucket (e.g. ``doorstep/prod``)."""

    s3_access_key_id: str = ""
    """Access key. Empty: boto3's standard chain (``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``~/.aws``, instance or task roles)."""

    s3_secret_access_key: str = field(default="", repr=False)
    """Secret key, set together with ``s3_access_key_id``."""

    secret_key: str = ""
    """HMAC key for access tokens. Empty: generated on first run and kept in
    ``data_dir/secret.key`` (every app node must share it: set it explicitly when
    running more than one)."""

    access_token_ttl: int = 15 * 60
    """Lifetime of an access token, seconds."""

    refresh_token_ttl: int = 30 * 24 * 3600
    """Lifetime of a refresh token, seconds. A technician may stay offline for days."""

    host: str = "127.0.0.1"
    """Address ``doorstep serve`` binds to."""

    port: int = 8000
    """Port ``doorstep serve`` binds to."""

    listen_backlog: int = 4096
    """Connections the kernel queues for ``doorstep serve`` before it accepts them: sized
    for the 8 am wave (a full queue drops SYNs, which a phone only retries after 1 s, 3 s,
    7 s…). The kernel caps it at ``net.core.somaxconn``."""

    keep_alive_s: int = 75
    """Seconds an idle client connection stays open. Phones poll on one connection, and a
    balancer's pooled connections should be dropped by the balancer first (keep its
    upstream idle timeout below this)."""

    blob_max_bytes: int = 25 * 1024 * 1024
    """Largest photo or signature a phone may upload, bytes."""

    blob_max_chunk_bytes: int = 8 * 1024 * 1024
    """Largest single upload chunk, bytes."""

    blob_content_types: str = "image/jpeg,image/png,image/webp"
    """Blob types accepted, comma-separated (checked against the bytes, not only the
    header)."""

    blob_upload_expiry_hours: int = 48
    """An upload untouched this long is abandoned: its partial bytes are deleted."""

    redis_url: str = ""
    """Redis URL for cross-node notifications; empty: in-process only."""

    metrics_token: str = field(default="", repr=False)
    """Bearer token a Prometheus scraper sends to ``GET /metrics``; empty: metrics off."""

    login_max_failures: int = 5
    """Failed logins per account (and, times four, per client address) allowed within
    ``login_window``, before further attempts are refused with 429."""

    login_window: int = 15 * 60
    """Window for counting failed logins, seconds."""

    rate_limit_pull: int = 1200
    """Pulls per minute one device may make (a token bucket: also the burst after a
    quiet spell); beyond it 429 ``rate_limited`` with Retry-After. 0: no limit. Shared
    by every node through Redis when ``redis_url`` is set."""

    rate_limit_push: int = 1200
    """Pushes per minute one device may make; like ``rate_limit_pull``."""

    rate_limit_upload: int = 1200
    """Blob chunks per minute one device may send; like ``rate_limit_pull``."""

    upload_concurrency: int = 4
    """Blob chunks one device may be sending at the same time (per node); more answer
    429 ``too_many_uploads``. 0: no limit."""

    upload_chunk_timeout: int = 120
    """Seconds one blob chunk may take to arrive; a slower one is cut off with 408
    ``upload_timeout`` (nothing of it is kept) and frees its slot."""

    request_max_bytes: int = 10 * 1024 * 1024
    """Largest request body, bytes (413 ``request_too_large``); blob chunks have
    ``blob_max_chunk_bytes``, and the larger of the two applies to them."""

    sqlite_busy_timeout_ms: int = 15_000
    """SQLite: how long a writer waits for another's lock before the request answers
    503 ``retry_later`` (the phone keeps its work and resends)."""

    admission_max_loop_lag_ms: int = 250
    """Admission control (``server/admission.py``): while the event loop runs more than
    this many milliseconds late, the phones' sync requests (``/sync/v1/…`` but the event
    stream) are answered at once with 503 ``retry_later`` and ``Retry-After`` instead of
    queueing. Health checks, ``/metrics``, logins and the console are never shed. 0: off."""

    admission_max_push_queue: int = 0
    """Pushes waiting for the writer on this node (``push_concurrency`` are being
    applied) from which a new push is answered 503 ``retry_later`` before its body is
    read. 0 (the default): no limit, pushes wait their turn. Shedding pushes is no cure:
    the writer's throughput is unchanged, and a shed push comes back later than its turn
    (in the full benchmark's reconnect storm a limit of 64 took the drain from 29 to
    100 s and made 30 phones give up; docs/performance.md, 2026-12-03). For a node whose
    phones must hear "busy" rather than wait, e.g. behind a short proxy timeout."""

    admission_max_in_flight: int = 0
    """Sync requests in flight on this node from which a new one is answered 503
    ``retry_later``. 0 (the default): no limit — the loop lag is the better measure, as
    it counts what the requests cost, not how many are open."""

    admission_retry_after: int = 1
    """The ``Retry-After`` of a shed request, seconds: drawn between this and twice it,
    so the phones shed together do not all come back in the same second."""

    push_concurrency: int = 0
    """Pushes one node applies at the same time; the next wait in arrival order (and a
    device's second push waits for its first). 0: 2 on SQLite (one writer at a time
    anyway: the second prepares while the first commits), 8 on PostgreSQL."""

    sla_contact_minutes: int = 30
    """Urgent jobs: the customer must be contacted within this many minutes."""

    sla_onsite_minutes: int = 120
    """Urgent jobs: a technician must be on site within this many minutes."""

    dispatch_default_jobs_per_window: int = 0
    """How many overlapping jobs a technician without a calendar may take (0, the
    default: no limit, no conflict check for them; a technician with a calendar is always
    checked against it)."""

    password_time_cost: int = 2
    """Argon2id iterations."""

    password_memory_kib: int = 19 * 1024
    """Argon2id memory, KiB (OWASP minimum: 19 MiB)."""

    outbox_interval: int = 5
    """Seconds between sends of queued customer messages; 0 turns the sender off (run
    it on one node only, or on all: rows are claimed, never sent twice)."""

    packet_retention_hours: int = 24
    """Hours a closed job's packet (with the customer's contact details) stays on the
    technician's phone before a ``remove`` takes it off."""

    bucket_log_keep: int = 100_000
    """Operations kept per bucket log; a phone whose cursor is older gets a reset."""

    maintenance_interval: int = 60
    """Seconds between maintenance rounds (expire closed packets, compact logs); 0: off."""

    maintenance_jobs_interval: int = 3600
    """Seconds between runs of the maintenance plans (jobs created ahead of time for
    recurring services), within the maintenance rounds; 0: off (``doorstep
    maintenance-jobs`` from cron instead)."""

    callback_not_home_minutes: int = 120
    """A "customer not home" claim must be called back within this (and before the job's
    next appointment)."""

    callback_retry_minutes: str = "30,120,1200"
    """Waits between calls to an unreachable customer; one more failed call than listed
    closes the callback as unreachable."""

    callback_hold_minutes: int = 30
    """How long a taken callback stays with its auditor."""

    sms_gateway_secret: str = ""
    """Shared secret of the SMS gateway posting customers' replies to ``/sms/inbound``
    (HMAC-SHA256 of the body in ``X-Doorstep-Signature``); empty: the endpoint is off."""

    sms_gateway_url: str = ""
    """The brand's SMS platform: customer messages are POSTed here as signed JSON (see
    docs/sms-gateway.md). Empty: messages are kept and logged (status ``logged``), not
    sent. Needs ``sms_gateway_secret``."""

    sms_gateway_timeout: int = 10
    """Seconds one post to the SMS gateway may take; slower counts as a failed try."""

    sms_receipt_url: str = ""
    """Our ``/sms/receipts`` address as the gateway reaches it, sent with every message
    (``receipt_url``); empty: the gateway is configured with it out of band."""

    sms_max_attempts: int = 6
    """Tries per message before it goes to the dead letters (the desk can retry it)."""

    sms_retry_seconds: int = 30
    """Wait after the first failed try; it doubles after each further one (at most an
    hour)."""

    call_records_secret: str = ""
    """Shared secret of the carrier's number-protection service posting call records to
    ``/call-records/inbound`` (HMAC-SHA256 of ``timestamp.body`` in
    ``X-Doorstep-Signature``); empty: the endpoint is off and the carrier feature is
    neutral."""

    call_records_window_s: int = 300
    """How far ``X-Doorstep-Timestamp`` may be from the server's clock (replay window)."""

    ledger_checkpoint_interval: int = 3600
    """Seconds between signed checkpoints of every device's ledger head, written to the
    blob store (``named/checkpoints/``) and to the log; 0: none are written on a timer
    (``doorstep ledger checkpoint`` still writes one)."""

    ledger_checkpoint_key: str = field(default="", repr=False)
    """Ed25519 private key signing the checkpoints: base64 of its 32 raw bytes. Empty
    (and no ``ledger_checkpoint_hmac_key``): generated on first use and kept in
    ``data_dir/checkpoint.key`` (every node must share it: set it explicitly when
    running more than one). ``doorstep ledger public-key`` prints the public half, all
    an auditor needs to check a checkpoint."""

    ledger_checkpoint_hmac_key: str = field(default="", repr=False)
    """A shared secret to sign checkpoints with HMAC-SHA256 instead, when no Ed25519 key
    is set (checking them then needs the secret too)."""

    ledger_checkpoint_public_keys: str = ""
    """Further Ed25519 public keys (base64, comma-separated) whose checkpoints are
    trusted: the keys used before a rotation."""

    public_url: str = ""
    """This server's address as customers reach it (``https://service.example.com``):
    the customer page's link in booking messages is ``<public_url>/c/<token>``. Empty: the
    link is relative (``/c/<token>``)."""

    customer_link_days: int = 30
    """How long a customer page link works after it is made (booking or desk)."""

    rate_limit_customer_page: int = 30
    """Customer page requests per minute per link, and 4 times that per address, before 429 (0: off)."""

    sql_echo: bool = False
    """Log every SQL statement."""

    debug: bool = False
    """Litestar debug mode (tracebacks in responses: never in production)."""

    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form options for experiments; not read by the core."""

    def __post_init__(self) -> None:
        """Refuse a configuration that cannot work, at startup and by name."""
        if self.blob_store not in BLOB_STORES:
            raise ValueError(
                f"{ENV_PREFIX}BLOB_STORE: {self.blob_store!r} is not one of "
                f"{', '.join(BLOB_STORES)}"
            )
        if self.blob_store == "s3" and not self.s3_bucket:
            raise ValueError(f"{ENV_PREFIX}BLOB_STORE=s3 needs {ENV_PREFIX}S3_BUCKET")
        if self.sms_gateway_url and not self.sms_gateway_secret:
            raise ValueError(
                f"{ENV_PREFIX}SMS_GATEWAY_URL needs {ENV_PREFIX}SMS_GATEWAY_SECRET "
                "(every message is signed with it)"
            )
        if bool(self.s3_access_key_id) != bool(self.s3_secret_access_key):
            raise ValueError(
                f"{ENV_PREFIX}S3_ACCESS_KEY_ID and {ENV_PREFIX}S3_SECRET_ACCESS_KEY go "
                "together: set both, or neither to use the standard AWS credential chain"
            )

    # --- derived -------------------------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'doorstep.db').resolve()}"

    @property
    def resolved_blob_dir(self) -> Path:
        return self.blob_dir if self.blob_dir is not None else self.data_dir / "blobs"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def signing_key(self) -> str:
        """The configured secret, or the one kept in the data folder (made on first use)."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # O_EXCL: if two processes race on first run, one wins and the other reads it.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key

    def checkpoint_key(self, create: bool = True) -> tuple[str | None, bytes | None]:
        """``(algorithm, key)`` signing ledger checkpoints: ``("ed25519", 32-byte
        private key)`` from ``ledger_checkpoint_key``, else ``("hmac-sha256", secret)``
        from ``ledger_checkpoint_hmac_key``, else an Ed25519 key kept in
        ``data_dir/checkpoint.key`` (made on first use; without ``create``, ``(None,
        None)`` when there is none yet). ``ValueError`` for a key that is not base64 of
        32 bytes."""
        if self.ledger_checkpoint_key:
            return "ed25519", _key32("LEDGER_CHECKPOINT_KEY", self.ledger_checkpoint_key)
        if self.ledger_checkpoint_hmac_key:
            return "hmac-sha256", self.ledger_checkpoint_hmac_key.encode()
        path = self.data_dir / "checkpoint.key"
        if not path.exists():
            if not create:
                return None, None
            self.data_dir.mkdir(parents=True, exist_ok=True)
            key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(key)
        return "ed25519", _key32(str(path), path.read_text().strip())

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``DOORSTEP_<FIELD>`` variables (upper case)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, f.type, raw)
        return cls(**values)


def _key32(where: str, text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(f"{where}: not the base64 of a 32-byte key")
    return raw


def _parse(name: str, type_: Any, raw: str) -> Any:
    t = str(type_)
    try:
        if t == "bool":
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if t == "int":
            return int(raw)
        if t.startswith("Path"):
            return Path(raw)
    except ValueError as exc:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}: cannot read {raw!r} as {t}") from exc
    return raw
