"""Calendars API: working hours, leave and holidays, service areas, who may set and read
them, the conflict check they feed, and the technician's own ``calendar`` document in
the pull."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from world import assert_error, login

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEK = {d: [["08:30", "12:00"], ["13:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
WEEK |= {d: [["08:30", "12:00"], ["13:00", "18:00"]] for d in ("sat", "sun")}


def _day(days: int = 3):  # type: ignore[no-untyped-def]
    return datetime.now(UTC).astimezone(SHANGHAI).date() + timedelta(days=days)


def _window(day, start: time, hours: float = 2) -> dict[str, str]:  # type: ignore[no-untyped-def]
    a = datetime.combine(day, start, tzinfo=SHANGHAI)
    return {
        "window_start": a.astimezone(UTC).isoformat(),
        "window_end": (a + timedelta(hours=hours)).astimezone(UTC).isoformat(),
    }


def _job(client, desk, world, window):  # type: ignore[no-untyped-def]
    r = client.post(
        "/jobs",
        json={"customer_id": str(world["customer1"]), "kind": "install", **window},
        headers=desk,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _give(client, desk, world, job_id, tech="tech1"):  # type: ignore[no-untyped-def]
    return client.post(
        f"/jobs/{job_id}/assign",
        json={"provider_id": str(world["p1"]), "technician_id": str(world[tech])},
        headers=desk,
    )


def test_who_sets_and_reads_a_calendar(client, world):  # type: ignore[no-untyped-def]
    url = f"/users/{world['tech1']}/calendar"
    body = {"weekly": WEEK, "jobs_per_window": 2, "home_latitude": 30.28, "home_longitude": 120.13}
    manager1, manager2 = login(client, "manager1"), login(client, "manager2")
    assert_error(client.put(url, json=body, headers=manager2), 404, "technician_not_found")
    r = client.put(url, json=body, headers=manager1)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["has_hours"] is True and out["jobs_per_window"] == 2
    assert list(out["weekly"]) == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    tech1 = login(client, "tech1")
    assert client.get(url, headers=tech1).json()["weekly"]["mon"] == [
        ["08:30", "12:00"],
        ["13:00", "18:00"],
    ]
    assert client.put(url, json=body, headers=tech1).status_code == 403
    other = f"/users/{world['tech1b']}/calendar"
    assert_error(client.get(other, headers=tech1), 404, "technician_not_found")
    bad = {"weekly": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}
    assert_error(client.put(url, json=bad, headers=manager1), 422, "invalid_hours")
    backwards = {"weekly": {"mon": [["12:00", "09:00"]]}}
    assert_error(client.put(url, json=backwards, headers=manager1), 422, "invalid_hours")
    assert client.put(url, json={"weekly": {"someday": []}}, headers=manager1).status_code == 400
    half = {"weekly": {}, "home_latitude": 30.0}
    assert_error(client.put(url, json=half, headers=manager1), 422, "incomplete_position")


def test_hours_leave_and_holidays_refuse_bookings(client, world):  # type: ignore[no-untyped-def]
    admin, desk = login(client, "admin"), login(client, "dispatcher")
    assert (
        client.put(
            f"/users/{world['tech1']}/calendar", json={"weekly": WEEK}, headers=admin
        ).status_code
        == 200
    )
    day = _day()
    # lunch is not working time
    lunch = _job(client, desk, world, _window(day, time(11, 30)))
    body = assert_error(_give(client, desk, world, lunch), 409, "technician_busy")
    assert body["details"]["clashes"][0]["kind"] == "outside_hours"
    assert (
        _give(client, desk, world, _job(client, desk, world, _window(day, time(9)))).status_code
        == 200
    )
    # leave that afternoon
    r = client.post(
        f"/users/{world['tech1']}/calendar/exceptions",
        json={
            "first_day": day.isoformat(),
            "last_day": day.isoformat(),
            "start": "13:00",
            "end": "18:00",
            "reason": "dentist",
        },
        headers=desk,
    )
    assert r.status_code == 201, r.text
    leave = r.json()
    afternoon = _job(client, desk, world, _window(day, time(14)))
    body = assert_error(_give(client, desk, world, afternoon), 409, "technician_busy")
    assert body["details"]["clashes"][0]["kind"] == "off"
    assert "dentist" in body["message"]
    # a holiday of the whole provider the next day
    r = client.post(
        f"/providers/{world['p1']}/calendar/exceptions",
        json={
            "first_day": (day + timedelta(days=1)).isoformat(),
            "last_day": (day + timedelta(days=1)).isoformat(),
            "reason": "National Day",
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    holiday = r.json()
    assert holiday["technician_id"] is None
    next_day = _job(client, desk, world, _window(day + timedelta(days=1), time(9)))
    body = assert_error(_give(client, desk, world, next_day), 409, "technician_busy")
    assert "National Day" in body["message"]
    listed = client.get(f"/users/{world['tech1']}/calendar/exceptions", headers=desk).json()
    assert {e["id"] for e in listed} == {leave["id"], holiday["id"]}
    # bad exceptions
    assert_error(
        client.post(
            f"/users/{world['tech1']}/calendar/exceptions",
            json={"first_day": day.isoformat(), "last_day": (day - timedelta(days=1)).isoformat()},
            headers=desk,
        ),
        422,
        "invalid_days",
    )
    # another provider's manager can neither see nor remove them
    manager2 = login(client, "manager2")
    assert (
        client.get(f"/providers/{world['p1']}/calendar/exceptions", headers=manager2).status_code
        == 404
    )
    r = client.delete(
        f"/providers/{world['p1']}/calendar/exceptions/{holiday['id']}", headers=manager2
    )
    assert r.status_code == 404
    r = client.delete(
        f"/providers/{world['p1']}/calendar/exceptions/{holiday['id']}",
        headers=login(client, "manager1"),
    )
    assert r.status_code == 204
    assert _give(client, desk, world, next_day).status_code == 200


def test_service_areas_belong_to_the_provider(client, world):  # type: ignore[no-untyped-def]
    manager1 = login(client, "manager1")
    url = f"/providers/{world['p1']}/service-areas"
    area = {
        "city_id": str(world["hangzhou"]),
        "name": "Xihu",
        "latitude": 30.27,
        "longitude": 120.13,
        "radius_km": 8,
        "daily_jobs": 40,
    }
    r = client.post(url, json=area, headers=manager1)
    assert r.status_code == 201, r.text
    created = r.json()
    assert_error(
        client.post(url, json={**area, "city_id": str(world["nanjing"])}, headers=manager1),
        422,
        "provider_not_covering_city",
    )
    assert [a["id"] for a in client.get(url, headers=manager1).json()] == [created["id"]]
    assert client.get(url, headers=login(client, "manager2")).status_code == 404
    assert client.delete(f"{url}/{created['id']}", headers=manager1).status_code == 204
    assert client.get(url, headers=manager1).json() == []


def test_the_phone_gets_its_own_calendar(client, world):  # type: ignore[no-untyped-def]
    from test_sync_api import Phone

    phone = Phone(client, "tech1")
    phone.pull_all()
    key = ("calendar", str(world["tech1"]))
    assert key not in phone.docs  # nothing given yet
    admin = login(client, "admin")
    client.put(f"/users/{world['tech1']}/calendar", json={"weekly": WEEK}, headers=admin)
    phone.pull_all()
    doc = phone.docs[key]
    assert doc["weekly"]["sat"] == [["08:30", "12:00"], ["13:00", "18:00"]]
    assert doc["timezone"] == "Asia/Shanghai" and doc["exceptions"] == []
    day = _day(5)
    client.post(
        f"/providers/{world['p1']}/calendar/exceptions",
        json={"first_day": day.isoformat(), "last_day": day.isoformat(), "reason": "Holiday"},
        headers=admin,
    )
    phone.pull_all()
    [holiday] = phone.docs[key]["exceptions"]
    assert holiday["provider_wide"] is True and holiday["reason"] == "Holiday"
    # only their own: tech1b's phone holds tech1b's calendar, never tech1's
    other = Phone(client, "tech1b")
    other.pull_all()
    assert key not in other.docs
    assert other.docs[("calendar", str(world["tech1b"]))]["exceptions"][0]["reason"] == "Holiday"
