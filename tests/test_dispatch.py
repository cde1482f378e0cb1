"""Calendars and capacity: an overlapping booking is refused unless overridden."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import TestClient
from world import assert_error, login


@pytest.fixture
def strict(settings, world):  # type: ignore[no-untyped-def]
    from server.app import create_app

    app = create_app(dataclasses.replace(settings, dispatch_default_jobs_per_window=1))
    with TestClient(app) as c:
        yield c


def _job(client, desk, world, start):  # type: ignore[no-untyped-def]
    body = {
        "customer_id": str(world["customer1"]),
        "kind": "install",
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=2)).isoformat(),
    }
    r = client.post("/jobs", json=body, headers=desk)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_overlapping_booking_refused_unless_overridden(strict, world):  # type: ignore[no-untyped-def]
    desk = login(strict, "dispatcher")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    first = _job(strict, desk, world, start)
    second = _job(strict, desk, world, start + timedelta(hours=1))
    give = {"provider_id": str(world["p1"]), "technician_id": str(world["tech1"])}
    assert strict.post(f"/jobs/{first}/assign", json=give, headers=desk).status_code == 200
    body = assert_error(
        strict.post(f"/jobs/{second}/assign", json=give, headers=desk), 409, "technician_busy"
    )
    assert body["details"]["clashes"][0]["job_id"] == first
    assert_error(
        strict.post(
            f"/jobs/{second}/assign", json={**give, "override_conflict": True}, headers=desk
        ),
        422,
        "override_reason_required",
    )
    r = strict.post(
        f"/jobs/{second}/assign",
        json={**give, "override_conflict": True, "reason": "Customer insists"},
        headers=desk,
    )
    assert r.status_code == 200, r.text
    history = strict.get(f"/jobs/{second}/history", headers=desk).json()
    assigned = [e for e in history if e["kind"] == "assigned"][-1]
    assert assigned["data"]["conflict_overridden"][0]["job_id"] == first


def test_completing_an_install_records_its_installer_and_routes_repairs_to_them(client, world):  # type: ignore[no-untyped-def]
    from test_callbacks import _checkin
    from test_sync_api import Phone, make_job

    desk = login(client, "dispatcher")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    job = make_job(
        client,
        desk,
        world,
        tech="tech1",
        kind="install",
        window_start=start.isoformat(),
        window_end=(start + timedelta(hours=2)).isoformat(),
    )
    phone = Phone(client, "tech1")
    res = phone.push(
        [
            _checkin(phone, job["id"], 30.2791, 120.1301, start + timedelta(minutes=5)),
            phone.mutation("job.start_work", job["id"]),
            phone.mutation("job.complete", job["id"], {"summary": "Installed"}),
        ]
    )
    assert [o["status"] for o in res["outcomes"]] == ["applied"] * 3, res
    history = client.get(f"/jobs/{job['id']}/history", headers=desk).json()
    [event] = [e for e in history if e["kind"] == "installer_recorded"]
    assert event["data"]["installer_id"] == str(world["tech1"])
    assert event["data"]["before"]["installer_id"] == str(world["tech1b"])
    # a later repair of that appliance lists the new installer first
    r = client.post(
        "/jobs",
        json={
            "customer_id": str(world["customer1"]),
            "kind": "repair",
            "appliance_id": str(world["appliance1"]),
        },
        headers=desk,
    )
    assert r.status_code == 201, r.text
    repair = r.json()["id"]
    client.post(f"/jobs/{repair}/assign", json={"provider_id": str(world["p1"])}, headers=desk)
    cands = client.get(f"/jobs/{repair}/candidates", headers=desk).json()
    assert cands[0]["technician_id"] == str(world["tech1"]) and cands[0]["is_installer"] is True
