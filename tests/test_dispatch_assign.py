"""Automatic assignment, explainable: the installer first, complaints to seniors, busy
and contradicted technicians not sent, city modes auto/suggest/manual, reasons in both
locales, and the candidates endpoint ranking the same way."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from world import assert_error, login

SHANGHAI = ZoneInfo("Asia/Shanghai")
EVERY_DAY = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def _window(days: int = 2, at: time = time(10)) -> dict[str, str]:
    """10:00-12:00 Shanghai time, ``days`` days from now (never the hour of the run)."""
    day = datetime.now(UTC).astimezone(SHANGHAI).date() + timedelta(days=days)
    start = datetime.combine(day, at, tzinfo=SHANGHAI)
    return {
        "window_start": start.astimezone(UTC).isoformat(),
        "window_end": (start + timedelta(hours=2)).astimezone(UTC).isoformat(),
    }


def _setup(client, world, mode: str = "auto") -> dict[str, str]:  # type: ignore[no-untyped-def]
    admin = login(client, "admin")
    r = client.put(f"/cities/{world['hangzhou']}/dispatch", json={"mode": mode}, headers=admin)
    assert r.status_code == 200, r.text
    # tech1 (senior) lives 0.5 km from Li Wei, tech1b (junior, the installer) 2.1 km
    for tech, lat in (("tech1", 30.2835), ("tech1b", 30.2979)):
        r = client.put(
            f"/users/{world[tech]}/calendar",
            json={"weekly": EVERY_DAY, "home_latitude": lat, "home_longitude": 120.1300},
            headers=admin,
        )
        assert r.status_code == 200, r.text
    return admin


def _repair(client, desk, world, **over):  # type: ignore[no-untyped-def]
    body = {
        "customer_id": str(world["customer1"]),
        "kind": "repair",
        "appliance_id": str(world["appliance1"]),
        **_window(),
        **over,
    }
    r = client.post("/jobs", json=body, headers=desk)
    assert r.status_code == 201, r.text
    return r.json()


def test_auto_mode_sends_the_installer_with_reasons_in_both_locales(client, world):  # type: ignore[no-untyped-def]
    _setup(client, world)
    desk = login(client, "dispatcher")
    job = _repair(client, desk, world)
    assert job["technician_id"] == str(world["tech1b"]) and job["status"] == "assigned"
    [choice] = client.get(f"/jobs/{job['id']}/dispatch", headers={**desk, **EN}).json()
    assert choice["state"] == "applied" and choice["trigger"] == "created"
    assert choice["summary"].startswith("the installer, 2.1 km from home, free 10:00\u201312:00")
    codes = [r["code"] for r in choice["reasons"]]
    assert codes[:3] == ["installer", "distance_home", "free"]
    assert choice["ranking"][0]["technician_id"] == str(world["tech1b"])
    assert choice["ranking"][1]["technician_id"] == str(world["tech1"])
    zh = client.get(f"/jobs/{job['id']}/dispatch", headers={**desk, **ZH}).json()[0]
    assert zh["summary"].startswith("原安装技师, 距住处 2.1 公里")
    history = client.get(f"/jobs/{job['id']}/history", headers=desk).json()
    [assigned] = [e for e in history if e["kind"] == "assigned"]
    assert assigned["source"] == "system"
    assert assigned["data"]["dispatch_choice_id"] == choice["id"]
    assert assigned["data"]["reason"].startswith("原安装技师")  # the brand's default locale


def test_a_complaint_goes_to_a_senior_and_candidates_never_list_the_junior_first(client, world):  # type: ignore[no-untyped-def]
    _setup(client, world, mode="manual")
    desk = login(client, "dispatcher")
    for days in (2, 3):
        _repair(client, desk, world, **_window(days))
    third = _repair(client, desk, world, **_window(4))
    assert third["is_complaint"] is True and third["technician_id"] is None  # manual: nobody
    assert client.get(f"/jobs/{third['id']}/dispatch", headers=desk).json() == []
    cands = client.get(f"/jobs/{third['id']}/candidates", headers={**desk, **EN}).json()
    assert [c["technician_id"] for c in cands] == [str(world["tech1"]), str(world["tech1b"])]
    senior, junior = cands
    assert senior["eligible"] is True and junior["eligible"] is False
    assert junior["is_installer"] is True  # the installer, but a complaint needs a senior
    assert [b["code"] for b in junior["blockers"]] == ["senior_required"]
    assert "senior" in junior["summary"]
    # asked for, the automatic choice is the senior
    r = client.post(f"/jobs/{third['id']}/dispatch", json={"mode": "auto"}, headers=desk)
    assert r.status_code == 201, r.text
    assert r.json()["technician_id"] == str(world["tech1"]) and r.json()["state"] == "applied"
    assert client.get(f"/jobs/{third['id']}", headers=desk).json()["technician_id"] == str(
        world["tech1"]
    )


def test_a_busy_installer_is_passed_over_and_flagged(client, world):  # type: ignore[no-untyped-def]
    _setup(client, world)
    desk = login(client, "dispatcher")
    first = _repair(client, desk, world)
    assert first["technician_id"] == str(world["tech1b"])
    # a second job in the same window: the installer is booked, the other one goes
    second = _repair(client, desk, world, kind="maintenance")
    assert second["technician_id"] == str(world["tech1"])
    cands = client.get(f"/jobs/{second['id']}/candidates", headers={**desk, **EN}).json()
    flagged = next(c for c in cands if c["technician_id"] == str(world["tech1b"]))
    assert flagged["eligible"] is False and cands[-1] == flagged
    assert flagged["blockers"][0]["code"] == "clash_appointment"
    assert first["number"] in flagged["blockers"][0]["text"]


def test_suggest_mode_waits_for_a_dispatcher(client, world):  # type: ignore[no-untyped-def]
    _setup(client, world, mode="suggest")
    desk = login(client, "dispatcher")
    job = _repair(client, desk, world)
    assert job["technician_id"] is None and job["status"] == "new"
    [choice] = client.get(f"/jobs/{job['id']}/dispatch", headers=desk).json()
    assert choice["state"] == "suggested" and choice["technician_id"] == str(world["tech1b"])
    r = client.post(f"/jobs/{job['id']}/dispatch/{choice['id']}/accept", headers=desk)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "confirmed"
    after = client.get(f"/jobs/{job['id']}", headers=desk).json()
    assert after["technician_id"] == str(world["tech1b"]) and after["status"] == "assigned"
    assert_error(
        client.post(f"/jobs/{job['id']}/dispatch/{choice['id']}/accept", headers=desk),
        409,
        "choice_not_open",
    )
    # a new suggestion supersedes nothing decided, and can be declined
    other = _repair(client, desk, world, kind="maintenance", **_window(5))
    [suggestion] = client.get(f"/jobs/{other['id']}/dispatch", headers=desk).json()
    r = client.post(
        f"/jobs/{other['id']}/dispatch/{suggestion['id']}/decline",
        json={"reason": "customer asked for someone else"},
        headers=desk,
    )
    assert r.status_code == 200 and r.json()["state"] == "declined"
    assert client.get(f"/jobs/{other['id']}", headers=desk).json()["technician_id"] is None


def test_a_provider_outside_its_service_areas_is_not_sent(client, world):  # type: ignore[no-untyped-def]
    admin = _setup(client, world)
    r = client.post(
        f"/providers/{world['p1']}/service-areas",
        json={
            "city_id": str(world["hangzhou"]),
            "name": "Binjiang",
            "latitude": 30.2084,
            "longitude": 120.2120,
            "radius_km": 3,
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    desk = login(client, "dispatcher")
    job = _repair(client, desk, world)
    assert job["technician_id"] is None
    [choice] = client.get(f"/jobs/{job['id']}/dispatch", headers={**desk, **EN}).json()
    assert choice["state"] == "none"
    assert all(not c["eligible"] for c in choice["ranking"])
    assert choice["ranking"][0]["blockers"][0]["code"] == "outside_service_area"


def test_a_contradicted_technician_is_not_sent_back_to_the_customer(client, world):  # type: ignore[no-untyped-def]
    from test_callbacks import fabricated_not_home
    from test_sync_api import Phone

    desk = login(client, "dispatcher")
    auditor = login(client, "auditor")
    phone = Phone(client, "tech1")
    fake = fabricated_not_home(client, world, phone, desk)
    _setup(client, world)  # auto from now on
    [task] = client.get("/callbacks", params={"kind": "not_home"}, headers=auditor).json()["items"]
    assert client.post(f"/callbacks/{task['id']}/take", headers=auditor).status_code == 200
    r = client.post(
        f"/callbacks/{task['id']}/outcomes",
        headers=auditor,
        json={"outcome": "contradicted", "comment": "Nobody came."},
    )
    assert r.status_code in (200, 201), r.text
    job = client.get(f"/jobs/{fake['id']}", headers=desk).json()
    assert job["technician_id"] == str(world["tech1b"])  # reopened and sent again, not to tech1
    choices = client.get(f"/jobs/{fake['id']}/dispatch", headers={**desk, **EN}).json()
    assert choices[0]["trigger"] == "reopened" and choices[0]["state"] == "applied"
    tech1 = next(c for c in choices[0]["ranking"] if c["technician_id"] == str(world["tech1"]))
    assert tech1["eligible"] is False
    assert "contradicted_here" in [b["code"] for b in tech1["blockers"]]


def test_city_dispatch_settings_default_and_validation(client, world):  # type: ignore[no-untyped-def]
    admin = login(client, "admin")
    got = client.get(f"/cities/{world['nanjing']}/dispatch", headers=admin).json()
    assert got["mode"] == "suggest" and got["stored"] is False
    assert got["contact_warn_minutes"] == 10 and got["onsite_warn_minutes"] == 30
    r = client.put(
        f"/cities/{world['nanjing']}/dispatch", json={"mode": "sometimes"}, headers=admin
    )
    assert r.status_code == 400, r.text
    manager = login(client, "manager1")
    assert (
        client.put(
            f"/cities/{world['nanjing']}/dispatch", json={"mode": "auto"}, headers=manager
        ).status_code
        == 403
    )
