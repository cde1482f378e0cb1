"""Customers' details stay where they belong.

- The logs of a whole working day (desk, phone, photos, service report, mistakes
  included) never contain a phone number, an address, a password, a token or photo
  bytes: in process with the root logger at DEBUG, and from a real server with its
  access log on.
- A closed job's customer details leave the phone after the retention period.
- A technician's pull never carries another technician's customer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import ServerProcess
from test_sync_api import Phone, _run_db
from world import PASSWORD, build_world

PHONE = "+86 138 2468 1357"
PHONE_FORMS = ["138 2468 1357", "13824681357", "8613824681357", "2468 1357", "24681357"]
ADDRESS = "77 Plum Blossom Lane, Shangcheng"
WORLD_SECRETS = ["139 1234 5678", "13912345678", "Wensan Road", "137 5555 0001", "Zhongshan Road"]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a record that cannot format still leaks its args
            text = f"{record.msg!r} {record.args!r}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name} {text}")


@pytest.fixture
def all_logs() -> Iterator[Collect]:
    root = logging.getLogger()
    handler = Collect()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _jpeg() -> bytes:
    from fixtures.photos import make_jpeg

    return make_jpeg(width=320, height=240, seed=11, quality=90, latitude=30.28, longitude=120.13)


def day(client: Any, world: Any) -> list[str]:
    """A working day through the API; the secrets it handled (tokens, photo bytes)."""
    secrets: list[str] = []

    def login(who: str, device: str | None = None) -> dict[str, str]:
        body: dict[str, Any] = {"username": who, "password": PASSWORD}
        if device:
            body["device_id"] = device
        pair = client.post("/auth/login", json=body).json()
        secrets.extend([pair["access_token"], pair["refresh_token"]])
        return {"Authorization": f"Bearer {pair['access_token']}"}

    desk = login("dispatcher")
    # mistakes that carry personal data: a wrong password, a bad customer, a bad lookup
    client.post("/auth/login", json={"username": "dispatcher", "password": "hunter2-" + PHONE})
    client.post(
        "/customers", json={"name": "X", "phones": [{"number": PHONE, "x": 1}]}, headers=desk
    )
    client.post("/customers", json={"name": "X", "phones": PHONE, "address": ADDRESS}, headers=desk)
    customer = client.post(
        "/customers",
        json={
            "name": "Chen Jing",
            "phones": [{"number": PHONE}],
            "address": ADDRESS,
            "city_id": str(world["hangzhou"]),
            "latitude": 30.25,
            "longitude": 120.17,
        },
        headers=desk,
    ).json()
    assert "id" in customer, customer
    client.get("/customers/lookup", params={"phone": PHONE}, headers=desk)
    client.get("/customers/lookup", params={"address": "Plum Blossom"}, headers=desk)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    job = client.post(
        "/jobs",
        json={
            "customer_id": customer["id"],
            "kind": "install",
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=2)).isoformat(),
            "description": f"Call {PHONE} at the gate of {ADDRESS}",
        },
        headers=desk,
    ).json()
    r = client.post(
        f"/jobs/{job['id']}/assign",
        json={"provider_id": str(world["p1"]), "technician_id": str(world["tech1"])},
        headers=desk,
    )
    assert r.status_code == 200, r.text

    plain = login("tech1")
    device = client.post("/sync/v1/devices", json={"label": "day"}, headers=plain).json()
    tech = login("tech1", device["device_id"])
    pulled = client.get("/sync/v1/pull", params={"device_id": device["device_id"]}, headers=tech)
    assert PHONE in pulled.text  # the phone does get it: that is the point of a packet
    photo = _jpeg()
    sha = hashlib.sha256(photo).hexdigest()
    half = len(photo) // 2
    for offset, part in ((0, photo[:half]), (half, photo[half:])):
        r = client.patch(
            f"/sync/v1/blobs/{sha}",
            content=part,
            headers={
                **tech,
                "Upload-Offset": str(offset),
                "Upload-Length": str(len(photo)),
                "Content-Type": "image/jpeg",
            },
        )
        assert r.status_code in (201, 204), r.text
    now = datetime.now(UTC).replace(microsecond=0)
    mutations = [
        ("job.acknowledge", {}),
        ("job.note", {"note_id": str(uuid.uuid4()), "text": f"Customer says call {PHONE}"}),
        (
            "job.check_in",
            {
                "checkin_id": str(uuid.uuid4()),
                "fix_time": now.isoformat(),
                "latitude": 30.25,
                "longitude": 120.17,
                "accuracy_m": 6,
            },
        ),
        ("job.photo", {"photo_id": str(uuid.uuid4()), "sha256": sha, "kind": "door"}),
        (
            "job.report",
            {"report_id": str(uuid.uuid4()), "work_done": f"Fixed; gate code at {ADDRESS}"},
        ),
        ("job.note", {"note_id": "not-a-uuid", "text": PHONE}),  # rejected, still no leak
    ]
    body = {
        "device_id": device["device_id"],
        "schema_version": 1,
        "device_time": now.isoformat(),
        "mutations": [
            {
                "mid": i + 1,
                "id": str(uuid.uuid4()),
                "name": name,
                "job_id": job["id"],
                "args": args,
                "device_time": now.isoformat(),
            }
            for i, (name, args) in enumerate(mutations)
        ],
    }
    r = client.post("/sync/v1/push", json=body, headers=tech)
    assert r.status_code == 200, r.text
    link = client.post(f"/jobs/{job['id']}/service-report/link", json={}, headers=desk).json()
    token = link["url"].rsplit("/", 1)[1]
    secrets.append(token)
    assert client.get(link["url"]).status_code == 200
    client.get(f"/jobs/{job['id']}/service-report.html", headers=desk)
    client.get(f"/sync/v1/blobs/{sha}", headers=desk)
    client.post("/auth/logout", json={"refresh_token": secrets[1]})
    chunk = photo[400:448]
    secrets += [chunk.hex(), base64.b64encode(chunk).decode(), repr(chunk)[2:-1][:40]]
    return secrets


def _assert_clean(text: str, secrets: list[str]) -> None:
    for marker in [PHONE, *PHONE_FORMS, ADDRESS, "Plum Blossom", "hunter2", *secrets]:
        assert marker not in text, f"the logs contain {marker[:24]!r}…"
    for marker in WORLD_SECRETS:
        assert marker not in text, f"the logs contain {marker!r}"


def test_logs_of_a_whole_day_hold_no_personal_data(
    client: Any, world: Any, all_logs: Collect
) -> None:
    secrets = day(client, world)
    # the test client's own request lines are not the server's logs
    server_lines = [line for line in all_logs.lines if not line.startswith("httpx ")]
    text = "\n".join(server_lines)
    assert len(server_lines) > 10, "nothing was logged: the capture is broken"
    _assert_clean(text, secrets)


def test_real_server_logs_hold_no_personal_data(database_url: str, tmp_path: Path) -> None:
    world = build_world(database_url)
    server = ServerProcess(
        {
            "DOORSTEP_DATABASE_URL": database_url,
            "DOORSTEP_SECRET_KEY": "privacy-test-secret-" + "x" * 48,
        },
        tmp_path,
        args=("--log-level", "debug", "--access-log"),
    )
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            secrets = day(c, world)
    finally:
        server.stop()
    text = server.log.read_text(errors="replace")
    assert '"GET /customers/lookup HTTP/1.1" 200' in text, "no access log: the capture is broken"
    assert "/service-reports/… HTTP/1.1" in text
    _assert_clean(text, secrets)


def test_closed_job_customer_details_leave_the_phone(
    client: Any, world: Any, database_url: str
) -> None:
    from sync.maintenance import sweep

    desk_pair = client.post("/auth/login", json={"username": "dispatcher", "password": PASSWORD})
    desk = {"Authorization": f"Bearer {desk_pair.json()['access_token']}"}
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    job = client.post(
        "/jobs",
        json={
            "customer_id": str(world["customer1"]),
            "kind": "install",
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=2)).isoformat(),
            "provider_id": str(world["p1"]),
            "technician_id": str(world["tech1"]),
        },
        headers=desk,
    ).json()
    phone = Phone(client, "tech1")
    phone.pull_all()
    assert "Wensan Road" in json.dumps(list(phone.docs.values()))
    client.post(f"/jobs/{job['id']}/cancel", json={"reason": "not needed"}, headers=desk)
    later = datetime.now(UTC) + timedelta(hours=25)
    _run_db(
        database_url, lambda db: sweep(db, now=later, retention=timedelta(hours=24), keep=10**6)
    )
    phone.pull_all()
    everything = json.dumps(list(phone.docs.values()))
    assert "Wensan Road" not in everything and "1234 5678" not in everything
    fresh = Phone(client, "tech1")  # a new phone's snapshot has none either
    fresh.pull_all()
    assert "Wensan Road" not in json.dumps(list(fresh.docs.values()))


def test_pull_carries_only_the_technicians_own_customers(client: Any, world: Any) -> None:
    desk_pair = client.post("/auth/login", json={"username": "dispatcher", "password": PASSWORD})
    desk = {"Authorization": f"Bearer {desk_pair.json()['access_token']}"}
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    window = {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=2)).isoformat(),
    }
    for customer, provider, tech in (
        ("customer1", "p1", "tech1"),
        ("customer1", "p1", "tech1b"),
        ("customer2", "p2", "tech2"),
    ):
        r = client.post(
            "/jobs",
            json={
                "customer_id": str(world[customer]),
                "kind": "install",
                **window,
                "provider_id": str(world[provider]),
                "technician_id": str(world[tech]),
            },
            headers=desk,
        )
        assert r.status_code == 201, r.text
    mine, colleague, other = Phone(client, "tech1"), Phone(client, "tech1b"), Phone(client, "tech2")
    for phone in (mine, colleague, other):
        phone.pull_all()
    assert len(mine.packets()) == len(colleague.packets()) == len(other.packets()) == 1
    assert set(mine.packets()).isdisjoint(colleague.packets())
    mine_text, other_text = (
        json.dumps(list(mine.docs.values())),
        json.dumps(list(other.docs.values())),
    )
    assert "Wensan Road" in mine_text and "Zhongshan Road" not in mine_text
    assert "5555 0001" not in mine_text and "Li Wei" in mine_text
    assert "Zhongshan Road" in other_text and "Wensan Road" not in other_text
    assert "Li Wei" not in other_text and "1234 5678" not in other_text
