"""A simulated fleet: the reference client (``client_sdk.Phone``) in separate processes
driving N phones against a real ``doorstep serve`` process on 127.0.0.1.

Each phone is a thread in one of ``--fleet-workers`` load processes, with its own local
store file and its own HTTP connection, exactly as the SDK runs on a device. Every
request is timed at the transport (until its body is read); any answer >= 400, and any
request that got no answer, counts as an error, except "busy, retry later" answers
(429, 503 with ``Retry-After``): the protocol's flow control, after which the phone
backs off and resends; those are counted apart (``busy_answers``).

Phases, in order, on one server (SQLite, the one-machine setup):

``one first sync``
    A few phones, one after another on an idle server: a phone's first sync alone.
``storm``
    ``--storm`` phones (already logged in and enrolled) start their first sync at the
    same instant. Figure: the storm's duration over (one first sync x phones / cores),
    the issue's formula. The server's resident memory is sampled throughout.
``poll``
    ``--phones`` synced phones pull again and again (the empty incremental pull a phone
    makes all day) for ``--fleet-seconds``: throughput and latency.
``reconnect``
    The same phones, offline for a while, queue edits (acknowledge, a note), every
    ``--photo-every``-th takes a photo; all reconnect at the same instant, upload the
    photo and sync (push, then pull).
``ceiling``
    The same load client, the same phones, the same poll, against a bare Litestar app
    in its own uvicorn process answering the bytes of an empty pull
    (``bench/bare.py``): the framework's ceiling on this machine. Figure: Doorstep's
    poll throughput as a share of it.

The load client shares the machine's cores with the server: on a 2-core machine the
phones' own CPU use (threads, JSON, SQLite stores) caps both the server's and the bare
app's throughput; the ratio is still "same client, same machine".
"""

from __future__ import annotations

import atexit
import hashlib
import math
import multiprocessing
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import Empty
from typing import Any

import httpx

from bench import server_metrics
from bench.harness import Progress, percentile

__all__ = ["FleetOptions", "Served", "run", "server_env", "start_bare"]

PASSWORD = "doorstep-demo"
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class FleetOptions:
    phones: int = 500
    storm: int = 1000
    seconds: float = 10.0
    workers: int = 4
    photo_every: int = 10
    single: int = 5
    """Phones timed alone for "one first sync"."""


# --- the load client (runs in the worker processes) ----------------------------------


class _Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {}
        self.statuses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.busy: Counter[str] = Counter()

    def add(self, kind: str, seconds: float, status: int | None) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds)
            if status in (429, 503):
                # "busy, retry after": flow control the protocol defines; the phone
                # backs off and resends (counted apart, not as an error)
                self.busy[f"{kind}: {status}"] += 1
            elif status is None:
                self.errors[f"{kind}: no answer"] += 1
            elif status >= 400 and not (kind == "blob HEAD" and status == 404):
                # (a HEAD answering 404 is how an upload learns it starts from zero)
                self.errors[f"{kind}: {status}"] += 1


def _kind(request: httpx.Request) -> str:
    path = request.url.path
    if path.startswith("/sync/v1/blobs/"):
        return f"blob {request.method}"
    return path.rsplit("/", 1)[-1] or path


class _TimedTransport(httpx.HTTPTransport):
    def __init__(self, recorder: _Recorder) -> None:
        super().__init__(retries=0)
        self.recorder = recorder

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = super().handle_request(request)
            response.read()
        except httpx.HTTPError:
            self.recorder.add(_kind(request), time.perf_counter() - started, None)
            raise
        self.recorder.add(_kind(request), time.perf_counter() - started, response.status_code)
        return response


def _phone(folder: str, username: str, base_url: str, recorder: _Recorder) -> Any:
    from client_sdk.phone import Phone

    return Phone(
        Path(folder) / f"{username}.db",
        base_url,
        transport=_TimedTransport(recorder),
        timeout=120.0,
        label=f"bench {username}",
    )


def _busy_retry(step: Callable[[], Any], attempts: int = 8) -> None:
    """``step``, again after the server's ``Retry-After`` while it answers "busy" (a
    database busy under a loaded machine, or admission control), as a phone would."""
    from client_sdk.api import RetryLater
    from client_sdk.sync_loop import Backoff

    backoff = Backoff()
    for attempt in range(attempts):
        try:
            step()
            return
        except RetryLater as exc:
            if attempt + 1 == attempts:
                raise
            time.sleep(backoff.delay(attempt, exc.retry_after))


def _setup(p: Any, username: str) -> None:
    _busy_retry(lambda: p.login(username, PASSWORD))
    _busy_retry(p.enroll)
    _busy_retry(lambda: p.login(username, PASSWORD))  # tokens bound to the device


def _first_sync(p: Any, _username: str) -> None:
    p.run_until_synced(max_attempts=8)  # backs off on "busy, retry later", as a phone does


def _poll_until(deadline: list[float]) -> Callable[[Any, str], int]:
    from client_sdk.api import RetryLater

    def poll(p: Any, _username: str) -> int:
        n = busy = 0
        while time.time() < deadline[0]:
            try:
                p.engine.pull_all()
            except RetryLater as exc:  # as the phone's sync loop: wait, never below the floor
                wait = p.engine.backoff.delay(busy, exc.retry_after)
                busy += 1
                time.sleep(max(0.0, min(wait, deadline[0] - time.time())))
                continue
            busy = 0
            n += 1
        return n

    return poll


def _offline_edits(p: Any, username: str, photo_every: int, photo: bytes) -> bytes:
    """Queue edits while offline (nothing is sent); the photo's bytes, or b"" for none."""
    jobs = p.jobs()
    if not jobs:
        return b""
    job_id = jobs[0].job.id
    p.acknowledge(job_id)
    p.note(job_id, "Customer asked for a call before the visit.")
    index = int("".join(c for c in username if c.isdigit()) or 0)
    if not photo_every or index % photo_every:
        return b""
    data = photo + b"\0bench " + username.encode()  # a distinct blob per phone
    p.photo(job_id, hashlib.sha256(data).hexdigest(), "before")
    return data


def _reconnect(prepared: dict[str, bytes]) -> Callable[[Any, str], None]:
    from client_sdk.uploads import upload_blob

    def go(p: Any, username: str) -> None:
        if prepared[username]:
            upload_blob(p.api, prepared[username], "image/jpeg")
        p.run_until_synced(max_attempts=8)  # backs off on "busy, retry later"

    return go


def _worker(task: dict[str, Any], ready: Any, out: Any) -> None:
    """One load process: its phones as threads. Once every phone is built (and its
    offline edits queued), it waits at ``ready`` for the other load processes, then all
    phones start at once."""
    import faulthandler

    faulthandler.enable(all_threads=False)  # a crash in C code says where (seen once: -11)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    recorder = _Recorder()
    users: list[str] = task["users"]
    phase: str = task["phase"]
    phones = [_phone(task["folder"], u, task["base_url"], recorder) for u in users]
    failures: Counter[str] = Counter()
    results: list[Any] = []
    durations: list[float] = []
    spans: list[tuple[float, float]] = []
    deadline = [0.0]
    action: Callable[[Any, str], Any]
    if phase == "setup":
        action = _setup
    elif phase == "first_sync":
        action = _first_sync
    elif phase == "poll":
        action = _poll_until(deadline)
    else:
        prepared = {
            u: _offline_edits(p, u, task["photo_every"], task["photo"])
            for p, u in zip(phones, users, strict=True)
        }
        action = _reconnect(prepared)
    go = threading.Event()

    def one(pair: tuple[Any, str]) -> None:
        p, u = pair
        go.wait()
        t, wall = time.perf_counter(), time.time()
        try:
            results.append(action(p, u))
        except Exception as exc:
            failures[type(exc).__name__ + ": " + str(exc)[:120]] += 1
        durations.append(time.perf_counter() - t)
        spans.append((wall, time.time()))

    pairs = list(zip(phones, users, strict=True))
    threads = [] if task["sequential"] else [threading.Thread(target=one, args=(x,)) for x in pairs]
    for thread in threads:
        thread.start()
    ready.wait()  # every load process is ready
    deadline[0] = time.time() + task.get("seconds", 0.0)
    go.set()
    if task["sequential"]:
        for pair in pairs:
            one(pair)
    for thread in threads:
        thread.join()
    for p in phones:
        p.close()
    out.put(
        {
            "latencies": recorder.latencies,
            "errors": dict(recorder.errors),
            "busy": dict(recorder.busy),
            "failures": dict(failures),
            "durations": durations,
            "results": [r for r in results if isinstance(r, int)],
            "started": min(a for a, _ in spans),
            "finished": max(b for _, b in spans),
        }
    )


# --- the server side ------------------------------------------------------------------


def server_env(**extra: str) -> dict[str, str]:
    return {
        "DOORSTEP_SECRET_KEY": "bench-secret-key-that-is-long-enough-for-hs256-0123456789abcdef",
        "DOORSTEP_PASSWORD_TIME_COST": "1",
        "DOORSTEP_PASSWORD_MEMORY_KIB": "8",
        "DOORSTEP_LOGIN_MAX_FAILURES": "1000000",
        "DOORSTEP_METRICS_TOKEN": server_metrics.TOKEN,  # the server's side of each phase
        **extra,
    }


def _doorstep(args: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"doorstep {' '.join(args)}: {proc.stdout[-1000:]}{proc.stderr[-2000:]}")


def demo_world(technicians: int, env: dict[str, str]) -> list[str]:
    """Migrate and load a demo brand with at least ``technicians`` technicians; their
    usernames (``tech1``…)."""
    per_provider = max(1, math.ceil(technicians / 10))
    providers = min(10, technicians)
    _doorstep(["migrate"], env)
    _doorstep(
        [
            "demo-data",
            "--cities",
            "1",
            "--providers-per-city",
            str(providers),
            "--technicians-per-provider",
            str(per_provider),
            "--customers-per-city",
            str(max(20, technicians * 2)),
            "--days",
            "2",
        ],
        env,
    )
    return [f"tech{i + 1}" for i in range(providers * per_provider)]


class Served:
    """A child process serving HTTP on 127.0.0.1 (``doorstep serve`` or the bare app)."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        port: int,
        log: Path,
        pass_fds: tuple[int, ...] = (),
        ready: str = "",
    ) -> None:
        """``ready``: a line the process's own log must show before it counts as up
        (on a shared socket, another node may answer the health check)."""
        self.port, self.log = port, log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=pass_fds,
            )
        atexit.register(self.stop)  # never leave a server behind
        deadline = time.monotonic() + 300  # generous: the machine may be loaded
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
            try:
                up = ready in log.read_text()
                if up and httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start in time")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU time the process has used so far (user + system), from ``/proc``."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_kib(self) -> dict[str, int]:
        """Resident memory now and at its peak (``VmRSS``, ``VmHWM``), KiB."""
        out = {}
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
        except OSError:
            pass
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_doorstep(
    env: dict[str, str],
    folder: Path,
    server: str = "uvicorn",
    listener: socket.socket | None = None,
) -> Served:
    """A ``doorstep serve`` process on a port of its own, or on ``listener``, a listening
    socket it inherits (and may share with other nodes)."""
    from tests.servers import free_port

    if listener is not None:
        fd, port = listener.fileno(), listener.getsockname()[1]
        argv = [sys.executable, "-m", "server.cli", "serve", "--fd", str(fd)]
        argv += ["--log-level", "info"]  # says when this node has started
        log = folder / f"server-{port}-{len(list(folder.glob(f'server-{port}-*')))}.log"
        return Served(argv, env, port, log, pass_fds=(fd,), ready="Application startup complete")
    port = free_port()
    argv = [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--log-level", "warning"]
    if server == "granian":  # the same app, built by its factory (settings from env)
        argv = [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1"]
        argv += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
        argv += ["--factory", "server.app:create_app"]
    return Served(argv, env, port, folder / f"server-{port}.log")


def start_bare(body: bytes, folder: Path) -> Served:
    from tests.servers import free_port

    port = free_port()
    path = folder / f"bare-{port}.json"
    path.write_bytes(body)
    argv = [sys.executable, "-m", "bench.bare", "--port", str(port), "--body", str(path)]
    return Served(argv, {}, port, folder / f"bare-{port}.log")


# --- the phases -----------------------------------------------------------------------


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p95_ms": round(percentile(values, 95) * 1000, 2),
        "p99_ms": round(percentile(values, 99) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2),
    }


def reports(queue: Any, procs: list[Any], on_death: Callable[[], Any] | None = None) -> list[Any]:
    """One report from each load process, then every process joined. A process that dies
    without reporting fails the run at once (``on_death`` first) instead of leaving it
    waiting."""
    parts: list[Any] = []
    try:
        while len(parts) < len(procs):
            try:
                parts.append(queue.get(timeout=1.0))
            except Empty:
                dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    if on_death is not None:
                        on_death()
                    raise RuntimeError(f"a load process died (exit codes {dead})") from None
    finally:
        for proc in procs:
            proc.join(30)
    return parts


class Fleet:
    def __init__(self, folder: Path, options: FleetOptions, progress: Progress) -> None:
        self.folder, self.options, self.progress = folder, options, progress
        self.stores = folder / "phones"
        self.stores.mkdir(parents=True, exist_ok=True)

    def phase(
        self,
        phase: str,
        base_url: str,
        users: list[str],
        *,
        sequential: bool = False,
        sampler: Served | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        workers = 1 if sequential else max(1, min(self.options.workers, len(users)))
        chunks = [c for c in (users[i::workers] for i in range(workers)) if c]
        tasks = [
            {
                "phase": phase,
                "base_url": base_url,
                "users": chunk,
                "folder": str(self.stores),
                "sequential": sequential,
                **extra,
            }
            for chunk in chunks
        ]
        peak: dict[str, int] = {}
        stop = threading.Event()

        def sample() -> None:
            while sampler is not None and not stop.is_set():
                for k, v in sampler.memory_kib().items():
                    peak[k] = max(peak.get(k, 0), v)
                stop.wait(0.05)

        before = sampler.memory_kib() if sampler else {}
        # "spawn", not "fork": forking a process that already runs threads (this one's
        # sampler, a test runner's) can leave a child with a lock or an allocator state
        # held by a thread that does not exist in it — seen as a crash in a load client.
        ctx = multiprocessing.get_context("spawn")
        ready, queue = ctx.Barrier(len(tasks)), ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(t, ready, queue)) for t in tasks]
        for proc in procs:
            proc.start()
        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        try:
            parts = reports(queue, procs, on_death=ready.abort)
        finally:
            stop.set()
            watcher.join()
        latencies: dict[str, list[float]] = {}
        errors: Counter[str] = Counter()
        busy: Counter[str] = Counter()
        failures: Counter[str] = Counter()
        durations: list[float] = []
        counts = 0
        for part in parts:
            for k, v in part["latencies"].items():
                latencies.setdefault(k, []).extend(v)
            errors.update(part["errors"])
            busy.update(part["busy"])
            failures.update(part["failures"])
            durations.extend(part["durations"])
            counts += sum(part["results"])
        started = min(p["started"] for p in parts)
        finished = max(p["finished"] for p in parts)
        every = [x for v in latencies.values() for x in v]
        seconds = finished - started
        out: dict[str, Any] = {
            "phones": len(users),
            "seconds": round(seconds, 3),
            "requests": len(every),
            "requests_per_second": round(len(every) / seconds, 1) if seconds > 0 else 0.0,
            "latency": _stats(every),
            "latency_by_kind": {k: _stats(v) for k, v in sorted(latencies.items())},
            "errors": sum(errors.values()) + sum(failures.values()),
            "error_kinds": dict(errors),
            "busy_answers": dict(busy),
            "failures": dict(failures),
            "phone_seconds": _stats(durations),
        }
        if sampler is not None:
            out["server_memory_kib"] = {"before": before, "peak": peak}
        return out


def run(options: FleetOptions, progress: Progress | None = None) -> dict[str, Any]:
    from fixtures.photos import make_jpeg

    progress = progress or Progress()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="doorstep-fleet-") as tmp:
        folder = Path(tmp)
        env = server_env(DOORSTEP_DATA_DIR=str(folder / "data"))
        wanted = max(options.phones, options.storm) + options.single
        progress.update(f"[bench] fleet: loading a demo brand with {wanted} technicians")
        t = time.perf_counter()
        users = demo_world(wanted, env)
        progress.done(
            f"[bench] fleet: {len(users)} technicians loaded in {time.perf_counter() - t:.0f} s"
        )
        singles, rest = users[: options.single], users[options.single :]
        storm_users, poll_users = rest[: options.storm], rest[: options.phones]
        fleet = Fleet(folder, options, progress)
        server = start_doorstep(env, folder)
        result: dict[str, Any] = {"cores": cores, "options": asdict(options)}
        try:
            progress.update(f"[bench] fleet: {len(singles) + len(storm_users)} phones log in")
            result["setup"] = fleet.phase("setup", server.url, singles + storm_users)
            progress.update("[bench] fleet: one first sync at a time")
            result["one_first_sync"] = fleet.phase(
                "first_sync", server.url, singles, sequential=True
            )
            progress.update(f"[bench] fleet: a storm of {len(storm_users)} first syncs")
            seen = server_metrics.scrape(server.url)
            result["storm"] = fleet.phase("first_sync", server.url, storm_users, sampler=server)
            seen = _inside(result["storm"], server.url, seen)
            one = result["one_first_sync"]["phone_seconds"]["p50_ms"] / 1000
            ideal = one * len(storm_users) / cores
            result["storm"]["ideal_seconds"] = round(ideal, 3)
            result["storm"]["ratio"] = round(result["storm"]["seconds"] / ideal, 3)
            progress.done(
                f"[bench] fleet: storm of {len(storm_users)} first syncs in "
                f"{result['storm']['seconds']:.1f} s (ideal {ideal:.1f} s), "
                f"{result['storm']['errors']} errors, "
                f"{sum(result['storm']['busy_answers'].values())} busy answers (retried), "
                "server peak RSS "
                f"{result['storm']['server_memory_kib']['peak'].get('VmRSS', 0) / 1024:.0f} MiB"
            )
            progress.update(f"[bench] fleet: {len(poll_users)} phones polling")
            result["poll"] = fleet.phase(
                "poll", server.url, poll_users, seconds=options.seconds, sampler=server
            )
            seen = _inside(result["poll"], server.url, seen)
            progress.done(
                f"[bench] fleet: {len(poll_users)} phones polling: "
                f"{result['poll']['requests_per_second']:.0f} req/s, p99 "
                f"{result['poll']['latency'].get('p99_ms', 0):.0f} ms, "
                f"{result['poll']['errors']} errors, "
                f"{sum(result['poll']['busy_answers'].values())} busy answers (retried)"
            )
            photo = make_jpeg(width=1600, height=1200, seed=7)
            progress.update(f"[bench] fleet: {len(poll_users)} phones reconnect with edits")
            result["reconnect"] = fleet.phase(
                "reconnect",
                server.url,
                poll_users,
                photo_every=options.photo_every,
                photo=photo,
                sampler=server,
            )
            seen = _inside(result["reconnect"], server.url, seen)
            progress.done(
                f"[bench] fleet: reconnect storm of {len(poll_users)} phones in "
                f"{result['reconnect']['seconds']:.1f} s, p99 "
                f"{result['reconnect']['latency'].get('p99_ms', 0):.0f} ms, "
                f"{result['reconnect']['errors']} errors, "
                f"{sum(result['reconnect']['busy_answers'].values())} busy answers (retried)"
            )
            body = _empty_pull_body(server.url, poll_users[0], fleet)
        finally:
            server.stop()
        bare = start_bare(body, folder)
        try:
            progress.update(f"[bench] fleet: {len(poll_users)} phones polling the bare app")
            result["ceiling"] = fleet.phase("poll", bare.url, poll_users, seconds=options.seconds)
        finally:
            bare.stop()
        share = result["poll"]["requests_per_second"] / max(
            result["ceiling"]["requests_per_second"], 1e-9
        )
        result["poll"]["share_of_ceiling"] = round(share, 3)
        progress.done(
            f"[bench] fleet: bare app {result['ceiling']['requests_per_second']:.0f} req/s; "
            f"Doorstep at {share:.0%} of it"
        )
        return result


def _inside(
    phase: dict[str, Any], url: str, before: server_metrics.Scrape
) -> server_metrics.Scrape:
    """Put the server's own view of the phase (its metrics' difference) into ``phase``;
    the scrape after it, for the next phase."""
    after = server_metrics.scrape(url)
    phase["server"] = server_metrics.difference(before, after)
    return after


def _empty_pull_body(base_url: str, username: str, fleet: Fleet) -> bytes:
    """The bytes of one phone's empty pull (what the bare app will answer)."""
    from client_sdk.store import Store

    store = Store(fleet.stores / f"{username}.db")
    try:
        tokens = store.load_tokens()
        cursor = store.cursor
    finally:
        store.close()
    if tokens is None:
        raise RuntimeError("the phone has no tokens")
    params = {"cursor": cursor} if cursor else {}
    headers = {"Authorization": f"Bearer {tokens.access_token}"}
    r = httpx.get(f"{base_url}/sync/v1/pull", params=params, headers=headers, timeout=30)
    r.raise_for_status()
    return r.content
