"""Where a technician was: distance to the customer, a geofence verdict, time on site
and impossible travel between check-ins. Pure functions; the rules' thresholds are
parameters so the evidence rules can set them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "GEOFENCE_RADIUS_M",
    "MAX_ACCURACY_M",
    "MAX_SPEED_KMH",
    "Fix",
    "distance_m",
    "geofence",
    "impossible_travel",
]

EARTH_RADIUS_M = 6_371_008.8
GEOFENCE_RADIUS_M = 200.0
"""A check-in within this distance of the customer's coordinates passes."""
MAX_ACCURACY_M = 100.0
"""A fix less accurate than this cannot prove presence either way."""
MAX_SPEED_KMH = 150.0
"""Faster than this between two check-ins in a city is not travel, it is a made-up fix."""


@dataclass(frozen=True, slots=True)
class Fix:
    latitude: float
    longitude: float
    at: datetime


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def geofence(
    *,
    latitude: float | None,
    longitude: float | None,
    accuracy_m: float | None,
    target_latitude: float | None,
    target_longitude: float | None,
    radius_m: float = GEOFENCE_RADIUS_M,
    max_accuracy_m: float = MAX_ACCURACY_M,
) -> tuple[str, float | None]:
    """``(verdict, distance)``: ``pass``, ``fail``, ``too_inaccurate`` or ``no_fix``.

    A fix whose accuracy circle lies wholly outside the fence fails even when it is
    imprecise; an imprecise fix that could be inside cannot pass."""
    if latitude is None or longitude is None or target_latitude is None or target_longitude is None:
        return "no_fix", None
    d = distance_m(latitude, longitude, target_latitude, target_longitude)
    accuracy = accuracy_m if accuracy_m is not None else 0.0
    if d - accuracy > radius_m:
        return "fail", d
    if accuracy > max_accuracy_m:
        return "too_inaccurate", d
    return ("pass" if d <= radius_m else "fail"), d


def impossible_travel(
    previous: Fix, current: Fix, max_speed_kmh: float = MAX_SPEED_KMH
) -> float | None:
    """The implied speed (km/h) if it is impossible, else None. Fixes with the same
    timestamp but kilometres apart are impossible too."""
    km = (
        distance_m(previous.latitude, previous.longitude, current.latitude, current.longitude)
        / 1000
    )
    hours = abs((current.at - previous.at).total_seconds()) / 3600
    if hours == 0:
        return math.inf if km > 1 else None
    speed = km / hours
    return speed if speed > max_speed_kmh else None
