"""``doorstep serve --fd``: nodes on one machine sharing one listening socket (the
nodes benchmark's second setup, README "Scale out")."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from servers import ROOT, START_TIMEOUT, ServerProcess


def test_two_nodes_serve_one_inherited_socket(tmp_path: Path) -> None:
    data = tmp_path / "data"
    subprocess.run(
        [sys.executable, "-m", "server.cli", "migrate"],
        cwd=ROOT,
        env={**os.environ, "DOORSTEP_DATA_DIR": str(data)},
        check=True,
        capture_output=True,
    )
    with socket.create_server(("127.0.0.1", 0)) as listener:
        nodes = [
            ServerProcess({}, data, listener=listener, args=("--log-level", "info"))
            for _ in range(2)
        ]
        try:
            for node in nodes:
                node.start()
            # Each node, not only the first, must be up and accepting on the socket.
            deadline = time.monotonic() + START_TIMEOUT
            while not all(started(n) for n in nodes) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert all(started(n) for n in nodes), [n.log.read_text() for n in nodes]
            # Every connection is answered, whichever node the kernel gives it to.
            for _ in range(20):
                with httpx.Client() as fresh:
                    assert fresh.get(f"{nodes[0].url}/health").status_code == 200
            assert all(n.proc is not None and n.proc.poll() is None for n in nodes)
        finally:
            for node in nodes:
                node.stop()
    served = f"Doorstep serving on http://127.0.0.1:{nodes[0].port}"
    assert all(served in n.log.read_text() for n in nodes)


def started(node: ServerProcess) -> bool:
    return "Application startup complete" in node.log.read_text()


def test_a_bad_fd_is_a_clear_error(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--fd", "987"],
        cwd=ROOT,
        env={**os.environ, "DOORSTEP_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert r.returncode == 2
    assert "error: --fd 987" in r.stderr
    assert "Traceback" not in r.stderr
