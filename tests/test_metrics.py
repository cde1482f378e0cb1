"""``GET /metrics``: what an operator watches for the latency tail, from the real app.

Off unless a token is set; with it, a scraper reads request durations per route
template (not per id), event-loop lag, SQLite writer wait, the kernel's listen-queue
counters and the sync engine's counters, in Prometheus' text format.
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

from litestar.testing import TestClient
from world import login

from server.app import create_app
from server.settings import Settings

TOKEN = "scrape-" + "t" * 40


def _value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels…}`` (labels in any order), or 0."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_are_off_without_a_token(client: TestClient[Any]) -> None:
    r = client.get("/metrics")
    assert r.status_code == 404 and r.json()["code"] == "metrics_not_found"


def _series(text: str, name: str, route_prefix: str) -> float:
    """The sum of ``name`` over every series whose route starts with ``route_prefix``."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and f'route="{route_prefix}' in line
    )


def test_metrics_name_routes_and_watch_the_loop(settings: Settings, world: Any) -> None:
    app = create_app(dataclasses.replace(settings, metrics_token=TOKEN))
    scrape = {"Authorization": f"Bearer {TOKEN}"}
    count = "doorstep_request_duration_seconds_count"
    with TestClient(app) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        before = c.get("/metrics", headers=scrape).text  # metrics are the process's
        desk = login(c, "dispatcher")
        for _ in range(3):
            assert c.get(f"/customers/{world['customer1']}", headers=desk).status_code == 200
        c.get("/health")
        time.sleep(0.35)  # the loop watcher ticks every 100 ms
        r = c.get("/metrics", headers=scrape)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    after = r.text

    def grew(name: str, route: str) -> float:
        return _series(after, name, route) - _series(before, name, route)

    assert grew(count, '/health"') == 1
    assert grew(count, "/customers/{") == 3  # one series per template, whatever the id
    assert str(world["customer1"]) not in after  # ids never become labels
    assert grew(count, '/auth/login"') == 1
    assert _value(after, "doorstep_event_loop_lag_seconds_count") > _value(
        before, "doorstep_event_loop_lag_seconds_count"
    )
    if settings.database_url.startswith("sqlite"):  # the login wrote: it took the lock
        wait = "doorstep_sqlite_writer_wait_seconds_count"
        assert _value(after, wait) > _value(before, wait)
    assert "doorstep_tcp_listen_overflows_total" in after
