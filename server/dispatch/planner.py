"""The day's plan: which technician does which pending job of a city's day, in which
order, at what time — solved with Google OR-Tools' routing library (a vehicle routing
problem with time windows), not a hand-written heuristic.

The problem, in minutes from the local midnight of the day:

* a **visit** per job: where (the customer's position), how long it takes (by kind),
  when the technician may arrive (its appointment window; an urgent job's on-site SLA
  clock is a latest arrival too; a pending job: any time of the working day), who may
  take it (a complaint — a third repeat visit — only a senior; a job already given to a
  provider only that provider's technicians; only technicians of providers whose service
  area covers the address; a job already booked for a technician that technician, so the
  plan works around it), and whom to prefer (the appliance's installer: any other
  technician costs ``PREFER_INSTALLER_M`` metres more, a soft cost);
* a **worker** per technician working that day: where they start (home, else the city
  centre), their working spans (the weekly pattern in the city's time zone minus leave;
  no pattern: ``DEFAULT_DAY``); the gaps between spans are breaks the route must respect.

The objective is total travel (metres); a job that cannot be fitted is dropped at a
large penalty (urgent jobs at a larger one) and reported. Distances come from a
``DistanceMatrix``: ``StraightLine`` (haversine times a detour factor) unless a road-distance
matrix (an OSRM server, say) is plugged in.

``greedy_baseline`` is the comparison the bench (and every stored plan) reports: each
job in order of its latest arrival goes to the nearest technician free to reach it in
time.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sync.geo import distance_m

__all__ = [
    "DEFAULT_DAY",
    "DETOUR_FACTOR",
    "SERVICE_MINUTES",
    "DistanceMatrix",
    "Problem",
    "Route",
    "Solution",
    "Stop",
    "StraightLine",
    "Visit",
    "Worker",
    "greedy_baseline",
    "solve",
]

DETOUR_FACTOR = 1.3
"""Road distance over straight-line distance, where no road network is configured (a
usual figure for city streets)."""
SPEED_KMH = 25.0
"""Average speed across a city, door to door."""
DEFAULT_DAY: tuple[tuple[int, int], ...] = ((9 * 60, 12 * 60), (13 * 60, 18 * 60))
"""Working spans of a technician who has no weekly pattern: 09:00-12:00, 13:00-18:00."""
SERVICE_MINUTES = {
    "delivery": 30,
    "install": 90,
    "repair": 60,
    "maintenance": 45,
    "relocation": 90,
}
PREFER_INSTALLER_M = 3_000
"""What sending another technician than the visit's preferred one (the installer) costs,
in metres of travel: the installer is sent unless that takes 3 km more driving."""
DROP_PENALTY = 10_000_000
"""Metres of travel one dropped job is worth (10,000 km: never drop to save travel)."""


class DistanceMatrix(Protocol):
    """Travel between points: metres and minutes, ``[from][to]``. A road-distance
    backend (an OSRM ``table`` call, say) implements this and is passed to ``solve``."""

    def matrix(
        self, points: Sequence[tuple[float, float]]
    ) -> tuple[list[list[int]], list[list[int]]]: ...


@dataclass(frozen=True, slots=True)
class StraightLine:
    """Haversine distance times ``detour``; time at ``speed_kmh``."""

    detour: float = DETOUR_FACTOR
    speed_kmh: float = SPEED_KMH

    def matrix(
        self, points: Sequence[tuple[float, float]]
    ) -> tuple[list[list[int]], list[list[int]]]:
        n = len(points)
        metres = [[0] * n for _ in range(n)]
        minutes = [[0] * n for _ in range(n)]
        per_min = self.speed_kmh * 1000 / 60
        for i in range(n):
            a = points[i]
            for j in range(i + 1, n):
                b = points[j]
                d = distance_m(a[0], a[1], b[0], b[1]) * self.detour
                m, t = round(d), math.ceil(d / per_min)
                metres[i][j] = metres[j][i] = m
                minutes[i][j] = minutes[j][i] = t
        return metres, minutes


@dataclass(frozen=True, slots=True)
class Visit:
    key: Hashable
    latitude: float
    longitude: float
    service: int
    """Minutes on site."""
    earliest: int
    latest: int
    """Arrival between ``earliest`` and ``latest`` (minutes from local midnight)."""
    seniors_only: bool = False
    provider: Hashable | None = None
    """Only this provider's workers (None: any)."""
    worker: Hashable | None = None
    """Already booked for this worker: only them."""
    providers: frozenset[Hashable] | None = None
    """Only workers of these providers (those whose service area covers the address;
    None: any)."""
    prefer: Hashable | None = None
    """The worker to prefer (the appliance's installer): a soft cost for any other."""
    urgent: bool = False
    has_window: bool = True
    """False: the appointment is pending (the plan proposes one)."""


@dataclass(frozen=True, slots=True)
class Worker:
    key: Hashable
    latitude: float
    longitude: float
    spans: tuple[tuple[int, int], ...]
    """Working spans, minutes from local midnight, sorted, not overlapping."""
    senior: bool = False
    provider: Hashable | None = None


@dataclass(slots=True)
class Problem:
    visits: list[Visit]
    workers: list[Worker]


@dataclass(frozen=True, slots=True)
class Stop:
    key: Hashable
    arrive: int
    leave: int
    travel_m: int
    """From the previous stop (or the start)."""


@dataclass(slots=True)
class Route:
    worker: Hashable
    stops: list[Stop] = field(default_factory=list)

    @property
    def travel_m(self) -> int:
        return sum(s.travel_m for s in self.stops)


@dataclass(slots=True)
class Solution:
    routes: list[Route]
    unassigned: list[Hashable]
    seconds: float
    status: str
    cpu_seconds: float = 0.0
    """Processor time the solve had (less than ``seconds`` on a loaded machine)."""

    @property
    def travel_m(self) -> int:
        return sum(r.travel_m for r in self.routes)

    @property
    def served(self) -> int:
        return sum(len(r.stops) for r in self.routes)


def _eligible(v: Visit, w: Worker) -> bool:
    if v.worker is not None:
        return v.worker == w.key
    if v.seniors_only and not w.senior:
        return False
    if v.providers is not None and w.provider not in v.providers:
        return False
    return v.provider is None or v.provider == w.provider


def _matrices(
    problem: Problem, distances: DistanceMatrix
) -> tuple[list[list[int]], list[list[int]]]:
    points = [(v.latitude, v.longitude) for v in problem.visits] + [
        (w.latitude, w.longitude) for w in problem.workers
    ]
    return distances.matrix(points)


def solve(
    problem: Problem,
    distances: DistanceMatrix | None = None,
    time_limit: float = 10.0,
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION",
    metaheuristic: str = "GUIDED_LOCAL_SEARCH",
) -> Solution:
    """Route ``problem`` with OR-Tools: guided local search from a cheapest-insertion
    start, for at most ``time_limit`` seconds."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    began, cpu = _time.perf_counter(), _time.process_time()
    visits, workers = problem.visits, [w for w in problem.workers if w.spans]
    if not visits or not workers:
        return Solution([Route(w.key) for w in workers], [v.key for v in visits], 0.0, "empty")
    sub = Problem(visits, workers)
    metres, minutes = _matrices(sub, distances or StraightLine())
    n_v, n_w = len(visits), len(workers)
    end = n_v + n_w  # one shared end: routes are open (the last visit ends the day)
    size = end + 1
    starts = [n_v + k for k in range(n_w)]
    manager = pywrapcp.RoutingIndexManager(size, n_w, starts, [end] * n_w)
    routing = pywrapcp.RoutingModel(manager)

    service = [v.service for v in visits] + [0] * (n_w + 1)

    def dist(i: int, j: int) -> int:
        return 0 if j == end or i == end else metres[i][j]

    def travel(i: int, j: int) -> int:
        return service[i] + (0 if j == end or i == end else minutes[i][j])

    dist_m = [[dist(i, j) for j in range(size)] for i in range(size)]
    time_m = [[travel(i, j) for j in range(size)] for i in range(size)]
    dist_cb = routing.RegisterTransitMatrix(dist_m)
    time_cb = routing.RegisterTransitMatrix(time_m)
    routing.SetArcCostEvaluatorOfAllVehicles(dist_cb)
    horizon = 26 * 60
    routing.AddDimension(time_cb, horizon, horizon, False, "time")
    td = routing.GetDimensionOrDie("time")
    solver = routing.solver()

    for i, v in enumerate(visits):
        index = manager.NodeToIndex(i)
        allowed = [k for k, w in enumerate(workers) if _eligible(v, w)]
        if v.latest < v.earliest or v.latest < 0 or v.earliest > horizon:
            allowed = []  # its window has passed (or is not this day)
        else:
            td.CumulVar(index).SetRange(max(0, v.earliest), min(v.latest, horizon))
        if not allowed:
            routing.AddDisjunction([index], 0)
            solver.Add(routing.ActiveVar(index) == 0)
            continue
        if len(allowed) < n_w:
            # (the same as SetAllowedVehiclesForIndex, whose Python binding refuses lists
            # in 9.15; -1: left out)
            routing.VehicleVar(index).SetValues([-1, *allowed])
        penalty = DROP_PENALTY * (10 if v.worker is not None else 3 if v.urgent else 1)
        routing.AddDisjunction([index], penalty)

    _prefer(routing, visits, workers, size)
    node_visit = [service[manager.IndexToNode(i)] for i in range(routing.Size())]
    for k, w in enumerate(workers):
        first, last = w.spans[0][0], w.spans[-1][1]
        td.CumulVar(routing.Start(k)).SetRange(first, last)
        td.CumulVar(routing.End(k)).SetRange(first, last)
        breaks = [
            solver.FixedDurationIntervalVar(a_end, a_end, b_start - a_end, False, f"b{k}.{j}")
            for j, ((_, a_end), (b_start, _)) in enumerate(zip(w.spans, w.spans[1:], strict=False))
            if b_start > a_end
        ]
        if breaks:
            td.SetBreakIntervalsOfVehicle(breaks, k, node_visit)
        routing.AddVariableMinimizedByFinalizer(td.CumulVar(routing.End(k)))
        routing.AddVariableMinimizedByFinalizer(td.CumulVar(routing.Start(k)))

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = getattr(
        routing_enums_pb2.FirstSolutionStrategy, first_solution
    )
    params.local_search_metaheuristic = getattr(
        routing_enums_pb2.LocalSearchMetaheuristic, metaheuristic
    )
    params.time_limit.FromMilliseconds(max(100, int(time_limit * 1000)))
    assignment = routing.SolveWithParameters(params)
    seconds = _time.perf_counter() - began
    if assignment is None:
        return Solution(
            [Route(w.key) for w in workers], [v.key for v in visits], seconds, "no_solution"
        )
    routes: list[Route] = []
    served: set[int] = set()
    for k, w in enumerate(workers):
        route = Route(w.key)
        index = routing.Start(k)
        prev = manager.IndexToNode(index)
        index = assignment.Value(routing.NextVar(index))
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            arrive = assignment.Min(td.CumulVar(index))
            route.stops.append(
                Stop(visits[node].key, arrive, arrive + visits[node].service, metres[prev][node])
            )
            served.add(node)
            prev = node
            index = assignment.Value(routing.NextVar(index))
        routes.append(route)
    unassigned = [v.key for i, v in enumerate(visits) if i not in served]
    return Solution(routes, unassigned, seconds, "solved", _time.process_time() - cpu)


def _prefer(routing: Any, visits: Sequence[Visit], workers: Sequence[Worker], size: int) -> None:
    """The installer preference as a cost: a dimension whose transit at a visit is
    ``PREFER_INSTALLER_M`` for every worker but the preferred one, its span (the sum
    along each route) added to the objective."""
    keys = {w.key for w in workers}
    preferring = [(i, v.prefer) for i, v in enumerate(visits) if v.prefer in keys]
    if not preferring:
        return
    evaluators = []
    for w in workers:
        values = [0] * size
        for i, key in preferring:
            if key != w.key:
                values[i] = PREFER_INSTALLER_M
        evaluators.append(routing.RegisterUnaryTransitVector(values))
    cap = PREFER_INSTALLER_M * len(visits)
    routing.AddDimensionWithVehicleTransits(evaluators, 0, cap, True, "prefer")
    dim = routing.GetDimensionOrDie("prefer")
    dim.SetSpanCostCoefficientForAllVehicles(1)


def greedy_baseline(problem: Problem, distances: DistanceMatrix | None = None) -> Solution:
    """The dispatcher's rule of thumb: jobs in order of latest arrival, each to the
    nearest eligible technician who can still reach it in its window and in working
    time (no reordering, no look-ahead)."""
    began = _time.perf_counter()
    visits, workers = problem.visits, [w for w in problem.workers if w.spans]
    metres, minutes = _matrices(Problem(visits, workers), distances or StraightLine())
    n_v = len(visits)
    pos = [n_v + k for k in range(len(workers))]
    free = [w.spans[0][0] for w in workers]
    routes = [Route(w.key) for w in workers]
    unassigned: list[Hashable] = []
    order = sorted(range(n_v), key=lambda i: (visits[i].latest, visits[i].earliest))
    for i in order:
        v = visits[i]
        best: tuple[int, int, int] | None = None  # (metres, arrival, worker)
        for k, w in enumerate(workers):
            if not _eligible(v, w):
                continue
            arrive = _fit(w.spans, free[k] + minutes[pos[k]][i], v)
            if arrive is None:
                continue
            cand = (metres[pos[k]][i], arrive, k)
            if best is None or cand < best:
                best = cand
        if best is None:
            unassigned.append(v.key)
            continue
        m, arrive, k = best
        routes[k].stops.append(Stop(v.key, arrive, arrive + v.service, m))
        pos[k], free[k] = i, arrive + v.service
    return Solution(routes, unassigned, _time.perf_counter() - began, "greedy")


def _fit(spans: Sequence[tuple[int, int]], ready: int, v: Visit) -> int | None:
    """The earliest arrival at or after ``ready`` inside ``v``'s window with the visit
    inside one working span."""
    for a, b in spans:
        arrive = max(ready, a, v.earliest)
        if arrive <= v.latest and arrive + v.service <= b:
            return arrive
    return None
