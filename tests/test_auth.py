"""Login, tokens and refresh rotation against the real app and database."""

from __future__ import annotations

import time

import jwt
import pytest
from world import PASSWORD, assert_error, login

SECRET = "test-secret-key-that-is-long-enough-for-hs256-and-hs512-0123456789abcdef"


def _token(claims: dict, key: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


def _claims(world, **over) -> dict:
    now = int(time.time())
    base = {
        "iss": "doorstep",
        "sub": str(world["dispatcher"]),
        "role": "dispatcher",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "typ": "access",
    }
    base.update(over)
    return base


def test_login_and_me(client, world):
    r = client.post("/auth/login", json={"username": "tech1", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    assert body["user"]["role"] == "technician"
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == "tech1"


def test_wrong_password_and_unknown_user_look_the_same(client, world):
    a = client.post("/auth/login", json={"username": "tech1", "password": "nope"})
    b = client.post("/auth/login", json={"username": "ghost", "password": "nope"})
    assert_error(a, 401, "invalid_credentials")
    assert_error(b, 401, "invalid_credentials")


def test_disabled_user_cannot_log_in(client, world):
    assert_error(
        client.post("/auth/login", json={"username": "tech1off", "password": PASSWORD}),
        403,
        "user_disabled",
    )


def test_login_throttled_per_account_with_retry_after(client, world):
    for _ in range(5):
        client.post("/auth/login", json={"username": "tech1", "password": "bad"})
    r = client.post("/auth/login", json={"username": "tech1", "password": PASSWORD})
    body = assert_error(r, 429, "login_throttled")
    assert int(r.headers["retry-after"]) > 0
    assert body["details"]["retry_after"] == int(r.headers["retry-after"])
    # another account from the same address is not yet blocked
    assert (
        client.post("/auth/login", json={"username": "tech2", "password": PASSWORD}).status_code
        == 200
    )


def test_login_throttled_per_address(client, world):
    for i in range(20):
        client.post("/auth/login", json={"username": f"ghost{i % 4}", "password": "bad"})
    assert_error(
        client.post("/auth/login", json={"username": "tech2", "password": PASSWORD}),
        429,
        "login_throttled",
    )


def test_refresh_rotates_and_reuse_revokes_family(client, world):
    first = client.post("/auth/login", json={"username": "tech1", "password": PASSWORD}).json()
    second = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    # replaying the spent token ends the whole family, including the newest token
    assert_error(
        client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]}),
        401,
        "refresh_reused",
    )
    assert_error(
        client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]}),
        401,
        "refresh_invalid",
    )


def test_logout_revokes_refresh(client, world):
    pair = client.post("/auth/login", json={"username": "tech1", "password": PASSWORD}).json()
    assert (
        client.post("/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code
        == 204
    )
    assert_error(
        client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}),
        401,
        "refresh_invalid",
    )


def test_unknown_refresh_token(client, world):
    assert_error(
        client.post("/auth/refresh", json={"refresh_token": "x" * 43}), 401, "refresh_invalid"
    )


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda w: None, id="no-token"),
        pytest.param(lambda w: "garbage", id="garbage"),
        pytest.param(
            lambda w: _token(
                _claims(
                    w,
                    exp=int(time.time()) - 60,
                    iat=int(time.time()) - 700,
                    nbf=int(time.time()) - 700,
                )
            ),
            id="expired",
        ),
        pytest.param(lambda w: _token(_claims(w, nbf=int(time.time()) + 3600)), id="not-yet-valid"),
        pytest.param(
            lambda w: _token(
                _claims(w),
                key="another-key-of-sufficient-length-for-every-hmac-0123456789abcdefghij",
            ),
            id="wrong-key",
        ),
        pytest.param(lambda w: _token(_claims(w), alg="HS512"), id="wrong-alg"),
        pytest.param(lambda w: _token(_claims(w), key="", alg="none"), id="alg-none"),
        pytest.param(lambda w: _token(_claims(w, typ="refresh")), id="wrong-type"),
        pytest.param(lambda w: _token(_claims(w, sub="not-a-uuid")), id="bad-subject"),
    ],
)
def test_bad_tokens_refused(client, world, make):
    token = make(world)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = client.get("/auth/me", headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["code"] in {"not_authenticated", "token_invalid", "token_expired"}


def test_expired_token_code(client, world):
    now = int(time.time())
    tok = _token(_claims(world, exp=now - 60, iat=now - 700, nbf=now - 700))
    assert_error(
        client.get("/auth/me", headers={"Authorization": f"Bearer {tok}"}), 401, "token_expired"
    )


def test_forged_role_needs_the_key(client, world):
    # A correctly signed token works: this proves the negative tests above test the key.
    ok = _token(_claims(world))
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {ok}"}).status_code == 200


def test_disabled_user_token_refused(client, world, database_url):
    import asyncio

    from sqlalchemy import update

    from server.db.engine import make_database
    from server.db.models import User

    headers = login(client, "tech1")

    async def disable() -> None:
        db = make_database(database_url)
        async with db.writer() as s:
            await s.execute(update(User).where(User.id == world["tech1"]).values(active=False))
            await s.commit()
        await db.dispose()

    asyncio.run(disable())
    client.app.state.status_cache.forget_user(world["tech1"])
    assert_error(client.get("/auth/me", headers=headers), 401, "user_disabled")


def test_malformed_and_unknown_fields(client, world):
    assert_error(
        client.post(
            "/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        400,
        "malformed_json",
    )
    assert_error(
        client.post("/auth/login", json={"username": "a", "password": "b", "extra": 1}),
        400,
        "unknown_field",
    )
    assert_error(client.post("/auth/login", json={"username": "a"}), 400, "invalid_request")


def test_unknown_route_has_error_body(client):
    assert_error(client.get("/no/such/route"), 404, "not_found")
