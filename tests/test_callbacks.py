"""The callback audit through the HTTP API: tasks made from claims, ranked by risk with
their reasons, taken by one auditor at a time, outcomes that are never edited,
violations that reopen jobs, the customer's SMS reply, and status checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from test_sync_api import Phone, make_job
from world import PASSWORD, assert_error, login, run_db

from server.db.models import CallbackTask, Job, Notification
from sync.packets import JOB_PACKET

GATEWAY_SECRET = "gateway-secret-for-tests"


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.replace(sms_gateway_secret=GATEWAY_SECRET)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _window(start: datetime, hours: float = 2) -> dict[str, str]:
    return {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=hours)).isoformat(),
    }


def _checkin(phone: Phone, job_id: str, lat: float, lon: float, at: datetime) -> dict:
    return phone.mutation(
        "job.check_in",
        job_id,
        {
            "checkin_id": str(uuid.uuid4()),
            "latitude": lat,
            "longitude": lon,
            "accuracy_m": 8,
            "fix_time": at.isoformat(),
        },
    )


def _call(phone: Phone, job_id: str, at: datetime) -> dict:
    return phone.mutation(
        "job.call_attempt",
        job_id,
        {
            "call_id": str(uuid.uuid4()),
            "started_at": at.isoformat(),
            "outcome": "no_answer",
            "duration_s": 40,
        },
    )


def _claim(phone: Phone, job_id: str, at: datetime, reason: str = "customer_not_home") -> dict:
    m = phone.mutation("job.unable_to_complete", job_id, {"reason": reason})
    m["device_time"] = at.isoformat()
    return m


def genuine_not_home(client, world, phone: Phone, desk) -> dict:
    """On site 15 minutes at the door, two unanswered calls, a fresh door photo."""
    from client_sdk.uploads import upload_blob
    from fixtures.photos import make_jpeg

    t0 = _now() - timedelta(minutes=20)
    job = make_job(client, desk, world, **_window(t0 - timedelta(minutes=10)))
    door = make_jpeg(
        width=640,
        height=480,
        seed=11,
        taken_at=t0 + timedelta(minutes=8),
        latitude=30.2791,
        longitude=120.1301,
    )
    sha = upload_blob(client, door, "image/jpeg", headers=phone.headers, sleep=lambda _s: None)
    res = phone.push(
        [
            _checkin(phone, job["id"], 30.2791, 120.1301, t0),
            _call(phone, job["id"], t0 + timedelta(minutes=3)),
            _call(phone, job["id"], t0 + timedelta(minutes=7)),
            phone.mutation(
                "job.photo",
                job["id"],
                {"photo_id": str(uuid.uuid4()), "sha256": sha, "kind": "door"},
            ),
            _claim(phone, job["id"], t0 + timedelta(minutes=15)),
        ]
    )
    assert [o["status"] for o in res["outcomes"]] == ["applied"] * 5, res
    return job


def fabricated_not_home(client, world, phone: Phone, desk) -> dict:
    """A check-in 3 km away, no calls, no photo, filed before the appointment window."""
    t = _now() - timedelta(minutes=2)
    job = make_job(client, desk, world, **_window(_now() + timedelta(hours=3)))
    res = phone.push(
        [
            _checkin(phone, job["id"], 30.3060, 120.1300, t),
            _claim(phone, job["id"], t + timedelta(minutes=1)),
        ]
    )
    assert [o["status"] for o in res["outcomes"]] == ["applied"] * 2, res
    return job


def _queue(client, headers, **params) -> list[dict]:
    r = client.get("/callbacks", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def _task_of(client, headers, job_id: str, state: str = "all") -> dict:
    [task] = [t for t in _queue(client, headers, state=state) if t["job_id"] == job_id]
    return task


def _scorecard(client, headers, what: str, ident) -> dict:
    since = (_now() - timedelta(days=1)).isoformat()
    until = (_now() + timedelta(days=1)).isoformat()
    r = client.get(f"/scorecards/{what}", headers=headers, params={"from": since, "to": until})
    assert r.status_code == 200, r.text
    body = r.json()
    rows = body["items"] if isinstance(body, dict) else body
    key = "technician_id" if what == "technicians" else "provider_id"
    found = [row for row in rows if row[key] == str(ident)]
    return found[0] if found else {}


def _second_auditor(client, world) -> dict[str, str]:
    admin = login(client, "admin")
    r = client.post(
        "/users",
        headers=admin,
        json={
            "username": "auditor2",
            "full_name": "Second Auditor",
            "password": PASSWORD,
            "role": "auditor",
        },
    )
    assert r.status_code == 201, r.text
    return login(client, "auditor2")


# --- the done-when scenario ---------------------------------------------------------


def test_fabricated_not_home_ranks_first_and_contradicted_moves_everything(
    client, world, database_url
):
    desk = login(client, "dispatcher")
    auditor = login(client, "auditor")
    phone = Phone(client, "tech1")
    genuine = genuine_not_home(client, world, phone, desk)
    fake = fabricated_not_home(client, world, phone, desk)

    queue = _queue(client, auditor, kind="not_home")
    assert [t["job_id"] for t in queue] == [fake["id"], genuine["id"]]
    top, second = queue
    assert top["risk_score"] > second["risk_score"]
    reasons = {f["code"] for f in top["risk_factors"]}
    # The graded model names the evidence itself (where, calls, photo, timing).
    assert {"fence", "calls", "no_door_photo", "claim_before_window"} <= reasons
    assert top["risk_probability"] >= 0.5 > second["risk_probability"]
    assert top["risk_model"] == "default-2"
    assert all(f["words"].endswith(f"{f['contribution']:+.1f}") for f in top["risk_factors"])
    # A not-home claim is due within two hours of arriving.
    claimed = datetime.fromisoformat(top["claimed_at"])
    assert datetime.fromisoformat(top["due_at"]) - claimed == timedelta(hours=2)

    # The customer was asked too.
    asked = run_db(
        database_url,
        lambda s: s.scalars(select(Notification).where(Notification.template == "claim_not_home")),
    )
    bodies = [n.body for n in asked]
    assert len(bodies) == 2 and all("在家" in b for b in bodies)  # zh-CN, the brand's default

    tech_before = _scorecard(client, auditor, "technicians", world["tech1"])
    prov_before = _scorecard(client, auditor, "providers", world["p1"])

    # The evidence view shows the fabricated claim for what it is.
    ev = client.get(f"/callbacks/{top['id']}/evidence", headers=auditor)
    assert ev.status_code == 200, ev.text
    ev = ev.json()
    assert [c["geofence"] for c in ev["checkins"]] == ["fail"]
    assert ev["checkins"][0]["distance_m"] > 2500
    assert ev["calls"] == [] and ev["photos"] == []
    names = [line["mutation"] for line in ev["ledger"]]
    assert names == ["job.check_in", "job.unable_to_complete"]
    assert all(line["device_time"] and line["received_at"] for line in ev["ledger"])
    [verdict] = ev["service_report"]["verdicts"]
    assert verdict["claim_type"] == "customer_not_home" and not verdict["passed"]

    r = client.post(f"/callbacks/{top['id']}/take", headers=auditor)
    assert r.status_code == 200, r.text
    r = client.post(
        f"/callbacks/{top['id']}/outcomes",
        headers=auditor,
        json={"outcome": "contradicted", "comment": "I was home all afternoon, nobody came."},
    )
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["state"] == "done" and task["result"] == "contradicted"
    [violation] = task["violations"]
    assert violation["kind"] == "false_not_home"
    assert violation["technician_id"] == str(world["tech1"])
    assert violation["provider_id"] == str(world["p1"])
    assert violation["fine_amount"] == 200000  # the city's policy

    # The job is back with dispatch: no technician, no appointment, the phone lets go.
    job = client.get(f"/jobs/{fake['id']}", headers=desk).json()
    assert job["status"] == "assigned" and job["technician_id"] is None
    assert job["window_start"] is None
    history = [e["kind"] for e in client.get(f"/jobs/{fake['id']}/history", headers=desk).json()]
    assert history[-2:] == ["callback_outcome", "reopened"]
    phone.pull_all()
    held = {doc_id for kind, doc_id in phone.docs if kind == JOB_PACKET}
    assert fake["id"] not in held and genuine["id"] in held

    tech_after = _scorecard(client, auditor, "technicians", world["tech1"])
    prov_after = _scorecard(client, auditor, "providers", world["p1"])
    assert tech_after["contradicted"] == tech_before.get("contradicted", 0) + 1
    assert prov_after["contradicted"] == prov_before.get("contradicted", 0) + 1
    assert tech_after["fines"] == tech_before.get("fines", 0) + 200000
    assert prov_after["fines"] == prov_before.get("fines", 0) + 200000

    violations = client.get("/violations", headers=login(client, "manager1")).json()
    assert [v["job_id"] for v in violations] == [fake["id"]]


# --- permissions ---------------------------------------------------------------------


def test_who_may_see_and_work_callbacks(client, world):
    desk = login(client, "dispatcher")
    phone = Phone(client, "tech1")
    job = fabricated_not_home(client, world, phone, desk)
    auditor = login(client, "auditor")
    task = _task_of(client, auditor, job["id"])

    tech = login(client, "tech1")
    assert_error(client.get("/callbacks", headers=tech), 403, "role_forbidden")
    assert_error(client.get(f"/callbacks/{task['id']}", headers=tech), 403, "role_forbidden")
    assert_error(
        client.get(f"/callbacks/{task['id']}/evidence", headers=tech), 403, "role_forbidden"
    )

    manager = login(client, "manager1")
    assert_error(client.get("/callbacks", headers=manager), 403, "role_forbidden")
    assert_error(
        client.post(
            f"/callbacks/{task['id']}/outcomes", headers=manager, json={"outcome": "confirmed"}
        ),
        403,
        "role_forbidden",
    )
    provider_desk = login(client, "provdispatch1")
    assert_error(client.get("/callbacks", headers=provider_desk), 403, "brand_staff_only")
    assert_error(client.post(f"/callbacks/{task['id']}/take", headers=desk), 403, "role_forbidden")
    # The call center's dispatchers may look (to know a claim is being checked).
    assert _queue(client, desk)

    # A provider manager sees their own scorecards, and nobody else's.
    r = client.get("/scorecards/technicians", headers=manager)
    assert r.status_code == 200, r.text
    body = r.json()
    rows = body["items"] if isinstance(body, dict) else body
    assert {row["provider_id"] for row in rows} <= {str(world["p1"])}
    unknown = uuid.uuid4()
    assert_error(client.get(f"/callbacks/{unknown}", headers=auditor), 404, "callback_not_found")


def test_two_auditors_cannot_work_the_same_task(client, world):
    desk = login(client, "dispatcher")
    job = fabricated_not_home(client, world, Phone(client, "tech1"), desk)
    first, second = login(client, "auditor"), _second_auditor(client, world)
    task = _task_of(client, first, job["id"])

    assert client.post(f"/callbacks/{task['id']}/take", headers=first).status_code == 200
    body = assert_error(
        client.post(f"/callbacks/{task['id']}/take", headers=second), 409, "task_held_by_other"
    )
    assert "Auditor" in body["message"]
    assert_error(
        client.post(
            f"/callbacks/{task['id']}/outcomes", headers=second, json={"outcome": "confirmed"}
        ),
        409,
        "task_held_by_other",
    )
    # Taking twice is harmless; releasing hands it on.
    assert client.post(f"/callbacks/{task['id']}/take", headers=first).status_code == 200
    assert client.post(f"/callbacks/{task['id']}/release", headers=first).status_code == 200
    assert client.post(f"/callbacks/{task['id']}/take", headers=second).status_code == 200
    mine = _queue(client, second, mine="true")
    assert [t["id"] for t in mine] == [task["id"]]
    assert mine[0]["holder_name"] == "Second Auditor"


def test_an_outcome_needs_the_task_in_hand(client, world):
    desk = login(client, "dispatcher")
    job = fabricated_not_home(client, world, Phone(client, "tech1"), desk)
    auditor = login(client, "auditor")
    task = _task_of(client, auditor, job["id"])
    assert_error(
        client.post(
            f"/callbacks/{task['id']}/outcomes", headers=auditor, json={"outcome": "confirmed"}
        ),
        409,
        "task_not_taken",
    )


# --- outcomes and corrections --------------------------------------------------------


def _completed(client, world, desk, phone: Phone) -> dict:
    job = make_job(client, desk, world, **_window(_now() - timedelta(minutes=30)))
    res = phone.push(
        [
            _checkin(phone, job["id"], 30.2791, 120.1301, _now() - timedelta(minutes=25)),
            phone.mutation("job.start_work", job["id"]),
            phone.mutation("job.complete", job["id"], {"summary": "Replaced the valve"}),
        ]
    )
    assert [o["status"] for o in res["outcomes"]] == ["applied"] * 3, res
    return job


def test_completion_callback_asks_for_satisfaction_on_the_scale(client, world):
    desk, auditor = login(client, "dispatcher"), login(client, "auditor")
    job = _completed(client, world, desk, Phone(client, "tech1"))
    task = _task_of(client, auditor, job["id"])
    assert task["kind"] == "completion" and task["state"] == "open"
    client.post(f"/callbacks/{task['id']}/take", headers=auditor)
    url = f"/callbacks/{task['id']}/outcomes"

    body = assert_error(
        client.post(
            url, headers=auditor, json={"outcome": "confirmed", "satisfaction": "thrilled"}
        ),
        400,
        "invalid_request",
    )
    assert "satisfaction" in json.dumps(body)
    assert_error(
        client.post(url, headers=auditor, json={"outcome": "confirmed"}),
        422,
        "satisfaction_required",
    )
    assert_error(
        client.post(
            url, headers=auditor, json={"outcome": "unreachable", "satisfaction": "satisfied"}
        ),
        422,
        "satisfaction_not_applicable",
    )
    r = client.post(
        url,
        headers=auditor,
        json={"outcome": "confirmed", "satisfaction": "very_satisfied", "comment": "Tidy work"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["result"] == "confirmed"
    assert r.json()["outcomes"][0]["satisfaction"] == "very_satisfied"
    # Settled: a second outcome is refused; a correction must name what it replaces.
    assert_error(
        client.post(url, headers=auditor, json={"outcome": "contradicted"}), 409, "task_closed"
    )


def test_corrections_are_new_entries_and_void_the_violation(client, world):
    desk, auditor = login(client, "dispatcher"), login(client, "auditor")
    job = fabricated_not_home(client, world, Phone(client, "tech1"), desk)
    task = _task_of(client, auditor, job["id"])
    url = f"/callbacks/{task['id']}/outcomes"
    client.post(f"/callbacks/{task['id']}/take", headers=auditor)
    first = client.post(url, headers=auditor, json={"outcome": "contradicted"}).json()
    [entry] = first["outcomes"]

    assert_error(
        client.post(
            url, headers=auditor, json={"outcome": "confirmed", "corrects": str(uuid.uuid4())}
        ),
        422,
        "correction_target_missing",
    )
    r = client.post(
        url,
        headers=auditor,
        json={"outcome": "confirmed", "corrects": entry["id"], "comment": "Wrong customer"},
    )
    assert r.status_code == 201, r.text
    after = r.json()
    old, new = after["outcomes"]
    assert old["id"] == entry["id"] and old["outcome"] == "contradicted"  # kept as it was
    assert old["corrected_by"] == new["id"] and new["corrects"] == entry["id"]
    assert after["result"] == "confirmed"
    [violation] = after["violations"]
    assert violation["voided_by_outcome_id"] == new["id"] and violation["voided_at"]
    assert client.get("/violations", headers=auditor).json() == []
    assert_error(
        client.post(url, headers=auditor, json={"outcome": "rescheduled", "corrects": entry["id"]}),
        409,
        "already_corrected",
    )


def test_unreachable_customers_are_called_again_up_to_the_limit(client, world, database_url):
    desk, auditor = login(client, "dispatcher"), login(client, "auditor")
    job = fabricated_not_home(client, world, Phone(client, "tech1"), desk)
    task = _task_of(client, auditor, job["id"])
    url = f"/callbacks/{task['id']}/outcomes"
    for attempt in range(1, 5):
        assert client.post(f"/callbacks/{task['id']}/take", headers=auditor).status_code == 200
        r = client.post(url, headers=auditor, json={"outcome": "unreachable"})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["attempts"] == attempt
        if attempt < 4:
            assert body["state"] == "open" and body["next_attempt_at"]
            assert task["id"] not in [t["id"] for t in _queue(client, auditor)]
            assert task["id"] in [t["id"] for t in _queue(client, auditor, state="waiting")]

            async def due_now(s, task_id=uuid.UUID(task["id"])):
                await s.execute(
                    update(CallbackTask)
                    .where(CallbackTask.id == task_id)
                    .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
                )
                await s.commit()

            run_db(database_url, due_now)
            assert task["id"] in [t["id"] for t in _queue(client, auditor)]
    assert body["state"] == "done" and body["result"] == "unreachable"
    assert body["next_attempt_at"] is None


# --- deadlines, status checks, SMS ---------------------------------------------------


def test_a_rebooked_visit_pulls_the_not_home_deadline_before_it(client, world):
    desk, auditor = login(client, "dispatcher"), login(client, "auditor")
    job = fabricated_not_home(client, world, Phone(client, "tech1"), desk)
    soon = _now() + timedelta(minutes=45)
    r = client.put(f"/jobs/{job['id']}/appointment", headers=desk, json=_window(soon))
    assert r.status_code == 200, r.text
    task = _task_of(client, auditor, job["id"])
    assert datetime.fromisoformat(task["due_at"]) == soon


def test_jobs_open_after_their_appointment_day_get_a_status_check(client, world, database_url):
    from server.callbacks.tasks import sweep_status_checks
    from server.db.engine import make_database

    desk, auditor = login(client, "dispatcher"), login(client, "auditor")
    job = make_job(client, desk, world)

    async def yesterday(s):
        start = datetime.now(UTC) - timedelta(days=1, hours=2)
        await s.execute(
            update(Job)
            .where(Job.id == uuid.UUID(job["id"]))
            .values(window_start=start, window_end=start + timedelta(hours=2))
        )
        await s.commit()

    run_db(database_url, yesterday)

    async def sweep() -> int:
        db = make_database(database_url)
        try:
            return await sweep_status_checks(db, datetime.now(UTC))
        finally:
            await db.dispose()

    import anyio

    assert anyio.run(sweep) == 1
    assert anyio.run(sweep) == 0  # one per job and day, however often it runs
    task = _task_of(client, auditor, job["id"], state="open")
    assert task["kind"] == "status_check"

    phone = Phone(client, "tech1")
    res = phone.push(
        [
            _checkin(phone, job["id"], 30.2791, 120.1301, _now() - timedelta(minutes=5)),
            phone.mutation("job.complete", job["id"], {"summary": "done late"}),
        ]
    )
    assert [o["status"] for o in res["outcomes"]] == ["applied"] * 2, res
    kinds = {t["kind"]: t for t in _queue(client, auditor, state="all", job_id=job["id"])}
    assert kinds["status_check"]["state"] == "cancelled"
    assert kinds["completion"]["state"] == "open"


def _sms(client, payload: dict, secret: str = GATEWAY_SECRET):
    body = json.dumps(payload).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        "/sms/inbound",
        content=body,
        headers={"Content-Type": "application/json", "X-Doorstep-Signature": sig},
    )


def test_customer_reply_by_sms_is_recorded_and_raises_the_risk(client, world):
    desk, auditor = login(client, "dispatcher"), login(client, "auditor")
    job = genuine_not_home(client, world, Phone(client, "tech1"), desk)
    before = _task_of(client, auditor, job["id"])

    msg = {"message_id": "gw-1", "sender": "+86 139 1234 5678", "text": "HOME - I was in all day"}
    assert_error(_sms(client, msg, secret="wrong"), 401, "bad_signature")
    r = _sms(client, msg)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "matched": True,
        "duplicate": False,
        "task_id": before["id"],
        "meaning": "was_home",
    }
    assert _sms(client, msg).json()["duplicate"] is True  # the gateway redelivers
    unknown = {"message_id": "gw-2", "sender": "+1 555 0100", "text": "HOME"}
    assert _sms(client, unknown).json()["matched"] is False

    after = client.get(f"/callbacks/{before['id']}", headers=auditor).json()
    assert after["customer_reply"] == "was_home"
    assert [r["meaning"] for r in after["replies"]] == ["was_home"]
    assert after["risk_score"] > before["risk_score"]
    assert "customer_says_home" in {f["code"] for f in after["risk_factors"]}


def test_sms_endpoint_is_off_without_a_gateway_secret(app, client, world):
    app.state.settings = app.state.settings.replace(sms_gateway_secret="")
    r = _sms(client, {"message_id": "x", "sender": "+86 139 1234 5678", "text": "HOME"})
    assert_error(r, 403, "sms_gateway_disabled")


def test_customer_history_lists_callbacks_for_brand_staff_only(client, world):
    desk, auditor = login(client, "dispatcher"), login(client, "auditor")
    job = fabricated_not_home(client, world, Phone(client, "tech1"), desk)
    task = _task_of(client, auditor, job["id"])
    client.post(f"/callbacks/{task['id']}/take", headers=auditor)
    client.post(f"/callbacks/{task['id']}/outcomes", headers=auditor, json={"outcome": "confirmed"})

    history = client.get(f"/customers/{world['customer1']}/history", headers=auditor).json()
    [summary] = history["callbacks"]
    assert summary["id"] == task["id"] and summary["result"] == "confirmed"
    manager = client.get(
        f"/customers/{world['customer1']}/history", headers=login(client, "manager1")
    )
    assert manager.status_code == 200 and manager.json()["callbacks"] == []
