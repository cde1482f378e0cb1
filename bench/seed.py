"""The benchmark's world, made in a temporary folder through the real app's HTTP API.

``tests/world.py`` puts the first users, cities, providers and a customer straight into a
migrated database (the API cannot create its own first admin); everything else goes
through HTTP as a dispatcher, an admin and two technicians' phones would send it:
customers with an appliance each, knowledge articles, earlier completed visits (so the
packets carry a service history), then the technician's open jobs, assigned and booked.
Only the operations appended after the saved cursor go straight through ``sync.buckets``
(see ``_append_ops``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import msgspec

from server.db.engine import Database

__all__ = ["BenchWorld", "Sizes", "login", "seed"]

Headers = dict[str, str]


@dataclass(frozen=True, slots=True)
class Sizes:
    jobs: int = 50
    """Open jobs assigned to the technician (one packet each in the bucket)."""
    customers: int = 10
    """Customers (one appliance each) the jobs are spread over."""
    past_visits: int = 2
    """Completed visits per appliance, by another technician (the service history)."""
    articles: int = 3
    """Knowledge articles for the appliances' category (``kb_article`` entities)."""
    ops: int = 500
    """Operations appended to the bucket after the saved cursor (new packet revisions)."""
    mutations: int = 50
    """``job.note`` mutations per push."""


@dataclass(slots=True)
class BenchWorld:
    technician_id: uuid.UUID
    phone: Headers
    """The technician's access token, bound to ``device_id``."""
    device_id: uuid.UUID
    baseline_device_id: uuid.UUID
    """A second enrolled device of the technician, written to by the raw push baseline
    (its own ledger chain, so the app's chain stays intact)."""
    job_ids: list[uuid.UUID]
    entities: int
    """Documents in the bucket (packets and articles)."""
    cursor_before_ops: str
    """A cursor taken just before the ``Sizes.ops`` appended operations."""
    cursor_head: str
    """A cursor at the bucket's head."""
    head_before_ops: int
    """The bucket version ``cursor_before_ops`` stands at."""
    head: int
    mid: int = 0
    """The device's last mutation number (pushes continue from it)."""


def _ok(r: httpx.Response, status: int = 200) -> Any:
    if r.status_code != status:
        raise RuntimeError(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}")
    return r.json() if r.content else None


async def login(
    client: httpx.AsyncClient, username: str, password: str, device_id: uuid.UUID | None = None
) -> Headers:
    body: dict[str, Any] = {"username": username, "password": password}
    if device_id is not None:
        body["device_id"] = str(device_id)
    token = _ok(await client.post("/auth/login", json=body))["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def _enroll(client: httpx.AsyncClient, headers: Headers, label: str) -> uuid.UUID:
    body = {"label": label, "platform": "android", "app_version": "1.0.0"}
    r = await client.post("/sync/v1/devices", json=body, headers=headers)
    return uuid.UUID(_ok(r, 201)["device_id"])


def _window(start: datetime) -> dict[str, str]:
    return {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=2)).isoformat(),
    }


def mutation(mid: int, name: str, job_id: uuid.UUID, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "mid": mid,
        "id": str(uuid.uuid4()),
        "name": name,
        "job_id": str(job_id),
        "args": args,
        "device_time": datetime.now(UTC).isoformat(),
    }


def push_body(device_id: uuid.UUID, mutations: list[dict[str, Any]]) -> bytes:
    return msgspec.json.encode(
        {
            "device_id": str(device_id),
            "schema_version": 1,
            "device_time": datetime.now(UTC).isoformat(),
            "mutations": mutations,
        }
    )


async def _push(
    client: httpx.AsyncClient, headers: Headers, device_id: uuid.UUID, ms: list[dict[str, Any]]
) -> None:
    r = await client.post(
        "/sync/v1/push",
        content=push_body(device_id, ms),
        headers={**headers, "Content-Type": "application/json"},
    )
    outcomes = _ok(r)["outcomes"]
    bad = [o for o in outcomes if o["status"] not in ("applied", "resolved")]
    if bad:
        raise RuntimeError(f"seeding push refused: {bad[:3]}")


async def _pull_to_head(
    client: httpx.AsyncClient, phone: Headers, cursor: str | None
) -> tuple[str, int, int]:
    """Pull until ``has_more`` is false; the cursor, the head and the documents seen."""
    seen: set[tuple[str, str]] = set()
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = _ok(await client.get("/sync/v1/pull", params=params, headers=phone))
        for op in page["ops"]:
            if op["op"] == "put":
                seen.add((op["type"], op["id"]))
            else:
                seen.discard((op["type"], op["id"]))
        cursor = page["cursor"]
        if not page["has_more"]:
            return page["cursor"], page["bucket_version"], len(seen)


async def _append_ops(
    db: Database, technician_id: uuid.UUID, job_ids: list[uuid.UUID], count: int
) -> None:
    """``count`` puts of the jobs' packets, round-robin, each a new revision (as if each
    job had been rescheduled ``count / len(job_ids)`` times), through ``sync.buckets``.

    Not through the API: a reschedule costs tens of milliseconds of CPU (it rebuilds the
    packet), and 500 of them would dominate the setup."""
    from sync.buckets import Change, write
    from sync.packets import JOB_PACKET, build_packets, packet_doc

    async with db.writer() as s:
        packets = await build_packets(s, job_ids, date.today())
        for start in range(0, count, len(job_ids)):
            changes = []
            for k in range(start, min(count, start + len(job_ids))):
                job_id = job_ids[k % len(job_ids)]
                rev = k // len(job_ids) + 1
                doc = packet_doc(packets[job_id])
                doc["job"]["version"] += rev
                doc["job"]["description"] += f" (rescheduled {rev}x)"
                changes.append(Change("put", JOB_PACKET, job_id, doc))
            await write(s, {technician_id: changes})
        await s.commit()


async def seed(
    client: httpx.AsyncClient,
    db: Database,
    ids: dict[str, uuid.UUID],
    password: str,
    sizes: Sizes,
) -> BenchWorld:
    """Fill the app behind ``client`` (running, its database ``db``) from the
    ``tests/world.py`` world whose ids are ``ids``."""
    admin = await login(client, "admin", password)
    desk = await login(client, "dispatcher", password)
    category = "water_heater"

    for i in range(sizes.articles):
        body = {
            "category": category,
            "title": f"Water heater procedure {i + 1}",
            "body": "1. Turn off the power and the water inlet.\n" * 40,
        }
        _ok(await client.post("/kb-articles", json=body, headers=admin), 201)

    appliances: list[uuid.UUID] = []
    customer_of: list[str] = []
    for i in range(sizes.customers):
        customer = _ok(
            await client.post(
                "/customers",
                json={
                    "name": f"Customer {i + 1}",
                    "phones": [
                        {"number": f"+86 139 0000 {i:04d}"},
                        {"number": f"+86 571 8888 {i:04d}", "label": "home"},
                    ],
                    "address": f"Room {100 + i}, {i + 1} Wensan Road, Xihu District",
                    "city_id": str(ids["hangzhou"]),
                    "latitude": 30.27 + i / 1000,
                    "longitude": 120.13 + i / 1000,
                    "notes": "Call before 6 pm; the doorbell does not work.",
                },
                headers=desk,
            ),
            201,
        )
        appliance = _ok(
            await client.post(
                f"/customers/{customer['id']}/appliances",
                json={
                    "category": category,
                    "brand": "Haier",
                    "model": "DH-60",
                    "serial": f"SN-BENCH-{i:04d}",
                    "install_date": "2025-03-01",
                    "warranty_end": "2028-03-01",
                    "installer_id": str(ids["tech1b"]),
                },
                headers=desk,
            ),
            201,
        )
        appliances.append(uuid.UUID(appliance["id"]))
        customer_of.append(customer["id"])

    now = datetime.now(UTC).replace(microsecond=0)

    async def make_job(appliance_index: int, tech: str, start: datetime) -> uuid.UUID:
        job = _ok(
            await client.post(
                "/jobs",
                json={
                    "customer_id": customer_of[appliance_index],
                    "appliance_id": str(appliances[appliance_index]),
                    "kind": "repair",
                    "description": "No hot water since Monday; the unit shows E4.",
                    **_window(start),
                },
                headers=desk,
            ),
            201,
        )
        _ok(
            await client.post(
                f"/jobs/{job['id']}/assign",
                json={"provider_id": str(ids["p1"]), "technician_id": str(ids[tech])},
                headers=desk,
            )
        )
        return uuid.UUID(job["id"])

    # Earlier visits, completed through the other technician's phone: service history.
    if sizes.past_visits:
        other = await login(client, "tech1b", password)
        other_device = await _enroll(client, other, "bench other phone")
        other = await login(client, "tech1b", password, other_device)
        mid = 0
        for v in range(sizes.past_visits):
            for i in range(len(appliances)):
                job = await make_job(i, "tech1b", now + timedelta(hours=1 + v))
                ms = []
                for name, args in (
                    ("job.acknowledge", {}),
                    ("job.en_route", {}),
                    ("job.check_in", {"checkin_id": str(uuid.uuid4())}),
                    ("job.start_work", {}),
                    ("job.complete", {"summary": f"Replaced the heating element (visit {v})."}),
                ):
                    mid += 1
                    ms.append(mutation(mid, name, job, args))
                await _push(client, other, other_device, ms)

    job_ids = [
        await make_job(j % len(appliances), "tech1", now + timedelta(days=1, hours=j))
        for j in range(sizes.jobs)
    ]

    tech = await login(client, "tech1", password)
    device_id = await _enroll(client, tech, "bench phone")
    baseline_device_id = await _enroll(client, tech, "bench baseline phone")
    phone = await login(client, "tech1", password, device_id)

    cursor_before_ops, head_before, entities = await _pull_to_head(client, phone, None)
    await _append_ops(db, ids["tech1"], job_ids, sizes.ops)
    cursor_head, head, _ = await _pull_to_head(client, phone, cursor_before_ops)
    if head - head_before != sizes.ops:
        raise RuntimeError(
            f"expected {sizes.ops} new operations, the bucket has {head - head_before}"
        )
    return BenchWorld(
        technician_id=ids["tech1"],
        phone=phone,
        device_id=device_id,
        baseline_device_id=baseline_device_id,
        job_ids=job_ids,
        entities=entities,
        cursor_before_ops=cursor_before_ops,
        cursor_head=cursor_head,
        head_before_ops=head_before,
        head=head,
    )
