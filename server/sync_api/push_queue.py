"""Pushes take turns: one at a time per device, then first come, first served for the
writer.

Why per device: a phone that timed out and resent its outbox while the first push is
still being applied would otherwise hold two places in the writer's queue for the same
mutations; the second now waits for the first and then answers ``duplicate`` for what
it applied, without a second trip through the writer. Why FIFO across devices: SQLite's
busy handler retries a waiting writer after sleeps of its own choosing, so under a
reconnect storm a writer can lose the lock again and again to newcomers and wait
seconds while others pass; a queue of our own in front of it serves pushes in arrival
order, and its length is what admission control reads (``server/admission.py``).

Per node, in memory: several nodes share the database's own lock (PostgreSQL's row
locks, SQLite's one writer) behind their queues. Nothing here reads the database.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from server.metrics import PUSH_QUEUE_WAIT

__all__ = ["FairGate", "PushQueue"]


class FairGate:
    """``slots`` holders at a time; the others wait in arrival order."""

    def __init__(self, slots: int) -> None:
        self.slots = max(1, slots)
        self.busy = 0
        self._queue: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """How many wait for a slot now."""
        return len(self._queue)

    async def acquire(self) -> None:
        if self.busy < self.slots and not self._queue:
            self.busy += 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(granted)
        try:
            await granted
        except BaseException:
            if granted.done() and not granted.cancelled():
                self.release()  # handed a slot just as it was cancelled: pass it on
            else:
                with suppress(ValueError):
                    self._queue.remove(granted)
            raise

    def release(self) -> None:
        """Hand the slot to the longest waiter (``busy`` unchanged), or free it."""
        while self._queue:
            waiter = self._queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.busy -= 1


class PushQueue:
    """One push in flight per device; across devices, ``slots`` at a time, FIFO."""

    def __init__(self, slots: int) -> None:
        self.gate = FairGate(slots)
        self._devices: dict[str, tuple[asyncio.Lock, int]] = {}

    @property
    def waiting(self) -> int:
        """Pushes waiting for the writer (not those waiting for their own device)."""
        return self.gate.waiting

    def device_busy(self, device: str) -> bool:
        """Whether a push of ``device`` is in flight or waiting."""
        return device in self._devices

    @asynccontextmanager
    async def turn(self, device: str) -> AsyncIterator[None]:
        """Wait for the device's previous push, then for a writer slot (both in arrival
        order: ``asyncio.Lock`` wakes its waiters first in, first out)."""
        started = time.perf_counter()
        lock, users = self._devices.get(device) or (asyncio.Lock(), 0)
        self._devices[device] = (lock, users + 1)
        try:
            async with lock:
                await self.gate.acquire()
                try:
                    PUSH_QUEUE_WAIT.observe(time.perf_counter() - started)
                    yield
                finally:
                    self.gate.release()
        finally:
            lock, users = self._devices[device]
            if users > 1:
                self._devices[device] = (lock, users - 1)
            else:
                del self._devices[device]
