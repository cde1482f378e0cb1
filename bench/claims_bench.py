"""The ``claims`` part: how well the callback queue ranks "customer not home" claims.

A seeded labelled set (``fixtures/claims.py``: honest technicians with real-world noise,
the cheats of the field alone and combined) is played through the real app with the
reference phone (``fixtures/claims_drive.py``); the default callback queue is then read
as an auditor sees it. Figures: ROC AUC of the claim's probability of being false,
precision at N (of the first N tasks of the queue, N = the number of false claims, how
many are false), the honest claims flagged at the operating threshold, and recall per
cheat kind (with how many flagged tasks name the trick in a factor).

Also the cost of judging a claim with a location trace (``trace_cost``): the CPU time
(``time.process_time``) of reading a 2,000-point trace as stored (four chunks' JSON),
merging it, finding its stops and scoring the claim, p99 over many rounds.
"""

from __future__ import annotations

import logging
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from evidence.features import ClaimFacts, FixFact, PhotoFact
from evidence.risk import score
from evidence.trace import merge_chunks
from fixtures.claims import plan
from fixtures.claims_drive import drive, evaluate, report
from fixtures.traces import drive as drive_leg
from fixtures.traces import dwell, offset_m

__all__ = ["run", "trace_cost"]

TRACE_POINTS = 2_000
TRACE_BUDGET_MS = 20.0


def run(*, quick: bool = False, seed: int = 15) -> dict[str, Any]:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    size = {"claims": 30, "technicians": 5} if quick else {"claims": 232, "technicians": 22}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        scored = drive(Path(tmp), plan(seed, **size))
    figures = evaluate(scored)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    figures["seed"] = seed
    figures["trace_cost"] = trace_cost(rounds=60 if quick else 300)
    print(report(figures))
    cost = figures["trace_cost"]
    print(
        f"scoring a claim with a {cost['points']}-point trace: CPU p50 {cost['p50_ms']:.2f} ms, "
        f"p99 {cost['p99_ms']:.2f} ms (budget {TRACE_BUDGET_MS:.0f} ms)"
    )
    return figures


def trace_cost(rounds: int = 300, points: int = TRACE_POINTS) -> dict[str, float]:
    """CPU milliseconds to judge one not-home claim whose phone sent ``points`` trace
    points: decode the stored chunks, merge, find stops, score (p50, p99)."""
    r = random.Random(2000)
    door = (30.2741, 120.1551)
    t0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    crumbs = drive_leg(r, offset_m(door, -9000, 4000), door, 0.0, interval=5.0)
    crumbs += dwell(r, door, crumbs[-1].t + 20, 15 * 60, interval=10.0, indoor=True)
    while len(crumbs) < points:
        crumbs += drive_leg(r, door, offset_m(door, 6000, 6000), crumbs[-1].t + 10, interval=5.0)
    crumbs = crumbs[:points]
    arrive = next(c.t for c in crumbs if c.speed is not None and c.speed < 1)
    stored = []
    for i in range(0, points, 500):
        part = crumbs[i : i + 500]
        start = t0 + timedelta(seconds=part[0].t)
        body = {
            "t_ms": [round((c.t - part[0].t) * 1000) for c in part],
            "lat": [c.lat for c in part],
            "lon": [c.lon for c in part],
            "acc": [c.acc for c in part],
            "speed": [c.speed for c in part],
            "mock": [],
        }
        stored.append((start, msgspec.json.encode(body)))
    when = t0 + timedelta(seconds=arrive)
    samples: list[float] = []
    for _ in range(rounds):
        began = time.process_time()
        trace = merge_chunks((start, msgspec.json.decode(raw)) for start, raw in stored)
        facts = ClaimFacts(
            kind="not_home",
            claimed_at=when + timedelta(minutes=14),
            window_start=when - timedelta(minutes=30),
            window_end=when + timedelta(minutes=90),
            customer=door,
            fixes=[FixFact("check_in", *door, 12.0, when)],
            photos=[PhotoFact("door", when + timedelta(minutes=5), *door)],
            trace=trace,
        )
        score(facts)
        samples.append((time.process_time() - began) * 1000)
    samples.sort()
    return {
        "points": points,
        "rounds": rounds,
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3),
    }
