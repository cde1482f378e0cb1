"""The demo brand: deterministic, covers every status and kind, respects who may work
where, keeps timestamps consistent with statuses, and loads into a migrated database."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from fixtures.demo import (
    DEMO_PASSWORD,
    DemoData,
    DemoSize,
    demo_logins,
    generate,
    is_loaded,
    load,
)
from fixtures.demo_data import CHINA_TZ
from server.db.base import Base
from server.db.engine import make_database
from server.db.migrate import upgrade
from server.db.models import Job, User
from server.jobs.lifecycle import can_move
from sync.vocabulary import JobKind, JobStatus, UnableReason

TODAY = date(2026, 11, 20)
TINY = DemoSize(
    cities=1,
    providers_per_city=1,
    technicians_per_provider=1,
    customers_per_city=1,
    days=1,
    jobs_per_technician_per_day=1,
)


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate(DemoSize(), today=TODAY)


@pytest.fixture(scope="module", params=["default", "tiny", "early-morning", "late-evening"])
def brand(request: pytest.FixtureRequest, data: DemoData) -> DemoData:
    """Brands whose invariants must hold whatever their size and the time of day."""
    if request.param == "default":
        return data
    if request.param == "tiny":
        return generate(TINY, today=TODAY)
    hour = 6 if request.param == "early-morning" else 21
    now = datetime(2026, 11, 20, hour, 30, tzinfo=CHINA_TZ)
    return generate(DemoSize(cities=2, days=3, seed=5), today=TODAY, now=now)


def _projection(d: DemoData) -> list[tuple[object, ...]]:
    return sorted(
        (j["id"], j["number"], j["status"], j["technician_id"], j["window_start"], j["version"])
        for j in d.jobs
    )


def test_same_seed_same_data(data: DemoData) -> None:
    again = generate(DemoSize(), today=TODAY)
    assert _projection(again) == _projection(data)
    assert again.tables() == data.tables()
    other = generate(DemoSize(seed=7), today=TODAY)
    assert _projection(other) != _projection(data)


def test_ids_are_unique_version_4_uuids(data: DemoData) -> None:
    ids = [row["id"] for _, rows in data.tables() for row in rows if "id" in row]
    assert len(ids) == len(set(ids))
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    assert len({j["number"] for j in data.jobs}) == len(data.jobs)
    # The app numbers new jobs from this counter: it must start past the demo's numbers.
    last = max(int(j["number"].rsplit("-", 1)[1]) for j in data.jobs)
    assert data.counters == [{"name": "job_number", "value": last}]


def test_every_status_and_kind_appears(brand: DemoData) -> None:
    assert {j["status"] for j in brand.jobs} == set(JobStatus)
    assert {j["kind"] for j in brand.jobs} == set(JobKind)
    pending = [j for j in brand.jobs if j["technician_id"] and j["window_start"] is None]
    assert pending and all(j["status"] in ("assigned", "acknowledged") for j in pending)
    assert any(j["provider_id"] and not j["technician_id"] for j in brand.jobs)


def test_a_believable_mix(data: DemoData) -> None:
    reasons = Counter(j["unable_reason"] for j in data.jobs if j["unable_reason"])
    assert reasons[UnableReason.CUSTOMER_NOT_HOME] >= 5 and len(reasons) == len(UnableReason)
    # Some "not home" claims come without any visit: the callback queue's catch.
    assert any(
        j["unable_reason"] == UnableReason.CUSTOMER_NOT_HOME and j["arrived_at"] is None
        for j in data.jobs
    )
    assert sum(1 for j in data.jobs if j["previous_job_id"]) >= 10
    urgent = [j for j in data.jobs if j["priority"] == "urgent"]
    assert 0.05 < len(urgent) / len(data.jobs) < 0.15


def test_urgent_jobs_have_clocks_and_some_are_overdue(brand: DemoData) -> None:
    urgent = [j for j in brand.jobs if j["priority"] == "urgent"]
    for j in urgent:
        assert j["contact_due_at"] == j["created_at"] + timedelta(minutes=30)
        assert j["onsite_due_at"] == j["created_at"] + timedelta(hours=2)
    for j in brand.jobs:
        if j["priority"] != "urgent":
            assert j["contact_due_at"] is None and j["onsite_due_at"] is None
    overdue = [j for j in urgent if j["arrived_at"] is None and j["onsite_due_at"] < brand.now]
    assert any(j["status"] in ("assigned", "acknowledged", "en_route") for j in overdue)


def test_technicians_work_for_their_provider_in_covered_cities(brand: DemoData) -> None:
    provider_of = {u["id"]: u["provider_id"] for u in brand.users if u["role"] == "technician"}
    covered = {(pc["provider_id"], pc["city_id"]) for pc in brand.provider_cities}
    with_tech = [j for j in brand.jobs if j["technician_id"] is not None]
    assert with_tech
    for j in with_tech:
        assert provider_of[j["technician_id"]] == j["provider_id"]
        assert (j["provider_id"], j["city_id"]) in covered
    for j in brand.jobs:
        if j["provider_id"] is not None:
            assert (j["provider_id"], j["city_id"]) in covered
        else:
            assert j["status"] == JobStatus.NEW
    city_of = {c["id"]: c["city_id"] for c in brand.customers}
    appliance = {a["id"]: a for a in brand.appliances}
    for j in brand.jobs:
        assert city_of[j["customer_id"]] == j["city_id"]
        assert appliance[j["appliance_id"]]["customer_id"] == j["customer_id"]
    for a in brand.appliances:
        if a["installer_id"] is not None:
            assert provider_of[a["installer_id"]] == a["installer_provider_id"]
            assert (a["installer_provider_id"], city_of[a["customer_id"]]) in covered


def test_every_provider_has_staff_and_a_senior(data: DemoData) -> None:
    for p in data.providers:
        staff = [u for u in data.users if u["provider_id"] == p["id"]]
        roles = Counter(u["role"] for u in staff)
        assert roles == {"provider_manager": 1, "dispatcher": 1, "technician": 4}
        assert any(u["skill_level"] == "senior" for u in staff)
    names = {u["username"] for u in data.users}
    assert {"admin", "dispatcher", "dispatcher2", "auditor", "auditor2"} <= names
    assert {"manager1", "provdispatch1", "tech1", "tech48", "manager12"} <= names
    assert data.user("tech1")["provider_id"] == data.user("manager1")["provider_id"]


def test_timestamps_follow_status(brand: DemoData) -> None:
    events: dict[uuid.UUID, list[dict[str, object]]] = {}
    for e in brand.job_events:
        events.setdefault(e["job_id"], []).append(e)  # type: ignore[arg-type]
    created = {j["id"]: j["created_at"] for j in brand.jobs}
    first = {j["id"]: n for n, j in enumerate(brand.jobs)}
    for j in brand.jobs:
        evs = events[j["id"]]
        ats = [e["at"] for e in evs]
        assert ats == sorted(ats) and len(set(ats)) == len(ats)
        assert ats[0] == j["created_at"] and ats[-1] == j["updated_at"] <= brand.now
        assert evs[0]["kind"] == "created" and j["version"] == len(evs)
        assert [e["job_version"] for e in evs] == list(range(1, len(evs) + 1))
        kinds = [e["kind"] for e in evs]
        status = j["status"]
        if status != "new":
            assert kinds[1] == "assigned"
            handed = [e["data"] for e in evs if e["kind"] in ("assigned", "reassigned")]
            assert handed[-1]["provider_id"] == str(j["provider_id"])
            assert handed[-1]["technician_id"] == (
                str(j["technician_id"]) if j["technician_id"] else None
            )
        if status not in ("new", "assigned", "cancelled"):
            assert status in kinds  # the phone's report of the status it is in
        if status == "cancelled":
            assert kinds[-1] == "cancelled"
        assert (j["contacted_at"] is not None) == ("customer_contacted" in kinds)
        assert (j["reschedule_requested_at"] is not None) == ("reschedule_requested" in kinds)
        assert (j["completed_at"] is not None) == (status == "completed")
        assert (j["cancelled_at"] is not None) == (status == "cancelled")
        assert (j["cancel_reason"] is not None) == (status == "cancelled")
        assert (j["unable_reason"] is not None) == (status == "unable_to_complete")
        if status in ("on_site", "in_progress", "paused", "completed"):
            assert j["arrived_at"] is not None
        if status in ("new", "assigned", "acknowledged", "en_route"):
            assert j["arrived_at"] is None
        for e in evs:
            assert e["source"] == ("sync" if e["actor_role"] == "technician" else "api")
            if e["source"] == "sync" and e["kind"] in set(JobStatus):
                assert can_move(e["data"]["before"], e["kind"]), (e["data"], e["kind"])
            assert e["actor_id"] == j["technician_id"] or e["source"] == "api"
        if j["window_start"] is not None:
            start = j["window_start"].astimezone(CHINA_TZ)
            assert j["window_end"] - j["window_start"] == timedelta(hours=2)
            assert 8 <= start.hour <= 18 and start.minute == 0
        if j["previous_job_id"] is not None:
            prev = brand.jobs[first[j["previous_job_id"]]]
            assert prev["appliance_id"] == j["appliance_id"] and prev["status"] == "completed"
            assert prev["completed_at"] < j["created_at"] and created[prev["id"]] < j["created_at"]
            assert first[prev["id"]] < first[j["id"]]  # inserted first: the FK holds


def test_window_days_end_two_days_ahead(data: DemoData) -> None:
    days = {j["window_start"].astimezone(CHINA_TZ).date() for j in data.jobs if j["window_start"]}
    assert max(days) == TODAY + timedelta(days=2)
    assert min(days) == TODAY - timedelta(days=4)


def test_catalog_and_policies(data: DemoData) -> None:
    assert {c["job_kind"] for c in data.checklists} == set(JobKind)
    install = next(c for c in data.checklists if c["job_kind"] == "install")
    codes = {i["code"] for i in install["items"]}
    assert {"shoe_covers", "dust_bag", "clean_up", "explain_safe_use", "test_run"} <= codes
    assert "photo_serial_plate" in codes
    assert len({a["category"] for a in data.kb_articles}) == 5
    assert len(data.fee_policies) == len(data.cities)
    for fp in data.fee_policies:
        assert fp["currency"] == "CNY" and 3000 <= fp["visit_fee"] <= 5000
        assert not fp["visit_fee_in_warranty"]
    assert any(a["warranty_end"] < TODAY for a in data.appliances if a["warranty_end"])
    customer_since = {c["id"]: c["created_at"] for c in data.customers}
    for a in data.appliances:
        assert customer_since[a["customer_id"]] <= a["created_at"]
        if a["install_date"] is not None:
            assert a["purchase_date"] <= a["install_date"] <= TODAY
            three_years = a["warranty_end"] - a["install_date"]
            assert timedelta(days=3 * 365) <= three_years <= timedelta(days=3 * 365 + 1)
    assert all(
        p["digits"].isdigit() and p["digits"] in "".join(filter(str.isdigit, p["number"]))
        for p in data.customer_phones
    )


def test_tiny_brand_still_shows_everything() -> None:
    tiny = generate(TINY, today=TODAY)
    assert {j["status"] for j in tiny.jobs} == set(JobStatus)
    assert {j["kind"] for j in tiny.jobs} == set(JobKind)
    assert [u for u, _, _ in demo_logins(tiny)] == [
        "admin",
        "dispatcher",
        "auditor",
        "manager1",
        "tech1",
    ]


def test_generate_rejects_naive_now_and_empty_sizes() -> None:
    with pytest.raises(ValueError):
        generate(TINY, today=TODAY, now=datetime(2026, 11, 20, 4))
    with pytest.raises(ValueError):
        DemoSize(cities=0)
    moved = generate(TINY, today=TODAY, now=datetime(2026, 11, 20, 4, tzinfo=UTC))
    assert moved.now == datetime(2026, 11, 20, 4, tzinfo=UTC)


def test_demo_logins(data: DemoData) -> None:
    logins = demo_logins(data)
    assert [u for u, _, _ in logins] == ["admin", "dispatcher", "auditor", "manager1", "tech1"]
    assert all(p == DEMO_PASSWORD for _, p, _ in logins)


def test_load_into_migrated_sqlite(tmp_path: Path, data: DemoData) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 't.db'}"
    upgrade(url)

    async def run() -> dict[str, int]:
        db = make_database(url)
        try:
            async with db.writer() as s:
                assert not await is_loaded(s)
                await load(s, data, "x")
                await s.commit()
            async with db.reader() as s:
                assert await is_loaded(s)
                counts = {
                    name: (await s.execute(select(func.count()).select_from(table))).scalar_one()
                    for name, table in Base.metadata.tables.items()
                    if name in data.counts()
                }
                tech1 = (await s.execute(select(User).where(User.username == "tech1"))).scalar_one()
                assert tech1.password_hash == "x" and tech1.skill_level
                job = await s.execute(select(Job).where(Job.number == data.jobs[0]["number"]))
                loaded = job.scalar_one()
                assert loaded.created_at == data.jobs[0]["created_at"]
                assert loaded.created_at.tzinfo is not None
                bad = (await s.execute(text("PRAGMA foreign_key_check"))).all()
                assert bad == []
            return counts
        finally:
            await db.dispose()

    assert asyncio.run(run()) == data.counts()


def test_load_on_every_backend(database_url: str) -> None:
    """The same rows on PostgreSQL too (JSONB, native UUIDs, aware timestamps)."""
    small = generate(DemoSize(cities=2, technicians_per_provider=2, days=3), today=TODAY)

    async def run() -> dict[str, int]:
        db = make_database(database_url)
        try:
            async with db.writer() as s:
                await load(s, small, "x")
                await s.commit()
            async with db.reader() as s:
                job = await s.execute(select(Job).where(Job.status == "unable_to_complete"))
                assert job.scalars().first() is not None
                return {
                    name: (await s.execute(select(func.count()).select_from(table))).scalar_one()
                    for name, table in Base.metadata.tables.items()
                    if name in small.counts()
                }
        finally:
            await db.dispose()

    assert asyncio.run(run()) == small.counts()
