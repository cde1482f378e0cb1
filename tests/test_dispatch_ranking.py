"""The automatic choice ranks only a shortlist (``server.dispatch.ranking``: technicians
scored in order of an upper bound on their score, stopping once the first ten are
certain, the never-eligible left out in SQL). On a generated population — providers
outside their service areas or full for the day, leave and holidays, booked and
overlapping jobs, current fixes and homes, violations and contradicted claims,
installers, complaints, pending and urgent jobs — the shortlist's first ten must be the
full ranking's first ten, reasons and blockers included, so the pre-filter can never
drop the best candidate."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.engine import make_database
from server.db.models import (
    Appliance,
    CalendarException,
    CallbackOutcome,
    CallbackTask,
    Checkin,
    City,
    Customer,
    Job,
    Provider,
    ServiceArea,
    TechnicianCalendar,
    User,
    Violation,
    provider_cities,
)
from server.dispatch import assign, ranking

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # a Monday, 09:30 in Shanghai
LAT, LON = 30.25, 120.15
PATTERNS = [
    {d: [["08:00", "12:00"], ["13:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    {d: [["12:00", "20:00"]] for d in ("tue", "wed", "thu", "fri", "sat")},
]


def _population(rnd: random.Random) -> dict[str, Any]:
    """Rows for a city of five providers of 25 technicians (and a small second city)."""
    rows: dict[Any, list[dict[str, Any]]] = {
        t: []
        for t in (
            City, Provider, provider_cities, ServiceArea, User, TechnicianCalendar,
            CalendarException, Customer, Appliance, Job, CallbackTask, CallbackOutcome,
            Violation, Checkin,
        )
    }  # fmt: skip
    city, other = uuid.uuid4(), uuid.uuid4()
    for cid, code, lat in ((city, "hz", LAT), (other, "nb", LAT + 1.5)):
        rows[City].append(
            {"id": cid, "code": code, "name": code, "timezone": "Asia/Shanghai",
             "latitude": lat, "longitude": LON}
        )  # fmt: skip
    customers: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]] = []  # id, city, appliance
    providers: list[uuid.UUID] = []
    techs: list[tuple[uuid.UUID, uuid.UUID]] = []
    n_job = 0

    def job(**kw: Any) -> uuid.UUID:
        nonlocal n_job
        n_job += 1
        jid = uuid.uuid4()
        rows[Job].append(
            {"id": jid, "number": f"P{n_job:06d}", "kind": "repair", "priority": "normal",
             "source": "call", "status": "assigned", "description": "", "created_at": NOW,
             "updated_at": NOW, "version": 1, "repeat_seq": 0, **kw}
        )  # fmt: skip
        return jid

    for p in range(6):
        pid = uuid.uuid4()
        providers.append(pid)
        rows[Provider].append({"id": pid, "code": f"p{p}", "name": f"Provider {p}"})
        rows[provider_cities].append({"provider_id": pid, "city_id": other if p == 5 else city})
        if p == 1:  # works only the east of the city
            rows[ServiceArea].append(
                {"id": uuid.uuid4(), "provider_id": pid, "city_id": city, "name": "east",
                 "latitude": LAT, "longitude": LON + 0.06, "radius_km": 5.0, "daily_jobs": None}
            )  # fmt: skip
        if p == 2:  # the whole city, three jobs a day
            rows[ServiceArea].append(
                {"id": uuid.uuid4(), "provider_id": pid, "city_id": city, "name": "all",
                 "latitude": LAT, "longitude": LON, "radius_km": 50.0, "daily_jobs": 3}
            )  # fmt: skip
        if p == 4:  # a holiday on the third day
            day = NOW.astimezone(SHANGHAI).date() + timedelta(days=3)
            rows[CalendarException].append(
                {"id": uuid.uuid4(), "technician_id": None, "provider_id": pid, "kind": "off",
                 "first_day": day, "last_day": day, "reason": "holiday", "created_at": NOW}
            )  # fmt: skip
        for t in range(25 if p < 5 else 4):
            tid = uuid.uuid4()
            rows[User].append(
                {"id": tid, "username": f"t{p}-{t}", "full_name": f"Tech {p}-{t:02d}",
                 "password_hash": "x", "role": "technician", "provider_id": pid,
                 "skill_level": rnd.choice(["junior", "intermediate", "senior", None]),
                 "active": rnd.random() > 0.05, "created_at": NOW}
            )  # fmt: skip
            techs.append((tid, pid))
            if rnd.random() < 0.85:
                home = rnd.random() > 0.05
                rows[TechnicianCalendar].append(
                    {"technician_id": tid, "weekly": rnd.choice(PATTERNS),
                     "jobs_per_window": rnd.choice([1, 1, 2]),
                     "home_latitude": LAT + rnd.uniform(-0.08, 0.08) if home else None,
                     "home_longitude": LON + rnd.uniform(-0.08, 0.08) if home else None,
                     "updated_at": NOW}
                )  # fmt: skip
            if rnd.random() < 0.12:
                first = NOW.astimezone(SHANGHAI).date() + timedelta(days=rnd.randrange(4))
                part = rnd.random() < 0.5
                rows[CalendarException].append(
                    {"id": uuid.uuid4(), "technician_id": tid, "provider_id": pid,
                     "kind": "off", "first_day": first,
                     "last_day": first + timedelta(days=rnd.randrange(2)),
                     "start": "09:00" if part else None, "end": "13:00" if part else None,
                     "reason": "leave", "created_at": NOW}
                )  # fmt: skip
            if rnd.random() < 0.05:
                first = NOW.astimezone(SHANGHAI).date() + timedelta(days=rnd.randrange(4))
                rows[CalendarException].append(
                    {"id": uuid.uuid4(), "technician_id": tid, "provider_id": pid,
                     "kind": "extra", "first_day": first, "last_day": first, "start": "18:00",
                     "end": "21:00", "reason": "overtime", "created_at": NOW}
                )  # fmt: skip
            if rnd.random() < 0.3:  # a fix within the last 12 hours, one older
                for age, lat in ((rnd.uniform(0.2, 11), LAT), (20.0, None)):
                    rows[Checkin].append(
                        {"id": uuid.uuid4(), "technician_id": tid, "kind": "check_in",
                         "latitude": (lat or LAT) + rnd.uniform(-0.1, 0.1),
                         "longitude": LON + rnd.uniform(-0.1, 0.1), "accuracy_m": 10.0,
                         "fix_time": NOW - timedelta(hours=age), "received_at": NOW,
                         "flags": [], "mock_location": False, "job_placeholder": True}
                    )  # fmt: skip
    for k in range(45):
        cid = uuid.uuid4()
        where = k < 40
        city_id = city if k < 42 else other
        base_lat = LAT if city_id == city else LAT + 1.5
        rows[Customer].append(
            {"id": cid, "name": f"Customer {k}", "address": "1 Road", "city_id": city_id,
             "latitude": base_lat + rnd.uniform(-0.07, 0.07) if where else None,
             "longitude": LON + rnd.uniform(-0.07, 0.07) if where else None,
             "created_at": NOW, "updated_at": NOW}
        )  # fmt: skip
        aid = None
        if rnd.random() < 0.8:
            aid = uuid.uuid4()
            installer, installer_provider = (
                rnd.choice(techs) if rnd.random() < 0.6 else (None, rnd.choice(providers))
            )
            rows[Appliance].append(
                {"id": aid, "customer_id": cid, "category": "water_heater",
                 "installer_id": installer, "installer_provider_id": installer_provider,
                 "created_at": NOW, "updated_at": NOW}
            )  # fmt: skip
        customers.append((cid, city_id, aid))
    for tid, pid in techs:  # booked jobs, some closed
        for _ in range(rnd.randrange(5)):
            cust, city_id, _a = rnd.choice(customers)
            local = NOW.astimezone(SHANGHAI).date() + timedelta(days=rnd.randrange(1, 5))
            start = datetime.combine(local, time(rnd.randrange(8, 18)), tzinfo=SHANGHAI)
            job(customer_id=cust, city_id=city_id, provider_id=pid, technician_id=tid,
                window_start=start, window_end=start + timedelta(hours=2),
                status=rnd.choice(["assigned", "assigned", "en_route", "completed"]))  # fmt: skip
        if rnd.random() < 0.15:  # violations, some voided, some old
            for _ in range(rnd.randrange(1, 3)):
                cust, city_id, _a = rnd.choice(customers)
                jid = job(customer_id=cust, city_id=city_id, provider_id=pid, technician_id=tid,
                          status="completed")  # fmt: skip
                task, outcome = uuid.uuid4(), uuid.uuid4()
                rows[CallbackTask].append(
                    {"id": task, "job_id": jid, "kind": "not_home", "basis": "v1",
                     "technician_id": tid, "provider_id": pid, "due_at": NOW, "created_at": NOW}
                )  # fmt: skip
                at = NOW - timedelta(days=rnd.choice([2, 30, 200]))
                rows[CallbackOutcome].append(
                    {"id": outcome, "task_id": task, "job_id": jid, "outcome": "contradicted",
                     "recorded_at": at}
                )  # fmt: skip
                rows[Violation].append(
                    {"id": uuid.uuid4(), "job_id": jid, "task_id": task, "outcome_id": outcome,
                     "kind": "false_not_home", "technician_id": tid, "provider_id": pid,
                     "recorded_at": at, "voided_at": NOW if rnd.random() < 0.2 else None}
                )  # fmt: skip
    for pid in providers:  # the providers' quality
        for _ in range(rnd.randrange(6)):
            cust, city_id, _a = rnd.choice(customers)
            jid = job(customer_id=cust, city_id=city_id, provider_id=pid, status="completed")
            task = uuid.uuid4()
            rows[CallbackTask].append(
                {"id": task, "job_id": jid, "kind": "completion", "basis": "v1",
                 "provider_id": pid, "due_at": NOW, "created_at": NOW}
            )  # fmt: skip
            rows[CallbackOutcome].append(
                {"id": uuid.uuid4(), "task_id": task, "job_id": jid, "outcome": "confirmed",
                 "satisfaction": rnd.choice(["very_satisfied", "satisfied", "dissatisfied"]),
                 "recorded_at": NOW - timedelta(days=rnd.randrange(120))}
            )  # fmt: skip
    # provider 2's area is full on the second day
    day2 = datetime.combine(
        NOW.astimezone(SHANGHAI).date() + timedelta(days=2), time(15), tzinfo=SHANGHAI
    )
    for _ in range(3):
        cust, _c, _a = customers[0]
        job(customer_id=cust, city_id=city, provider_id=providers[2], window_start=day2,
            window_end=day2 + timedelta(hours=1), status="new")  # fmt: skip
    some_job = rows[Job][0]["id"]
    for c in rows[Checkin]:
        c.pop("job_placeholder")
        c["job_id"] = some_job
    return {
        "rows": rows,
        "city": city,
        "other": other,
        "customers": customers,
        "providers": providers,
        "techs": techs,
    }


def _jobs(rnd: random.Random, pop: dict[str, Any], n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        cust, city_id, appliance = rnd.choice(pop["customers"])
        body: dict[str, Any] = {
            "id": uuid.uuid4(), "number": f"N{i:05d}", "kind": "repair", "source": "call",
            "status": "new", "description": "", "customer_id": cust, "city_id": city_id,
            "appliance_id": appliance if rnd.random() < 0.8 else None, "created_at": NOW,
            "updated_at": NOW, "version": 0, "repeat_seq": rnd.choice([0, 0, 0, 1, 2, 3]),
            "priority": "normal",
        }  # fmt: skip
        if rnd.random() < 0.8:
            local = NOW.astimezone(SHANGHAI).date() + timedelta(days=rnd.randrange(0, 4))
            start = datetime.combine(local, time(rnd.randrange(8, 19)), tzinfo=SHANGHAI)
            body["window_start"], body["window_end"] = start, start + timedelta(hours=2)
        elif rnd.random() < 0.5:
            body["priority"] = "urgent"
            body["onsite_due_at"] = NOW + timedelta(hours=2)
        out.append(body)
    return out


def _dump(r: ranking.Ranked) -> dict[str, Any]:
    return {
        **r.as_dict(),
        "raw_score": r.score,
        "free": [(a.isoformat(), b.isoformat()) for a, b in r.free],
        "is_installer": r.is_installer,
        "open_jobs": r.open_jobs,
        "skill_level": r.skill_level,
    }


async def _compare(url: str, seed: int, n: int) -> list[ranking.Ranking]:
    rnd = random.Random(seed)
    pop = _population(rnd)
    db = make_database(url)
    shortlists: list[ranking.Ranking] = []
    try:
        async with db.writer() as s:
            for table, rows in pop["rows"].items():
                keys = {k for r in rows for k in r}  # one statement: every row with every key
                if rows:
                    await s.execute(insert(table), [{k: r.get(k) for k in keys} for r in rows])
            await s.commit()
        for body in _jobs(rnd, pop, n):
            async with db.writer() as s:
                job = Job(**body)
                s.add(job)
                await s.flush()
                kw = _options(rnd, pop)
                full = await ranking.rank(s, job, now=NOW, **kw)
                short = await ranking.rank(s, job, now=NOW, top=assign.RANKING_KEPT, **kw)
                expected = [_dump(r) for r in full.ranked[: assign.RANKING_KEPT]]
                assert [_dump(r) for r in short.ranked] == expected, (body, kw)
                assert full.full and full.scored == full.candidates
                # and through the automatic choice: the stored ranking is the same
                if "provider_ids" not in kw:
                    choice = await assign.choose(
                        s, job, trigger="created", now=NOW, mode="suggest", **kw
                    )
                    assert choice is not None
                    assert choice.ranking == [r.as_dict() for r in expected_ranked(full)]
                    eligible = [r for r in full.ranked if r.eligible]
                    assert choice.technician_id == (eligible[0].technician_id if eligible else None)
                shortlists.append(short)
                await s.rollback()
    finally:
        await db.dispose()
    return shortlists


def expected_ranked(full: ranking.Ranking) -> list[ranking.Ranked]:
    return full.ranked[: assign.RANKING_KEPT]


def _options(rnd: random.Random, pop: dict[str, Any]) -> dict[str, Any]:
    kw: dict[str, Any] = {"default_capacity": rnd.choice([0, 1])}
    if rnd.random() < 0.15:
        kw["provider_ids"] = [rnd.choice(pop["providers"])]
    if rnd.random() < 0.2:
        kw["exclude"] = frozenset(t for t, _ in rnd.sample(pop["techs"], 5))
    return kw


def test_the_shortlist_ranks_exactly_as_the_full_ranking(database_url: str) -> None:
    shortlists = asyncio.run(_compare(database_url, seed=18, n=60))
    shortened = [r for r in shortlists if not r.full]
    # the shortlist was really used, and scored fewer technicians than it read
    assert len(shortened) >= len(shortlists) // 2
    assert sum(r.scored for r in shortened) < sum(r.candidates for r in shortened) / 2
    # and the fallback (fewer than ten eligible: ineligible ones are listed) was reached too
    assert any(r.full for r in shortlists)


def test_an_installer_on_leave_is_passed_over_for_the_next_best(database_url: str) -> None:
    """A small case by hand: the installer (top of the bound) is on leave that day, so the
    shortlist must score beyond them and still find the full ranking's first."""

    async def work() -> None:
        db = make_database(database_url)
        try:
            async with db.writer() as s:
                await _small_world(s)
                await s.commit()
        finally:
            await db.dispose()

    asyncio.run(work())


async def _small_world(s: AsyncSession) -> None:
    city, pid = uuid.uuid4(), uuid.uuid4()
    s.add(City(id=city, code="x", name="X", timezone="Asia/Shanghai", latitude=LAT, longitude=LON))
    s.add(Provider(id=pid, code="px", name="PX"))
    await s.flush()
    await s.execute(insert(provider_cities), [{"provider_id": pid, "city_id": city}])
    techs = [uuid.uuid4() for _ in range(30)]
    for t, tid in enumerate(techs):
        s.add(User(id=tid, username=f"u{t}", full_name=f"U {t:02d}", password_hash="x",
                   role="technician", provider_id=pid, skill_level="senior"))  # fmt: skip
    await s.flush()
    for t, tid in enumerate(techs):
        s.add(TechnicianCalendar(technician_id=tid, weekly=PATTERNS[1], jobs_per_window=1,
                                 home_latitude=LAT + 0.002 * t, home_longitude=LON))  # fmt: skip
    cust, appliance = uuid.uuid4(), uuid.uuid4()
    s.add(Customer(id=cust, name="C", address="a", city_id=city, latitude=LAT, longitude=LON))
    await s.flush()
    s.add(Appliance(id=appliance, customer_id=cust, category="water_heater",
                    installer_id=techs[0], installer_provider_id=pid))  # fmt: skip
    day: date = NOW.astimezone(SHANGHAI).date() + timedelta(days=1)
    s.add(CalendarException(technician_id=techs[0], provider_id=pid, kind="off", first_day=day,
                            last_day=day, reason="leave"))  # fmt: skip
    start = datetime.combine(day, time(10), tzinfo=SHANGHAI)
    job = Job(id=uuid.uuid4(), number="S1", kind="repair", priority="normal", source="call",
              status="new", description="", customer_id=cust, city_id=city,
              appliance_id=appliance, window_start=start, window_end=start + timedelta(hours=2),
              created_at=NOW, updated_at=NOW, version=0, repeat_seq=0)  # fmt: skip
    s.add(job)
    await s.flush()
    full = await ranking.rank(s, job, now=NOW)
    short = await ranking.rank(s, job, now=NOW, top=assign.RANKING_KEPT)
    assert not short.full and short.scored < short.candidates
    assert [_dump(r) for r in short.ranked] == [_dump(r) for r in full.ranked[:10]]
    assert short.ranked[0].technician_id == techs[1]  # the nearest after the installer
    [installer] = [r for r in full.ranked if r.technician_id == techs[0]]
    assert not installer.eligible and installer.blockers[0].code == "clash_off"
