"""CSV exports of jobs, callbacks, violations and the audit trail: streamed, the same
rows in the same order as the list endpoint for the same filters, in the caller's
scope. Read from the database a page at a time (the page made small here, so every
export crosses pages). Against the real app and database."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from world import assert_error, login, run_db

from server.db.models import CallbackOutcome, CallbackTask, Job, Violation
from server.exports import csv_stream

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_stream, "PAGE", 3)


def _arrange(database_url: str, world: Any) -> None:
    """Seven jobs of provider 1 in Hangzhou and four of provider 2 in Nanjing, each with a
    callback task; every other one contradicted, with a violation (one voided)."""

    async def work(s: Any) -> None:
        n = 0
        for provider, tech, customer, city, count in (
            ("p1", "tech1", "customer1", "hangzhou", 7),
            ("p2", "tech2", "customer2", "nanjing", 4),
        ):
            for i in range(count):
                n += 1
                start = T0 + timedelta(hours=n)
                job = Job(
                    number=f"J-{n:04d}",
                    kind="install" if i % 2 else "repair",
                    customer_id=world[customer],
                    city_id=world[city],
                    status="unable_to_complete",
                    provider_id=world[provider],
                    technician_id=world[tech],
                    window_start=None if i == 3 else start,
                    window_end=None if i == 3 else start + timedelta(hours=2),
                    description=f"=cmd|' /C calc'!A0 {n}" if n == 1 else f'Job, "{n}"\n2',
                )
                s.add(job)
                await s.flush()
                task = CallbackTask(
                    job_id=job.id,
                    kind="not_home",
                    basis=f"v{n}",
                    state="done" if i % 2 == 0 else "open",
                    technician_id=world[tech],
                    provider_id=world[provider],
                    created_at=start,
                    claimed_at=start,
                    due_at=start + timedelta(hours=4),
                    risk_score=10 * (n % 7),
                    risk_probability=(n % 7) / 10,
                    risk_factors=[{"code": "far_from_address", "points": n}],
                )
                s.add(task)
                await s.flush()
                if i % 2 == 0:
                    outcome = CallbackOutcome(
                        task_id=task.id,
                        job_id=job.id,
                        outcome="contradicted",
                        recorded_at=start + timedelta(hours=1),
                    )
                    s.add(outcome)
                    await s.flush()
                    s.add(
                        Violation(
                            job_id=job.id,
                            task_id=task.id,
                            outcome_id=outcome.id,
                            kind="false_not_home",
                            technician_id=world[tech],
                            provider_id=world[provider],
                            fine_amount=200000,
                            recorded_at=start + timedelta(hours=1),
                            voided_at=start + timedelta(hours=2) if n == 3 else None,
                        )
                    )

    run_db(database_url, work)


def _csv(response: Any, prefix: str) -> tuple[list[str], list[dict[str, str]]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith(f'attachment; filename="{prefix}-') and disposition.endswith(
        '.csv"'
    )
    reader = csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def _same(rows: list[dict[str, str]], items: list[dict[str, Any]], columns: list[str]) -> None:
    """The CSV says what the list says: same rows, same order, every field's JSON value."""
    assert [r["id"] for r in rows] == [i["id"] for i in items]
    for row, item in zip(rows, items, strict=True):
        assert set(item) >= set(columns)
        assert row == {c: csv_stream.cell(item[c]) for c in columns}


def test_jobs_export_matches_the_list_in_every_scope(client, world, database_url):
    _arrange(database_url, world)
    admin = login(client, "admin")
    for params in (
        {},
        {"provider_id": str(world["p1"])},
        {"status": ["unable_to_complete", "completed"], "kind": "install"},
        {"pending": "true"},
        {"window_from": (T0 + timedelta(hours=4)).isoformat(), "city_id": str(world["hangzhou"])},
    ):
        listed = client.get("/jobs", params={**params, "limit": 500}, headers=admin).json()
        columns, rows = _csv(client.get("/jobs/export.csv", params=params, headers=admin), "jobs")
        _same(rows, listed["items"], columns)
        assert len(rows) == listed["total"]
    assert len(rows) > 0

    columns, rows = _csv(client.get("/jobs/export.csv", headers=admin), "jobs")
    assert len(rows) == 11 and columns[:3] == ["id", "number", "kind"]
    first = next(r for r in rows if r["number"] == "J-0001")
    assert first["description"].startswith("'=cmd")  # no formula for a spreadsheet to run
    assert next(r for r in rows if r["number"] == "J-0002")["description"] == 'Job, "2"\n2'
    assert first["window_start"] == "2026-11-02T02:00:00Z"  # UTC, ISO 8601 with Z
    assert first["pending_appointment"] == "false" and first["previous_job_id"] == ""

    for who, provider, count in (
        ("manager1", "p1", 7),
        ("provdispatch1", "p1", 7),
        ("manager2", "p2", 4),
    ):
        h = login(client, who)
        _, rows = _csv(client.get("/jobs/export.csv", headers=h), "jobs")
        assert len(rows) == count and {r["provider_id"] for r in rows} == {str(world[provider])}
        # another provider's filter finds nothing rather than their jobs
        other = "p2" if provider == "p1" else "p1"
        _, rows = _csv(
            client.get("/jobs/export.csv", params={"provider_id": str(world[other])}, headers=h),
            "jobs",
        )
        assert rows == []
    assert_error(
        client.get("/jobs/export.csv", headers=login(client, "tech1")), 403, "role_forbidden"
    )
    assert_error(
        client.get("/jobs/export.csv", params={"kind": "teleport"}, headers=admin),
        400,
        "invalid_request",
    )


def test_callbacks_export_matches_the_queue(client, world, database_url):
    _arrange(database_url, world)
    for who in ("admin", "auditor", "dispatcher"):
        h = login(client, who)
        for params in (
            {"state": "all"},
            {},
            {"state": "done", "provider_id": str(world["p2"])},
            {"state": "all", "technician_id": str(world["tech1"])},
        ):
            listed = client.get("/callbacks", params={**params, "limit": 200}, headers=h).json()
            columns, rows = _csv(
                client.get("/callbacks/export.csv", params=params, headers=h), "callbacks"
            )
            _same(rows, listed["items"], columns)
            assert len(rows) == listed["total"]
            assert "outcomes" not in columns and "risk_factors" in columns
    _, rows = _csv(
        client.get("/callbacks/export.csv", params={"state": "all"}, headers=h), "callbacks"
    )
    assert len(rows) == 11
    assert rows[0]["risk_factors"].startswith('[{"code":"far_from_address"')
    for who, code in (("manager1", "role_forbidden"), ("provdispatch1", "brand_staff_only")):
        assert_error(client.get("/callbacks/export.csv", headers=login(client, who)), 403, code)


def test_violations_export_matches_the_list_in_every_scope(client, world, database_url):
    _arrange(database_url, world)
    admin = login(client, "admin")
    for params in (
        {},
        {"include_voided": "true"},
        {"technician_id": str(world["tech2"])},
        {
            "since": (T0 + timedelta(hours=4)).isoformat(),
            "until": (T0 + timedelta(days=1)).isoformat(),
        },
    ):
        listed = client.get("/violations", params={**params, "limit": 500}, headers=admin).json()
        columns, rows = _csv(
            client.get("/violations/export.csv", params=params, headers=admin), "violations"
        )
        _same(rows, listed, columns)
    _, rows = _csv(
        client.get("/violations/export.csv", params={"include_voided": "true"}, headers=admin),
        "violations",
    )
    assert len(rows) == 6 and rows[0]["fine_amount"] == "200000" and rows[0]["currency"] == "CNY"
    h = login(client, "manager2")
    _, rows = _csv(client.get("/violations/export.csv", headers=h), "violations")
    assert len(rows) == 2 and {r["provider_name"] for r in rows} == {"Purple Mountain Repairs"}
    assert_error(
        client.get(
            "/violations/export.csv",
            params={"since": T0.isoformat(), "until": T0.isoformat()},
            headers=admin,
        ),
        422,
        "invalid_period",
    )


def test_audit_export_matches_the_list_in_every_scope(client, world):
    admin, manager1 = login(client, "admin"), login(client, "manager1")
    for n in range(4):
        r = client.patch(f"/customers/{world['customer1']}", json={"notes": f"n{n}"}, headers=admin)
        assert r.status_code == 200, r.text
    r = client.patch(f"/users/{world['tech1b']}", headers=manager1, json={"full_name": "B"})
    assert r.status_code == 200, r.text

    for who, params in (
        ("admin", {}),
        ("auditor", {"entity": "customer"}),
        ("admin", {"actor_id": str(world["manager1"])}),
        ("manager1", {}),
    ):
        h = login(client, who)
        listed = client.get("/audit/events", params={**params, "limit": 500}, headers=h).json()
        columns, rows = _csv(
            client.get("/audit/events/export.csv", params=params, headers=h), "audit-events"
        )
        _same(rows, listed["items"], columns)
    assert len(rows) == 1 and rows[0]["entity_id"] == str(world["tech1b"])
    _, rows = _csv(client.get("/audit/events/export.csv", headers=admin), "audit-events")
    assert len(rows) == 5
    assert rows[1]["before"] == '{"notes":"n2"}' and rows[1]["after"] == '{"notes":"n3"}'
    assert rows[0]["at"].endswith("Z")
    _, rows = _csv(
        client.get("/audit/events/export.csv", headers=login(client, "manager2")), "audit-events"
    )
    assert rows == []
    assert_error(
        client.get("/audit/events/export.csv", headers=login(client, "dispatcher")),
        403,
        "role_forbidden",
    )


def test_one_csv_writer_for_every_export() -> None:
    """Scorecards, lists and the audit trail go through the same cells."""
    from server.scorecards.service import csv_columns, scorecards_csv

    assert scorecards_csv("provider", []) == ",".join(csv_columns("provider")) + "\r\n"
    assert [csv_stream.cell(v) for v in (None, True, False, 0, -5, "-5", [1], {"a": None})] == [
        "",
        "true",
        "false",
        "0",
        "-5",
        "'-5",
        "[1]",
        '{"a":null}',
    ]
    ident = uuid.UUID(int=7)
    assert csv_stream.csv_text(["id"], [{"id": str(ident)}]) == f"id\r\n{ident}\r\n"
