"""The sync protocol through HTTP: enrol, pull, push, conflicts and bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from world import assert_error, login


def _window(hours: float = 24) -> dict[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)
    return {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=2)).isoformat(),
    }


@pytest.fixture
def desk(client, world):
    return login(client, "dispatcher")


def make_job(client, desk, world, tech="tech1", **over):
    body = {
        "customer_id": str(world["customer1"]),
        "kind": "repair",
        "appliance_id": str(world["appliance1"]),
        **_window(),
        **over,
    }
    job = client.post("/jobs", json=body, headers=desk).json()
    if tech:
        r = client.post(
            f"/jobs/{job['id']}/assign",
            json={"provider_id": str(world["p1"]), "technician_id": str(world[tech])},
            headers=desk,
        )
        assert r.status_code == 200, r.text
        job = r.json()
    return job


class Phone:
    """A minimal phone for these tests (the real one is client_sdk)."""

    def __init__(self, client, username: str) -> None:
        self.client = client
        self.headers = login(client, username)
        r = client.post(
            "/sync/v1/devices", json={"label": "test", "platform": "android"}, headers=self.headers
        )
        assert r.status_code == 201, r.text
        self.device_id = r.json()["device_id"]
        self.mid = 0
        self.cursor = None
        self.docs: dict[tuple[str, str], dict] = {}

    def pull_all(self) -> dict:
        while True:
            params = {"device_id": self.device_id}
            if self.cursor:
                params["cursor"] = self.cursor
            r = self.client.get("/sync/v1/pull", params=params, headers=self.headers)
            assert r.status_code == 200, r.text
            page = r.json()
            if page["reset"]:
                self.docs.clear()
                self.cursor = None
                continue
            for op in page["ops"]:
                if op["op"] == "put":
                    self.docs[(op["type"], op["id"])] = op["doc"]
                else:
                    self.docs.pop((op["type"], op["id"]), None)
            self.cursor = page["cursor"]
            if not page["has_more"]:
                return page

    def mutation(self, name: str, job_id: str | None, args: dict | None = None, **extra) -> dict:
        self.mid += 1
        return {
            "mid": self.mid,
            "id": str(uuid.uuid4()),
            "name": name,
            "job_id": job_id,
            "args": args or {},
            "device_time": datetime.now(UTC).isoformat(),
            **extra,
        }

    def push(self, mutations: list[dict], expect: int = 200):
        r = self.client.post(
            "/sync/v1/push",
            json={
                "device_id": self.device_id,
                "schema_version": 1,
                "device_time": datetime.now(UTC).isoformat(),
                "mutations": mutations,
            },
            headers=self.headers,
        )
        assert r.status_code == expect, r.text
        return r.json()

    def packets(self) -> dict[str, dict]:
        return {i: d for (t, i), d in self.docs.items() if t == "job_packet"}


def test_snapshot_contains_assigned_jobs_with_everything_offline(client, world, desk):
    job = make_job(client, desk, world)
    other = make_job(client, desk, world, tech="tech1b")
    phone = Phone(client, "tech1")
    phone.pull_all()
    packets = phone.packets()
    assert set(packets) == {job["id"]}
    p = packets[job["id"]]
    assert p["customer"]["name"] == "Li Wei" and p["customer"]["phones"][0]["number"]
    assert p["customer"]["latitude"] == pytest.approx(30.279)
    assert p["appliance"]["serial"] == "SN-HZ-0001" and p["appliance"]["in_warranty"] is True
    assert p["fee_policy"]["visit_fee"] == 3000
    assert "customer_not_home" in p["evidence_rules"]
    assert other["id"] not in packets


def test_reassignment_moves_packet_between_buckets(client, world, desk):
    job = make_job(client, desk, world)
    a, b = Phone(client, "tech1"), Phone(client, "tech1b")
    a.pull_all()
    b.pull_all()
    assert job["id"] in a.packets() and job["id"] not in b.packets()
    client.post(
        f"/jobs/{job['id']}/assign",
        json={"provider_id": str(world["p1"]), "technician_id": str(world["tech1b"])},
        headers=desk,
    )
    a.pull_all()
    b.pull_all()
    assert job["id"] not in a.packets()
    assert job["id"] in b.packets()


def test_push_lifecycle_applies_in_order_and_duplicates(client, world, desk):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    phone.pull_all()
    ms = [
        phone.mutation("job.acknowledge", job["id"]),
        phone.mutation("job.en_route", job["id"]),
        phone.mutation(
            "job.check_in",
            job["id"],
            {"checkin_id": str(uuid.uuid4()), "latitude": 30.279, "longitude": 120.13},
        ),
        phone.mutation("job.start_work", job["id"]),
        phone.mutation(
            "job.note", job["id"], {"note_id": str(uuid.uuid4()), "text": "replaced valve"}
        ),
        phone.mutation("job.complete", job["id"], {"summary": "replaced the valve"}),
    ]
    res = phone.push(ms)
    assert [o["status"] for o in res["outcomes"]] == ["applied"] * 6
    assert res["last_applied_mid"] == 6
    assert client.get(f"/jobs/{job['id']}", headers=desk).json()["status"] == "completed"
    # the same push again: all duplicates, nothing changes
    again = phone.push(ms)
    assert [o["status"] for o in again["outcomes"]] == ["duplicate"] * 6
    assert all(o["first_status"] == "applied" for o in again["outcomes"])
    page = phone.pull_all()
    assert page["last_applied_mid"] == 6
    assert phone.packets()[job["id"]]["job"]["status"] == "completed"


def test_gap_refused_with_expected_mid(client, world, desk):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    phone.mid = 4
    body = assert_error(
        phone.client.post(
            "/sync/v1/push",
            json={
                "device_id": phone.device_id,
                "schema_version": 1,
                "device_time": None,
                "mutations": [phone.mutation("job.acknowledge", job["id"])],
            },
            headers=phone.headers,
        ),
        409,
        "mid_gap",
    )
    assert body["details"]["expected_mid"] == 1


def test_rejections_advance_the_queue(client, world, desk):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    res = phone.push(
        [
            phone.mutation("job.teleport", job["id"]),
            phone.mutation("job.note", job["id"], {"note_id": "not-a-uuid", "text": "x"}),
            phone.mutation("job.complete", job["id"]),  # illegal from assigned
            phone.mutation("job.acknowledge", str(uuid.uuid4())),
            phone.mutation("job.acknowledge", job["id"]),
        ]
    )
    codes = [(o["status"], o.get("code")) for o in res["outcomes"]]
    assert codes == [
        ("rejected", "unknown_mutation"),
        ("rejected", "invalid_arguments"),
        ("rejected", "illegal_transition"),
        ("rejected", "job_not_found"),
        ("applied", None),
    ]
    assert res["last_applied_mid"] == 5


def test_job_never_had_is_rejected(client, world, desk):
    theirs = make_job(client, desk, world, tech="tech1b")
    phone = Phone(client, "tech1")
    res = phone.push([phone.mutation("job.acknowledge", theirs["id"])])
    assert res["outcomes"][0]["code"] == "job_not_yours"
    assert client.get(f"/jobs/{theirs['id']}", headers=desk).json()["status"] == "assigned"


def test_reassigned_meanwhile_facts_kept_moves_rejected(client, world, desk):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    phone.pull_all()
    client.post(
        f"/jobs/{job['id']}/assign",
        json={"provider_id": str(world["p1"]), "technician_id": str(world["tech1b"])},
        headers=desk,
    )
    res = phone.push(
        [
            phone.mutation("job.acknowledge", job["id"]),
            phone.mutation(
                "job.note", job["id"], {"note_id": str(uuid.uuid4()), "text": "customer not in"}
            ),
        ]
    )
    assert (
        res["outcomes"][0]["status"] == "rejected"
        and res["outcomes"][0]["code"] == "job_reassigned"
    )
    assert res["outcomes"][1]["status"] == "applied" and res["outcomes"][1]["flags"] == [
        "after_reassignment"
    ]


def test_cursor_from_another_technician_refused(client, world, desk):
    make_job(client, desk, world)
    a, b = Phone(client, "tech1"), Phone(client, "tech1b")
    a.pull_all()
    assert_error(
        client.get("/sync/v1/pull", params={"cursor": a.cursor}, headers=b.headers),
        422,
        "cursor_foreign",
    )
    assert_error(
        client.get("/sync/v1/pull", params={"cursor": "garbage.x"}, headers=b.headers),
        422,
        "cursor_invalid",
    )


def test_mid_from_another_device_refused(client, world, desk):
    job = make_job(client, desk, world)
    a, b = Phone(client, "tech1"), Phone(client, "tech1b")
    r = client.post(
        "/sync/v1/push",
        json={
            "device_id": a.device_id,
            "schema_version": 1,
            "device_time": None,
            "mutations": [b.mutation("job.acknowledge", job["id"])],
        },
        headers=b.headers,
    )
    assert_error(r, 403, "device_not_enrolled")


def test_desk_roles_cannot_sync(client, world, desk):
    assert_error(client.get("/sync/v1/pull", headers=desk), 403, "role_forbidden")


def _run_db(url, fn):
    import asyncio

    from server.db.engine import make_database

    async def go():
        db = make_database(url)
        try:
            return await fn(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_closed_job_packet_leaves_phone_after_retention(client, world, desk, database_url):
    from sync.maintenance import sweep

    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    phone.pull_all()
    client.post(f"/jobs/{job['id']}/cancel", json={"reason": "customer returned it"}, headers=desk)
    phone.pull_all()
    assert phone.packets()[job["id"]]["job"]["status"] == "cancelled"  # still there, for now
    now = datetime.now(UTC)
    assert _run_db(
        database_url, lambda db: sweep(db, now=now, retention=timedelta(hours=24), keep=10**6)
    ) == (0, 0)
    later = now + timedelta(hours=25)
    removed, _ = _run_db(
        database_url, lambda db: sweep(db, now=later, retention=timedelta(hours=24), keep=10**6)
    )
    assert removed == 1
    phone.pull_all()
    assert job["id"] not in phone.packets()


def test_compacted_log_answers_reset_and_phone_recovers(client, world, desk, database_url):
    from sync.maintenance import sweep

    first = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    phone.pull_all()
    old_cursor = phone.cursor
    second = make_job(client, desk, world)
    _run_db(
        database_url,
        lambda db: sweep(db, now=datetime.now(UTC), retention=timedelta(hours=24), keep=0),
    )
    r = client.get("/sync/v1/pull", params={"cursor": old_cursor}, headers=phone.headers).json()
    assert r["reset"] is True and r["ops"] == []
    phone.pull_all()  # handles the reset: drops everything, pulls a snapshot
    assert set(phone.packets()) == {first["id"], second["id"]}


def test_snapshot_pages_and_incremental_agree(client, world, desk):
    jobs = [make_job(client, desk, world) for _ in range(5)]
    phone = Phone(client, "tech1")
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": phone.cursor} if phone.cursor else {})}
        page = client.get("/sync/v1/pull", params=params, headers=phone.headers).json()
        pages += 1
        for op in page["ops"]:
            phone.docs[(op["type"], op["id"])] = op["doc"]
        phone.cursor = page["cursor"]
        if not page["has_more"]:
            break
    assert pages >= 3
    assert set(phone.packets()) == {j["id"] for j in jobs}
    # nothing new: an empty incremental pull
    page = client.get(
        "/sync/v1/pull", params={"cursor": phone.cursor}, headers=phone.headers
    ).json()
    assert page["ops"] == [] and page["has_more"] is False


def test_customer_and_appliance_edits_reach_the_phone(client, world, desk):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    phone.pull_all()
    r = client.patch(
        f"/customers/{world['customer1']}", json={"address": "Room 808, 1 New Road"}, headers=desk
    )
    assert r.status_code == 200, r.text
    r = client.patch(
        f"/appliances/{world['appliance1']}", json={"serial": "SN-NEW-42"}, headers=desk
    )
    assert r.status_code == 200, r.text
    phone.pull_all()
    packet = phone.packets()[job["id"]]
    assert packet["customer"]["address"] == "Room 808, 1 New Road"
    assert packet["appliance"]["serial"] == "SN-NEW-42"


def test_phone_serial_correction_last_write_wins_and_history_keeps_loser(client, world, desk):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    phone.pull_all()
    res = phone.push(
        [
            phone.mutation(
                "appliance.set_serial",
                job["id"],
                {"appliance_id": str(world["appliance1"]), "serial": "SN-FIXED-1"},
            )
        ]
    )
    assert res["outcomes"][0]["status"] == "applied"
    assert (
        client.get(f"/appliances/{world['appliance1']}", headers=desk).json()["serial"]
        == "SN-FIXED-1"
    )
    events = client.get(f"/jobs/{job['id']}/history", headers=desk).json()
    change = next(e for e in events if e["kind"] == "appliance_serial_set")
    assert change["data"]["before"] == "SN-HZ-0001" and change["data"]["serial"] == "SN-FIXED-1"


def test_policy_checklist_and_article_changes_reach_the_phone(client, world, desk):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    phone.pull_all()
    admin = login(client, "admin")
    r = client.put(
        f"/cities/{world['hangzhou']}/fee-policy",
        headers=admin,
        json={
            "currency": "CNY",
            "visit_fee": 4500,
            "visit_fee_in_warranty": False,
            "items": [],
            "very_satisfied_bonus": 1000,
            "false_report_fine": 200000,
        },
    )
    assert r.status_code == 200, r.text
    r = client.put(
        "/checklists/repair",
        headers=admin,
        json={"items": [{"code": "shoe_covers", "label": "Wore shoe covers", "required": True}]},
    )
    assert r.status_code == 200, r.text
    r = client.post(
        "/kb-articles",
        headers=admin,
        json={
            "category": "water_heater",
            "title": "E4: no ignition",
            "body": "Check the gas valve.",
        },
    )
    assert r.status_code == 201, r.text
    article_id = r.json()["id"]
    phone.pull_all()
    packet = phone.packets()[job["id"]]
    assert packet["fee_policy"]["visit_fee"] == 4500
    assert [i["code"] for i in packet["checklist"]["items"]] == ["shoe_covers"]
    assert article_id in [a["id"] for a in packet["kb_articles"]]
    assert phone.docs[("kb_article", article_id)]["body"] == "Check the gas valve."
    r = client.put(
        f"/kb-articles/{article_id}",
        headers=admin,
        json={
            "category": "water_heater",
            "title": "E4: no ignition",
            "body": "Check the gas valve first.",
        },
    )
    assert r.status_code == 200, r.text
    phone.pull_all()
    assert phone.docs[("kb_article", article_id)]["body"] == "Check the gas valve first."


def test_revoked_device_can_neither_pull_nor_push(client, world, desk):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    phone.pull_all()
    admin = login(client, "admin")
    assert client.post(f"/devices/{phone.device_id}/revoke", headers=admin).status_code == 200
    assert_error(
        client.get("/sync/v1/pull", params={"device_id": phone.device_id}, headers=phone.headers),
        403,
        "device_revoked",
    )
    r = client.post(
        "/sync/v1/push",
        headers=phone.headers,
        json={
            "device_id": phone.device_id,
            "schema_version": 1,
            "device_time": None,
            "mutations": [phone.mutation("job.acknowledge", job["id"])],
        },
    )
    assert_error(r, 403, "device_revoked")
    # a token bound to the revoked device is refused outright
    bound = client.post(
        "/auth/login",
        json={
            "username": "tech1",
            "password": "correct horse battery",
            "device_id": phone.device_id,
        },
    )
    assert bound.status_code == 401 and bound.json()["code"] == "device_revoked"
    assert client.get(f"/jobs/{job['id']}", headers=desk).json()["status"] == "assigned"


def test_bad_signature_is_rejected_recorded_and_blocks_nothing_genuine(client, world, desk):
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from sync.signing import sign

    job = make_job(client, desk, world)
    key = Ed25519PrivateKey.generate()
    pub = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    headers = login(client, "tech1")
    device = client.post("/sync/v1/devices", json={"public_key": pub}, headers=headers).json()[
        "device_id"
    ]
    m = {
        "mid": 1,
        "id": str(uuid.uuid4()),
        "name": "job.acknowledge",
        "job_id": job["id"],
        "args": {},
    }
    forged = {**m, "signature": sign(Ed25519PrivateKey.generate(), m)}
    body = {"device_id": device, "schema_version": 1, "device_time": None}
    r = client.post("/sync/v1/push", json={**body, "mutations": [forged]}, headers=headers).json()
    assert r["outcomes"][0]["code"] == "bad_signature" and r["last_applied_mid"] == 0
    genuine = {**m, "signature": sign(key, m)}
    r = client.post("/sync/v1/push", json={**body, "mutations": [genuine]}, headers=headers).json()
    assert r["outcomes"][0]["status"] == "applied" and r["last_applied_mid"] == 1
    rows = client.get(
        "/audit/ledger", params={"device_id": device}, headers=login(client, "auditor")
    ).json()
    assert [(x["outcome"], x["signature_status"]) for x in rows] == [
        ("rejected", "invalid"),
        ("applied", "valid"),
    ]


def test_a_keyed_device_must_sign_every_mutation(client, world, desk):
    """A stolen access token is not enough: an unsigned mutation from a device enrolled
    with a key is rejected ``signature_required``, recorded, and uses up its mid."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from sync.signing import sign

    job = make_job(client, desk, world)
    key = Ed25519PrivateKey.generate()
    pub = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    headers = login(client, "tech1")
    enrolled = client.post("/sync/v1/devices", json={"public_key": pub}, headers=headers).json()
    assert enrolled["signature_alg"] == "ed25519-jcs"
    device = enrolled["device_id"]
    body = {"device_id": device, "schema_version": 1, "device_time": None}

    def m(mid: int, name: str) -> dict:
        return {"mid": mid, "id": str(uuid.uuid4()), "name": name, "job_id": job["id"], "args": {}}

    def signed(mutation: dict) -> dict:
        return {**mutation, "signature": sign(key, mutation)}

    unsigned = m(1, "job.acknowledge")
    note = {**m(2, "job.note"), "args": {"note_id": str(uuid.uuid4()), "text": "客户不在家\u2028/"}}
    r = client.post(
        "/sync/v1/push", json={**body, "mutations": [unsigned, signed(note)]}, headers=headers
    ).json()
    assert [(o["status"], o.get("code")) for o in r["outcomes"]] == [
        ("rejected", "signature_required"),
        ("applied", None),
    ]
    assert r["last_applied_mid"] == 2
    assert client.get(f"/jobs/{job['id']}", headers=desk).json()["status"] == "assigned"
    # floats as JCS writes them (5.0 is signed as 5, 0.0000099 as 0.0000099)
    check_in = {
        **m(5, "job.check_in"),
        "args": {
            "checkin_id": str(uuid.uuid4()),
            "latitude": 30.2791,
            "longitude": 120.1301,
            "accuracy_m": 5.0,
        },
        "extra": [0.0000099, 1e21, -0.0],
    }
    r = client.post(
        "/sync/v1/push",
        json={
            **body,
            "mutations": [
                signed(m(3, "job.acknowledge")),
                signed(m(4, "job.en_route")),
                signed(check_in),
            ],
        },
        headers=headers,
    ).json()
    assert [o["status"] for o in r["outcomes"]] == ["applied"] * 3, r
    assert r["last_applied_mid"] == 5
    rows = client.get(
        "/audit/ledger", params={"device_id": device}, headers=login(client, "auditor")
    ).json()
    assert [(x["outcome"], x["code"], x["signature_status"]) for x in rows] == [
        ("rejected", "signature_required", "absent"),
        ("applied", None, "valid"),
        ("applied", None, "valid"),
        ("applied", None, "valid"),
        ("applied", None, "valid"),
    ]
    # a device without a key may still push unsigned mutations (no key, nothing to check)
    keyless = client.post("/sync/v1/devices", json={}, headers=headers).json()
    assert keyless["signature_alg"] is None


def test_check_in_gets_distance_geofence_and_travel_flags(client, world, desk, database_url):
    from sqlalchemy import select
    from world import run_db

    from server.db.models import Checkin

    near, far = (
        make_job(client, desk, world),
        make_job(client, desk, world, window_start=None, window_end=None),
    )
    phone = Phone(client, "tech1")
    t0 = datetime.now(UTC).replace(microsecond=0)
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    res = phone.push(
        [
            phone.mutation(
                "job.check_in",
                near["id"],
                {
                    "checkin_id": a,
                    "latitude": 30.2791,
                    "longitude": 120.1301,
                    "accuracy_m": 8,
                    "fix_time": t0.isoformat(),
                },
            ),
            # ten minutes later, 3 km from the same customer
            phone.mutation(
                "job.check_in",
                far["id"],
                {
                    "checkin_id": b,
                    "latitude": 30.3060,
                    "longitude": 120.1300,
                    "accuracy_m": 8,
                    "fix_time": (t0 + timedelta(minutes=10)).isoformat(),
                },
            ),
            # and a minute after that, in Shanghai, with a mock location
            phone.mutation(
                "job.check_in",
                far["id"],
                {
                    "checkin_id": c,
                    "latitude": 31.2304,
                    "longitude": 121.4737,
                    "accuracy_m": 5,
                    "mock_location": True,
                    "fix_time": (t0 + timedelta(minutes=11)).isoformat(),
                },
            ),
        ]
    )
    assert [o["status"] for o in res["outcomes"]] == ["applied"] * 3
    rows = {str(r.id): r for r in run_db(database_url, lambda s: s.scalars(select(Checkin)))}
    assert rows[a].geofence == "pass" and rows[a].distance_m < 50
    assert rows[b].geofence == "fail" and 2_900 < rows[b].distance_m < 3_100
    assert "impossible_travel" not in rows[b].flags
    assert rows[c].geofence == "fail"
    assert {"impossible_travel", "mock_location"} <= set(rows[c].flags)


def test_device_time_far_in_the_future_is_recorded_and_flagged(client, world, desk):
    job = make_job(client, desk, world)
    phone = Phone(client, "tech1")
    m = phone.mutation("job.acknowledge", job["id"])
    m["device_time"] = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    res = phone.push([m])
    assert res["outcomes"][0]["status"] == "applied"  # recorded, not refused
    rows = client.get(
        "/audit/ledger", params={"device_id": phone.device_id}, headers=login(client, "auditor")
    ).json()
    assert rows[0]["detail"]["flags"] == ["device_time_in_future"]
    assert rows[0]["device_time"].startswith(m["device_time"][:16])
