"""Schema-driven fuzzing: schemathesis generates requests from the app's own OpenAPI
document for every operation, sent as every role and without a token, in process.

Every answer must be a non-5xx that the document describes (status code, content type,
body and headers), and every 4xx must carry ``{code, message, details}``. Operations
are read from the served schema at test time, so routes added later are fuzzed too.

Bounded and deterministic: a few examples per operation and mode, a derandomized
Hypothesis, no example database, no shrinking (a failure is reported with the request
that caused it). Valid-looking requests are also aimed at real objects (the caller's
own and another provider's) so they get past "no such id".
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from estate import ANONYMOUS, ROLE_OF, ROLES, Estate, api_routes, build_estate
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

SCALE = int(os.environ.get("DOORSTEP_FUZZ_SCALE", "1"))
"""Multiplies every example count: ``DOORSTEP_FUZZ_SCALE=20`` for a deep run."""
POSITIVE_EXAMPLES = 3 * SCALE
NEGATIVE_EXAMPLES = 2 * SCALE
AIMED_EXAMPLES = 2 * SCALE
"""Examples per operation and caller: valid requests, invalid requests, and valid
requests whose path names real objects (the caller's and another provider's)."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

_SCHEMA: dict[str, Any] = {}


def _schema_document(client: Any) -> dict[str, Any]:
    if not _SCHEMA:
        r = client.get("/docs/openapi.json")
        assert r.status_code == 200
        _SCHEMA.update(r.json())
    return _SCHEMA


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
            kwargs["url"],
            params=kwargs.get("params") or None,
            headers=headers,
            json=kwargs.get("json") if "json" in kwargs else None,
            content=content,
        )
        self.examples += 1
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
    schema = schemathesis.openapi.from_dict(_schema_document(client))
    operations = [result.ok() for result in schema.get_all_operations()]
    allowed = {r.key: r.allowed_roles for r in api_routes(client.app) if r.in_schema}
    role = ROLE_OF.get(who)
    fuzz = Fuzzer(client, estate, who)
    skipped: list[str] = []
    for op in operations:
        roles = allowed.get(op.label)
        if _streams(op) and role is not None and (roles is None or role in roles):
            skipped.append(op.label)
            continue
        runs: list[tuple[Callable[[], Any], int]] = [
            (lambda op=op: op.as_strategy(GenerationMode.POSITIVE), POSITIVE_EXAMPLES),
            (lambda op=op: op.as_strategy(GenerationMode.NEGATIVE), NEGATIVE_EXAMPLES),
        ]
        for ids in (estate.mine, estate.theirs):
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
            f"{fuzz.examples} requests, {len(fuzz.failures)} failures"
            + (f" (streams not fuzzed: {', '.join(skipped)})" if skipped else "")
        )
    assert len(operations) >= len(allowed) - 2, "the schema lost operations"
    assert fuzz.examples >= len(operations) * 2
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
