"""The day planner on a generated city day: OR-Tools routing against a greedy
nearest-free-technician baseline, on the same problem and distances.

The city: a disc of ``RADIUS_KM`` around Hangzhou's centre; technicians start from homes
spread over it, a quarter of them senior, working 08:30-12:00 and 13:00-18:00 (a few
09:00-17:00 without a break, a few afternoons only). Jobs at customers' homes spread over
it: about 60 % booked into two-hour windows, the rest pending (any working time), 8 %
complaints for seniors only, 5 % urgent with an on-site clock. Technicians work for four
providers; one's service area is the northern half only (a hard constraint: its
technicians may not be sent south). A quarter of the jobs prefer a technician (the
appliance's installer; a soft cost). Seeded: the same problem every run.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import replace
from typing import Any

from server.dispatch.planner import (
    SERVICE_MINUTES,
    Problem,
    Solution,
    StraightLine,
    Visit,
    Worker,
    _eligible,
    greedy_baseline,
    solve,
)

CENTRE = (30.2741, 120.1551)
RADIUS_KM = 12.0
WINDOWS = ((9 * 60, 11 * 60), (11 * 60, 13 * 60), (13 * 60, 15 * 60), (15 * 60, 17 * 60))


def _point(rng: random.Random) -> tuple[float, float]:
    r = RADIUS_KM * math.sqrt(rng.random())
    a = rng.random() * 2 * math.pi
    dlat = r * math.cos(a) / 111.0
    dlon = r * math.sin(a) / (111.0 * math.cos(math.radians(CENTRE[0])))
    return CENTRE[0] + dlat, CENTRE[1] + dlon


PROVIDERS = ("p0", "p1", "p2", "p3")
NORTH_ONLY = "p3"


def generate(jobs: int = 300, technicians: int = 40, seed: int = 18) -> Problem:
    rng = random.Random(seed)
    extra = random.Random(f"{seed}:areas")  # its own stream: the rest stays as it was
    workers = []
    for k in range(technicians):
        lat, lon = _point(rng)
        roll = rng.random()
        if roll < 0.15:
            spans: tuple[tuple[int, int], ...] = ((9 * 60, 17 * 60),)
        elif roll < 0.22:
            spans = ((13 * 60, 18 * 60),)
        else:
            spans = ((8 * 60 + 30, 12 * 60), (13 * 60, 18 * 60))
        provider = PROVIDERS[k % len(PROVIDERS)]
        workers.append(Worker(f"t{k:03d}", lat, lon, spans, senior=k % 4 == 0, provider=provider))
    visits = []
    kinds = ["repair"] * 5 + ["install"] * 2 + ["maintenance"] * 2 + ["delivery"]
    for i in range(jobs):
        lat, lon = _point(rng)
        kind = rng.choice(kinds)
        service = SERVICE_MINUTES[kind]
        roll = rng.random()
        urgent = roll < 0.05
        if urgent:
            due = rng.randrange(10 * 60, 16 * 60, 30)
            visits.append(Visit(f"j{i:04d}", lat, lon, service, 8 * 60 + 30, due, urgent=True))
            continue
        if roll < 0.65:
            a, b = rng.choice(WINDOWS)
            v = Visit(f"j{i:04d}", lat, lon, service, a, b)
        else:
            v = Visit(f"j{i:04d}", lat, lon, service, 8 * 60 + 30, 18 * 60, has_window=False)
        if rng.random() < 0.08:
            v = Visit(
                v.key, v.latitude, v.longitude, v.service, v.earliest, v.latest, seniors_only=True
            )
        visits.append(v)
    south = frozenset(p for p in PROVIDERS if p != NORTH_ONLY)
    for i, v in enumerate(visits):
        providers = south if v.latitude < CENTRE[0] else None
        v = replace(v, providers=providers)
        if extra.random() < 0.25:
            allowed = [w for w in workers if _eligible(v, w)]
            if allowed:
                v = replace(v, prefer=extra.choice(allowed).key)
        visits[i] = v
    return Problem(visits, workers)


def check(problem: Problem, sol: Solution) -> dict[str, int]:
    """Windows, SLA clocks, skills and working spans, counted from the solution itself."""
    visits = {v.key: v for v in problem.visits}
    workers = {w.key: w for w in problem.workers}
    in_window = sla_ok = sla_total = skills_bad = outside = area_bad = preferred = 0
    for r in sol.routes:
        w = workers[r.worker]
        for s in r.stops:
            v = visits[s.key]
            ok = v.earliest <= s.arrive <= v.latest
            in_window += ok
            if v.urgent:
                sla_ok += ok
            if v.seniors_only and not w.senior:
                skills_bad += 1
            if v.providers is not None and w.provider not in v.providers:
                area_bad += 1
            preferred += v.prefer is not None and v.prefer == w.key
            if not any(a <= s.arrive and s.leave <= b for a, b in w.spans):
                outside += 1
    sla_total = sum(v.urgent for v in problem.visits)
    return {
        "served": sol.served,
        "in_window": in_window,
        "urgent": sla_total,
        "urgent_on_time": sla_ok,
        "skill_violations": skills_bad,
        "outside_hours": outside,
        "service_area_violations": area_bad,
        "wanting_installer": sum(v.prefer is not None for v in problem.visits),
        "to_installer": preferred,
    }


def run(
    *, quick: bool = False, time_limit: float = 25.0, jobs: int = 300, technicians: int = 40
) -> dict[str, Any]:
    if quick:
        jobs, technicians, time_limit = 30, 5, 2.0
    problem = generate(jobs, technicians)
    distances = StraightLine()
    greedy = greedy_baseline(problem, distances)
    solved = solve(problem, distances, time_limit=time_limit)
    g, s = check(problem, greedy), check(problem, solved)
    return {
        "jobs": jobs,
        "technicians": technicians,
        "time_limit_s": time_limit,
        "solve_s": round(solved.seconds, 2),
        "solve_cpu_s": round(solved.cpu_seconds, 2),
        "load_average": round(os.getloadavg()[0], 1),
        "greedy_km": round(greedy.travel_m / 1000, 1),
        "planner_km": round(solved.travel_m / 1000, 1),
        "travel_ratio": round(solved.travel_m / greedy.travel_m, 3) if greedy.travel_m else None,
        "greedy_km_per_job": round(greedy.travel_m / 1000 / max(1, greedy.served), 2),
        "planner_km_per_job": round(solved.travel_m / 1000 / max(1, solved.served), 2),
        "greedy": g,
        "planner": s,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
