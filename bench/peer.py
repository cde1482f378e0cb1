"""The peer: PouchDB Server (CouchDB's replication protocol) and Doorstep side by side,
on the same technician's documents, driven by the same load client.

``pouchdb-server`` is installed from npm by this benchmark into a temporary folder
(never into the repository; npm's own cache makes later runs quick), and runs as a node
process on 127.0.0.1 storing its databases on disk (LevelDB) in that folder. Doorstep
runs as ``doorstep serve`` (uvicorn, SQLite) on the database seeded by
``bench/seed.py``. Without ``node`` and ``npm`` the part is skipped with a message.

The technician's documents (every ``put`` of Doorstep's first sync: job packets and
knowledge articles) are loaded into a PouchDB database, one CouchDB document each. Then,
with one ``httpx.AsyncClient`` per server, interleaved round by round:

``first sync``
    Doorstep: ``GET /sync/v1/pull`` without a cursor. PouchDB: what its replicator does
    to pull from scratch: ``GET /db/_changes?style=all_docs`` then ``POST
    /db/_bulk_get`` for every changed document (revisions included).
``empty pull``
    Doorstep: a pull with the head cursor. PouchDB: ``GET /db/_changes?since=<seq>``.
``push``
    Doorstep: 50 ``job.note`` mutations in one push (each applied, ledgered, its job's
    packet rebuilt). PouchDB: what its replicator does to push 50 new documents (one
    note each): ``POST /db/_revs_diff`` then ``POST /db/_bulk_docs`` with
    ``new_edits: false``.

Figures are speed-ups: PouchDB's median time over Doorstep's (higher is better; the
issue's target is 2x).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench.harness import Comparison, Progress, Side, compare
from bench.seed import Sizes, mutation, push_body, seed
from bench.sync_bench import SECRET

__all__ = ["PeerOptions", "install", "run"]

PACKAGE = "pouchdb-server@4"


class PeerOptions(msgspec.Struct, frozen=True):
    rounds: int = 20
    warmup: int = 2
    max_seconds: float | None = 20.0
    jobs: int = 50
    mutations: int = 50


def install(folder: Path, progress: Progress) -> Path | None:
    """``pouchdb-server`` installed with npm under ``folder``; None (and why, printed)
    without node or npm, or if the install fails."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        progress.done("[bench] peer: skipped: node and npm are needed for pouchdb-server")
        return None
    progress.update(f"[bench] peer: npm install {PACKAGE} (into a temporary folder)")
    started = time.perf_counter()
    proc = subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(folder),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--no-save",
            PACKAGE,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    binary = folder / "node_modules" / ".bin" / "pouchdb-server"
    if proc.returncode != 0 or not binary.exists():
        progress.done(f"[bench] peer: skipped: npm install failed: {proc.stderr[-500:]}")
        return None
    progress.done(
        f"[bench] peer: pouchdb-server installed in {time.perf_counter() - started:.0f} s"
    )
    return binary


def _free_port() -> int:
    from tests.servers import free_port

    return free_port()


class _Pouch:
    def __init__(self, binary: Path, folder: Path) -> None:
        self.port = _free_port()
        data = folder / "pouch-data"
        data.mkdir()
        self.log = folder / "pouch.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    str(binary),
                    "--port",
                    str(self.port),
                    "--host",
                    "127.0.0.1",
                    "--dir",
                    str(data),
                    "--no-stdout-logs",
                ],
                cwd=data,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pouchdb-server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("pouchdb-server did not start in time")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _ok(r: httpx.Response, *statuses: int) -> Any:
    if r.status_code not in (statuses or (200,)):
        raise RuntimeError(f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}")
    return r.json()


async def _seed_doorstep(folder: Path, options: PeerOptions) -> Any:
    from server.app import create_app
    from server.db.migrate import upgrade
    from server.settings import Settings
    from tests.world import PASSWORD, build_world

    path = folder / "data" / "doorstep.db"
    path.parent.mkdir()
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    ids = dict((await asyncio.to_thread(build_world, url)).ids)
    settings = Settings(
        data_dir=path.parent,
        database_url=url,
        secret_key=SECRET,
        access_token_ttl=3600,
        password_time_cost=1,
        password_memory_kib=8,
        outbox_interval=0,
        maintenance_interval=0,
    )
    app = create_app(settings)
    sizes = Sizes(jobs=options.jobs, customers=min(10, options.jobs), ops=1, mutations=1)
    async with (
        app.lifespan(),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
            base_url="http://doorstep.bench",
        ) as client,
    ):
        return await seed(client, app.state.db, ids, PASSWORD, sizes)


async def _measure(
    folder: Path, binary: Path, options: PeerOptions, progress: Progress
) -> list[Comparison]:
    from bench.fleet import Served, server_env

    world = await _seed_doorstep(folder, options)
    env = server_env(DOORSTEP_DATA_DIR=str(folder / "data"), DOORSTEP_SECRET_KEY=SECRET)
    port = _free_port()
    doorstep = await asyncio.to_thread(
        Served,
        [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env,
        port,
        folder / "doorstep.log",
    )
    pouch = await asyncio.to_thread(_Pouch, binary, folder)
    results: list[Comparison] = []
    try:
        async with (
            httpx.AsyncClient(base_url=doorstep.url, timeout=60) as ds,
            httpx.AsyncClient(base_url=pouch.url, timeout=60) as pd,
        ):
            first = _ok(await ds.get("/sync/v1/pull", params={"limit": 1000}, headers=world.phone))
            docs = [
                {"_id": f"{op['type']}:{op['id']}", "version": op["version"], **op["doc"]}
                for op in first["ops"]
            ]
            _ok(await pd.put("/tech"), 201)
            _ok(await pd.post("/tech/_bulk_docs", json={"docs": docs}), 201)
            seq = _ok(await pd.get("/tech/_changes", params={"limit": 0, "descending": "true"}))
            head_seq = _ok(await pd.get("/tech"))["update_seq"]
            del seq
            head_cursor = first["cursor"]
            while first["has_more"]:  # not expected with limit 1000
                first = _ok(await ds.get("/sync/v1/pull", params={"cursor": head_cursor}))
                head_cursor = first["cursor"]

            async def ds_first(_: Any) -> None:
                page = _ok(
                    await ds.get("/sync/v1/pull", params={"limit": 1000}, headers=world.phone)
                )
                if len(page["ops"]) != len(docs):
                    raise RuntimeError("doorstep first sync: wrong count")

            async def pd_first(_: Any) -> None:
                changes = _ok(await pd.get("/tech/_changes", params={"style": "all_docs"}))
                wanted = [
                    {"id": c["id"], "rev": rev["rev"]}
                    for c in changes["results"]
                    for rev in c["changes"]
                ]
                got = _ok(
                    await pd.post("/tech/_bulk_get", params={"revs": "true"}, json={"docs": wanted})
                )
                if len(got["results"]) != len(docs):
                    raise RuntimeError("pouchdb first sync: wrong count")

            async def ds_empty(_: Any) -> None:
                page = _ok(
                    await ds.get(
                        "/sync/v1/pull", params={"cursor": head_cursor}, headers=world.phone
                    )
                )
                if page["ops"]:
                    raise RuntimeError("doorstep empty pull: not empty")

            async def pd_empty(_: Any) -> None:
                changes = _ok(
                    await pd.get("/tech/_changes", params={"since": head_seq, "style": "all_docs"})
                )
                if changes["results"]:
                    raise RuntimeError("pouchdb empty pull: not empty")

            mid = [world.mid]

            def ds_body() -> bytes:
                ms = [
                    mutation(
                        mid[0] + 1 + i,
                        "job.note",
                        world.job_ids[i % len(world.job_ids)],
                        {"note_id": str(uuid.uuid4()), "text": f"Checked the valve; note {i}."},
                    )
                    for i in range(options.mutations)
                ]
                mid[0] += options.mutations
                return push_body(world.device_id, ms)

            async def ds_push(body: bytes) -> None:
                out = _ok(
                    await ds.post(
                        "/sync/v1/push",
                        content=body,
                        headers={**world.phone, "Content-Type": "application/json"},
                    )
                )
                if any(o["status"] != "applied" for o in out["outcomes"]):
                    raise RuntimeError(f"doorstep push: {out['outcomes'][:2]}")

            def pd_docs() -> list[dict[str, Any]]:
                return [
                    {
                        "_id": f"note:{uuid.uuid4()}",
                        "_rev": f"1-{uuid.uuid4().hex}",
                        "job_id": str(world.job_ids[i % len(world.job_ids)]),
                        "text": f"Checked the valve; note {i}.",
                        "device_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    }
                    for i in range(options.mutations)
                ]

            async def pd_push(batch: list[dict[str, Any]]) -> None:
                diff = _ok(
                    await pd.post("/tech/_revs_diff", json={d["_id"]: [d["_rev"]] for d in batch})
                )
                missing = [d for d in batch if d["_id"] in diff]
                _ok(
                    await pd.post("/tech/_bulk_docs", json={"docs": missing, "new_edits": False}),
                    201,
                )

            for name, label, subject, baseline in (
                (
                    "peer_first_sync",
                    f"first sync ({len(docs)} docs)",
                    Side(ds_first),
                    Side(pd_first),
                ),
                ("peer_empty_pull", "empty pull", Side(ds_empty), Side(pd_empty)),
                (
                    "peer_push",
                    f"push ({options.mutations} notes)",
                    Side(ds_push, ds_body),
                    Side(pd_push, pd_docs),
                ),
            ):
                results.append(
                    await compare(
                        name,
                        f"{label}: Doorstep vs PouchDB Server",
                        subject=subject,
                        baseline=baseline,
                        rounds=options.rounds,
                        warmup=options.warmup,
                        max_seconds=options.max_seconds,
                        progress=progress,
                    )
                )
    finally:
        doorstep.stop()
        pouch.stop()
    return results


def run(options: PeerOptions, progress: Progress | None = None) -> list[Comparison] | None:
    """The comparisons, or None when pouchdb-server could not be installed (said why)."""
    progress = progress or Progress()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="doorstep-peer-") as tmp:
        folder = Path(tmp)
        binary = install(folder / "npm", progress)
        if binary is None:
            return None
        return asyncio.run(_measure(folder, binary, options, progress))


if __name__ == "__main__":
    out = run(PeerOptions(rounds=10))
    for c in out or []:
        print(c.label, f"doorstep {c.subject.median:.2f} ms, pouchdb {c.baseline.median:.2f} ms")
