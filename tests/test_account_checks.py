"""The account rules on the hot path, and what is remembered between requests.

The pull checks the caller's account in its own read (``server.auth.account``), so a
user disabled, demoted or moved, or a device revoked, by any node or straight in the
database is refused at the very next pull, whatever this node's status cache holds.
Verified access tokens are remembered per process (``server.auth.tokens``), and a
remembered token still expires on time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update
from test_sync_api import make_job
from world import PASSWORD, assert_error, login

from server.auth.tokens import LEEWAY, VERIFIED_CACHE, TokenSigner
from server.db.engine import make_database
from server.db.models import Device, User
from server.errors import Unauthorized

KEY = "account-check-key-that-is-long-enough-for-hs256-0123456789abcdef"


def _in_database(database_url: str, stmt: Any) -> None:
    """A change made elsewhere (another node, a console, a script): this node's status
    cache is told nothing."""

    async def run() -> None:
        db = make_database(database_url)
        try:
            async with db.writer() as s:
                await s.execute(stmt)
                await s.commit()
        finally:
            await db.dispose()

    asyncio.run(run())


def _phone(client: Any, who: str = "tech1") -> tuple[dict[str, str], str]:
    """A device-bound token, and its device; its status is in the node's cache, and its
    pulls are done (``_at_head`` has the cursor of a poll)."""
    first = login(client, who)
    r = client.post("/sync/v1/devices", json={"label": "phone"}, headers=first)
    device = r.json()["device_id"]
    body = {"username": who, "password": PASSWORD, "device_id": device}
    token = client.post("/auth/login", json=body).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/auth/me", headers=headers).status_code == 200  # cached now
    params: dict[str, Any] = {"device_id": device}
    while True:
        page = client.get("/sync/v1/pull", params=params, headers=headers).json()
        params["cursor"] = page["cursor"]
        if not page["has_more"]:
            break
    _at_head[device] = page["cursor"]
    return headers, device


_at_head: dict[str, str] = {}


CHANGES = {
    "disabled": (
        lambda w, d: update(User).where(User.id == w["tech1"]).values(active=False),
        "user_disabled",
    ),
    "demoted": (
        lambda w, d: update(User).where(User.id == w["tech1"]).values(role="auditor"),
        "token_expired",
    ),
    "moved": (
        lambda w, d: update(User).where(User.id == w["tech1"]).values(provider_id=None),
        "token_expired",
    ),
    "device-revoked": (
        lambda w, d: (
            update(Device).where(Device.id == uuid.UUID(d)).values(revoked_at=datetime.now(UTC))
        ),
        "device_revoked",
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_pull_refuses_at_once_a_change_made_elsewhere(
    client: Any, world: Any, database_url: str, change: str
) -> None:
    headers, device = _phone(client)
    make, code = CHANGES[change]
    _in_database(database_url, make(world, device))
    assert_error(client.get("/sync/v1/pull", headers=headers), 401, code)
    # the same with a cursor and the device named: the account comes first
    r = client.get("/sync/v1/pull", params={"device_id": device, "cursor": "x.y"}, headers=headers)
    assert_error(r, 401, code)
    # and the poll a phone makes all day (a cursor at the head: its own short path)
    poll = {"device_id": device, "cursor": _at_head[device]}
    assert_error(client.get("/sync/v1/pull", params=poll, headers=headers), 401, code)


def test_a_poll_at_the_head_is_answered_and_news_still_arrives(
    client: Any, world: Any, database_url: str
) -> None:
    """The poll's short path answers an empty page with the same cursor, and a change
    after it is still delivered by the next poll."""
    headers, device = _phone(client)
    poll = {"device_id": device, "cursor": _at_head[device]}
    page = client.get("/sync/v1/pull", params=poll, headers=headers).json()
    assert page["ops"] == [] and page["cursor"] == _at_head[device] and not page["has_more"]
    job = make_job(client, login(client, "dispatcher"), world)  # assigned to tech1
    page = client.get("/sync/v1/pull", params=poll, headers=headers).json()
    assert page["cursor"] != _at_head[device]
    assert any(op["id"] == job["id"] for op in page["ops"]), page


def test_a_disabled_user_is_refused_by_the_other_node(settings: Any, world: Any) -> None:
    """Two nodes on one database: node A disables a technician; node B, which just
    served the phone, refuses its next pull."""
    from litestar.testing import TestClient

    from server.app import create_app

    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        headers, _ = _phone(b)
        admin = login(a, "admin")
        r = a.patch(f"/users/{world['tech1']}", json={"active": False}, headers=admin)
        assert r.status_code == 200, r.text
        assert_error(b.get("/sync/v1/pull", headers=headers), 401, "user_disabled")


def test_an_unbound_token_naming_a_device_is_checked_in_the_pull(
    client: Any, world: Any, database_url: str
) -> None:
    _, device = _phone(client)
    unbound = login(client, "tech1")
    assert client.get("/sync/v1/pull", params={"device_id": device}, headers=unbound).is_success
    other = login(client, "tech2")
    r = client.get("/sync/v1/pull", params={"device_id": device}, headers=other)
    assert_error(r, 403, "device_not_enrolled")
    r = client.get("/sync/v1/pull", params={"device_id": str(uuid.uuid4())}, headers=unbound)
    assert_error(r, 403, "device_not_enrolled")
    _in_database(
        database_url,
        update(Device).where(Device.id == uuid.UUID(device)).values(revoked_at=datetime.now(UTC)),
    )
    r = client.get("/sync/v1/pull", params={"device_id": device}, headers=unbound)
    assert_error(r, 403, "device_revoked")


def test_a_desk_token_on_the_pull_is_forbidden_and_a_stale_one_expired(
    client: Any, world: Any, database_url: str
) -> None:
    """The pull's role guard runs before the handler checks the account: a real
    dispatcher gets 403; a technician's token after a promotion gets 401."""
    assert_error(
        client.get("/sync/v1/pull", headers=login(client, "dispatcher")), 403, "role_forbidden"
    )
    tech = login(client, "tech1")
    _in_database(database_url, update(User).where(User.id == world["tech1"]).values(role="admin"))
    assert_error(client.get("/sync/v1/pull", headers=tech), 401, "token_expired")


# --- remembered tokens ------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def signer_and_clock() -> Iterator[tuple[TokenSigner, Clock]]:
    clock = Clock()
    yield TokenSigner(KEY, 60, clock=clock), clock


def test_a_remembered_token_still_expires(signer_and_clock: tuple[TokenSigner, Clock]) -> None:
    signer, clock = signer_and_clock
    token, _ = signer.issue(user_id=uuid.uuid4(), role="technician", provider_id=None)
    first = signer.verify(token)
    assert signer.verify(token) is first  # remembered: the same verified claims
    clock.now = first.exp + LEEWAY - 1
    assert signer.verify(token) is first
    clock.now = first.exp + LEEWAY
    with pytest.raises(Unauthorized) as refused:
        signer.verify(token)
    assert refused.value.code == "token_expired"


def test_only_verified_tokens_are_remembered(
    signer_and_clock: tuple[TokenSigner, Clock],
) -> None:
    signer, _ = signer_and_clock
    other = TokenSigner(KEY + "-other", 60)
    forged, _ = other.issue(user_id=uuid.uuid4(), role="admin", provider_id=None)
    genuine, _ = signer.issue(user_id=uuid.uuid4(), role="technician", provider_id=None)
    for _ in range(3):
        with pytest.raises(Unauthorized):
            signer.verify(forged)
        with pytest.raises(Unauthorized):  # one character of the signature changed
            signer.verify(genuine[:-2] + ("A" if genuine[-2] != "A" else "B") + genuine[-1])
    signer.verify(genuine)
    info = signer._verified.cache_info()
    assert info.currsize == 1 and info.maxsize == VERIFIED_CACHE
