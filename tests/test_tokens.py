"""Attacks on tokens and devices beyond ``test_auth.py``: other algorithms and key
types, tampered payloads, forged headers, stale powers after a demotion, and refresh
tokens of revoked devices and disabled users. Every one is refused with a stable code,
and the last test proves the same request with a genuine token passes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from world import PASSWORD, assert_error, every_case, login

SECRET = "test-secret-key-that-is-long-enough-for-hs256-and-hs512-0123456789abcdef"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(world: Any, who: str = "tech1", **over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": "doorstep",
        "sub": str(world[who]),
        "role": "technician",
        "pid": str(world["p1"]),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "typ": "access",
    }
    base.update(over)
    return base


def _raw(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)]
    )


def _hs256(claims: dict[str, Any], key: bytes) -> str:
    """Signed by hand: PyJWT refuses short keys, an attacker does not."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    mac = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


def _rsa() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


ATTACKS = {
    # algorithm and key
    "alg-none-lowercase": lambda w: _raw({"alg": "none", "typ": "JWT"}, _claims(w)),
    "alg-None": lambda w: _raw({"alg": "None", "typ": "JWT"}, _claims(w)),
    "alg-NONE-with-signature": lambda w: _raw({"alg": "NONE"}, _claims(w), b"sig"),
    "RS256-own-key": lambda w: jwt.encode(_claims(w), _rsa(), algorithm="RS256"),
    "ES256-own-key": lambda w: jwt.encode(
        _claims(w), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256"
    ),
    "HS384-right-key": lambda w: jwt.encode(_claims(w), SECRET, algorithm="HS384"),
    "HS512-right-key": lambda w: jwt.encode(_claims(w), SECRET, algorithm="HS512"),
    "HS256-empty-key": lambda w: _hs256(_claims(w), b""),
    "HS256-key-guess": lambda w: _hs256(_claims(w), b"secret"),
    "kid-and-jku-headers": lambda w: jwt.encode(
        _claims(w),
        "attacker-key-" + "k" * 40,
        algorithm="HS256",
        headers={"kid": "../../../dev/null", "jku": "http://attacker.invalid/jwks"},
    ),
    # tampering with a genuine token
    "payload-escalated": "escalate",
    "signature-stripped": "strip",
    "signature-of-another-token": "swap",
    # claims
    "wrong-issuer": lambda w: jwt.encode(_claims(w, iss="someone-else"), SECRET, "HS256"),
    "no-expiry": lambda w: jwt.encode(
        {k: v for k, v in _claims(w).items() if k != "exp"}, SECRET, "HS256"
    ),
    "expired-long-ago": lambda w: jwt.encode(
        _claims(w, exp=1, iat=0, nbf=0), SECRET, algorithm="HS256"
    ),
    "not-valid-for-an-hour": lambda w: jwt.encode(
        _claims(w, nbf=int(time.time()) + 3600), SECRET, algorithm="HS256"
    ),
    "unknown-role": lambda w: jwt.encode(_claims(w, role="superuser"), SECRET, "HS256"),
    "refresh-typed": lambda w: jwt.encode(_claims(w, typ="refresh"), SECRET, "HS256"),
    "unknown-user": lambda w: jwt.encode(
        _claims(w, sub="00000000-0000-0000-0000-000000000001"), SECRET, "HS256"
    ),
    "disabled-user": lambda w: jwt.encode(_claims(w, who="tech1off"), SECRET, "HS256"),
    "device-of-nobody": lambda w: jwt.encode(
        _claims(w, did="00000000-0000-0000-0000-000000000002"), SECRET, "HS256"
    ),
    "role-not-the-users": lambda w: jwt.encode(_claims(w, role="admin", pid=None), SECRET, "HS256"),
}
"""Each a forged or broken access token, refused with a 401 and a stable code."""

CODES = {"token_invalid", "token_expired", "user_disabled", "device_revoked"}


def _tampered(genuine: str, other: str, kind: str) -> str:
    header, payload, signature = genuine.split(".")
    if kind == "strip":
        return f"{header}.{payload}."
    if kind == "swap":
        return f"{header}.{payload}.{other.split('.')[2]}"
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    claims.pop("pid", None)
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def test_forged_tokens_refused(client: Any, world: Any) -> None:
    """Every attack of ``ATTACKS`` against one app (each is refused and changes nothing,
    so they share it; an app per attack cost the suite a minute)."""
    genuine = login(client, "tech1")["Authorization"].split()[1]
    other = login(client, "tech2")["Authorization"].split()[1]

    def check(attack, make):
        token = _tampered(genuine, other, make) if isinstance(make, str) else make(world)
        for method, path in (("GET", "/auth/me"), ("GET", "/users"), ("GET", "/sync/v1/pull")):
            r = client.request(method, path, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, (attack, path, r.text)
            assert r.json()["code"] in CODES, (attack, path, r.text)

    every_case(ATTACKS.items(), check)


def test_a_genuine_token_of_the_same_shape_passes(client: Any, world: Any) -> None:
    """The control for the attacks above: signed right, the same claims are accepted."""
    token = jwt.encode(_claims(world), SECRET, algorithm="HS256")
    r = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["username"] == "tech1"


def test_malformed_authorization_headers(client: Any, world: Any) -> None:
    for header in ["Bearer", "Bearer ", "Basic dGVjaDE6cGFzcw==", "bearer x.y", "Token abc"]:
        r = client.get("/auth/me", headers={"Authorization": header})
        assert r.status_code == 401 and r.json()["code"] in CODES | {"not_authenticated"}


def test_demoted_users_token_loses_its_powers(client: Any, world: Any) -> None:
    manager = login(client, "manager1")
    assert client.get("/users", headers=manager).status_code == 200
    admin = login(client, "admin")
    r = client.patch(f"/users/{world['manager1']}", json={"role": "dispatcher"}, headers=admin)
    assert r.status_code == 200, r.text
    client.app.state.status_cache.forget_user(world["manager1"])
    assert_error(client.get("/users", headers=manager), 401, "token_expired")


def _device_login(client: Any, who: str = "tech1") -> tuple[dict[str, Any], str]:
    first = login(client, who)
    device = client.post("/sync/v1/devices", json={"label": "x"}, headers=first).json()
    body = {"username": who, "password": PASSWORD, "device_id": device["device_id"]}
    return client.post("/auth/login", json=body).json(), device["device_id"]


def test_revoked_device_ends_access_refresh_and_login(client: Any, world: Any) -> None:
    pair, device = _device_login(client)
    access = {"Authorization": f"Bearer {pair['access_token']}"}
    assert client.get("/auth/me", headers=access).status_code == 200
    r = client.post(f"/devices/{device}/revoke", headers=login(client, "manager1"))
    assert r.status_code == 200, r.text
    assert_error(client.get("/auth/me", headers=access), 401, "device_revoked")
    r = client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 401 and r.json()["code"] in {"device_revoked", "refresh_invalid"}
    again = {"username": "tech1", "password": PASSWORD, "device_id": device}
    assert_error(client.post("/auth/login", json=again), 401, "device_revoked")
    # the user's other devices are untouched
    other, _ = _device_login(client)
    ok = client.get("/auth/me", headers={"Authorization": f"Bearer {other['access_token']}"})
    assert ok.status_code == 200


def test_device_of_another_user_refused_at_login(client: Any, world: Any) -> None:
    _, device = _device_login(client, "tech1")
    body = {"username": "tech2", "password": PASSWORD, "device_id": device}
    assert_error(client.post("/auth/login", json=body), 403, "device_not_enrolled")


def test_disabled_user_cannot_refresh(client: Any, world: Any, database_url: str) -> None:
    pair = client.post("/auth/login", json={"username": "tech1", "password": PASSWORD}).json()
    r = client.patch(
        f"/users/{world['tech1']}", json={"active": False}, headers=login(client, "admin")
    )
    assert r.status_code == 200, r.text
    refused = client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refused.status_code == 401 and refused.json()["code"] in {
        "user_disabled",
        "refresh_invalid",
    }
    access = {"Authorization": f"Bearer {pair['access_token']}"}
    assert_error(client.get("/auth/me", headers=access), 401, "user_disabled")


def test_refresh_reuse_after_several_rotations_ends_the_family(client: Any, world: Any) -> None:
    pair = client.post("/auth/login", json={"username": "tech1", "password": PASSWORD}).json()
    first = pair["refresh_token"]
    for _ in range(3):
        pair = client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}).json()
    other_login = client.post(
        "/auth/login", json={"username": "tech1", "password": PASSWORD}
    ).json()
    # a thief replays the first token: the whole family is revoked, not other logins
    assert_error(client.post("/auth/refresh", json={"refresh_token": first}), 401, "refresh_reused")
    assert_error(
        client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}),
        401,
        "refresh_invalid",
    )
    r = client.post("/auth/refresh", json={"refresh_token": other_login["refresh_token"]})
    assert r.status_code == 200


def test_login_throttled_per_address_has_retry_after(client: Any, world: Any) -> None:
    for i in range(20):
        client.post("/auth/login", json={"username": f"nobody{i}", "password": "bad"})
    r = client.post("/auth/login", json={"username": "tech2", "password": PASSWORD})
    body = assert_error(r, 429, "login_throttled")
    assert int(r.headers["retry-after"]) == body["details"]["retry_after"] >= 1


def test_throttled_account_refuses_even_the_right_password(client: Any, world: Any) -> None:
    for _ in range(5):
        client.post("/auth/login", json={"username": "tech1b", "password": "bad"})
    r = client.post("/auth/login", json={"username": "tech1b", "password": PASSWORD})
    assert_error(r, 429, "login_throttled")
