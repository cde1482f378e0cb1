"""The benchmark runs end to end (``python -m bench --quick``) at a tiny size and reports
every measurement. No timing assertions: only that each part works and says something.

The peer part (``pouchdb-server`` from npm) is skipped unless ``DOORSTEP_BENCH_PEER=1``:
its npm install alone takes minutes. The nodes part needs PostgreSQL and Redis
(``DOORSTEP_TEST_POSTGRES_URL``, ``DOORSTEP_TEST_REDIS_URL``)."""

from __future__ import annotations

import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

from bench.report import Figure, Summary

ROOT = Path(__file__).resolve().parent.parent
SYNC_NAMES = [
    "first_sync",
    "empty_pull",
    "incremental_pull",
    "ceiling_first_sync",
    "ceiling_empty_pull",
    "push",
]


def _bench(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--results", str(tmp_path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout, json.loads((tmp_path / "summary.json").read_text())


def _figures(summary: Any, part: str) -> list[dict[str, Any]]:
    return [f for f in summary["figures"] if f["part"] == part]


def test_in_process_parts_report_every_measurement(tmp_path: Path) -> None:
    stdout, summary = _bench(tmp_path, "--parts", "sync,photos,growth")
    report = json.loads((tmp_path / "sync.json").read_text())
    results = {r["name"]: r for r in report["results"]}
    assert list(results) == SYNC_NAMES
    for name, r in results.items():
        assert r["rounds"] == 1, name
        assert r["doorstep_ms"]["median"] > 0 and r["baseline_ms"]["median"] > 0, name
        assert r["ratio"] > 0 and r["cpu_ratio"] > 0, name
        assert r["sql_statements"] > 0, name
        assert r["label"] in stdout, name  # the sync table
    assert results["incremental_pull"]["label"].startswith("incremental pull (10 ops")
    assert report["meta"]["sizes"]["mutations"] == 3
    # the empty pull at the head reads the bucket head and nothing else
    assert results["empty_pull"]["sql_statements"] <= 2

    photos = json.loads((tmp_path / "photos.json").read_text())
    assert photos["photo_ingestion"]["ratio"] > 0 and photos["photo_ingestion"]["rounds"] >= 2
    assert photos["sync_under_photo_load"]["p99_ratio"] > 0

    assert {f["part"] for f in summary["figures"]} == {"sync", "photos", "growth"}
    assert all(f["ratio"] > 0 for f in summary["figures"])
    targets = {f["name"]: f["target"] for f in summary["figures"]}
    assert targets["first sync (7 docs)"] == 2.0
    assert targets["photo ingestion (12 MP JPEG)"] == 1.5
    growth = _figures(summary, "growth")
    assert [f["target"] for f in growth] == [1.2, None]
    assert "3,000 vs 300 logged ops" in growth[0]["name"]
    assert "photo ingestion" in stdout and "met" in stdout  # the summary table


@pytest.mark.slow
def test_fleet_drives_phones_against_a_server_process(tmp_path: Path) -> None:
    _, summary = _bench(tmp_path, "--parts", "fleet")
    fleet = summary["parts"]["fleet"]
    assert fleet["storm"]["phones"] == 3 and fleet["storm"]["errors"] == 0
    assert fleet["storm"]["server_memory_kib"]["peak"]["VmRSS"] > 0
    assert fleet["poll"]["requests"] > 0 and fleet["ceiling"]["requests"] > 0
    assert fleet["reconnect"]["latency_by_kind"]["push"]["count"] == 3
    assert fleet["reconnect"]["latency_by_kind"]["blob PATCH"]["count"] >= 1
    errors = {f["name"]: f["ratio"] for f in _figures(summary, "fleet")}
    assert errors["errors, every phase"] == 0


@pytest.mark.slow
@pytest.mark.postgres
def test_two_nodes_on_postgres_and_redis_and_pokes_cross(tmp_path: Path) -> None:
    pg, redis = (
        os.environ.get("DOORSTEP_TEST_POSTGRES_URL"),
        os.environ.get("DOORSTEP_TEST_REDIS_URL"),
    )
    if not pg or not redis:
        pytest.skip("needs DOORSTEP_TEST_POSTGRES_URL and DOORSTEP_TEST_REDIS_URL")
    env = {"DOORSTEP_BENCH_POSTGRES_URL": pg, "DOORSTEP_BENCH_REDIS_URL": redis}
    _, summary = _bench(tmp_path, "--parts", "nodes", env=env)
    nodes = summary["parts"]["nodes"]
    assert nodes["nodes_1"]["requests"] > 0 and nodes["nodes_2"]["requests"] > 0
    assert nodes["nodes_1"]["errors"] == 0 and nodes["nodes_2"]["errors"] == 0
    # the second phase reached both nodes (each node's own count, behind nginx or the proxy)
    assert all(n > 0 for n in nodes["nodes_2"]["node_requests"].values())
    assert len(nodes["nodes_2"]["node_requests"]) == 2
    assert nodes["pokes"]["received"] == nodes["pokes"]["sent"] == 2
    for phase in ("shared_1", "shared_2", "lean_1", "lean_2"):  # one socket, both clients
        assert nodes[phase]["requests"] > 0 and nodes[phase]["errors"] == 0, nodes[phase]


@pytest.mark.slow
def test_peer_against_pouchdb_server(tmp_path: Path) -> None:
    if os.environ.get("DOORSTEP_BENCH_PEER") != "1":
        pytest.skip("the npm install of pouchdb-server takes minutes: DOORSTEP_BENCH_PEER=1")
    if shutil.which("npm") is None:
        pytest.skip("no npm")
    _, summary = _bench(tmp_path, "--parts", "peer", "--peer")
    names = [f["name"] for f in _figures(summary, "peer")]
    assert len(names) == 3 and all(f["ratio"] > 0 for f in _figures(summary, "peer"))


def test_figures_know_their_targets() -> None:
    lower = Figure("sync", "empty pull", 2.5, 3.0)
    higher = Figure("fleet", "share", 0.4, 0.5, higher_is_better=True)
    skipped = Figure("peer", "PouchDB Server", None, note="no npm")
    assert lower.met is True and lower.target_text == "<= 3"
    assert higher.met is False and higher.target_text == ">= 0.5"
    assert skipped.met is None
    summary = Summary()
    summary.add(lower, higher, skipped)
    table = summary.table()
    assert "yes" in table and "NO" in table and "skipped" in table


def test_round_robin_proxy_alternates_between_upstreams() -> None:
    from bench.nodes import RoundRobinProxy

    def upstream(tag: bytes) -> tuple[socket.socket, int]:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen()

        def serve() -> None:
            while True:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                with conn:
                    conn.recv(100)
                    conn.sendall(tag)

        threading.Thread(target=serve, daemon=True).start()
        return srv, srv.getsockname()[1]

    a, port_a = upstream(b"A")
    b, port_b = upstream(b"B")
    proxy = RoundRobinProxy([port_a, port_b])
    try:
        answers = []
        for _ in range(4):
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as c:
                c.sendall(b"hello")
                answers.append(c.recv(10))
        assert answers == [b"A", b"B", b"A", b"B"]
        assert proxy.connections == {port_a: 2, port_b: 2}
    finally:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            proxy.close()
            a.close()
            b.close()
            gc.collect()
    # nothing left open: no loop, transport or socket for a later test to trip on
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_claims_part_prints_the_ranking_figures(tmp_path: Path) -> None:
    stdout, summary = _bench(tmp_path, "--parts", "claims", "--quick")
    figures = {f["name"]: f for f in _figures(summary, "claims")}
    assert set(figures) == {
        "not-home claims: ROC AUC",
        "not-home claims: precision at N",
        "not-home claims: honest flagged",
        "scoring a claim, 2,000-point trace: p99 CPU",
    }
    claims = summary["parts"]["claims"]
    assert claims["claims"] == 30 and 0 < claims["false_claims"] < 30
    assert 0 <= claims["auc"] <= 1 and "ROC AUC" in stdout
    assert set(claims["per_kind"]) >= {"far_away", "mock_gps", "no_check_in"}


def test_assign_part_reports_the_assignment_time(tmp_path: Path) -> None:
    stdout, summary = _bench(tmp_path, "--parts", "assign")
    [figure] = _figures(summary, "assign")
    assert figure["target"] == 50.0 and figure["ratio"] > 0
    r = summary["parts"]["assign"]
    assert r["technicians"] == 2500 and r["rounds"] == 10 and r["assigned"] > 0
    assert "automatic assignment p99" in stdout


def test_planner_part_prints_its_figures(tmp_path: Path) -> None:
    stdout, summary = _bench(tmp_path, "--parts", "planner")
    figures = {f["name"]: f for f in _figures(summary, "planner")}
    assert set(figures) == {
        "day plan: travel vs greedy",
        "day plan: windows and clocks honoured",
        "day plan: solve time (s)",
    }
    r = summary["parts"]["planner"]
    assert r["jobs"] == 30 and r["planner"]["skill_violations"] == 0
    assert r["planner"]["in_window"] == r["planner"]["served"] > 0
    assert "travel vs greedy" in stdout
