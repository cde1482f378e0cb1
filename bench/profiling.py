"""Where the time goes: a cProfile of the app's side of a measurement, summarised.

Three views, because cProfile's cumulative times are unreliable for coroutines (each
resumption counts as a call): own time grouped by package (reliable: every sample is
counted once), the top functions by own time, and Doorstep's own functions by
cumulative time (read these as "roughly how much runs under it").

Only the event-loop thread is profiled: SQLite itself runs in aiosqlite's worker thread,
so the loop's time spent handing statements over and waiting for them shows up as
``SimpleQueue.put_nowait`` (waking the worker, GIL hand-over), ``select.epoll.poll`` and
``socket.recv`` (the worker's wake-up call back to the loop).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sysconfig
from collections import defaultdict
from pathlib import Path

__all__ = ["report"]

REPO = Path(__file__).resolve().parent.parent
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
OURS = ("server", "sync", "bench", "tests")


def _group(filename: str, function: str) -> str:
    if filename == "~":  # a builtin: group by what it is
        if "put_nowait" in function or "poll" in function or "recv" in function:
            return "waiting on aiosqlite's thread (queue, epoll, socket)"
        return f"builtin {function}"
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    try:
        rel = path.resolve().relative_to(REPO)
    except ValueError:
        pass
    else:
        if rel.parts and rel.parts[0] in OURS:
            return f"doorstep {rel.parts[0]}/"
    try:
        rel = path.resolve().relative_to(STDLIB)
    except ValueError:
        return path.name
    return f"stdlib {rel.parts[0].removesuffix('.py')}"


def _where(filename: str, lineno: int, function: str) -> str:
    if filename == "~":
        return function
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        short = "/".join(parts[parts.index("site-packages") + 1 :])
    else:
        try:
            short = str(path.resolve().relative_to(REPO))
        except ValueError:
            short = path.name
    return f"{short}:{lineno} {function}"


def report(name: str, profiler: cProfile.Profile, calls: int, top: int = 15) -> str:
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in entries.values()) or 1e-9
    out = io.StringIO()
    out.write(
        f"\n== {name}: {calls} requests, {total * 1000 / calls:.1f} ms each under the profiler"
        " (its overhead included; calls/req of a coroutine counts its resumptions) ==\n"
    )

    groups: dict[str, float] = defaultdict(float)
    for (filename, _lineno, function), (_cc, _nc, tt, _ct, _callers) in entries.items():
        groups[_group(filename, function)] += tt
    out.write("own time by package:\n")
    for group, tt in sorted(groups.items(), key=lambda kv: -kv[1])[:top]:
        out.write(f"  {100 * tt / total:5.1f}%  {group}\n")

    out.write("top functions by own time:\n")
    ranked = sorted(entries.items(), key=lambda kv: -kv[1][2])[:top]
    for (filename, lineno, function), (_cc, nc, tt, _ct, _callers) in ranked:
        where = _where(filename, lineno, function)
        out.write(f"  {100 * tt / total:5.1f}%  {nc / calls:>8.0f}/req  {where}\n")

    out.write("doorstep functions by cumulative time (coroutines: approximate):\n")
    ours = [
        (key, value)
        for key, value in entries.items()
        if _group(key[0], key[2]) in ("doorstep server/", "doorstep sync/")
    ]
    for (filename, lineno, function), (_cc, _nc, _tt, ct, _callers) in sorted(
        ours, key=lambda kv: -kv[1][3]
    )[:top]:
        out.write(f"  {ct * 1000 / calls:8.1f} ms/req  {_where(filename, lineno, function)}\n")
    return out.getvalue()
