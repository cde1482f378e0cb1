"""uvicorn against granian, serving Doorstep itself (not a hello-world): the fleet's
phones (``bench/fleet.py``) polling, and a burst of first syncs, on one SQLite database,
first through ``doorstep serve`` (uvicorn), then through granian running the same app
from its factory (``server.app:create_app``, settings from the environment).

Figures: granian's requests per second over uvicorn's, for each load. Skipped when
granian is not installed (``pip install granian``): it is not a dependency of Doorstep
unless it wins clearly.
"""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fleet import Fleet, FleetOptions, demo_world, server_env, start_doorstep
from bench.harness import Progress

__all__ = ["ServersOptions", "run"]


@dataclass(frozen=True, slots=True)
class ServersOptions:
    phones: int = 200
    seconds: float = 10.0
    workers: int = 4


def run(options: ServersOptions, progress: Progress | None = None) -> dict[str, Any] | None:
    progress = progress or Progress()
    if importlib.util.find_spec("granian") is None:
        progress.done("[bench] servers: skipped: granian is not installed (pip install granian)")
        return None
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="doorstep-servers-") as tmp:
        folder = Path(tmp)
        env = server_env(DOORSTEP_DATA_DIR=str(folder / "data"))
        progress.update("[bench] servers: loading the demo brand")
        # twice the phones: half poll, half make their first sync under each server
        users = demo_world(options.phones * 3, env)
        pollers = users[: options.phones]
        fresh = {
            "uvicorn": users[options.phones : 2 * options.phones],
            "granian": users[2 * options.phones : 3 * options.phones],
        }
        fleet = Fleet(folder, FleetOptions(workers=options.workers), progress)
        for server in ("uvicorn", "granian"):
            served = start_doorstep(env, folder, server)
            try:
                if server == "uvicorn":
                    fleet.phase("setup", served.url, users)
                    fleet.phase("first_sync", served.url, pollers)
                progress.update(f"[bench] servers: {server}: {len(pollers)} phones polling")
                poll = fleet.phase("poll", served.url, pollers, seconds=options.seconds)
                progress.update(f"[bench] servers: {server}: {len(pollers)} first syncs")
                first = fleet.phase("first_sync", served.url, fresh[server], sampler=served)
                result[server] = {"poll": poll, "first_sync": first}
                progress.done(
                    f"[bench] servers: {server}: poll {poll['requests_per_second']:.0f} req/s "
                    f"(p99 {poll['latency'].get('p99_ms', 0):.0f} ms), first syncs "
                    f"{first['requests_per_second']:.0f} req/s, "
                    f"{poll['errors'] + first['errors']} errors"
                )
            finally:
                served.stop()
    for load in ("poll", "first_sync"):
        result[f"{load}_ratio"] = round(
            result["granian"][load]["requests_per_second"]
            / max(result["uvicorn"][load]["requests_per_second"], 1e-9),
            3,
        )
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run(ServersOptions(phones=20, seconds=3)), indent=1, default=str))
