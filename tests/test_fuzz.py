"""Schema-driven fuzzing: schemathesis generates requests from the app's own OpenAPI
document for every operation, sent as every role and without a token, in process.

Every answer must be a non-5xx that the document describes (status code, content type,
body and headers), and every 4xx must carry ``{code, message, details}``. Operations
are read from the served schema at test time, so routes added later are fuzzed too.

Bounded and deterministic: a few examples per operation and mode, a derandomized
Hypothesis, no example database, no shrinking (a failure is reported with the request
that caused it). Valid-looking requests are also aimed at real objects (the caller's
own and another provider's) so they get past "no such id". Where the caller is refused
(guard or authentication) only one valid and one invalid request are sent: nothing of
the query or body is read there. ``DOORSTEP_FUZZ_SCALE`` multiplies every count.

The values that once reached a database driver and answered 5xx (issue 13) are in every
operation's mix, for every caller: ``date-time`` and ``date`` values are drawn from
strategies registered with schemathesis (``schemathesis.openapi.format``) that mix
ordinary values with extreme ones and odd UTC offsets (``0001-01-01T00:00:00+05:00``,
``9999-12-31T23:59:59-00:01``) and times without an offset; and a schema-scoped
``flatmap_case`` hook puts a NUL character into one text of a case (path, query or
body) or nests its JSON body deeper than ``sync.validation.MAX_DEPTH``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

import pytest
import schemathesis
from estate import ANONYMOUS, ROLE_OF, ROLES, Estate, api_routes, build_estate
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.formats import unregister_string_format

from sync.validation import MAX_DEPTH

SCALE = int(os.environ.get("DOORSTEP_FUZZ_SCALE", "1"))
"""Multiplies every example count: ``DOORSTEP_FUZZ_SCALE=20`` for a deep run."""
POSITIVE_EXAMPLES = 3 * SCALE
NEGATIVE_EXAMPLES = 2 * SCALE
AIMED_EXAMPLES = 2 * SCALE
"""Examples per operation and caller: valid requests, invalid requests, and valid
requests whose path names real objects (the caller's and another provider's)."""
DENIED_EXAMPLES = 1 * SCALE
"""Valid and invalid requests each, where the caller's role is refused by the route's
guard (403) or an anonymous caller by authentication (401): Litestar runs guards before
it parses the query and body, so what varies reaches no handler; the same operation is
fuzzed in full as every caller allowed there (about 40% of the operation and caller pairs)."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

_SCHEMA: dict[str, Any] = {}
_OPERATIONS: list[Any] = []
_STRATEGIES: dict[tuple[str, GenerationMode], Any] = {}
"""The schema's operations and their valid and invalid case strategies, built once per
worker and shared by every caller and backend (they depend on the document only; the
hypothesis strategy objects keep what they worked out on their first draws)."""


# --- poison in the mix (issue 13) -----------------------------------------------------

EXTREME_TIMES = [
    "0001-01-01T00:00:00+05:00",
    "0001-01-01T00:00:00+00:01",
    "9999-12-31T23:59:59-00:01",
    "9999-12-31T23:59:59.999999-23:59",
    "1999-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "2026-11-20T09:30:00",  # no offset (the OpenAPI's own examples once had none)
]
EXTREME_DATES = ["0001-01-01", "9999-12-31", "1999-12-31", "2100-01-01"]


def _at_offset(naive: datetime, minutes: int) -> str:
    return naive.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat()


_OFFSETS = st.integers(-(23 * 60 + 59), 23 * 60 + 59)
DATE_TIMES = st.one_of(
    st.datetimes(datetime(2020, 1, 1), datetime(2035, 12, 31), timezones=st.just(UTC)).map(
        datetime.isoformat
    ),
    st.sampled_from(EXTREME_TIMES),
    st.builds(_at_offset, st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31)), _OFFSETS),
)
"""Ordinary times (so valid requests still get past validation) and extreme ones."""
DATES = st.one_of(
    st.dates(date(2020, 1, 1), date(2035, 12, 31)).map(date.isoformat),
    st.sampled_from(EXTREME_DATES),
    st.dates().map(date.isoformat),
)
POISONS = ("as generated", "as generated", "NUL", "deep")
"""What ``flatmap_case`` does to a generated case (half are left as generated)."""


@pytest.fixture(scope="module", autouse=True)
def _extreme_formats() -> Iterator[None]:
    schemathesis.openapi.format("date-time", DATE_TIMES)
    schemathesis.openapi.format("date", DATES)
    yield
    unregister_string_format("date-time")  # schemathesis's own strategies again
    unregister_string_format("date")


def _texts(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Where the texts of a JSON value are (keys of objects too, as ``("key", k)``)."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                yield (*path, ("key", k))
            yield from _texts(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _texts(v, (*path, i))


def _with_nul(text: str, rnd: random.Random) -> str:
    at = rnd.randint(0, len(text))
    return text[:at] + "\x00" + text[at:]


def _put_nul(value: Any, path: tuple[Any, ...], rnd: random.Random) -> Any:
    if not path:
        return _with_nul(value, rnd)
    head, rest = path[0], path[1:]
    if isinstance(head, tuple):  # a key of this object
        _, key = head
        return {(_with_nul(k, rnd) if k == key else k): v for k, v in value.items()}
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _put_nul(value[head], rest, rnd)
    return copy


def _nested(depth: int) -> Any:
    value: Any = []
    for i in range(depth):
        value = [value] if i % 2 else {"n": value}
    return value


def _poisoned(case: Any, how: str, rnd: random.Random) -> Any:
    if how == "NUL":
        places = [
            (name, path)
            for name in ("path_parameters", "query", "body")
            for path in _texts(getattr(case, name, None))
            # a container's member, not a bare body; not a path parameter's name
            if path and not (name == "path_parameters" and isinstance(path[0], tuple))
        ]
        if places:
            name, path = rnd.choice(places)
            setattr(case, name, _put_nul(getattr(case, name), path, rnd))
    elif how == "deep" and isinstance(case.body, dict | list):
        deep = _nested(MAX_DEPTH + 6)
        if isinstance(case.body, dict):
            key = rnd.choice([*case.body, "nested"])
            case.body = {**case.body, key: deep}
        else:
            case.body = [*case.body, deep]
    return case


def flatmap_case(context: Any, case: Any) -> Any:
    """Schema-scoped schemathesis hook: poison some generated cases."""
    return st.tuples(st.sampled_from(POISONS), st.randoms(use_true_random=False)).map(
        lambda drawn: _poisoned(case, *drawn)
    )


_DATE = re.compile(r"(?<![0-9])([0-9]{4})-[0-9]{2}-[0-9]{2}")


def _poison_in(url: str, body: Any) -> set[str]:
    """Which poison a request carries (for the summary line and its assertion)."""
    sent = unquote(url) + (json.dumps(body, default=str) if body is not None else "")
    found = set()
    if "\x00" in unquote(url) or "\\u0000" in sent:
        found.add("NUL")
    if any(not 2000 <= int(year) < 2100 for year in _DATE.findall(sent)):
        found.add("extreme time")
    if sent.count("[") + sent.count("{") > MAX_DEPTH:
        found.add("deep")
    return found


def _schema_document(client: Any) -> dict[str, Any]:
    if not _SCHEMA:
        r = client.get("/docs/openapi.json")
        assert r.status_code == 200
        _SCHEMA.update(r.json())
    return _SCHEMA


def _operations(client: Any) -> list[Any]:
    if not _OPERATIONS:
        schema = schemathesis.openapi.from_dict(_schema_document(client))
        schema.hook(flatmap_case)
        _OPERATIONS.extend(result.ok() for result in schema.get_all_operations())
    return _OPERATIONS


def _strategy(operation: Any, mode: GenerationMode) -> Any:
    key = (operation.label, mode)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = operation.as_strategy(mode)
    return _STRATEGIES[key]


def _streams(operation: Any) -> bool:
    """Server-sent event streams stay open: an allowed caller is not fuzzed there (the
    stream has tests of its own)."""
    ok = operation.definition.raw.get("responses", {}).get("200", {})
    return "text/event-stream" in ok.get("content", {})


def _error_body(response: Any) -> str | None:
    if not 400 <= response.status_code < 500 or response.request.method == "HEAD":
        return None
    try:
        body = response.json()
    except json.JSONDecodeError:
        return f"{response.status_code} without a JSON body: {response.text[:200]!r}"
    if not (
        isinstance(body, dict)
        and isinstance(body.get("code"), str)
        and body["code"]
        and isinstance(body.get("message"), str)
        and body["message"]
        and isinstance(body.get("details"), dict)
    ):
        return f"{response.status_code} without {{code, message, details}}: {body!r}"[:400]
    return None


class Fuzzer:
    def __init__(self, client: Any, estate: Estate, who: str) -> None:
        self.client = client
        self.estate = estate
        self.who = who
        self.examples = 0
        self.failures: dict[str, str] = {}
        self.poison: Counter[str] = Counter()

    def send(self, case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url=str(self.client.base_url).rstrip("/"))
        headers = {
            k: v
            for k, v in kwargs.get("headers", {}).items()
            if k.lower() not in {"authorization", "accept-encoding", "connection"}
        }
        headers.update(self.estate.headers(self.who))
        content = kwargs.get("data")
        if isinstance(content, str):
            content = content.encode()
        response = self.client.request(
            kwargs["method"],
            kwargs["url"].replace("\x00", "%00"),  # a NUL put into a path parameter
            params=kwargs.get("params") or None,
            headers=headers,
            json=kwargs.get("json") if "json" in kwargs else None,
            content=content,
        )
        self.examples += 1
        self.poison.update(_poison_in(str(response.request.url), kwargs.get("json")))
        label = case.operation.label
        problem = _error_body(response)
        if problem is None:
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (Exception, BaseExceptionGroup) as exc:  # failed checks: collect, go on
                problem = f"{type(exc).__name__}: {str(exc)[:600]}"
        if problem is not None:
            key = f"{label} [{response.status_code}]"
            self.failures.setdefault(
                key,
                f"{problem}\n  request: {kwargs['method']} {response.request.url} "
                f"body={str(kwargs.get('json', content))[:300]}",
            )

    def run(self, strategy: Any, examples: int) -> None:
        @hsettings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def one(case: Any) -> None:
            self.send(case)

        with contextlib.suppress(Unsatisfiable):  # nothing to negate (no parameters, no body)
            one()


def _counts(poison: Counter[str]) -> str:
    return ", ".join(f"{n} with {what}" for what, n in sorted(poison.items())) or "no poison"


def _aimed(operation: Any, ids: dict[str, str]) -> dict[str, str] | None:
    names = [p.name for p in operation.path_parameters]
    if not names or any(n not in ids for n in names):
        return None
    return {n: ids[n] for n in names}


@pytest.mark.parametrize("who", [*ROLES, ANONYMOUS])
def test_every_operation_as_every_caller(
    client: Any, world: Any, who: str, capsys: pytest.CaptureFixture[str]
) -> None:
    estate = build_estate(client, world)
    operations = _operations(client)
    routes = [r for r in api_routes(client.app) if r.in_schema]
    allowed = {r.key: r.allowed_roles for r in routes}
    public = {r.key for r in routes if r.public}
    role = ROLE_OF.get(who)
    fuzz = Fuzzer(client, estate, who)
    skipped: list[str] = []
    for op in operations:
        roles = allowed.get(op.label)
        if _streams(op) and role is not None and (roles is None or role in roles):
            skipped.append(op.label)
            continue
        refused = (
            op.label not in public
            if role is None
            else roles is not None and role not in roles and op.label not in public
        )
        runs: list[tuple[Callable[[], Any], int]] = [
            (
                lambda op=op: _strategy(op, GenerationMode.POSITIVE),
                DENIED_EXAMPLES if refused else POSITIVE_EXAMPLES,
            ),
            (
                lambda op=op: _strategy(op, GenerationMode.NEGATIVE),
                DENIED_EXAMPLES if refused else NEGATIVE_EXAMPLES,
            ),
        ]
        for ids in () if refused else (estate.mine, estate.theirs):
            fixed = _aimed(op, ids)
            if fixed is not None:
                runs.append(
                    (
                        lambda op=op, fixed=fixed: op.as_strategy(
                            GenerationMode.POSITIVE, path_parameters=fixed
                        ),
                        AIMED_EXAMPLES,
                    )
                )
        for make, examples in runs:
            fuzz.run(make(), examples)
    with capsys.disabled():
        print(
            f"\nfuzz[{who}]: {len(operations) - len(skipped)} operations, "
            f"{fuzz.examples} requests ({_counts(fuzz.poison)}), {len(fuzz.failures)} failures"
            + (f" (streams not fuzzed: {', '.join(skipped)})" if skipped else "")
        )
    assert len(operations) >= len(allowed) - 2, "the schema lost operations"
    assert fuzz.examples >= len(operations) * 2
    assert set(fuzz.poison) == {"NUL", "extreme time", "deep"}, fuzz.poison
    assert not fuzz.failures, "\n\n".join(f"{k}\n  {v}" for k, v in fuzz.failures.items())


@pytest.mark.parametrize(
    ("who", "url"),
    [
        ("manager1", "/users?offset=1380850774240879443968"),
        ("dispatcher", "/jobs?offset=1380850774240879443968"),
    ],
)
def test_found_by_fuzzing(client: Any, world: Any, who: str, url: str) -> None:
    """Cases the fuzzer found, kept as plain regressions: an offset beyond any
    database integer was a 500 on SQLite."""
    from world import assert_error, login

    assert_error(client.get(url, headers=login(client, who)), 400, "invalid_request")
