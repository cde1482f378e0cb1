"""The location trace (``job.location_trace``): its compact chunks and the poison each
is rejected for, stop detection on synthetic traces (an honest stop at the door, a
drive-by, a stop somewhere else, an indoor phone's jitter), and the trace end to end —
recorded by the reference phone under the packet's sampling, chunked into its outbox,
pushed, stored, and read by the risk model into the callback queue."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from phones import BASE
from test_callbacks import _task_of
from test_sync_api import Phone as RawPhone
from test_sync_api import make_job
from world import PASSWORD, login, run_db

from client_sdk import Phone
from evidence.features import ClaimFacts, FixFact, PhotoFact, extract
from evidence.risk import DEFAULT, score
from evidence.trace import Trace, find_stops, summarise
from fixtures.traces import Crumb, drive, dwell, gaps, offset_m
from server.db.models import LocationTraceChunk
from sync.geo import distance_m
from sync.trace_wire import (
    MAX_POINTS_PER_CHUNK,
    LocationTraceArgs,
    TracePoint,
    decode_points,
    encode_points,
)
from sync.validation import Violation, decode_args

DOOR = (30.2790, 120.1300)
"""``world``'s first customer."""
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _points(crumbs: list[Crumb], t0: datetime = T0) -> list[TracePoint]:
    return [
        TracePoint(t0 + timedelta(seconds=c.t), c.lat, c.lon, c.acc, c.speed, c.mock)
        for c in crumbs
    ]


def _trace(crumbs: list[Crumb], t0: datetime = T0) -> Trace:
    tr = Trace()
    for c in crumbs:
        tr.t.append((t0 + timedelta(seconds=c.t)).timestamp())
        tr.lat.append(c.lat)
        tr.lon.append(c.lon)
        tr.acc.append(c.acc)
        tr.speed.append(c.speed)
        tr.mock.append(c.mock)
    return tr


def _decode(args: dict[str, Any]) -> LocationTraceArgs:
    return decode_args(msgspec.json.encode(args), LocationTraceArgs, "job.location_trace")  # type: ignore[no-any-return]


def _chunk(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "trace_id": str(uuid.uuid4()),
        "seq": 0,
        "start": T0.isoformat(),
        "dt_ms": [0, 10_000, 10_000],
        "lat_e6": [30_279_000, 15, -3],
        "lon_e6": [120_130_000, 20, 1],
        "accuracy_m": [8, 9, 12],
    }
    return {**base, **over}


# --- the wire ----------------------------------------------------------------------


def test_chunks_round_trip_to_a_tenth_of_a_metre() -> None:
    r = random.Random(1)
    pts = _points(drive(r, offset_m(DOOR, -2000, 500), DOOR, 0.0) + dwell(r, DOOR, 600, 900))
    args = encode_points(uuid.uuid4(), 3, pts, last=True)
    args.check()
    back = decode_points(_decode(msgspec.to_builtins(args)))
    assert len(back) == len(pts)
    for a, b in zip(pts, back, strict=True):
        assert abs((a.at - b.at).total_seconds()) < 0.001
        assert abs(a.latitude - b.latitude) < 1e-6 and abs(a.longitude - b.longitude) < 1e-6
        assert b.accuracy_m == round(a.accuracy_m)
        assert b.speed_mps is not None and abs(b.speed_mps - (a.speed_mps or 0)) < 0.051
    # Compact: a few bytes a point.
    assert len(msgspec.json.encode(args)) / len(pts) < 40


@pytest.mark.parametrize(
    ("over", "code", "field"),
    [
        ({"dt_ms": [], "lat_e6": [], "lon_e6": [], "accuracy_m": []}, "trace_empty", "args.dt_ms"),
        (
            {
                "dt_ms": [0] + [1000] * MAX_POINTS_PER_CHUNK,
                "lat_e6": [30_000_000] + [0] * MAX_POINTS_PER_CHUNK,
                "lon_e6": [120_000_000] + [0] * MAX_POINTS_PER_CHUNK,
                "accuracy_m": [5] * (MAX_POINTS_PER_CHUNK + 1),
            },
            "trace_too_many_points",
            "args.dt_ms",
        ),
        ({"lat_e6": [30_279_000, 1]}, "trace_columns_mismatch", "args.lat_e6"),
        ({"speed_dms": [3]}, "trace_columns_mismatch", "args.speed_dms"),
        ({"dt_ms": [0, 10_000, -1]}, "trace_out_of_order", "args.dt_ms[2]"),
        ({"dt_ms": [0, 0, 1000]}, "trace_out_of_order", "args.dt_ms[1]"),
        ({"dt_ms": [0, 13 * 3_600_000, 1]}, "trace_span_too_long", "args.dt_ms"),
        ({"lat_e6": [89_999_999, 5, 0]}, "trace_out_of_range", "args.lat_e6[1]"),
        ({"lon_e6": [-180_000_001, 0, 0]}, "trace_out_of_range", "args.lon_e6[0]"),
        ({"accuracy_m": [8, -1, 3]}, "trace_out_of_range", "args.accuracy_m[1]"),
        ({"speed_dms": [0, 5000, -1]}, "trace_out_of_range", "args.speed_dms[1]"),
        ({"mock": [2, 1]}, "trace_out_of_range", "args.mock[1]"),
        ({"mock": [3]}, "trace_out_of_range", "args.mock[0]"),
        ({"seq": 1000}, "invalid_arguments", "args.seq"),
        ({"start": "2026-11-20T02:00:00"}, "timestamp_without_offset", "args.start"),
        ({"dt_ms": [0, 2**70, 1]}, "number_out_of_range", "args.dt_ms[1]"),
        ({"points": []}, "unknown_argument", "args.points"),
    ],
)
def test_poison_is_rejected_with_a_stable_code(over: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(Violation) as caught:
        _decode(_chunk(**over))
    assert (caught.value.code, caught.value.field) == (code, field)


def test_a_valid_chunk_passes() -> None:
    args = _decode(_chunk(speed_dms=[0, -1, 120], mock=[0, 2], last=True))
    pts = decode_points(args)
    assert [p.mock for p in pts] == [True, False, True]
    assert pts[1].speed_mps is None and pts[2].speed_mps == 12.0
    assert pts[2].latitude == pytest.approx(30.279012)


# --- stop detection ----------------------------------------------------------------


def _honest(seed: int, minutes: float = 12, indoor: bool = False) -> list[Crumb]:
    r = random.Random(seed)
    start = offset_m(DOOR, -3000, 1200)
    leg = drive(r, start, offset_m(DOOR, 15, -10), 0.0)
    arrive = leg[-1].t + 30
    stay = dwell(r, offset_m(DOOR, 15, -10), arrive, minutes * 60, indoor=indoor)
    away = drive(r, DOOR, offset_m(DOOR, 2500, 2500), stay[-1].t + 20)
    return gaps(r, leg + stay + away)


def _metres(c: Crumb, where: tuple[float, float]) -> float:
    return distance_m(c.lat, c.lon, *where)


def _features(crumbs: list[Crumb], **over: Any) -> dict[str, Any]:
    arrive = next((c.t for c in crumbs if _metres(c, DOOR) < 60), crumbs[0].t)
    facts = ClaimFacts(
        kind="not_home",
        claimed_at=over.pop("claimed_at", T0 + timedelta(seconds=arrive + 11 * 60)),
        customer=DOOR,
        fixes=over.pop(
            "fixes",
            [FixFact("check_in", *DOOR, 10.0, T0 + timedelta(seconds=arrive))],
        ),
        trace=_trace(crumbs),
        **over,
    )
    return {f.code: f for f in extract(facts)}


def test_an_honest_stop_at_the_door_speaks_for_the_claim() -> None:
    for seed in range(8):
        f = _features(_honest(seed))
        assert "trace_stop" in f, seed
        assert f["trace_stop"].value < 0, (seed, f["trace_stop"].words)
        assert "at the address" in f["trace_stop"].words
        assert {"trace_drive_by", "trace_elsewhere", "trace_check_in"}.isdisjoint(f), seed


def test_an_indoor_phones_jitter_is_still_a_stop_at_the_address() -> None:
    for seed in range(8):
        crumbs = _honest(100 + seed, minutes=14, indoor=True)
        f = _features(crumbs)
        assert "trace_elsewhere" not in f, (seed, f["trace_elsewhere"].words)
        assert "trace_drive_by" not in f, seed
        assert f["trace_stop"].value < 0.3, (seed, f["trace_stop"].words)


def test_a_drive_by_passes_at_speed_and_never_stops() -> None:
    r = random.Random(7)
    crumbs = drive(r, offset_m(DOOR, -3000, 0), offset_m(DOOR, 3000, 30), 0.0, kmh=40)
    passing = min(crumbs, key=lambda c: abs(c.lon - DOOR[1])).t
    f = _features(
        crumbs,
        fixes=[FixFact("check_in", *offset_m(DOOR, 10, 25), 12.0, T0 + timedelta(seconds=passing))],
        claimed_at=T0 + timedelta(seconds=passing + 600),
    )
    assert f["trace_drive_by"].value == 1.0, f["trace_drive_by"].words
    assert "km/h without stopping" in f["trace_drive_by"].words
    assert "trace_stop" not in f
    _, factors = score(
        ClaimFacts(
            kind="not_home",
            claimed_at=T0 + timedelta(seconds=passing + 600),
            customer=DOOR,
            fixes=[FixFact("check_in", *DOOR, 12.0, T0 + timedelta(seconds=passing))],
            trace=_trace(crumbs),
        )
    )
    assert factors[0]["code"] in ("trace_drive_by", "calls")
    assert any(x["code"] == "trace_drive_by" and x["contribution"] >= 2.9 for x in factors)


def test_a_stop_somewhere_else_is_far_evidence() -> None:
    r = random.Random(3)
    tea_house = offset_m(DOOR, 1800, -900)
    crumbs = drive(r, offset_m(DOOR, 4000, 0), tea_house, 0.0) + dwell(r, tea_house, 700, 1200)
    f = _features(
        crumbs,
        fixes=[FixFact("check_in", *tea_house, 9.0, T0 + timedelta(seconds=800))],
        claimed_at=T0 + timedelta(seconds=1500),
    )
    assert f["trace_elsewhere"].value > 0.9
    assert "km from the address" in f["trace_elsewhere"].words
    assert "trace_stop" not in f


def test_a_careful_cheat_a_few_hundred_metres_away() -> None:
    r = random.Random(4)
    corner = offset_m(DOOR, 300, 250)
    crumbs = drive(r, offset_m(DOOR, 3000, 2000), corner, 0.0) + dwell(r, corner, 900, 840)
    f = _features(
        crumbs,
        fixes=[FixFact("check_in", *corner, 8.0, T0 + timedelta(seconds=950))],
        claimed_at=T0 + timedelta(seconds=1700),
    )
    assert f["trace_elsewhere"].value > 0.5, f["trace_elsewhere"].words


def test_stops_need_the_minimum_dwell_and_a_short_stop_points_at_a_false_claim() -> None:
    r = random.Random(5)
    crumbs = drive(r, offset_m(DOOR, -2000, 0), DOOR, 0.0)
    arrive = crumbs[-1].t + 10
    crumbs += dwell(r, DOOR, arrive, 100, interval=15)  # 1 min 40 s at the door
    crumbs += drive(r, DOOR, offset_m(DOOR, 2000, 2000), crumbs[-1].t + 15)
    f = _features(
        crumbs,
        fixes=[FixFact("check_in", *DOOR, 9.0, T0 + timedelta(seconds=arrive))],
        claimed_at=T0 + timedelta(seconds=arrive + 900),
    )
    assert "trace_stop" not in f  # under the three minutes a stop takes
    assert "trace_drive_by" in f or "trace_elsewhere" in f
    r = random.Random(6)
    crumbs = dwell(r, DOOR, 0.0, 200, interval=10) + drive(r, DOOR, offset_m(DOOR, 3000, 0), 215)
    f = _features(
        crumbs,
        fixes=[FixFact("check_in", *DOOR, 9.0, T0)],
        claimed_at=T0 + timedelta(minutes=14),
    )
    assert f["trace_stop"].value > 0.15, f["trace_stop"].words  # 3.6 min: against


def test_the_trace_against_the_check_in_and_the_photo() -> None:
    r = random.Random(8)
    home = offset_m(DOOR, -1500, -800)
    crumbs = dwell(r, home, 0.0, 1500, interval=30)
    f = _features(
        crumbs,
        fixes=[FixFact("check_in", *DOOR, 5.0, T0 + timedelta(seconds=300), mock=False)],
        photos=[PhotoFact("door", T0 + timedelta(seconds=600), *DOOR)],
        claimed_at=T0 + timedelta(seconds=1200),
    )
    assert f["trace_check_in"].value > 0.9
    assert "from where the trace was" in f["trace_check_in"].words
    assert f["trace_photo"].value > 0.9


def test_no_trace_is_neutral_and_a_mocked_trace_is_mock_location() -> None:
    base = ClaimFacts(
        kind="not_home",
        claimed_at=T0 + timedelta(minutes=12),
        customer=DOOR,
        fixes=[FixFact("check_in", *DOOR, 9.0, T0)],
    )
    without = {f.code for f in extract(base)}
    assert not any(c.startswith("trace_") for c in without)
    r = random.Random(9)
    crumbs = dwell(r, DOOR, 0.0, 900, interval=20)
    for c in crumbs:
        c.mock = True
    base.trace = _trace(crumbs)
    codes = {f.code: f for f in extract(base)}
    assert "mock_location" in codes and "trace points" in codes["mock_location"].words
    assert not any(c.startswith("trace_") for c in codes)
    # A trace that ends long before the visit says nothing either.
    base.trace = _trace(dwell(r, DOOR, -7200.0, 600))
    assert not any(f.code.startswith("trace_") for f in extract(base))


def test_every_trace_weight_is_a_bounded_non_negative_factor() -> None:
    for code in (
        "trace_stop",
        "trace_drive_by",
        "trace_elsewhere",
        "trace_check_in",
        "trace_photo",
    ):
        assert 0 < DEFAULT.weight(code) <= 5


def test_stop_detection_is_linear_enough_for_2000_points() -> None:
    # 2,000 points all within a metre and a second apart: the worst case for the scan.
    n = 2000
    t = [float(i * 2) for i in range(n)]
    stops = find_stops(t, [0.0] * n, [0.0] * n, [5.0] * n)
    assert len(stops) == 1 and stops[0].points == n
    tr = _trace(_honest(11) * 1)
    summary = summarise(tr, DOOR)
    assert summary.points == len(tr)


# --- end to end --------------------------------------------------------------------


@pytest.fixture
def sdk_phone(client: Any, world: Any, tmp_path: Path):  # type: ignore[no-untyped-def]
    made: list[Phone] = []

    def make(clock: Any) -> Phone:
        phone = Phone(
            tmp_path / f"p{len(made)}.db", BASE, http=client, sleep=lambda _s: None, clock=clock
        )
        made.append(phone)
        phone.login("tech1", PASSWORD)
        phone.enroll()
        phone.login("tech1", PASSWORD)
        return phone

    yield make
    for p in made:
        p.close()


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _visit(
    phone: Phone,
    clock: _Clock,
    job_id: str,
    crumbs: list[Crumb],
    t0: datetime,
    *,
    check_in: tuple[float, float],
    arrive_s: float,
    claim_s: float,
) -> None:
    phone.acknowledge(job_id)
    clock.now = t0
    phone.en_route(job_id)
    checked = False
    for c in crumbs:
        clock.now = t0 + timedelta(seconds=c.t)
        if not checked and c.t >= arrive_s:
            phone.check_in(job_id, *check_in, 9.0, fix_time=clock.now, location_provider="gps")
            for k in (2, 6):
                phone.call_attempt(job_id, clock.now + timedelta(minutes=k), "no_answer", 40)
            checked = True
        if c.t > claim_s:
            break
        phone.record_location(job_id, clock.now, c.lat, c.lon, c.acc, speed_mps=c.speed)
    clock.now = t0 + timedelta(seconds=claim_s)
    phone.flush_trace(job_id, last=True)
    phone.unable_to_complete(job_id, "customer_not_home", "Rang twice, called twice.")


def test_the_reference_phone_records_sends_and_the_queue_reads_the_trace(
    client, world, sdk_phone, database_url
):
    desk, auditor = login(client, "dispatcher"), login(client, "auditor")
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = now - timedelta(minutes=50)
    window = {
        "window_start": (t0 - timedelta(minutes=10)).isoformat(),
        "window_end": (t0 + timedelta(hours=2)).isoformat(),
    }
    honest_job = make_job(client, desk, world, **window)["id"]
    drive_by_job = make_job(client, desk, world, **window)["id"]
    clock = _Clock(t0)
    phone = sdk_phone(clock)
    phone.sync()
    packet = phone.job(honest_job)
    assert packet is not None and packet.location_trace.enabled
    assert packet.location_trace.interval_s == 10

    r = random.Random(21)
    crumbs = drive(r, offset_m(DOOR, -2500, 800), offset_m(DOOR, 10, 5), 0.0)
    arrive = crumbs[-1].t + 20
    crumbs += dwell(r, offset_m(DOOR, 10, 5), arrive, 13 * 60, interval=20)
    _visit(
        phone,
        clock,
        honest_job,
        crumbs,
        t0,
        check_in=DOOR,
        arrive_s=arrive,
        claim_s=arrive + 12 * 60,
    )
    sent = [m for m in phone.pending() if m.name == "job.location_trace"]
    assert sent and all(m.args["trace_id"] == sent[0].args["trace_id"] for m in sent)
    assert [m.args["seq"] for m in sent] == list(range(len(sent)))
    assert sent[-1].args["last"] is True

    r = random.Random(22)
    crumbs = drive(r, offset_m(DOOR, -3000, 0), offset_m(DOOR, 3000, 20), 0.0, kmh=40)
    passing = min(crumbs, key=lambda c: abs(c.lon - DOOR[1])).t
    _visit(
        phone,
        clock,
        drive_by_job,
        crumbs,
        t0,
        check_in=DOOR,
        arrive_s=passing,
        claim_s=passing + 10 * 60,
    )
    clock.now = now
    report = phone.sync()
    assert not report.outcomes.get("rejected"), phone.outcomes()
    assert not phone.pending()

    rows = run_db(database_url, _chunks)
    assert {str(j) for j, _ in rows} == {honest_job, drive_by_job}
    honest = _task_of(client, auditor, honest_job)
    codes = {f["code"]: f for f in honest["risk_factors"]}
    assert "trace_stop" in codes and codes["trace_stop"]["contribution"] < 0
    assert "at the address" in codes["trace_stop"]["words"]
    stops = codes["trace_stop"]["detail"]["stops"]
    assert stops and stops[0]["distance_m"] < 60
    cheat = _task_of(client, auditor, drive_by_job)
    codes = {f["code"]: f for f in cheat["risk_factors"]}
    assert "trace_drive_by" in codes, cheat["risk_factors"]
    assert cheat["risk_probability"] > honest["risk_probability"]


def _chunks(s: Any) -> Any:
    from sqlalchemy import select

    async def go() -> list[tuple[uuid.UUID, int]]:
        return [
            (row.job_id, row.point_count) for row in await s.scalars(select(LocationTraceChunk))
        ]

    return go()


def test_a_poisoned_chunk_is_rejected_alone_and_a_resend_is_a_duplicate(
    client, world, database_url
):
    desk = login(client, "dispatcher")
    job = make_job(client, desk, world)["id"]
    phone = RawPhone(client, "tech1")
    good = _chunk(seq=0)
    bad = _chunk(trace_id=good["trace_id"], seq=1, dt_ms=[0, 5, 3], accuracy_m=[8, 9, 20_000])
    later = _chunk(trace_id=good["trace_id"], seq=2, start=(T0 + timedelta(minutes=1)).isoformat())
    res = phone.push(
        [
            phone.mutation("job.location_trace", job, good),
            phone.mutation("job.location_trace", job, bad),
            phone.mutation("job.location_trace", job, later),
        ]
    )
    outcomes = res["outcomes"]
    assert [o["status"] for o in outcomes] == ["applied", "rejected", "applied"], outcomes
    assert outcomes[1]["code"] == "trace_out_of_range"
    assert outcomes[1]["field"] == "args.accuracy_m[2]"
    # The same chunk again under a new mid: kept once.
    again = phone.push([phone.mutation("job.location_trace", job, good)])
    assert again["outcomes"][0]["status"] == "applied"
    rows = run_db(database_url, _chunks)
    assert sorted(n for _, n in rows) == [3, 3]
    # A trace id of another job's trace is refused.
    other = make_job(client, desk, world)["id"]
    res = phone.push([phone.mutation("job.location_trace", other, good)])
    assert res["outcomes"][0]["code"] == "trace_id_reused"


def test_the_brand_sets_the_sampling_every_packet_ships(client, world):
    admin, desk = login(client, "admin"), login(client, "dispatcher")
    r = client.get("/trace-sampling", headers=desk)
    assert r.status_code == 200 and r.json()["interval_s"] == 10
    job = make_job(client, desk, world)["id"]
    want = {"enabled": True, "interval_s": 5, "min_distance_m": 10, "stationary_interval_s": 30}
    r = client.put("/trace-sampling", json=want, headers=admin)
    assert r.status_code == 200, r.text
    assert client.put("/trace-sampling", json=want, headers=desk).status_code == 403
    bad = client.put("/trace-sampling", json={"max_points_per_chunk": 501}, headers=admin)
    assert bad.status_code == 400
    phone = RawPhone(client, "tech1")
    phone.pull_all()
    packet = phone.docs[("job_packet", job)]
    assert packet["location_trace"]["interval_s"] == 5
    assert packet["location_trace"]["max_points_per_chunk"] == 500
    # The rules of the claims are untouched by it.
    rules = client.get("/evidence-rules", headers=desk).json()
    assert {r["claim_type"] for r in rules} == {"customer_not_home", "completed"}


def test_a_trace_that_ends_on_the_way_and_a_door_deep_in_a_compound_are_honest_noise() -> None:
    r = random.Random(12)
    # The OS killed the app 400 m before the door: nothing about the visit.
    crumbs = drive(r, offset_m(DOOR, -3000, 0), offset_m(DOOR, -400, 0), 0.0)
    arrive = crumbs[-1].t + 60
    f = _features(
        crumbs,
        fixes=[FixFact("check_in", *DOOR, 10.0, T0 + timedelta(seconds=arrive))],
        claimed_at=T0 + timedelta(seconds=arrive + 12 * 60),
    )
    assert not [c for c in f if c.startswith("trace_")], f
    # The door 150 m into a compound from the geocoded address, the phone indoors.
    door = offset_m(DOOR, 100, 110)
    crumbs = drive(r, offset_m(DOOR, -3000, 0), door, 0.0)
    arrive = crumbs[-1].t + 30
    crumbs += dwell(r, door, arrive, 12 * 60, indoor=True)
    f = _features(
        crumbs,
        fixes=[FixFact("check_in", *door, 40.0, T0 + timedelta(seconds=arrive))],
        claimed_at=T0 + timedelta(seconds=arrive + 12 * 60),
    )
    assert "trace_stop" in f and f["trace_stop"].value < 0, f
    assert {"trace_drive_by", "trace_elsewhere"}.isdisjoint(f)
