"""Property-based tests of the sync protocol (hypothesis).

Random interleavings of dispatcher actions (reassign, reschedule, cancel), several
phones' offline edits (two devices of one technician and a second technician) and
network faults (request lost, response lost, request duplicated, request delayed and
delivered late, server restarted) — then a final sync without faults, after which:

- every mutation a phone made was applied exactly once or rejected with a code;
- every phone's store equals the server's view of its bucket, and its cursor is at the
  bucket's head (no cursor ever skipped an operation);
- every received mutation is in the ledger and every chain verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from phones import BASE, Forward, local_bucket, server_bucket
from sqlalchemy import func, select
from world import PASSWORD, build_world, login

from client_sdk import NetworkError, Phone, RetryLater
from server.app import create_app
from server.db.engine import make_database
from server.db.models import Bucket, JobEvent, LedgerEntry
from server.settings import Settings
from sync.ledger import verify_all

EXAMPLES = 8
PHONES = [("tech1", "a1"), ("tech1", "a2"), ("tech1b", "b")]
TECHS = ["tech1", "tech1b"]
ACTIONS = [
    "acknowledge",
    "en_route",
    "check_in",
    "start_work",
    "note",
    "pause",
    "complete",
    "unable_to_complete",
    "request_reschedule",
]
FAULTS = ["none", "none", "request_lost", "response_lost", "duplicated", "delayed"]

step = st.one_of(
    st.tuples(
        st.just("act"), st.integers(0, len(PHONES) - 1), st.integers(0, 3), st.sampled_from(ACTIONS)
    ),
    st.tuples(st.just("sync"), st.integers(0, len(PHONES) - 1), st.sampled_from(FAULTS)),
    st.tuples(st.just("reassign"), st.integers(0, 3), st.sampled_from(TECHS)),
    st.tuples(st.just("reschedule"), st.integers(0, 3)),
    st.tuples(st.just("cancel"), st.integers(0, 3)),
    st.tuples(
        st.just("deliver_late"),
    ),
    st.tuples(
        st.just("restart"),
    ),
)


class Network:
    """Between the phones and the server: injects one fault into the next push or pull."""

    def __init__(self, transport: Forward) -> None:
        self.transport = transport
        self.fault = "none"
        self.delayed: list[httpx.Request] = []
        transport.hook = self._hook

    def _hook(self, request: httpx.Request, send: Any) -> httpx.Response:
        fault, self.fault = self.fault, "none"
        if fault == "request_lost":
            raise httpx.ConnectError("request lost", request=request)
        if fault == "response_lost":
            send()
            raise httpx.ReadError("response lost", request=request)
        if fault == "duplicated":
            send()
            return send()
        if fault == "delayed":
            request.read()
            self.delayed.append(request)
            raise httpx.ReadTimeout("request delayed", request=request)
        return send()

    def deliver_late(self) -> None:
        for request in self.delayed:
            self.transport._send(request)  # the phone gave up on it long ago
        self.delayed.clear()


def _window(hours: float) -> dict[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)
    return {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=2)).isoformat(),
    }


def _act(phone: Phone, job_id: str, action: str) -> None:
    if phone.job(job_id) is None or uuid.UUID(job_id) in phone.withdrawn_jobs():
        return  # the phone does not hold it: the app would not offer the action
    if action == "check_in":
        phone.check_in(job_id, 30.2791, 120.1301, 10.0, location_provider="gps")
    elif action == "note":
        phone.note(job_id, "checked the pressure")
    elif action == "unable_to_complete":
        phone.unable_to_complete(job_id, "customer_not_home", "nobody answered")
    else:
        getattr(phone, action)(job_id)


def _sync(phone: Phone) -> None:
    with contextlib.suppress(NetworkError, RetryLater):
        phone.sync()


async def _server_facts(
    url: str,
) -> tuple[list[tuple[str, int, str, str | None]], Counter[str], list[Any], dict]:
    db = make_database(url)
    try:
        async with db.reader() as s:
            ledger = [
                (str(d), m, o, c)
                for d, m, o, c in (
                    await s.execute(
                        select(
                            LedgerEntry.device_id,
                            LedgerEntry.mid,
                            LedgerEntry.outcome,
                            LedgerEntry.code,
                        )
                    )
                ).all()
            ]
            events = Counter(
                str(e.data["mutation_id"])
                for e in await s.scalars(select(JobEvent).where(JobEvent.source == "sync"))
            )
            reports = await verify_all(s)
            heads = {
                str(t): v
                for t, v in (await s.execute(select(Bucket.technician_id, Bucket.version))).all()
            }
            _ = func
        return ledger, events, reports, heads
    finally:
        await db.dispose()


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(steps=st.lists(step, min_size=5, max_size=30))
def test_offline_edits_and_faults_converge(fresh_database, tmp_path_factory, steps):
    url = fresh_database()
    world = build_world(url)
    tmp: Path = tmp_path_factory.mktemp("phones")
    settings_ = Settings(
        data_dir=tmp,
        database_url=url,
        password_time_cost=1,
        password_memory_kib=8,
        secret_key="property-test-secret-" + "k" * 48,
        outbox_interval=0,
        maintenance_interval=0,
        admission_max_loop_lag_ms=0,  # a loaded test machine must not shed its sync
    )
    client = TestClient(create_app(settings_))
    client.__enter__()
    phones: list[Phone] = []
    try:
        transport = Forward(client)
        net = Network(transport)
        desk = login(client, "dispatcher")
        jobs = []
        for i in range(4):
            body = {
                "customer_id": str(world["customer1"]),
                # Maintenance, not repair: four repairs in a row would make the third a
                # complaint that a junior technician may not take.
                "kind": "maintenance",
                "appliance_id": str(world["appliance1"]),
                **_window(24 + 3 * i),
                "provider_id": str(world["p1"]),
                "technician_id": str(world[TECHS[i % 2]]),
            }
            r = client.post("/jobs", json=body, headers=desk)
            assert r.status_code == 201, r.text
            jobs.append(r.json()["id"])
        for username, name in PHONES:
            phone = Phone(tmp / f"{name}.db", BASE, transport=transport, sleep=lambda _s: None)
            phone.login(username, PASSWORD)
            phone.enroll()
            phone.login(username, PASSWORD)
            _sync(phone)
            phones.append(phone)

        made: dict[int, list[uuid.UUID]] = {i: [] for i in range(len(phones))}
        for s in steps:
            kind = s[0]
            if kind == "act":
                before = {m.id for m in phones[s[1]].pending()}
                _act(phones[s[1]], jobs[s[2]], s[3])
                made[s[1]] += [m.id for m in phones[s[1]].pending() if m.id not in before]
            elif kind == "sync":
                net.fault = s[2]
                _sync(phones[s[1]])
                net.fault = "none"
            elif kind == "reassign":
                client.post(
                    f"/jobs/{jobs[s[1]]}/assign",
                    headers=desk,
                    json={"provider_id": str(world["p1"]), "technician_id": str(world[s[2]])},
                )
            elif kind == "reschedule":
                client.post(f"/jobs/{jobs[s[1]]}/reschedule", headers=desk, json=_window(48 + s[1]))
            elif kind == "cancel":
                client.post(
                    f"/jobs/{jobs[s[1]]}/cancel",
                    headers=desk,
                    json={"reason": "customer cancelled"},
                )
            elif kind == "deliver_late":
                net.deliver_late()
            elif kind == "restart":
                client.__exit__(None, None, None)
                client = TestClient(create_app(settings_))
                client.__enter__()
                transport.client = client
                desk = login(client, "dispatcher")

        # The network heals: every phone syncs until it has nothing left, twice round so
        # each sees the others' effects.
        net.deliver_late()
        for _ in range(2):
            for phone in phones:
                phone.run_until_synced(max_attempts=5)

        ledger, events, reports, heads = asyncio.run(_server_facts(url))
        final = Counter((d, m) for d, m, o, _ in ledger if o in ("applied", "resolved", "rejected"))
        for i, phone in enumerate(phones):
            assert phone.pending() == [], "a mutation was never acknowledged"
            device = str(phone.device_id)
            mids = [m for (d, m) in final if d == device]
            # exactly one final outcome per mid, none missing
            assert sorted(mids) == list(range(1, len(made[i]) + 1))
            assert all(final[(device, m)] == 1 for m in mids)
            outcomes = {o.id: o for o in phone.outcomes()}
            assert set(made[i]) <= set(outcomes)
            for mid_id in made[i]:
                # applied/resolved mutations changed the job exactly once
                if outcomes[mid_id].status in ("applied", "resolved"):
                    assert events[str(mid_id)] == 1
                elif outcomes[mid_id].status == "rejected":
                    assert outcomes[mid_id].code
            assert all(r.ok for r in reports), reports
            assert local_bucket(phone) == server_bucket(phone)
        for code in (c for _, _, o, c in ledger if o == "rejected"):
            assert code
        assert heads  # the buckets exist
    finally:
        for phone in phones:
            phone.close()
        client.__exit__(None, None, None)
