"""Interleaved timing: a subject against a baseline, in the same process and the same run.

Each round times the baseline and the subject back to back (alternating which goes
first, so neither always runs on a warmer cache), after a ``gc.collect()`` outside the
timed region. A round's *paired ratio* (subject / baseline of that round) is immune to
slow drifts of the machine (thermal throttling, a noisy neighbour), because both sides
of a pair ran within milliseconds of each other.

Each call is timed twice: wall time (``perf_counter_ns``) and the process's CPU time
(``process_time_ns``, every thread). On a machine whose CPUs are oversubscribed, wall
time also counts waiting for a CPU, and code that hands work between threads (aiosqlite)
waits more often than code that does not; CPU time does not count that wait, so the CPU
ratio stays meaningful when the wall ratio is blown up by the machine.
"""

from __future__ import annotations

import gc
import inspect
import math
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["Comparison", "Progress", "Sample", "Side", "Spread", "compare", "percentile"]

NS_PER_MS = 1_000_000


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0 to 100) with linear interpolation between order statistics."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True, slots=True)
class Spread:
    median: float
    p10: float
    p90: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(percentile(values, 50), percentile(values, 10), percentile(values, 90))

    def scaled(self, factor: float) -> Spread:
        return Spread(self.median * factor, self.p10 * factor, self.p90 * factor)

    def as_dict(self, digits: int = 4) -> dict[str, float]:
        return {
            "median": round(self.median, digits),
            "p10": round(self.p10, digits),
            "p90": round(self.p90, digits),
        }


@dataclass(frozen=True, slots=True)
class Sample:
    wall_ns: int
    """``time.perf_counter_ns`` around the call: what a caller waits."""
    cpu_ns: int
    """``time.process_time_ns`` around the call: CPU used by every thread of the process
    (aiosqlite's worker included), not counting time spent waiting for a CPU."""


@dataclass(slots=True)
class Side:
    """One side of a comparison. ``prepare`` runs untimed before each call and its result
    is passed to ``run`` (fresh ids, request bodies…); ``run`` may be sync or async."""

    run: Callable[[Any], Awaitable[object] | object]
    prepare: Callable[[], Any] = lambda: None

    async def timed(self) -> Sample:
        arg = self.prepare()
        cpu, wall = time.process_time_ns(), time.perf_counter_ns()
        result = self.run(arg)
        if inspect.isawaitable(result):
            await result
        return Sample(time.perf_counter_ns() - wall, time.process_time_ns() - cpu)

    async def untimed(self) -> None:
        result = self.run(self.prepare())
        if inspect.isawaitable(result):
            await result


def _ms(values: Sequence[int]) -> Spread:
    return Spread.of(values).scaled(1 / NS_PER_MS)


def _paired(subject: Sequence[int], baseline: Sequence[int]) -> Spread:
    return Spread.of([s / max(b, 1) for s, b in zip(subject, baseline, strict=True)])


@dataclass(slots=True)
class Comparison:
    name: str
    label: str
    subject_samples: list[Sample] = field(default_factory=list)
    baseline_samples: list[Sample] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    """Figures other than times (e.g. SQL statements per request), kept in the JSON."""

    @property
    def rounds(self) -> int:
        return len(self.subject_samples)

    @property
    def subject(self) -> Spread:
        """The subject's wall time, ms."""
        return _ms([s.wall_ns for s in self.subject_samples])

    @property
    def baseline(self) -> Spread:
        """The baseline's wall time, ms."""
        return _ms([s.wall_ns for s in self.baseline_samples])

    @property
    def ratio(self) -> float:
        """Median subject wall time over median baseline wall time."""
        return self.subject.median / self.baseline.median

    @property
    def paired(self) -> Spread:
        """Spread of the per-round wall-time ratios (both sides of the same round)."""
        return _paired(
            [s.wall_ns for s in self.subject_samples], [s.wall_ns for s in self.baseline_samples]
        )

    @property
    def cpu_ratio(self) -> float:
        """Median subject CPU time over median baseline CPU time."""
        subject = percentile([s.cpu_ns for s in self.subject_samples], 50)
        baseline = percentile([s.cpu_ns for s in self.baseline_samples], 50)
        return subject / max(baseline, 1)

    def as_dict(self) -> dict[str, Any]:
        def samples(side: list[Sample], attr: str) -> list[float]:
            return [round(getattr(s, attr) / NS_PER_MS, 4) for s in side]

        return {
            "name": self.name,
            "label": self.label,
            "rounds": self.rounds,
            "doorstep_ms": self.subject.as_dict(),
            "baseline_ms": self.baseline.as_dict(),
            "ratio": round(self.ratio, 3),
            "paired_ratio": self.paired.as_dict(3),
            "doorstep_cpu_ms": _ms([s.cpu_ns for s in self.subject_samples]).as_dict(),
            "baseline_cpu_ms": _ms([s.cpu_ns for s in self.baseline_samples]).as_dict(),
            "cpu_ratio": round(self.cpu_ratio, 3),
            "paired_cpu_ratio": _paired(
                [s.cpu_ns for s in self.subject_samples],
                [s.cpu_ns for s in self.baseline_samples],
            ).as_dict(3),
            **self.extra,
            "doorstep_samples_ms": samples(self.subject_samples, "wall_ns"),
            "baseline_samples_ms": samples(self.baseline_samples, "wall_ns"),
            "doorstep_cpu_samples_ms": samples(self.subject_samples, "cpu_ns"),
            "baseline_cpu_samples_ms": samples(self.baseline_samples, "cpu_ns"),
        }


class Progress:
    """One status line on stderr: rewritten in place on a terminal, else one line per
    finished comparison (so CI logs stay short)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()

    def update(self, text: str) -> None:
        if self.live:
            self.stream.write(f"\r\x1b[2K{text}")
            self.stream.flush()

    def done(self, text: str) -> None:
        if self.live:
            self.stream.write("\r\x1b[2K")
        self.stream.write(text + "\n")
        self.stream.flush()


async def compare(
    name: str,
    label: str,
    *,
    subject: Side,
    baseline: Side,
    rounds: int,
    warmup: int,
    max_seconds: float | None = None,
    min_rounds: int = 5,
    progress: Progress | None = None,
) -> Comparison:
    """``warmup`` untimed rounds, then ``rounds`` timed pairs, alternating the order.

    With ``max_seconds``, stop early once the timed rounds have taken that long and at
    least ``min_rounds`` are done (slow measurements get fewer, still paired, rounds);
    warm-up stops after a quarter of it (one warm-up round at least)."""
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    progress = progress or Progress()
    result = Comparison(name, label)
    started = time.perf_counter()
    for i in range(warmup):
        progress.update(f"[bench] {label}: warm-up {i + 1}/{warmup}")
        await baseline.untimed()
        await subject.untimed()
        if max_seconds is not None and time.perf_counter() - started > max_seconds / 4:
            break
    started = time.perf_counter()
    for i in range(rounds):
        order = (baseline, subject) if i % 2 == 0 else (subject, baseline)
        times: dict[int, Sample] = {}
        for side in order:
            gc.collect()
            times[id(side)] = await side.timed()
        result.subject_samples.append(times[id(subject)])
        result.baseline_samples.append(times[id(baseline)])
        progress.update(
            f"[bench] {label}: round {i + 1}/{rounds}  "
            f"doorstep {times[id(subject)].wall_ns / NS_PER_MS:.2f} ms  "
            f"baseline {times[id(baseline)].wall_ns / NS_PER_MS:.2f} ms"
        )
        if (
            max_seconds is not None
            and i + 1 >= min_rounds
            and time.perf_counter() - started > max_seconds
        ):
            break
    progress.done(
        f"[bench] {label}: {result.subject.median:.2f} ms vs {result.baseline.median:.2f} ms "
        f"= {result.ratio:.1f}x, cpu {result.cpu_ratio:.1f}x ({result.rounds} rounds)"
    )
    return result
