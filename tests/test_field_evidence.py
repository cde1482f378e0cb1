"""Field evidence through sync: call attempts, check-out, completion reports and the
customer's sign-off — stored as facts, checked against policy, bound by hash."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import rfc8785
from sqlalchemy import select
from test_sync_api import Phone, make_job
from world import login, run_db

from server.db.models import Appliance, Checkin, JobEvent
from server.db.models.evidence import CallAttempt, CompletionReport, SignOff
from sync.field_evidence import sign_off_status


@pytest.fixture
def desk(client, world):
    return login(client, "dispatcher")


def rows(url: str, model: Any, job_id: str) -> list[Any]:
    async def work(s):  # type: ignore[no-untyped-def]
        return list(await s.scalars(select(model).where(model.job_id == uuid.UUID(job_id))))

    return run_db(url, work)


def out_of_warranty(url: str, world: Any) -> None:
    """appliance1's warranty ran out, so only the fee policy's amounts matter."""

    async def work(s):  # type: ignore[no-untyped-def]
        (await s.get(Appliance, world["appliance1"])).warranty_end = date(2024, 1, 1)

    run_db(url, work)


def status(url: str, job_id: str) -> dict[str, Any]:
    return run_db(url, lambda s: sign_off_status(s, uuid.UUID(job_id)))


def outcome(res: dict) -> tuple[str, str | None]:
    o = res["outcomes"][0]
    return o["status"], o.get("code")


def report_args(**over: Any) -> dict[str, Any]:
    return {"report_id": str(uuid.uuid4()), "work_done": "Replaced the igniter.", **over}


def report_row(url: str, job: dict, report_id: str) -> CompletionReport:
    return next(r for r in rows(url, CompletionReport, job["id"]) if str(r.id) == report_id)


def codes(report: CompletionReport) -> list[str]:
    return [str(f["code"]) for f in report.findings]


# --- calls ------------------------------------------------------------------------------


def test_call_attempts_stored_and_answered_one_sets_contacted_at(client, world, desk, database_url):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    missed, answered = str(uuid.uuid4()), str(uuid.uuid4())
    res = phone.push(
        [
            phone.mutation(
                "job.call_attempt",
                job["id"],
                {"call_id": missed, "started_at": t0.isoformat(), "outcome": "no_answer"},
            ),
            phone.mutation(
                "job.call_attempt",
                job["id"],
                {
                    "call_id": answered,
                    "started_at": (t0 + timedelta(minutes=5)).isoformat(),
                    "outcome": "answered",
                    "duration_s": 42,
                },
            ),
        ]
    )
    assert [o["status"] for o in res["outcomes"]] == ["applied", "applied"]
    calls = {str(c.id): c for c in rows(database_url, CallAttempt, job["id"])}
    assert calls[missed].outcome == "no_answer" and calls[answered].duration_s == 42
    got = client.get(f"/jobs/{job['id']}", headers=desk).json()
    assert datetime.fromisoformat(got["contacted_at"]) == t0 + timedelta(minutes=5)


def test_call_attempt_resend_is_one_row_and_future_time_flagged(client, world, desk, database_url):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    call = {
        "call_id": str(uuid.uuid4()),
        "started_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
        "outcome": "answered",
    }
    first = phone.push([phone.mutation("job.call_attempt", job["id"], call)])
    again = phone.push([phone.mutation("job.call_attempt", job["id"], call)])
    assert outcome(first)[0] == outcome(again)[0] == "applied"
    (row,) = rows(database_url, CallAttempt, job["id"])
    assert row.flags == ["device_time_in_future"]
    # a call claimed in the future proves no contact
    assert client.get(f"/jobs/{job['id']}", headers=desk).json()["contacted_at"] is None


# --- check-out --------------------------------------------------------------------------


def test_check_out_geofence_and_time_on_site(client, world, desk, database_url):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    out_id = str(uuid.uuid4())
    fix = {"latitude": 30.2791, "longitude": 120.1301, "accuracy_m": 8}
    res = phone.push(
        [
            phone.mutation(
                "job.check_in",
                job["id"],
                {"checkin_id": str(uuid.uuid4()), "fix_time": t0.isoformat(), **fix},
            ),
            phone.mutation(
                "job.check_out",
                job["id"],
                {
                    "checkin_id": out_id,
                    "fix_time": (t0 + timedelta(minutes=45)).isoformat(),
                    **fix,
                },
            ),
        ]
    )
    assert [o["status"] for o in res["outcomes"]] == ["applied", "applied"]
    out = next(c for c in rows(database_url, Checkin, job["id"]) if str(c.id) == out_id)
    assert out.kind == "check_out" and out.geofence == "pass" and out.distance_m < 50

    async def event(s):  # type: ignore[no-untyped-def]
        return await s.scalar(
            select(JobEvent).where(
                JobEvent.job_id == uuid.UUID(job["id"]), JobEvent.kind == "fact:check_out"
            )
        )

    assert run_db(database_url, event).data["time_on_site_s"] == 45 * 60


def test_check_out_far_away_without_check_in_is_flagged(client, world, desk, database_url):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    res = phone.push(
        [
            phone.mutation(
                "job.check_out",
                job["id"],
                {
                    "checkin_id": str(uuid.uuid4()),
                    "latitude": 30.3060,
                    "longitude": 120.1300,
                    "accuracy_m": 8,
                },
            )
        ]
    )
    assert outcome(res) == ("applied", None)
    (out,) = rows(database_url, Checkin, job["id"])
    assert out.geofence == "fail" and "no_check_in" in out.flags


# --- reports ----------------------------------------------------------------------------


def test_visit_fee_inside_warranty_is_a_finding(client, world, desk, database_url):
    job = make_job(client, desk, world)  # appliance1: warranty to 2028
    phone = Phone(client, "tech1")
    args = report_args(charges=[{"code": "visit_fee", "amount": 3000}])
    assert outcome(phone.push([phone.mutation("job.report", job["id"], args)]))[0] == "applied"
    assert codes(report_row(database_url, job, args["report_id"])) == ["charge_in_warranty"]


def test_charge_above_policy_and_unknown_charge(client, world, desk, database_url):
    out_of_warranty(database_url, world)
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    args = report_args(
        charges=[
            {"code": "labour", "amount": 12000},
            {"code": "gold_plating", "amount": 100},
        ]
    )
    assert outcome(phone.push([phone.mutation("job.report", job["id"], args)]))[0] == "applied"
    assert codes(report_row(database_url, job, args["report_id"])) == [
        "charge_above_policy",
        "charge_not_in_policy",
    ]


def test_missing_required_checklist_item_and_unknown_photo(client, world, desk, database_url):
    admin = login(client, "admin")
    r = client.put(
        "/checklists/repair",
        headers=admin,
        json={
            "items": [
                {"code": "shoe_covers", "label": "Wore shoe covers", "required": True},
                {"code": "explained", "label": "Explained safe use", "required": True},
                {"code": "coffee", "label": "Accepted coffee", "required": False},
            ]
        },
    )
    assert r.status_code == 200, r.text
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    stray = str(uuid.uuid4())
    args = report_args(
        checklist={"shoe_covers": True, "explained": False}, photos={"after": [stray]}
    )
    assert outcome(phone.push([phone.mutation("job.report", job["id"], args)]))[0] == "applied"
    report = report_row(database_url, job, args["report_id"])
    assert codes(report) == ["checklist_incomplete", "unknown_photo"]
    assert report.findings[0]["items"] == ["explained"]
    assert report.findings[1]["items"] == [stray]
    assert report.photos == {"after": [stray]}  # kept as the customer saw it


def test_clean_report_has_no_findings_and_documented_hash(client, world, desk, database_url):
    admin = login(client, "admin")
    client.put(
        "/checklists/repair",
        headers=admin,
        json={"items": [{"code": "shoe_covers", "label": "Wore shoe covers", "required": True}]},
    )
    out_of_warranty(database_url, world)
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    args = report_args(
        work_done="换了点火器",
        parts=[{"name": "Igniter", "code": "IG-2"}],
        charges=[{"code": "visit_fee", "amount": 3000}, {"code": "labour", "amount": 5000}],
        checklist={"shoe_covers": True},
    )
    res = phone.push([phone.mutation("job.report", job["id"], args)])
    again = phone.push([phone.mutation("job.report", job["id"], args)])
    assert outcome(res) == outcome(again) == ("applied", None)
    (report,) = rows(database_url, CompletionReport, job["id"])
    assert report.findings == []
    content = {
        "charges": [
            {"amount": 3000, "code": "visit_fee", "label": ""},
            {"amount": 5000, "code": "labour", "label": ""},
        ],
        "checklist": {"shoe_covers": True},
        "parts": [{"code": "IG-2", "name": "Igniter", "quantity": 1, "unit_price": 0}],
        "photos": {},
        "work_done": "换了点火器",
    }
    canonical = rfc8785.dumps(content)  # RFC 8785: the report's hash is language-neutral
    assert canonical.startswith(b'{"charges":[{"amount":3000,"code":"visit_fee","label":""}')
    assert "换了点火器".encode() in canonical
    assert report.sha256 == hashlib.sha256(canonical).hexdigest()


# --- sign-off ---------------------------------------------------------------------------


def test_sign_off_binds_to_report_and_later_report_makes_it_stale(
    client, world, desk, database_url
):
    out_of_warranty(database_url, world)
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    first = report_args()
    phone.push([phone.mutation("job.report", job["id"], first)])
    sha = report_row(database_url, job, first["report_id"]).sha256
    assert status(database_url, job["id"]) == {
        "signed": False,
        "report_sha256": sha,
        "signed_sha256": None,
        "stale": False,
    }
    res = phone.push(
        [
            phone.mutation(
                "job.sign_off",
                job["id"],
                {
                    "sign_off_id": str(uuid.uuid4()),
                    "signer_name": "Li Wei",
                    "report_sha256": sha,
                    "strokes": [[[0, 0, 0], [10, 5, 120]]],
                },
            )
        ]
    )
    assert outcome(res) == ("applied", None)
    (signed,) = rows(database_url, SignOff, job["id"])
    assert signed.flags == [] and signed.strokes == [[[0, 0, 0], [10, 5, 120]]]
    assert status(database_url, job["id"])["signed"] is True

    second = report_args(work_done="Also replaced the thermostat.")
    phone.push([phone.mutation("job.report", job["id"], second)])
    now = status(database_url, job["id"])
    assert now["signed"] is False and now["stale"] is True
    assert now["signed_sha256"] == sha != now["report_sha256"]
    assert len(rows(database_url, CompletionReport, job["id"])) == 2


def test_sign_off_rules(client, world, desk, database_url):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    base = {"signer_name": "Li Wei", "report_sha256": "ab" * 32}
    res = phone.push(
        [
            phone.mutation("job.sign_off", job["id"], {"sign_off_id": str(uuid.uuid4()), **base}),
            phone.mutation(
                "job.sign_off",
                job["id"],
                {"sign_off_id": str(uuid.uuid4()), **base, "report_sha256": "not-hex"},
            ),
            phone.mutation(
                "job.sign_off",
                job["id"],
                {"sign_off_id": str(uuid.uuid4()), **base, "signature_sha256": "cd" * 32},
            ),
        ]
    )
    assert [(o["status"], o.get("code")) for o in res["outcomes"]] == [
        ("rejected", "signature_required"),
        ("rejected", "invalid_arguments"),
        ("applied", None),
    ]
    (kept,) = rows(database_url, SignOff, job["id"])
    assert kept.flags == ["unknown_report"]


def test_bad_shapes_rejected(client, world, desk):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    res = phone.push(
        [
            phone.mutation(
                "job.report", job["id"], report_args(charges=[{"code": "labour", "amount": -1}])
            ),
            phone.mutation(
                "job.call_attempt",
                job["id"],
                {"call_id": str(uuid.uuid4()), "started_at": "2026-01-01T10:00:00"},
            ),
            phone.mutation(
                "job.call_attempt",
                job["id"],
                {
                    "call_id": str(uuid.uuid4()),
                    "started_at": "2026-01-01T10:00:00",
                    "outcome": "answered",
                },
            ),
        ]
    )
    assert [(o["status"], o.get("code")) for o in res["outcomes"]] == [
        ("rejected", "invalid_arguments"),  # negative amount
        ("rejected", "invalid_arguments"),  # no outcome
        ("rejected", "timestamp_without_offset"),  # no UTC offset
    ]
