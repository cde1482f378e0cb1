"""Geofence verdicts, distances and impossible travel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.geo import Fix, distance_m, geofence, impossible_travel

HOME = (30.2790, 120.1300)  # a customer in Hangzhou


def test_known_distance():
    # West Lake to Hangzhou East station, about 7.7 km
    assert distance_m(30.2460, 120.1500, 30.2905, 120.2133) == pytest.approx(7_700, rel=0.1)


@pytest.mark.parametrize(
    ("lat", "lon", "acc", "verdict"),
    [
        (30.2791, 120.1301, 10.0, "pass"),  # at the door
        (30.3060, 120.1300, 15.0, "fail"),  # 3 km away
        (30.2800, 120.1300, 500.0, "too_inaccurate"),  # 110 m away, but ±500 m
        (30.3060, 120.1300, 500.0, "fail"),  # ±500 m cannot bring 3 km inside 200 m
        (None, None, None, "no_fix"),
    ],
)
def test_geofence_verdicts(lat, lon, acc, verdict):
    got, distance = geofence(
        latitude=lat,
        longitude=lon,
        accuracy_m=acc,
        target_latitude=HOME[0],
        target_longitude=HOME[1],
    )
    assert got == verdict
    assert (distance is None) == (verdict == "no_fix")


def test_customer_without_coordinates_is_no_fix():
    assert geofence(
        latitude=30.0, longitude=120.0, accuracy_m=5, target_latitude=None, target_longitude=None
    ) == ("no_fix", None)


def test_impossible_travel():
    t = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    hz = Fix(30.2790, 120.1300, t)
    shanghai_10_min_later = Fix(31.2304, 121.4737, t + timedelta(minutes=10))
    across_town_30_min_later = Fix(30.3100, 120.1600, t + timedelta(minutes=30))
    assert impossible_travel(hz, shanghai_10_min_later) is not None
    assert impossible_travel(hz, across_town_30_min_later) is None


@given(st.floats(-80, 80), st.floats(-179, 179), st.floats(-80, 80), st.floats(-179, 179))
def test_distance_is_a_metric(a, b, c, d):
    assert distance_m(a, b, c, d) == pytest.approx(distance_m(c, d, a, b), abs=1e-6)
    assert distance_m(a, b, a, b) == pytest.approx(0, abs=1e-6)
    assert 0 <= distance_m(a, b, c, d) <= 20_100_000
