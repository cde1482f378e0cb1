"""Per-device limits on what phones send: request rates (pull, push, blob chunks),
concurrent uploads, and how long one upload chunk may take to arrive.

Rates are token buckets keyed by device (or by user for a token not bound to a
device): a bucket holds up to ``per_minute`` requests and refills at ``per_minute``
a minute, so a phone may burst after a quiet spell but not sustain more. With
``redis_url`` set the buckets live in Redis and every app node shares them; if Redis
is unreachable a node falls back to its own buckets (a phone may then get up to one
allowance per node) rather than refusing phones. Concurrent uploads are counted per
node: a load balancer spreads one phone's uploads over nodes only if it retries on
another, and each node still bounds what it holds.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from server.errors import RateLimited
from server.settings import Settings

__all__ = ["Limiter", "LocalBuckets", "RedisBuckets", "rate_limit"]

log = logging.getLogger("doorstep.limits")

KINDS = ("pull", "push", "upload", "customer_page")


@dataclass
class LocalBuckets:
    """Token buckets in this process."""

    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    async def take(self, key: str, per_minute: int) -> float:
        """Take one token; 0 when granted, else the seconds until one is available."""
        now = time.monotonic()
        rate = per_minute / 60.0
        tokens, at = self._buckets.get(key, (float(per_minute), now))
        tokens = min(float(per_minute), tokens + (now - at) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > 100_000:  # forget idle phones rather than grow forever
            self._buckets.clear()
        return (1.0 - tokens) / rate


# KEYS[1] bucket; ARGV: capacity, refill per second. Redis's own clock, so every node
# agrees. Returns the wait in milliseconds (0: granted).
_LUA = """
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(v[1]) or cap
local at = tonumber(v[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate) + 1)
return wait
"""


class RedisBuckets:
    """Token buckets shared by every node through Redis (one atomic script per take)."""

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self.redis: Any = Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self.script = self.redis.register_script(_LUA)
        self.fallback = LocalBuckets()

    async def take(self, key: str, per_minute: int) -> float:
        try:
            wait_ms = await self.script(
                keys=[f"doorstep:rate:{key}"], args=[per_minute, per_minute / 60.0]
            )
        except Exception:  # Redis away: limit per node rather than refuse phones
            log.warning("rate limit store unreachable; limiting on this node only", exc_info=True)
            return await self.fallback.take(key, per_minute)
        return int(wait_ms) / 1000.0

    async def close(self) -> None:
        await self.redis.aclose()


class Limiter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.buckets: LocalBuckets | RedisBuckets = (
            RedisBuckets(settings.redis_url) if settings.redis_url else LocalBuckets()
        )
        self.uploads: dict[str, int] = {}

    def per_minute(self, kind: str) -> int:
        value: int = getattr(self.settings, f"rate_limit_{kind}")
        return value

    async def check(self, kind: str, key: str, scale: int = 1) -> None:
        """Raise ``429 rate_limited`` with a retry-after when ``key`` is over its rate
        (``scale`` times the configured one: an address shared by several people)."""
        per_minute = self.per_minute(kind) * scale
        if per_minute <= 0:
            return
        wait = await self.buckets.take(f"{kind}:{key}", per_minute)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise RateLimited(
                "rate_limited",
                f"Too many {kind} requests; try again in {retry} seconds.",
                retry,
            )

    @asynccontextmanager
    async def upload_slot(self, key: str) -> AsyncIterator[None]:
        """Hold one of the device's concurrent upload slots for the block."""
        limit = self.settings.upload_concurrency
        held = self.uploads.get(key, 0)
        if limit > 0 and held >= limit:
            raise RateLimited(
                "too_many_uploads",
                f"At most {limit} uploads at a time from one device; wait for one to finish.",
                1,
            )
        self.uploads[key] = held + 1
        try:
            yield
        finally:
            left = self.uploads.get(key, 1) - 1
            if left > 0:
                self.uploads[key] = left
            else:
                self.uploads.pop(key, None)

    async def close(self) -> None:
        if isinstance(self.buckets, RedisBuckets):
            await self.buckets.close()


def device_key(principal: Any) -> str:
    """The device a request comes from, or its user for a token not bound to one."""
    device: uuid.UUID | None = getattr(principal, "device_id", None)
    return f"d:{device}" if device is not None else f"u:{principal.user_id}"


def rate_limit(kind: str) -> Any:
    """A route guard: the calling device's ``kind`` rate (``pull``, ``push``,
    ``upload``)."""
    assert kind in KINDS

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        limiter: Limiter | None = connection.app.state.get("limiter")
        if limiter is not None:
            await limiter.check(kind, device_key(connection.user))

    guard.rate_kind = kind  # type: ignore[attr-defined]
    return guard
