"""Repeat repairs through the HTTP API: linking, complaints for seniors only, the
auditors' list and review, and who may see what."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from world import assert_error, login, run_db

from server.db.models import Job, User


@pytest.fixture
def desk(client, world):
    return login(client, "dispatcher")


@pytest.fixture
def auditor(client, world):
    return login(client, "auditor")


def _create(client, headers, world, *, kind="repair", appliance="appliance1", **over):
    customer = "customer1" if appliance == "appliance1" else "customer2"
    body = {
        "customer_id": str(world[customer]),
        "kind": kind,
        "appliance_id": str(world[appliance]),
        **over,
    }
    r = client.post("/jobs", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def _backdate(url, job_id, days):
    at = datetime.now(UTC) - timedelta(days=days)
    run_db(
        url,
        lambda s: s.execute(update(Job).where(Job.id == uuid.UUID(job_id)).values(created_at=at)),
    )


def _job_count(url):
    return run_db(url, lambda s: s.scalar(select(func.count()).select_from(Job)))


def _listed(client, headers, **params):
    r = client.get("/audit/repeat-repairs", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_second_repair_is_linked_flagged_and_listed(client, world, desk, auditor):
    first = _create(client, desk, world)
    assert (first["repeat_of_id"], first["repeat_seq"], first["is_complaint"]) == (None, 0, False)
    second = _create(client, desk, world, provider_id=str(world["p1"]))
    assert second["repeat_of_id"] == first["id"]
    assert second["repeat_seq"] == 2
    assert second["is_complaint"] is False
    assert second["repeat_reviewed_at"] is None
    # the job as read later carries the same link
    again = client.get(f"/jobs/{second['id']}", headers=desk).json()
    assert (again["repeat_of_id"], again["repeat_seq"]) == (first["id"], 2)
    # its history records the repeat with the chain
    history = client.get(f"/jobs/{second['id']}/history", headers=desk).json()
    [event] = [e for e in history if e["kind"] == "repeat_repair"]
    assert event["data"]["repeat_seq"] == 2
    assert event["data"]["complaint"] is False
    assert [c["id"] for c in event["data"]["chain"]] == [first["id"]]
    # a second repair within 30 days may still go to a junior technician
    r = client.post(
        f"/jobs/{second['id']}/assign",
        json={"provider_id": str(world["p1"]), "technician_id": str(world["tech1b"])},
        headers=desk,
    )
    assert r.status_code == 200, r.text
    # the auditors' list: the repeat, not the first job, with its chain
    page = _listed(client, auditor, reviewed="false")
    assert page["total"] == 1
    [item] = page["items"]
    assert item["job"]["id"] == second["id"]
    assert [c["id"] for c in item["chain"]] == [first["id"]]
    assert item["chain"][0]["number"] == first["number"]


def test_third_repair_is_a_complaint_for_seniors_only(client, world, desk, auditor, database_url):
    first = _create(client, desk, world)
    second = _create(client, desk, world)
    third = _create(client, desk, world)
    assert third["repeat_seq"] == 3 and third["is_complaint"] is True
    assert third["repeat_of_id"] == first["id"]
    assign = f"/jobs/{third['id']}/assign"
    p1 = str(world["p1"])

    body = assert_error(
        client.post(
            assign, json={"provider_id": p1, "technician_id": str(world["tech1b"])}, headers=desk
        ),
        422,
        "senior_technician_required",
    )
    assert body["details"] == {"repeat_seq": 3, "skill_level": "junior"}
    assert client.get(f"/jobs/{third['id']}", headers=desk).json()["technician_id"] is None

    # an intermediate technician is refused the same way
    run_db(
        database_url,
        lambda s: s.execute(
            update(User).where(User.id == world["tech1b"]).values(skill_level="intermediate")
        ),
    )
    assert_error(
        client.post(
            assign, json={"provider_id": p1, "technician_id": str(world["tech1b"])}, headers=desk
        ),
        422,
        "senior_technician_required",
    )
    # the provider alone is fine; then its senior technician
    r = client.post(assign, json={"provider_id": p1}, headers=desk)
    assert r.status_code == 200, r.text
    assert (r.json()["provider_id"], r.json()["technician_id"]) == (p1, None)
    r = client.post(
        assign, json={"provider_id": p1, "technician_id": str(world["tech1"])}, headers=desk
    )
    assert r.status_code == 200, r.text
    assert r.json()["technician_id"] == str(world["tech1"])
    # the provider's own manager is held to the same rule
    manager = login(client, "manager1")
    assert_error(
        client.post(
            assign, json={"provider_id": p1, "technician_id": str(world["tech1b"])}, headers=manager
        ),
        422,
        "senior_technician_required",
    )

    # a fourth, created straight onto a junior: refused, and nothing is created
    before = _job_count(database_url)
    assert_error(
        client.post(
            "/jobs",
            json={
                "customer_id": str(world["customer1"]),
                "kind": "repair",
                "appliance_id": str(world["appliance1"]),
                "provider_id": p1,
                "technician_id": str(world["tech1b"]),
            },
            headers=desk,
        ),
        422,
        "senior_technician_required",
    )
    assert _job_count(database_url) == before
    fourth = _create(client, desk, world, provider_id=p1, technician_id=str(world["tech1"]))
    assert fourth["repeat_seq"] == 4 and fourth["technician_id"] == str(world["tech1"])

    # complaints come first in the list
    items = _listed(client, auditor)["items"]
    assert [i["job"]["repeat_seq"] for i in items] == [4, 3, 2]
    assert [c["id"] for c in items[0]["chain"]] == [first["id"], second["id"], third["id"]]


def test_other_kinds_old_and_cancelled_jobs_do_not_count(
    client, world, desk, auditor, database_url
):
    old = _create(client, desk, world)
    _backdate(database_url, old["id"], 31)
    recent = _create(client, desk, world)
    _backdate(database_url, recent["id"], 29)
    _create(client, desk, world, kind="maintenance")
    _create(client, desk, world, kind="relocation")
    cancelled = _create(client, desk, world)
    r = client.post(
        f"/jobs/{cancelled['id']}/cancel", json={"reason": "duplicate call"}, headers=desk
    )
    assert r.status_code == 200, r.text
    # a repair on another appliance counts for that appliance only
    _create(client, desk, world, appliance="appliance2")

    job = _create(client, desk, world)
    assert job["repeat_seq"] == 2, job  # only `recent` counts
    assert job["repeat_of_id"] == recent["id"]
    # the non-repair kinds are never repeats themselves
    maintenance = _create(client, desk, world, kind="maintenance")
    assert (maintenance["repeat_seq"], maintenance["repeat_of_id"]) == (0, None)

    # a repair cancelled after the repeat was made still shows in its chain
    r = client.post(f"/jobs/{recent['id']}/cancel", json={"reason": "x"}, headers=desk)
    assert r.status_code == 200, r.text
    [item] = [i for i in _listed(client, auditor)["items"] if i["job"]["id"] == job["id"]]
    assert [(c["id"], c["status"]) for c in item["chain"]] == [(recent["id"], "cancelled")]
    # ...but no longer counts for a new one
    later = _create(client, desk, world)
    assert later["repeat_seq"] == 2 and later["repeat_of_id"] == job["id"]


def test_review(client, world, desk, auditor):
    first = _create(client, desk, world)
    second = _create(client, desk, world)
    url = f"/jobs/{second['id']}/repeat-review"

    assert_error(client.post(url, json={"note": "fine"}, headers=desk), 403, "role_forbidden")
    assert_error(client.post(url, json={"note": ""}, headers=auditor), 400, "invalid_request")
    assert_error(client.post(url, json={}, headers=auditor), 400, "invalid_request")
    assert_error(
        client.post(f"/jobs/{first['id']}/repeat-review", json={"note": "x"}, headers=auditor),
        409,
        "not_a_repeat",
    )
    assert_error(
        client.post(f"/jobs/{uuid.uuid4()}/repeat-review", json={"note": "x"}, headers=auditor),
        404,
        "job_not_found",
    )

    r = client.post(url, json={"note": "Different fault: the thermostat"}, headers=auditor)
    assert r.status_code == 200, r.text
    reviewed = r.json()
    assert reviewed["job"]["repeat_reviewed_at"] is not None
    assert [c["id"] for c in reviewed["chain"]] == [first["id"]]
    history = client.get(f"/jobs/{second['id']}/history", headers=desk).json()
    [event] = [e for e in history if e["kind"] == "repeat_reviewed"]
    assert event["data"]["note"] == "Different fault: the thermostat"
    assert event["actor_id"] == str(world["auditor"])

    body = assert_error(
        client.post(url, json={"note": "again"}, headers=login(client, "admin")),
        409,
        "already_reviewed",
    )
    assert datetime.fromisoformat(body["details"]["reviewed_at"]) == datetime.fromisoformat(
        reviewed["job"]["repeat_reviewed_at"]
    )

    assert _listed(client, auditor, reviewed="false")["total"] == 0
    assert [i["job"]["id"] for i in _listed(client, auditor, reviewed="true")["items"]] == [
        second["id"]
    ]
    assert _listed(client, auditor)["total"] == 1


def test_list_scoped_to_provider_and_closed_to_technicians(client, world, desk):
    _create(client, desk, world)
    hz = _create(client, desk, world, provider_id=str(world["p1"]))
    _create(client, desk, world, appliance="appliance2")
    nj = _create(client, desk, world, appliance="appliance2", provider_id=str(world["p2"]))
    unassigned = _create(client, desk, world)

    def ids(headers):
        return {i["job"]["id"] for i in _listed(client, headers)["items"]}

    assert ids(desk) == {hz["id"], nj["id"], unassigned["id"]}
    assert ids(login(client, "auditor")) == {hz["id"], nj["id"], unassigned["id"]}
    assert ids(login(client, "manager1")) == {hz["id"]}
    assert ids(login(client, "provdispatch1")) == {hz["id"]}
    assert ids(login(client, "manager2")) == {nj["id"]}
    assert _listed(client, login(client, "manager2"))["total"] == 1

    tech = login(client, "tech1")
    assert_error(client.get("/audit/repeat-repairs", headers=tech), 403, "role_forbidden")
    assert_error(
        client.post(f"/jobs/{hz['id']}/repeat-review", json={"note": "x"}, headers=tech),
        403,
        "role_forbidden",
    )
    # a provider manager may not review, even their own provider's job
    assert_error(
        client.post(
            f"/jobs/{hz['id']}/repeat-review", json={"note": "x"}, headers=login(client, "manager1")
        ),
        403,
        "role_forbidden",
    )
    assert_error(
        client.get("/audit/repeat-repairs", params={"limit": 0}, headers=desk),
        400,
        "invalid_request",
    )


def test_the_phone_is_told_a_job_is_a_complaint(client, world):
    """The technician sees in the packet that this is the customer's third visit."""
    from test_sync_api import Phone

    desk = login(client, "dispatcher")
    ids = [
        _create(
            client, desk, world, provider_id=str(world["p1"]), technician_id=str(world["tech1"])
        )["id"]
        for _ in range(3)
    ]
    phone = Phone(client, "tech1")
    phone.pull_all()
    packets = {doc["job"]["id"]: doc["job"] for doc in phone.docs.values() if "job" in doc}
    assert [packets[i]["repeat_seq"] for i in ids] == [0, 2, 3]
    assert [packets[i]["is_complaint"] for i in ids] == [False, False, True]
