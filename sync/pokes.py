"""Pokes: data-free "pull now" signals for online phones (SYNC.md, "Live updates").

A poke says only *which technician* should pull; it carries no data, so it can be lost,
repeated or coalesced without harm — the pull, driven by the bucket cursor, is what is
exact. That lets this module favour availability over delivery guarantees:

- ``LocalPokeHub`` delivers within one process (one ``asyncio.Event`` per subscriber).
- ``RedisPokeHub`` also carries pokes between app nodes over Redis pub/sub. When Redis
  is away it degrades to local delivery, keeps what it could not send (bounded) and,
  once back, re-sends that and wakes every local subscriber once, because pokes from
  other nodes may have been missed meanwhile. An extra pull is cheap; a phone that
  never learns it should pull is what we must avoid.

Producers do not call the hub in their transaction: code that changes a bucket adds the
technician to ``session.info["pokes"]`` (see ``add_pokes``) and the request publishes
with ``publish_after_commit`` once the commit succeeded — a poke sent before the commit
would make the phone pull before its data is visible.

This module is framework-free (no Litestar): the SSE route lives in ``server.sync_api``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

__all__ = [
    "CHANNEL",
    "POKES_KEY",
    "LocalPokeHub",
    "PokeHub",
    "RedisPokeHub",
    "Subscription",
    "add_pokes",
    "make_hub",
    "publish_after_commit",
]

log = logging.getLogger("doorstep.pokes")

POKES_KEY = "pokes"
"""Key in ``session.info`` under which a transaction collects the technicians to poke."""

CHANNEL = "doorstep:pokes"
"""The one Redis channel every node publishes to and listens on."""

ALL = "*"
"""Wire token meaning "every technician" (sent when the unsent backlog overflowed)."""


class Subscription:
    """One waiter's view of the pokes for one technician (one SSE stream, say).

    Pokes coalesce: however many arrive while nobody waits, the next ``wait`` returns
    ``True`` once and then waits again. A closed subscription (hub stopped, or pushed out
    by newer ones for the same technician) never pokes again: ``wait`` returns ``False``
    at once, so a waiter should stop when ``closed`` is true.
    """

    __slots__ = ("_event", "closed", "technician_id")

    def __init__(self, technician_id: uuid.UUID) -> None:
        self.technician_id = technician_id
        self.closed = False
        self._event = asyncio.Event()

    async def wait(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait for the next poke: ``True`` on a poke, ``False`` on timeout or if closed."""
        if not self._event.is_set():
            try:
                async with asyncio.timeout(timeout):
                    await self._event.wait()
            except TimeoutError:
                return False
        if self.closed:
            return False
        self._event.clear()
        return True

    def _poke(self) -> None:
        self._event.set()

    def _close(self) -> None:
        self.closed = True
        self._event.set()  # release a current waiter at once


class PokeHub(ABC):
    """Registry of local subscribers and delivery to them; subclasses add transport.

    Memory is bounded by the live subscriptions: each is removed when its ``subscribe``
    block exits, a technician's entry disappears with their last subscription, and at
    most ``max_per_technician`` are kept per technician (the oldest is closed, which
    ends a stream whose client vanished without the server noticing).
    """

    def __init__(self, *, max_per_technician: int = 8) -> None:
        if max_per_technician < 1:
            raise ValueError("max_per_technician must be at least 1")
        self.max_per_technician = max_per_technician
        # dict as an insertion-ordered set: the first entry is the oldest subscription
        self._subscribers: dict[uuid.UUID, dict[Subscription, None]] = {}
        self._stopped = False

    async def start(self) -> None:
        """Begin delivering (a no-op in-process)."""
        self._stopped = False

    async def stop(self) -> None:
        """Close every subscription, so open streams end."""
        self._stopped = True
        for subs in list(self._subscribers.values()):
            for sub in list(subs):
                sub._close()
        self._subscribers.clear()

    @abstractmethod
    async def publish(self, technician_ids: Iterable[uuid.UUID]) -> None:
        """Poke each technician on every node. Never raises for transport trouble."""

    def subscribe(self, technician_id: uuid.UUID) -> AbstractAsyncContextManager[Subscription]:
        """Receive the pokes for ``technician_id`` while the block runs."""
        return self._subscription(technician_id)

    @asynccontextmanager
    async def _subscription(self, technician_id: uuid.UUID) -> AsyncIterator[Subscription]:
        sub = Subscription(technician_id)
        if self._stopped:
            sub._close()
            yield sub
            return
        subs = self._subscribers.setdefault(technician_id, {})
        subs[sub] = None
        while len(subs) > self.max_per_technician:
            oldest = next(iter(subs))
            del subs[oldest]
            oldest._close()
            log.info(
                "technician %s: more than %d streams, closed the oldest",
                technician_id,
                self.max_per_technician,
            )
        try:
            yield sub
        finally:
            current = self._subscribers.get(technician_id)
            if current is not None:
                current.pop(sub, None)
                if not current:
                    del self._subscribers[technician_id]

    def subscriber_count(self, technician_id: uuid.UUID | None = None) -> int:
        """Live local subscriptions, for one technician or all (tests, metrics)."""
        if technician_id is not None:
            return len(self._subscribers.get(technician_id, ()))
        return sum(len(subs) for subs in self._subscribers.values())

    def _deliver_local(self, technician_ids: Iterable[uuid.UUID]) -> None:
        for technician_id in technician_ids:
            for sub in self._subscribers.get(technician_id, ()):
                sub._poke()

    def _wake_all_local(self) -> None:
        for subs in self._subscribers.values():
            for sub in subs:
                sub._poke()


class LocalPokeHub(PokeHub):
    """Pokes within this process: enough for a single app node (and for tests)."""

    async def publish(self, technician_ids: Iterable[uuid.UUID]) -> None:
        self._deliver_local(set(technician_ids))


class RedisPokeHub(PokeHub):
    """Pokes across app nodes through one Redis pub/sub channel, ``doorstep:pokes``.

    Why one channel and not one per technician: every node then subscribes exactly once,
    at start, and re-subscribing after a reconnect is one command. Per-technician
    channels would need a SUBSCRIBE/UNSUBSCRIBE per stream opened or closed, a subscribe
    that is still in flight would silently miss pokes, and the whole set would have to be
    rebuilt after each reconnect. The price — each node sees every poke and drops those
    for technicians it has no stream for — is a few dozen bytes per poke per node.

    A message is ``"<node> <technician id> [<technician id> …]"`` (or ``*`` for everyone):
    the publishing node delivers to its own subscribers at once (low latency, and still
    working when Redis is down) and ignores its own messages when they come back.
    """

    PUBLISH_TIMEOUT = 1.0
    """Seconds a publish may wait for Redis: it runs in the request, after the commit."""
    CONNECT_TIMEOUT = 5.0
    PAUSE_AFTER_FAILURE = 2.0
    """After a failed publish, later ones only queue for this long instead of each
    waiting for the timeout while Redis is unreachable."""
    PING_AFTER_IDLE = 15.0
    PING_TIMEOUT = 10.0
    """A listener that hears nothing, not even an answer to its ping, reconnects: a
    half-open TCP connection would otherwise look like a quiet channel forever."""
    MAX_UNSENT = 10_000
    IDS_PER_MESSAGE = 500

    def __init__(
        self,
        url: str,
        *,
        channel: str = CHANNEL,
        max_per_technician: int = 8,
        reconnect_min: float = 0.5,
        reconnect_max: float = 30.0,
    ) -> None:
        super().__init__(max_per_technician=max_per_technician)
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.url = url
        self.channel = channel
        self.node = uuid.uuid4().hex
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        # No client-side retries (redis-py would retry 10 times with backoff by default):
        # a publish must fail fast, and the listener must see each disconnection so it
        # can wake its subscribers after it reconnects. A bad URL fails here, at startup.
        options: dict[str, Any] = {
            "retry": Retry(NoBackoff(), 0),
            "socket_connect_timeout": self.CONNECT_TIMEOUT,
            "socket_timeout": self.CONNECT_TIMEOUT,
            "socket_keepalive": True,
        }
        self._publisher: Redis = Redis.from_url(url, **options)
        self._listener_client: Redis = Redis.from_url(url, **options)
        self._listener: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._delay = reconnect_min
        self._paused_until = 0.0
        self._unsent: set[uuid.UUID] = set()
        self._unsent_all = False
        self.connections = 0
        """How many times the listener has (re)subscribed; for tests and metrics."""

    @property
    def connected(self) -> bool:
        """Whether the listener is subscribed right now (as far as it knows)."""
        return self._connected.is_set()

    async def wait_connected(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until the listener is subscribed; ``False`` if it is not within ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            return False
        return True

    async def start(self) -> None:
        """Start the listener without waiting for Redis: the app must boot without it."""
        await super().start()
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen_forever(), name="redis-pokes")

    async def stop(self) -> None:
        task, self._listener = self._listener, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._connected.clear()
        for client in (self._publisher, self._listener_client):
            try:
                await client.aclose()
            except Exception:
                log.debug("closing a Redis client failed", exc_info=True)
        await super().stop()

    # --- publishing ----------------------------------------------------------------

    async def publish(self, technician_ids: Iterable[uuid.UUID]) -> None:
        ids = set(technician_ids)
        if not ids:
            return
        self._deliver_local(ids)
        loop = asyncio.get_running_loop()
        if loop.time() < self._paused_until:
            self._remember_unsent(ids)
            return
        ids |= self._unsent
        send_all, self._unsent_all = self._unsent_all, False
        self._unsent = set()
        try:
            async with asyncio.timeout(self.PUBLISH_TIMEOUT):
                await self._send(ids, send_all=send_all)
        except Exception as exc:
            self._paused_until = loop.time() + self.PAUSE_AFTER_FAILURE
            self._unsent_all = self._unsent_all or send_all
            self._remember_unsent(ids)
            log.warning(
                "pokes: cannot publish to Redis (%s); delivered on this node only, "
                "%d kept to re-send",
                _describe(exc),
                len(self._unsent),
            )

    async def _send(self, ids: set[uuid.UUID], *, send_all: bool = False) -> None:
        tokens = [ALL] if send_all else [str(i) for i in ids]
        messages = [
            " ".join([self.node, *tokens[i : i + self.IDS_PER_MESSAGE]])
            for i in range(0, len(tokens), self.IDS_PER_MESSAGE)
        ]
        if len(messages) == 1:
            await self._publisher.publish(self.channel, messages[0])
            return
        async with self._publisher.pipeline(transaction=False) as pipe:
            for message in messages:
                pipe.publish(self.channel, message)
            await pipe.execute()

    def _remember_unsent(self, ids: set[uuid.UUID]) -> None:
        if self._unsent_all:
            return
        if len(self._unsent) + len(ids) > self.MAX_UNSENT:
            # Too many to remember: tell every node to wake everyone instead.
            self._unsent.clear()
            self._unsent_all = True
            return
        self._unsent |= ids

    async def _flush_unsent(self) -> None:
        if not (self._unsent or self._unsent_all):
            return
        ids, send_all = self._unsent, self._unsent_all
        self._unsent, self._unsent_all = set(), False
        try:
            async with asyncio.timeout(self.PUBLISH_TIMEOUT):
                await self._send(ids, send_all=send_all)
        except Exception as exc:
            self._paused_until = asyncio.get_running_loop().time() + self.PAUSE_AFTER_FAILURE
            self._unsent_all = self._unsent_all or send_all
            self._remember_unsent(ids)
            log.warning("pokes: re-sending to Redis failed (%s)", _describe(exc))
        else:
            self._paused_until = 0.0
            log.info(
                "pokes: re-sent %s held while Redis was away",
                "a wake-up for everyone" if send_all else f"{len(ids)} pokes",
            )

    # --- listening -----------------------------------------------------------------

    async def _listen_forever(self) -> None:
        """Listen, and whenever Redis goes away reconnect with capped, jittered backoff.
        Nothing escapes this loop but cancellation: Redis trouble never stops the app."""
        while True:
            connections = self.connections
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "pokes: Redis listener %s (%s); reconnecting in %.1f s",
                    "lost" if self.connections > connections else "cannot connect",
                    _describe(exc),
                    self._delay,
                )
            await asyncio.sleep(self._delay * random.uniform(0.8, 1.2))
            self._delay = min(self._delay * 2, self.reconnect_max)

    async def _listen_once(self) -> None:
        pubsub: PubSub = self._listener_client.pubsub()
        try:
            async with asyncio.timeout(self.CONNECT_TIMEOUT):
                await pubsub.subscribe(self.channel)
                while True:  # the confirmation proves we will hear what is published next
                    message = await pubsub.get_message(timeout=self.CONNECT_TIMEOUT)
                    if message is not None and message["type"] == "subscribe":
                        break
            self.connections += 1
            self._delay = self.reconnect_min
            self._connected.set()
            if self.connections > 1:
                log.info("pokes: Redis listener reconnected; waking every local stream")
            # Pokes published by other nodes while we were away are lost: have every
            # local phone pull once. Then send what this node could not publish.
            self._wake_all_local()
            await self._flush_unsent()
            await self._receive(pubsub)
        finally:
            self._connected.clear()
            try:
                await pubsub.aclose()
            except Exception:
                log.debug("closing the Redis pubsub failed", exc_info=True)

    async def _receive(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        pinged_at: float | None = None
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            now = loop.time()
            if message is not None:
                last_heard, pinged_at = now, None
                if message["type"] == "message":
                    self._on_message(message["data"])
            elif pinged_at is not None:
                if now - pinged_at > self.PING_TIMEOUT:
                    raise ConnectionError("Redis did not answer a ping")
            elif now - last_heard > self.PING_AFTER_IDLE:
                await pubsub.ping()
                pinged_at = now
            if (self._unsent or self._unsent_all) and now >= self._paused_until:
                await self._flush_unsent()  # a publish failed while the listener stayed up

    def _on_message(self, data: bytes | str) -> None:
        text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
        origin, _, rest = text.partition(" ")
        if origin == self.node:
            return  # ours: delivered locally when published
        ids: set[uuid.UUID] = set()
        for token in rest.split():
            if token == ALL:
                self._wake_all_local()
                return
            try:
                ids.add(uuid.UUID(token))
            except ValueError:
                log.debug("pokes: ignoring malformed message %r", text[:200])
                return
        self._deliver_local(ids)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def make_hub(redis_url: str) -> PokeHub:
    """The hub for these settings: over Redis when a URL is set, else in-process."""
    return RedisPokeHub(redis_url) if redis_url else LocalPokeHub()


def add_pokes(session: Any, technician_ids: Iterable[uuid.UUID | None]) -> None:
    """Record, in the session's current transaction, technicians to poke once it commits.

    Same as ``session.info.setdefault("pokes", set()).add(id)`` for each id; ``None``
    ids are skipped (an unassigned job has nobody to poke).
    """
    pokes: set[uuid.UUID] = session.info.setdefault(POKES_KEY, set())
    pokes.update(i for i in technician_ids if i is not None)


async def publish_after_commit(session: Any, hub: PokeHub | None) -> None:
    """Publish the pokes a transaction collected. Call it right after a successful
    ``commit()`` — also after each commit of code that commits by itself mid-request, or
    those pokes wait for (and may be lost with) a later transaction.

    Takes the set out of ``session.info`` so a later commit does not send it again, and
    never raises: the data is committed by now, and a lost poke only delays a pull.
    ``session`` is an ``AsyncSession`` (or anything with an ``info`` dict).
    """
    pokes: set[uuid.UUID] | None = session.info.pop(POKES_KEY, None)
    if not pokes or hub is None:
        return
    try:
        await hub.publish(pokes)
    except Exception:
        log.warning("pokes: publishing %d pokes failed", len(pokes), exc_info=True)
