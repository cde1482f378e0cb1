"""Dispatch API for jobs: rules, scopes and bad input, through the real app."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from world import assert_error, login, run_db

from server.db.models import Job, Notification


def _window(hours_from_now: float = 24, length: float = 2) -> dict[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours_from_now)
    return {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=length)).isoformat(),
    }


@pytest.fixture
def desk(client, world):
    return login(client, "dispatcher")


def _create(client, headers, world, **over):
    body = {"customer_id": str(world["customer1"]), "kind": "install", **over}
    r = client.post("/jobs", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_create_pending_and_booked(client, world, desk):
    pending = _create(client, desk, world)
    assert pending["status"] == "new" and pending["pending_appointment"] is True
    assert pending["number"].startswith("J") and pending["city_id"] == str(world["hangzhou"])
    booked = _create(client, desk, world, **_window())
    assert booked["pending_appointment"] is False and booked["number"] != pending["number"]


def test_urgent_job_gets_sla_clocks(client, world, desk):
    job = _create(client, desk, world, priority="urgent")
    created = datetime.fromisoformat(job["created_at"])
    assert datetime.fromisoformat(job["contact_due_at"]) - created == timedelta(minutes=30)
    assert datetime.fromisoformat(job["onsite_due_at"]) - created == timedelta(hours=2)
    normal = _create(client, desk, world)
    assert normal["contact_due_at"] is None


def test_after_sales_needs_appliance_and_links_previous(client, world, desk):
    assert_error(
        client.post(
            "/jobs", json={"customer_id": str(world["customer1"]), "kind": "repair"}, headers=desk
        ),
        422,
        "appliance_required",
    )
    first = _create(client, desk, world, kind="repair", appliance_id=str(world["appliance1"]))
    second = _create(client, desk, world, kind="repair", appliance_id=str(world["appliance1"]))
    assert first["previous_job_id"] is None
    assert second["previous_job_id"] == first["id"]
    # an appliance of another customer is refused
    assert_error(
        client.post(
            "/jobs",
            json={
                "customer_id": str(world["customer1"]),
                "kind": "repair",
                "appliance_id": str(world["appliance2"]),
            },
            headers=desk,
        ),
        422,
        "unknown_appliance",
    )


def test_bad_windows_refused_and_nothing_written(client, world, desk, database_url):
    before = run_db(database_url, lambda s: s.scalar(select(func.count()).select_from(Job)))
    w = _window()
    backwards = {"window_start": w["window_end"], "window_end": w["window_start"]}
    assert_error(
        client.post(
            "/jobs",
            json={"customer_id": str(world["customer1"]), "kind": "install", **backwards},
            headers=desk,
        ),
        422,
        "invalid_window",
    )
    assert_error(
        client.post(
            "/jobs",
            json={
                "customer_id": str(world["customer1"]),
                "kind": "install",
                "window_start": w["window_start"],
            },
            headers=desk,
        ),
        422,
        "incomplete_window",
    )
    assert_error(
        client.post(
            "/jobs",
            json={"customer_id": str(world["customer1"]), "kind": "install", **_window(-48)},
            headers=desk,
        ),
        422,
        "window_in_past",
    )
    assert_error(
        client.post(
            "/jobs",
            json={"customer_id": str(world["customer1"]), "kind": "install", **_window(length=13)},
            headers=desk,
        ),
        422,
        "window_too_long",
    )
    assert run_db(database_url, lambda s: s.scalar(select(func.count()).select_from(Job))) == before


def test_malformed_and_unknown_fields(client, world, desk):
    assert_error(
        client.post(
            "/jobs",
            content=b'{"customer_id": ',
            headers={**desk, "Content-Type": "application/json"},
        ),
        400,
        "malformed_json",
    )
    assert_error(
        client.post(
            "/jobs",
            json={"customer_id": str(world["customer1"]), "kind": "install", "colour": "red"},
            headers=desk,
        ),
        400,
        "unknown_field",
    )
    assert_error(
        client.post(
            "/jobs", json={"customer_id": str(world["customer1"]), "kind": "teleport"}, headers=desk
        ),
        400,
        "invalid_request",
    )
    assert_error(
        client.post("/jobs", json={"customer_id": "not-a-uuid", "kind": "install"}, headers=desk),
        400,
        "invalid_request",
    )


def test_assignment_rules(client, world, desk, database_url):
    job = _create(client, desk, world, **_window())
    url = f"/jobs/{job['id']}/assign"
    assert_error(
        client.post(url, json={"provider_id": str(world["p2"])}, headers=desk),
        422,
        "provider_not_covering_city",
    )
    assert_error(
        client.post(
            url,
            json={"provider_id": str(world["p1"]), "technician_id": str(world["tech2"])},
            headers=desk,
        ),
        422,
        "technician_not_in_provider",
    )
    assert_error(
        client.post(
            url,
            json={"provider_id": str(world["p1"]), "technician_id": str(world["tech1off"])},
            headers=desk,
        ),
        422,
        "technician_inactive",
    )
    assert_error(
        client.post(
            url,
            json={"provider_id": str(world["p1"]), "technician_id": str(world["manager1"])},
            headers=desk,
        ),
        422,
        "unknown_technician",
    )
    # refused attempts changed nothing
    assert client.get(f"/jobs/{job['id']}", headers=desk).json()["version"] == job["version"]
    r = client.post(
        url,
        json={"provider_id": str(world["p1"]), "technician_id": str(world["tech1"])},
        headers=desk,
    )
    assert r.status_code == 200 and r.json()["status"] == "assigned"
    assert r.json()["technician_id"] == str(world["tech1"])
    # reassign within the provider
    r = client.post(
        url,
        json={
            "provider_id": str(world["p1"]),
            "technician_id": str(world["tech1b"]),
            "reason": "tech1 is ill",
        },
        headers=desk,
    )
    assert r.status_code == 200 and r.json()["technician_id"] == str(world["tech1b"])
    kinds = [e["kind"] for e in client.get(f"/jobs/{job['id']}/history", headers=desk).json()]
    assert kinds == ["created", "assigned", "reassigned"]


def test_history_records_who_and_from_where(client, world, desk):
    job = _create(client, desk, world)
    events = client.get(f"/jobs/{job['id']}/history", headers=desk).json()
    assert events[0]["kind"] == "created"
    assert events[0]["actor_id"] == str(world["dispatcher"])
    assert events[0]["actor_role"] == "dispatcher" and events[0]["source"] == "api"
    assert events[0]["remote_addr"]


def _assigned_job(client, world, desk, tech="tech1", **over):
    job = _create(client, desk, world, **{**_window(), **over})
    r = client.post(
        f"/jobs/{job['id']}/assign",
        json={"provider_id": str(world["p1"]), "technician_id": str(world[tech])},
        headers=desk,
    )
    assert r.status_code == 200
    return r.json()


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("tech1", 200),
        ("tech1b", 404),
        ("tech2", 404),
        ("manager1", 200),
        ("provdispatch1", 200),
        ("manager2", 404),
        ("auditor", 200),
        ("admin", 200),
        ("dispatcher", 200),
    ],
)
def test_job_visibility(client, world, desk, who, status):
    job = _assigned_job(client, world, desk)
    r = client.get(f"/jobs/{job['id']}", headers=login(client, who))
    assert r.status_code == status, r.text
    if status == 404:
        assert r.json()["code"] == "job_not_found"
    listed = client.get("/jobs", headers=login(client, who)).json()["items"]
    assert (job["id"] in [j["id"] for j in listed]) == (status == 200)


def test_no_token_refused(client, world, desk):
    job = _assigned_job(client, world, desk)
    assert_error(client.get(f"/jobs/{job['id']}"), 401, "not_authenticated")
    assert_error(client.get("/jobs"), 401, "not_authenticated")


def test_technician_cannot_dispatch(client, world, desk):
    job = _assigned_job(client, world, desk)
    tech = login(client, "tech1")
    assert_error(
        client.post(
            "/jobs", json={"customer_id": str(world["customer1"]), "kind": "install"}, headers=tech
        ),
        403,
        "role_forbidden",
    )
    assert_error(
        client.post(f"/jobs/{job['id']}/cancel", json={"reason": "x"}, headers=tech),
        403,
        "role_forbidden",
    )


def test_provider_staff_limits(client, world, desk):
    job = _assigned_job(client, world, desk)
    m1, m2 = login(client, "manager1"), login(client, "manager2")
    # their own technicians: allowed
    r = client.post(
        f"/jobs/{job['id']}/assign",
        json={"provider_id": str(world["p1"]), "technician_id": str(world["tech1b"])},
        headers=m1,
    )
    assert r.status_code == 200
    # moving the job to another provider: not theirs to do
    assert_error(
        client.post(
            f"/jobs/{job['id']}/assign", json={"provider_id": str(world["p2"])}, headers=m1
        ),
        403,
        "provider_forbidden",
    )
    # another provider's manager cannot even see it
    assert_error(
        client.post(
            f"/jobs/{job['id']}/assign",
            json={"provider_id": str(world["p2"]), "technician_id": str(world["tech2"])},
            headers=m2,
        ),
        404,
        "job_not_found",
    )
    # only the call center cancels
    assert_error(
        client.post(
            f"/jobs/{job['id']}/cancel",
            json={"reason": "x"},
            headers=login(client, "provdispatch1"),
        ),
        403,
        "provider_forbidden",
    )


def test_reschedule_notifies_and_closed_job_refused(client, world, desk, database_url):
    job = _assigned_job(client, world, desk)
    r = client.post(
        f"/jobs/{job['id']}/reschedule",
        json={**_window(48), "reason": "customer asked"},
        headers=desk,
    )
    assert r.status_code == 200
    assert r.json()["window_start"] != job["window_start"]
    notes = client.get("/notifications", params={"job_id": job["id"]}, headers=desk).json()
    assert [n["template"] for n in notes] == ["appointment_rescheduled"]
    assert notes[0]["status"] == "queued" and job["number"] in notes[0]["body"]
    # clearing the window notifies too, and makes the appointment pending
    r = client.delete(f"/jobs/{job['id']}/appointment", headers=desk)
    assert r.status_code == 200 and r.json()["pending_appointment"] is True
    # cancel, then try to reschedule the closed job
    r = client.post(
        f"/jobs/{job['id']}/cancel", json={"reason": "customer returned it"}, headers=desk
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    version = r.json()["version"]
    assert_error(
        client.post(f"/jobs/{job['id']}/reschedule", json=_window(72), headers=desk),
        409,
        "job_closed",
    )
    assert_error(
        client.post(f"/jobs/{job['id']}/cancel", json={"reason": "again"}, headers=desk),
        409,
        "job_closed",
    )
    assert client.get(f"/jobs/{job['id']}", headers=desk).json()["version"] == version
    templates = run_db(
        database_url,
        lambda s: s.scalars(
            select(Notification.template)
            .where(Notification.job_id == uuid.UUID(job["id"]))
            .order_by(Notification.created_at)
        ),
    )
    assert list(templates) == ["appointment_rescheduled", "appointment_unscheduled"]


def test_first_booking_notifies_booked(client, world, desk):
    job = _create(client, desk, world)
    r = client.put(f"/jobs/{job['id']}/appointment", json=_window(), headers=desk)
    assert r.status_code == 200
    notes = client.get("/notifications", params={"job_id": job["id"]}, headers=desk).json()
    assert [n["template"] for n in notes] == ["appointment_booked"]


def test_unable_to_complete_job_is_rebooked_by_reschedule(client, world, desk, database_url):
    job = _assigned_job(client, world, desk)
    run_db(
        database_url,
        lambda s: s.execute(
            update(Job)
            .where(Job.id == uuid.UUID(job["id"]))
            .values(status="unable_to_complete", unable_reason="customer_not_home")
        ),
    )
    r = client.post(f"/jobs/{job['id']}/reschedule", json=_window(30), headers=desk)
    assert r.status_code == 200 and r.json()["status"] == "assigned"


def test_overdue_listing(client, world, desk, database_url):
    urgent = _assigned_job(client, world, desk, priority="urgent")
    calm = _assigned_job(client, world, desk)
    past = datetime.now(UTC) - timedelta(minutes=5)
    run_db(
        database_url,
        lambda s: s.execute(
            update(Job)
            .where(Job.id == uuid.UUID(urgent["id"]))
            .values(contact_due_at=past, onsite_due_at=past + timedelta(hours=2))
        ),
    )
    r = client.get("/jobs/overdue", headers=desk).json()
    ids = {j["id"]: j["overdue"] for j in r["items"]}
    assert ids == {urgent["id"]: ["contact_overdue"]}
    assert calm["id"] not in ids
    # contacting the customer stops that clock
    assert client.post(f"/jobs/{urgent['id']}/contacted", json={}, headers=desk).status_code == 200
    assert client.get("/jobs", params={"overdue": True}, headers=desk).json()["items"] == []


def test_candidates_put_installer_first(client, world, desk):
    job = _create(client, desk, world, kind="repair", appliance_id=str(world["appliance1"]))
    client.post(f"/jobs/{job['id']}/assign", json={"provider_id": str(world["p1"])}, headers=desk)
    cands = client.get(f"/jobs/{job['id']}/candidates", headers=desk).json()
    assert cands[0]["technician_id"] == str(world["tech1b"]) and cands[0]["is_installer"] is True
    assert {c["technician_id"] for c in cands} == {str(world["tech1"]), str(world["tech1b"])}


def test_list_filters(client, world, desk):
    a = _assigned_job(client, world, desk)
    b = _create(client, desk, world)
    by_status = client.get("/jobs", params={"status": ["assigned"]}, headers=desk).json()
    assert [j["id"] for j in by_status["items"]] == [a["id"]]
    pending = client.get("/jobs", params={"pending": True}, headers=desk).json()
    assert [j["id"] for j in pending["items"]] == [b["id"]]
    by_tech = client.get(
        "/jobs", params={"technician_id": str(world["tech1"])}, headers=desk
    ).json()
    assert by_tech["total"] == 1
    assert_error(client.get("/jobs", params={"limit": 0}, headers=desk), 400, "invalid_request")
