"""The arguments of ``job.location_trace``: a chunk of the breadcrumbs a phone records
en route and on site, in a compact columnar form (docs/protocol/location-trace.md).

One point is (time, latitude, longitude, accuracy, speed, mock flag). A chunk carries
its points as parallel integer columns, each but the accuracy, speed and mock columns
delta-encoded (the first value absolute, every next one the change from the previous
point), so a point costs a few bytes of JSON and the signed bytes are the same in every
language (integers only: RFC 8785 has nothing to round)::

    start       the first point's time (the phone's clock), an RFC 3339 date-time
    dt_ms       per point: milliseconds since the previous point (the first: since
                ``start``, normally 0); every point after the first strictly later
    lat_e6      per point: latitude * 10⁶ (WGS-84); the first absolute, then deltas
    lon_e6      per point: longitude * 10⁶; the first absolute, then deltas
    accuracy_m  per point: the 68 % accuracy radius in whole metres, 0…10 000
    speed_dms   per point: speed in decimetres per second, 0…1 000, -1 = unknown;
                or absent when the phone reports no speed at all
    mock        the indices (increasing) of the points reported as mock locations

A long trace is sent as several chunks of one ``trace_id`` numbered by ``seq`` (0, 1,
2…); ``last`` marks the phone's final chunk of it. Each chunk is a mutation of its own,
signed, validated and kept on its own: a poisoned chunk is rejected alone, with a
stable code (``check``), and the others stay.

Shared by the server (``sync.validation.decode_args`` calls ``check``) and the reference
client (``encode_points`` to build chunks, ``check`` before it queues one).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import msgspec

from sync.validation import Violation

__all__ = [
    "MAX_CHUNKS",
    "MAX_CHUNK_SPAN",
    "MAX_POINTS_PER_CHUNK",
    "LocationTraceArgs",
    "TracePoint",
    "decode_points",
    "encode_points",
]

MAX_POINTS_PER_CHUNK = 500
"""At most this many points in one ``job.location_trace``."""
MAX_CHUNKS = 1000
"""``seq`` runs from 0 to ``MAX_CHUNKS - 1``."""
MAX_CHUNK_SPAN = timedelta(hours=12)
"""A chunk's first and last point are at most this far apart."""
MAX_ACCURACY_M = 10_000
MAX_SPEED_DMS = 1_000
"""100 m/s (360 km/h): beyond it a speed is not a technician's."""
E6 = 1_000_000


@dataclass(frozen=True, slots=True)
class TracePoint:
    """One breadcrumb, decoded: ``speed_mps`` is ``None`` when unknown."""

    at: datetime
    latitude: float
    longitude: float
    accuracy_m: float
    speed_mps: float | None = None
    mock: bool = False


class LocationTraceArgs(msgspec.Struct, forbid_unknown_fields=True):
    """A chunk of a location trace (columns described in docs/protocol/location-trace.md)."""

    trace_id: uuid.UUID
    """The phone's id for the whole trace of this job (every chunk carries it)."""
    seq: Annotated[int, msgspec.Meta(ge=0, le=MAX_CHUNKS - 1, examples=[0])]
    """This chunk's number in the trace: 0, 1, 2…"""
    start: datetime
    """The first point's time, by the phone's clock."""
    dt_ms: list[int]
    lat_e6: list[int]
    lon_e6: list[int]
    accuracy_m: list[int]
    speed_dms: list[int] | None = None
    mock: list[int] = []
    last: bool = False
    """The phone's final chunk of this trace."""

    def check(self) -> None:
        """Raise the ``Violation`` of the first rule this chunk breaks (stable codes:
        ``trace_empty``, ``trace_too_many_points``, ``trace_columns_mismatch``,
        ``trace_out_of_order``, ``trace_span_too_long``, ``trace_out_of_range``)."""
        n = len(self.dt_ms)
        if n == 0:
            raise Violation(
                "trace_empty", "A location trace chunk needs at least one point.", "args.dt_ms"
            )
        if n > MAX_POINTS_PER_CHUNK:
            raise Violation(
                "trace_too_many_points",
                f"A location trace chunk holds at most {MAX_POINTS_PER_CHUNK} points; "
                "send the rest in the next chunk.",
                "args.dt_ms",
                {"max_points": MAX_POINTS_PER_CHUNK, "points": n},
            )
        columns = {"lat_e6": self.lat_e6, "lon_e6": self.lon_e6, "accuracy_m": self.accuracy_m}
        if self.speed_dms is not None:
            columns["speed_dms"] = self.speed_dms
        for name, column in columns.items():
            if len(column) != n:
                raise Violation(
                    "trace_columns_mismatch",
                    f"args.{name} has {len(column)} values for {n} points.",
                    f"args.{name}",
                    {"points": n, "values": len(column)},
                )
        total = 0
        for i, dt in enumerate(self.dt_ms):
            if dt < 0 or (dt == 0 and i > 0):
                raise Violation(
                    "trace_out_of_order",
                    "Every point of a trace must come after the previous one.",
                    f"args.dt_ms[{i}]",
                    {"index": i},
                )
            total += dt
        if total > MAX_CHUNK_SPAN.total_seconds() * 1000:
            raise Violation(
                "trace_span_too_long",
                f"A chunk's points must lie within {MAX_CHUNK_SPAN.total_seconds() / 3600:.0f} "
                "hours of its start.",
                "args.dt_ms",
                {"max_hours": MAX_CHUNK_SPAN.total_seconds() / 3600},
            )
        _running(self.lat_e6, 90 * E6, "lat_e6")
        _running(self.lon_e6, 180 * E6, "lon_e6")
        for i, acc in enumerate(self.accuracy_m):
            if not 0 <= acc <= MAX_ACCURACY_M:
                raise _range(f"accuracy_m[{i}]", 0, MAX_ACCURACY_M)
        for i, speed in enumerate(self.speed_dms or ()):
            if not -1 <= speed <= MAX_SPEED_DMS:
                raise _range(f"speed_dms[{i}]", -1, MAX_SPEED_DMS)
        previous = -1
        for i, index in enumerate(self.mock):
            if not previous < index < n:
                raise Violation(
                    "trace_out_of_range",
                    "args.mock must list point indices in increasing order, each below "
                    "the number of points.",
                    f"args.mock[{i}]",
                    {"points": n},
                )
            previous = index


def _range(field: str, low: int, high: int) -> Violation:
    return Violation(
        "trace_out_of_range",
        f"args.{field} must lie in [{low}, {high}].",
        f"args.{field}",
        {"min": low, "max": high},
    )


def _running(column: list[int], bound: int, name: str) -> None:
    value = 0
    for i, delta in enumerate(column):
        value += delta
        if not -bound <= value <= bound:
            raise Violation(
                "trace_out_of_range",
                f"Point {i} of args.{name} decodes to {value / E6} degrees, beyond ±{bound // E6}.",
                f"args.{name}[{i}]",
                {"index": i, "min": -bound // E6, "max": bound // E6},
            )


def decode_points(args: LocationTraceArgs) -> list[TracePoint]:
    """The chunk's points with absolute values (``check`` passed)."""
    out: list[TracePoint] = []
    at, lat, lon = args.start, 0, 0
    speeds: Sequence[int] = args.speed_dms if args.speed_dms is not None else ()
    mock = set(args.mock)
    for i, dt in enumerate(args.dt_ms):
        at += timedelta(milliseconds=dt)
        lat += args.lat_e6[i]
        lon += args.lon_e6[i]
        speed = speeds[i] if speeds else -1
        out.append(
            TracePoint(
                at,
                lat / E6,
                lon / E6,
                float(args.accuracy_m[i]),
                speed / 10 if speed >= 0 else None,
                i in mock,
            )
        )
    return out


def encode_points(
    trace_id: uuid.UUID, seq: int, points: Iterable[TracePoint], *, last: bool = False
) -> LocationTraceArgs:
    """One chunk of ``points`` (in time order, at most ``MAX_POINTS_PER_CHUNK``): times
    rounded to the millisecond, positions to 10⁻⁶ degree (≈ 0.1 m), accuracy to the
    metre, speed to 0.1 m/s. Two points in the same millisecond: the later is dropped."""
    pts = list(points)
    if not pts:
        raise ValueError("a chunk needs at least one point")
    start = pts[0].at.replace(microsecond=pts[0].at.microsecond // 1000 * 1000)
    dt_ms: list[int] = []
    lat_e6: list[int] = []
    lon_e6: list[int] = []
    acc: list[int] = []
    speed: list[int] = []
    mock: list[int] = []
    prev_ms, prev_lat, prev_lon = 0, 0, 0
    any_speed = any(p.speed_mps is not None for p in pts)
    for p in pts:
        ms = round((p.at - start).total_seconds() * 1000)
        if dt_ms and ms <= prev_ms:
            continue
        la, lo = round(p.latitude * E6), round(p.longitude * E6)
        dt_ms.append(ms - prev_ms)
        lat_e6.append(la - prev_lat)
        lon_e6.append(lo - prev_lon)
        acc.append(min(MAX_ACCURACY_M, max(0, round(p.accuracy_m))))
        if any_speed:
            speed.append(
                -1 if p.speed_mps is None else min(MAX_SPEED_DMS, max(0, round(p.speed_mps * 10)))
            )
        if p.mock:
            mock.append(len(dt_ms) - 1)
        prev_ms, prev_lat, prev_lon = ms, la, lo
    return LocationTraceArgs(
        trace_id=trace_id,
        seq=seq,
        start=start,
        dt_ms=dt_ms,
        lat_e6=lat_e6,
        lon_e6=lon_e6,
        accuracy_m=acc,
        speed_dms=speed if any_speed else None,
        mock=mock,
        last=last,
    )
