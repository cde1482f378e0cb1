"""Sync benchmark: ``python -m bench`` (or ``make bench``), from the repository root.

Every figure is a ratio, Doorstep against a baseline measured in the same process, on
the same database file and in the same minute. Noise from the machine (other jobs, CPU
frequency, a slow disk) hits both sides alike and mostly cancels out, so ratios from
different runs and machines can be compared far better than absolute times, which are
printed only as context.

The setup, in a temporary folder (never in the repository): a migrated SQLite database
with the ``tests/world.py`` world, then through the app's HTTP API: customers with
appliances and past visits, knowledge articles, and a technician with 50 open jobs and an
enrolled phone. The app runs in-process (``httpx.ASGITransport`` inside the app's
lifespan), so Doorstep's times include the whole request: routing, auth, the
``sync/`` engine, SQLAlchemy over aiosqlite, JSON encoding, and the client's side of
the in-process transport. No network.

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
    than that for real: each note bumps the job's version, rebuilds its packet and
    appends it to the technician's bucket. The ratio shows what that costs.

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
from pathlib import Path

from bench.seed import Sizes
from bench.sync_bench import RESULTS, Options, main


def _parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Doorstep sync benchmark (ratios against baselines)."
    )
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
        "--out", type=Path, default=RESULTS / "sync.json", help="where to write the JSON"
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="profile N calls (0: off)"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0 or args.jobs < 1 or args.ops < 1 or args.mutations < 1:
        parser.error("rounds, jobs, ops and mutations must be positive; warmup not negative")
    sizes = Sizes(
        jobs=args.jobs,
        customers=min(10, args.jobs),
        ops=args.ops,
        mutations=args.mutations,
    )
    return Options(
        rounds=args.rounds,
        warmup=args.warmup,
        max_seconds=args.max_seconds or None,
        sizes=sizes,
        out=args.out,
        profile=args.profile,
    )


if __name__ == "__main__":
    options = _parse()
    main(options)
    print()
    from bench import photo_bench

    # photos: a few rounds are enough (each is a 12-megapixel decode on both sides)
    out = options.out.with_name("photos.json") if options.out is not None else None
    photo_bench.main(rounds=max(2, min(8, options.rounds)), out=out)
