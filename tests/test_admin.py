"""The admin API against the real app and database: cities, providers, users, devices,
fee policies, checklists, knowledge articles, and ``doorstep create-user``."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from world import PASSWORD, assert_error, every_case, login, run_db

from server.db.models import Device, RefreshToken
from server.errors import Conflict, Invalid

NEW_PASSWORD = "a brand new passphrase"


def _enrol(database_url: str, user_id: uuid.UUID, label: str = "phone") -> uuid.UUID:
    async def work(s: Any) -> uuid.UUID:
        device = Device(user_id=user_id, label=label, platform="android", app_version="1.0")
        s.add(device)
        await s.flush()
        return device.id

    result: uuid.UUID = run_db(database_url, work)
    return result


def _tokens(client: Any, username: str, password: str = PASSWORD, **extra: Any) -> dict:
    r = client.post("/auth/login", json={"username": username, "password": password, **extra})
    assert r.status_code == 200, r.text
    body: dict = r.json()
    return body


def _bearer(pair: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def _usernames(client: Any, headers: dict[str, str], **params: Any) -> list[str]:
    r = client.get("/users", headers=headers, params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return [u["username"] for u in r.json()["items"]]


def _technician(world: Any, **over: Any) -> dict[str, Any]:
    body = {
        "username": "new.tech",
        "password": NEW_PASSWORD,
        "full_name": "New Tech",
        "role": "technician",
        "provider_id": str(world["p1"]),
        "skill_level": "junior",
    }
    body.update(over)
    return body


# --- who may call what --------------------------------------------------------------


ADMIN_WRITES = [
    ("post", "/cities", {}),
    ("post", "/providers", {}),
    ("patch", "/providers/{p1}", {}),
    ("put", "/cities/{hangzhou}/fee-policy", {}),
    ("put", "/checklists/install", {"items": []}),
    ("post", "/kb-articles", {}),
    ("put", f"/kb-articles/{uuid.uuid4()}", {}),
]
MANAGER_CALLS = [
    ("get", "/users", None),
    ("get", "/users/{tech1}", None),
    ("post", "/users", {}),
    ("patch", "/users/{tech1}", {}),
    ("get", "/users/{tech1}/devices", None),
    ("post", f"/devices/{uuid.uuid4()}/revoke", None),
]


def _call(client: Any, world: Any, headers: dict, method: str, path: str, body: Any) -> Any:
    url = path.format(**{k: v for k, v in world.ids.items()})
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    return getattr(client, method)(url, **kwargs)


@pytest.mark.parametrize("username", ["tech1", "dispatcher", "auditor", "manager1"])
def test_admin_writes_refused_to_other_roles(client, world, username):
    headers = login(client, username)
    for method, path, body in ADMIN_WRITES:
        body = assert_error(
            _call(client, world, headers, method, path, body), 403, "role_forbidden"
        )
        assert body["details"]["allowed_roles"] == ["admin"]


@pytest.mark.parametrize("username", ["tech1", "dispatcher", "auditor", "provdispatch1"])
def test_user_management_refused_to_other_roles(client, world, username):
    headers = login(client, username)
    for method, path, body in MANAGER_CALLS:
        assert_error(_call(client, world, headers, method, path, body), 403, "role_forbidden")


def test_technician_cannot_list_providers(client, world):
    assert_error(client.get("/providers", headers=login(client, "tech1")), 403, "role_forbidden")


def test_reference_data_readable_by_every_role(client, world):
    for username in ["tech1", "dispatcher", "auditor", "manager1", "admin"]:
        headers = login(client, username)
        for path in [
            "/cities",
            "/checklists",
            "/kb-articles",
            f"/cities/{world['hangzhou']}/fee-policy",
        ]:
            assert client.get(path, headers=headers).status_code == 200, (username, path)


def test_unauthenticated_refused(client, world):
    assert_error(client.get("/cities"), 401, "not_authenticated")


# --- cities -------------------------------------------------------------------------

SUZHOU = {
    "code": "suzhou",
    "name": "Suzhou",
    "timezone": "Asia/Shanghai",
    "latitude": 31.2989,
    "longitude": 120.5853,
}


def test_admin_creates_city_and_everyone_sees_it(client, world):
    admin = login(client, "admin")
    r = client.post("/cities", json=SUZHOU, headers=admin)
    assert r.status_code == 201, r.text
    city = r.json()
    assert city["code"] == "suzhou" and uuid.UUID(city["id"])
    listed = client.get("/cities", headers=login(client, "tech1")).json()
    assert [c["code"] for c in listed] == ["hangzhou", "nanjing", "suzhou"]
    assert_error(
        client.post("/cities", json={**SUZHOU, "name": "Again"}, headers=admin), 409, "city_exists"
    )


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"latitude": 90.5}, 400, "invalid_request"),
        ({"longitude": -181}, 400, "invalid_request"),
        ({"code": "Su Zhou"}, 400, "invalid_request"),
        ({"mayor": "x"}, 400, "unknown_field"),
        ({"timezone": "Mars/Olympus"}, 422, "unknown_timezone"),
        ({"timezone": "../../etc/passwd"}, 422, "unknown_timezone"),
    ],
)
def test_bad_city_refused_and_nothing_written(client, world, change, status, code):
    admin = login(client, "admin")
    assert_error(client.post("/cities", json={**SUZHOU, **change}, headers=admin), status, code)
    assert [c["code"] for c in client.get("/cities", headers=admin).json()] == [
        "hangzhou",
        "nanjing",
    ]


# --- providers ----------------------------------------------------------------------


def test_admin_creates_and_updates_provider(client, world):
    admin = login(client, "admin")
    r = client.post(
        "/providers",
        headers=admin,
        json={
            "code": "riverside",
            "name": "Riverside Fixers",
            "phone": "+86 25 1234 5678",
            "city_ids": [str(world["nanjing"]), str(world["hangzhou"]), str(world["nanjing"])],
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["active"] is True
    assert [c["code"] for c in created["cities"]] == ["hangzhou", "nanjing"]
    assert set(created["cities"][0]) == {"id", "code", "name"}

    pid = created["id"]
    r = client.patch(
        f"/providers/{pid}",
        headers=admin,
        json={
            "name": "Riverside",
            "phone": None,
            "active": False,
            "city_ids": [str(world["hangzhou"])],
        },
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert (changed["name"], changed["phone"], changed["active"]) == ("Riverside", None, False)
    assert [c["code"] for c in changed["cities"]] == ["hangzhou"]
    # an absent field stays as it is
    r = client.patch(f"/providers/{pid}", headers=admin, json={"active": True})
    assert r.json()["name"] == "Riverside" and r.json()["active"] is True
    assert client.get(f"/providers/{pid}", headers=admin).json() == r.json()
    assert [
        p["code"] for p in client.get("/providers", params={"active": False}, headers=admin).json()
    ] == []


def test_bad_provider_refused_and_nothing_written(client, world):
    admin = login(client, "admin")
    ghost = str(uuid.uuid4())
    body = assert_error(
        client.post(
            "/providers",
            headers=admin,
            json={"code": "ghosts", "name": "Ghosts", "city_ids": [str(world["hangzhou"]), ghost]},
        ),
        422,
        "unknown_city",
    )
    assert body["details"]["city_ids"] == [ghost]
    assert_error(
        client.post(
            "/providers", headers=admin, json={"code": "p1", "name": "Copy", "city_ids": []}
        ),
        409,
        "provider_exists",
    )
    assert_error(
        client.post(
            "/providers",
            headers=admin,
            json={"code": "x", "name": "X", "city_ids": [], "boss": "me"},
        ),
        400,
        "unknown_field",
    )
    assert_error(
        client.patch(f"/providers/{world['p1']}", headers=admin, json={"city_ids": [ghost]}),
        422,
        "unknown_city",
    )
    assert_error(
        client.patch(f"/providers/{uuid.uuid4()}", headers=admin, json={}),
        404,
        "provider_not_found",
    )
    providers = client.get("/providers", headers=admin).json()
    assert [p["code"] for p in providers] == ["p1", "p2"]
    assert [c["code"] for c in providers[0]["cities"]] == ["hangzhou"]


@pytest.mark.parametrize(
    ("username", "visible"),
    [
        ("admin", ["p1", "p2"]),
        ("auditor", ["p1", "p2"]),
        ("dispatcher", ["p1", "p2"]),
        ("manager1", ["p1"]),
        ("provdispatch1", ["p1"]),
        ("manager2", ["p2"]),
    ],
)
def test_provider_visibility(client, world, username, visible):
    headers = login(client, username)
    assert [p["code"] for p in client.get("/providers", headers=headers).json()] == visible
    for key in ["p1", "p2"]:
        r = client.get(f"/providers/{world[key]}", headers=headers)
        if key in visible:
            assert r.status_code == 200 and r.json()["code"] == key
        else:
            assert_error(r, 404, "provider_not_found")


# --- creating users -----------------------------------------------------------------


def test_admin_creates_technician_who_can_log_in(client, world):
    admin = login(client, "admin")
    r = client.post("/users", headers=admin, json=_technician(world, phone="+86 138 1111 2222"))
    assert r.status_code == 201, r.text
    user = r.json()
    assert "password" not in r.text and "hash" not in r.text
    assert (user["role"], user["skill_level"], user["active"]) == ("technician", "junior", True)
    assert user["provider_id"] == str(world["p1"])
    me = client.get("/auth/me", headers=login(client, "new.tech", NEW_PASSWORD)).json()
    assert me["id"] == user["id"]
    assert client.get(f"/users/{user['id']}", headers=admin).json() == user
    assert_error(
        client.post("/users", headers=admin, json=_technician(world)), 409, "username_taken"
    )


@pytest.mark.parametrize(
    ("body", "role_provider"),
    [
        ({"role": "admin"}, None),
        ({"role": "auditor"}, None),
        ({"role": "dispatcher"}, None),
        ({"role": "dispatcher"}, "p2"),
        ({"role": "provider_manager"}, "p2"),
    ],
)
def test_admin_creates_every_role(client, world, body, role_provider):
    admin = login(client, "admin")
    provider = str(world[role_provider]) if role_provider else None
    r = client.post(
        "/users",
        headers=admin,
        json={
            "username": "someone",
            "password": NEW_PASSWORD,
            "full_name": "Some One",
            "provider_id": provider,
            **body,
        },
    )
    assert r.status_code == 201, r.text
    assert (r.json()["role"], r.json()["provider_id"]) == (body["role"], provider)
    assert _tokens(client, "someone", NEW_PASSWORD)["user"]["role"] == body["role"]


USER_RULES = [
    ({"provider_id": None}, 422, "provider_required"),
    ({"skill_level": None}, 422, "skill_required"),
    (
        {"role": "provider_manager", "provider_id": None, "skill_level": None},
        422,
        "provider_required",
    ),
    ({"role": "admin", "skill_level": None}, 422, "provider_not_allowed"),
    ({"role": "auditor", "skill_level": None}, 422, "provider_not_allowed"),
    ({"role": "dispatcher"}, 422, "skill_not_allowed"),
    ({"provider_id": "unknown"}, 422, "unknown_provider"),
    ({"username": "tech1"}, 409, "username_taken"),
    ({"username": "No Spaces"}, 400, "invalid_request"),
    ({"username": "ab"}, 400, "invalid_request"),
    ({"password": "short"}, 400, "invalid_request"),
    ({"role": "superuser"}, 400, "invalid_request"),
    ({"skill_level": "guru"}, 400, "invalid_request"),
    ({"is_admin": True}, 400, "unknown_field"),
]
"""Each a new user that breaks a rule: (change, status, code)."""


def test_user_rules_refused_and_nothing_written(client, world):
    """Every case of ``USER_RULES`` against one app (each is refused and changes
    nothing, so they share it)."""
    admin = login(client, "admin")
    before = _usernames(client, admin)

    def check(change, status, code):
        if change.get("provider_id") == "unknown":
            change = {**change, "provider_id": str(uuid.uuid4())}
        assert_error(
            client.post("/users", headers=admin, json=_technician(world, **change)), status, code
        )
        assert _usernames(client, admin) == before

    every_case(USER_RULES, check)


def test_inactive_provider_takes_no_new_people(client, world):
    admin = login(client, "admin")
    client.patch(f"/providers/{world['p2']}", headers=admin, json={"active": False})
    assert_error(
        client.post("/users", headers=admin, json=_technician(world, provider_id=str(world["p2"]))),
        422,
        "provider_inactive",
    )
    assert_error(
        client.patch(
            f"/users/{world['tech1']}", headers=admin, json={"provider_id": str(world["p2"])}
        ),
        422,
        "provider_inactive",
    )
    assert "new.tech" not in _usernames(client, admin)
    assert client.get(f"/users/{world['tech1']}", headers=admin).json()["provider_id"] == str(
        world["p1"]
    )


def test_provider_manager_creates_own_technicians_only(client, world):
    manager = login(client, "manager1")
    r = client.post("/users", headers=manager, json=_technician(world))
    assert r.status_code == 201, r.text
    # the provider defaults to the manager's own
    body = _technician(world, username="second.tech")
    del body["provider_id"]
    r = client.post("/users", headers=manager, json=body)
    assert r.status_code == 201 and r.json()["provider_id"] == str(world["p1"])
    assert _tokens(client, "second.tech", NEW_PASSWORD)["user"]["provider_id"] == str(world["p1"])

    refused = [
        _technician(world, username="other.prov", provider_id=str(world["p2"])),
        _technician(
            world, username="sneaky.admin", role="admin", provider_id=None, skill_level=None
        ),
        _technician(world, username="prov.disp", role="dispatcher", skill_level=None),
        _technician(world, username="co.manager", role="provider_manager", skill_level=None),
    ]
    for body in refused:
        assert_error(client.post("/users", headers=manager, json=body), 403, "role_forbidden")
    names = _usernames(client, login(client, "admin"))
    assert "new.tech" in names and "second.tech" in names
    assert not {"other.prov", "sneaky.admin", "prov.disp", "co.manager"} & set(names)


# --- listing users ------------------------------------------------------------------


def test_provider_manager_sees_only_own_provider(client, world):
    manager = login(client, "manager1")
    assert _usernames(client, manager) == [
        "manager1",
        "provdispatch1",
        "tech1",
        "tech1b",
        "tech1off",
    ]
    assert _usernames(client, manager, provider_id=str(world["p2"])) == []
    assert _usernames(client, manager, role="technician", active=True) == ["tech1", "tech1b"]
    assert client.get(f"/users/{world['tech1']}", headers=manager).status_code == 200
    assert_error(client.get(f"/users/{world['tech2']}", headers=manager), 404, "user_not_found")
    assert_error(client.get(f"/users/{world['admin']}", headers=manager), 404, "user_not_found")


def test_admin_lists_filters_and_pages(client, world):
    admin = login(client, "admin")
    everyone = _usernames(client, admin)
    assert len(everyone) == 10 and everyone == sorted(everyone)
    assert _usernames(client, admin, role="technician", provider_id=str(world["p1"])) == [
        "tech1",
        "tech1b",
        "tech1off",
    ]
    assert _usernames(client, admin, active=False) == ["tech1off"]
    page = client.get("/users", headers=admin, params={"limit": 3, "offset": 3}).json()
    assert (page["total"], page["limit"], page["offset"]) == (10, 3, 3)
    assert [u["username"] for u in page["items"]] == everyone[3:6]
    assert all("password_hash" not in u for u in page["items"])
    for bad in [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"role": "boss"}]:
        assert_error(client.get("/users", headers=admin, params=bad), 400, "invalid_request")


# --- changing users -----------------------------------------------------------------


def test_provider_manager_edits_own_technicians_only(client, world):
    manager = login(client, "manager1")
    r = client.patch(
        f"/users/{world['tech1b']}",
        headers=manager,
        json={"full_name": "Tech One B", "phone": None, "skill_level": "senior"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["full_name"], r.json()["phone"], r.json()["skill_level"]) == (
        "Tech One B",
        None,
        "senior",
    )

    for field, value in [
        ("role", "dispatcher"),
        ("provider_id", str(world["p2"])),
        ("password", NEW_PASSWORD),
    ]:
        body = assert_error(
            client.patch(f"/users/{world['tech1b']}", headers=manager, json={field: value}),
            403,
            "role_forbidden",
        )
        assert body["details"]["fields"] == [field]
    assert_error(
        client.patch(f"/users/{world['tech1b']}", headers=manager, json={"skill_level": None}),
        422,
        "skill_required",
    )
    assert_error(
        client.patch(f"/users/{world['provdispatch1']}", headers=manager, json={"full_name": "X"}),
        403,
        "role_forbidden",
    )
    assert_error(
        client.patch(f"/users/{world['tech2']}", headers=manager, json={"full_name": "X"}),
        404,
        "user_not_found",
    )
    after = client.get(f"/users/{world['tech1b']}", headers=login(client, "admin")).json()
    assert (after["role"], after["skill_level"], after["provider_id"]) == (
        "technician",
        "senior",
        str(world["p1"]),
    )
    assert (
        client.get(f"/users/{world['tech2']}", headers=login(client, "admin")).json()["full_name"]
        == "Tech2"
    )
    _tokens(client, "tech1b")  # the password did not change


def test_admin_changes_role_provider_and_password(client, world):
    admin = login(client, "admin")
    old = _tokens(client, "tech1b")
    r = client.patch(
        f"/users/{world['tech1b']}", headers=admin, json={"role": "dispatcher", "provider_id": None}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["role"], r.json()["provider_id"], r.json()["skill_level"]) == (
        "dispatcher",
        None,
        None,
    )
    # a new role ends the sessions that carry the old one
    assert_error(
        client.post("/auth/refresh", json={"refresh_token": old["refresh_token"]}),
        401,
        "refresh_invalid",
    )
    assert _tokens(client, "tech1b")["user"]["role"] == "dispatcher"

    r = client.patch(f"/users/{world['tech2']}", headers=admin, json={"password": NEW_PASSWORD})
    assert r.status_code == 200
    assert_error(
        client.post("/auth/login", json={"username": "tech2", "password": PASSWORD}),
        401,
        "invalid_credentials",
    )
    _tokens(client, "tech2", NEW_PASSWORD)

    assert_error(
        client.patch(f"/users/{world['tech2']}", headers=admin, json={"role": "auditor"}),
        422,
        "provider_not_allowed",
    )
    assert_error(
        client.patch(f"/users/{world['tech2']}", headers=admin, json={"password": "short"}),
        400,
        "invalid_request",
    )
    assert_error(
        client.patch(f"/users/{world['tech2']}", headers=admin, json={"password_hash": "x"}),
        400,
        "unknown_field",
    )
    assert client.get(f"/users/{world['tech2']}", headers=admin).json()["role"] == "technician"


def test_admin_cannot_lock_themselves_out(client, world):
    admin = login(client, "admin")
    for body in [{"active": False}, {"role": "auditor"}]:
        assert_error(
            client.patch(f"/users/{world['admin']}", headers=admin, json=body), 422, "own_account"
        )
    assert (
        client.patch(
            f"/users/{world['admin']}", headers=admin, json={"full_name": "The Admin"}
        ).status_code
        == 200
    )
    assert client.get("/auth/me", headers=admin).json()["full_name"] == "The Admin"


@pytest.mark.parametrize("by", ["admin", "manager1"])
def test_disabling_a_user_ends_their_sessions(client, world, by):
    pair = _tokens(client, "tech1")
    tech = _bearer(pair)
    assert client.get("/auth/me", headers=tech).status_code == 200  # now cached as active
    r = client.patch(f"/users/{world['tech1']}", headers=login(client, by), json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert_error(client.get("/auth/me", headers=tech), 401, "user_disabled")
    assert_error(
        client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}),
        401,
        "refresh_invalid",
    )
    assert_error(
        client.post("/auth/login", json={"username": "tech1", "password": PASSWORD}),
        403,
        "user_disabled",
    )
    # enabled again, the user logs in afresh
    client.patch(f"/users/{world['tech1']}", headers=login(client, by), json={"active": True})
    assert client.get("/auth/me", headers=_bearer(_tokens(client, "tech1"))).status_code == 200


def test_other_users_sessions_survive(client, world, database_url):
    _tokens(client, "tech1")
    other = _tokens(client, "tech1b")
    client.patch(f"/users/{world['tech1']}", headers=login(client, "admin"), json={"active": False})
    assert (
        client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]}).status_code
        == 200
    )

    async def revoked(s: Any) -> list[uuid.UUID]:
        rows = await s.scalars(
            select(RefreshToken.user_id).where(RefreshToken.revoked_at.is_not(None))
        )
        return list(rows)

    # only the disabled user's token (the used tech1b token is spent, not revoked)
    assert run_db(database_url, revoked) == [world["tech1"]]


# --- devices ------------------------------------------------------------------------


def test_revoking_a_device(client, world, database_url):
    device = _enrol(database_url, world["tech1"])
    spare = _enrol(database_url, world["tech1"], "spare phone")
    pair = _tokens(client, "tech1", device_id=str(device))
    other_login = _tokens(client, "tech1")  # not bound to the device
    tech = _bearer(pair)
    assert client.get("/auth/me", headers=tech).status_code == 200

    admin = login(client, "admin")
    listed = client.get(f"/users/{world['tech1']}/devices", headers=admin).json()
    assert [d["id"] for d in listed] == [str(device), str(spare)]
    assert listed[0]["revoked_at"] is None and listed[0]["has_key"] is False

    manager2 = login(client, "manager2")
    assert_error(
        client.get(f"/users/{world['tech1']}/devices", headers=manager2), 404, "user_not_found"
    )
    assert_error(
        client.post(f"/devices/{device}/revoke", headers=manager2), 404, "device_not_found"
    )
    assert client.get("/auth/me", headers=tech).status_code == 200

    manager1 = login(client, "manager1")
    r = client.post(f"/devices/{device}/revoke", headers=manager1)
    assert r.status_code == 200, r.text
    revoked_at = r.json()["revoked_at"]
    assert revoked_at is not None and datetime.fromisoformat(revoked_at)
    assert_error(client.get("/auth/me", headers=tech), 401, "device_revoked")
    assert_error(
        client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}),
        401,
        "refresh_invalid",
    )
    # the login not bound to the phone goes on
    assert (
        client.post(
            "/auth/refresh", json={"refresh_token": other_login["refresh_token"]}
        ).status_code
        == 200
    )

    again = client.post(f"/devices/{device}/revoke", headers=admin)
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked_at
    listed = client.get(f"/users/{world['tech1']}/devices", headers=manager1).json()
    assert [d["revoked_at"] is not None for d in listed] == [True, False]


def test_device_revoke_scope(client, world, database_url):
    desk_phone = _enrol(database_url, world["provdispatch1"])
    manager1 = login(client, "manager1")
    assert (
        client.get(f"/users/{world['provdispatch1']}/devices", headers=manager1).status_code == 200
    )
    assert_error(
        client.post(f"/devices/{desk_phone}/revoke", headers=manager1), 403, "role_forbidden"
    )
    assert_error(
        client.post(f"/devices/{uuid.uuid4()}/revoke", headers=manager1), 404, "device_not_found"
    )
    listed = client.get(
        f"/users/{world['provdispatch1']}/devices", headers=login(client, "admin")
    ).json()
    assert listed[0]["revoked_at"] is None


# --- fee policies -------------------------------------------------------------------

POLICY = {
    "currency": "CNY",
    "visit_fee": 3500,
    "visit_fee_in_warranty": False,
    "items": [
        {"code": "labour", "label": "Labour", "max_amount": 12000, "allowed_in_warranty": False},
        {
            "code": "bracket",
            "label": "Wall bracket",
            "max_amount": 5000,
            "allowed_in_warranty": True,
        },
    ],
    "very_satisfied_bonus": 1000,
    "false_report_fine": 200000,
}


def test_fee_policy_read_and_replace(client, world):
    tech = login(client, "tech1")
    url = f"/cities/{world['hangzhou']}/fee-policy"
    before = client.get(url, headers=tech).json()
    assert before["visit_fee"] == 3000 and before["items"][0]["code"] == "labour"

    r = client.put(url, headers=login(client, "admin"), json=POLICY)
    assert r.status_code == 200, r.text
    after = client.get(url, headers=tech).json()
    assert after == r.json()
    assert {k: after[k] for k in POLICY} == POLICY
    assert after["city_id"] == str(world["hangzhou"])


def test_fee_policy_created_for_a_new_city(client, world):
    admin = login(client, "admin")
    city = client.post("/cities", json=SUZHOU, headers=admin).json()
    url = f"/cities/{city['id']}/fee-policy"
    assert_error(client.get(url, headers=admin), 404, "fee_policy_not_found")
    assert client.put(url, headers=admin, json={**POLICY, "items": []}).status_code == 200
    assert client.get(url, headers=login(client, "tech1")).json()["items"] == []
    missing = f"/cities/{uuid.uuid4()}/fee-policy"
    assert_error(client.get(missing, headers=admin), 404, "city_not_found")
    assert_error(client.put(missing, headers=admin, json=POLICY), 404, "city_not_found")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"items": POLICY["items"] + [POLICY["items"][0]]}, 422, "duplicate_item"),
        ({"visit_fee": -1}, 400, "invalid_request"),
        ({"false_report_fine": 10**12}, 400, "invalid_request"),
        ({"currency": "cny"}, 400, "invalid_request"),
        ({"items": [{**POLICY["items"][0], "max_amount": -5}]}, 400, "invalid_request"),
        ({"items": [{**POLICY["items"][0], "note": "x"}]}, 400, "unknown_field"),
        ({"discount": 5}, 400, "unknown_field"),
    ],
)
def test_bad_fee_policy_refused_and_nothing_written(client, world, change, status, code):
    admin = login(client, "admin")
    url = f"/cities/{world['hangzhou']}/fee-policy"
    before = client.get(url, headers=admin).json()
    assert_error(client.put(url, headers=admin, json={**POLICY, **change}), status, code)
    assert client.get(url, headers=admin).json() == before


# --- checklists ---------------------------------------------------------------------

CHECKLIST = {
    "items": [
        {"code": "shoe_covers", "label": "Wear shoe covers", "required": True},
        {"code": "explain_use", "label": "Explain safe use"},
    ]
}


def test_checklist_replace_bumps_version(client, world):
    admin = login(client, "admin")
    r = client.put("/checklists/install", headers=admin, json=CHECKLIST)
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["job_kind"], first["category"], first["version"]) == ("install", "*", 1)
    assert first["items"][1]["required"] is True

    r = client.put("/checklists/install", headers=admin, json={"items": CHECKLIST["items"][:1]})
    assert (r.json()["id"], r.json()["version"], len(r.json()["items"])) == (first["id"], 2, 1)
    r = client.put(
        "/checklists/install", params={"category": "smart_lock"}, headers=admin, json=CHECKLIST
    )
    assert (r.json()["category"], r.json()["version"]) == ("smart_lock", 1)

    listed = client.get("/checklists", headers=login(client, "tech1")).json()
    assert [(c["job_kind"], c["category"], c["version"]) for c in listed] == [
        ("install", "*", 2),
        ("install", "smart_lock", 1),
    ]


@pytest.mark.parametrize(
    ("path", "params", "body", "status", "code"),
    [
        ("/checklists/teleport", {}, CHECKLIST, 422, "unknown_job_kind"),
        ("/checklists/" + "x" * 40, {}, CHECKLIST, 422, "unknown_job_kind"),
        ("/checklists/repair", {"category": "toaster"}, CHECKLIST, 422, "unknown_category"),
        ("/checklists/repair", {}, {"items": CHECKLIST["items"] * 2}, 422, "duplicate_item"),
        ("/checklists/repair", {}, {"items": [{"code": "x"}]}, 400, "invalid_request"),
        ("/checklists/repair", {}, {"items": [], "title": "x"}, 400, "unknown_field"),
    ],
)
def test_bad_checklist_refused_and_nothing_written(client, world, path, params, body, status, code):
    admin = login(client, "admin")
    assert_error(client.put(path, params=params, headers=admin, json=body), status, code)
    assert client.get("/checklists", headers=admin).json() == []


# --- knowledge articles -------------------------------------------------------------

ARTICLE = {"category": "water_heater", "title": "Descaling", "body": "Turn off the power."}


def test_kb_articles(client, world):
    admin = login(client, "admin")
    r = client.post("/kb-articles", headers=admin, json=ARTICLE)
    assert r.status_code == 201, r.text
    article = r.json()
    assert article["version"] == 1
    client.post(
        "/kb-articles",
        headers=admin,
        json={"category": "smart_lock", "title": "Reset", "body": "Hold the button."},
    )

    r = client.put(
        f"/kb-articles/{article['id']}",
        headers=admin,
        json={**ARTICLE, "body": "Turn off the power and the water."},
    )
    assert r.status_code == 200
    assert (r.json()["version"], r.json()["body"]) == (2, "Turn off the power and the water.")

    tech = login(client, "tech1")
    assert [a["title"] for a in client.get("/kb-articles", headers=tech).json()] == [
        "Reset",
        "Descaling",
    ]
    only = client.get("/kb-articles", params={"category": "water_heater"}, headers=tech).json()
    assert [(a["id"], a["version"]) for a in only] == [(article["id"], 2)]

    assert_error(
        client.put(f"/kb-articles/{uuid.uuid4()}", headers=admin, json=ARTICLE),
        404,
        "kb_article_not_found",
    )
    assert_error(
        client.post("/kb-articles", headers=admin, json={**ARTICLE, "title": ""}),
        400,
        "invalid_request",
    )
    assert_error(
        client.put(
            f"/kb-articles/{article['id']}", headers=admin, json={**ARTICLE, "author": "me"}
        ),
        400,
        "unknown_field",
    )
    assert len(client.get("/kb-articles", headers=admin).json()) == 2
    assert (
        client.get("/kb-articles", params={"category": "water_heater"}, headers=admin).json()[0][
            "version"
        ]
        == 2
    )


# --- the API documents itself -------------------------------------------------------


def test_admin_operations_documented(client):
    schema = client.get("/docs/openapi.json").json()
    paths = [
        "/cities",
        "/providers",
        "/providers/{provider_id}",
        "/users",
        "/users/{user_id}",
        "/users/{user_id}/devices",
        "/devices/{device_id}/revoke",
        "/cities/{city_id}/fee-policy",
        "/checklists",
        "/checklists/{job_kind}",
        "/kb-articles",
        "/kb-articles/{article_id}",
    ]
    for path in paths:
        for method, op in schema["paths"][path].items():
            assert op.get("description"), (method, path)
    user_in = schema["components"]["schemas"]["UserIn"]["properties"]
    assert user_in["username"]["examples"] and "password_hash" not in str(schema["components"])


# --- doorstep create-user -----------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch, settings):
    monkeypatch.setenv("DOORSTEP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DOORSTEP_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DOORSTEP_PASSWORD_TIME_COST", "1")
    monkeypatch.setenv("DOORSTEP_PASSWORD_MEMORY_KIB", "8")
    return settings


def test_cli_creates_users_who_can_log_in(client, world, cli_env, capsys):
    from server.cli import main

    code = main(
        [
            "create-user",
            "night.tech",
            "--role",
            "technician",
            "--password",
            NEW_PASSWORD,
            "--provider",
            "p2",
            "--skill",
            "senior",
            "--full-name",
            "Night",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "created user night.tech" in capsys.readouterr().out
    me = _tokens(client, "night.tech", NEW_PASSWORD)["user"]
    assert (me["provider_id"], me["skill_level"], me["full_name"]) == (
        str(world["p2"]),
        "senior",
        "Night",
    )

    assert main(["create-user", "night.tech", "--role", "admin", "--password", NEW_PASSWORD]) == 2
    assert "taken" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "error", "code"),
    [
        (("boss", "overlord", None, None), Invalid, "unknown_role"),
        (("tech9", "technician", "nope", "junior"), Invalid, "unknown_provider"),
        (("tech9", "technician", None, "junior"), Invalid, "provider_required"),
        (("tech9", "technician", "p1", None), Invalid, "skill_required"),
        (("tech9", "technician", "p1", "guru"), Invalid, "unknown_skill"),
        (("admin2", "admin", "p1", None), Invalid, "provider_not_allowed"),
        (("Bad Name", "admin", None, None), Invalid, "invalid_username"),
        (("tech1", "technician", "p1", "junior"), Conflict, "username_taken"),
    ],
)
def test_cli_refusals(client, world, settings, args, error, code):
    from server.users.service import create_user_cli

    username, role, provider, skill = args
    with pytest.raises(error) as caught:
        asyncio.run(
            create_user_cli(settings, username, NEW_PASSWORD, role, "Someone", provider, skill)
        )
    assert caught.value.code == code and str(caught.value)
    names = _usernames(client, login(client, "admin"))
    assert len(names) == 10


def test_cli_refuses_short_password(client, world, settings):
    from server.users.service import create_user_cli

    with pytest.raises(Invalid) as caught:
        asyncio.run(create_user_cli(settings, "short.pw", "short", "admin", "S", None, None))
    assert caught.value.code == "password_too_short"
