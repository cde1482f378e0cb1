"""The suite's own process handling (``tests/servers.py``): a child that fails to start
is stopped with everything it started, and nothing is left for a later test to trip on
(a server left running by a failed start-up once broke a later test with a
ResourceWarning)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import ServerProcess, reap, spawn, wait_ready

HANGS = (
    "import subprocess, sys, time;"
    "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
    "print(c.pid, flush=True); time.sleep(600)"
)
"""A "server" that never answers, with a child of its own (its pid printed)."""


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its reaper is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _dies(pid: int) -> bool:
    """A SIGKILL to a group lands at once but each process still has to die: wait
    (a generous deadline, not a timing assertion)."""
    deadline = time.monotonic() + 60
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _running(pid)


def _group_alive(pgid: int) -> bool:
    return any(
        _running(int(p.name))
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and _pgid(int(p.name)) == pgid
    )


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_start_up_that_never_gets_ready_is_stopped_with_its_children() -> None:
    proc = spawn([sys.executable, "-c", HANGS], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    grandchild = int(proc.stdout.readline())
    assert _running(grandchild)
    with pytest.raises(RuntimeError, match="did not start"):
        wait_ready("http://127.0.0.1:9", proc, timeout=1)
    proc.stdout.close()
    assert proc.returncode is not None  # waited for: no zombie, no ResourceWarning
    assert _dies(grandchild) and not _group_alive(proc.pid)


def test_a_start_up_that_exits_says_why_and_is_reaped(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    with log.open("wb") as out:
        proc = spawn([sys.executable, "-c", "print('no config'); raise SystemExit(3)"], stdout=out)
    with pytest.raises(RuntimeError, match=r"exited \(3\)[\s\S]*no config"):
        wait_ready("http://127.0.0.1:9", proc, log, timeout=60)
    assert proc.returncode == 3


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_server_process_that_fails_to_start_leaves_nothing_running(tmp_path: Path) -> None:
    server = ServerProcess(
        {"DOORSTEP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"}, tmp_path
    )
    with pytest.raises(RuntimeError):
        server.start(timeout=0)  # not ready at once: a start-up that took too long
    assert server.proc is not None and server.proc.returncode is not None
    assert not _group_alive(server.proc.pid)
    server.stop()  # and stopping again is harmless


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_reap_stops_a_process_that_ignores_sigterm() -> None:
    proc = spawn(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"1\n"
    reap(proc, grace=0.5)
    proc.stdout.close()
    assert proc.returncode is not None and not _group_alive(proc.pid)
