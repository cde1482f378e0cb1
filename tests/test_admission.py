"""Admission control and the push queue (``server/admission.py``,
``server/sync_api/push_queue.py``), from the real app.

A saturated node is induced by replacing the admission's lag measurement (the event
loop sampler's reading) or by filling the writer queue — never by loading the machine,
so nothing here depends on timing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient, TestClient
from phones import BASE, Forward, make_job, server_status
from test_metrics import TOKEN, _value
from test_sync_api import Phone as BarePhone
from world import PASSWORD, assert_error, login

from client_sdk import Backoff, Phone
from server.admission import Admission, admitted_route
from server.app import create_app
from server.metrics import LoopWatch
from server.settings import Settings
from server.sync_api.push_queue import FairGate, PushQueue

SATURATED = 5.0  # seconds of loop lag, far above the default threshold


def _admission(app: Any, lag: float | None = None) -> Admission:
    """The app's admission control; with ``lag``, shedding on (the tests' settings turn
    it off) and the loop's lag replaced by ``lag`` seconds."""
    admission: Admission = app.state.admission
    if lag is not None:
        admission.max_loop_lag = 0.25  # the default threshold
        value = lag
        admission.lag = lambda: value
    return admission


@pytest.fixture
def desk(client: TestClient[Any], world: Any) -> dict[str, str]:
    return login(client, "dispatcher")


# --- shedding --------------------------------------------------------------------


def test_saturated_loop_sheds_sync_requests_cheaply_with_retry_after(
    app: Any, client: TestClient[Any], world: Any
) -> None:
    phone = BarePhone(client, "tech1")
    admission = _admission(app, SATURATED)
    r = client.get("/sync/v1/pull", headers=phone.headers)
    body = assert_error(r, 503, "retry_later")
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= 2 and body["details"] == {"retry_after": wait}
    # before the token check and without reading the body: no token, no JSON at all
    assert_error(client.get("/sync/v1/pull"), 503, "retry_later")
    junk = client.post(
        "/sync/v1/push",
        content=b"{not json",
        headers={**phone.headers, "content-type": "application/json"},
    )
    assert_error(junk, 503, "retry_later")
    # the caller's language, like every error
    zh = client.get("/sync/v1/pull", headers={**phone.headers, "Accept-Language": "zh-CN"})
    assert_error(zh, 503, "retry_later")
    assert zh.json()["message"] != body["message"]
    # the loop catches up: served again
    admission.lag = lambda: 0.0
    assert client.get("/sync/v1/pull", headers=phone.headers).status_code == 200
    again = client.post(
        "/sync/v1/push",
        content=b"{not json",
        headers={**phone.headers, "content-type": "application/json"},
    )
    assert_error(again, 422, "invalid_push")  # now the body is read, and refused


def test_health_metrics_login_and_console_are_never_shed(settings: Settings, world: Any) -> None:
    app = create_app(dataclasses.replace(settings, metrics_token=TOKEN))
    with TestClient(app) as c:
        _admission(app, SATURATED)
        scrape = {"Authorization": f"Bearer {TOKEN}"}
        assert c.get("/health").status_code == 200
        desk = login(c, "dispatcher")  # logins are people, not the fleet
        assert c.get(f"/customers/{world['customer1']}", headers=desk).status_code == 200
        tech = login(c, "tech1")
        assert_error(c.get("/sync/v1/pull", headers=tech), 503, "retry_later")
        assert_error(c.get("/sync/v1/pull", headers=tech), 503, "retry_later")
        text = c.get("/metrics", headers=scrape)
        assert text.status_code == 200
    shed = _value(
        text.text, "doorstep_admission_shed_total", route="/sync/v1/pull", reason="loop_lag"
    )
    assert shed >= 2  # the process's counter: other tests of this process may add to it


def test_admitted_routes_are_the_phones_sync_routes_but_the_event_stream() -> None:
    for path in ("/sync/v1/pull", "/sync/v1/push", "/sync/v1/devices", "/sync/v1/blobs/ab"):
        assert admitted_route(path), path
    for path in ("/health", "/metrics", "/sync/v1/events", "/auth/login", "/console/", "/jobs"):
        assert not admitted_route(path), path


def test_a_long_writer_queue_sheds_pushes_but_not_pulls(settings: Settings, world: Any) -> None:
    tight = dataclasses.replace(settings, push_concurrency=1, admission_max_push_queue=1)
    app = create_app(tight)
    gate = _admission(app).pushes.gate

    async def scenario() -> tuple[int, int, int, str]:
        async with AsyncTestClient(app) as c:  # on this loop: the test holds the gate
            r = await c.post("/auth/login", json={"username": "tech1", "password": PASSWORD})
            tech = {"Authorization": f"Bearer {r.json()['access_token']}"}
            r = await c.post("/sync/v1/devices", json={"label": "t"}, headers=tech)
            device = r.json()["device_id"]
            body = {
                "device_id": device,
                "schema_version": 1,
                "device_time": "2026-03-02T09:15:00+08:00",
                "mutations": [],
            }
            await gate.acquire()  # a push being applied
            waiter = asyncio.create_task(gate.acquire())  # and one waiting behind it
            await asyncio.sleep(0)
            shed = await c.post("/sync/v1/push", json=body, headers=tech)
            pull = await c.get("/sync/v1/pull", headers=tech)
            gate.release()  # the first is done: the waiter's turn
            await waiter
            gate.release()
            served = await c.post("/sync/v1/push", json=body, headers=tech)
            return shed.status_code, pull.status_code, served.status_code, shed.text

    shed, pull, served, text = asyncio.run(scenario())
    assert (shed, pull, served) == (503, 200, 200), text
    assert '"retry_later"' in text
    assert gate.busy == 0 and gate.waiting == 0


def test_settings_read_from_the_environment() -> None:
    s = Settings.from_env(
        {
            "DOORSTEP_ADMISSION_MAX_LOOP_LAG_MS": "0",
            "DOORSTEP_ADMISSION_MAX_PUSH_QUEUE": "10",
            "DOORSTEP_ADMISSION_MAX_IN_FLIGHT": "300",
            "DOORSTEP_ADMISSION_RETRY_AFTER": "3",
            "DOORSTEP_PUSH_CONCURRENCY": "4",
        }
    )
    assert (s.admission_max_loop_lag_ms, s.admission_max_push_queue) == (0, 10)
    assert (s.admission_max_in_flight, s.admission_retry_after, s.push_concurrency) == (300, 3, 4)
    a = Admission(s, lag=lambda: SATURATED, rng=random.Random(1))
    assert a.refusal("/sync/v1/pull") is None  # the lag threshold is off
    a.in_flight = 300
    assert a.refusal("/sync/v1/pull") == "in_flight"
    assert a.pushes.gate.slots == 4
    waits = {a.answer(None)[0] for _ in range(50)}
    assert waits <= {3, 4, 5, 6} and len(waits) > 1  # spread, never below the floor
    assert Admission(Settings()).pushes.gate.slots == 2  # SQLite: one writer anyway


def test_loop_watch_sees_an_overdue_tick_before_it_fires() -> None:
    watch = LoopWatch()
    assert watch.lag(1e9) == 0.0  # no sampler running: nothing to say
    watch.due, watch.last = 10.0, 0.02
    assert watch.lag(10.0) == 0.02  # on time: the last tick's lag
    assert watch.lag(13.0) == 3.0  # the tick due at 10 has not fired by 13


# --- the phone backs off and gets through --------------------------------------------


@pytest.fixture
def net(client: TestClient[Any]) -> Forward:
    return Forward(client)


@pytest.fixture
def phone(net: Forward, world: Any, tmp_path: Path) -> Iterator[Phone]:
    p = Phone(
        tmp_path / "phone.db",
        BASE,
        transport=net,
        sleep=lambda _s: None,
        backoff=Backoff(base=1, cap=8, rng=random.Random(3)),
    )
    p.login("tech1", PASSWORD)
    p.enroll()
    p.login("tech1", PASSWORD)
    yield p
    p.close()


def test_the_phone_backs_off_on_a_shed_answer_and_loses_nothing(
    app: Any,
    client: TestClient[Any],
    world: Any,
    desk: dict[str, str],
    phone: Phone,
    net: Forward,
) -> None:
    job = make_job(client, desk, world)
    phone.sync()
    phone.acknowledge(job)
    phone.note(job, "arrived, waiting for the customer")
    sleeps: list[float] = []
    phone.engine.sleep = sleeps.append
    shed = {"left": 3}  # the node stays saturated for three of the phone's requests
    statuses: list[int] = []

    def saturated_for_a_while(
        request: httpx.Request, send: Callable[[], httpx.Response]
    ) -> httpx.Response:
        _admission(app, SATURATED if shed["left"] else 0.0)
        response = send()  # the real app decides
        statuses.append(response.status_code)
        if response.status_code == 503:
            shed["left"] -= 1
        return response

    net.hook = saturated_for_a_while
    report = phone.run_until_synced(max_attempts=6)
    assert statuses.count(503) == 3 and shed["left"] == 0
    assert report.pending == 0 and report.outcomes == Counter(applied=2)
    assert len(sleeps) == 3 and all(s >= 1 for s in sleeps)  # Retry-After is a floor
    assert server_status(client, desk, job) == "acknowledged"
    assert phone.pending() == []


# --- pushes: one per device, FIFO across devices -------------------------------------


def test_a_devices_concurrent_pushes_apply_once(
    client: TestClient[Any], world: Any, desk: dict[str, str]
) -> None:
    """The same outbox sent twice at once (a resend after a timeout): one push applies
    it, the other waits for it and answers duplicates; never an error."""
    job = make_job(client, desk, world)
    phone = BarePhone(client, "tech1")
    ms = [phone.mutation("job.acknowledge", job)]
    ms += [
        phone.mutation("job.note", job, {"note_id": str(uuid.uuid4()), "text": f"n{i}"})
        for i in range(5)
    ]
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: phone.push(ms), range(3)))
    statuses = sorted(tuple(o["status"] for o in a["outcomes"]) for a in answers)
    assert statuses[0] == ("applied",) * 6
    assert statuses[1:] == [("duplicate",) * 6] * 2
    assert all(a["last_applied_mid"] == 6 for a in answers)
    assert server_status(client, desk, job) == "acknowledged"


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_push_queue_serves_devices_in_arrival_order_one_push_each() -> None:
    async def scenario() -> list[str]:
        queue = PushQueue(slots=1)
        order: list[str] = []
        release: dict[str, asyncio.Event] = {}
        entered: dict[str, asyncio.Event] = {}

        async def push(name: str, device: str) -> None:
            release[name], entered[name] = asyncio.Event(), asyncio.Event()
            async with queue.turn(device):
                order.append(name)
                entered[name].set()
                await release[name].wait()

        tasks = {}
        for name, device in (("a1", "A"), ("a2", "A"), ("b1", "B"), ("c1", "C")):
            tasks[name] = asyncio.create_task(push(name, device))
            await asyncio.sleep(0)  # each arrives after the one before
        await asyncio.sleep(0)
        assert order == ["a1"]
        # a2 waits for its own device, not in the writer's queue: only b1 and c1 do
        assert queue.waiting == 2 and queue.device_busy("A")
        for name in ("a1", "b1", "c1", "a2"):
            await entered[name].wait()
            release[name].set()
            await tasks[name]
        assert queue.waiting == 0 and not queue.device_busy("A")
        return order

    # a2 reaches the writer's queue only when a1 is done: behind b1 and c1, which came
    # first — a device with two pushes does not get two turns ahead of the others
    assert _run(scenario()) == ["a1", "b1", "c1", "a2"]


def test_a_cancelled_waiter_gives_up_its_place() -> None:
    async def scenario() -> tuple[int, int]:
        gate = FairGate(1)
        await gate.acquire()
        gone = asyncio.create_task(gate.acquire())
        stays = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0)
        assert gate.waiting == 2
        gone.cancel()  # the phone hung up while waiting
        await asyncio.gather(gone, return_exceptions=True)
        assert gate.waiting == 1
        gate.release()
        await stays  # the slot went to the one still waiting
        granted_then_cancelled = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0)
        gate.release()  # handed the slot...
        granted_then_cancelled.cancel()  # ...and cancelled before it ran
        await asyncio.gather(granted_then_cancelled, return_exceptions=True)
        return gate.busy, gate.waiting

    assert _run(scenario()) == (0, 0)  # the slot was passed on, not leaked
