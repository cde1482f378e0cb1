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
from fixtures.demo_data import CHINA_TZ, OPEN_AGE, Row, reference_now
from fixtures.loader import load_demo
from server.callbacks.policy import DEFAULT as CALLBACK_POLICY
from server.db.base import Base
from server.db.engine import make_database
from server.db.migrate import upgrade
from server.db.models import (
    BucketEntity,
    CallbackOutcome,
    CallbackTask,
    ClaimVerdict,
    Job,
    Notification,
    User,
    Violation,
)
from server.jobs.lifecycle import can_move
from server.settings import Settings
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
SHORT = DemoSize(
    cities=2,
    providers_per_city=1,
    technicians_per_provider=2,
    customers_per_city=10,
    days=3,
    jobs_per_technician_per_day=3,
)
"""The size ``test_load_demo_audits_the_callbacks_once`` loads: three days from today, so
no past day at all (the audit's past then hangs on the hour)."""
FROZEN = {
    "0200utc": datetime(2026, 12, 2, 2, 0, tzinfo=UTC),
    "0500utc": datetime(2026, 12, 2, 5, 0, tzinfo=UTC),
    "2359utc": datetime(2026, 12, 2, 23, 59, tzinfo=UTC),
}
"""Frozen clocks: 10:00 and 13:00 in China (the hours the short demo once had no callback
outcomes at all), and a minute before midnight UTC (already the next day in China)."""


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate(DemoSize(), today=TODAY)


@pytest.fixture(
    scope="module",
    params=["default", "tiny", "early-morning", "late-evening", *(f"short-{k}" for k in FROZEN)],
)
def brand(request: pytest.FixtureRequest, data: DemoData) -> DemoData:
    """Brands whose invariants must hold whatever their size and the time of day."""
    if request.param == "default":
        return data
    if request.param == "tiny":
        return generate(TINY, today=TODAY)
    if request.param.startswith("short-"):
        now = FROZEN[request.param.removeprefix("short-")]
        return generate(SHORT, today=now.astimezone(CHINA_TZ).date(), now=now)
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
    # `closed` comes from a settled completion callback: only where the demo has a past.
    statuses = {j["status"] for j in brand.jobs}
    assert statuses - {"closed"} == set(JobStatus) - {JobStatus.CLOSED}
    settled = any(
        t["kind"] == "completion" and t["result"] in ("confirmed", "unreachable")
        for t in brand.callback_tasks
    )
    assert ("closed" in statuses) == settled
    assert {j["kind"] for j in brand.jobs} == set(JobKind)
    pending = [j for j in brand.jobs if j["technician_id"] and j["window_start"] is None]
    assert pending and all(j["status"] in ("assigned", "acknowledged") for j in pending)
    assert any(j["provider_id"] and not j["technician_id"] for j in brand.jobs)


def test_a_believable_mix(data: DemoData) -> None:
    assert sum(j["status"] == "closed" for j in data.jobs) >= 5  # loops closed by callbacks
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
    events: dict[uuid.UUID, list[Row]] = {}
    for e in brand.job_events:
        events.setdefault(e["job_id"], []).append(e)
    created = {j["id"]: j["created_at"] for j in brand.jobs}
    first = {j["id"]: n for n, j in enumerate(brand.jobs)}
    for j in brand.jobs:
        every = events[j["id"]]
        # Callback outcomes are facts in the history: they leave the job's version alone.
        evs = [e for e in every if e["kind"] != "callback_outcome"]
        assert [e["at"] for e in every] == sorted(e["at"] for e in every)
        for e in every:
            if e["kind"] == "callback_outcome":
                assert e["job_version"] == max(x["job_version"] for x in evs if x["at"] < e["at"])
        ats = [e["at"] for e in evs]
        assert ats == sorted(ats) and len(set(ats)) == len(ats)
        assert ats[0] == j["created_at"] and ats[-1] == j["updated_at"] <= brand.now
        assert evs[0]["kind"] == "created" and j["version"] == len(evs)
        assert [e["job_version"] for e in evs] == list(range(1, len(evs) + 1))
        kinds = [e["kind"] for e in evs]
        status = j["status"]
        # A contradicted claim put the job back to dispatch: the claim was its
        # technician's, and the visit (if any) happened.
        reopened = evs[-1]["data"]["before"] if kinds[-1] == "reopened" else None
        if reopened is not None:
            assert status == "assigned" and j["technician_id"] is None
            assert j["window_start"] is None and j["unable_reason"] is None
        technician = uuid.UUID(reopened["technician_id"]) if reopened else j["technician_id"]
        if status != "new":
            assert kinds[1] == "assigned"
            handed = [e["data"] for e in evs if e["kind"] in ("assigned", "reassigned")]
            assert handed[-1]["provider_id"] == str(j["provider_id"])
            assert handed[-1]["technician_id"] == (str(technician) if technician else None)
        if status not in ("new", "assigned", "cancelled"):
            assert status in kinds  # the phone's report of the status it is in
        if status == "cancelled":
            assert kinds[-1] == "cancelled"
        assert (j["contacted_at"] is not None) == ("customer_contacted" in kinds)
        assert (j["reschedule_requested_at"] is not None) == ("reschedule_requested" in kinds)
        assert (j["completed_at"] is not None) == (status in ("completed", "closed"))
        if status == "closed":  # the completion's callback closed the loop
            assert "closed" in kinds and "completed" in kinds
        assert (j["cancelled_at"] is not None) == (status == "cancelled")
        assert (j["cancel_reason"] is not None) == (status == "cancelled")
        assert (j["unable_reason"] is not None) == (status == "unable_to_complete")
        if status in ("on_site", "in_progress", "paused", "completed", "closed"):
            assert j["arrived_at"] is not None
        if status in ("new", "assigned", "acknowledged", "en_route") and not reopened:
            assert j["arrived_at"] is None
        for e in every:
            assert e["source"] == ("sync" if e["actor_role"] == "technician" else "api")
            if e["source"] == "sync" and e["kind"] in set(JobStatus):
                assert can_move(e["data"]["before"], e["kind"]), (e["data"], e["kind"])
            assert e["actor_id"] == technician or e["source"] == "api"
        if j["window_start"] is not None:
            start = j["window_start"].astimezone(CHINA_TZ)
            assert j["window_end"] - j["window_start"] == timedelta(hours=2)
            assert 8 <= start.hour <= 18 and start.minute == 0
        if j["previous_job_id"] is not None:
            prev = brand.jobs[first[j["previous_job_id"]]]
            assert prev["appliance_id"] == j["appliance_id"]
            assert prev["status"] in ("completed", "closed")
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
    # every status a job can be given; `closed` only follows a settled callback
    assert {j["status"] for j in tiny.jobs} >= set(JobStatus) - {JobStatus.CLOSED}
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


def _claim(events: list[Row]) -> Row | None:
    return next(
        (e for e in reversed(events) if e["kind"] in ("completed", "unable_to_complete")), None
    )


def test_every_claim_has_its_callback(brand: DemoData) -> None:
    """One task per completed or unable job, made as server.callbacks.tasks makes them."""
    events: dict[uuid.UUID, list[Row]] = {}
    for e in brand.job_events:
        events.setdefault(e["job_id"], []).append(e)
    tasks = {t["job_id"]: t for t in brand.callback_tasks}
    assert len(tasks) == len(brand.callback_tasks)
    due = {
        "completion": CALLBACK_POLICY.completion_due,
        "not_home": CALLBACK_POLICY.not_home_due,
        "unable": CALLBACK_POLICY.unable_due,
    }
    claimed = 0
    for j in brand.jobs:
        claim = _claim(events[j["id"]])
        if claim is None:
            assert j["id"] not in tasks
            continue
        claimed += 1
        t = tasks[j["id"]]
        data = claim["data"]
        assert isinstance(data, dict)
        if claim["kind"] == "completed":
            assert t["kind"] == "completion" and t["unable_reason"] is None
        else:
            reason = data["reason"]
            assert t["unable_reason"] == reason
            assert t["kind"] == (
                "not_home" if reason == UnableReason.CUSTOMER_NOT_HOME else "unable"
            )
        assert t["basis"] == f"v{claim['job_version']}" and t["claim_event_id"] == claim["id"]
        assert t["claimed_at"] == claim["at"] == t["created_at"]
        assert t["claimed_device_time"] == datetime.fromisoformat(str(data["device_time"]))
        assert t["technician_id"] == claim["actor_id"] and t["provider_id"] == j["provider_id"]
        assert t["due_at"] == t["claimed_at"] + due[t["kind"]]
        created = next(e for e in events[j["id"]] if e["kind"] == "created")["data"]
        assert isinstance(created, dict)
        assert (_iso(t["window_start"]), _iso(t["window_end"])) == (
            created["window"]["start"],
            created["window"]["end"],
        )
        if brand.now - t["claimed_at"] < OPEN_AGE:
            assert t["state"] == "open" and t["result"] is None
    assert claimed == len(brand.callback_tasks) > 0


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def test_outcomes_and_violations_are_consistent(brand: DemoData) -> None:
    tasks = {t["id"]: t for t in brand.callback_tasks}
    jobs = {j["id"]: j for j in brand.jobs}
    outcomes = {o["id"]: o for o in brand.callback_outcomes}
    fines = {p["city_id"]: p["false_report_fine"] for p in brand.fee_policies}
    auditors = {u["id"] for u in brand.users if u["role"] == "auditor"}
    corrected_by = {o["corrects_id"]: o for o in outcomes.values() if o["corrects_id"]}
    for o in outcomes.values():
        t = tasks[o["task_id"]]
        assert o["job_id"] == t["job_id"] and o["recorded_by"] in auditors
        assert t["claimed_at"] < o["recorded_at"] < brand.now
        assert (o["satisfaction"] is not None) == (
            t["kind"] == "completion" and o["outcome"] == "confirmed"
        )
        if o["corrects_id"]:
            old = outcomes[o["corrects_id"]]
            assert old["task_id"] == o["task_id"] and old["recorded_at"] < o["recorded_at"]
    for t in brand.callback_tasks:
        mine = sorted(
            (o for o in outcomes.values() if o["task_id"] == t["id"]),
            key=lambda o: o["recorded_at"],
        )
        current = [o for o in mine if o["id"] not in corrected_by]
        assert len(current) <= 1 or all(o["outcome"] == "unreachable" for o in current[:-1])
        unreachable = sum(1 for o in mine if o["outcome"] == "unreachable")
        assert t["attempts"] == unreachable <= CALLBACK_POLICY.max_attempts
        if t["state"] == "open":
            assert not mine or mine[-1]["outcome"] == "unreachable"
            assert (t["next_attempt_at"] is not None) == bool(mine)
        else:
            assert t["state"] == "done" and mine
            assert t["result"] == current[-1]["outcome"]
            assert t["closed_at"] == mine[-1]["recorded_at"]
    for v in brand.violations:
        o, t = outcomes[v["outcome_id"]], tasks[v["task_id"]]
        assert o["outcome"] == "contradicted" and o["task_id"] == t["id"]
        assert v["kind"] == "false_not_home" and t["kind"] == "not_home"
        assert (v["technician_id"], v["provider_id"]) == (t["technician_id"], t["provider_id"])
        assert v["fine_amount"] == fines[jobs[t["job_id"]]["city_id"]] and v["currency"] == "CNY"
        if v["voided_at"] is not None:
            fix = outcomes[v["voided_by_outcome_id"]]
            assert fix["corrects_id"] == o["id"] and fix["outcome"] != "contradicted"
            assert v["voided_at"] == fix["recorded_at"]
        else:
            assert o["id"] not in corrected_by and v["voided_by_outcome_id"] is None
        job = jobs[t["job_id"]]  # put back to dispatch by the contradiction
        assert job["status"] == "assigned" and job["technician_id"] is None
    contradicted = {o["id"] for o in outcomes.values() if o["outcome"] == "contradicted"}
    assert contradicted == {v["outcome_id"] for v in brand.violations}


def test_the_demo_audit_has_something_to_show(data: DemoData) -> None:
    open_ = [t for t in data.callback_tasks if t["state"] == "open"]
    assert {t["kind"] for t in open_} == {"completion", "not_home", "unable"}
    assert any(t["attempts"] and t["next_attempt_at"] > data.now for t in open_)
    results = Counter(t["result"] for t in data.callback_tasks if t["state"] == "done")
    assert results["confirmed"] > results["contradicted"] >= 2
    assert results["unreachable"] >= 1 and results["rescheduled"] >= 1
    current = {o["corrects_id"] for o in data.callback_outcomes}
    satisfaction = Counter(
        o["satisfaction"] for o in data.callback_outcomes if o["id"] not in current
    )
    assert satisfaction["very_satisfied"] > satisfaction["satisfied"]
    assert satisfaction["satisfied"] > satisfaction["dissatisfied"] > 0
    assert any(v["voided_at"] for v in data.violations)
    assert any(not v["voided_at"] for v in data.violations)
    # Field evidence behind the claims the queue checks first.
    assert data.checkins and data.call_attempts and data.photos
    assert any(c["geofence"] == "fail" for c in data.checkins)


def test_a_short_demo_has_an_audit_past_at_every_hour() -> None:
    """Whatever the hour (every half hour of a day, frozen), the callback audit has
    claims already called, one open claim with an unanswered first try, and the queue's
    two "not home" examples: from afar and from a real visit."""
    start = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # midnight in China
    for k in range(48):
        now = start + timedelta(minutes=30 * k)
        d = generate(SHORT, today=now.astimezone(CHINA_TZ).date(), now=now)
        done = [t for t in d.callback_tasks if t["state"] == "done"]
        open_ = [t for t in d.callback_tasks if t["state"] == "open"]
        assert d.callback_outcomes and any(t["kind"] == "not_home" for t in done), now
        assert any(t["kind"] == "completion" and t["attempts"] for t in open_), now
        jobs = {j["id"]: j for j in d.jobs}
        open_not_home = [jobs[t["job_id"]] for t in open_ if t["kind"] == "not_home"]
        assert any(j["arrived_at"] is None for j in open_not_home), now
        assert any(j["arrived_at"] is not None for j in open_not_home), now
        assert all(o["recorded_at"] < now for o in d.callback_outcomes), now


def test_the_demo_does_not_read_the_wall_clock() -> None:
    """The same size and clock give the same brand, byte for byte, however long apart."""
    now = FROZEN["0200utc"]
    first = generate(SHORT, today=now.astimezone(CHINA_TZ).date(), now=now)
    again = generate(SHORT, today=now.astimezone(CHINA_TZ).date(), now=now)
    assert repr(first.tables()) == repr(again.tables())


def test_an_added_area_leaves_the_other_rows_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The extension point for new tables (``fixtures.demo_data.AREAS``): an area with a
    random stream of its own adds its rows last and changes nothing else."""
    import fixtures.demo_data as demo_data

    def zones(b: demo_data.Builder) -> None:
        rng = b.stream("zones")
        for city in b.data.cities:
            b.data.rows("zones").append(
                {"id": b.uid(rng), "city_id": city["id"], "radius_km": rng.randint(5, 30)}
            )

    before = generate(TINY, today=TODAY)
    monkeypatch.setattr(demo_data, "AREAS", (*demo_data.AREAS, zones))
    after = generate(TINY, today=TODAY)
    assert after.tables()[:-1] == before.tables()
    name, rows = after.tables()[-1]
    assert name == "zones" and len(rows) == len(after.cities)
    with pytest.raises(ValueError):
        after.rows("jobs")


@pytest.mark.parametrize("now", list(FROZEN.values()), ids=list(FROZEN))
def test_load_demo_audits_the_callbacks_once(settings: Settings, now: datetime) -> None:
    """``doorstep demo-data``: the queue comes scored, a fabricated "not home" first; at
    a frozen clock (this once failed every day between about 02:00 and 06:00 UTC)."""
    import argparse

    args = argparse.Namespace(**{**SHORT.__dict__, "seed": 42})

    async def counts() -> dict[str, int]:
        db = make_database(settings.resolved_database_url)
        try:
            async with db.reader() as s:
                return {
                    name: (await s.execute(select(func.count()).select_from(table))).scalar_one()
                    for name, table in Base.metadata.tables.items()
                }
        finally:
            await db.dispose()

    async def check() -> None:
        db = make_database(settings.resolved_database_url)
        try:
            async with db.reader() as s:
                tasks = list(
                    await s.scalars(
                        select(CallbackTask)
                        .where(CallbackTask.state == "open")
                        .order_by(CallbackTask.risk_score.desc(), CallbackTask.due_at)
                    )
                )
                assert tasks and all(t.risk_computed_at is not None for t in tasks)
                top = tasks[0]
                assert top.kind == "not_home" and top.risk_score >= 60
                assert top.risk_probability is not None and top.risk_probability >= 0.6
                codes = {f["code"] for f in top.risk_factors}
                assert "claim_before_window" in codes or "fence" in codes, codes
                genuine = [t for t in tasks if t.kind == "not_home" and t.risk_score < 50]
                assert genuine, "a not-home claim from a real visit ranks lower"
                unscored = await s.scalar(
                    select(func.count())
                    .select_from(CallbackTask)
                    .where(CallbackTask.risk_computed_at.is_(None))
                )
                assert unscored == 0
                not_home = list(
                    await s.scalars(
                        select(CallbackTask.job_id).where(CallbackTask.kind == "not_home")
                    )
                )
                verdicts = set(await s.scalars(select(ClaimVerdict.job_id)))
                assert verdicts == set(not_home)
                asked = await s.scalars(
                    select(Notification.job_id).where(Notification.template == "claim_not_home")
                )
                assert Counter(asked) == Counter(not_home)
                for v in await s.scalars(select(Violation)):
                    o = await s.get(CallbackOutcome, v.outcome_id)
                    assert o is not None and o.outcome == "contradicted"
                # every phone holds its calendar document (hours and leave)
                techs = await s.scalar(
                    select(func.count()).select_from(User).where(User.role == "technician")
                )
                calendars = await s.scalar(
                    select(func.count())
                    .select_from(BucketEntity)
                    .where(BucketEntity.entity_type == "calendar")
                )
                assert techs and calendars == techs
        finally:
            await db.dispose()

    first = asyncio.run(load_demo(settings, args, now=now))
    assert first[0] is True
    before = asyncio.run(counts())
    assert before["callback_tasks"] > 0 and before["callback_outcomes"] > 0
    asyncio.run(check())
    assert asyncio.run(load_demo(settings, args, now=now)) == (False, [])
    assert asyncio.run(counts()) == before


def test_purifiers_have_maintenance_plans(database_url: str, settings: Settings) -> None:
    """Every purifier is under the purifier plan; once loaded, the periodic run makes the
    due jobs with their filters on them."""
    from server.db.models import Appliance
    from server.maintenance.service import run as run_plans

    small = generate(DemoSize(cities=2, technicians_per_provider=2, days=3), today=TODAY)
    purifiers = {a["id"] for a in small.appliances if a["category"] == "water_purifier"}
    assert purifiers
    tasks = {t["id"]: t for t in small.more["maintenance_tasks"]}
    covered = {
        s["appliance_id"]
        for s in small.more["maintenance_schedules"]
        if tasks[s["task_id"]]["name"].startswith("Filter change")
    }
    assert covered == purifiers

    async def run() -> list[Job]:
        db = make_database(database_url)
        try:
            async with db.writer() as s:
                await load(s, small, "x")
                report = await run_plans(s, reference_now(TODAY), settings)
                await s.commit()
                assert report.created
                rows = await s.scalars(
                    select(Job)
                    .join(Appliance, Appliance.id == Job.appliance_id)
                    .where(Job.kind == "maintenance", Appliance.category == "water_purifier")
                )
                return list(rows)
        finally:
            await db.dispose()

    made = [j for j in asyncio.run(run()) if j.parts]
    assert made and all(p["code"].startswith("WP-") for j in made for p in j.parts)


def test_technicians_have_hours_homes_and_some_leave(data: DemoData) -> None:
    """The calendar page and the phones' calendar show something: every technician has
    working hours and a home; some (``tech1`` always) have leave, after the last demo
    appointment day, so no demo booking clashes with it."""
    techs = {u["id"]: u for u in data.users if u["role"] == "technician"}
    calendars = {c["technician_id"]: c for c in data.more["technician_calendars"]}
    assert set(calendars) == set(techs)
    assert all(c["weekly"] and c["home_latitude"] is not None for c in calendars.values())
    leave = data.more["calendar_exceptions"]
    assert leave and {e["technician_id"] for e in leave} <= set(techs)
    assert data.user("tech1")["id"] in {e["technician_id"] for e in leave}
    last_booked = max(j["window_end"] for j in data.jobs if j["window_end"] is not None)
    assert all(e["first_day"] > last_booked.astimezone(CHINA_TZ).date() for e in leave)
    assert all(e["first_day"] <= e["last_day"] for e in leave)
