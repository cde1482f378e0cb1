"""The benchmark: ``python -m bench`` (or ``make bench``), from the repository root.

Parts (``--parts``, all by default), each in its own temporary folder:

``sync``     pulls and a push through the app in-process, against raw ``sqlite3`` +
             msgspec, and against a bare Litestar handler answering the same bytes
             (the framework's ceiling); below.
``photos``   12-megapixel JPEG ingestion against Pillow alone; sync latency under photo
             load (``bench/photo_bench.py``).
``growth``   incremental pull on a 1-million-operation log (10 million with ``--big``)
             against a 10-thousand one (``bench/growth.py``).
``fleet``    reference-client phones in load processes against a real server process:
             a storm of first syncs with the server's memory, polling throughput against
             the bare handler's, a reconnect storm with edits and photos
             (``bench/fleet.py``).
``peer``     PouchDB Server (installed with npm into a temporary folder) against
             Doorstep: first sync, empty pull, push (``bench/peer.py``).
``nodes``    one node against two behind nginx (or a round-robin proxy) on PostgreSQL and Redis,
             and pokes crossing nodes (``bench/nodes.py``).
``servers``  uvicorn against granian serving Doorstep's own endpoints, when granian is
             installed (``bench/servers.py``).
``claims``   a seeded labelled set of "customer not home" claims played through the app
             with the reference phone: ROC AUC, precision at N, honest claims flagged,
             recall per cheat kind (``bench/claims_bench.py``).
``assign``   automatic assignment of one new job with 2,500 technicians in the
             database: p99 server time (``bench/assign_bench.py``).
``planner``  the day's plan on a generated city day (300 jobs, 40 technicians, windows,
             skills, on-site clocks): OR-Tools routing's travel against a greedy
             nearest-free-technician rule's, windows and clocks honoured, solve time
             (``bench/planner_bench.py``).

The end: a summary table (one row per figure, its target from the issue, met or not),
written with every detail to ``bench/results/summary.json`` and as a chart,
``bench/results/summary.png`` (with the ``bench`` extra: matplotlib). ``--quick`` runs
every part at a tiny size (the smoke test) and skips the peer unless ``--peer``.

The ``sync`` part
=================

Every figure is a ratio, Doorstep against a baseline measured in the same process, on
the same database file and in the same minute. Noise from the machine (other jobs, CPU
frequency, a slow disk) hits both sides alike and mostly cancels out, so ratios from
different runs and machines can be compared far better than absolute times, which are
printed only as context.

The setup, in a temporary folder (never in the repository): a migrated SQLite database
with the ``tests/world.py`` world, then through the app's HTTP API: customers with
appliances and past visits, knowledge articles, and a technician with 50 open jobs and an
enrolled phone. The app runs in-process, inside its lifespan, and the timed calls go
straight to its ASGI interface (``bench/asgi.py``), so Doorstep's times include the
whole server side of a request: routing, the middleware, auth, the ``sync/`` engine,
SQLAlchemy over aiosqlite, JSON encoding. No network and no HTTP client library: its
work is neither Doorstep's nor the baseline's (httpx's in-process transport alone
costs several times an empty pull's query).

The baselines use stdlib ``sqlite3`` and msgspec only: what a hand-written endpoint would
have to do at the least to produce the same answer (``bench/raw.py``). Before timing,
the benchmark checks that both sides return the same operations.

Measurements:

``first sync``
    A pull without a cursor, one page big enough for the whole bucket. Baseline: read the
    bucket head, the device's last mutation and every document, decode each document,
    encode the same response.
``empty incremental pull``
    A pull with a cursor at the head: nothing to send. Baseline: read the bucket row, the
    device state and the (empty) operations after the head, encode an empty answer. This
    is the fixed cost of a request: a phone polls this all day.
``incremental pull``
    500 operations appended after the cursor (10 new revisions of each job's packet,
    written through ``sync.buckets``); one pull with ``limit=500``. Only the last
    operation per entity carries a document. Baseline: the same ``bucket_ops LEFT JOIN
    bucket_entities`` query, decoding only the documents it sends.
``push``
    50 ``job.note`` mutations (fresh UUIDs, ``mid`` continuing across rounds). Baseline:
    the same 50 notes, 50 hash-chained ledger rows and 50 job events written with
    ``executemany`` in one transaction, plus the device state update (under a second
    device of the technician, so the app's ledger chain stays intact). The app does more
    than that for real: the device check and lock, the jobs read and locked, the note
    ids checked, the ledger's canonical hashing, the claims re-judged, through the ORM
    and a request. The ratio shows what that costs.

How to read the table:

``ratio``
    Doorstep's median time over the baseline's median time. 10x means a request costs ten
    times the bare database-and-encoding work; lower is better. Compare it between
    commits: a ratio that grows (beyond the spread) is a regression.
``p10 ratio`` / ``p90 ratio``
    Each round times the baseline and Doorstep back to back (alternating which goes
    first); a round's ratio compares two runs a few milliseconds apart. The 10th and 90th
    percentiles of those per-round ratios show how stable the figure is: a wide spread
    means a noisy machine, rerun with more ``--rounds``.
``cpu ratio``
    The same medians with CPU time (``process_time``, every thread) instead of wall
    time. When the machine's CPUs are oversubscribed (``load_average_*`` in the JSON
    above ``cpus``), wall time counts waiting for a CPU, and Doorstep waits far more
    often than the baseline (every SQL statement is a hand-over to aiosqlite's thread and
    back), so ``ratio`` inflates; ``cpu ratio`` much less. On a quiet machine the two
    are close; when they diverge, the machine was busy (and the spread says so too).
``rounds``
    Timed rounds: ``--rounds`` (30), fewer for a measurement that reached
    ``--max-seconds`` (30 s) after at least 5 rounds (the push: a round takes seconds;
    its warm-up also stops after a quarter of that).
``sql/req``
    SQL statements the app sent for one request (counted on its engines, ``BEGIN``
    included; the median over the calls, because the auth middleware adds a user lookup
    every few seconds). Independent of the machine: any change in it is a real one.

Results go to ``bench/results/sync.json`` (git-ignored): every sample, the spreads, the
machine and its load. ``--profile N`` then runs each measurement's Doorstep side N times
under cProfile and prints where the time goes (``bench/profiling.py``), with ``.prof``
files next to the JSON (for ``pstats`` or ``snakeviz``).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import Comparison, Progress
from bench.report import Figure, Summary
from bench.seed import Sizes
from bench.sync_bench import RESULTS, Options

PARTS = (
    "sync",
    "photos",
    "growth",
    "fleet",
    "peer",
    "nodes",
    "servers",
    "claims",
    "assign",
    "planner",
)


@dataclass(frozen=True, slots=True)
class Run:
    parts: tuple[str, ...]
    sync: Options
    results: Path
    quick: bool
    big: bool
    growth_ops: int
    phones: int
    storm: int
    fleet_seconds: float
    fleet_workers: int
    photo_every: int
    peer: bool


def _parse(argv: list[str] | None = None) -> Run:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Doorstep benchmark (ratios against baselines)."
    )
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, of: {', '.join(PARTS)}"
    )
    parser.add_argument("--quick", action="store_true", help="every part at a tiny size")
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=30.0,
        help="stop a measurement's timing after this long, once 5 rounds are done (0: never)",
    )
    parser.add_argument("--jobs", type=int, default=50, help="open jobs of the technician")
    parser.add_argument("--ops", type=int, default=500, help="operations after the cursor")
    parser.add_argument("--mutations", type=int, default=50, help="mutations per push")
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="folder for the JSON and the chart"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="the sync part's JSON (default: in --results)"
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="profile N calls (0: off)"
    )
    parser.add_argument(
        "--big", action="store_true", help="growth: 10 million logged operations (slow to seed)"
    )
    parser.add_argument(
        "--growth-ops", type=int, default=0, help="growth: logged operations of the big log"
    )
    parser.add_argument("--phones", type=int, default=500, help="fleet: phones polling")
    parser.add_argument("--storm", type=int, default=1000, help="fleet: first syncs at once")
    parser.add_argument("--fleet-seconds", type=float, default=10.0, help="fleet: poll time")
    parser.add_argument("--fleet-workers", type=int, default=4, help="fleet: load processes")
    parser.add_argument(
        "--photo-every", type=int, default=10, help="fleet: every Nth phone takes a photo"
    )
    parser.add_argument(
        "--peer", action="store_true", help="with --quick: run the peer part too (npm)"
    )
    args = parser.parse_args(argv)
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    if args.rounds < 1 or args.warmup < 0 or args.jobs < 1 or args.ops < 1 or args.mutations < 1:
        parser.error("rounds, jobs, ops and mutations must be positive; warmup not negative")
    quick = args.quick
    if quick:
        args.rounds, args.warmup, args.jobs, args.ops, args.mutations = 1, 0, 4, 10, 3
        args.phones, args.storm, args.fleet_seconds, args.fleet_workers = 3, 3, 0.5, 1
        args.photo_every = 2
        if "peer" in parts and not args.peer:
            parts = tuple(p for p in parts if p != "peer")
            print("[bench] peer: skipped with --quick (npm install); add --peer", file=sys.stderr)
    sizes = Sizes(
        jobs=args.jobs, customers=min(10, args.jobs), ops=args.ops, mutations=args.mutations
    )
    sync = Options(
        rounds=args.rounds,
        warmup=args.warmup,
        max_seconds=args.max_seconds or None,
        sizes=sizes,
        out=args.out or args.results / "sync.json",
        profile=args.profile,
    )
    growth_ops = args.growth_ops or (10_000_000 if args.big else 1_000_000)
    if quick and not args.growth_ops:
        growth_ops = 3_000
    return Run(
        parts=parts,
        sync=sync,
        results=sync.out.parent if sync.out is not None else args.results,
        quick=quick,
        big=args.big,
        growth_ops=growth_ops,
        phones=args.phones,
        storm=args.storm,
        fleet_seconds=args.fleet_seconds,
        fleet_workers=args.fleet_workers,
        photo_every=args.photo_every,
        peer=args.peer,
    )


# --- the parts -------------------------------------------------------------------------


SYNC_TARGETS = {
    "first_sync": (2.0, "Doorstep / raw sqlite3 + msgspec"),
    "empty_pull": (3.0, "Doorstep / raw sqlite3 + msgspec"),
    "incremental_pull": (None, "Doorstep / raw sqlite3 + msgspec"),
    "push": (3.0, "Doorstep / raw sqlite3 writes, one transaction"),
    "ceiling_first_sync": (None, "Doorstep / bare Litestar handler, same bytes"),
    "ceiling_empty_pull": (None, "Doorstep / bare Litestar handler, same bytes"),
}


def _comparison_figure(
    part: str, c: Comparison, target: float | None, what: str, name: str | None = None
) -> Figure:
    return Figure(
        part,
        name or c.label,
        c.ratio,
        target,
        what=what,
        note=f"cpu {c.cpu_ratio:.2f}x, p10-p90 {c.paired.p10:.2f}-{c.paired.p90:.2f}x",
        details={
            "doorstep_ms": round(c.subject.median, 3),
            "baseline_ms": round(c.baseline.median, 3),
            **{k: v for k, v in c.extra.items() if not isinstance(v, dict)},
        },
    )


def part_sync(run: Run, summary: Summary) -> None:
    from bench.sync_bench import main

    results = main(run.sync)
    for c in results:
        target, what = SYNC_TARGETS.get(c.name, (None, ""))
        summary.add(_comparison_figure("sync", c, target, what))
    summary.parts["sync"] = [c.as_dict() for c in results]


def part_photos(run: Run, summary: Summary) -> None:
    from bench import photo_bench

    rounds = 2 if run.quick else max(2, min(8, run.sync.rounds))
    result = photo_bench.main(rounds=rounds, out=run.results / "photos.json")
    ing, load = result["photo_ingestion"], result["sync_under_photo_load"]
    summary.add(
        Figure(
            "photos",
            "photo ingestion (12 MP JPEG)",
            ing["ratio"],
            1.5,
            what="Doorstep upload + processing / Pillow alone",
            details=ing,
        ),
        Figure(
            "photos",
            "empty pull p99 under photo load",
            load["p99_ratio"],
            2.0,
            what="p99 while photos upload / p99 without",
            note=f"p50 {load['p50_ratio']:.2f}x",
            details=load,
        ),
    )
    summary.parts["photos"] = result


def part_growth(run: Run, summary: Summary) -> None:
    from bench.growth import GrowthOptions
    from bench.growth import run as growth

    if run.quick:
        options = GrowthOptions(
            big_total=run.growth_ops, rounds=1, warmup=0, small_total=300, small_own=60,
            big_own=600,
        )  # fmt: skip
    else:
        options = GrowthOptions(
            big_total=run.growth_ops, rounds=run.sync.rounds, warmup=run.sync.warmup
        )
    results = growth(options)
    for c in results:
        target = 1.2 if c.name == "growth_incremental" else None
        summary.add(_comparison_figure("growth", c, target, "big log / small log", c.label))
    summary.parts["growth"] = [c.as_dict() for c in results]


def _inside_the_server(phase: str, seen: dict[str, Any]) -> str:
    """One line: where the phase's time went inside the server (its /metrics)."""
    if not seen:
        return f"[bench] fleet: {phase}: the server's metrics were not readable"
    routes = ", ".join(
        f"{route} {v['requests']} req p99 <= {v['p99_ms']} ms"
        for route, v in list(seen["routes"].items())[:3]
    )
    lag, wait = seen["event_loop_lag"], seen["sqlite_writer_wait"]
    return (
        f"[bench] fleet: {phase}, inside the server: {routes}; event-loop lag p99 <= "
        f"{lag['p99_ms']} ms (worst <= {lag['max_ms_at_most']} ms); SQLite writer wait "
        f"p99 <= {wait['p99_ms']} ms over {wait['transactions']} writes; listen-queue "
        f"overflows {seen['listen_overflows']}, drops {seen['listen_drops']}; "
        f"push queue wait p99 <= {seen.get('push_queue_wait', {}).get('p99_ms')} ms; "
        f"503 retry_later (admission) {seen.get('retry_later_shed', 0)}"
        + (f" {seen['retry_later_shed_by']}" if seen.get("retry_later_shed_by") else "")
    )


def _shed(phase: dict[str, Any]) -> int:
    """The phase's ``503 retry_later`` answers from admission control (the server's
    count; the load client's ``busy_answers`` also hold 429s and database 503s)."""
    shed: int = (phase.get("server") or {}).get("retry_later_shed", 0)
    return shed


def part_fleet(run: Run, summary: Summary) -> None:
    from bench.fleet import FleetOptions
    from bench.fleet import run as fleet

    options = FleetOptions(
        phones=run.phones,
        storm=run.storm,
        seconds=run.fleet_seconds,
        workers=run.fleet_workers,
        photo_every=run.photo_every,
        single=1 if run.quick else 5,
    )
    r = fleet(options)
    for phase in ("storm", "poll", "reconnect"):
        print(_inside_the_server(phase, r[phase].get("server") or {}), flush=True)
    errors = sum(r[k]["errors"] for k in ("storm", "poll", "reconnect", "ceiling"))
    peak = r["storm"]["server_memory_kib"]["peak"].get("VmRSS", 0) / 1024
    summary.add(
        Figure(
            "fleet",
            f"poll throughput, {r['poll']['phones']} phones",
            r["poll"]["share_of_ceiling"],
            0.5,
            higher_is_better=True,
            what="Doorstep req/s / bare Litestar req/s, same load client",
            note=f"{r['poll']['requests_per_second']:.0f} vs "
            f"{r['ceiling']['requests_per_second']:.0f} req/s, "
            f"p99 {r['poll']['latency'].get('p99_ms', 0):.0f} ms, "
            f"{_shed(r['poll'])} shed 503 retry_later",
        ),
        Figure(
            "fleet",
            f"storm of {r['storm']['phones']} first syncs",
            r["storm"]["ratio"],
            1.3,
            what="storm time / (one first sync x phones / cores)",
            note=f"{r['storm']['seconds']:.1f} s vs {r['storm']['ideal_seconds']:.1f} s, "
            f"server peak RSS {peak:.0f} MiB, {_shed(r['storm'])} shed 503 retry_later",
        ),
        Figure(
            "fleet",
            f"reconnect storm p99, {r['reconnect']['phones']} phones",
            r["reconnect"]["latency"].get("p99_ms", 0)
            / max(r["poll"]["latency"].get("p99_ms", 1), 1e-9),
            None,
            what="p99 of push, photo upload and pull at once / poll p99",
            note=f"{r['reconnect']['seconds']:.1f} s, {r['reconnect']['errors']} errors, "
            f"{sum(r['reconnect']['busy_answers'].values())} busy answers (retried), "
            f"{_shed(r['reconnect'])} of them shed 503 retry_later",
        ),
        Figure(
            "fleet",
            "errors, every phase",
            float(errors),
            0.0,
            what="answers >= 400 and requests without an answer (count, not a ratio)",
        ),
    )
    summary.parts["fleet"] = r


def part_peer(run: Run, summary: Summary) -> None:
    from bench.peer import PeerOptions
    from bench.peer import run as peer

    options = (
        PeerOptions(rounds=1, warmup=0, jobs=4, mutations=3)
        if run.quick
        else PeerOptions(rounds=min(run.sync.rounds, 20), warmup=run.sync.warmup)
    )
    results = peer(options)
    if results is None:
        summary.add(Figure("peer", "PouchDB Server", None, note="skipped: see above"))
        return
    for c in results:
        summary.add(
            Figure(
                "peer",
                c.label.split(":")[0],
                c.baseline.median / c.subject.median,
                2.0,
                higher_is_better=True,
                what="PouchDB Server time / Doorstep time (speed-up)",
                note=f"{c.subject.median:.1f} ms vs {c.baseline.median:.1f} ms",
            )
        )
    summary.parts["peer"] = [c.as_dict() for c in results]


def part_nodes(run: Run, summary: Summary) -> None:
    from bench.nodes import NodesOptions
    from bench.nodes import run as nodes

    options = (
        NodesOptions(phones=3, seconds=0.5, workers=1, pokes=2)
        if run.quick
        else NodesOptions(
            phones=min(run.phones, 200), seconds=run.fleet_seconds, workers=run.fleet_workers
        )
    )
    r = nodes(options)
    if r is None:
        summary.add(Figure("nodes", "two nodes", None, note="skipped: see above"))
        return
    pokes = r["pokes"]
    summary.add(
        Figure(
            "nodes",
            f"two nodes vs one, {options.phones} phones",
            r["speedup"],
            1.6,
            higher_is_better=True,
            what=f"req/s through {r.get('balancer', 'the proxy')}, 2 nodes / 1 node, "
            "PostgreSQL + Redis",
            note=f"{r['nodes_1']['requests_per_second']:.0f} -> "
            f"{r['nodes_2']['requests_per_second']:.0f} req/s, "
            f"{r['nodes_1']['errors'] + r['nodes_2']['errors']} errors",
        ),
        Figure(
            "nodes",
            f"two nodes vs one on one socket, {options.phones} phones",
            r["shared_speedup"],
            1.6,
            higher_is_better=True,
            what="req/s, 2 nodes / 1 node sharing one listening socket (no proxy)",
            note=f"{r['shared_1']['requests_per_second']:.0f} -> "
            f"{r['shared_2']['requests_per_second']:.0f} req/s, "
            f"{r['shared_1']['errors'] + r['shared_2']['errors']} errors",
        ),
        Figure(
            "nodes",
            f"two nodes vs one on one socket, lean client, {options.phones} phones",
            r["lean_speedup"],
            1.6,
            higher_is_better=True,
            what="the same poll from a wrk-like client (bench/loadgen.py), 2 nodes / 1",
            note=f"{r['lean_1']['requests_per_second']:.0f} -> "
            f"{r['lean_2']['requests_per_second']:.0f} req/s, "
            f"{r['lean_1']['errors'] + r['lean_2']['errors']} errors, node CPU "
            f"{r['lean_1']['node_cpu_ms_per_request']:.2f} ms a poll",
        ),
        Figure(
            "nodes",
            "pokes crossing nodes",
            pokes.get("received", 0) / max(pokes.get("sent", 1), 1),
            1.0,
            higher_is_better=True,
            what="pokes received on node A / changes made on node B",
            note=f"p50 delay {pokes.get('p50_ms')} ms",
        ),
    )
    summary.parts["nodes"] = r


def part_servers(run: Run, summary: Summary) -> None:
    from bench.servers import ServersOptions
    from bench.servers import run as servers

    options = (
        ServersOptions(phones=3, seconds=0.5, workers=1)
        if run.quick
        else ServersOptions(
            phones=min(run.phones, 200), seconds=run.fleet_seconds, workers=run.fleet_workers
        )
    )
    r = servers(options)
    if r is None:
        summary.add(Figure("servers", "granian vs uvicorn", None, note="skipped: see above"))
        return
    for load, label in (("poll", "polling"), ("first_sync", "first syncs")):
        summary.add(
            Figure(
                "servers",
                f"granian vs uvicorn, {label}",
                r[f"{load}_ratio"],
                None,
                higher_is_better=True,
                what="granian req/s / uvicorn req/s, Doorstep's own endpoints",
                note=f"p99 {r['uvicorn'][load]['latency'].get('p99_ms', 0):.0f} -> "
                f"{r['granian'][load]['latency'].get('p99_ms', 0):.0f} ms",
            )
        )
    summary.parts["servers"] = r


def part_claims(run: Run, summary: Summary) -> None:
    from bench.claims_bench import run as claims

    r = claims(quick=run.quick)
    flag = r["false_flag_rate"]
    summary.add(
        Figure(
            "claims",
            "not-home claims: ROC AUC",
            r["auc"],
            0.97,
            higher_is_better=True,
            what="probability the claim is false, labelled set (fixtures/claims.py)",
            note=f"{r['claims']} claims, {r['false_claims']} false, seed {r['seed']}",
        ),
        Figure(
            "claims",
            "not-home claims: precision at N",
            r["precision_at_n"],
            0.9,
            higher_is_better=True,
            what="false claims among the first N of the queue, N = false claims",
        ),
        Figure(
            "claims",
            "not-home claims: honest flagged",
            flag,
            0.03,
            what=f"honest claims at p >= {r['threshold']} / honest claims",
            note=f"recall {r['recall']}",
            details={"per_kind": r["per_kind"]},
        ),
        Figure(
            "claims",
            "scoring a claim, 2,000-point trace: p99 CPU",
            r["trace_cost"]["p99_ms"] / 20.0,
            1.0,
            what="p99 CPU ms to decode, merge, find stops and score / 20 ms budget",
            note=f"p99 {r['trace_cost']['p99_ms']:.2f} ms, p50 {r['trace_cost']['p50_ms']:.2f} ms",
        ),
    )
    summary.parts["claims"] = r


def part_assign(run: Run, summary: Summary) -> None:
    from bench.assign_bench import run as assign

    r = assign(quick=run.quick)
    summary.add(
        Figure(
            "assign",
            f"automatic assignment p99, {r['technicians']} technicians",
            r["p99_ms"],
            50.0,
            what="milliseconds of server time to rank and assign one new job (p99)",
            note=f"p50 {r['p50_ms']} ms, CPU p99 {r['cpu_p99_ms']} ms, ranking only p99 "
            f"{r['decide_p99_ms']} ms, "
            f"{r['candidates_per_job']} ranked a job, {r['rounds']} jobs, {r['backend']}, "
            f"load average {r['load_average']}, a trivial query {r['trivial_query_ms']} ms",
            details=r,
        )
    )
    summary.parts["assign"] = r


def part_planner(run: Run, summary: Summary) -> None:
    from bench.planner_bench import run as planner

    r = planner(quick=run.quick)
    p, g = r["planner"], r["greedy"]
    summary.add(
        Figure(
            "planner",
            "day plan: travel vs greedy",
            r["travel_ratio"],
            0.8,
            what="total travel, OR-Tools routing / greedy nearest-free-technician, same jobs",
            note=(
                f"{r['jobs']} jobs, {r['technicians']} technicians; planner "
                f"{r['planner_km']} km for {p['served']} visits, greedy {r['greedy_km']} km "
                f"for {g['served']}"
            ),
            details=r,
        ),
        Figure(
            "planner",
            "day plan: windows and clocks honoured",
            (p["in_window"] / p["served"]) if p["served"] else None,
            1.0,
            higher_is_better=True,
            what="planned visits inside their window (urgent: before the on-site clock) / "
            "planned visits",
            note=f"urgent on time {p['urgent_on_time']}/{p['urgent']}, "
            f"skill violations {p['skill_violations']}, outside hours {p['outside_hours']}, "
            f"service-area violations {p['service_area_violations']}, to the installer "
            f"{p['to_installer']} of {p['wanting_installer']} (greedy "
            f"{g['to_installer']})",
        ),
        Figure(
            "planner",
            "day plan: solve time (s)",
            r["solve_s"],
            30.0,
            what=f"seconds to the plan (time limit {r['time_limit_s']} s)",
            note=f"{r['solve_cpu_s']} s of CPU; load average {r['load_average']}",
        ),
    )
    summary.parts["planner"] = r


def main(run: Run) -> Summary:
    summary = summary_ = Summary()
    progress = Progress()
    for part in run.parts:
        started = time.perf_counter()
        progress.done(f"[bench] === {part} ===")
        globals()[f"part_{part}"](run, summary_)
        progress.done(f"[bench] {part}: {time.perf_counter() - started:.0f} s")
    print()
    print(summary.table())
    for path in summary.write(run.results):
        print(f"wrote {path}")
    return summary


def _cli(argv: list[str] | None = None) -> Any:
    return main(_parse(argv))


if __name__ == "__main__":
    _cli()
