"""The day's plan: the OR-Tools routing model honours windows, skills, working spans and
on-site clocks and travels less than the greedy rule; through the API a plan is
proposed, accepted (assignments, bookings, the customer told) and cannot be accepted
twice; provider staff see only their own."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from world import assert_error, login, run_db

from bench.planner_bench import check, generate
from server.dispatch.planner import (
    Problem,
    StraightLine,
    Visit,
    Worker,
    greedy_baseline,
    solve,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_solver_honours_constraints_and_beats_greedy() -> None:
    problem = generate(jobs=40, technicians=6, seed=3)
    sol = solve(problem, time_limit=3)
    greedy = greedy_baseline(problem)
    got = check(problem, sol)
    assert got["skill_violations"] == 0
    assert got["outside_hours"] == 0
    assert got["in_window"] == got["served"]
    assert got["urgent_on_time"] == sum(
        1
        for r in sol.routes
        for s in r.stops
        if s.key in {v.key for v in problem.visits if v.urgent}
    )
    assert sol.served >= greedy.served
    assert sol.travel_m <= greedy.travel_m
    assert sorted([s.key for r in sol.routes for s in r.stops] + list(sol.unassigned)) == sorted(
        v.key for v in problem.visits
    )


def test_complaint_goes_to_the_senior_and_breaks_are_kept() -> None:
    lat, lon = 30.27, 120.15
    workers = [
        Worker("junior", lat, lon, ((9 * 60, 12 * 60), (13 * 60, 18 * 60))),
        Worker("senior", lat + 0.2, lon, ((9 * 60, 12 * 60), (13 * 60, 18 * 60)), senior=True),
    ]
    visits = [
        Visit("complaint", lat + 0.001, lon, 60, 9 * 60, 18 * 60, seniors_only=True),
        # must be over by 12:00 or start at 13:00 or later: 11:30 arrival would cross lunch
        Visit("late-morning", lat, lon + 0.001, 60, 11 * 60 + 30, 13 * 60),
        Visit("impossible", lat, lon, 60, 19 * 60, 20 * 60),
        Visit("passed", lat, lon, 60, 10 * 60, -1),
    ]
    sol = solve(Problem(visits, workers), StraightLine(), time_limit=1)
    where = {s.key: (r.worker, s) for r in sol.routes for s in r.stops}
    assert where["complaint"][0] == "senior"
    stop = where["late-morning"][1]
    assert stop.arrive >= 13 * 60 or stop.leave <= 12 * 60
    assert sorted(sol.unassigned) == ["impossible", "passed"]
    assert "passed" in greedy_baseline(Problem(visits, workers)).unassigned


def _tomorrow() -> date:
    return datetime.now(SHANGHAI).date() + timedelta(days=1)


def _job(client: Any, desk: dict[str, str], world: Any, **extra: Any) -> dict[str, Any]:
    body = {"customer_id": str(world["customer1"]), "kind": "install", **extra}
    r = client.post("/jobs", json=body, headers=desk)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_plan_proposed_accepted_and_scoped(client: Any, world: Any, database_url: str) -> None:
    desk = login(client, "dispatcher")
    day = _tomorrow()
    start = datetime.combine(day, time(14), tzinfo=SHANGHAI)
    booked = _job(
        client,
        desk,
        world,
        window_start=start.isoformat(),
        window_end=(start + timedelta(hours=2)).isoformat(),
    )
    pending = [_job(client, desk, world) for _ in range(3)]
    other_day = _job(
        client,
        desk,
        world,
        window_start=(start + timedelta(days=1)).isoformat(),
        window_end=(start + timedelta(days=1, hours=2)).isoformat(),
    )
    r = client.post(
        "/dispatch/plans",
        json={"city_id": str(world["hangzhou"]), "day": day.isoformat(), "time_limit_s": 2},
        headers=desk,
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["state"] == "proposed"
    stops = {s["job_id"]: s for route in plan["routes"] for s in route["stops"]}
    planned = {booked["id"], *(j["id"] for j in pending)}
    assert set(stops) == planned and other_day["id"] not in stops
    assert plan["unassigned"] == []
    arrive = datetime.fromisoformat(stops[booked["id"]]["arrive"])
    assert start <= arrive <= start + timedelta(hours=2)
    for j in pending:
        s = stops[j["id"]]
        assert s["pending"] and s["window_start"] and s["window_end"]
        local = datetime.fromisoformat(s["arrive"]).astimezone(SHANGHAI)
        assert local.date() == day and time(9) <= local.time() <= time(18)
    # nothing changed yet
    assert client.get(f"/jobs/{booked['id']}", headers=desk).json()["technician_id"] is None

    # provider staff of another provider do not see it
    other = login(client, "manager2")
    assert client.get(f"/dispatch/plans/{plan['id']}", headers=other).status_code == 404

    r = client.post(f"/dispatch/plans/{plan['id']}/accept", headers=desk)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "accepted"
    assert sorted(done["outcome"]["applied"]) == sorted(
        [booked["number"], *(j["number"] for j in pending)]
    )
    techs = {str(world["tech1"]), str(world["tech1b"])}
    for j in pending:
        got = client.get(f"/jobs/{j['id']}", headers=desk).json()
        assert got["technician_id"] in techs and got["status"] == "assigned"
        assert got["window_start"] is not None
        history = client.get(f"/jobs/{j['id']}/history", headers=desk).json()
        assert {"appointment_set", "assigned"} <= {e["kind"] for e in history}

    async def booked_messages(s: Any) -> int:
        from sqlalchemy import func, select

        from server.db.models import Notification

        return int(
            await s.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.template == "appointment_booked")
            )
            or 0
        )

    # the three pending customers told of their booking
    assert run_db(database_url, booked_messages) == 3
    assert_error(
        client.post(f"/dispatch/plans/{plan['id']}/accept", headers=desk), 409, "plan_not_open"
    )
    listed = client.get(
        "/dispatch/plans", params={"city_id": str(world["hangzhou"])}, headers=desk
    ).json()
    assert [p["id"] for p in listed["items"]] == [plan["id"]]


def test_changed_job_is_skipped_and_bad_input_is_4xx(client: Any, world: Any) -> None:
    desk = login(client, "dispatcher")
    day = _tomorrow()
    job = _job(client, desk, world)
    body = {"city_id": str(world["hangzhou"]), "day": day.isoformat(), "time_limit_s": 1}
    plan = client.post("/dispatch/plans", json=body, headers=desk).json()
    start = datetime.combine(day, time(10), tzinfo=SHANGHAI)
    r = client.put(
        f"/jobs/{job['id']}/appointment",
        json={
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=2)).isoformat(),
        },
        headers=desk,
    )
    assert r.status_code == 200, r.text
    done = client.post(f"/dispatch/plans/{plan['id']}/accept", headers=desk).json()
    assert done["outcome"]["applied"] == []
    assert done["outcome"]["skipped"][0]["job_number"] == job["number"]
    assert client.get(f"/jobs/{job['id']}", headers=desk).json()["technician_id"] is None
    r = client.post("/dispatch/plans", json={**body, "time_limit_s": 500}, headers=desk)
    assert r.status_code == 400 or r.status_code == 422, r.text
    r = client.post("/dispatch/plans", json={**body, "city_id": str(world["p1"])}, headers=desk)
    assert r.status_code == 404, r.text
    assert client.post(f"/dispatch/plans/{world['p1']}/accept", headers=desk).status_code == 404


def test_cli_plan(settings: Any, world: Any, capsys: Any) -> None:
    import dataclasses

    from server.cli import _cmd_plan

    ns = type(
        "A",
        (),
        {
            "city": "hangzhou",
            "date": _tomorrow().isoformat(),
            "time_limit": 1.0,
            "user": None,
            "accept": False,
        },
    )()
    assert _cmd_plan(dataclasses.replace(settings), ns) == 0  # type: ignore[arg-type]
    assert "proposed" in capsys.readouterr().out
    ns.city = "atlantis"
    assert _cmd_plan(settings, ns) == 2  # type: ignore[arg-type]


_ = UTC


def test_service_areas_are_hard_and_the_installer_is_preferred() -> None:
    """A visit outside one provider's areas never goes to its technicians, even the
    nearest; the installer is sent when it costs a little more driving, not when it
    costs much more (a soft cost of ``PREFER_INSTALLER_M``)."""
    day = ((8 * 60, 18 * 60),)
    km = 1 / 111.0  # a kilometre of latitude
    p, q, r = (30.20, 120.10), (30.40, 120.10), (30.60, 120.10)  # 22 km apart
    workers = [
        Worker("a1", p[0], p[1], day, provider="pA"),
        Worker("c", p[0] + km, p[1], day, provider="pB"),
        Worker("a2", q[0], q[1], day, provider="pA"),
        Worker("b", q[0] + km, q[1], day, provider="pA"),
        Worker("a3", r[0], r[1], day, provider="pA"),
    ]
    visits = [
        Visit("outside-pA", p[0], p[1], 60, 9 * 60, 17 * 60, providers=frozenset({"pB"})),
        Visit("near-installer", q[0], q[1], 60, 9 * 60, 17 * 60, prefer="b"),
        Visit("far-installer", r[0], r[1], 60, 9 * 60, 17 * 60, prefer="b"),
    ]
    sol = solve(Problem(visits, workers), time_limit=2)
    who = {s.key: route.worker for route in sol.routes for s in route.stops}
    assert who == {"outside-pA": "c", "near-installer": "b", "far-installer": "a3"}
    greedy = greedy_baseline(Problem(visits, workers))
    assert {s.key: r.worker for r in greedy.routes for s in r.stops}["outside-pA"] == "c"
    # nobody of a covering provider: not planned at all
    alone = [Visit("nobody", p[0], p[1], 60, 9 * 60, 17 * 60, providers=frozenset({"pZ"}))]
    assert solve(Problem(alone, workers), time_limit=1).unassigned == ["nobody"]


def test_plan_prefers_the_installer_and_keeps_to_service_areas(client: Any, world: Any) -> None:
    desk = login(client, "dispatcher")
    admin = login(client, "admin")
    day = _tomorrow()
    # a pending repair of appliance1, installed by tech1b (junior; tech1 is senior): both
    # start from the city centre, so only the preference tells them apart
    job = _job(client, desk, world, kind="repair", appliance_id=str(world["appliance1"]))
    body = {"city_id": str(world["hangzhou"]), "day": day.isoformat(), "time_limit_s": 2}
    r = client.post("/dispatch/plans", json=body, headers=desk)
    assert r.status_code == 201, r.text
    [route] = [x for x in r.json()["routes"] if any(s["job_id"] == job["id"] for s in x["stops"])]
    assert route["technician_id"] == str(world["tech1b"])
    # p1 now works only in Binjiang, far from customer1: the job is not planned for it
    r = client.post(
        f"/providers/{world['p1']}/service-areas",
        json={
            "city_id": str(world["hangzhou"]),
            "name": "Binjiang",
            "latitude": 30.2084,
            "longitude": 120.2120,
            "radius_km": 3,
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    r = client.post("/dispatch/plans", json=body, headers=desk)
    assert r.status_code == 201, r.text
    plan = r.json()
    assert all(s["job_id"] != job["id"] for x in plan["routes"] for s in x["stops"])
    [left] = [u for u in plan["unassigned"] if u["job_id"] == job["id"]]
    assert "service areas" in left["reason"]
