"""``python -m client_sdk.simulate``: a simulated technician's day against a server.

Why: the quickest end-to-end check that a server and the reference client agree — a
phone enrols, pulls its jobs, works them in window order while dropping in and out of
coverage, and must end with an empty outbox. Random but reproducible (``--seed``) and
bounded in time (``--max-seconds``).

    python -m client_sdk.simulate --base-url http://127.0.0.1:8000 \\
        --username tech1 --password doorstep-demo [--store /tmp/x.db] [--seed 1] \\
        [--offline-fraction 0.5] [--max-seconds 60]

Exit status: 0 if the final sync left the outbox empty, 1 if not, 2 if the day stopped on
an error no retry can fix (a failed login, a refused enrolment, a gap in the outbox).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from client_sdk.api import SdkError
from client_sdk.phone import Phone
from client_sdk.sync_loop import Backoff, SyncReport, is_transient
from sync.packet_types import JobPacket
from sync.vocabulary import JobStatus, UnableReason

__all__ = ["main", "plan"]

S = JobStatus
NOT_HOME_RATE = 0.2
"""About one visit in five finds nobody at home."""


def plan(status: str, not_home: bool) -> list[str]:
    """The actions left for a job in ``status``: the visit from where it stands."""
    arrive = ["acknowledge", "en_route", "check_in"]
    start = {S.ASSIGNED: 0, S.ACKNOWLEDGED: 1, S.EN_ROUTE: 2}
    if status in start:
        steps = arrive[start[S(status)] :]
        if not_home:
            return [*steps, "note", "unable_to_complete"]
        return [*steps, "start_work", "note", "complete"]
    if status == S.ON_SITE:
        return ["note", "unable_to_complete"] if not_home else ["start_work", "note", "complete"]
    if status == S.PAUSED:
        return ["start_work", "note", "complete"]
    if status == S.IN_PROGRESS:
        return ["note", "complete"]
    return []  # closed or waiting on the office: nothing to do


@dataclass
class Day:
    """What happened, for the summary."""

    queued: int = 0
    syncs: int = 0
    failed_syncs: int = 0
    worked: Counter[str] = field(default_factory=Counter)
    report: SyncReport = field(default_factory=SyncReport)


def _act(phone: Phone, packet: JobPacket, step: str, rng: random.Random) -> None:
    job = packet.job.id
    if step == "check_in":
        lat, lon = packet.customer.latitude, packet.customer.longitude
        if lat is None or lon is None:
            phone.check_in(job)
            return
        phone.check_in(
            job,
            round(lat + rng.gauss(0, 0.0002), 6),  # ~20 m of GPS scatter
            round(lon + rng.gauss(0, 0.0002), 6),
            round(rng.uniform(4, 30), 1),
            fix_time=phone.clock(),
            location_provider="gps",
        )
    elif step == "note":
        phone.note(job, rng.choice(["Checked the unit.", "Customer explained the fault."]))
    elif step == "complete":
        phone.complete(job, "Repaired and tested with the customer.")
    elif step == "unable_to_complete":
        phone.unable_to_complete(job, UnableReason.CUSTOMER_NOT_HOME, "Rang and called; no answer.")
    else:
        getattr(phone, step)(job)


def _sync(phone: Phone, day: Day) -> None:
    """Sync while "online"; a transient failure is just bad coverage, tried again later."""
    day.syncs += 1
    try:
        day.report.add(phone.sync())
    except SdkError as exc:
        if not is_transient(exc):
            raise
        day.failed_syncs += 1


def simulate(phone: Phone, args: argparse.Namespace, rng: random.Random) -> Day:
    deadline = time.monotonic() + args.max_seconds
    day = Day()
    phone.login(args.username, args.password)
    phone.enroll()
    phone.login(args.username, args.password)  # tokens bound to the enrolled device
    day.report.add(phone.run_until_synced(max_attempts=5))
    online, stretch = True, 0
    for packet in phone.jobs():
        not_home = rng.random() < NOT_HOME_RATE
        steps = plan(packet.job.status, not_home)
        for step in steps:
            if time.monotonic() > deadline:
                break
            if stretch == 0:  # coverage comes and goes in stretches of a few actions
                online, stretch = rng.random() >= args.offline_fraction, rng.randint(1, 6)
            stretch -= 1
            try:
                _act(phone, packet, step, rng)
            except ValueError:
                break  # the office took the job away meanwhile: next one
            day.queued += 1
            if online:
                _sync(phone, day)
        else:
            if steps:
                day.worked[steps[-1]] += 1
    try:
        day.report.add(phone.run_until_synced(max_attempts=8))
    except SdkError as exc:
        if not is_transient(exc):
            raise
        day.failed_syncs += 1
    return day


def _summary(phone: Phone, day: Day, username: str) -> str:
    r, stats = day.report, phone.api.stats
    outcomes = ", ".join(f"{k}={v}" for k, v in sorted(r.outcomes.items())) or "none"
    worked = ", ".join(f"{v} {k}" for k, v in sorted(day.worked.items())) or "none"
    return "\n".join(
        [
            f"simulated day of {username} (device {phone.device_id})",
            f"  jobs worked: {sum(day.worked.values())} ({worked})",
            f"  mutations queued: {day.queued}",
            f"  mutations pushed: {r.pushed} (resends included)",
            f"  outcomes: {outcomes}",
            f"  pulls: {r.pulls} (puts {r.puts}, removes {r.removes}, resets {r.resets})",
            f"  syncs while online: {day.syncs} ({day.failed_syncs} failed)",
            f"  bytes: sent {stats.bytes_sent}, received {stats.bytes_received}"
            f" in {stats.requests} requests",
            f"  outbox left: {phone.store.pending_count()}",
        ]
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m client_sdk.simulate", description=__doc__)
    p.add_argument("--base-url", required=True)
    p.add_argument("--username", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--store", help="the phone's SQLite file (default: a temporary one)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--offline-fraction", type=float, default=0.5)
    p.add_argument("--max-seconds", type=float, default=60.0)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 0 <= args.offline_fraction <= 1:
        print("error: --offline-fraction must be between 0 and 1", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(args.store) if args.store else Path(tmp) / "phone.db"
        with Phone(
            store, args.base_url, timeout=10, backoff=Backoff(base=0.25, cap=4.0, rng=rng)
        ) as phone:
            try:
                day = simulate(phone, args, rng)
            except SdkError as exc:
                print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
                print(f"  outbox left: {phone.store.pending_count()}", file=sys.stderr)
                return 2
            print(_summary(phone, day, args.username))
            return 0 if phone.store.pending_count() == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
