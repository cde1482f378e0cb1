"""Claims re-checked against their evidence rules after sync; the rules configurable and
shipped in packets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from test_sync_api import Phone, make_job
from world import assert_error, login


def _not_home(phone: Phone, job_id: str, *, lat: float, lon: float, minutes_on_site: int) -> dict:
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_on_site)
    checkin = phone.mutation(
        "job.check_in",
        job_id,
        {
            "checkin_id": str(uuid.uuid4()),
            "latitude": lat,
            "longitude": lon,
            "accuracy_m": 8,
            "fix_time": t0.isoformat(),
        },
    )
    claim = phone.mutation("job.unable_to_complete", job_id, {"reason": "customer_not_home"})
    claim["device_time"] = (t0 + timedelta(minutes=minutes_on_site)).isoformat()
    return phone.push([checkin, claim])


def _verdicts(client, job_id: str) -> dict[str, bool]:
    r = client.get(f"/jobs/{job_id}/verdicts", headers=login(client, "auditor"))
    assert r.status_code == 200, r.text
    [claim] = r.json()
    assert claim["claim_type"] == "customer_not_home"
    return {v["code"]: v["passed"] for v in claim["verdicts"]}


def test_not_home_at_the_door_for_fifteen_minutes(client, world):
    desk = login(client, "dispatcher")
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    res = _not_home(phone, job["id"], lat=30.2791, lon=120.1301, minutes_on_site=15)
    assert [o["status"] for o in res["outcomes"]] == ["applied", "applied"]
    got = _verdicts(client, job["id"])
    assert got["geofence_pass"] is True and got["min_time_on_site"] is True
    # no calls and no door photo were sent: the claim stands, with those rules failed
    assert got["min_call_attempts"] is False and got["door_photo_on_site"] is False


def test_not_home_three_km_away_after_two_minutes(client, world):
    desk = login(client, "dispatcher")
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    _not_home(phone, job["id"], lat=30.3060, lon=120.1300, minutes_on_site=2)
    got = _verdicts(client, job["id"])
    assert got == {
        "geofence_pass": False,
        "min_time_on_site": False,
        "min_call_attempts": False,
        "door_photo_on_site": False,
    }
    assert client.get(f"/jobs/{job['id']}", headers=desk).json()["status"] == "unable_to_complete"


def test_rules_are_configurable_and_reach_the_packet(client, world):
    desk, admin = login(client, "dispatcher"), login(client, "admin")
    job = make_job(client, desk, world)
    r = client.put(
        "/evidence-rules/customer_not_home",
        headers=admin,
        json={
            "rules": [
                {"code": "geofence_pass", "label": "At the door"},
                {"code": "min_time_on_site", "label": "20 minutes", "minutes": 20},
            ]
        },
    )
    assert r.status_code == 200 and r.json()["version"] == 1
    phone = Phone(client, "tech1")
    phone.pull_all()
    rules = phone.packets()[job["id"]]["evidence_rules"]["customer_not_home"]
    assert [x["code"] for x in rules] == ["geofence_pass", "min_time_on_site"]
    _not_home(phone, job["id"], lat=30.2791, lon=120.1301, minutes_on_site=15)
    assert _verdicts(client, job["id"]) == {"geofence_pass": True, "min_time_on_site": False}
    assert_error(
        client.put(
            "/evidence-rules/customer_not_home", headers=admin, json={"rules": [{"code": "vibes"}]}
        ),
        422,
        "unknown_rule",
    )
    assert_error(
        client.put("/evidence-rules/teleported", headers=admin, json={"rules": []}),
        422,
        "unknown_claim_type",
    )
    assert_error(
        client.put("/evidence-rules/completed", headers=desk, json={"rules": []}),
        403,
        "role_forbidden",
    )


def test_technicians_cannot_read_verdicts(client, world):
    desk = login(client, "dispatcher")
    job = make_job(client, desk, world)
    assert_error(
        client.get(f"/jobs/{job['id']}/verdicts", headers=login(client, "tech1")),
        403,
        "role_forbidden",
    )


def test_genuine_not_home_passes_every_rule_and_a_fabricated_one_fails_each(client, world):
    """The two claims a callback auditor must tell apart (issue 4, done-when)."""
    from client_sdk.uploads import upload_blob
    from fixtures.photos import make_jpeg

    desk = login(client, "dispatcher")
    genuine_job, fake_job = make_job(client, desk, world), make_job(client, desk, world)
    phone = Phone(client, "tech1")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)

    def at(minutes: float) -> str:
        return (t0 + timedelta(minutes=minutes)).isoformat()

    door = make_jpeg(
        width=640,
        height=480,
        seed=3,
        taken_at=t0 + timedelta(minutes=8),
        latitude=30.2791,
        longitude=120.1301,
    )
    sha = upload_blob(client, door, "image/jpeg", headers=phone.headers, sleep=lambda _s: None)
    evidence = [
        phone.mutation(
            "job.check_in",
            genuine_job["id"],
            {
                "checkin_id": str(uuid.uuid4()),
                "latitude": 30.2791,
                "longitude": 120.1301,
                "accuracy_m": 6,
                "fix_time": at(0),
            },
        ),
        phone.mutation(
            "job.call_attempt",
            genuine_job["id"],
            {
                "call_id": str(uuid.uuid4()),
                "started_at": at(3),
                "outcome": "no_answer",
                "duration_s": 40,
            },
        ),
        phone.mutation(
            "job.call_attempt",
            genuine_job["id"],
            {
                "call_id": str(uuid.uuid4()),
                "started_at": at(6),
                "outcome": "no_answer",
                "duration_s": 35,
            },
        ),
        phone.mutation(
            "job.photo",
            genuine_job["id"],
            {"photo_id": str(uuid.uuid4()), "sha256": sha, "kind": "door"},
        ),
    ]
    claim = phone.mutation(
        "job.unable_to_complete", genuine_job["id"], {"reason": "customer_not_home"}
    )
    claim["device_time"] = at(15)
    res = phone.push([*evidence, claim])
    assert [o["status"] for o in res["outcomes"]] == ["applied"] * 5, res
    assert all(_verdicts(client, genuine_job["id"]).values())

    _not_home(phone, fake_job["id"], lat=30.3060, lon=120.1300, minutes_on_site=1)
    assert not any(_verdicts(client, fake_job["id"]).values())
