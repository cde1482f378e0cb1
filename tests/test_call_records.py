"""Calls the phone cannot invent: the test plays the carrier's number-protection service
posting signed call records to ``/call-records/inbound`` over the real app, and reads
how the records re-score the open not-home callback and show in its evidence."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from test_callbacks import _task_of, genuine_not_home
from test_sync_api import Phone
from world import assert_error, login

from evidence.features import CallFact, CarrierFact, ClaimFacts, extract

CARRIER_SECRET = "carrier-secret-for-tests"


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.replace(call_records_secret=CARRIER_SECRET)


def _post(client, records: list[dict], secret: str = CARRIER_SECRET, ts: int | None = None):
    body = json.dumps({"records": records}).encode()
    stamp = str(int(time.time()) if ts is None else ts)
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return client.post(
        "/call-records/inbound",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Doorstep-Timestamp": stamp,
            "X-Doorstep-Signature": "sha256=" + mac,
        },
    )


def _record(job_id: str, at: datetime, duration_s: int, answered: bool = False) -> dict:
    return {
        "record_id": f"cr-{uuid.uuid4()}",
        "masked_number": "+86 170 0000 1111",
        "job_id": job_id,
        "caller": "+86 170 0000 1111",
        "callee": "+86 139 1234 5678",
        "started_at": at.isoformat(),
        "duration_s": duration_s,
        "answered": answered,
    }


def _carrier_factor(task: dict) -> dict | None:
    return next((f for f in task["risk_factors"] if f["code"] == "carrier_calls"), None)


def _call_times(client, headers, task: dict) -> list[datetime]:
    ev = client.get(f"/callbacks/{task['id']}/evidence", headers=headers).json()
    return [datetime.fromisoformat(c["started_at"]) for c in ev["calls"]]


def test_carrier_records_reconcile_with_the_phones_calls(client, world):
    desk, auditor = login(client, "dispatcher"), login(client, "auditor")
    job = genuine_not_home(client, world, Phone(client, "tech1"), desk)
    before = _task_of(client, auditor, job["id"])
    # No carrier has posted anything yet: the feature is neutral, not "missing".
    assert _carrier_factor(before) is None
    first, second = sorted(_call_times(client, auditor, before))

    short = _record(job["id"], first, 2)
    assert_error(_post(client, [short], secret="wrong"), 401, "bad_signature")
    assert_error(_post(client, [short], ts=int(time.time()) - 3600), 401, "stale_timestamp")
    r = _post(client, [short])
    assert r.status_code == 200, r.text
    assert r.json() == {"stored": 1, "duplicates": 0, "unknown_job": 0}
    flagged = _task_of(client, auditor, job["id"])
    factor = _carrier_factor(flagged)
    assert factor is not None and factor["contribution"] > 1.5, flagged["risk_factors"]
    assert "at most 2 s" in factor["words"]
    assert flagged["risk_probability"] > before["risk_probability"]

    # The second call rang out for 40 s: the carrier confirms the claim's calls.
    r = _post(client, [short, _record(job["id"], second, 40)])
    assert r.json() == {"stored": 1, "duplicates": 1, "unknown_job": 0}
    confirmed = _task_of(client, auditor, job["id"])
    factor = _carrier_factor(confirmed)
    assert factor is not None and factor["contribution"] < 0, confirmed["risk_factors"]
    assert confirmed["risk_probability"] < before["risk_probability"]

    ev = client.get(f"/callbacks/{confirmed['id']}/evidence", headers=auditor).json()
    assert [c["duration_s"] for c in ev["carrier_calls"]] == [2, 40]
    assert ev["carrier_calls"][0]["masked_number"] == "+86 170 0000 1111"

    # With the carrier in use, a claim whose calls the carrier never saw is flagged.
    other = genuine_not_home(client, world, Phone(client, "tech1"), desk)
    unseen = _task_of(client, auditor, other["id"])
    factor = _carrier_factor(unseen)
    assert factor is not None and factor["contribution"] >= 2.0
    assert "none in the carrier's records" in factor["words"]

    unknown = _post(client, [_record(str(uuid.uuid4()), first, 30)])
    assert unknown.json() == {"stored": 1, "duplicates": 0, "unknown_job": 1}


def test_call_record_endpoint_is_off_without_a_secret_and_rejects_bad_input(app, client):
    bad = _post(client, [{"record_id": "x"}])
    assert bad.status_code == 400, bad.text
    assert_error(_post(client, []), 400, bad.json()["code"])
    body = json.dumps({"records": [_record(str(uuid.uuid4()), datetime.now(UTC), 5)]})
    no_ts = client.post(
        "/call-records/inbound",
        content=body.encode(),
        headers={"Content-Type": "application/json", "X-Doorstep-Signature": "sha256=00"},
    )
    assert_error(no_ts, 401, "bad_timestamp")
    app.state.settings = app.state.settings.replace(call_records_secret="")
    assert_error(
        _post(client, [_record(str(uuid.uuid4()), datetime.now(UTC), 5)]),
        403,
        "call_records_disabled",
    )


def _facts(carrier: list[CarrierFact] | None) -> ClaimFacts:
    t = datetime(2026, 5, 1, 10, tzinfo=UTC)
    return ClaimFacts(
        kind="not_home",
        claimed_at=t + timedelta(minutes=15),
        calls=[CallFact(t + timedelta(minutes=3), 40, "no_answer")],
        carrier=carrier,
    )


def test_carrier_feature_is_graded_and_neutral_without_a_carrier():
    t = datetime(2026, 5, 1, 10, 3, tzinfo=UTC)

    def value(carrier: list[CarrierFact] | None) -> float | None:
        f = [x for x in extract(_facts(carrier)) if x.code == "carrier_calls"]
        return f[0].value if f else None

    assert value(None) is None
    missing, two_s = value([]), value([CarrierFact(t, 2, False)])
    rang, answered = value([CarrierFact(t, 40, False)]), value([CarrierFact(t, 90, True)])
    assert missing == 1.0
    assert two_s is not None and 0.5 < two_s < 1.0
    assert rang is not None and answered is not None and rang < 0 and answered < 0
    assert all(-0.5 <= v <= 1.0 for v in (missing, two_s, rang, answered))
