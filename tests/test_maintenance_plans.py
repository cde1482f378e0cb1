"""Maintenance plans: a plan per model schedules the matching appliances; the job is made
ahead of time for the installer, with a window offered, the parts on it and the customer
told; completing it sets the next due date, cancelling skips a round; the console list
says what is due, overdue and done."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from world import assert_error, login, run_db

PLAN = {
    "name": "DH-60 care",
    "category": "water_heater",
    "model": "DH-60",
    "tasks": [
        {
            "name": "Anode check",
            "interval_days": 365,
            "lead_days": 14,
            "parts": [{"code": "AN-60", "name": "Magnesium anode", "quantity": 1}],
        }
    ],
}


def _run(database_url: str, settings: Any, now: datetime) -> Any:
    from server.maintenance.service import run

    async def work(s: Any) -> Any:
        return await run(s, now, settings)

    return run_db(database_url, work)


def _install_on(database_url: str, appliance_id: Any, day: date) -> None:
    from server.db.models import Appliance

    async def work(s: Any) -> None:
        a = await s.get(Appliance, appliance_id)
        a.install_date = day

    run_db(database_url, work)


def _auto(client: Any, world: Any, admin: Any) -> None:
    r = client.put(f"/cities/{world['hangzhou']}/dispatch", json={"mode": "auto"}, headers=admin)
    assert r.status_code == 200, r.text


def test_plan_makes_the_job_ahead_for_the_installer(
    client: Any, world: Any, settings: Any, database_url: str
) -> None:
    admin = login(client, "admin")
    desk = login(client, "dispatcher")
    _auto(client, world, admin)
    r = client.post("/maintenance/plans", json=PLAN, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["tasks"][0]["parts"][0]["code"] == "AN-60"
    assert client.post("/maintenance/plans", json=PLAN, headers=desk).status_code == 403
    assert_error(
        client.post("/maintenance/plans", json={**PLAN, "tasks": []}, headers=admin),
        400,
        "invalid_request",
    )

    # appliance1 (water heater DH-60, installed 2025-03-01 by tech1b): due 2026-03-01
    early = _run(database_url, settings, datetime(2026, 2, 1, 4, tzinfo=UTC))
    assert early.scheduled == 1 and early.created == []
    report = _run(database_url, settings, datetime(2026, 2, 20, 4, tzinfo=UTC))
    assert report.scheduled == 0 and len(report.created) == 1
    again = _run(database_url, settings, datetime(2026, 2, 21, 4, tzinfo=UTC))
    assert again.created == []  # one open job per appliance and task

    jobs = client.get("/jobs", params={"kind": "maintenance", "limit": 10}, headers=desk).json()[
        "items"
    ]
    assert [j["number"] for j in jobs] == report.created
    job = jobs[0]
    assert job["appliance_id"] == str(world["appliance1"])
    assert job["technician_id"] == str(world["tech1b"])  # the installer
    assert job["provider_id"] == str(world["p1"])
    assert job["parts"] == [{"code": "AN-60", "name": "Magnesium anode", "quantity": 1}]
    # offered on the due day, 10:00-12:00 in Hangzhou
    assert job["window_start"].startswith("2026-03-01T02:00:00")
    # made and dispatched as any new job: the automatic choice, by the system, with reasons
    history = client.get(f"/jobs/{job['id']}/history", headers=desk).json()
    [created] = [e for e in history if e["kind"] == "created"]
    assert created["source"] == "system" and created["actor_id"] is None
    assert created["data"]["maintenance"]["task"] == "Anode check"
    [assigned] = [e for e in history if e["kind"] == "assigned"]
    assert assigned["source"] == "system" and assigned["data"]["dispatch_choice_id"]
    [choice] = client.get(f"/jobs/{job['id']}/dispatch", headers=desk).json()
    assert choice["state"] == "applied" and choice["reasons"][0]["code"] == "installer"

    async def messages(s: Any) -> list[str]:
        from sqlalchemy import select

        from server.db.models import Notification

        return list(
            await s.scalars(
                select(Notification.body).where(Notification.job_id == uuid.UUID(job["id"]))
            )
        )

    (body,) = run_db(database_url, messages)
    assert "Anode check" in body and job["number"] in body

    # cancelled: this round skipped, next due a year later
    r = client.post(f"/jobs/{job['id']}/cancel", json={"reason": "sold the flat"}, headers=desk)
    assert r.status_code == 200, r.text
    rows = client.get("/maintenance/schedule", headers=desk).json()["items"]
    assert rows[0]["due_on"] == "2027-03-01" and rows[0]["job_id"] is None


def test_completion_sets_the_next_due_date_and_the_list_says_done(
    client: Any, world: Any, settings: Any, database_url: str
) -> None:
    from server.db.models import Job
    from server.jobs.history import record_change

    admin = login(client, "admin")
    _auto(client, world, admin)
    today = datetime.now(UTC).date()
    _install_on(database_url, world["appliance1"], today - timedelta(days=360))
    assert client.post("/maintenance/plans", json=PLAN, headers=admin).status_code == 201
    now = datetime.now(UTC)
    report = _run(database_url, settings, now)
    assert len(report.created) == 1
    due = client.get("/maintenance/schedule", params={"state": "due"}, headers=admin).json()
    assert due["total"] == 1 and due["items"][0]["job_number"] == report.created[0]
    assert due["items"][0]["parts"][0]["code"] == "AN-60"
    assert (
        client.get("/maintenance/schedule", params={"state": "overdue"}, headers=admin).json()[
            "total"
        ]
        == 0
    )

    job_id = due["items"][0]["job_id"]

    async def complete(s: Any) -> None:
        job = await s.get(Job, uuid.UUID(job_id))
        job.status = "completed"
        job.completed_at = now
        await record_change(
            s, job, "completed", {}, now=now, actor_id=None, actor_role=None, source="system"
        )

    run_db(database_url, complete)
    done = client.get("/maintenance/schedule", params={"state": "done"}, headers=admin).json()
    assert done["total"] == 1
    row = done["items"][0]
    assert row["job_id"] is None and row["last_job_id"] == job_id
    assert date.fromisoformat(row["due_on"]) >= today + timedelta(days=364)
    # provider staff of another provider see nothing of it
    other = login(client, "manager2")
    assert client.get("/maintenance/schedule", headers=other).json()["total"] == 0
    mine = login(client, "manager1")
    assert client.get("/maintenance/schedule", headers=mine).json()["total"] == 1


def test_in_suggest_mode_the_maintenance_job_waits_for_a_dispatcher(
    client: Any, world: Any, settings: Any, database_url: str
) -> None:
    """The same rules as a desk's job: the city's default mode (``suggest``) proposes the
    installer and leaves the job for a dispatcher to confirm."""
    admin = login(client, "admin")
    desk = login(client, "dispatcher")
    assert client.post("/maintenance/plans", json=PLAN, headers=admin).status_code == 201
    report = _run(database_url, settings, datetime(2026, 2, 20, 4, tzinfo=UTC))
    [number] = report.created
    [job] = client.get("/jobs", params={"kind": "maintenance"}, headers=desk).json()["items"]
    assert job["number"] == number
    assert job["technician_id"] is None and job["status"] == "new"
    [choice] = client.get(f"/jobs/{job['id']}/dispatch", headers=desk).json()
    assert choice["state"] == "suggested" and choice["trigger"] == "created"
    assert choice["technician_id"] == str(world["tech1b"])  # the installer
    r = client.post(f"/jobs/{job['id']}/dispatch/{choice['id']}/accept", headers=desk)
    assert r.status_code == 200, r.text
    got = client.get(f"/jobs/{job['id']}", headers=desk).json()
    assert got["technician_id"] == str(world["tech1b"]) and got["parts"][0]["code"] == "AN-60"
