"""Photo ingestion benchmark: ``python -m bench.photo_bench`` (``python -m bench`` runs it
after the sync benchmark).

``photo ingestion``
    One 12-megapixel JPEG with EXIF uploaded in one chunk through the real app
    (``PATCH /sync/v1/blobs/{sha}``): hash check, magic-number check, write and fsync,
    atomic rename, then EXIF, perceptual hash and two metadata-free derivatives (JPEG
    decoded at reduced scale, off the event loop) and the database rows. Baseline:
    Pillow alone doing the same image work in the same process — SHA-256, write and
    fsync the original, read the EXIF, decode at reduced scale, save a thumbnail and a
    display copy.
``sync p50/p99 under photo load``
    Empty incremental pulls timed alone and while another task uploads photos without
    pause, in alternating windows (five of each, 80 pulls per window at the default
    size), so a change in the machine's load during the run falls on both sides. The
    ratios say how much a phone's sync slows down while photos are processed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageOps

from bench.harness import Comparison, Side, compare, percentile
from bench.seed import _enroll, login
from bench.sync_bench import RESULTS, SECRET
from fixtures.photos import make_12mp_jpeg

__all__ = ["main", "run"]


WINDOWS = 5
"""Alternating quiet and busy windows of pulls (see the module doc)."""


def _variant(base: bytes, n: int) -> bytes:
    """The same picture with different bytes (a few bytes after the JPEG's end), so every
    round uploads a new blob."""
    return base + b"\0doorstep-bench" + n.to_bytes(8, "big")


def _pillow_alone(data: bytes, folder: Path) -> None:
    sha = hashlib.sha256(data).hexdigest()
    path = folder / sha
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    with Image.open(io.BytesIO(data)) as img:
        img.getexif()
        img.draft("RGB", (1600, 1600))
        display = ImageOps.exif_transpose(img).convert("RGB")
        display.thumbnail((1600, 1600))
        display.save(io.BytesIO(), "JPEG", quality=85)
        thumb = display.copy()  # the smaller copy from the display one, the cheap way
        thumb.thumbnail((320, 320))
        thumb.save(io.BytesIO(), "JPEG", quality=85)
    path.unlink()


async def _measure(
    rounds: int, folder: Path, url: str, ids: dict[str, Any], password: str
) -> dict[str, Any]:
    from server.app import create_app
    from server.settings import Settings

    settings = Settings(
        data_dir=folder,
        database_url=url,
        secret_key=SECRET,
        access_token_ttl=3600,
        password_time_cost=1,
        password_memory_kib=8,
        outbox_interval=0,
        maintenance_interval=0,
        # The baselines run on this process's event loop (Pillow, sqlite3): admission
        # control would read their time as a saturated loop and shed Doorstep's side.
        admission_max_loop_lag_ms=0,
    )
    app = create_app(settings)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    base = make_12mp_jpeg(1)
    counter = iter(range(10**9))
    scratch = folder / "pillow"
    scratch.mkdir()
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://doorstep.bench") as client,
    ):
        headers = await login(client, "tech1", password)
        await _enroll(client, headers, "bench phone")

        async def upload(data: bytes) -> None:
            sha = hashlib.sha256(data).hexdigest()
            r = await client.patch(
                f"/sync/v1/blobs/{sha}",
                content=data,
                headers={
                    **headers,
                    "Upload-Offset": "0",
                    "Upload-Length": str(len(data)),
                    "Content-Type": "image/jpeg",
                },
            )
            if r.status_code != 201:
                raise RuntimeError(f"upload failed: {r.status_code} {r.text}")

        ingestion: Comparison = await compare(
            "photo_ingestion",
            "photo ingestion (12 MP JPEG)",
            subject=Side(run=upload, prepare=lambda: _variant(base, next(counter))),
            baseline=Side(
                run=lambda d: _pillow_alone(d, scratch),
                prepare=lambda: _variant(base, next(counter)),
            ),
            rounds=rounds,
            warmup=1,
        )

        r = await client.get("/sync/v1/pull", headers=headers)
        cursor = r.json()["cursor"]

        async def pulls(n: int) -> list[float]:
            out = []
            for _ in range(n):
                t = time.perf_counter()
                r = await client.get("/sync/v1/pull", params={"cursor": cursor}, headers=headers)
                out.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
                await asyncio.sleep(0.002)  # a phone's pace, and room for the uploader
            return out

        async def uploader(stop: asyncio.Event) -> None:
            while not stop.is_set():
                await upload(_variant(base, next(counter)))

        quiet: list[float] = []
        busy: list[float] = []
        for _ in range(WINDOWS):
            quiet += await pulls(rounds * 10)
            stop = asyncio.Event()
            task = asyncio.create_task(uploader(stop))
            try:
                busy += await pulls(rounds * 10)
            finally:
                stop.set()
                await task
    p = {
        "quiet_p50_ms": statistics.median(quiet),
        "quiet_p99_ms": percentile(quiet, 99),
        "busy_p50_ms": statistics.median(busy),
        "busy_p99_ms": percentile(busy, 99),
    }
    return {
        "photo_ingestion": {
            "doorstep_ms": ingestion.subject.median,
            "pillow_ms": ingestion.baseline.median,
            "ratio": ingestion.subject.median / ingestion.baseline.median,
            "rounds": len(ingestion.subject_samples),
        },
        "sync_under_photo_load": {
            **p,
            "p50_ratio": p["busy_p50_ms"] / p["quiet_p50_ms"],
            "p99_ratio": p["busy_p99_ms"] / p["quiet_p99_ms"],
        },
    }


def run(rounds: int) -> dict[str, Any]:
    from server.db.migrate import upgrade
    from tests.world import PASSWORD, build_world

    with tempfile.TemporaryDirectory(prefix="doorstep-photo-bench-") as tmp:
        folder = Path(tmp)
        url = f"sqlite+aiosqlite:///{folder / 'doorstep.db'}"
        upgrade(url)
        ids = dict(build_world(url).ids)
        return asyncio.run(_measure(rounds, folder, url, ids, PASSWORD))


def main(rounds: int = 8, out: Path | None = RESULTS / "photos.json") -> dict[str, Any]:
    result = run(rounds)
    ing, load = result["photo_ingestion"], result["sync_under_photo_load"]
    print(
        f"{'photo ingestion (12 MP)':<30} doorstep {ing['doorstep_ms']:8.1f} ms  "
        f"Pillow alone {ing['pillow_ms']:8.1f} ms  ratio {ing['ratio']:.2f}x"
    )
    print(
        f"{'empty pull under photo load':<30} p50 {load['quiet_p50_ms']:.2f} -> {load['busy_p50_ms']:.2f} ms "
        f"({load['p50_ratio']:.2f}x)  p99 {load['quiet_p99_ms']:.2f} -> {load['busy_p99_ms']:.2f} ms "
        f"({load['p99_ratio']:.2f}x)"
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        print(f"wrote {out}", file=sys.stderr)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    main(parser.parse_args().rounds)
