"""Real server processes on 127.0.0.1 for tests that kill or cross nodes.

Every child a test starts goes through ``spawn``: it gets a process group of its own, so
``reap`` can stop it and anything it started by PID, and it is remembered until reaped,
so ``reap_all`` (the ``spawned`` fixture's finaliser, and the session's end) stops
whatever a failed test or a failed start-up left running. Readiness is waited for with a
generous deadline (``START_TIMEOUT``), never a fixed few seconds: a loaded 2-core machine
running two suites may take a minute to import and migrate.
"""

from __future__ import annotations

import contextlib
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
START_TIMEOUT = float(os.environ.get("DOORSTEP_TEST_START_TIMEOUT", "300"))
"""Seconds a child process may take to become ready (DOORSTEP_TEST_START_TIMEOUT)."""
PATIENCE = 3 * START_TIMEOUT
"""Seconds a whole scenario around restarts may take before a test gives up waiting."""

_LIVE: dict[int, subprocess.Popen[bytes]] = {}


def spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(args, **kwargs)`` in a new process group, remembered until
    ``reap``."""
    proc: subprocess.Popen[bytes] = subprocess.Popen(args, start_new_session=True, **kwargs)
    _LIVE[proc.pid] = proc
    return proc


def reap(proc: subprocess.Popen[bytes], grace: float = 10) -> None:
    """Stop ``proc`` and its process group: SIGTERM, then SIGKILL after ``grace``
    seconds; always waits for it, so no zombie or ResourceWarning is left behind."""
    try:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
        _signal_group(proc, signal.SIGKILL)  # whatever of the group is left
        proc.wait(grace)
    finally:
        _LIVE.pop(proc.pid, None)


def kill9(proc: subprocess.Popen[bytes]) -> None:
    """kill -9 of the process group, and wait for it."""
    try:
        _signal_group(proc, signal.SIGKILL)
        proc.wait(30)
    finally:
        _LIVE.pop(proc.pid, None)


def reap_all() -> None:
    """Stop every process spawned and not reaped yet."""
    for proc in list(_LIVE.values()):
        reap(proc, grace=5)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the group's id is the leader's pid (new session)
    except ProcessLookupError:
        pass
    except PermissionError:  # the group is gone and its id reused: the leader only
        if proc.poll() is None:
            proc.send_signal(sig)


def wait_ready(
    url: str,
    proc: subprocess.Popen[bytes],
    log: Path | None = None,
    timeout: float = START_TIMEOUT,
    also: Any = None,
) -> None:
    """Until ``GET {url}/health`` answers 200 (and ``also()``, when given, is true).
    Raises, after reaping ``proc``, when it exits or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:] if log else ""
                raise RuntimeError(f"{url}: the server exited ({proc.returncode}):\n{tail}")
            try:
                if (also is None or also()) and httpx.get(
                    f"{url}/health", timeout=2
                ).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:] if log else ""
                raise RuntimeError(f"{url}: the server did not start in {timeout:.0f} s:\n{tail}")
            time.sleep(0.1)
    except BaseException:
        reap(proc)
        raise


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
            "DOORSTEP_ADMISSION_MAX_LOOP_LAG_MS": "0",  # no 503s from a loaded test machine
        }
        # Nodes sharing one listener each keep a log of their own.
        self.log = data_dir / (
            f"server-{self.port}-{id(self):x}.log" if listener else f"server-{self.port}.log"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the process and wait until it serves; on failure it is stopped again
        before the error is raised."""
        where = ["--host", "127.0.0.1", "--port", str(self.port)]
        fds: tuple[int, ...] = ()
        if self.listener is not None:
            fds = (self.listener.fileno(),)
            where = ["--fd", str(fds[0])]
        self.stop()  # a restart: the previous process is gone for good first
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as log:
            self.proc = spawn(
                [sys.executable, "-m", "server.cli", "serve", *where, *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=fds,
            )

        def mine() -> bool:
            # On a shared listener another node may answer the health check, so this
            # process must also have said it is serving (in this run's part of the log).
            if self.listener is None:
                return True
            with open(self.log, "rb") as f:
                f.seek(offset)
                return b"Doorstep serving on" in f.read()

        wait_ready(self.url, self.proc, self.log, timeout, also=mine)

    def kill(self) -> None:
        """kill -9 (of its process group), and wait for it."""
        if self.proc is not None:
            kill9(self.proc)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; nothing is left running or unwaited."""
        if self.proc is not None:
            reap(self.proc)


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
