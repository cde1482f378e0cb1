"""Poison never blocks the queue, as a property (issue 13): random batches of mutations
queued by the reference client (``client_sdk``) — valid ones mixed with poison of every
kind — pushed in a few rounds; afterwards

- every valid mutation was applied exactly once (one history row, its note kept);
- every poison one was rejected with its own code and changed nothing;
- the phone's outbox is empty (nothing jammed it), and it knows every outcome;
- every mutation's exact bytes are in the ledger, and the device's chain verifies.

The poison: times far out of range with odd UTC offsets (year 0001 at +05:00, 9999 at
-00:01) and times without an offset, NUL in texts, huge and mistyped numbers, unknown
argument fields, wrong types, a broken envelope, a phone that reuses ``mid`` values
for new mutations, a push with an unsupported ``schema_version``, and unexpected
exceptions injected into three handlers (in a savepoint, deferred without one, and
after a statement PostgreSQL refuses). The client refuses such values itself
(``test_client_refuses_poison_at_queue_time``), so the faulty phone queues them with
``Phone.queue_unchecked``.

One app per backend for all examples; each example is a new phone (its own device,
``mid`` sequence and ledger chain) on two shared jobs. No shrinking: the example is
printed as readable recipes, and shrinking a slow example runs for minutes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st
from phones import BASE, Forward, make_job
from sqlalchemy import select, text
from world import PASSWORD, login

from client_sdk import InvalidMutation, Phone
from server.db.engine import make_database
from server.db.models import DeviceSyncState, JobEvent, JobNote, LedgerEntry
from sync import metrics, push
from sync.ledger import verify_chain
from sync.mutations import HANDLERS

EXAMPLES = int(os.environ.get("DOORSTEP_POISON_EXAMPLES", "20"))
"""Generated examples per backend (besides the explicit one with every kind): e.g.
``DOORSTEP_POISON_EXAMPLES=200`` for a deep run."""
FRESH = "<fresh uuid>"
"""Placeholder in a recipe's args: a new UUID when the mutation is queued (never drawn
by hypothesis: two examples must not share a note or call id)."""


# --- recipes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """One mutation to queue: ``expect`` is the rejection code, ``None`` for valid."""

    what: str
    name: str
    args: dict[str, Any]
    expect: str | None
    job: int = 0
    envelope: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<{self.what} {self.name} job{self.job} {self.args!r} -> {self.expect}>"


@dataclass(frozen=True)
class Round:
    """Mutations queued, then one sync. ``rewind``: before queueing, the phone forgets
    its last ``rewind`` mids (a counter lost, a store restored from a backup) and
    numbers new mutations with them again. ``schema_version``: what the push says."""

    recipes: list[Recipe]
    rewind: int = 0
    schema_version: int = 1


def _in_range(t: datetime) -> bool:
    """2000 <= t < 2100 in UTC, by timedelta arithmetic (no conversion that overflows)."""
    offset = t.utcoffset()
    assert offset is not None
    since = t.replace(tzinfo=None) - datetime(2000, 1, 1) - offset
    return timedelta(0) <= since < datetime(2100, 1, 1) - datetime(2000, 1, 1)


def _aware(naive: datetime, minutes: int) -> datetime:
    return naive.replace(tzinfo=timezone(timedelta(minutes=minutes)))


OFFSETS = st.one_of(
    st.integers(-14 * 60, 14 * 60),
    st.sampled_from([1, -1, 5 * 60, -5 * 60, 23 * 60 + 59, -(23 * 60 + 59)]),
)
GOOD_TIMES = st.builds(
    _aware, st.datetimes(datetime(2000, 1, 2), datetime(2099, 12, 30)), OFFSETS
).map(lambda t: t.isoformat())
ANY_TIMES = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00+05:00",
            "0001-01-01T00:00:00+00:01",
            "9999-12-31T23:59:59-00:01",
            "9999-12-31T23:59:59.999999-14:00",
            "1999-12-31T23:59:59Z",
            "2000-01-01T00:00:00+01:00",
            "2100-01-01T00:00:00Z",
            "2099-12-31T23:59:59-01:00",
        ]
    ),
    st.builds(_aware, st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59)), OFFSETS).map(
        lambda t: t.isoformat()
    ),
    GOOD_TIMES,
)
NAIVE_TIMES = st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31)).map(lambda t: t.isoformat())
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=30,
).filter(lambda s: s not in ("boom", "db-boom"))
JOB = st.integers(0, 1)


def _time_expect(when: str) -> str | None:
    return None if _in_range(datetime.fromisoformat(when)) else "timestamp_out_of_range"


def _call(what: str, when: str, job: int, expect: str | None, **more: Any) -> Recipe:
    args = {"call_id": FRESH, "started_at": when, "outcome": "no_answer", **more}
    return Recipe(what, "job.call_attempt", args, expect, job)


def _check_in(what: str, fix_time: str | None, job: int, expect: str | None, **more: Any):
    args = {"checkin_id": FRESH, "latitude": 30.2791, "longitude": 120.1301, **more}
    if fix_time is not None:
        args["fix_time"] = fix_time
    return Recipe(what, "job.check_in", args, expect, job)


def _note(what: str, note: Any, job: int, expect: str | None, **envelope: Any) -> Recipe:
    return Recipe(what, "job.note", {"note_id": FRESH, "text": note}, expect, job, envelope)


def _with_nul(s: str, at: int) -> str:
    at %= len(s) + 1
    return s[:at] + "\x00" + s[at:]


VALID = st.one_of(
    st.builds(lambda t, j: _note("note", t, j, None), TEXT, JOB),
    st.builds(lambda w, j: _call("call", w, j, None), GOOD_TIMES, JOB),
    st.builds(lambda w, j: _check_in("check-in", w, j, None), st.none() | GOOD_TIMES, JOB),
    st.builds(
        lambda t, d, j: _note("note, phone clock off", t, j, None, device_time=d),
        TEXT,
        st.sampled_from(
            ["1970-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "2026-11-20T09:30:00"]
        ),
        JOB,
    ),
    st.builds(
        lambda a, j: _check_in("check-in, huge accuracy", None, j, None, accuracy_m=a),
        st.sampled_from([1e6, 1e30, 1e308]),
        JOB,
    ),
)
POISON = st.one_of(
    # extreme times with offsets (the oracle decides: some random ones are in range)
    st.builds(lambda w, j: _call("call at", w, j, _time_expect(w)), ANY_TIMES, JOB),
    st.builds(lambda w, j: _check_in("fix at", w, j, _time_expect(w)), ANY_TIMES, JOB),
    # no offset
    st.builds(lambda w, j: _call("naive call", w, j, "timestamp_without_offset"), NAIVE_TIMES, JOB),
    st.builds(
        lambda w, j: _check_in("naive fix", w, j, "timestamp_without_offset"), NAIVE_TIMES, JOB
    ),
    # NUL
    st.builds(
        lambda t, at, j: _note("NUL note", _with_nul(t, at), j, "invalid_text"),
        TEXT,
        st.integers(0, 40),
        JOB,
    ),
    st.builds(
        lambda t, j: Recipe("NUL pause", "job.pause", {"reason": t + "\x00"}, "invalid_text", j),
        TEXT,
        JOB,
    ),
    # huge numbers (a signing phone cannot send an integer beyond 2^53: JCS has none)
    st.builds(
        lambda n, j: _call("huge duration", GOOD_WHEN, j, "invalid_arguments", duration_s=n),
        st.sampled_from([2**53 - 1, 10**12, 86_401, -1]),
        JOB,
    ),
    st.builds(
        lambda n, j: Recipe(
            "huge price",
            "job.report",
            {"report_id": FRESH, "parts": [{"name": "valve", "unit_price": n}]},
            "invalid_arguments",
            j,
        ),
        st.sampled_from([1e30, 1.5, -(2**53 - 1)]),
        JOB,
    ),
    st.builds(
        lambda x, j: _check_in("latitude off the globe", None, j, "invalid_arguments", latitude=x),
        st.sampled_from([1e308, -91.0, 90.000001]),
        JOB,
    ),
    # unknown argument fields
    st.builds(
        lambda k, j: Recipe(
            "unknown field",
            "job.note",
            {"note_id": FRESH, "text": "ok", k: "blue"},
            "unknown_argument",
            j,
        ),
        st.text(min_size=1, max_size=8).filter(lambda k: k not in ("note_id", "text")),
        JOB,
    ),
    # wrong types
    st.builds(
        lambda v, j: _note("mistyped note", v, j, "invalid_arguments"),
        st.sampled_from([7, None, True, [], {}, "", 1.5]),
        JOB,
    ),
    st.builds(
        lambda v, j: Recipe("mistyped pause", "job.pause", {"reason": v}, "invalid_arguments", j),
        st.sampled_from([7, [], {"a": 1}, False]),
        JOB,
    ),
    st.builds(
        lambda j: _call("mistyped outcome", GOOD_WHEN, j, "invalid_arguments", outcome=3), JOB
    ),
    st.builds(
        lambda j: Recipe("note without id", "job.note", {"text": "x"}, "invalid_arguments", j), JOB
    ),
    # a broken envelope
    st.builds(
        lambda d, j: _note("broken device_time", "ok", j, "invalid_mutation", device_time=d),
        st.sampled_from(["yesterday-ish", 12, "0000-01-01T00:00:00Z"]),
        JOB,
    ),
    # unexpected exceptions inside apply
    st.builds(lambda j: _note("note raises", "boom", j, "internal_rejected"), JOB),
    st.builds(
        lambda j: _note("note raises after the database", "db-boom", j, "internal_rejected"), JOB
    ),
    st.builds(
        lambda j: Recipe("pause raises", "job.pause", {"reason": "boom"}, "internal_rejected", j),
        JOB,
    ),
)
GOOD_WHEN = "2026-11-20T09:30:00+08:00"
MUTATIONS = st.one_of(VALID, POISON)
ROUNDS = st.lists(
    st.builds(
        Round,
        st.lists(MUTATIONS, min_size=1, max_size=8),
        st.sampled_from([0, 0, 0, 1, 2, 3]),
        st.sampled_from([1, 1, 1, 1, 99]),
    ),
    min_size=1,
    max_size=4,
)

EVERY_KIND = [
    Round(
        [
            _note("note", "before", 0, None),
            _call("call at", "0001-01-01T00:00:00+05:00", 0, "timestamp_out_of_range"),
            _call("call at", "9999-12-31T23:59:59-00:01", 1, "timestamp_out_of_range"),
            _call("naive call", "2026-11-20T09:30:00", 0, "timestamp_without_offset"),
            _check_in("fix at", "0001-01-01T00:00:00+05:00", 1, "timestamp_out_of_range"),
            _note("NUL note", "before\x00after", 0, "invalid_text"),
            _call("huge duration", GOOD_WHEN, 0, "invalid_arguments", duration_s=2**53 - 1),
            Recipe(
                "unknown field",
                "job.pause",
                {"reason": "x", "colour": "blue"},
                "unknown_argument",
                0,
            ),
            Recipe("mistyped pause", "job.pause", {"reason": 7}, "invalid_arguments", 1),
            _note("broken device_time", "ok", 0, "invalid_mutation", device_time="yesterday-ish"),
            _note("note raises", "boom", 0, "internal_rejected"),
            Recipe("pause raises", "job.pause", {"reason": "boom"}, "internal_rejected", 1),
            _note("note raises after the database", "db-boom", 1, "internal_rejected"),
            _call("call", GOOD_WHEN, 1, None),
            _note("note", "after", 1, None),
        ]
    ),
    Round([_note("note", "reused", 0, None), _note("note", "reused", 1, None)], rewind=2),
    Round([_note("note", "v99", 0, None), _check_in("check-in", None, 1, None)], schema_version=99),
    Round([_note("note", "last", 0, None)], rewind=1, schema_version=99),
]


# --- the test ----------------------------------------------------------------------


@pytest.fixture
def injected(monkeypatch: pytest.MonkeyPatch) -> None:
    """``job.pause`` (applied in a savepoint) and ``job.note`` (deferred, no savepoint)
    fail unexpectedly when their text says so; ``db-boom`` after a statement PostgreSQL
    refuses (a data error that aborts the transaction)."""
    pause, note = HANDLERS["job.pause"], HANDLERS["job.note"]

    async def failing_pause(ctx, args, job):  # type: ignore[no-untyped-def]
        if args.reason == "boom":
            job.status = "completed"  # a change the savepoint must undo
            raise RuntimeError("injected failure in job.pause")
        return await pause(ctx, args, job)

    async def failing_note(ctx, args, job):  # type: ignore[no-untyped-def]
        if args.text == "boom":
            raise RuntimeError("injected failure in job.note")
        if args.text == "db-boom":
            if ctx.session.bind.dialect.name == "postgresql":
                await ctx.session.execute(text("SELECT CAST('x' AS INTEGER)"))
            raise RuntimeError("injected failure in job.note after the database")
        return await note(ctx, args, job)

    monkeypatch.setitem(HANDLERS, "job.pause", failing_pause)
    monkeypatch.setitem(HANDLERS, "job.note", failing_note)
    # Small server chunks (one transaction each): a batch of a few mutations already
    # spans several, so poison lands at their edges too.
    monkeypatch.setattr(push, "CHUNK", 3)


class Rig:
    """The app, its world and two jobs of tech1, shared by every example."""

    def __init__(self, client: httpx.Client, world: Any, url: str, tmp: Path) -> None:
        self.client = client
        self.url = url
        self.tmp = tmp
        self.desk = login(client, "dispatcher")
        self.jobs = [make_job(client, self.desk, world, hours=24 + 3 * i) for i in range(2)]
        self.transport = Forward(client)
        self.phones = 0

    def phone(self) -> Phone:
        self.phones += 1
        phone = Phone(
            self.tmp / f"phone-{self.phones}.db",
            BASE,
            transport=self.transport,
            sleep=lambda _s: None,
        )
        phone.login("tech1", PASSWORD)
        phone.enroll()
        phone.login("tech1", PASSWORD)
        phone.sync()
        return phone


@pytest.fixture
def rig(client, world, database_url, tmp_path, injected) -> Iterator[Rig]:  # type: ignore[no-untyped-def]
    yield Rig(client, world, database_url, tmp_path)


def _says_schema_version(transport: Forward, version: int):  # type: ignore[no-untyped-def]
    """A transport hook: the push says ``schema_version: version`` (an app from the future)."""

    def hook(request: httpx.Request, send: Any) -> httpx.Response:
        if request.url.path != "/sync/v1/push" or version == 1:
            return send()
        was, now = b'"schema_version":1,', f'"schema_version":{version},'.encode()
        body = request.read()
        assert was in body
        headers = [(k, v) for k, v in request.headers.items() if k.lower() != "content-length"]
        rewritten = httpx.Request(
            request.method, request.url, headers=headers, content=body.replace(was, now, 1)
        )
        return transport._send(rewritten)

    return hook


@dataclass
class Queued:
    recipe: Recipe
    mid: int
    id: uuid.UUID
    raw: bytes
    expect: str | None
    """The code expected once pushed: the recipe's, unless its mid was reused (or the
    push's schema version is not supported)."""
    note_id: str | None = None


def _fresh(args: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(uuid.uuid4()) if v == FRESH else v) for k, v in args.items()}


def _outcome_of(recipe: Recipe, reused: bool, version: int) -> str | None:
    if reused:
        return "mid_reused"  # whatever it holds: a used mid is never applied again
    if recipe.expect == "invalid_mutation":
        return "invalid_mutation"  # the envelope is read before the version is looked at
    if version != 1:
        return "unsupported_schema_version"
    return recipe.expect


async def _server_facts(url: str, device_id: uuid.UUID, notes: list[str]):  # type: ignore[no-untyped-def]
    db = make_database(url)
    try:
        async with db.reader() as s:
            events = Counter(
                e.data.get("mutation_id")
                for e in await s.scalars(select(JobEvent).where(JobEvent.device_id == device_id))
            )
            rows = list(
                await s.scalars(
                    select(LedgerEntry)
                    .where(LedgerEntry.device_id == device_id)
                    .order_by(LedgerEntry.seq)
                )
            )
            kept = (
                set(
                    map(
                        str,
                        await s.scalars(
                            select(JobNote.id).where(JobNote.id.in_([uuid.UUID(n) for n in notes]))
                        ),
                    )
                )
                if notes
                else set()
            )
            state = await s.get(DeviceSyncState, device_id)
            chain = await verify_chain(s, device_id)
            return events, rows, kept, state.last_mid if state else 0, chain
    finally:
        await db.dispose()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@example(rounds=EVERY_KIND)
@given(rounds=ROUNDS)
def test_poison_is_rejected_alone_and_the_outbox_drains(
    rig: Rig, caplog: pytest.LogCaptureFixture, rounds: list[Round]
) -> None:
    phone = rig.phone()
    queued: list[Queued] = []
    booms = 0
    caplog.clear()
    before = metrics.snapshot().get("push.rejected.internal_rejected", 0)
    try:
        for r in rounds:
            acked = phone.store.last_acked_mid
            rewind = min(r.rewind, acked, len(r.recipes))
            if rewind:
                with phone.store._tx() as db:  # the phone forgets its last mids
                    db.execute(
                        "UPDATE meta SET value = ? WHERE key IN ('last_acked_mid', 'last_queued_mid')",
                        (acked - rewind,),
                    )
            for recipe in r.recipes:
                args = _fresh(recipe.args)
                m = phone.queue_unchecked(
                    recipe.name, rig.jobs[recipe.job], args, envelope=recipe.envelope
                )
                expect = _outcome_of(recipe, m.mid <= acked, r.schema_version)
                booms += expect == "internal_rejected"
                note_id = args.get("note_id") if recipe.name == "job.note" else None
                queued.append(Queued(recipe, m.mid, m.id, m.raw, expect, note_id))
                event(f"{recipe.what} -> {expect}")
            rig.transport.hook = _says_schema_version(rig.transport, r.schema_version)
            try:
                with caplog.at_level(logging.ERROR, logger="doorstep.sync"):
                    phone.sync()
            finally:
                rig.transport.hook = None

        # The outbox drained, and the phone heard of every mutation.
        assert phone.pending() == []
        # The phone keeps one outcome per mid: of a reused mid, the last mutation's.
        outcomes = {o.id: o for o in phone.outcomes()}
        last_of_mid = {q.mid: q for q in queued}
        for q in last_of_mid.values():
            got = outcomes[q.id]
            if q.expect is None:
                assert got.status in ("applied", "resolved"), (q.recipe, got)
            else:
                assert (got.status, got.code) == ("rejected", q.expect), (q.recipe, got)

        assert phone.device_id is not None
        notes = [q.note_id for q in queued if q.note_id]
        events, rows, kept, last_mid, chain = asyncio.run(
            _server_facts(rig.url, phone.device_id, notes)
        )
        # Valid ones applied exactly once; poison changed nothing.
        for q in queued:
            assert events[str(q.id)] == (1 if q.expect is None else 0), q.recipe
            if q.note_id:
                assert (q.note_id in kept) == (q.expect is None), q.recipe
        # Every mutation's exact bytes kept, with its outcome; the chain verifies.
        by_id = {row.mutation_id: row for row in rows}
        for q in queued:
            row = by_id[str(q.id)]
            assert bytes(row.raw) == q.raw
            assert row.code == q.expect or q.expect is None, (q.recipe, row.code)
            if q.expect == "mid_reused":
                first = next(x for x in queued if x.mid == q.mid and x.expect != "mid_reused")
                assert row.detail["first_mutation_id"] == str(first.id)
        assert len(rows) == len(queued)
        assert last_mid == max(q.mid for q in queued)
        assert chain.ok, chain
        # An unexpected failure is logged once with its traceback, and counted.
        logged = [x for x in caplog.records if "internal_rejected" in x.getMessage()]
        assert len(logged) == booms and all(x.exc_info for x in logged)
        assert metrics.snapshot().get("push.rejected.internal_rejected", 0) == before + booms
    finally:
        phone.close()
    status = {rig.client.get(f"/jobs/{j}", headers=rig.desk).json()["status"] for j in rig.jobs}
    assert not status & {"completed", "paused"}  # the failed pauses were rolled back


def test_client_refuses_poison_at_queue_time(rig: Rig) -> None:
    """The reference client runs the server's own checks (``sync.validation``) when a
    mutation is queued: what it would be rejected for is refused at once, with the
    code the server would answer, and nothing is queued."""
    phone = rig.phone()
    job = rig.jobs[0]
    naive = datetime(2026, 11, 20, 9, 30)
    year_one = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    cases = [
        (lambda: phone.call_attempt(job, naive, "no_answer"), "timestamp_without_offset"),
        (lambda: phone.call_attempt(job, year_one, "no_answer"), "timestamp_out_of_range"),
        (lambda: phone.check_in(job, fix_time=year_one), "timestamp_out_of_range"),
        (lambda: phone.note(job, "before\x00after"), "invalid_text"),
        (lambda: phone.pause(job, "\x00"), "invalid_text"),
        (
            lambda: phone._queue("job.pause", job, {"reason": "x", "colour": "blue"}),
            "unknown_argument",
        ),
        (lambda: phone._queue("job.pause", job, {"reason": 7}), "invalid_arguments"),
        (
            lambda: phone.call_attempt(job, datetime.now(UTC), "no_answer", 2**53 - 1),
            "invalid_arguments",
        ),
    ]
    for make, code in cases:
        with pytest.raises(InvalidMutation) as err:
            make()
        assert err.value.code == code
        assert isinstance(err.value, ValueError)  # as every local refusal of the client
    assert phone.pending() == []
    ok = phone.call_attempt(job, datetime.now(UTC), "no_answer")
    assert [m.id for m in phone.pending()] == [ok.id]
    phone.close()
