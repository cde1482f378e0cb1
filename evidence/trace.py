"""What a location trace says about a visit: stops found by dwell clustering, and the
answers an auditor asks of them — did the phone stop at the address, for how long, did
it pass at driving speed without stopping (a drive-by), did it stop somewhere else, do
the check-in fix and the door photo agree with where the trace was.

Pure functions over plain lists (``Trace``), cheap enough for every score: one pass to
project the points to metres around the address, one pass of sequential clustering.

Stop detection (the classic dwell rule, made accuracy-aware): starting from a point,
the following points join the stop while each lies within ``STOP_RADIUS_M`` plus its
own accuracy (capped at ``JOIN_SLACK_M``) of the stop's accuracy-weighted centre and no
gap exceeds ``MAX_GAP_S`` (up to ``OUTLIERS`` points in a row may fall outside and be
skipped, if the one after them is back); the run is a stop when it lasts ``MIN_STOP_S`` or more.
Points less accurate than ``MAX_ACCURACY_M`` neither join nor break a stop (a phone
indoors reports 300 m circles while it sits still).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "MIN_STOP_S",
    "STOP_RADIUS_M",
    "Stop",
    "Trace",
    "TraceSummary",
    "find_stops",
    "merge_chunks",
    "summarise",
]

STOP_RADIUS_M = 40.0
JOIN_SLACK_M = 80.0
MIN_STOP_S = 180.0
MAX_GAP_S = 15 * 60.0
MAX_ACCURACY_M = 200.0
OUTLIERS = 2
"""At most this many points in a row may lie outside a stop without ending it."""
MIN_SPACING_S = 2.0
"""Points closer in time than this to the previous one are skipped (fused providers)."""
DRIVING_MPS = 4.0
"""Above this (14 km/h) a phone is in a vehicle, not walking to a door."""
NEAR_M = 200.0
"""A pass within this distance of the address is a pass *by* it."""
EARTH_M_PER_DEG = 111_320.0


@dataclass(slots=True)
class Trace:
    """A job's breadcrumbs in time order: ``t`` in seconds since the Unix epoch by the
    phone's clock."""

    t: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    acc: list[float] = field(default_factory=list)
    speed: list[float | None] = field(default_factory=list)
    mock: list[bool] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.t)

    @property
    def mock_points(self) -> int:
        return sum(self.mock)


@dataclass(slots=True)
class Stop:
    start: float
    end: float
    x: float
    y: float
    """The centre, metres east and north of the address."""
    accuracy_m: float
    """The median accuracy of its points."""
    points: int

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def distance_m(self) -> float:
        return math.hypot(self.x, self.y)


@dataclass(slots=True)
class TraceSummary:
    points: int
    start: float
    end: float
    stops: list[Stop]
    closest_m: float | None
    """The closest a usable point came to the address."""
    closest_at: float | None
    speed_near_mps: float | None
    """The fastest the phone moved within ``NEAR_M`` of the address (reported or
    derived from neighbouring points)."""
    seconds_near: float
    """Time spent within ``NEAR_M`` of the address (between consecutive near points)."""
    mock_points: int

    def covers(self, t: float, slack: float = 600.0) -> bool:
        return self.start - slack <= t <= self.end + slack

    def as_detail(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "minutes": round((self.end - self.start) / 60, 1),
            "stops": [
                {
                    "start": _iso(s.start),
                    "end": _iso(s.end),
                    "minutes": round(s.seconds / 60, 1),
                    "distance_m": round(s.distance_m),
                    "accuracy_m": round(s.accuracy_m),
                }
                for s in self.stops
            ],
            "closest_m": None if self.closest_m is None else round(self.closest_m),
        }


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def merge_chunks(chunks: Iterable[tuple[datetime, dict[str, Any]]]) -> Trace:
    """One ``Trace`` from stored chunks (``LocationTraceChunk.started_at``, ``.points``),
    in time order, a point repeated by two chunks kept once. Chunks that follow each
    other (the usual case: each is in time order, checked at the push) are joined as
    they are; overlapping ones are merged point by point."""
    parts = sorted(((started.timestamp(), pts) for started, pts in chunks), key=lambda c: c[0])
    out = Trace()
    last = -math.inf
    for base, pts in parts:
        t = [base + ms / 1000 for ms in pts.get("t_ms") or []]
        if not t:
            continue
        if t[0] <= last:
            return _merge_slow(parts)
        n = len(t)
        speed = pts.get("speed")
        mock = pts.get("mock") or []
        out.t += t
        out.lat += [float(v) for v in pts["lat"][:n]]
        out.lon += [float(v) for v in pts["lon"][:n]]
        out.acc += [float(v) for v in pts["acc"][:n]]
        out.speed += [None if v is None else float(v) for v in speed[:n]] if speed else [None] * n
        flags = [False] * n
        for i in mock:
            if 0 <= i < n:
                flags[i] = True
        out.mock += flags
        last = t[-1]
    return out


def _merge_slow(parts: list[tuple[float, dict[str, Any]]]) -> Trace:
    rows: list[tuple[float, float, float, float, float | None, bool]] = []
    for base, pts in parts:
        lat, lon, acc = pts.get("lat") or [], pts.get("lon") or [], pts.get("acc") or []
        speed = pts.get("speed")
        mock = set(pts.get("mock") or [])
        for i, ms in enumerate(pts.get("t_ms") or []):
            rows.append(
                (
                    base + ms / 1000,
                    float(lat[i]),
                    float(lon[i]),
                    float(acc[i]),
                    None if not speed or speed[i] is None else float(speed[i]),
                    i in mock,
                )
            )
    rows.sort(key=lambda r: r[0])
    out = Trace()
    last = -math.inf
    for t, la, lo, a, sp, m in rows:
        if t <= last:
            continue
        last = t
        out.t.append(t)
        out.lat.append(la)
        out.lon.append(lo)
        out.acc.append(a)
        out.speed.append(sp)
        out.mock.append(m)
    return out


def _project(trace: Trace, origin: tuple[float, float]) -> tuple[list[float], list[float]]:
    """Metres east and north of ``origin`` (equirectangular: exact enough within a city)."""
    lat0, lon0 = origin
    ky = EARTH_M_PER_DEG
    kx = EARTH_M_PER_DEG * math.cos(math.radians(lat0))
    return [(lo - lon0) * kx for lo in trace.lon], [(la - lat0) * ky for la in trace.lat]


def find_stops(
    t: Sequence[float],
    x: Sequence[float],
    y: Sequence[float],
    acc: Sequence[float],
    speed: Sequence[float | None] | None = None,
) -> list[Stop]:
    """Stops by sequential dwell clustering (module docstring). Points the phone says
    were moving at driving speed cannot belong to a stop and are left out first."""
    keep: list[int] = []
    last_t = -math.inf
    for i in range(len(t)):
        if acc[i] > MAX_ACCURACY_M or t[i] - last_t < MIN_SPACING_S:
            continue
        if speed is not None and (v := speed[i]) is not None and v >= DRIVING_MPS:
            continue
        keep.append(i)
        last_t = t[i]
    T = [t[i] for i in keep]
    X = [x[i] for i in keep]
    Y = [y[i] for i in keep]
    A = [acc[i] for i in keep]
    W = [1 / max(v, 5.0) ** 2 for v in A]
    TOL2 = [(STOP_RADIUS_M + min(v, JOIN_SLACK_M)) ** 2 for v in A]
    stops: list[Stop] = []
    n = len(T)
    a = 0
    while a < n:
        sw = W[a]
        sx, sy = sw * X[a], sw * Y[a]
        b = a
        joined = [a]
        while b + 1 < n:
            cx, cy = sx / sw, sy / sw
            tb = T[b]
            # The next point that joins, skipping at most ``OUTLIERS`` that do not
            # (a multipath jump the phone did not admit is not a departure).
            nxt = 0
            for k in range(b + 1, min(n, b + 2 + OUTLIERS)):
                if T[k] - tb > MAX_GAP_S:
                    break
                dx, dy = X[k] - cx, Y[k] - cy
                if dx * dx + dy * dy <= TOL2[k]:
                    nxt = k
                    break
            if not nxt:
                break
            b = nxt
            wk = W[b]
            sw += wk
            sx += wk * X[b]
            sy += wk * Y[b]
            joined.append(b)
        if T[b] - T[a] >= MIN_STOP_S:
            members = sorted(A[k] for k in joined)
            stops.append(
                Stop(T[a], T[b], sx / sw, sy / sw, members[len(members) // 2], len(joined))
            )
            a = b + 1
        else:
            a += 1
    return stops


def summarise(trace: Trace, address: tuple[float, float], skew_s: float = 0.0) -> TraceSummary:
    """Stops and the pass by the address; times corrected by the phone's clock skew
    (``skew_s``: the phone's clock minus the server's)."""
    t = [v - skew_s for v in trace.t]
    x, y = _project(trace, address)
    acc = trace.acc
    stops = find_stops(t, x, y, acc, trace.speed)
    closest: float | None = None
    closest_at: float | None = None
    fastest: float | None = None
    near_s = 0.0
    previous_near: int | None = None
    for i in range(len(t)):
        if acc[i] > 100.0:
            continue
        d = math.hypot(x[i], y[i])
        if closest is None or d < closest:
            closest, closest_at = d, t[i]
        if d <= NEAR_M:
            speed = trace.speed[i]
            if speed is None and previous_near is not None and t[i] - t[previous_near] <= 120:
                dt = t[i] - t[previous_near]
                if dt > 0 and acc[i] <= 30 and acc[previous_near] <= 30:
                    speed = math.hypot(x[i] - x[previous_near], y[i] - y[previous_near]) / dt
            if speed is not None and (fastest is None or speed > fastest):
                fastest = speed
            if previous_near is not None and t[i] - t[previous_near] <= MAX_GAP_S:
                near_s += t[i] - t[previous_near]
            previous_near = i
        else:
            previous_near = None
    return TraceSummary(
        points=len(t),
        start=t[0] if t else 0.0,
        end=t[-1] if t else 0.0,
        stops=stops,
        closest_m=closest,
        closest_at=closest_at,
        speed_near_mps=fastest,
        seconds_near=near_s,
        mock_points=trace.mock_points,
    )


def position_at(
    trace: Trace,
    address: tuple[float, float],
    when: float,
    skew_s: float = 0.0,
    within: float = 120,
) -> tuple[float, float, float, float] | None:
    """Where the trace was at ``when`` (true time): ``(x, y, accuracy, seconds away)`` of
    the nearest usable point within ``within`` seconds, or ``None``."""
    target = when + skew_s  # in the phone's clock, as ``trace.t``
    ts = trace.t
    hi = bisect.bisect_left(ts, target)
    lo = hi - 1
    best: int | None = None
    gap = within
    while lo >= 0 and target - ts[lo] <= gap:
        if trace.acc[lo] <= MAX_ACCURACY_M:
            best, gap = lo, target - ts[lo]
            break
        lo -= 1
    while hi < len(ts) and ts[hi] - target <= gap:
        if trace.acc[hi] <= MAX_ACCURACY_M:
            if best is None or ts[hi] - target < gap:
                best, gap = hi, ts[hi] - target
            break
        hi += 1
    if best is None:
        return None
    lat0, lon0 = address
    kx = EARTH_M_PER_DEG * math.cos(math.radians(lat0))
    return (
        (trace.lon[best] - lon0) * kx,
        (trace.lat[best] - lat0) * EARTH_M_PER_DEG,
        trace.acc[best],
        abs(ts[best] - target),
    )
