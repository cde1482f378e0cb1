"""Scorecards per technician and per provider: exact figures from claims, outcomes,
violations and repeat repairs arranged straight in the database, then read through the
HTTP API as JSON and CSV, scoped by who asks."""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from world import World, assert_error, login, run_db

from server.db.models import CallbackOutcome, CallbackTask, FeePolicy, Job, Violation
from server.scorecards.service import Period, scorecards_for

JUNE = {"from": "2025-06-01", "to": "2025-07-01"}
T = datetime(2025, 6, 1, tzinfo=UTC)
PROVIDER_OF = {"tech1": "p1", "tech1b": "p1", "tech1off": "p1", "tech2": "p2"}


def day(d: float, hours: float = 9) -> datetime:
    """June ``d`` 2025 at ``hours`` UTC."""
    return T + timedelta(days=d - 1, hours=hours)


class Arrange:
    """Writes jobs, claims, outcomes and violations as the callback feature would."""

    def __init__(self, s: AsyncSession, world: World) -> None:
        self.s = s
        self.w = world
        self.n = itertools.count(1)

    async def job(
        self, technician: str = "tech1", city: str = "hangzhou", **extra: Any
    ) -> uuid.UUID:
        customer = "customer1" if city == "hangzhou" else "customer2"
        job = Job(
            number=f"SC-{next(self.n):05d}",
            kind="repair",
            status=extra.pop("status", "completed"),
            customer_id=self.w[customer],
            city_id=self.w[city],
            provider_id=self.w[PROVIDER_OF[technician]],
            technician_id=self.w[technician],
            created_at=extra.pop("created_at", T - timedelta(days=5)),
            **extra,
        )
        self.s.add(job)
        await self.s.flush()
        return job.id

    async def claim(
        self, job_id: uuid.UUID, kind: str, technician: str, at: datetime
    ) -> CallbackTask:
        task = CallbackTask(
            job_id=job_id,
            kind=kind,
            basis=f"v{next(self.n)}",
            state="open",
            claimed_at=at,
            technician_id=self.w[technician],
            provider_id=self.w[PROVIDER_OF[technician]],
            created_at=at,
            due_at=at + timedelta(hours=2),
        )
        self.s.add(task)
        await self.s.flush()
        return task

    async def outcome(
        self,
        task: CallbackTask,
        outcome: str = "confirmed",
        satisfaction: str | None = None,
        *,
        after: timedelta = timedelta(hours=1),
        corrects: CallbackOutcome | None = None,
    ) -> CallbackOutcome:
        assert task.claimed_at is not None
        row = CallbackOutcome(
            task_id=task.id,
            job_id=task.job_id,
            outcome=outcome,
            satisfaction=satisfaction,
            recorded_by=self.w["auditor"],
            recorded_at=task.claimed_at + after,
            corrects_id=corrects.id if corrects else None,
        )
        self.s.add(row)
        await self.s.flush()
        return row

    async def violation(
        self,
        task: CallbackTask,
        outcome: CallbackOutcome,
        fine: int = 200000,
        currency: str = "CNY",
        voided_by: CallbackOutcome | None = None,
    ) -> None:
        self.s.add(
            Violation(
                job_id=task.job_id,
                task_id=task.id,
                outcome_id=outcome.id,
                kind=f"false_{task.kind}",
                technician_id=task.technician_id,
                provider_id=task.provider_id,
                fine_amount=fine,
                currency=currency,
                recorded_at=outcome.recorded_at,
                voided_at=voided_by.recorded_at if voided_by else None,
                voided_by_outcome_id=voided_by.id if voided_by else None,
            )
        )
        await self.s.flush()


async def _june(s: AsyncSession, w: World) -> None:
    """The month the figures below are worked out from by hand.

    Hangzhou pays 1500 per very-satisfied job, Nanjing the default 1000.
    """
    await s.execute(
        update(FeePolicy)
        .where(FeePolicy.city_id == w["hangzhou"])
        .values(very_satisfied_bonus=1500)
    )
    a = Arrange(s, w)

    # tech1 (p1, Hangzhou)
    j1 = await a.job()
    t = await a.claim(j1, "completion", "tech1", day(2))
    await a.outcome(t, "unreachable")
    await a.outcome(t, "confirmed", "very_satisfied", after=timedelta(days=1))  # the latest

    j2 = await a.job(
        priority="urgent",
        contact_due_at=day(3, 8),
        contacted_at=day(3, 7),
        onsite_due_at=day(3, 10),
        arrived_at=day(3, 9),
    )
    await a.claim(j2, "not_home", "tech1", day(3))
    t = await a.claim(j2, "completion", "tech1", day(5))
    first = await a.outcome(t, "confirmed", "very_satisfied")
    await a.outcome(t, "confirmed", "satisfied", after=timedelta(hours=3), corrects=first)

    j3 = await a.job(
        priority="urgent",
        contact_due_at=day(10, 8),
        contacted_at=day(10, 7),
        onsite_due_at=day(10, 10),
        arrived_at=day(10, 11),  # late on site
    )
    t = await a.claim(j3, "completion", "tech1", day(10))
    await a.outcome(t, "confirmed", "very_satisfied")
    await a.job(previous_job_id=j3, repeat_of_id=j3, repeat_seq=2, created_at=day(20))

    j4 = await a.job()
    t = await a.claim(j4, "unable", "tech1", day(12))
    o = await a.outcome(t, "contradicted")
    await a.violation(t, o)

    j5 = await a.job()
    t = await a.claim(j5, "not_home", "tech1", day(15))
    o = await a.outcome(t, "contradicted")
    fix = await a.outcome(t, "confirmed", after=timedelta(hours=2), corrects=o)
    await a.violation(t, o, voided_by=fix)  # corrected away: does not count

    j6 = await a.job()  # claimed before the period
    t = await a.claim(j6, "completion", "tech1", T - timedelta(days=2))
    await a.outcome(t, "confirmed", "very_satisfied")

    j7 = await a.job()  # claimed at the very start; its repeat came 31 days later
    await a.claim(j7, "completion", "tech1", T)
    await a.job(
        previous_job_id=j7, repeat_of_id=j7, repeat_seq=2, created_at=T + timedelta(days=31)
    )
    # a cancelled repeat is no repair
    await a.job(
        previous_job_id=j7,
        repeat_of_id=j7,
        repeat_seq=2,
        created_at=day(3),
        status="cancelled",
        cancelled_at=day(3, 12),
    )

    status_only = await a.job()  # a status check is no claim
    await a.claim(status_only, "status_check", "tech1", day(8))

    # tech1b (p1) finished j4 after tech1 could not; and one of their own
    t = await a.claim(j4, "completion", "tech1b", day(14))
    await a.outcome(t, "confirmed", "very_satisfied")
    k1 = await a.job("tech1b")
    t = await a.claim(k1, "completion", "tech1b", day(4))
    await a.outcome(t, "confirmed", "satisfied")
    # a later entry (not a correction) is the current one: the first no longer counts
    await a.outcome(t, "confirmed", "very_satisfied", after=timedelta(days=1))

    # tech1off (p1): one unable claim, nobody surveyed
    await a.claim(await a.job("tech1off"), "unable", "tech1off", day(6))

    # tech2 (p2, Nanjing)
    for d, satisfaction in ((6, "very_satisfied"), (7, "very_satisfied"), (8, "dissatisfied")):
        t = await a.claim(await a.job("tech2", "nanjing"), "completion", "tech2", day(d))
        await a.outcome(t, "confirmed", satisfaction)
    late = await a.job("tech2", "nanjing")  # `to` is exclusive
    t = await a.claim(late, "completion", "tech2", T + timedelta(days=30))
    await a.outcome(t, "confirmed", "very_satisfied")


@pytest.fixture
def june(world, database_url) -> World:
    run_db(database_url, lambda s: _june(s, world))
    return world


def _get(client, who: str, path: str, **params: str) -> Any:
    r = client.get(f"/scorecards/{path}", params=params, headers=login(client, who))
    assert r.status_code == 200, r.text
    return r.json()


def _by_name(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {i[key]: i for i in items}


FIGURES = [
    "rank",
    "jobs",
    "completed",
    "completion_rate",
    "surveyed",
    "very_satisfied",
    "very_satisfied_rate",
    "contradicted",
    "first_time_fixes",
    "first_time_fix_rate",
    "repeat_repairs",
    "urgent_jobs",
    "urgent_sla_met",
    "urgent_sla_rate",
    "currency",
    "bonus",
    "fines",
    "net",
]


def _figures(item: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(item[k] for k in FIGURES)


def test_technician_figures_and_ranking(client, june):
    page = _get(client, "auditor", "technicians", **JUNE)
    assert page["period_from"].startswith("2025-06-01T00:00:00")
    assert page["period_to"].startswith("2025-07-01T00:00:00")
    assert page["ranked"] == 4
    names = [i["technician_name"] for i in page["items"]]
    # 1.0; then two at 2/3 with two very satisfied, fewer contradicted first; none surveyed last
    assert names == ["Tech1B", "Tech2", "Tech1", "Tech1Off"]
    rows = _by_name(page["items"], "technician_name")
    assert _figures(rows["Tech1"]) == (
        3,  # rank
        6,  # jobs: j1 j2 j3 j4 j5 j7 (not j6: before; not the status check)
        4,  # completed: j1 j2 j3 j7
        0.6667,
        3,  # surveyed: j1 (latest entry), j2 (corrected to satisfied), j3
        2,  # very satisfied: j1 j3
        0.6667,
        1,  # contradicted: j4 (j5's violation was voided)
        2,  # first-time fixes: j1, j7 (j2 had a not-home first, j3 a repeat in 10 days)
        0.5,
        2,  # repeat repairs: after j3 and after j7 (the cancelled one does not count)
        2,  # urgent: j2 j3
        1,  # SLA met: j2
        0.5,
        "CNY",
        3000,  # 2 x 1500
        200000,
        -197000,
    )
    assert _figures(rows["Tech1B"]) == (
        1, 2, 2, 1.0, 2, 2, 1.0, 0, 1, 0.5, 0, 0, 0, None, "CNY", 3000, 0, 3000
    )  # fmt: skip
    assert _figures(rows["Tech2"]) == (
        2, 3, 3, 1.0, 3, 2, 0.6667, 0, 3, 1.0, 0, 0, 0, None, "CNY", 2000, 0, 2000
    )  # fmt: skip
    assert _figures(rows["Tech1Off"]) == (
        4, 1, 0, 0.0, 0, 0, None, 0, 0, None, 0, 0, 0, None, "CNY", 0, 0, 0
    )  # fmt: skip
    assert [rows[n]["score"] for n in ("Tech1B", "Tech2", "Tech1", "Tech1Off")] == [
        1.0,
        0.6667,
        0.4667,  # 0.6667 - 0.2 for the contradicted j4
        None,
    ]
    assert rows["Tech1"]["technician_id"] == str(june["tech1"])
    assert rows["Tech1"]["provider_id"] == str(june["p1"])
    assert rows["Tech1"]["provider_name"] == "Westlake Home Service"
    assert rows["Tech2"]["provider_name"] == "Purple Mountain Repairs"


def test_provider_figures_count_a_shared_job_once(client, june):
    page = _get(client, "admin", "providers", **JUNE)
    # Westlake has the better plain rate (0.8 against 0.67) but a 2,000 CNY fine for a
    # proven false report: its score is 0.8 - 0.2 = 0.6, and it ranks second.
    assert [i["provider_name"] for i in page["items"]] == [
        "Purple Mountain Repairs",
        "Westlake Home Service",
    ]
    p2, p1 = page["items"]
    assert (p1["very_satisfied_rate"], p1["score"]) == (0.8, 0.6)
    assert (p2["very_satisfied_rate"], p2["score"]) == (0.6667, 0.6667)
    assert _figures(p1) == (
        2,
        8,  # tech1's six, k1, tech1off's one (j4 once though two technicians claimed on it)
        6,
        0.75,
        5,
        4,
        0.8,
        1,
        3,  # j1 j7 k1
        0.5,
        2,
        2,
        1,
        0.5,
        "CNY",
        6000,
        200000,
        -194000,
    )
    assert _figures(p2)[:7] == (1, 3, 3, 1.0, 3, 2, 0.6667)
    assert (p2["bonus"], p2["fines"], p2["net"]) == (2000, 0, 2000)


def test_filters_narrow_what_is_ranked(client, june):
    by_city = _get(client, "auditor", "technicians", city_id=str(june["nanjing"]), **JUNE)
    assert [(i["technician_name"], i["rank"]) for i in by_city["items"]] == [("Tech2", 1)]
    assert by_city["city_id"] == str(june["nanjing"])
    by_provider = _get(client, "dispatcher", "technicians", provider_id=str(june["p1"]), **JUNE)
    assert [(i["technician_name"], i["rank"]) for i in by_provider["items"]] == [
        ("Tech1B", 1),
        ("Tech1", 2),
        ("Tech1Off", 3),
    ]
    # datetimes: the first 9 days of June hold j1 j2 j7 (tech1) only
    early = _get(
        client, "auditor", "technicians", **{"from": "2025-06-01T00:00:00Z", "to": "2025-06-10"}
    )
    tech1 = _by_name(early["items"], "technician_name")["Tech1"]
    assert (tech1["jobs"], tech1["completed"], tech1["very_satisfied"]) == (3, 3, 1)
    # an offset is read as such: 08:00:01+08:00 is just after midnight UTC, leaving out j7
    shifted = _get(
        client,
        "auditor",
        "technicians",
        **{"from": "2025-06-01T08:00:01+08:00", "to": "2025-06-10"},
    )
    tech1 = _by_name(shifted["items"], "technician_name")["Tech1"]
    assert tech1["jobs"] == 2


def test_default_period_is_the_last_30_days(client, world, database_url):
    async def recent(s: AsyncSession) -> None:
        a = Arrange(s, world)
        now = datetime.now(UTC)
        t = await a.claim(
            await a.job("tech2", "nanjing"), "completion", "tech2", now - timedelta(days=1)
        )
        await a.outcome(t, "confirmed", "very_satisfied", after=timedelta(minutes=5))
        old = await a.job("tech1")
        await a.claim(old, "completion", "tech1", now - timedelta(days=31))

    run_db(database_url, recent)
    page = _get(client, "auditor", "technicians")
    assert [i["technician_name"] for i in page["items"]] == ["Tech2"]
    start = datetime.fromisoformat(page["period_from"])
    end = datetime.fromisoformat(page["period_to"])
    assert end - start == timedelta(days=30)
    assert page["items"][0]["bonus"] == 1000


def test_csv_has_the_json_columns(client, june):
    headers = login(client, "auditor")
    as_json = client.get("/scorecards/technicians", params=JUNE, headers=headers).json()
    r = client.get("/scorecards/technicians", params={**JUNE, "format": "csv"}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == (
        'attachment; filename="scorecards-technicians-20250601-20250701.csv"'
    )
    assert r.content.endswith(b"\r\n")
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8"))))
    header, body = table[0], table[1:]
    assert header[:5] == [
        "rank",
        "technician_id",
        "technician_name",
        "provider_id",
        "provider_name",
    ]
    assert set(header) == set(as_json["items"][0])
    assert len(body) == 4
    for line, item in zip(body, as_json["items"], strict=True):
        row = dict(zip(header, line, strict=True))
        for column, value in item.items():
            assert row[column] == ("" if value is None else str(value)), column
    tech1 = next(dict(zip(header, line, strict=True)) for line in body if line[2] == "Tech1")
    assert (tech1["rank"], tech1["bonus"], tech1["fines"], tech1["net"]) == (
        "3",
        "3000",
        "200000",
        "-197000",
    )
    assert tech1["urgent_sla_rate"] == "0.5"

    providers = client.get(
        "/scorecards/providers", params={**JUNE, "format": "csv"}, headers=headers
    )
    assert providers.status_code == 200
    lines = providers.content.decode().splitlines()
    assert lines[0].startswith("rank,provider_id,provider_name,jobs,completed,")
    assert lines[1].split(",")[:4] == ["1", str(june["p2"]), "Purple Mountain Repairs", "3"]
    assert lines[2].split(",")[:4] == ["2", str(june["p1"]), "Westlake Home Service", "8"]
    assert len(lines) == 3


def test_provider_staff_see_their_own_rows_with_brand_wide_ranks(client, june):
    for who in ("manager1", "provdispatch1"):
        mine = _get(client, who, "technicians", **JUNE)
        assert [(i["technician_name"], i["rank"]) for i in mine["items"]] == [
            ("Tech1B", 1),
            ("Tech1", 3),
            ("Tech1Off", 4),
        ]
        assert mine["ranked"] == 4
        own = _get(client, who, "providers", **JUNE)
        assert [(i["provider_name"], i["rank"]) for i in own["items"]] == [
            ("Westlake Home Service", 2)
        ]
    other = _get(client, "manager2", "providers", **JUNE)
    assert [(i["provider_name"], i["rank"]) for i in other["items"]] == [
        ("Purple Mountain Repairs", 1)
    ]
    assert [
        i["technician_name"] for i in _get(client, "manager2", "technicians", **JUNE)["items"]
    ] == ["Tech2"]
    # asking for another provider's technicians: as if it did not exist
    r = client.get(
        "/scorecards/technicians",
        params={**JUNE, "provider_id": str(june["p2"])},
        headers=login(client, "manager1"),
    )
    assert_error(r, 404, "provider_not_found")
    csv_text = client.get(
        "/scorecards/technicians",
        params={**JUNE, "format": "csv"},
        headers=login(client, "manager1"),
    ).text
    assert "Tech2" not in csv_text and "Tech1B" in csv_text


def test_technicians_may_not_read_scorecards(client, june):
    for path in ("technicians", "providers"):
        r = client.get(f"/scorecards/{path}", params=JUNE, headers=login(client, "tech1"))
        body = assert_error(r, 403, "role_forbidden")
        assert "technician" not in body["details"]["allowed_roles"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2025-06-10", "to": "2025-06-01"}, "invalid_period"),
        ({"from": "2025-06-01", "to": "2025-06-01"}, "invalid_period"),
        ({"from": "2025-06-01T10:00:00Z", "to": "2025-06-01T09:59:59Z"}, "invalid_period"),
        ({"from": "2024-01-01", "to": "2025-01-02"}, "period_too_long"),
        ({"from": "yesterday"}, "invalid_date"),
        ({"from": "2025-06-01", "to": "2025-13-01"}, "invalid_date"),
        ({"to": "0001-01-02"}, "invalid_date"),
    ],
)
def test_bad_periods_are_refused_with_a_code(client, world, params, code):
    headers = login(client, "auditor")
    for path in ("technicians", "providers"):
        body = assert_error(
            client.get(f"/scorecards/{path}", params=params, headers=headers), 422, code
        )
        if code != "invalid_date":
            assert {"from", "to"} <= set(body["details"])
    if code == "invalid_period":
        assert body["details"]["from"] >= body["details"]["to"]


def test_bad_format_and_longest_period(client, world):
    headers = login(client, "auditor")
    r = client.get("/scorecards/providers", params={"format": "xlsx"}, headers=headers)
    assert r.status_code == 400 and r.json()["code"] == "invalid_request"
    # 2024 is a leap year: exactly 366 days is allowed
    r = client.get(
        "/scorecards/providers", params={"from": "2024-01-01", "to": "2025-01-01"}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []


def test_mixed_currencies_are_not_added_up(client, world, database_url):
    async def arrange(s: AsyncSession) -> None:
        await s.execute(
            update(FeePolicy).where(FeePolicy.city_id == world["nanjing"]).values(currency="USD")
        )
        a = Arrange(s, world)
        t = await a.claim(await a.job("tech2", "nanjing"), "completion", "tech2", day(2))
        await a.outcome(t, "confirmed", "very_satisfied")
        t = await a.claim(await a.job("tech2", "hangzhou"), "completion", "tech2", day(3))
        await a.outcome(t, "confirmed", "very_satisfied")

    run_db(database_url, arrange)
    row = _get(client, "auditor", "technicians", **JUNE)["items"][0]
    assert (row["currency"], row["bonus"], row["fines"], row["net"]) == ("mixed", None, None, None)
    assert row["very_satisfied"] == 2
    by_city = _get(client, "auditor", "technicians", city_id=str(world["nanjing"]), **JUNE)
    row = by_city["items"][0]
    assert (row["currency"], row["bonus"], row["net"]) == ("USD", 1000, 1000)
    lines = client.get(
        "/scorecards/technicians",
        params={**JUNE, "format": "csv"},
        headers=login(client, "auditor"),
    ).text.splitlines()
    assert lines[1].endswith(",mixed,,,")


def test_service_function_for_reuse(world, database_url):
    run_db(database_url, lambda s: _june(s, world))
    period = Period(T, T + timedelta(days=30))

    async def read(s: AsyncSession) -> tuple[list[Any], list[Any]]:
        techs = await scorecards_for(s, "technician", period, technician_id=world["tech1"])
        provs = await scorecards_for(s, "provider", period)
        return techs, provs

    techs, provs = run_db(database_url, read)
    assert [(r.technician_name, r.contradicted, r.fines, r.rank) for r in techs] == [
        ("Tech1", 1, 200000, 1)
    ]
    assert [(r.provider_name, r.very_satisfied, r.bonus) for r in provs] == [
        ("Purple Mountain Repairs", 2, 2000),
        ("Westlake Home Service", 4, 6000),  # the better rate, but a fine
    ]


def test_csv_and_json_documented_in_openapi(client):
    schema = client.get("/docs/openapi.json").json()
    for path, first in (
        ("/scorecards/technicians", "rank,technician_id,technician_name,"),
        ("/scorecards/providers", "rank,provider_id,provider_name,"),
    ):
        op = schema["paths"][path]["get"]
        ok = op["responses"]["200"]
        assert "text/csv" in ok["description"]
        assert set(ok["content"]) == {"application/json", "text/csv; charset=utf-8"}
        assert ok["content"]["text/csv; charset=utf-8"]["example"].startswith(first)
        assert {p["name"] for p in op["parameters"]} >= {"from", "to", "city_id", "format"}
        assert op["responses"]["422"]["content"]["application/json"]
