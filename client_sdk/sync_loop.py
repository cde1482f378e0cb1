"""The sync loop: push what the phone owes, then pull what changed (SYNC.md).

Why this order: a pull can bring a ``remove`` or a ``reset``, and both must wait until
the phone's own work is acknowledged (the protocol never drops a pending mutation).

Every step is safe to redo after a crash at any point: the outbox keeps a mutation
until an answer settles it (a resend gets ``duplicate`` with the first outcome), and a
pulled page is applied in the same transaction as the cursor after it. So
``sync_once`` is idempotent, and ``run_until_synced`` / ``sync_forever`` only add
full-jitter exponential backoff around it.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from client_sdk.api import (
    ApiClient,
    NetworkError,
    NotEnrolled,
    ProtocolError,
    RetryLater,
    ServerError,
    SignatureRejected,
)
from client_sdk.store import Store

__all__ = ["PUSH_CHUNK", "Backoff", "SyncEngine", "SyncReport", "is_transient"]

PUSH_CHUNK = 100
"""Mutations per push request (the server accepts up to 200)."""
MAX_RESETS = 3
"""Resets answered within one pull run before the client gives up (a server bug)."""


@dataclass
class SyncReport:
    """What one or more sync runs did (for the app's status line and the simulator)."""

    pushed: int = 0
    """Mutations sent, resends included."""
    outcomes: Counter[str] = field(default_factory=Counter)
    """Settled mutations by status (``acknowledged``: only a pull's ``last_applied_mid``
    said so)."""
    pulls: int = 0
    puts: int = 0
    removes: int = 0
    deferred_removes: int = 0
    resets: int = 0
    pending: int = 0
    """Mutations still in the outbox at the end."""

    def add(self, other: SyncReport) -> None:
        self.pushed += other.pushed
        self.outcomes.update(other.outcomes)
        self.pulls += other.pulls
        self.puts += other.puts
        self.removes += other.removes
        self.deferred_removes += other.deferred_removes
        self.resets += other.resets
        self.pending = other.pending


def is_transient(exc: BaseException) -> bool:
    """Worth retrying later: no answer, a "retry later", or a 5xx. Everything else
    (auth, a gap in the outbox, a refused signature, a 4xx) needs a person or a fix."""
    if isinstance(exc, NetworkError | RetryLater):
        return True
    return isinstance(exc, ServerError) and exc.status >= 500


@dataclass
class Backoff:
    """Full-jitter exponential backoff (AWS architecture blog): spreads the retries of
    a whole fleet of phones coming back online at once. A server's ``retry_after`` is a
    floor, never shortened by jitter."""

    base: float = 1.0
    cap: float = 300.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, minimum: float = 0.0) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt, 60))
        return max(minimum, self.rng.uniform(0, ceiling))


class SyncEngine:
    """Runs the protocol between a ``Store`` and an ``ApiClient``. One sync at a time
    per engine (a lock), so a manual sync and ``sync_forever`` never interleave."""

    def __init__(
        self,
        store: Store,
        api: ApiClient,
        *,
        push_chunk: int = PUSH_CHUNK,
        pull_limit: int = 500,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not 1 <= push_chunk <= 200:
            raise ValueError("push_chunk must be between 1 and 200")
        self.store = store
        self.api = api
        self.push_chunk = push_chunk
        self.pull_limit = pull_limit
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self.clock = clock
        """The phone's own clock: each push says what time the phone thinks it is, so the
        server can measure the phone's clock skew (and correct its evidence times)."""
        self._lock = threading.Lock()

    # --- one round ---------------------------------------------------------------

    def sync_once(self) -> SyncReport:
        """Push every pending mutation, then pull until ``has_more`` is false. Raises
        ``RetryLater`` when the server stopped a push early (back off, then call again)."""
        report = SyncReport()
        with self._lock:
            self._push(report)
            self._pull(report)
        report.pending = self.store.pending_count()
        return report

    def push_pending(self) -> SyncReport:
        """Only the push half (e.g. right after the technician acts, when online)."""
        report = SyncReport()
        with self._lock:
            self._push(report)
        report.pending = self.store.pending_count()
        return report

    def pull_all(self) -> SyncReport:
        """Only the pull half (e.g. on a poke). Still pushes first if a reset comes."""
        report = SyncReport()
        with self._lock:
            self._pull(report)
        report.pending = self.store.pending_count()
        return report

    def _device(self) -> uuid.UUID:
        device = self.store.device_id
        if device is None or self.store.private_key() is None:
            raise NotEnrolled("This phone is not enrolled; call enroll() first.")
        return device

    def _push(self, report: SyncReport) -> None:
        device = self._device()
        while True:
            batch = self.store.pending(limit=self.push_chunk)
            if not batch:
                return
            answer = self.api.push(device, [m.raw for m in batch], self.clock())
            report.pushed += len(batch)
            sent = {m.mid for m in batch}
            settled = []
            refused = None
            for outcome in answer.outcomes:
                if outcome.mid not in sent:
                    continue  # not ours to settle (cannot happen with a correct server)
                if outcome.status == "rejected" and outcome.code == "bad_signature":
                    refused = outcome  # the server's mid did not advance: keep it queued
                    break
                settled.append(outcome)
            left = self.store.acknowledge(settled, answer.last_applied_mid)
            report.outcomes.update(o.status for o in settled)
            if left > len(settled):
                report.outcomes["acknowledged"] += left - len(settled)
            if refused is not None:
                raise SignatureRejected(refused.mid, refused.message or "bad signature")
            if answer.retry_after is not None:
                raise RetryLater(
                    answer.retry_after,
                    200,
                    "push_stopped_early",
                    "The server stopped the push early; resend the rest later.",
                )
            if left == 0:
                raise ProtocolError(
                    f"The push of mutations {batch[0].mid}..{batch[-1].mid} settled none "
                    f"(server last_applied_mid={answer.last_applied_mid})."
                )

    def _pull(self, report: SyncReport) -> None:
        device = self._device()
        resets = 0
        while True:
            cursor = self.store.cursor
            page = self.api.pull(cursor, self.pull_limit, device)
            report.pulls += 1
            if page.reset:
                if cursor is None or resets >= MAX_RESETS:
                    raise ProtocolError("The server keeps answering reset.")
                resets += 1
                report.resets += 1
                # SYNC.md: push what is pending, drop the bucket, pull a snapshot.
                self._push(report)
                self.store.reset_bucket()
                continue
            result = self.store.apply_page(page.ops, page.cursor, page.last_applied_mid)
            report.puts += result.puts
            report.removes += result.removes
            report.deferred_removes += result.deferred
            if result.acknowledged:
                report.outcomes["acknowledged"] += result.acknowledged
            if not page.has_more:
                return
            if page.cursor == cursor:
                raise ProtocolError("The server said has_more but the cursor did not move.")

    # --- retrying ----------------------------------------------------------------

    def run_until_synced(self, max_attempts: int = 5) -> SyncReport:
        """Sync until the outbox is empty and the bucket is pulled, backing off between
        transient failures. Raises the last failure after ``max_attempts``, or at once
        a failure that no retry can fix."""
        total = SyncReport()
        last: BaseException | None = None
        for attempt in range(max_attempts):
            minimum = 0.0
            try:
                total.add(self.sync_once())
                if total.pending == 0:
                    return total
                last = None  # mutations queued meanwhile: go again at once
                continue
            except Exception as exc:
                if not is_transient(exc):
                    raise
                last = exc
                minimum = exc.retry_after if isinstance(exc, RetryLater) else 0.0
            if attempt + 1 < max_attempts:
                self.sleep(self.backoff.delay(attempt, minimum))
        total.pending = self.store.pending_count()
        if last is not None:
            raise last
        return total

    def sync_forever(
        self,
        stop_event: threading.Event,
        interval: float = 30.0,
        on_report: Callable[[SyncReport], None] | None = None,
    ) -> None:
        """Sync every ``interval`` seconds until ``stop_event`` is set, backing off on
        transient failures. Returns on stop; raises a failure no retry can fix."""
        attempt = 0
        while not stop_event.is_set():
            try:
                report = self.sync_once()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                minimum = exc.retry_after if isinstance(exc, RetryLater) else 0.0
                wait = self.backoff.delay(attempt, minimum)
                attempt += 1
            else:
                attempt = 0
                wait = interval
                if on_report is not None:
                    on_report(report)
            stop_event.wait(wait)
