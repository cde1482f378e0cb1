"""The reference phone client (``client_sdk``) against the real app: a day offline, a
restart, a lost push answer, a reassignment while offline, a reset, token refresh,
retry-later and backoff, and the simulate command against a server process."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from phones import (
    BASE,
    Forward,
    assign,
    changes_per_mutation,
    is_push,
    local_bucket,
    make_job,
    server_bucket,
    server_status,
)
from servers import reap, spawn, wait_ready
from sqlalchemy import update
from world import PASSWORD, build_world, login, run_db

from client_sdk import (
    AuthError,
    Backoff,
    NetworkError,
    NotEnrolled,
    OutboxGapError,
    Phone,
    RetryLater,
    SignatureRejected,
    Store,
)
from client_sdk.api import Tokens
from client_sdk.phone import ACTIONS
from client_sdk.store import JOB_PACKET
from sync.evidence_wire import EVIDENCE_ARGS
from sync.wire import MUTATION_ARGS, Op

# --- helpers -----------------------------------------------------------------------


@pytest.fixture
def desk(client: httpx.Client, world: Any) -> dict[str, str]:
    return login(client, "dispatcher")


@pytest.fixture
def phones(client: httpx.Client, world: Any, tmp_path: Path) -> Iterator[Callable[..., Phone]]:
    """Make enrolled, logged-in phones (tokens bound to the device); close them after."""
    made: list[Phone] = []

    def make(
        username: str = "tech1", name: str = "phone.db", *, fresh: bool = True, **kw: Any
    ) -> Phone:
        if "transport" not in kw:
            kw["http"] = client
        phone = Phone(tmp_path / name, BASE, sleep=lambda _s: None, **kw)
        made.append(phone)
        if fresh:
            phone.login(username, PASSWORD)
            phone.enroll()
            phone.login(username, PASSWORD)
        return phone

    yield make
    for phone in made:
        phone.close()


def full_visit(phone: Phone, job_id: str | uuid.UUID) -> None:
    phone.acknowledge(job_id)
    phone.en_route(job_id, eta=datetime.now(UTC) + timedelta(minutes=20))
    phone.check_in(job_id, 30.2791, 120.1301, 8.5, location_provider="gps")
    phone.start_work(job_id)
    phone.note(job_id, "replaced the heating element")
    phone.complete(job_id, "replaced the heating element; tested")


# --- against the app -----------------------------------------------------------------


def test_a_day_offline_then_one_sync_applies_everything(client, world, desk, phones):
    jobs = [make_job(client, desk, world, hours=h) for h in (26, 24, 28)]
    phone = phones()
    first = phone.sync()
    assert first.puts >= 3 and phone.store.cursor
    assert [str(p.job.id) for p in phone.jobs()] == [jobs[1], jobs[0], jobs[2]]  # window order
    # offline all day: nothing but the outbox is touched
    for job_id in jobs:
        full_visit(phone, job_id)
    for i in range(90):
        phone.note(jobs[0], f"reading {i}: 58 °C")
    assert len(phone.pending()) == 108
    assert [m.mid for m in phone.pending()] == list(range(1, 109))
    pushes_before = phone.api.stats.by_path.get("/sync/v1/push", 0)

    report = phone.sync()

    assert phone.api.stats.by_path["/sync/v1/push"] - pushes_before == 2  # chunks of ≤ 100
    assert report.pushed == 108 and report.outcomes == Counter(applied=108)
    assert phone.pending() == [] and phone.store.last_acked_mid == 108
    assert [o.status for o in phone.outcomes()] == ["applied"] * 108
    for job_id in jobs:
        local = phone.job(job_id)
        assert local is not None
        assert local.job.status == server_status(client, desk, job_id) == "completed"
    # the server checked every signature against the key registered at enrolment
    auditor = login(client, "auditor")
    rows = client.get(
        "/audit/ledger", params={"device_id": str(phone.device_id), "limit": 500}, headers=auditor
    ).json()
    assert len(rows) == 108 and {r["signature_status"] for r in rows} == {"valid"}


def test_every_action_reaches_the_server(client, world, desk, phones):
    a, b = make_job(client, desk, world), make_job(client, desk, world, hours=30)
    phone = phones()
    phone.sync()
    phone.acknowledge(a)
    phone.en_route(a)
    phone.check_in(a)  # no fix: still a check-in
    phone.start_work(a)
    phone.pause(a, "fetching a part")
    phone.start_work(a)
    phone.set_serial(a, "SN-HZ-0001-B")
    phone.note(a, "serial plate was replaced")
    phone.complete(a, "done")
    phone.request_reschedule(
        b,
        "customer asked",
        datetime.now(UTC) + timedelta(days=2),
        datetime.now(UTC) + timedelta(days=2, hours=2),
    )
    phone.unable_to_complete(b, "customer_not_home", "rang twice")
    phone.sync()
    assert [o.status for o in phone.outcomes()] == ["applied"] * 11
    assert server_status(client, desk, a) == "completed"
    assert server_status(client, desk, b) == "unable_to_complete"
    packet = phone.job(a)
    assert packet is not None and packet.appliance is not None
    assert packet.appliance.serial == "SN-HZ-0001-B"  # the pull brought the new packet


def test_every_mutation_has_a_phone_method():
    assert set(ACTIONS) == set(MUTATION_ARGS) | set(EVIDENCE_ARGS)
    assert all(callable(getattr(Phone, method)) for method in ACTIONS.values())


def test_restart_keeps_pending_mutations_cursor_and_login(client, world, desk, phones):
    job = make_job(client, desk, world)
    phone = phones()
    phone.sync()
    queued = [phone.acknowledge(job), phone.en_route(job), phone.note(job, "on my way")]
    cursor, device = phone.store.cursor, phone.device_id
    phone.close()  # the app is killed

    again = phones(fresh=False)  # same store file
    assert again.device_id == device and again.store.cursor == cursor and again.logged_in
    assert [(m.mid, m.id, m.raw) for m in again.pending()] == [(m.mid, m.id, m.raw) for m in queued]
    assert again.job(job) is not None
    assert again.check_in(job, 30.279, 120.13).mid == 4
    report = again.sync()
    assert report.outcomes == Counter(applied=4) and again.pending() == []
    assert server_status(client, desk, job) == "on_site"
    # numbering continues after the acknowledged ones, even with an empty outbox
    assert again.start_work(job).mid == 5


@pytest.mark.parametrize("recovery", ["push_again", "pull_first"])
def test_lost_push_answer_converges_and_applies_each_once(client, world, desk, phones, recovery):
    job = make_job(client, desk, world)
    net = Forward(client)
    phone = phones(transport=net)
    phone.sync()
    full_visit(phone, job)
    sent = phone.pending()

    def lose_answer(request: httpx.Request, send: Callable[[], httpx.Response]) -> httpx.Response:
        response = send()  # the server applies the push…
        if is_push(request):
            raise httpx.ReadError("connection reset by peer")  # …but the phone never hears
        return response

    net.hook = lose_answer
    with pytest.raises(NetworkError):
        phone.sync()
    net.hook = None
    assert server_status(client, desk, job) == "completed"
    assert phone.pending() == sent  # nothing settled without an answer

    if recovery == "push_again":
        report = phone.sync()
        assert report.outcomes == Counter(duplicate=6)
        assert {o.first_status for o in phone.outcomes()} == {"applied"}
    else:
        report = phone.engine.pull_all()  # last_applied_mid acknowledges them
        assert report.outcomes == Counter(acknowledged=6)
        assert phone.sync().pushed == 0
    assert phone.pending() == []
    assert changes_per_mutation(client, desk, job) == Counter({str(m.id): 1 for m in sent})
    assert phone.job(job).job.status == "completed"  # type: ignore[union-attr]


def test_reassignment_while_offline_defers_the_remove(client, world, desk, phones):
    job, other = make_job(client, desk, world), make_job(client, desk, world, hours=30)
    phone = phones()
    phone.sync()
    phone.acknowledge(job)
    phone.en_route(job)
    note = phone.note(job, "gate code 4411")
    assign(client, desk, world, job, "tech1b")  # the office moves it meanwhile

    report = phone.engine.pull_all()  # a pull before the push (a poke, say)

    assert report.deferred_removes == 1
    assert phone.store.get_document(JOB_PACKET, uuid.UUID(job)) is not None
    assert phone.withdrawn_jobs() == {uuid.UUID(job)}
    assert [str(p.job.id) for p in phone.jobs()] == [other]
    with pytest.raises(ValueError, match="taken off"):
        phone.start_work(job)

    phone.sync()

    outcomes = {o.mid: o for o in phone.outcomes()}
    assert [(outcomes[m].status, outcomes[m].code) for m in (1, 2)] == [
        ("rejected", "job_reassigned")
    ] * 2
    assert outcomes[note.mid].status == "applied"
    assert outcomes[note.mid].flags == ["after_reassignment"]
    assert phone.store.get_document(JOB_PACKET, uuid.UUID(job)) is None
    assert phone.withdrawn_jobs() == set()
    assert local_bucket(phone) == server_bucket(phone)


@pytest.mark.parametrize("how", ["compacted_log", "new_epoch"])
def test_reset_keeps_pending_and_ends_equal_to_the_server(
    client, world, desk, phones, database_url, how
):
    from server.db.models import Bucket
    from sync.buckets import compact

    kept, moved = make_job(client, desk, world), make_job(client, desk, world, hours=30)
    net = Forward(client)
    phone = phones(transport=net)
    phone.sync()
    phone.acknowledge(kept)
    phone.note(kept, "customer will be late")
    # meanwhile at the office
    assign(client, desk, world, moved, "tech1b")
    added = make_job(client, desk, world, hours=20)
    tech = world["tech1"]
    if how == "compacted_log":
        run_db(database_url, lambda s: compact(s, tech, keep=0))
    else:
        run_db(
            database_url,
            lambda s: s.execute(
                update(Bucket).where(Bucket.technician_id == tech).values(epoch=Bucket.epoch + 1)
            ),
        )
    before = local_bucket(phone)

    def no_network_for_pushes(
        request: httpx.Request, send: Callable[[], httpx.Response]
    ) -> httpx.Response:
        if is_push(request):
            raise httpx.ConnectError("no signal")
        return send()

    net.hook = no_network_for_pushes  # the reset's push fails: nothing may be dropped
    with pytest.raises(NetworkError):
        phone.engine.pull_all()
    assert len(phone.pending()) == 2 and local_bucket(phone) == before
    net.hook = None

    report = phone.engine.pull_all()  # pull first: the reset pushes what is pending

    assert report.resets == 1 and report.pushed == 2
    assert phone.pending() == [] and report.outcomes["applied"] == 2
    assert local_bucket(phone) == server_bucket(phone)
    held = {str(p.job.id) for p in phone.jobs()}
    assert held == {kept, added}
    assert phone.job(kept).job.status == "acknowledged"  # type: ignore[union-attr]


def test_fact_on_a_reassigned_job_survives_log_compaction(
    client, world, desk, phones, database_url
):
    from sync.buckets import compact

    job = make_job(client, desk, world)
    phone = phones()
    phone.sync()
    note = phone.note(job, "customer not in; left a card")
    assign(client, desk, world, job, "tech1b")
    tech = world["tech1"]
    run_db(database_url, lambda s: compact(s, tech, keep=0))
    phone.sync()
    outcome = next(o for o in phone.outcomes() if o.mid == note.mid)
    assert (outcome.status, outcome.flags) == ("applied", ["after_reassignment"])


def test_expired_access_token_is_refreshed_once(client, world, desk, phones, settings):
    from server.auth.tokens import TokenSigner

    make_job(client, desk, world)
    phone = phones()
    old = phone.store.load_tokens()
    assert old is not None
    expired, _ = TokenSigner(settings.secret_key, ttl_seconds=-3600).issue(
        user_id=world["tech1"],
        role="technician",
        provider_id=world["p1"],
        device_id=phone.device_id,
    )
    phone.store.save_tokens(Tokens(expired, old.refresh_token, old.username, old.user_id))
    phone.sync()
    new = phone.store.load_tokens()
    assert new is not None and new.refresh_token != old.refresh_token
    assert phone.api.stats.by_path["/auth/refresh"] == 1 and len(phone.jobs()) == 1
    # a refresh that fails ends the login with a clear error; the outbox stays
    phone.store.save_tokens(Tokens(expired, old.refresh_token, old.username, old.user_id))
    phone.acknowledge(phone.jobs()[0].job.id)
    with pytest.raises(AuthError) as err:
        phone.sync()
    assert err.value.code == "refresh_reused" and not phone.logged_in
    assert len(phone.pending()) == 1
    phone.login("tech1", PASSWORD)  # logging in again delivers the kept work
    assert phone.sync().outcomes == Counter(applied=1)


def test_busy_server_is_retried_with_backoff(client, world, desk, phones):
    job = make_job(client, desk, world)
    net = Forward(client)
    sleeps: list[float] = []
    phone = phones(transport=net, backoff=Backoff(base=1, cap=8, rng=random.Random(7)))
    phone.engine.sleep = sleeps.append
    phone.sync()
    phone.acknowledge(job)
    busy = {"left": 2}

    def busy_twice(request: httpx.Request, send: Callable[[], httpx.Response]) -> httpx.Response:
        if is_push(request) and busy["left"]:
            busy["left"] -= 1
            body = {"code": "retry_later", "message": "busy", "details": {"retry_after": 3}}
            return httpx.Response(503, headers={"Retry-After": "3"}, json=body)
        return send()

    net.hook = busy_twice
    with pytest.raises(RetryLater) as err:
        phone.sync()
    assert err.value.retry_after == 3 and err.value.status == 503
    report = phone.run_until_synced(max_attempts=4)
    assert report.pending == 0 and report.outcomes == Counter(applied=1)
    assert len(sleeps) == 1 and sleeps[0] >= 3  # the server's Retry-After is a floor


def test_sync_forever_backs_off_then_syncs_until_stopped(client, world, desk, phones):
    job = make_job(client, desk, world)
    net = Forward(client)
    phone = phones(transport=net, backoff=Backoff(base=0.01, cap=0.05))
    phone.sync()
    phone.acknowledge(job)
    stop = threading.Event()
    failures = {"left": 2}

    def flaky(request: httpx.Request, send: Callable[[], httpx.Response]) -> httpx.Response:
        if failures["left"]:
            failures["left"] -= 1
            raise httpx.ConnectTimeout("no signal")
        return send()

    net.hook = flaky
    reports: list[Any] = []
    phone.engine.sync_forever(
        stop, interval=0.01, on_report=lambda r: (reports.append(r), stop.set())
    )
    assert failures["left"] == 0 and len(reports) == 1
    assert reports[0].outcomes == Counter(applied=1) and phone.pending() == []


def test_push_stopped_early_keeps_the_rest_for_later(client, world, desk, phones):
    job = make_job(client, desk, world)
    net = Forward(client)
    phone = phones(transport=net)
    phone.sync()
    full_visit(phone, job)

    def stop_after_two(
        request: httpx.Request, send: Callable[[], httpx.Response]
    ) -> httpx.Response:
        response = send()
        if not is_push(request):
            return response
        body = response.json()
        body["outcomes"] = body["outcomes"][:2]
        body["last_applied_mid"], body["retry_after"] = 2, 5
        return httpx.Response(200, json=body)

    net.hook = stop_after_two
    with pytest.raises(RetryLater) as err:
        phone.sync()
    assert err.value.retry_after == 5
    assert [m.mid for m in phone.pending()] == [3, 4, 5, 6]
    net.hook = None
    assert phone.sync().outcomes == Counter(duplicate=4) and phone.pending() == []


def test_refused_signature_stops_and_keeps_the_mutation(client, world, desk, phones):
    job = make_job(client, desk, world)
    phone = phones()
    phone.sync()
    forged = phone.note(job, "customer signed")
    later = phone.acknowledge(job)
    with phone.store._tx() as db:  # the stored bytes no longer match their signature
        db.execute(
            "UPDATE outbox SET raw = ? WHERE mid = ?",
            (forged.raw.replace(b"customer signed", b"customer refused"), forged.mid),
        )
    with pytest.raises(SignatureRejected) as err:
        phone.sync()
    assert err.value.mid == forged.mid
    # the server did not advance its mid, so dropping it would open a gap: both stay
    assert [m.mid for m in phone.pending()] == [forged.mid, later.mid]
    assert server_status(client, desk, job) == "assigned"


def test_mid_gap_stops_instead_of_renumbering(client, world, desk, phones):
    job = make_job(client, desk, world)
    phone = phones()
    phone.sync()
    with phone.store._tx() as db:  # a store that wrongly believes 1..4 were acknowledged
        db.execute("UPDATE meta SET value = 4 WHERE key = 'last_acked_mid'")
    queued = phone.acknowledge(job)
    assert queued.mid == 5
    with pytest.raises(OutboxGapError) as err:
        phone.sync()
    assert err.value.expected_mid == 1 and err.value.status == 409
    assert phone.pending() == [queued]


def test_phone_refuses_locally_what_can_never_work(client, world, desk, phones, tmp_path):
    theirs = make_job(client, desk, world, tech="tech1b")
    mine = make_job(client, desk, world)
    offline = Phone(tmp_path / "unenrolled.db", BASE, http=client)
    with pytest.raises(NotEnrolled):
        offline.sync()
    offline.close()
    phone = phones()
    phone.sync()
    with pytest.raises(ValueError, match="not on this phone"):
        phone.acknowledge(theirs)
    with pytest.raises(ValueError, match="latitude"):
        phone.check_in(mine, 95.0, 120.0)
    with pytest.raises(ValueError, match="no UTC offset"):  # InvalidMutation, a ValueError
        phone.en_route(mine, eta=datetime(2030, 1, 1, 9, 0))
    with pytest.raises(ValueError):
        phone.unable_to_complete(mine, "dog_ate_the_boiler")
    assert phone.pending() == []
    assert phone.enroll() == phone.device_id  # enrolment happens once per store


# --- the store and the backoff alone ---------------------------------------------------


def _op(kind: str, job: uuid.UUID, version: int) -> Op:
    doc = {"job": {"id": str(job), "version": version}} if kind == "put" else None
    return Op(op=kind, type=JOB_PACKET, id=job, version=version, doc=doc)  # type: ignore[arg-type]


def test_store_numbering_transactions_and_deferrals(tmp_path):
    from client_sdk.store import PendingMutation

    path = tmp_path / "s.db"
    store = Store(path)
    a, b = uuid.uuid4(), uuid.uuid4()
    store.apply_page([_op("put", a, 1), _op("put", b, 2)], "c1", 0)

    def queue(job: uuid.UUID) -> PendingMutation:
        return store.enqueue(
            lambda mid: PendingMutation(mid, uuid.uuid4(), "job.note", job, {}, "t", 1, b"{}")
        )

    def broken(mid: int) -> PendingMutation:
        raise RuntimeError("crash while signing")

    assert queue(a).mid == 1
    with pytest.raises(RuntimeError):
        store.enqueue(broken)
    assert queue(a).mid == 2  # the failed write used no number
    store.apply_page([_op("remove", a, 3), _op("remove", b, 4)], "c2", 0)
    assert store.withdrawn() == {a} and store.get_document(JOB_PACKET, b) is None
    store.apply_page([_op("put", a, 5)], "c3", 0)  # the job came back: no remove
    assert store.withdrawn() == set()
    store.apply_page([_op("remove", a, 6)], "c4", 0)
    store.reset_bucket()
    assert store.cursor is None and [d.id for d in store.documents()] == [a]
    reopened = Store(path)  # what a restart sees
    assert [m.mid for m in reopened.pending()] == [1, 2] and reopened.withdrawn() == {a}
    reopened.apply_page([], "c5", 2)  # a pull acknowledges both
    assert reopened.pending() == [] and reopened.documents() == []
    assert [o.status for o in reopened.outcomes()] == ["acknowledged"] * 2
    assert queue(b).mid == 3  # numbering continues past the acknowledged
    store.close()
    reopened.close()


def test_backoff_is_full_jitter_capped_with_a_floor():
    backoff = Backoff(base=1, cap=10, rng=random.Random(1))
    delays = [backoff.delay(n) for n in range(12) for _ in range(50)]
    assert all(0 <= d <= 10 for d in delays) and max(delays) > 5
    assert all(backoff.delay(0) <= 1 for _ in range(50))
    assert all(backoff.delay(3, minimum=30) == 30 for _ in range(20))
    assert backoff.delay(10_000) <= 10  # no overflow


# --- the simulate command against a real server process ---------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.slow
def test_simulate_command_against_a_server_process(tmp_path):
    from server.db.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'server.db'}"
    upgrade(url)
    w = build_world(url)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DOORSTEP_DATABASE_URL": url,
        "DOORSTEP_DATA_DIR": str(tmp_path / "data"),
        "DOORSTEP_SECRET_KEY": "simulate-test-secret-key-long-enough-for-hs256-0123456789abcdef",
        "DOORSTEP_OUTBOX_INTERVAL": "0",
        "DOORSTEP_MAINTENANCE_INTERVAL": "0",
    }
    root = Path(__file__).resolve().parent.parent
    server = spawn(
        [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(base, server)
        with httpx.Client(base_url=base, timeout=10) as http:
            desk = login(http, "dispatcher")  # type: ignore[arg-type]
            jobs = [make_job(http, desk, w, hours=h) for h in (20, 22, 24, 26, 28)]
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "client_sdk.simulate",
                    "--base-url",
                    base,
                    "--username",
                    "tech1",
                    "--password",
                    PASSWORD,
                    "--store",
                    str(tmp_path / "sim.db"),
                    "--seed",
                    "3",
                    "--offline-fraction",
                    "0.5",
                    "--max-seconds",
                    "60",
                ],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, result.stdout + result.stderr
            assert "outbox left: 0" in result.stdout
            statuses = {server_status(http, desk, j) for j in jobs}
            assert statuses <= {"completed", "unable_to_complete"}, statuses
    finally:
        reap(server)


def test_field_evidence_from_the_phone_reaches_the_report(client, world, desk, phones):
    """The phone's evidence actions, end to end: calls, a photo uploaded resumably, the
    report and the customer's signature on it — all applied, and the report signed."""
    import hashlib

    import rfc8785

    from client_sdk import report_sha256
    from client_sdk.uploads import upload_blob
    from fixtures.photos import make_jpeg

    job = make_job(client, desk, world)
    phone = phones()
    phone.sync()
    now = datetime.now(UTC)
    phone.check_in(job, 30.2791, 120.1301, 6.0, fix_time=now - timedelta(minutes=30))
    phone.call_attempt(job, now - timedelta(minutes=40), "answered", 60)
    photo = make_jpeg(width=320, height=240, seed=21, taken_at=None, latitude=None, longitude=None)
    sha = upload_blob(phone.api, photo, "image/jpeg", sleep=lambda _s: None)
    phone.photo(job, sha, "after")
    content = {
        "work_done": "Descaled the tank.",
        "parts": [],
        "charges": [],
        "checklist": {},
        "photos": {},
    }
    phone.report(job, "Descaled the tank.")
    report_sha = report_sha256(content)
    assert report_sha == hashlib.sha256(rfc8785.dumps(content)).hexdigest()
    phone.sign_off(job, "Li Wei", report_sha, strokes=[[(0.0, 0.0, 0.0), (5.0, 3.0, 90.0)]])
    phone.check_out(job, 30.2791, 120.1301, 6.0, fix_time=now)
    report = phone.sync()
    assert report.outcomes == Counter(applied=6)
    r = client.get(f"/jobs/{job}/service-report", headers=desk).json()
    assert r["sign_off"]["signed"] is True and r["report"]["sha256"] == report_sha
    assert r["times"]["time_on_site_s"] == 30 * 60
