"""The README's load-balancer configuration works in front of real nodes.

nginx (Debian's package; `.ci/run` installs it, elsewhere the test skips) runs the
configuration of ``bench/balancer.py`` — the one the README's "Scale out" documents —
in front of two ``doorstep serve`` processes on one database: logins and reads pass
through it, and the event stream passes through unbuffered (a poke arrives while the
stream is open, not when it ends). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import ServerProcess, http_login
from world import build_world

from bench.balancer import Nginx

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")


def test_two_nodes_behind_nginx_answer_and_stream(database_url: str, tmp_path: Path) -> None:
    url = database_url
    world = build_world(url)
    env = {"DOORSTEP_DATABASE_URL": url, "DOORSTEP_SECRET_KEY": "balancer-" + "k" * 56}
    nodes = [ServerProcess(env, tmp_path / f"node{i}") for i in (1, 2)]
    balancer: Nginx | None = None
    try:
        for i, node in enumerate(nodes, 1):
            (tmp_path / f"node{i}").mkdir()
            node.start()
        assert NGINX is not None
        balancer = Nginx(NGINX, [n.port for n in nodes])
        with httpx.Client(base_url=balancer.url, timeout=60) as c:
            for _ in range(6):
                assert c.get("/health").json() == {"status": "ok"}
            tech = http_login(c, "tech1")
            desk = http_login(c, "dispatcher")
            assert c.get("/jobs", headers=desk).status_code == 200

            # the stream through nginx to node 1 alone
            balancer.upstreams = [nodes[0].port]
            events: list[str] = []
            opened = threading.Event()
            poked = threading.Event()

            def listen() -> None:
                with (
                    httpx.Client(base_url=balancer.url, timeout=60) as s,  # type: ignore[union-attr]
                    s.stream("GET", "/sync/v1/events?heartbeat=1", headers=tech) as r,
                ):
                    assert r.status_code == 200
                    for line in r.iter_lines():
                        if line.startswith("event: poke"):
                            events.append(line)
                            (poked if opened.is_set() else opened).set()
                            if poked.is_set():
                                return

            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            assert opened.wait(60), "the stream's first poke did not come through nginx"
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=24)
            job: dict[str, Any] = {
                "customer_id": str(world["customer1"]),
                "kind": "install",
                "window_start": start.isoformat(),
                "window_end": (start + timedelta(hours=2)).isoformat(),
                "provider_id": str(world["p1"]),
                "technician_id": str(world["tech1"]),
            }
            # the change is made on the stream's node (pokes across nodes need Redis,
            # tested elsewhere): straight to it, not through the balancer
            r = httpx.post(f"{nodes[0].url}/jobs", json=job, headers=desk, timeout=60)
            assert r.status_code == 201, r.text
            assert poked.wait(60), "a poke did not pass through nginx while the stream was open"
            listener.join(10)
    finally:
        if balancer is not None:
            balancer.close()
        for node in nodes:
            node.stop()
