"""Recording a location trace on the phone: the brand's sampling (the packet's
``location_trace``) decides which fixes become points; points are buffered and sent as
``job.location_trace`` chunks (``sync.trace_wire``) through the outbox like any other
mutation — signed, numbered, delivered when the phone is online.

The buffer lives in memory: points not yet flushed into the outbox are lost if the app
dies (flush often: the packet's ``chunk_every_s``). The trace's id and next chunk
number are kept in the store, so a restarted app goes on with the same trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sync.trace_wire import MAX_POINTS_PER_CHUNK, TracePoint

__all__ = ["TraceBuffer", "sampling_of"]

DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "interval_s": 10,
    "min_distance_m": 20,
    "stationary_interval_s": 60,
    "chunk_every_s": 300,
    "max_points_per_chunk": MAX_POINTS_PER_CHUNK,
}


def sampling_of(packet: dict[str, Any]) -> dict[str, Any]:
    """The sampling a job packet asks for (an older server's packet: the defaults)."""
    own = packet.get("location_trace") or {}
    return {**DEFAULTS, **{k: v for k, v in own.items() if k in DEFAULTS}}


def _metres(a: TracePoint, b: TracePoint) -> float:
    ky = 111_320.0
    kx = ky * math.cos(math.radians(a.latitude))
    return math.hypot((b.longitude - a.longitude) * kx, (b.latitude - a.latitude) * ky)


@dataclass
class TraceBuffer:
    """The points of one job's trace not yet queued, and the sampling that admits them."""

    sampling: dict[str, Any]
    points: list[TracePoint] = field(default_factory=list)
    last_kept: TracePoint | None = None

    def offer(self, p: TracePoint) -> bool:
        """Keep ``p`` if the sampling wants it: ``interval_s`` after the last kept point
        and ``min_distance_m`` away from it, or ``stationary_interval_s`` after it."""
        if not self.sampling.get("enabled", True):
            return False
        last = self.last_kept
        if last is not None:
            dt = (p.at - last.at).total_seconds()
            if dt <= 0:
                return False
            moved = _metres(last, p) >= float(self.sampling["min_distance_m"])
            due = dt >= float(self.sampling["stationary_interval_s"])
            if not due and not (moved and dt >= float(self.sampling["interval_s"])):
                return False
        self.points.append(p)
        self.last_kept = p
        return True

    def due(self) -> bool:
        """Whether a chunk should go out now (full, or its first point old enough)."""
        if not self.points:
            return False
        if len(self.points) >= self.chunk_size:
            return True
        age = (self.points[-1].at - self.points[0].at).total_seconds()
        return age >= float(self.sampling["chunk_every_s"])

    @property
    def chunk_size(self) -> int:
        return max(1, min(MAX_POINTS_PER_CHUNK, int(self.sampling["max_points_per_chunk"])))
