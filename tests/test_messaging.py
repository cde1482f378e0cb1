"""Customer messages through a real HTTP gateway on 127.0.0.1: signed, idempotent posts,
retries with backoff, dead letters the desk retries, and signed delivery receipts."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sms_gateway import FakeGateway
from test_sync_api import _window, make_job
from world import assert_error, login

from server.db.engine import make_database
from server.notifications.gateway import HttpGateway, LogSender, Sender
from server.notifications.outbox import RetryPolicy, drain
from server.notifications.signing import sign

SECRET = "gateway-secret-for-tests"
T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.replace(sms_gateway_secret=SECRET)


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    gw = FakeGateway().start()
    try:
        yield gw
    finally:
        gw.stop()


def _drain(url: str, sender: Sender, now: datetime, **policy: Any) -> int:
    async def run() -> int:
        db = make_database(url)
        try:
            return await drain(db, sender, now=now, policy=RetryPolicy(**policy))
        finally:
            await sender.close()
            await db.dispose()

    return asyncio.run(run())


def _http(gw: FakeGateway, timeout: float = 5.0) -> HttpGateway:
    return HttpGateway(gw.url, SECRET, timeout=timeout, receipt_url="http://doorstep/sms/receipts")


def _rebooked(client: Any, desk: dict[str, str], world: Any) -> dict[str, Any]:
    """A job the desk moves to another day: its customer is sent a message."""
    job = make_job(client, desk, world)
    r = client.post(
        f"/jobs/{job['id']}/reschedule",
        json={**_window(48), "reason": "customer asked"},
        headers=desk,
    )
    assert r.status_code == 200, r.text
    return job


def _booked(client: Any, world: Any) -> tuple[dict[str, str], dict[str, Any]]:
    desk = login(client, "dispatcher")
    job = _rebooked(client, desk, world)
    (message,) = _messages(client, desk, job["id"])
    assert message["status"] == "queued"
    return desk, message


def _messages(client: Any, desk: dict[str, str], job_id: str) -> list[dict[str, Any]]:
    r = client.get("/notifications", params={"job_id": job_id}, headers=desk)
    assert r.status_code == 200, r.text
    return r.json()


def _message(client: Any, desk: dict[str, str], message: dict[str, Any]) -> dict[str, Any]:
    (now,) = [m for m in _messages(client, desk, message["job_id"]) if m["id"] == message["id"]]
    return now


def _receipt(client: Any, payload: dict[str, Any], secret: str = SECRET) -> Any:
    body = json.dumps(payload).encode()
    return client.post(
        "/sms/receipts",
        content=body,
        headers={"Content-Type": "application/json", "X-Doorstep-Signature": sign(secret, body)},
    )


def test_without_a_gateway_messages_are_logged_never_sent(client, world, database_url):
    desk, message = _booked(client, world)
    assert _drain(database_url, LogSender(), T0) == 1
    after = _message(client, desk, message)
    assert after["status"] == "logged"
    assert after["attempts"] == 1 and after["accepted_at"] is None
    assert _drain(database_url, LogSender(), T0) == 0  # nothing left to hand over


def test_gateway_gets_a_signed_idempotent_post_and_receipts_deliver(
    client, world, database_url, gateway
):
    desk, message = _booked(client, world)
    assert _drain(database_url, _http(gateway), T0) == 1
    (post,) = gateway.received
    assert post.headers["idempotency-key"] == message["id"]
    assert post.headers["x-doorstep-signature"] == sign(SECRET, post.raw)
    assert post.headers["content-type"] == "application/json"
    assert post.body == {
        "message_id": message["id"],
        "to": message["recipient"],
        "text": message["body"],
        "template": "appointment_rescheduled",
        "receipt_url": "http://doorstep/sms/receipts",
    }
    accepted = _message(client, desk, message)
    assert accepted["status"] == "accepted" and accepted["gateway_id"] == "gw-1"

    assert_error(
        _receipt(client, {"message_id": message["id"], "status": "delivered"}, "x"),
        401,
        "bad_signature",
    )
    r = _receipt(client, {"gateway_id": "gw-1", "status": "delivered", "at": T0.isoformat()})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "matched": True,
        "message_id": message["id"],
        "status": "delivered",
        "duplicate": False,
    }
    assert _receipt(client, {"message_id": message["id"], "status": "delivered"}).json()[
        "duplicate"
    ]
    # an older receipt arriving late changes nothing
    assert _receipt(client, {"message_id": message["id"], "status": "accepted"}).json()["duplicate"]
    final = _message(client, desk, message)
    assert final["status"] == "delivered" and final["delivered_at"] is not None
    unknown = _receipt(client, {"message_id": str(uuid.uuid4()), "status": "delivered"})
    assert unknown.status_code == 200 and unknown.json()["matched"] is False


def test_a_500_is_tried_again_after_a_backoff_with_the_same_key(
    client, world, database_url, gateway
):
    gateway.script = [500, 200]
    desk, message = _booked(client, world)
    assert _drain(database_url, _http(gateway), T0) == 0
    waiting = _message(client, desk, message)
    assert waiting["status"] == "queued" and waiting["error"] == "gateway_http_500"
    assert datetime.fromisoformat(waiting["next_attempt_at"]) == T0 + timedelta(seconds=30)
    assert _drain(database_url, _http(gateway), T0 + timedelta(seconds=10)) == 0  # not yet
    assert len(gateway.received) == 1
    assert _drain(database_url, _http(gateway), T0 + timedelta(seconds=31)) == 1
    keys = {p.headers["idempotency-key"] for p in gateway.received}
    assert keys == {message["id"]} and len(gateway.received) == 2
    done = _message(client, desk, message)
    assert done["status"] == "accepted" and done["attempts"] == 2 and done["error"] is None


def test_a_gateway_that_times_out_but_took_the_message_is_not_sent_twice(
    client, world, database_url, gateway
):
    gateway.script, gateway.dedupe = ["hang", 200], True
    desk, message = _booked(client, world)
    assert _drain(database_url, _http(gateway, timeout=0.5), T0) == 0
    gateway.release()
    timed_out = _message(client, desk, message)
    assert timed_out["status"] == "queued" and timed_out["error"] == "gateway_timeout"
    # The retry carries the same key: the gateway knows it (409) and we count it accepted.
    assert _drain(database_url, _http(gateway), T0 + timedelta(minutes=1)) == 1
    assert [p.headers["idempotency-key"] for p in gateway.received] == [message["id"]] * 2
    assert _message(client, desk, message)["status"] == "accepted"


def test_a_receipt_that_beats_the_retry_settles_the_message(client, world, database_url, gateway):
    gateway.script = ["hang"]
    _, message = _booked(client, world)
    assert _drain(database_url, _http(gateway, timeout=0.5), T0) == 0
    gateway.release()
    assert (
        _receipt(client, {"message_id": message["id"], "status": "delivered"}).json()["status"]
        == "delivered"
    )
    assert _drain(database_url, _http(gateway), T0 + timedelta(hours=2)) == 0
    assert len(gateway.received) == 1


def test_two_senders_draining_at_once_post_each_message_once(client, world, database_url, gateway):
    desk = login(client, "dispatcher")
    jobs = [_rebooked(client, desk, world) for _ in range(3)]

    async def both() -> list[int]:
        db = make_database(database_url)
        a, b = _http(gateway), _http(gateway)
        try:
            return list(await asyncio.gather(drain(db, a, now=T0), drain(db, b, now=T0)))
        finally:
            await a.close()
            await b.close()
            await db.dispose()

    assert sum(asyncio.run(both())) == 3
    keys = [p.headers["idempotency-key"] for p in gateway.received]
    assert len(keys) == len(set(keys)) == 3
    for job in jobs:
        assert [m["status"] for m in _messages(client, desk, job["id"])] == ["accepted"]


def test_refused_or_exhausted_messages_are_dead_letters_the_desk_retries(
    client, world, database_url, gateway
):
    gateway.script = [400]
    desk, refused = _booked(client, world)
    assert _drain(database_url, _http(gateway), T0) == 0
    dead = _message(client, desk, refused)
    assert dead["status"] == "dead_letter" and dead["error"] == "gateway_http_400"

    gateway.script = [400, 503, 503]
    _, flaky = _booked(client, world)
    assert _drain(database_url, _http(gateway), T0, max_attempts=2) == 0
    assert _drain(database_url, _http(gateway), T0 + timedelta(minutes=5), max_attempts=2) == 0
    assert _message(client, desk, flaky)["status"] == "dead_letter"

    listed = client.get("/notifications/dead-letters", headers=desk)
    assert listed.status_code == 200, listed.text
    assert {m["id"] for m in listed.json()["items"]} == {refused["id"], flaky["id"]}
    assert listed.json()["total"] == 2
    assert_error(
        client.get("/notifications/dead-letters", headers=login(client, "provdispatch1")),
        403,
        "brand_staff_only",
    )

    r = client.post(f"/notifications/{refused['id']}/retry", headers=desk)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued" and r.json()["attempts"] == 0
    assert_error(
        client.post(f"/notifications/{refused['id']}/retry", headers=desk), 409, "not_retryable"
    )
    gateway.script = [200]
    assert _drain(database_url, _http(gateway), T0 + timedelta(minutes=6)) == 1
    assert _message(client, desk, refused)["status"] == "accepted"
    remaining = client.get("/notifications/dead-letters", headers=desk).json()
    assert [m["id"] for m in remaining["items"]] == [flaky["id"]]


def test_a_failed_receipt_is_listed_with_the_dead_letters(client, world, database_url, gateway):
    desk, message = _booked(client, world)
    _drain(database_url, _http(gateway), T0)
    r = _receipt(client, {"message_id": message["id"], "status": "failed", "error": "handset_off"})
    assert r.json()["status"] == "failed"
    listed = client.get("/notifications/dead-letters", headers=desk).json()["items"]
    assert [(m["id"], m["error"]) for m in listed] == [(message["id"], "handset_off")]


def test_messages_are_in_chinese_with_the_citys_local_times(client, world):
    """The brand's customers read zh-CN: the catalog's ``sms`` template, the job kind as a
    label, the appointment in the city's zone (Asia/Shanghai, not UTC), formatted by Babel."""
    from server.i18n import window

    desk = login(client, "dispatcher")
    job = make_job(client, desk, world)
    old = (job["window_start"], job["window_end"])
    r = client.post(
        f"/jobs/{job['id']}/reschedule",
        json={**_window(48), "reason": "customer asked"},
        headers=desk,
    )
    assert r.status_code == 200, r.text
    moved = r.json()
    (message,) = _messages(client, desk, job["id"])
    assert message["template"] == "appointment_rescheduled"
    body = message["body"]

    def local(start: str, end: str) -> str:
        s, e = datetime.fromisoformat(start), datetime.fromisoformat(end)
        return window(s, e, "Asia/Shanghai", "zh-CN")

    assert body.startswith("【上门服务】") and "维修" in body and job["number"] in body
    assert local(*old) in body and local(moved["window_start"], moved["window_end"]) in body
    assert "repair" not in body and "UTC" not in body
    shanghai = datetime.fromisoformat(moved["window_start"]).astimezone(UTC) + timedelta(hours=8)
    assert shanghai.strftime("%H:%M") in body  # the city's clock (UTC+8), not UTC

    r = client.post(
        f"/jobs/{job['id']}/cancel", json={"reason": "customer cancelled"}, headers=desk
    )
    assert r.status_code == 200, r.text
    cancelled = [
        m for m in _messages(client, desk, job["id"]) if m["template"] == "appointment_cancelled"
    ]
    assert cancelled and "已取消" in cancelled[0]["body"]
