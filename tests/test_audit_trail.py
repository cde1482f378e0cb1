"""The audit trail of desk actions: every create, change and delete of the audited kinds
by a desk user is recorded once, with who, when, from where and the values before and
after (secrets redacted); admins and auditors read it, a provider's manager their own
people's; filters and paging. Against the real app and database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from world import assert_error, login, run_db

from server.db.models import AuditEvent, Device

NEW_PASSWORD = "a brand new long password"
CUSTOMER = {
    "name": "Wang Fang",
    "phones": [{"number": "+86 135-0000 1111", "label": "mobile"}],
    "address": "17 Tianmushan Road, Apt 502",
    "city_id": None,
    "latitude": 30.28,
    "longitude": 120.12,
}


def _window(hours: float) -> dict[str, str]:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours)
    return {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=2)).isoformat(),
    }


def _events(client: Any, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        q = {**params, "limit": 500, **({"cursor": cursor} if cursor else {})}
        r = client.get("/audit/events", params=q, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        out += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def _count(database_url: str) -> int:
    async def work(s: Any) -> int:
        return int(await s.scalar(select(func.count()).select_from(AuditEvent)) or 0)

    return run_db(database_url, work)


def _enrol(database_url: str, user_id: uuid.UUID) -> uuid.UUID:
    async def work(s: Any) -> uuid.UUID:
        device = Device(user_id=user_id, label="phone", public_key=b"k" * 32)
        s.add(device)
        await s.flush()
        return device.id

    result: uuid.UUID = run_db(database_url, work)
    return result


def _one(events: list[dict[str, Any]], entity: str, action: str, **match: Any) -> dict[str, Any]:
    found = [
        e
        for e in events
        if e["entity"] == entity
        and e["action"] == action
        and all(e.get(k) == v for k, v in match.items())
    ]
    assert len(found) == 1, (entity, action, [(e["entity"], e["action"]) for e in events])
    return found[0]


def test_every_audited_kind_is_recorded_with_before_and_after(client, world, database_url):
    admin, desk = login(client, "admin"), login(client, "dispatcher")
    device = _enrol(database_url, world["tech1"])
    assert _count(database_url) == 0  # logging in is not a desk action

    # customers, their phones, appliances
    r = client.post(
        "/customers", json={**CUSTOMER, "city_id": str(world["hangzhou"])}, headers=desk
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = client.patch(
        f"/customers/{cid}",
        json={"notes": "Gate code 42", "phones": [{"number": "+86 186 0000 9999"}]},
        headers=desk,
    )
    assert r.status_code == 200, r.text
    r = client.post(f"/customers/{cid}/appliances", json={"category": "water_heater"}, headers=desk)
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    assert client.patch(f"/appliances/{aid}", json={"brand": "Haier"}, headers=desk).is_success
    # jobs
    r = client.post(
        "/jobs",
        json={"customer_id": cid, "kind": "repair", "appliance_id": aid, **_window(24)},
        headers=desk,
    )
    assert r.status_code == 201, r.text
    job = r.json()
    r = client.post(
        f"/jobs/{job['id']}/assign", json={"provider_id": str(world["p1"])}, headers=desk
    )
    assert r.status_code == 200, r.text
    # reference data and rules
    r = client.put(
        f"/cities/{world['hangzhou']}/fee-policy",
        headers=admin,
        json={
            "currency": "CNY",
            "visit_fee": 3500,
            "visit_fee_in_warranty": False,
            "items": [],
            "very_satisfied_bonus": 1000,
            "false_report_fine": 200000,
        },
    )
    assert r.status_code == 200, r.text
    policy = r.json()
    rules = [{"code": "geofence_pass", "label": "At the door"}]
    r = client.put("/evidence-rules/customer_not_home", headers=admin, json={"rules": rules})
    assert r.status_code == 200, r.text
    r = client.put(
        "/checklists/install",
        headers=admin,
        json={"items": [{"code": "shoe_covers", "label": "Wear shoe covers"}]},
    )
    assert r.status_code == 200, r.text
    checklist = r.json()
    # people and phones
    r = client.post(
        "/users",
        headers=admin,
        json={
            "username": "new.tech",
            "password": NEW_PASSWORD,
            "full_name": "New Tech",
            "role": "technician",
            "provider_id": str(world["p1"]),
            "skill_level": "junior",
        },
    )
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    r = client.patch(
        f"/users/{uid}", headers=admin, json={"password": NEW_PASSWORD + "!", "full_name": "N T"}
    )
    assert r.status_code == 200, r.text
    assert client.post(f"/devices/{device}/revoke", headers=admin).status_code == 200

    events = _events(client, login(client, "auditor"))

    created = _one(events, "customer", "create", entity_id=cid)
    assert created["before"] is None and created["after"]["name"] == "Wang Fang"
    assert created["actor_id"] == str(world["dispatcher"])
    assert created["actor_name"] == "Dispatcher" and created["actor_role"] == "dispatcher"
    assert created["method"] == "POST" and created["path"] == "/customers"
    assert created["remote_addr"] and created["user_agent"]
    changed = _one(events, "customer", "update", entity_id=cid)
    assert changed["before"] == {"notes": ""} and changed["after"] == {"notes": "Gate code 42"}
    assert changed["path"] == f"/customers/{cid}"
    # the phone list was replaced: the old one removed, the new one made
    gone = _one(events, "customer_phone", "delete")
    assert gone["before"]["number"] == "+86 135-0000 1111" and gone["after"] is None
    made = [e for e in events if e["entity"] == "customer_phone" and e["action"] == "create"]
    assert {e["after"]["number"] for e in made} == {"+86 135-0000 1111", "+86 186 0000 9999"}

    assert _one(events, "appliance", "create", entity_id=aid)["after"]["category"] == (
        "water_heater"
    )
    brand = _one(events, "appliance", "update", entity_id=aid)
    assert brand["before"] == {"brand": ""} and brand["after"] == {"brand": "Haier"}

    job_made = _one(events, "job", "create", entity_id=job["id"])
    assert job_made["after"]["number"] == job["number"]
    assigned = [e for e in events if e["entity"] == "job" and e["action"] == "update"]
    assert any(e["after"].get("provider_id") == str(world["p1"]) for e in assigned)
    assert all(
        e["before"].get("provider_id") is None for e in assigned if "provider_id" in e["after"]
    )

    fee = _one(events, "fee_policy", "update")
    assert fee["before"]["visit_fee"] == 3000 and fee["after"]["visit_fee"] == 3500
    # "when" is the request's clock: the one the service stamped the policy with
    assert datetime.fromisoformat(fee["at"]) == datetime.fromisoformat(policy["updated_at"])
    ev = _one(events, "evidence_rules", "create", entity_id="customer_not_home")
    assert [{k: v for k, v in r.items() if v is not None} for r in ev["after"]["rules"]] == rules
    assert _one(events, "checklist", "create", entity_id=checklist["id"])["after"]["items"]

    user_made = _one(events, "user", "create", entity_id=uid)
    assert user_made["after"]["password_hash"] == "[redacted]"
    assert user_made["after"]["username"] == "new.tech"
    user_changed = _one(events, "user", "update", entity_id=uid)
    assert user_changed["before"]["password_hash"] == "[redacted]"
    assert user_changed["after"] == {"password_hash": "[redacted]", "full_name": "N T"}
    revoked = _one(events, "device", "update", entity_id=str(device))
    assert revoked["before"] == {"revoked_at": None} and revoked["after"]["revoked_at"]

    text = client.get("/audit/events", params={"limit": 500}, headers=admin).text
    assert NEW_PASSWORD not in text and "$argon2" not in text
    assert "public_key" not in revoked["after"]


def test_cities_providers_and_articles_too(client, world):
    admin = login(client, "admin")
    r = client.post(
        "/cities",
        headers=admin,
        json={
            "code": "suzhou",
            "name": "Suzhou",
            "timezone": "Asia/Shanghai",
            "latitude": 31.3,
            "longitude": 120.6,
        },
    )
    assert r.status_code == 201, r.text
    city = r.json()["id"]
    r = client.post(
        "/providers",
        headers=admin,
        json={"code": "riverside", "name": "Riverside", "city_ids": [str(world["nanjing"])]},
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = client.patch(f"/providers/{pid}", headers=admin, json={"city_ids": [city]})
    assert r.status_code == 200, r.text
    r = client.post(
        "/kb-articles", headers=admin, json={"category": "water_heater", "title": "T", "body": "B"}
    )
    assert r.status_code == 201, r.text

    events = _events(client, admin)
    assert _one(events, "city", "create", entity_id=city)["after"]["code"] == "suzhou"
    assert _one(events, "provider", "create", entity_id=pid)["after"]["cities"] == [
        str(world["nanjing"])
    ]
    moved = _one(events, "provider", "update", entity_id=pid)
    assert moved["before"] == {"cities": [str(world["nanjing"])]}
    assert moved["after"] == {"cities": [city]}
    assert _one(events, "kb_article", "create")["after"]["title"] == "T"


def test_refused_changes_and_reads_record_nothing(client, world, database_url):
    desk = login(client, "dispatcher")
    cid = world["customer1"]
    assert_error(
        client.patch(f"/customers/{cid}", json={"latitude": None}, headers=desk),
        422,
        "incomplete_coordinates",
    )
    assert client.get(f"/customers/{cid}", headers=desk).status_code == 200
    assert _count(database_url) == 0


def test_scope_roles_filters_and_paging(client, world):
    admin, manager1, manager2 = (login(client, u) for u in ("admin", "manager1", "manager2"))
    r = client.patch(f"/users/{world['tech1b']}", headers=manager1, json={"full_name": "Tech B"})
    assert r.status_code == 200, r.text
    r = client.patch(f"/users/{world['tech2']}", headers=manager2, json={"full_name": "Tech 2"})
    assert r.status_code == 200, r.text
    for n in range(3):
        r = client.patch(
            f"/customers/{world['customer1']}", json={"notes": f"note {n}"}, headers=admin
        )
        assert r.status_code == 200, r.text

    everything = _events(client, admin)
    assert len(everything) == 5
    ats = [(e["at"], e["id"]) for e in everything]
    assert ats == sorted(ats, reverse=True)  # newest first

    # a provider's manager reads what their own people did, nothing else
    mine = _events(client, manager1)
    assert [(e["entity_id"], e["actor_provider_id"]) for e in mine] == [
        (str(world["tech1b"]), str(world["p1"]))
    ]
    assert [e["entity_id"] for e in _events(client, manager2)] == [str(world["tech2"])]
    for who in ("dispatcher", "tech1"):
        assert_error(client.get("/audit/events", headers=login(client, who)), 403, "role_forbidden")

    # filters
    def ids(**params: Any) -> list[str]:
        return [e["id"] for e in _events(client, admin, **params)]

    notes = [e["id"] for e in everything if e["entity"] == "customer"]
    assert ids(entity="customer") == notes
    assert ids(entity="customer", entity_id=str(world["customer1"])) == notes
    by_manager2 = [e["id"] for e in everything if e["actor_id"] == str(world["manager2"])]
    assert len(by_manager2) == 1 and ids(actor_id=str(world["manager2"])) == by_manager2
    assert ids(action="update") == [e["id"] for e in everything]
    assert ids(action="create") == []
    first, last = everything[-1]["at"], everything[0]["at"]
    assert ids(**{"from": first}) == [e["id"] for e in everything]
    assert ids(**{"to": first}) == []
    after_last = (datetime.fromisoformat(last) + timedelta(seconds=1)).isoformat()
    assert ids(**{"from": after_last}) == []

    # paging: two at a time, every event once, in order
    seen: list[str] = []
    cursor = None
    while True:
        q = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/audit/events", params=q, headers=admin).json()
        assert len(page["items"]) <= 2
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [e["id"] for e in everything]

    assert_error(
        client.get("/audit/events", params={"cursor": "nonsense!"}, headers=admin),
        422,
        "invalid_cursor",
    )
    assert_error(
        client.get("/audit/events", params={"from": last, "to": first}, headers=admin),
        422,
        "invalid_period",
    )
    assert_error(
        client.get("/audit/events", params={"entity": "spaceship"}, headers=admin),
        400,
        "invalid_request",
    )
