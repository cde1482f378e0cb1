"""Real server processes on 127.0.0.1 for tests that kill or cross nodes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

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
    ) -> None:
        self.port = port or free_port()
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
        self.log = data_dir / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "server.cli",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    *self.args,
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
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
