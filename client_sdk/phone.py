"""``Phone``: what a technician's app calls. Every action only writes to the outbox, so
it works offline; ``sync()`` (or ``sync_forever``) delivers it later.

Why actions are checked locally first: a phone should refuse at once what can never
work (a job it does not hold, arguments out of range) rather than queue a mutation the
server will reject hours later when the technician has left. The values are checked by
the server's own rules (``sync.validation``, shared, not copied): what this client
queues is never rejected for a NUL, a time without an offset or out of range, an
unknown or mistyped argument (``InvalidMutation`` says which). What only the server can
judge (a transition made illegal by a desk change meanwhile) is left to the server, and
its outcome shows up in ``outcomes()``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec

from client_sdk.api import ApiClient, InvalidMutation, NotEnrolled, TokenPair
from client_sdk.store import JOB_PACKET, PendingMutation, RecordedOutcome, Store
from client_sdk.sync_loop import Backoff, SyncEngine, SyncReport
from client_sdk.trace import TraceBuffer, sampling_of
from sync.evidence_wire import EVIDENCE_ARGS
from sync.packet_types import CalendarDoc, JobPacket, KbArticleDoc
from sync.signing import sign
from sync.trace_wire import TracePoint, encode_points
from sync.validation import Violation, decode_args
from sync.vocabulary import UnableReason
from sync.wire import MUTATION_ARGS, EmptyArgs

__all__ = ["ACTIONS", "APP_VERSION", "Phone"]

APP_VERSION = "0.1.0"
KB_ARTICLE = "kb_article"
CALENDAR = "calendar"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _window_key(p: JobPacket) -> tuple[bool, datetime, str]:
    start = p.job.window_start or datetime.max.replace(tzinfo=UTC)
    return (p.job.window_start is None, start, p.job.number)


class Phone:
    """A technician's phone over a local store file and a server.

    ``http`` reuses an ``httpx.Client`` (e.g. Litestar's ``TestClient``); ``transport``
    builds one over a custom transport; otherwise ``base_url`` is used."""

    def __init__(
        self,
        store_path: str | Path,
        base_url: str = "",
        *,
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 15.0,
        label: str = "",
        platform: str = "python",
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.store = Store(store_path)
        self.api = ApiClient(
            base_url, credentials=self.store, http=http, transport=transport, timeout=timeout
        )
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.engine = SyncEngine(
            self.store, self.api, backoff=backoff, clock=lambda: self.clock(), **extra
        )
        self.label = label
        self.platform = platform
        self.clock = clock
        self._traces: dict[uuid.UUID, TraceBuffer] = {}

    def close(self) -> None:
        self.api.close()
        self.store.close()

    def __enter__(self) -> Phone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- account and device --------------------------------------------------------

    @property
    def device_id(self) -> uuid.UUID | None:
        return self.store.device_id

    @property
    def logged_in(self) -> bool:
        return self.store.load_tokens() is not None

    def login(self, username: str, password: str) -> TokenPair:
        """Log in. Once enrolled, the tokens are bound to this device, so revoking the
        device (a lost phone) ends them: log in again after ``enroll()``."""
        return self.api.login(username, password, self.store.device_id)

    def logout(self) -> None:
        self.api.logout()

    def enroll(self) -> uuid.UUID:
        """Register this phone and its signing key (once: a store already enrolled keeps
        its device, because its outbox is numbered for that device)."""
        if self.store.device_id is not None and self.store.private_key() is not None:
            return self.store.device_id
        label = self.label or f"client_sdk ({self.store.username or 'technician'})"
        answer = self.api.enroll(label=label, platform=self.platform, app_version=APP_VERSION)
        return answer.device_id

    # --- syncing -------------------------------------------------------------------

    def sync(self) -> SyncReport:
        return self.engine.sync_once()

    def run_until_synced(self, max_attempts: int = 5) -> SyncReport:
        return self.engine.run_until_synced(max_attempts)

    def sync_forever(self, stop_event: threading.Event, interval: float = 30.0) -> None:
        self.engine.sync_forever(stop_event, interval)

    # --- what the phone holds ------------------------------------------------------

    def jobs(self) -> list[JobPacket]:
        """The job packets held, in appointment-window order. Jobs the server took away
        (removal waiting on pending mutations) are left out: see ``withdrawn_jobs``."""
        gone = self.store.withdrawn()
        packets = [
            msgspec.convert(d.doc, JobPacket)
            for d in self.store.documents(JOB_PACKET)
            if d.id not in gone
        ]
        return sorted(packets, key=_window_key)

    def job(self, job_id: uuid.UUID | str) -> JobPacket | None:
        doc = self.store.get_document(JOB_PACKET, uuid.UUID(str(job_id)))
        return msgspec.convert(doc.doc, JobPacket) if doc else None

    def withdrawn_jobs(self) -> set[uuid.UUID]:
        """Jobs reassigned or closed on the server whose packet stays only until this
        phone's pending mutations for them are acknowledged."""
        return self.store.withdrawn()

    def kb_article(self, article_id: uuid.UUID | str) -> KbArticleDoc | None:
        doc = self.store.get_document(KB_ARTICLE, uuid.UUID(str(article_id)))
        return msgspec.convert(doc.doc, KbArticleDoc) if doc else None

    def calendar(self, technician_id: uuid.UUID | str) -> CalendarDoc | None:
        """The technician's own working hours, leave and holidays (``calendar`` document,
        keyed by their user id); None until a dispatcher gives them hours."""
        doc = self.store.get_document(CALENDAR, uuid.UUID(str(technician_id)))
        return msgspec.convert(doc.doc, CalendarDoc) if doc else None

    def pending(self) -> list[PendingMutation]:
        return self.store.pending()

    def outcomes(self) -> list[RecordedOutcome]:
        return self.store.outcomes()

    # --- actions (one per mutation in sync.wire.MUTATION_ARGS) ---------------------

    def acknowledge(self, job_id: uuid.UUID | str) -> PendingMutation:
        return self._queue("job.acknowledge", job_id, EmptyArgs())

    def en_route(self, job_id: uuid.UUID | str, eta: datetime | None = None) -> PendingMutation:
        return self._queue("job.en_route", job_id, {"eta": eta})

    def check_in(
        self,
        job_id: uuid.UUID | str,
        latitude: float | None = None,
        longitude: float | None = None,
        accuracy_m: float | None = None,
        *,
        fix_time: datetime | None = None,
        location_provider: str | None = None,
        mock_location: bool = False,
        checkin_id: uuid.UUID | None = None,
    ) -> PendingMutation:
        args = _fix(latitude, longitude, accuracy_m, fix_time, location_provider, mock_location)
        return self._queue(
            "job.check_in", job_id, {**args, "checkin_id": checkin_id or uuid.uuid4()}
        )

    def start_work(self, job_id: uuid.UUID | str) -> PendingMutation:
        return self._queue("job.start_work", job_id, EmptyArgs())

    def note(
        self, job_id: uuid.UUID | str, text: str, *, note_id: uuid.UUID | None = None
    ) -> PendingMutation:
        return self._queue("job.note", job_id, {"note_id": note_id or uuid.uuid4(), "text": text})

    def pause(self, job_id: uuid.UUID | str, reason: str = "") -> PendingMutation:
        return self._queue("job.pause", job_id, {"reason": reason})

    def complete(self, job_id: uuid.UUID | str, summary: str = "") -> PendingMutation:
        return self._queue("job.complete", job_id, {"summary": summary})

    def unable_to_complete(
        self, job_id: uuid.UUID | str, reason: UnableReason | str, note: str = ""
    ) -> PendingMutation:
        return self._queue("job.unable_to_complete", job_id, {"reason": reason, "note": note})

    def request_reschedule(
        self,
        job_id: uuid.UUID | str,
        reason: str = "",
        preferred_start: datetime | None = None,
        preferred_end: datetime | None = None,
    ) -> PendingMutation:
        args = {
            "reason": reason,
            "preferred_start": preferred_start,
            "preferred_end": preferred_end,
        }
        return self._queue("job.request_reschedule", job_id, args)

    def set_serial(
        self, job_id: uuid.UUID | str, serial: str, appliance_id: uuid.UUID | None = None
    ) -> PendingMutation:
        """Set the serial of the job's appliance (the one in the packet by default)."""
        if appliance_id is None:
            appliance = self._held(job_id).get("appliance")
            if not appliance:
                raise ValueError("this job has no appliance to set a serial on")
            appliance_id = uuid.UUID(appliance["id"])
        return self._queue(
            "appliance.set_serial", job_id, {"appliance_id": appliance_id, "serial": serial}
        )

    # --- field evidence (sync.evidence_wire.EVIDENCE_ARGS) ---------------------------

    def call_attempt(
        self,
        job_id: uuid.UUID | str,
        started_at: datetime,
        outcome: str,
        duration_s: int = 0,
        *,
        channel: str = "call",
        call_id: uuid.UUID | None = None,
    ) -> PendingMutation:
        """A call (or message) to the customer: ``answered``, ``no_answer``, ``busy`` or
        ``unreachable_number``."""
        args = {
            "call_id": call_id or uuid.uuid4(),
            "started_at": started_at,
            "outcome": outcome,
            "duration_s": duration_s,
            "channel": channel,
        }
        return self._queue("job.call_attempt", job_id, args)

    # --- the location trace (sync.trace_wire) --------------------------------------

    def record_location(
        self,
        job_id: uuid.UUID | str,
        at: datetime,
        latitude: float,
        longitude: float,
        accuracy_m: float,
        *,
        speed_mps: float | None = None,
        mock: bool = False,
    ) -> bool:
        """Offer one fix to the job's trace. Kept if the packet's sampling
        (``location_trace``) wants it; a full or old enough buffer is queued at once as a
        ``job.location_trace`` chunk. Returns whether the fix was kept."""
        jid = uuid.UUID(str(job_id))
        buffer = self._traces.get(jid)
        if buffer is None:
            buffer = self._traces[jid] = TraceBuffer(sampling_of(self._held(jid)))
        if at.tzinfo is None:  # the server cannot guess the zone: what it would answer
            raise InvalidMutation(
                "job.location_trace", "timestamp_without_offset", "at has no UTC offset", "at"
            )
        point = TracePoint(at, latitude, longitude, accuracy_m, speed_mps, mock)
        kept = buffer.offer(point)
        if kept and buffer.due():
            self.flush_trace(jid)
        return kept

    def flush_trace(self, job_id: uuid.UUID | str, *, last: bool = False) -> list[PendingMutation]:
        """Queue the buffered points of the job's trace (``last``: the trace ends here,
        e.g. at the claim)."""
        jid = uuid.UUID(str(job_id))
        buffer = self._traces.get(jid)
        if buffer is None or not buffer.points:
            return []
        points, buffer.points = buffer.points, []
        return self.location_trace(jid, points, last=last, chunk_size=buffer.chunk_size)

    def location_trace(
        self,
        job_id: uuid.UUID | str,
        points: Iterable[TracePoint],
        *,
        last: bool = False,
        chunk_size: int | None = None,
    ) -> list[PendingMutation]:
        """Queue ``points`` (time order) as ``job.location_trace`` chunks of the job's
        trace, without sampling. The trace id and next chunk number are kept in the store."""
        jid = uuid.UUID(str(job_id))
        pts = list(points)
        size = chunk_size or int(sampling_of(self._held(jid))["max_points_per_chunk"])
        trace_id, seq = self.store.trace_state(jid)
        out: list[PendingMutation] = []
        for i in range(0, len(pts), size):
            part = pts[i : i + size]
            final = last and i + size >= len(pts)
            out.append(
                self._queue(
                    "job.location_trace", jid, encode_points(trace_id, seq, part, last=final)
                )
            )
            seq += 1
            self.store.save_trace_state(jid, trace_id, seq)
        return out

    def check_out(
        self,
        job_id: uuid.UUID | str,
        latitude: float | None = None,
        longitude: float | None = None,
        accuracy_m: float | None = None,
        *,
        fix_time: datetime | None = None,
        location_provider: str | None = None,
        mock_location: bool = False,
    ) -> PendingMutation:
        args = _fix(latitude, longitude, accuracy_m, fix_time, location_provider, mock_location)
        return self._queue("job.check_out", job_id, {**args, "checkin_id": uuid.uuid4()})

    def photo(
        self, job_id: uuid.UUID | str, sha256: str, kind: str, content_type: str = "image/jpeg"
    ) -> PendingMutation:
        """Attach a photo by its blob's hash; upload the bytes with
        ``client_sdk.uploads.upload_blob`` before or after (the server waits for them)."""
        args = {
            "photo_id": uuid.uuid4(),
            "sha256": sha256,
            "kind": kind,
            "content_type": content_type,
        }
        return self._queue("job.photo", job_id, args)

    def report(
        self,
        job_id: uuid.UUID | str,
        work_done: str,
        *,
        parts: list[dict[str, Any]] | None = None,
        charges: list[dict[str, Any]] | None = None,
        checklist: dict[str, bool] | None = None,
        photos: dict[str, list[uuid.UUID]] | None = None,
    ) -> PendingMutation:
        """The completion report; its ``sha256`` (``report_sha256``) is what the customer
        signs: compute it with ``client_sdk.report_sha256(args)`` (JCS, docs/protocol.md)
        and show it with the report."""
        args = {
            "report_id": uuid.uuid4(),
            "work_done": work_done,
            "parts": parts or [],
            "charges": charges or [],
            "checklist": checklist or {},
            "photos": photos or {},
        }
        return self._queue("job.report", job_id, args)

    def sign_off(
        self,
        job_id: uuid.UUID | str,
        signer_name: str,
        report_sha256: str,
        *,
        strokes: list[list[tuple[float, float, float]]] | None = None,
        signature_sha256: str | None = None,
        signed_at: datetime | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
    ) -> PendingMutation:
        args = {
            "sign_off_id": uuid.uuid4(),
            "signer_name": signer_name,
            "report_sha256": report_sha256,
            "strokes": strokes,
            "signature_sha256": signature_sha256,
            "signed_at": signed_at,
            "latitude": latitude,
            "longitude": longitude,
        }
        return self._queue("job.sign_off", job_id, args)

    # --- the outbox ----------------------------------------------------------------

    def _held(self, job_id: uuid.UUID | str) -> dict[str, Any]:
        jid = uuid.UUID(str(job_id))
        doc = self.store.get_document(JOB_PACKET, jid)
        if doc is None:
            raise ValueError(f"job {jid} is not on this phone")
        if jid in self.store.withdrawn():
            raise ValueError(f"job {jid} was taken off this phone by the office")
        return doc.doc

    def _queue(
        self, name: str, job_id: uuid.UUID | str, args: msgspec.Struct | dict[str, Any]
    ) -> PendingMutation:
        """Validate, sign and write one mutation. What is signed is the RFC 8785 (JCS)
        form of the mutation dict without ``signature`` (JSON values only, so the
        server's decode and canonicalisation gives the same bytes); what is stored and
        sent is the mutation with its signature, byte for byte.

        The arguments are checked by the server's own code (``sync.validation``: the
        strict decode of the args type, no unknown field, no NUL, times with an offset
        and in range, integers in range), so what this phone queues is never rejected
        for its values: ``InvalidMutation`` names the code the server would answer."""
        jid = uuid.UUID(str(job_id))
        packet = self._held(jid)
        types = {**MUTATION_ARGS, **EVIDENCE_ARGS}
        try:
            as_json = msgspec.json.encode(args)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidMutation(name, "invalid_arguments", str(exc), "args") from exc
        try:
            typed = decode_args(as_json, types[name], name)
        except Violation as v:
            raise InvalidMutation(name, v.code, v.message, v.field) from v
        return self._write(name, jid, packet, msgspec.to_builtins(typed), {})

    def queue_unchecked(
        self,
        name: str,
        job_id: uuid.UUID | str,
        args: dict[str, Any],
        *,
        envelope: dict[str, Any] | None = None,
    ) -> PendingMutation:
        """Sign and queue ``args`` exactly as given, without the checks of ``_queue``.

        Never for an app: this is how tests reproduce a faulty phone (another app, an
        older version, a bug) whose poison the server must reject without jamming the
        queue. ``envelope`` overrides members of the mutation itself (``device_time``)."""
        jid = uuid.UUID(str(job_id))
        return self._write(name, jid, self._held(jid), args, envelope or {})

    def _write(
        self,
        name: str,
        jid: uuid.UUID,
        packet: dict[str, Any],
        plain: dict[str, Any],
        envelope: dict[str, Any],
    ) -> PendingMutation:
        key = self.store.private_key()
        if key is None:
            raise NotEnrolled("This phone is not enrolled; call enroll() first.")
        device_time: str = msgspec.to_builtins(self.clock())
        base_version = int(packet["job"]["version"])
        mutation_id = uuid.uuid4()

        def build(mid: int) -> PendingMutation:
            mutation: dict[str, Any] = {
                "mid": mid,
                "id": str(mutation_id),
                "name": name,
                "job_id": str(jid),
                "args": plain,
                "device_time": device_time,
                "base_version": base_version,
                **envelope,
            }
            mutation["signature"] = sign(key, mutation)
            raw = msgspec.json.encode(mutation, order="sorted")
            return PendingMutation(
                mid,
                mutation_id,
                name,
                jid,
                plain,
                str(mutation["device_time"]),
                base_version,
                raw,
            )

        return self.store.enqueue(build)


def _fix(
    latitude: float | None,
    longitude: float | None,
    accuracy_m: float | None,
    fix_time: datetime | None,
    location_provider: str | None,
    mock_location: bool,
) -> dict[str, Any]:
    """The GPS part of a check-in or check-out, checked before it is queued."""
    if (latitude is None) != (longitude is None):
        raise ValueError("give both latitude and longitude, or neither")
    return {
        "latitude": latitude,
        "longitude": longitude,
        "accuracy_m": accuracy_m,
        "fix_time": fix_time,
        "location_provider": location_provider,
        "mock_location": mock_location,
    }


ACTIONS: dict[str, str] = {
    "job.acknowledge": "acknowledge",
    "job.en_route": "en_route",
    "job.check_in": "check_in",
    "job.start_work": "start_work",
    "job.note": "note",
    "job.pause": "pause",
    "job.complete": "complete",
    "job.unable_to_complete": "unable_to_complete",
    "job.request_reschedule": "request_reschedule",
    "appliance.set_serial": "set_serial",
    "job.call_attempt": "call_attempt",
    "job.check_out": "check_out",
    "job.location_trace": "location_trace",
    "job.photo": "photo",
    "job.report": "report",
    "job.sign_off": "sign_off",
}
"""The ``Phone`` method for each mutation of ``sync.wire.MUTATION_ARGS`` and
``sync.evidence_wire.EVIDENCE_ARGS`` (a test checks that none is missing)."""
