"""Closed loops: order → visit → callback → closed. A completed job closes when its
completion callback is done (confirmed, or unreachable through every retry); a
contradicted callback reopens it; the closed job leaves the technician's phone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from test_callbacks import _completed, _task_of
from test_sync_api import Phone
from world import assert_error, login, run_db

from server.db.models import CallbackTask
from server.i18n import label
from sync.packets import JOB_PACKET


def _outcome(client, auditor, task_id: str, **body) -> dict:
    assert client.post(f"/callbacks/{task_id}/take", headers=auditor).status_code == 200
    r = client.post(f"/callbacks/{task_id}/outcomes", headers=auditor, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _loop(client, headers, job_id: str) -> dict:
    r = client.get(f"/jobs/{job_id}/loop", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_confirmed_callback_closes_the_job_and_the_phone_lets_go(client, world):
    desk, auditor = login(client, "dispatcher"), login(client, "auditor")
    phone = Phone(client, "tech1")
    job = _completed(client, world, desk, phone)
    loop = _loop(client, desk, job["id"])
    assert [(s["step"], s["state"]) for s in loop["steps"]] == [
        ("order", "done"),
        ("visit", "done"),
        ("callback", "pending"),
        ("closed", "pending"),
    ]
    assert loop["closed"] is False
    phone.pull_all()
    assert (JOB_PACKET, job["id"]) in phone.docs

    task = _task_of(client, auditor, job["id"])
    _outcome(client, auditor, task["id"], outcome="confirmed", satisfaction="satisfied")
    assert client.get(f"/jobs/{job['id']}", headers=desk).json()["status"] == "closed"
    history = [e["kind"] for e in client.get(f"/jobs/{job['id']}/history", headers=desk).json()]
    assert history[-2:] == ["callback_outcome", "closed"]
    loop = _loop(client, desk, job["id"])
    assert loop["closed"] is True and loop["status"] == "closed"
    assert [s["state"] for s in loop["steps"]] == ["done"] * 4
    assert loop["steps"][-1]["detail"] == "callback_confirmed"
    assert loop["callback_result"] == "confirmed" and loop["callback_satisfaction"] == "satisfied"
    # Provider staff see their own job's loop; another provider's is a 404.
    assert _loop(client, login(client, "manager1"), job["id"])["closed"] is True
    assert_error(
        client.get(f"/jobs/{job['id']}/loop", headers=login(client, "manager2")),
        404,
        "job_not_found",
    )

    # The packet leaves the phone at once; a late mutation is refused as on a closed job.
    phone.pull_all()
    assert (JOB_PACKET, job["id"]) not in phone.docs
    res = phone.push([phone.mutation("job.note", job["id"], {"text": "forgot the receipt"})])
    assert res["outcomes"][0]["status"] in ("rejected", "applied"), res
    # Desk changes are refused on a closed job.
    soon = datetime.now(UTC) + timedelta(days=1)
    assert_error(
        client.put(
            f"/jobs/{job['id']}/appointment",
            headers=desk,
            json={
                "window_start": soon.isoformat(),
                "window_end": (soon + timedelta(hours=2)).isoformat(),
            },
        ),
        409,
        "job_closed",
    )
    # Closed jobs are a board filter like any status.
    listed = client.get("/jobs", headers=desk, params={"status": "closed"}).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]
    assert label("zh-CN", "job_status", "closed") == "已关闭"


def test_a_correction_to_contradicted_reopens_a_closed_job(client, world):
    desk, auditor = login(client, "dispatcher"), login(client, "auditor")
    job = _completed(client, world, desk, Phone(client, "tech1"))
    task = _task_of(client, auditor, job["id"])
    first = _outcome(client, auditor, task["id"], outcome="confirmed", satisfaction="satisfied")
    assert client.get(f"/jobs/{job['id']}", headers=desk).json()["status"] == "closed"
    r = client.post(
        f"/callbacks/{task['id']}/outcomes",
        headers=auditor,
        json={
            "outcome": "contradicted",
            "corrects": first["outcomes"][0]["id"],
            "comment": "The customer says nobody came.",
        },
    )
    assert r.status_code == 201, r.text
    after = client.get(f"/jobs/{job['id']}", headers=desk).json()
    assert after["status"] == "assigned" and after["technician_id"] is None
    loop = _loop(client, desk, job["id"])
    assert loop["closed"] is False and loop["reopened"] == 1
    assert [(s["step"], s["state"]) for s in loop["steps"]][1:] == [
        ("visit", "pending"),
        ("callback", "reopened"),
        ("closed", "pending"),
    ]


def test_unreachable_through_the_retry_schedule_closes_the_loop(client, world, database_url):
    desk, auditor = login(client, "dispatcher"), login(client, "auditor")
    job = _completed(client, world, desk, Phone(client, "tech1"))
    task = _task_of(client, auditor, job["id"])
    for attempt in range(1, 5):
        body = _outcome(client, auditor, task["id"], outcome="unreachable")
        status = client.get(f"/jobs/{job['id']}", headers=desk).json()["status"]
        if attempt < 4:
            assert status == "completed" and body["state"] == "open"
            loop = _loop(client, desk, job["id"])
            assert loop["steps"][2] == {
                "step": "callback",
                "state": "pending",
                "at": None,
                "detail": "waiting",
            }

            async def due_now(s, task_id=uuid.UUID(task["id"])):
                await s.execute(
                    update(CallbackTask)
                    .where(CallbackTask.id == task_id)
                    .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
                )
                await s.commit()

            run_db(database_url, due_now)
    assert status == "closed"
    assert _loop(client, desk, job["id"])["steps"][-1]["detail"] == "callback_unreachable"


def test_a_confirmed_not_home_claim_does_not_close_the_job(client, world):
    from test_callbacks import genuine_not_home

    desk, auditor = login(client, "dispatcher"), login(client, "auditor")
    job = genuine_not_home(client, world, Phone(client, "tech1"), desk)
    task = _task_of(client, auditor, job["id"])
    _outcome(client, auditor, task["id"], outcome="confirmed")
    assert client.get(f"/jobs/{job['id']}", headers=desk).json()["status"] == "unable_to_complete"
    loop = _loop(client, desk, job["id"])
    assert loop["steps"][1]["state"] == "failed"
    assert loop["steps"][1]["detail"] == "customer_not_home"
    assert loop["closed"] is False
