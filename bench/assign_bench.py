"""The ``assign`` part: automatic assignment of one new job, with 2,500 technicians.

A migrated SQLite database in a temporary folder is seeded with 20 cities, 5 providers a
city, 25 technicians a provider (2,500), each with a weekly calendar and a home, two open
booked jobs each, leave for some, violations and callback outcomes for the providers'
quality, and a day's check-ins for the current positions. Each round then creates one
new job in a random city (in its own transaction, rolled back afterwards so every round
sees the same database) and times ``server.dispatch.assign.choose`` in ``auto`` mode:
ranking every covering provider's technicians and applying the best (history, the
phone's bucket). The figure is the p99 in milliseconds (target < 50); beside it the same
job only ranked and the suggestion stored (``suggest`` mode: the decision without the
assignment's history and packet), and the CPU time of the process.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time as clock
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert

__all__ = ["run"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
WINDOW_HOURS = (8, 9, 10, 13, 14, 15, 16)
CITIES = 20
PROVIDERS_PER_CITY = 5
TECHS_PER_PROVIDER = 25


def _rows(now: datetime, rnd: random.Random) -> dict[str, Any]:
    from server.db.models import (
        CalendarException,
        Checkin,
        City,
        Customer,
        Job,
        Provider,
        TechnicianCalendar,
        User,
        provider_cities,
    )

    week = {
        d: [["08:00", "12:00"], ["13:00", "19:00"]]
        for d in ("mon", "tue", "wed", "thu", "fri", "sat")
    }
    out: dict[Any, list[dict[str, Any]]] = {
        City: [], Provider: [], provider_cities: [], User: [], TechnicianCalendar: [],
        Customer: [], Job: [], Checkin: [], CalendarException: [],
    }  # fmt: skip
    cities = []
    n = 0
    for c in range(CITIES):
        cid = uuid.uuid4()
        lat, lon = 22.0 + c * 0.8, 108.0 + c * 0.9
        cities.append((cid, lat, lon))
        out[City].append(
            {"id": cid, "code": f"c{c}", "name": f"City {c}", "timezone": "Asia/Shanghai",
             "latitude": lat, "longitude": lon}
        )  # fmt: skip
        customers = []
        for k in range(60):
            cu = uuid.uuid4()
            customers.append(cu)
            out[Customer].append(
                {"id": cu, "name": f"Customer {c}-{k}", "address": "1 Road", "city_id": cid,
                 "latitude": lat + rnd.uniform(-0.1, 0.1), "longitude": lon + rnd.uniform(-0.1, 0.1),
                 "created_at": now, "updated_at": now}
            )  # fmt: skip
        for p in range(PROVIDERS_PER_CITY):
            pid = uuid.uuid4()
            out[Provider].append({"id": pid, "code": f"p{c}-{p}", "name": f"Provider {c}-{p}"})
            out[provider_cities].append({"provider_id": pid, "city_id": cid})
            for t in range(TECHS_PER_PROVIDER):
                tid = uuid.uuid4()
                out[User].append(
                    {"id": tid, "username": f"t{c}-{p}-{t}", "full_name": f"Tech {c}-{p}-{t}",
                     "password_hash": "x", "role": "technician", "provider_id": pid,
                     "skill_level": rnd.choice(["junior", "intermediate", "senior"]),
                     "active": True, "created_at": now}
                )  # fmt: skip
                out[TechnicianCalendar].append(
                    {"technician_id": tid, "weekly": week, "jobs_per_window": 1,
                     "home_latitude": lat + rnd.uniform(-0.1, 0.1),
                     "home_longitude": lon + rnd.uniform(-0.1, 0.1), "updated_at": now}
                )  # fmt: skip
                for _j in range(2):
                    n += 1
                    start = now + timedelta(hours=rnd.randrange(2, 72))
                    out[Job].append(
                        {"id": uuid.uuid4(), "number": f"B{n:07d}", "kind": "repair",
                         "priority": "normal", "source": "call", "status": "assigned",
                         "description": "", "customer_id": rnd.choice(customers),
                         "city_id": cid, "provider_id": pid, "technician_id": tid,
                         "window_start": start, "window_end": start + timedelta(hours=2),
                         "created_at": now, "updated_at": now, "version": 1, "repeat_seq": 0}
                    )  # fmt: skip
                if t % 10 == 0:
                    out[CalendarException].append(
                        {"id": uuid.uuid4(), "technician_id": tid, "provider_id": pid,
                         "kind": "off", "first_day": now.date(),
                         "last_day": now.date() + timedelta(days=1), "reason": "leave",
                         "created_at": now}
                    )  # fmt: skip
    # a day's fixes for a third of the technicians (their current position)
    jobs_by_tech = {j["technician_id"]: j["id"] for j in out[Job]}
    for u in out[User][::3]:
        out[Checkin].append(
            {"id": uuid.uuid4(), "job_id": jobs_by_tech[u["id"]], "technician_id": u["id"],
             "kind": "check_in", "latitude": 30.0, "longitude": 120.0, "accuracy_m": 10.0,
             "fix_time": now - timedelta(hours=1), "received_at": now, "flags": [],
             "mock_location": False}
        )  # fmt: skip
    return {"rows": out, "cities": cities}


async def _measure(url: str, rounds: int, seed: int) -> dict[str, Any]:
    from server import wiring
    from server.db.engine import make_database
    from server.db.models import Customer, Job
    from server.dispatch import assign

    wiring.install()
    rnd = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    seeded = _rows(now, rnd)
    db = make_database(url)
    try:
        async with db.writer() as s:
            for table, rows in seeded["rows"].items():
                for i in range(0, len(rows), 500):
                    await s.execute(insert(table), rows[i : i + 500])
            await s.commit()
        async with db.reader() as s:
            from sqlalchemy import select

            customers = list((await s.execute(select(Customer.id, Customer.city_id))).all())
        cust_ids = [c for c, _ in customers]
        # the machine's speed now: one trivial indexed query (wall and CPU), for reading
        # the figures on a shared, loaded machine
        probe_wall: list[float] = []
        probe_cpu: list[float] = []
        async with db.reader() as s:
            for _ in range(200):
                t0, c0 = clock.perf_counter(), clock.process_time()
                await s.execute(select(Customer.id).where(Customer.id == cust_ids[0]))
                probe_wall.append((clock.perf_counter() - t0) * 1000)
                probe_cpu.append((clock.process_time() - c0) * 1000)
        times: list[float] = []
        cpus: list[float] = []
        decide: list[float] = []
        chosen = 0
        for i in range(rounds + 5):
            cust, city = rnd.choice(customers)
            # a working day (Monday to Saturday), a window inside the working hours
            day = (now + timedelta(days=2 + rnd.randrange(3))).astimezone(SHANGHAI).date()
            if day.weekday() == 6:
                day += timedelta(days=1)
            start = datetime.combine(day, time(rnd.choice(WINDOW_HOURS)), tzinfo=SHANGHAI)
            for mode in ("suggest", "auto"):
                async with db.writer() as s:
                    job = Job(
                        id=uuid.uuid4(), number=f"N{i:07d}", kind="repair", priority="normal",
                        source="call", status="new", description="", customer_id=cust,
                        city_id=city, window_start=start, window_end=start + timedelta(hours=2),
                        created_at=now, updated_at=now, version=0,
                    )  # fmt: skip
                    s.add(job)
                    await s.flush()
                    t0, c0 = clock.perf_counter(), clock.process_time()
                    choice = await assign.choose(s, job, trigger="created", now=now, mode=mode)
                    await s.flush()
                    elapsed = (clock.perf_counter() - t0) * 1000
                    cpu = (clock.process_time() - c0) * 1000
                    await s.rollback()
                if i < 5:  # warm-up rounds are not counted
                    continue
                if mode == "suggest":
                    decide.append(elapsed)
                else:
                    times.append(elapsed)
                    cpus.append(cpu)
                    chosen += bool(choice is not None and choice.state == "applied")
    finally:
        await db.dispose()
    times.sort()
    cpus.sort()
    decide.sort()

    def pct(values: list[float], q: float) -> float:
        return round(values[min(len(values) - 1, round(q * (len(values) - 1)))], 2)

    return {
        "technicians": CITIES * PROVIDERS_PER_CITY * TECHS_PER_PROVIDER,
        "candidates_per_job": PROVIDERS_PER_CITY * TECHS_PER_PROVIDER,
        "rounds": len(times),
        "assigned": chosen,
        "p50_ms": round(statistics.median(times), 2),
        "p90_ms": pct(times, 0.9),
        "p99_ms": pct(times, 0.99),
        "max_ms": round(times[-1], 2),
        "cpu_p50_ms": round(statistics.median(cpus), 2),
        "decide_p50_ms": round(statistics.median(decide), 2),
        "decide_p99_ms": pct(decide, 0.99),
        "cpu_p99_ms": pct(cpus, 0.99),
        "load_average": round(os.getloadavg()[0], 1),
        "trivial_query_ms": round(statistics.median(probe_wall), 3),
        "trivial_query_cpu_ms": round(statistics.median(probe_cpu), 3),
        "backend": url.split(":", 1)[0],
        "seeded_on": date.today().isoformat(),
    }


def run(*, quick: bool = False, seed: int = 18) -> dict[str, Any]:
    from server.db.migrate import upgrade

    rounds = 10 if quick else 200
    with tempfile.TemporaryDirectory(prefix="doorstep-assign-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'assign.db'}"
        upgrade(url)
        r = asyncio.run(_measure(url, rounds, seed))
    print(
        f"[bench] assign: {r['technicians']} technicians, {r['candidates_per_job']} ranked a job: "
        f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms (CPU p50 {r['cpu_p50_ms']}, p99 "
        f"{r['cpu_p99_ms']} ms; ranking and suggesting only: p50 {r['decide_p50_ms']}, p99 "
        f"{r['decide_p99_ms']} ms) over {r['rounds']} jobs, load average {r['load_average']}, "
        f"one trivial query {r['trivial_query_ms']} ms ({r['trivial_query_cpu_ms']} ms CPU)"
    )
    return r


if __name__ == "__main__":
    run()
