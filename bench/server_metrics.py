"""The server's own view of a phase: ``GET /metrics`` scraped before and after, the
difference summarised (``server/metrics``) — where the time went inside the server, as
against what the load client measured from outside.

- per route: requests, p50/p99 of the server-side duration (from the histogram's
  buckets: the upper bound of the bucket the quantile falls in);
- event-loop lag p99 and the largest bucket reached (a saturated loop);
- SQLite writer wait p99 (the write lock's queue);
- the kernel's listen-queue overflows and drops during the phase (SYNs the kernel
  dropped because the accept queue was full: each costs the phone a 1 s, then 3 s…
  SYN retransmit before it is even seen);
- the requests admission control shed with ``503 retry_later`` (by route and reason)
  and the pushes' wait for their turn (``server/sync_api/push_queue.py``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["TOKEN", "Scrape", "difference", "scrape"]

TOKEN = "bench-metrics-token-0123456789abcdef"

Scrape = dict[str, dict[tuple[tuple[str, str], ...], float]]
"""sample name → labels (sorted) → value."""


def scrape(url: str, token: str = TOKEN) -> Scrape:
    """The metrics now, or nothing if the server has them off."""
    try:
        r = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    except httpx.HTTPError:
        return {}
    if r.status_code != 200:
        return {}
    out: Scrape = defaultdict(dict)
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[s.name][tuple(sorted(s.labels.items()))] = s.value
    return dict(out)


def _quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The upper bound of the bucket holding quantile ``q`` of cumulative ``buckets``."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    want = q * buckets[-1][1]
    for bound, cumulative in buckets:
        if cumulative >= want:
            return bound
    return math.inf


def _histograms(
    before: Scrape, after: Scrape, name: str, by: str | None
) -> dict[str, list[tuple[float, float]]]:
    """Cumulative bucket counts that arrived between the scrapes, grouped by label ``by``."""
    grouped: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    old = before.get(f"{name}_bucket", {})
    for labels, value in after.get(f"{name}_bucket", {}).items():
        d = dict(labels)
        key = d.get(by, "") if by else ""
        grouped[key][float(d["le"])] += value - old.get(labels, 0.0)
    return {k: sorted(v.items()) for k, v in grouped.items()}


def _ms(seconds: float | None) -> float | None:
    if seconds is None:
        return None
    return math.inf if math.isinf(seconds) else round(seconds * 1000, 1)


def difference(before: Scrape, after: Scrape) -> dict[str, Any]:
    """What happened in the server between the two scrapes."""
    if not after:
        return {}
    routes: dict[str, dict[str, Any]] = {}
    for route, buckets in _histograms(
        before, after, "doorstep_request_duration_seconds", "route"
    ).items():
        n = buckets[-1][1] if buckets else 0
        if n > 0:
            routes[route] = {
                "requests": int(n),
                "p50_ms": _ms(_quantile(buckets, 0.5)),
                "p99_ms": _ms(_quantile(buckets, 0.99)),
            }
    lag = _histograms(before, after, "doorstep_event_loop_lag_seconds", None).get("", [])
    wait = _histograms(before, after, "doorstep_sqlite_writer_wait_seconds", None).get("", [])
    turn = _histograms(before, after, "doorstep_push_queue_wait_seconds", None).get("", [])
    shed: dict[str, int] = defaultdict(int)
    old_shed = before.get("doorstep_admission_shed_total", {})
    for labels, value in after.get("doorstep_admission_shed_total", {}).items():
        d = dict(labels)
        n = int(value - old_shed.get(labels, 0.0))
        if n:
            shed[f"{d.get('route', '')} {d.get('reason', '')}"] += n

    def counter(name: str) -> int:
        return int(sum(after.get(name, {}).values()) - sum(before.get(name, {}).values()))

    return {
        "routes": dict(sorted(routes.items(), key=lambda kv: -kv[1]["requests"])),
        "event_loop_lag": {
            "ticks": int(lag[-1][1]) if lag else 0,
            "p99_ms": _ms(_quantile(lag, 0.99)),
            "max_ms_at_most": _ms(_quantile(lag, 1.0)),  # the bucket the worst tick is in
        },
        "sqlite_writer_wait": {
            "transactions": int(wait[-1][1]) if wait else 0,
            "p99_ms": _ms(_quantile(wait, 0.99)),
        },
        "push_queue_wait": {
            "pushes": int(turn[-1][1]) if turn else 0,
            "p99_ms": _ms(_quantile(turn, 0.99)),
        },
        "retry_later_shed": sum(shed.values()),
        "retry_later_shed_by": dict(shed),
        "listen_overflows": counter("doorstep_tcp_listen_overflows_total"),
        "listen_drops": counter("doorstep_tcp_listen_drops_total"),
    }
