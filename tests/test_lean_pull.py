"""The poll's lean route (``server.sync_api.lean``) answers exactly as Litestar's path
does: same status, headers and bytes, for answers and for every refusal, on SQLite and
PostgreSQL. Each case is sent twice, once with the lean route in front and once without
(``app.lean_pull = None``), and the lean route is checked to have taken it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from test_account_checks import _at_head, _in_database, _phone
from test_sync_api import make_job
from world import login

from server.db.models import Device
from server.limits import LocalBuckets
from server.metrics import REGISTRY
from server.sync_api import routes as sync_routes

NOW = datetime(2026, 5, 4, 7, 59, 30, 123456, tzinfo=UTC)


class Spy:
    """The lean route, counting the requests it took."""

    def __init__(self, lean: Any) -> None:
        self.lean, self.taken = lean, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.taken += 1
        await self.lean(scope, receive, send)


@pytest.fixture
def both(app: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``send(params, headers)``: the answer of each path, checked identical; the time
    of the answers is fixed (``server_time`` is in the bytes)."""
    monkeypatch.setattr(sync_routes, "utcnow", lambda: NOW)
    spy = Spy(app.lean_pull)
    assert app.lean_pull is not None, "the lean route is not installed"

    def send(params: dict[str, Any], headers: dict[str, str], *, lean: bool = True) -> Any:
        answers = []
        for lean_pull in (spy, None):
            app.lean_pull = lean_pull
            before = spy.taken
            r = client.get("/sync/v1/pull", params=params, headers=headers)
            assert spy.taken - before == (1 if lean_pull is spy and lean else 0)
            answers.append(r)
        app.lean_pull = spy.lean
        fast, slow = answers
        assert (fast.status_code, fast.content) == (slow.status_code, slow.content)
        assert fast.headers.raw == slow.headers.raw
        return fast

    return send


def test_answers_are_the_same(client: Any, world: Any, both: Any) -> None:
    headers, device = _phone(client)
    poll = {"device_id": device, "cursor": _at_head[device]}
    r = both(poll, headers)
    assert r.status_code == 200 and r.json()["ops"] == [] and r.json()["cursor"] == poll["cursor"]
    assert both({"cursor": _at_head[device], "limit": 5}, headers).status_code == 200
    make_job(client, login(client, "dispatcher"), world)  # news for the next pulls
    news = both(poll, headers)
    assert news.status_code == 200 and news.json()["ops"]
    first = both({"limit": 1000}, headers)  # a first sync: the whole snapshot
    assert first.status_code == 200 and first.json()["ops"]
    assert both({}, headers).status_code == 200


def _code(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and r.json()["message"]


def test_refusals_are_the_same(client: Any, world: Any, app: Any, both: Any) -> None:
    headers, device = _phone(client)
    poll = {"device_id": device, "cursor": _at_head[device]}
    _code(both(poll, {}), 401, "not_authenticated")
    _code(both(poll, {"Authorization": "Bearer nonsense"}), 401, "token_invalid")
    _code(both(poll, {"Authorization": "Basic abc"}), 401, "not_authenticated")
    claims = app.state.signer.verify(headers["Authorization"].partition(" ")[2])
    expired, _ = app.state.signer.issue(
        user_id=claims.user_id,
        role=claims.role,
        provider_id=claims.provider_id,
        device_id=claims.device_id,
        now=datetime.now(UTC) - timedelta(days=1),
    )
    _code(both(poll, {"Authorization": f"Bearer {expired}"}), 401, "token_expired")
    _code(both({**poll, "cursor": "x.y"}, headers), 422, "cursor_invalid")
    other = {**poll, "device_id": str(uuid.uuid4())}
    _code(both(other, headers), 403, "device_mismatch")
    _code(both(poll, login(client, "dispatcher")), 403, "role_forbidden")
    # in the caller's language, too
    zh = {**headers, "Accept-Language": "zh-CN"}
    _code(both({**poll, "cursor": "x.y"}, zh), 422, "cursor_invalid")


def test_a_revoked_device_is_refused_the_same(
    client: Any, world: Any, database_url: str, both: Any
) -> None:
    headers, device = _phone(client)
    _in_database(
        database_url,
        update(Device).where(Device.id == uuid.UUID(device)).values(revoked_at=datetime.now(UTC)),
    )
    poll = {"device_id": device, "cursor": _at_head[device]}
    _code(both(poll, headers), 401, "device_revoked")


def test_the_rate_limit_is_the_same(
    client: Any, world: Any, app: Any, both: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers, device = _phone(client)
    poll = {"device_id": device, "cursor": _at_head[device]}
    limiter = app.state.limiter
    monkeypatch.setattr(limiter, "per_minute", lambda kind: 1)
    limiter.buckets = LocalBuckets()
    assert client.get("/sync/v1/pull", params=poll, headers=headers).status_code == 200
    r = both(poll, headers)  # the bucket is empty for both paths
    _code(r, 429, "rate_limited")
    assert r.headers["retry-after"] == "60"


def test_queries_the_lean_route_does_not_read_go_to_litestar(
    client: Any, world: Any, both: Any
) -> None:
    headers, device = _phone(client)
    cursor = _at_head[device]
    for params, status in (
        ({"limit": 5000}, 400),
        ({"limit": 0}, 400),
        ({"limit": "ten"}, 400),
        ({"cursor": "x" * 600}, 400),
        ({"device_id": "not-a-uuid"}, 400),
        ({"device_id": device.upper(), "cursor": cursor}, 200),  # valid, not plain: Litestar's
        ({"cursor": cursor, "other": "1"}, 200),
        ({"cursor": cursor + "%41"}, 422),
    ):
        assert both(params, headers, lean=False).status_code == status, params


def test_the_lean_route_is_timed_by_route_and_status(client: Any, world: Any, app: Any) -> None:
    headers, device = _phone(client)
    labels = {"method": "GET", "route": "/sync/v1/pull"}

    def count(status: str) -> float:
        value = REGISTRY.get_sample_value(
            "doorstep_request_duration_seconds_count", {**labels, "status": status}
        )
        return value or 0.0

    ok, refused = count("200"), count("401")
    poll = {"device_id": device, "cursor": _at_head[device]}
    assert client.get("/sync/v1/pull", params=poll, headers=headers).status_code == 200
    assert client.get("/sync/v1/pull", params=poll).status_code == 401
    assert (count("200"), count("401")) == (ok + 1, refused + 1)
    app.lean_pull = None  # and Litestar's path counts a refusal by its own status too
    assert client.get("/sync/v1/pull", params=poll).status_code == 401
    assert count("401") == refused + 2
