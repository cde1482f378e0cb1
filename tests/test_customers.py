"""Customers, appliances and the lookup with history, against the real app and database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from world import assert_error, every_case, login

from server.db.engine import make_database
from server.db.models import Job

T0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


def _insert_jobs(database_url: str, *jobs: dict[str, Any]) -> list[uuid.UUID]:
    """Jobs written straight into the database (the job API is another feature's)."""

    async def insert() -> list[uuid.UUID]:
        db = make_database(database_url)
        try:
            async with db.writer() as s:
                rows = [Job(**job) for job in jobs]
                s.add_all(rows)
                await s.flush()
                ids = [row.id for row in rows]
                await s.commit()
                return ids
        finally:
            await db.dispose()

    return asyncio.run(insert())


def _job(world, n: int, customer: str, provider: str, technician: str, **extra: Any) -> dict:
    city = "hangzhou" if customer == "customer1" else "nanjing"
    base = {
        "number": f"J-{n:04d}",
        "kind": "install",
        "customer_id": world[customer],
        "city_id": world[city],
        "status": "completed",
        "provider_id": world[provider],
        "technician_id": world[technician],
        "created_at": T0 + timedelta(days=n),
        "updated_at": T0 + timedelta(days=n),
    }
    base.update(extra)
    return base


def _new_customer(world, **over: Any) -> dict:
    body: dict[str, Any] = {
        "name": "Wang Fang",
        "phones": [
            {"number": "+86 135-0000 1111", "label": "mobile"},
            {"number": "(0571) 8888 2222", "label": "home"},
        ],
        "address": "17 Tianmushan Road, Apt 502",
        "city_id": str(world["hangzhou"]),
        "latitude": 30.28,
        "longitude": 120.12,
        "notes": "Ring twice.",
    }
    body.update(over)
    return body


def _full_width(text: str) -> str:
    """Digits as a Chinese input method types them (U+FF10-U+FF19)."""
    return text.translate({ord("0") + i: 0xFF10 + i for i in range(10)})


def _lookup(client, headers, **params: Any) -> Any:
    return client.get("/customers/lookup", params=params, headers=headers)


def _names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["customer"]["name"] for item in response.json()["items"]]


# --- create, read, update -------------------------------------------------------------


def test_create_and_get(client, world):
    h = login(client, "dispatcher")
    r = client.post("/customers", json=_new_customer(world), headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == "Wang Fang"
    assert created["phones"] == [
        {"number": "+86 135-0000 1111", "label": "mobile"},
        {"number": "(0571) 8888 2222", "label": "home"},
    ]
    assert created["city"] == {
        "id": str(world["hangzhou"]),
        "code": "hangzhou",
        "name": "Hangzhou",
    }
    assert (created["latitude"], created["longitude"]) == (30.28, 120.12)

    got = client.get(f"/customers/{created['id']}", headers=h)
    assert got.status_code == 200
    assert got.json() == created
    # The digits were stored for lookup, in the order given.
    assert _names(_lookup(client, h, phone="057188882222")) == ["Wang Fang"]


def test_admin_creates_without_coordinates_and_phone_label_defaults(client, world):
    h = login(client, "admin")
    body = _new_customer(world, phones=[{"number": "13500001111"}])
    del body["latitude"], body["longitude"], body["notes"]
    r = client.post("/customers", json=body, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["phones"] == [{"number": "13500001111", "label": "mobile"}]
    full_width = _new_customer(
        world, name="Zhou Jie", phones=[{"number": _full_width("158 0000 2222")}]
    )
    assert client.post("/customers", json=full_width, headers=h).status_code == 201
    assert _names(_lookup(client, h, phone="15800002222")) == ["Zhou Jie"]
    assert r.json()["latitude"] is None and r.json()["notes"] == ""


CREATE_REFUSALS = [
    pytest.param({"phones": [{"number": "12-34"}]}, 422, "invalid_phone", id="4-digits"),
    pytest.param(
        {"phones": [{"number": "+86 139 1234 5678"}, {"number": "1" * 21}]},
        422,
        "invalid_phone",
        id="21-digits",
    ),
    pytest.param({"phones": [{"number": "call me"}]}, 422, "invalid_phone", id="no-digits"),
    pytest.param(
        {"phones": [{"number": "139 1234 5678"}, {"number": "139-1234-5678"}]},
        422,
        "duplicate_phone",
        id="duplicate",
    ),
    pytest.param({"phones": []}, 400, "invalid_request", id="no-phones"),
    pytest.param({"phones": [{"number": "13900000000"}] * 6}, 400, "invalid_request", id="6"),
    pytest.param({"city_id": str(uuid.uuid4())}, 422, "unknown_city", id="unknown-city"),
    pytest.param({"longitude": None}, 422, "incomplete_coordinates", id="latitude-only"),
    pytest.param({"latitude": None}, 422, "incomplete_coordinates", id="longitude-only"),
    pytest.param({"latitude": 91}, 400, "invalid_request", id="latitude-range"),
    pytest.param({"name": ""}, 400, "invalid_request", id="empty-name"),
    pytest.param({"name": "   "}, 422, "blank_field", id="blank-name"),
    pytest.param({"address": "x" * 501}, 400, "invalid_request", id="long-address"),
    pytest.param({"vip": True}, 400, "unknown_field", id="unknown-field"),
]
"""Each a new customer that breaks a rule: (change, status, code), as pytest params."""


def test_create_refused_writes_nothing(client, world):
    """Every case of ``CREATE_REFUSALS`` against one app (each is refused and changes
    nothing, so they share it)."""
    h = login(client, "dispatcher")

    def check(change, status, code):
        assert_error(
            client.post("/customers", json=_new_customer(world, **change), headers=h), status, code
        )
        assert _names(_lookup(client, h, address="Tianmushan")) == []

    every_case(CREATE_REFUSALS, check)


def test_unknown_field_in_phone_refused(client, world):
    h = login(client, "dispatcher")
    body = _new_customer(world, phones=[{"number": "13500001111", "whatsapp": True}])
    assert_error(client.post("/customers", json=body, headers=h), 400, "unknown_field")
    assert _names(_lookup(client, h, name="wang fang")) == []


def test_patch_replaces_phones_and_keeps_the_rest(client, world):
    h = login(client, "dispatcher")
    cid = world["customer1"]
    r = client.patch(
        f"/customers/{cid}",
        json={
            "phones": [{"number": "+86 186 0000 9999", "label": "work"}],
            "notes": "Gate code 42",
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["phones"] == [{"number": "+86 186 0000 9999", "label": "work"}]
    assert body["notes"] == "Gate code 42" and body["name"] == "Li Wei"
    assert body["latitude"] == 30.279
    assert _names(_lookup(client, h, phone="1391234")) == []
    assert _names(_lookup(client, h, phone="186 0000 9999")) == ["Li Wei"]

    # Coordinates go together, also when cleared.
    assert_error(
        client.patch(f"/customers/{cid}", json={"latitude": None}, headers=h),
        422,
        "incomplete_coordinates",
    )
    cleared = client.patch(
        f"/customers/{cid}", json={"latitude": None, "longitude": None}, headers=h
    )
    assert cleared.status_code == 200 and cleared.json()["latitude"] is None


def test_patch_refused_changes_nothing(client, world):
    h = login(client, "dispatcher")
    cid = world["customer1"]
    for body, status, code in [
        ({"name": "Li Wei Jr", "city_id": str(uuid.uuid4())}, 422, "unknown_city"),
        ({"name": "Li Wei Jr", "phones": [{"number": "123"}]}, 422, "invalid_phone"),
        ({"name": "Li Wei Jr", "nickname": "Wei"}, 400, "unknown_field"),
        ({"name": None}, 400, "invalid_request"),
    ]:
        assert_error(client.patch(f"/customers/{cid}", json=body, headers=h), status, code)
    assert client.get(f"/customers/{cid}", headers=h).json()["name"] == "Li Wei"
    assert _names(_lookup(client, h, phone="8613912345678")) == ["Li Wei"]


def test_patch_moves_city(client, world):
    h = login(client, "admin")
    r = client.patch(
        f"/customers/{world['customer1']}", json={"city_id": str(world["nanjing"])}, headers=h
    )
    assert r.status_code == 200
    assert r.json()["city"]["code"] == "nanjing"


# --- lookup ---------------------------------------------------------------------------


def test_lookup_by_partial_name_any_case(client, world):
    h = login(client, "dispatcher")
    for query in ["li wei", "LI WEI", "i We", "Wei"]:
        assert _names(_lookup(client, h, name=query)) == ["Li Wei"], query
    assert _names(_lookup(client, h, name="min")) == ["Zhang Min"]
    assert _names(_lookup(client, h, name="nobody")) == []


def test_lookup_by_phone_fragment(client, world):
    h = login(client, "dispatcher")
    for query in ["139-1234 5678", "+86 139 1234 5678", "1234-56", " 5678 ", "(139) 12"]:
        assert _names(_lookup(client, h, phone=query)) == ["Li Wei"], query
    assert _names(_lookup(client, h, phone="5555 0001")) == ["Zhang Min"]
    assert _names(_lookup(client, h, phone="8613")) == ["Li Wei", "Zhang Min"]
    # Full-width digits, as a Chinese input method types them, are digits too.
    assert _names(_lookup(client, h, phone=_full_width("1234 5678"))) == ["Li Wei"]
    assert_error(_lookup(client, h, phone="1-2-3"), 422, "phone_too_short")
    assert_error(_lookup(client, h, phone="abcd"), 422, "phone_too_short")


def test_lookup_by_address_fragment(client, world):
    h = login(client, "dispatcher")
    assert _names(_lookup(client, h, address="WENSAN road")) == ["Li Wei"]
    assert _names(_lookup(client, h, address="gulou")) == ["Zhang Min"]
    assert _names(_lookup(client, h, address="road")) == ["Li Wei", "Zhang Min"]


def test_lookup_wildcards_are_literal(client, world):
    h = login(client, "dispatcher")
    for name in ["100% Pure Water Co", "Wang_Fang", "WangXFang"]:
        r = client.post("/customers", json=_new_customer(world, name=name), headers=h)
        assert r.status_code == 201, r.text
    assert _names(_lookup(client, h, name="%")) == ["100% Pure Water Co"]
    assert _names(_lookup(client, h, name="0% p")) == ["100% Pure Water Co"]
    assert _names(_lookup(client, h, name="wang_f")) == ["Wang_Fang"]
    assert _names(_lookup(client, h, name="_")) == ["Wang_Fang"]
    assert _names(_lookup(client, h, name="\\")) == []
    assert _names(_lookup(client, h, address="%")) == []


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="none"),
        pytest.param({"name": "  "}, id="blank"),
        pytest.param({"name": "li", "phone": "13912345678"}, id="name-phone"),
        pytest.param({"name": "li", "address": "road"}, id="name-address"),
        pytest.param({"name": "li", "phone": "1391", "address": "road"}, id="all"),
    ],
)
def test_lookup_needs_exactly_one_key(client, world, params):
    h = login(client, "dispatcher")
    assert_error(_lookup(client, h, **params), 422, "one_lookup_key")


def test_lookup_limit_ranks_best_first(client, world):
    h = login(client, "dispatcher")
    for name in ["Anna Li Weixin", "Li Weiming", "Li Wei"]:
        client.post("/customers", json=_new_customer(world, name=name), headers=h)
    # The exact name first, then names starting with the query, then the rest.
    r = _lookup(client, h, name="li wei")
    assert _names(r) == ["Li Wei", "Li Wei", "Li Weiming", "Anna Li Weixin"]
    assert r.json()["has_more"] is False
    limited = _lookup(client, h, name="li wei", limit=2)
    assert len(_names(limited)) == 2 and limited.json()["has_more"] is True
    assert_error(_lookup(client, h, name="li", limit=0), 400, "invalid_request")
    assert_error(_lookup(client, h, name="li", limit=51), 400, "invalid_request")


# --- scope and roles ------------------------------------------------------------------


def test_provider_staff_see_only_customers_with_their_jobs(client, world, database_url):
    # customer1 has a job at p1 and one at p2; customer2 only at p2.
    _insert_jobs(
        database_url,
        _job(world, 1, "customer1", "p1", "tech1"),
        _job(world, 2, "customer1", "p2", "tech2"),
        _job(world, 3, "customer2", "p2", "tech2"),
    )
    m1 = login(client, "manager1")
    assert _names(_lookup(client, m1, address="road")) == ["Li Wei"]
    assert _names(_lookup(client, m1, name="zhang")) == []
    assert _names(_lookup(client, m1, phone="5555 0001")) == []
    assert client.get(f"/customers/{world['customer1']}", headers=m1).status_code == 200
    for path in ["", "/history", "/appliances"]:
        assert_error(
            client.get(f"/customers/{world['customer2']}{path}", headers=m1),
            404,
            "customer_not_found",
        )
    assert_error(
        client.get(f"/appliances/{world['appliance2']}", headers=m1), 404, "appliance_not_found"
    )

    # Inside a visible customer, provider staff see only their own provider's visits.
    history = _lookup(client, m1, name="li wei").json()["items"][0]
    assert [j["number"] for j in history["jobs"]] == ["J-0001"]
    assert history["jobs"][0]["provider"]["name"] == "Westlake Home Service"
    m2 = login(client, "manager2")
    assert _names(_lookup(client, m2, address="road")) == ["Li Wei", "Zhang Min"]
    history = client.get(f"/customers/{world['customer1']}/history", headers=m2).json()
    assert [j["number"] for j in history["jobs"]] == ["J-0002"]

    # The call center sees everything.
    d = login(client, "dispatcher")
    history = client.get(f"/customers/{world['customer1']}/history", headers=d).json()
    assert [j["number"] for j in history["jobs"]] == ["J-0002", "J-0001"]


def test_provider_staff_without_jobs_see_nobody(client, world):
    for user in ["manager1", "provdispatch1"]:
        h = login(client, user)
        assert _names(_lookup(client, h, address="road")) == []
        assert_error(
            client.get(f"/customers/{world['customer1']}", headers=h), 404, "customer_not_found"
        )


def test_provider_dispatcher_writes_only_visible_customers(client, world, database_url):
    _insert_jobs(database_url, _job(world, 1, "customer1", "p1", "tech1"))
    h = login(client, "provdispatch1")
    ok = client.patch(f"/customers/{world['customer1']}", json={"notes": "Back door"}, headers=h)
    assert ok.status_code == 200, ok.text
    assert_error(
        client.patch(f"/customers/{world['customer2']}", json={"notes": "x"}, headers=h),
        404,
        "customer_not_found",
    )
    assert_error(
        client.post(
            f"/customers/{world['customer2']}/appliances",
            json={"category": "smart_lock"},
            headers=h,
        ),
        404,
        "customer_not_found",
    )
    assert_error(
        client.patch(f"/appliances/{world['appliance2']}", json={"brand": "x"}, headers=h),
        404,
        "appliance_not_found",
    )
    # A provider dispatcher creates customers for new work orders.
    assert client.post("/customers", json=_new_customer(world), headers=h).status_code == 201
    # Still, nothing of customer2 changed.
    d = login(client, "dispatcher")
    assert client.get(f"/customers/{world['customer2']}", headers=d).json()["notes"] == ""


def test_technician_is_refused_everywhere(client, world):
    h = login(client, "tech1")
    cid, aid = world["customer1"], world["appliance1"]
    for method, path, body in [
        ("GET", "/customers/lookup?name=li", None),
        ("GET", f"/customers/{cid}", None),
        ("GET", f"/customers/{cid}/history", None),
        ("GET", f"/customers/{cid}/appliances", None),
        ("GET", f"/appliances/{aid}", None),
        ("POST", "/customers", _new_customer(world)),
        ("PATCH", f"/customers/{cid}", {"notes": "x"}),
        ("POST", f"/customers/{cid}/appliances", {"category": "smart_lock"}),
        ("PATCH", f"/appliances/{aid}", {"brand": "x"}),
    ]:
        r = client.request(method, path, json=body, headers=h)
        assert_error(r, 403, "role_forbidden")


@pytest.mark.parametrize("user", ["auditor", "manager1"])
def test_readers_may_not_write(client, world, user):
    h = login(client, user)
    cid = world["customer1"]
    assert_error(
        client.post("/customers", json=_new_customer(world), headers=h), 403, "role_forbidden"
    )
    assert_error(
        client.patch(f"/customers/{cid}", json={"notes": "x"}, headers=h), 403, "role_forbidden"
    )
    assert_error(
        client.post(f"/customers/{cid}/appliances", json={"category": "other"}, headers=h),
        403,
        "role_forbidden",
    )
    assert_error(
        client.patch(f"/appliances/{world['appliance1']}", json={"brand": "x"}, headers=h),
        403,
        "role_forbidden",
    )


def test_unauthenticated_refused(client, world):
    assert_error(client.get("/customers/lookup?name=li"), 401, "not_authenticated")


# --- history --------------------------------------------------------------------------


def test_history_shows_appliances_and_jobs_newest_first(client, world, database_url):
    a1 = world["appliance1"]
    first, second, _third = _insert_jobs(
        database_url,
        _job(world, 1, "customer1", "p1", "tech1b", appliance_id=a1, completed_at=T0),
        _job(world, 5, "customer1", "p1", "tech1", kind="repair", appliance_id=a1),
        _job(
            world,
            9,
            "customer1",
            "p1",
            "tech1",
            kind="repair",
            appliance_id=a1,
            status="unable_to_complete",
            unable_reason="customer_not_home",
            priority="urgent",
            window_start=T0 + timedelta(days=9, hours=1),
            window_end=T0 + timedelta(days=9, hours=3),
        ),
        _job(world, 7, "customer2", "p2", "tech2"),
    )[:3]
    h = login(client, "auditor")
    r = client.get(f"/customers/{world['customer1']}/history", headers=h)
    assert r.status_code == 200, r.text
    history = r.json()
    assert history["customer"]["name"] == "Li Wei"
    assert history["callbacks"] == []

    (appliance,) = history["appliances"]
    assert appliance["id"] == str(a1)
    assert appliance["installer_id"] == str(world["tech1b"])
    assert appliance["installer_provider_id"] == str(world["p1"])
    assert appliance["warranty_end"] == "2028-03-01"
    assert appliance["in_warranty"] is (date.today() <= date(2028, 3, 1))

    jobs = history["jobs"]
    assert [j["number"] for j in jobs] == ["J-0009", "J-0005", "J-0001"]
    latest = jobs[0]
    assert latest["kind"] == "repair" and latest["status"] == "unable_to_complete"
    assert latest["unable_reason"] == "customer_not_home" and latest["priority"] == "urgent"
    assert latest["window_start"].startswith("2025-06-10T09:00:00")
    assert latest["provider"] == {"id": str(world["p1"]), "name": "Westlake Home Service"}
    assert latest["technician"] == {"id": str(world["tech1"]), "name": "Tech1"}
    assert latest["appliance_id"] == str(a1)
    assert [j["appliance_repair_count"] for j in jobs] == [2, 2, None]
    assert jobs[2]["completed_at"].startswith("2025-06-01T08:00:00")
    assert jobs[2]["technician"]["name"] == "Tech1B"
    assert {str(first), str(second)} <= {j["id"] for j in jobs}

    # The lookup carries the same history.
    found = _lookup(client, h, phone="12345678").json()["items"]
    assert found == [history]


def test_lookup_history_is_loaded_without_n_plus_one(client, world, database_url):
    _insert_jobs(
        database_url,
        *[
            _job(
                world,
                n,
                "customer1",
                "p1",
                "tech1",
                kind="repair",
                appliance_id=world["appliance1"],
            )
            for n in range(1, 6)
        ],
        *[_job(world, n, "customer2", "p2", "tech2") for n in range(6, 12)],
    )
    h = login(client, "dispatcher")
    _lookup(client, h, name="warm up")  # the first request after login checks the account
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = client.app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert _names(_lookup(client, h, name="li wei")) == ["Li Wei"]
        one = len(statements)
        statements.clear()
        assert _names(_lookup(client, h, address="road")) == ["Li Wei", "Zhang Min"]
        two = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # Customers, phones, appliances, jobs, repair counts, callbacks and their outcomes —
    # however many rows.
    assert one == two <= 7, statements


# --- appliances -----------------------------------------------------------------------


def test_create_list_get_and_patch_appliance(client, world):
    h = login(client, "dispatcher")
    cid = world["customer2"]
    body = {
        "category": "water_purifier",
        "brand": "Haier",
        "model": "HRO-400",
        "serial": "SN-NJ-0099",
        "purchase_date": "2025-01-10",
        "install_date": "2025-01-12",
        "installer_id": str(world["tech2"]),
        "warranty_end": "2099-01-12",
    }
    r = client.post(f"/customers/{cid}/appliances", json=body, headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["customer_id"] == str(cid)
    assert created["installer_provider_id"] == str(world["p2"])
    assert created["in_warranty"] is True
    assert client.get(f"/appliances/{created['id']}", headers=h).json() == created
    listed = client.get(f"/customers/{cid}/appliances", headers=h).json()
    assert [a["id"] for a in listed] == [str(world["appliance2"]), created["id"]]
    assert listed[0]["in_warranty"] is False  # ended 2024-01-01

    patched = client.patch(
        f"/appliances/{created['id']}",
        json={
            "installer_id": None,
            "warranty_end": "2020-01-01",
            "install_date": None,
            "purchase_date": None,
        },
        headers=h,
    )
    assert patched.status_code == 200, patched.text
    p = patched.json()
    assert p["installer_id"] is None and p["installer_provider_id"] is None
    assert p["in_warranty"] is False and p["brand"] == "Haier"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param({"category": "toaster"}, 400, "invalid_request", id="category"),
        pytest.param({"category": "other", "colour": "red"}, 400, "unknown_field", id="unknown"),
        pytest.param(
            {"category": "other", "installer_id": "TECH1OFF"}, 422, "unknown_installer", id="off"
        ),
        pytest.param(
            {"category": "other", "installer_id": "DISPATCHER"},
            422,
            "unknown_installer",
            id="not-a-technician",
        ),
        pytest.param(
            {"category": "other", "installer_id": str(uuid.uuid4())},
            422,
            "unknown_installer",
            id="nobody",
        ),
        pytest.param(
            {"category": "other", "install_date": "2025-05-01", "warranty_end": "2025-04-30"},
            422,
            "invalid_warranty",
            id="before-install",
        ),
        pytest.param(
            {"category": "other", "purchase_date": "2025-05-01", "warranty_end": "2025-04-30"},
            422,
            "invalid_warranty",
            id="before-purchase",
        ),
    ],
)
def test_create_appliance_refused_writes_nothing(client, world, body, status, code):
    h = login(client, "dispatcher")
    if body.get("installer_id") in {"TECH1OFF", "DISPATCHER"}:
        body = {**body, "installer_id": str(world[body["installer_id"].lower()])}
    cid = world["customer1"]
    assert_error(client.post(f"/customers/{cid}/appliances", json=body, headers=h), status, code)
    assert len(client.get(f"/customers/{cid}/appliances", headers=h).json()) == 1


def test_patch_appliance_checks_the_result(client, world):
    h = login(client, "dispatcher")
    aid = world["appliance1"]  # installed 2025-03-01
    assert_error(
        client.patch(f"/appliances/{aid}", json={"warranty_end": "2025-02-01"}, headers=h),
        422,
        "invalid_warranty",
    )
    assert_error(
        client.patch(f"/appliances/{aid}", json={"install_date": "2029-01-01"}, headers=h),
        422,
        "invalid_warranty",
    )
    assert_error(
        client.patch(
            f"/appliances/{aid}",
            json={"brand": "Midea", "installer_id": str(world["tech1off"])},
            headers=h,
        ),
        422,
        "unknown_installer",
    )
    unchanged = client.get(f"/appliances/{aid}", headers=h).json()
    assert unchanged["brand"] == "" and unchanged["install_date"] == "2025-03-01"
    assert unchanged["installer_id"] == str(world["tech1b"])

    r = client.patch(
        f"/appliances/{aid}",
        json={"brand": "Midea", "installer_id": str(world["tech2"])},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["installer_provider_id"] == str(world["p2"])


def test_provider_dispatcher_names_only_own_technicians(client, world, database_url):
    _insert_jobs(database_url, _job(world, 1, "customer1", "p1", "tech1"))
    h = login(client, "provdispatch1")
    cid = world["customer1"]
    assert_error(
        client.post(
            f"/customers/{cid}/appliances",
            json={"category": "solar_heater", "installer_id": str(world["tech2"])},
            headers=h,
        ),
        422,
        "unknown_installer",
    )
    r = client.post(
        f"/customers/{cid}/appliances",
        json={"category": "solar_heater", "installer_id": str(world["tech1"])},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["installer_provider_id"] == str(world["p1"])


# --- the API documents itself ---------------------------------------------------------


def test_customer_operations_documented(client):
    schema = client.get("/docs/openapi.json").json()
    paths = [
        "/customers",
        "/customers/lookup",
        "/customers/{customer_id}",
        "/customers/{customer_id}/history",
        "/customers/{customer_id}/appliances",
        "/appliances/{appliance_id}",
    ]
    for path in paths:
        for method, op in schema["paths"][path].items():
            assert op.get("description"), (method, path)
    components = schema["components"]["schemas"]
    create = components["CustomerCreate"]["properties"]
    assert create["name"]["examples"] and create["phones"]
    assert components["ApplianceCreate"]["properties"]["category"]
    lookup = schema["paths"]["/customers/lookup"]["get"]["parameters"]
    assert {p["name"] for p in lookup} >= {"name", "phone", "address", "limit"}
