"""Real server processes on 127.0.0.1 for tests that kill or cross nodes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``doorstep serve`` in a child process; ``kill()`` is a kill -9."""

    def __init__(
        self,
        env: dict[str, str],
        data_dir: Path,
        port: int | None = None,
        args: tuple[str, ...] = ("--log-level", "warning"),
        listener: socket.socket | None = None,
    ) -> None:
        """``listener``: serve on this listening socket (``--fd``), which several
        processes may share, instead of a port of its own."""
        self.listener = listener
        self.port = listener.getsockname()[1] if listener else port or free_port()
        self.args = args
        self.env = {
            **os.environ,
            **env,
            "DOORSTEP_DATA_DIR": str(data_dir),
            "DOORSTEP_OUTBOX_INTERVAL": "0",
            "DOORSTEP_MAINTENANCE_INTERVAL": "0",
            "DOORSTEP_PASSWORD_TIME_COST": "1",
            "DOORSTEP_PASSWORD_MEMORY_KIB": "8",
        }
        # Nodes sharing one listener each keep a log of their own.
        self.log = data_dir / (
            f"server-{self.port}-{id(self):x}.log" if listener else f"server-{self.port}.log"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        where = ["--host", "127.0.0.1", "--port", str(self.port)]
        fds: tuple[int, ...] = ()
        if self.listener is not None:
            fds = (self.listener.fileno(),)
            where = ["--fd", str(fds[0])]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", *where, *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=fds,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            # On a shared listener another node may answer the health check, so this
            # process must also have said it is serving.
            mine = self.listener is None or "Doorstep serving on" in self.log.read_text()
            try:
                if mine and httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in time")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def http_login(c: httpx.Client, who: str, device: str | None = None) -> dict[str, str]:
    """Bearer headers for ``who`` (bound to ``device`` when given) from a real server."""
    from world import PASSWORD

    body: dict[str, str] = {"username": who, "password": PASSWORD}
    if device:
        body["device_id"] = device
    r = c.post("/auth/login", json=body)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def book_install(c: httpx.Client, world: Any) -> dict[str, Any]:
    """An install job for tomorrow, given to tech1 (the crash tests' one job)."""
    from datetime import UTC, datetime, timedelta

    desk = http_login(c, "dispatcher")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=24)
    r = c.post(
        "/jobs",
        headers=desk,
        json={
            "customer_id": str(world["customer1"]),
            "kind": "install",
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=2)).isoformat(),
            "provider_id": str(world["p1"]),
            "technician_id": str(world["tech1"]),
        },
    )
    r.raise_for_status()
    job: dict[str, Any] = r.json()
    return job
