"""The permission matrix, read from the running app's route table.

Every route must have a rule in ``RULES`` below: the roles its guard lets through and
whether its objects are scoped (a provider's staff and a technician see only their
own; anything else answers 404 as if it did not exist). For every route the test then
checks, as every role and without a token:

- no token: 401 ``not_authenticated`` (public routes: anything but 401/403);
- a role the rule does not allow: 403; a role it allows: neither 401 nor 403 (aimed at
  an id that does not exist, or with a body that cannot be valid, so nothing changes);
- scoped routes, aimed at another provider's (or technician's) object: 404 for the
  provider's staff and the technician, and readable by the brand's staff;
- no 2xx answer to a scoped caller names an object of the other provider: ids,
  the other customer's phone number and address.

A new route without a rule fails with a message naming the line to add.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from estate import ANONYMOUS, ROLE_OF, ROLES, Estate, RouteInfo, api_routes, build_estate

ADMIN, DISPATCHER, AUDITOR, MANAGER, TECH = (
    "admin",
    "dispatcher",
    "auditor",
    "provider_manager",
    "technician",
)
ANY = frozenset({ADMIN, DISPATCHER, AUDITOR, MANAGER, TECH})
STAFF = frozenset({ADMIN, DISPATCHER, AUDITOR, MANAGER})
DISPATCH = frozenset({ADMIN, DISPATCHER, MANAGER})
WRITERS = frozenset({ADMIN, DISPATCHER})
AUDIT = frozenset({ADMIN, AUDITOR})
ONLY_ADMIN = frozenset({ADMIN})
ONLY_TECH = frozenset({TECH})
TECH_STAFF = STAFF | ONLY_TECH

SCOPED_CALLERS = {"manager1", "provdispatch1", "tech1"}
"""Callers limited to their provider (or, for the technician, their own jobs)."""
BRAND_CALLERS = {"admin", "dispatcher", "auditor"}


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str] | None
    """Roles the guard lets through; ``None``: a public route (no token needed)."""
    scoped: bool = False
    """Its path names an object that a provider's staff or a technician sees only if it
    is theirs: another's answers 404."""
    brand_only: bool = False
    """Only the brand's own staff: a provider's staff with an allowed role are refused
    (403 ``brand_staff_only``), whatever the object."""
    body: dict[str, Any] | None = None
    """A valid body for a scoped write, so the 404 comes from the scope and not from
    validation (default ``{}``)."""


PUBLIC = Rule(None)

RULES: dict[str, Rule] = {
    "GET /health": PUBLIC,
    "GET /metrics": PUBLIC,  # off (404) without DOORSTEP_METRICS_TOKEN; its own bearer token
    # auth
    "POST /auth/login": PUBLIC,
    "POST /auth/refresh": PUBLIC,
    "POST /auth/logout": PUBLIC,
    "GET /auth/me": Rule(ANY),
    "PUT /auth/me/locale": Rule(ANY),
    "GET /i18n/labels": PUBLIC,
    # jobs
    "GET /jobs": Rule(ANY),
    "POST /jobs": Rule(WRITERS),
    "GET /jobs/export.csv": Rule(STAFF),
    "GET /jobs/overdue": Rule(STAFF),
    "GET /jobs/{job_id}": Rule(ANY, scoped=True),
    "GET /jobs/{job_id}/history": Rule(ANY, scoped=True),
    "GET /jobs/{job_id}/candidates": Rule(DISPATCH, scoped=True),
    "POST /jobs/{job_id}/assign": Rule(
        DISPATCH, scoped=True, body={"provider_id": str(uuid.UUID(int=1))}
    ),
    "PUT /jobs/{job_id}/appointment": Rule(DISPATCH, scoped=True, body="window"),  # type: ignore[arg-type]
    "DELETE /jobs/{job_id}/appointment": Rule(DISPATCH, scoped=True),
    "POST /jobs/{job_id}/reschedule": Rule(DISPATCH, scoped=True, body="window"),  # type: ignore[arg-type]
    "POST /jobs/{job_id}/cancel": Rule(WRITERS, scoped=True, body={"reason": "probe"}),
    "POST /jobs/{job_id}/contacted": Rule(DISPATCH, scoped=True),
    "GET /jobs/{job_id}/verdicts": Rule(STAFF, scoped=True),
    "GET /jobs/{job_id}/service-report": Rule(STAFF, scoped=True),
    "GET /jobs/{job_id}/service-report.html": Rule(STAFF, scoped=True),
    "GET /jobs/{job_id}/service-report.pdf": Rule(STAFF, scoped=True),
    "GET /jobs/{job_id}/signature": Rule(STAFF, scoped=True),
    "POST /jobs/{job_id}/service-report/link": Rule(STAFF, scoped=True),
    "GET /jobs/{job_id}/loop": Rule(STAFF, scoped=True),
    "POST /jobs/{job_id}/customer-links": Rule(DISPATCH, scoped=True),
    "GET /jobs/{job_id}/customer-links": Rule(STAFF, scoped=True),
    "POST /jobs/{job_id}/customer-links/{link_id}/revoke": Rule(DISPATCH, scoped=True),
    "GET /jobs/{job_id}/customer-answers": Rule(STAFF, scoped=True),
    "GET /notifications": Rule(STAFF),
    "GET /notifications/dead-letters": Rule(
        frozenset({ADMIN, AUDITOR, DISPATCHER}), brand_only=True
    ),
    "POST /notifications/{notification_id}/retry": Rule(WRITERS, brand_only=True),
    # customers and appliances
    "POST /customers": Rule(WRITERS),
    "GET /customers/lookup": Rule(STAFF),
    "GET /customers/{customer_id}": Rule(STAFF, scoped=True),
    "PATCH /customers/{customer_id}": Rule(WRITERS, scoped=True),
    "GET /customers/{customer_id}/history": Rule(STAFF, scoped=True),
    "GET /customers/{customer_id}/appliances": Rule(STAFF, scoped=True),
    "POST /customers/{customer_id}/appliances": Rule(
        WRITERS, scoped=True, body={"category": "water_heater"}
    ),
    "GET /appliances/{appliance_id}": Rule(STAFF, scoped=True),
    "PATCH /appliances/{appliance_id}": Rule(WRITERS, scoped=True),
    # administration
    "GET /cities": Rule(ANY),
    "POST /cities": Rule(ONLY_ADMIN),
    "GET /cities/{city_id}/fee-policy": Rule(ANY),
    "PUT /cities/{city_id}/fee-policy": Rule(ONLY_ADMIN),
    "GET /providers": Rule(STAFF),
    "POST /providers": Rule(ONLY_ADMIN),
    "GET /providers/{provider_id}": Rule(STAFF, scoped=True),
    "PATCH /providers/{provider_id}": Rule(ONLY_ADMIN),
    "GET /users": Rule(frozenset({ADMIN, MANAGER})),
    "POST /users": Rule(frozenset({ADMIN, MANAGER})),
    "GET /users/{user_id}": Rule(frozenset({ADMIN, MANAGER}), scoped=True),
    "PATCH /users/{user_id}": Rule(frozenset({ADMIN, MANAGER}), scoped=True),
    "GET /users/{user_id}/devices": Rule(frozenset({ADMIN, MANAGER}), scoped=True),
    "POST /devices/{device_id}/revoke": Rule(frozenset({ADMIN, MANAGER}), scoped=True),
    "GET /checklists": Rule(ANY),
    "PUT /checklists/{job_kind}": Rule(ONLY_ADMIN),
    "GET /kb-articles": Rule(ANY),
    "POST /kb-articles": Rule(ONLY_ADMIN),
    "PUT /kb-articles/{article_id}": Rule(ONLY_ADMIN),
    "GET /evidence-rules": Rule(ANY),
    "PUT /evidence-rules/{claim_type}": Rule(ONLY_ADMIN),
    "GET /trace-sampling": Rule(ANY),
    "PUT /trace-sampling": Rule(ONLY_ADMIN),
    "GET /audit/ledger": Rule(AUDIT),
    "GET /audit/events": Rule(frozenset({ADMIN, AUDITOR, MANAGER})),
    "GET /audit/events/export.csv": Rule(frozenset({ADMIN, AUDITOR, MANAGER})),
    "GET /audit/ledger/verify": Rule(AUDIT),
    # callback audit: the brand's staff only (a provider's dispatcher passes the role
    # guard and is refused by scope: 403 brand_staff_only)
    "GET /callbacks": Rule(frozenset({ADMIN, AUDITOR, DISPATCHER}), brand_only=True),
    "GET /callbacks/export.csv": Rule(frozenset({ADMIN, AUDITOR, DISPATCHER}), brand_only=True),
    "GET /callbacks/{task_id}": Rule(frozenset({ADMIN, AUDITOR, DISPATCHER}), brand_only=True),
    "GET /callbacks/{task_id}/evidence": Rule(
        frozenset({ADMIN, AUDITOR, DISPATCHER}), brand_only=True
    ),
    "POST /callbacks/{task_id}/take": Rule(AUDIT),
    "POST /callbacks/{task_id}/release": Rule(AUDIT),
    "POST /callbacks/{task_id}/outcomes": Rule(AUDIT),
    "GET /violations": Rule(STAFF),
    "GET /violations/export.csv": Rule(STAFF),
    "GET /scorecards/technicians": Rule(STAFF),
    "GET /scorecards/providers": Rule(STAFF),
    # the day's plan
    "POST /dispatch/plans": Rule(DISPATCH),
    "GET /dispatch/plans": Rule(DISPATCH),
    "GET /dispatch/plans/{plan_id}": Rule(DISPATCH),
    "POST /dispatch/plans/{plan_id}/accept": Rule(DISPATCH),
    "POST /dispatch/plans/{plan_id}/discard": Rule(DISPATCH),
    # maintenance plans
    "GET /maintenance/plans": Rule(STAFF),
    "POST /maintenance/plans": Rule(ONLY_ADMIN),
    "GET /maintenance/plans/{plan_id}": Rule(STAFF),
    "POST /maintenance/run": Rule(ONLY_ADMIN),
    "GET /maintenance/schedule": Rule(STAFF),
    "GET /providers/{provider_id}/statements/{month}": Rule(STAFF, scoped=True),
    "GET /audit/repeat-repairs": Rule(STAFF),
    "POST /jobs/{job_id}/repeat-review": Rule(AUDIT),
    # dispatch: calendars, service areas, a city's mode, automatic choices, SLA alerts
    "GET /users/{user_id}/calendar": Rule(DISPATCH | ONLY_TECH, scoped=True),
    "PUT /users/{user_id}/calendar": Rule(DISPATCH, scoped=True, body={"weekly": {}}),
    "GET /users/{user_id}/calendar/exceptions": Rule(DISPATCH | ONLY_TECH, scoped=True),
    "POST /users/{user_id}/calendar/exceptions": Rule(
        DISPATCH, scoped=True, body={"first_day": "2030-01-01", "last_day": "2030-01-01"}
    ),
    "GET /providers/{provider_id}/calendar/exceptions": Rule(DISPATCH, scoped=True),
    "POST /providers/{provider_id}/calendar/exceptions": Rule(
        DISPATCH, scoped=True, body={"first_day": "2030-01-01", "last_day": "2030-01-01"}
    ),
    "DELETE /providers/{provider_id}/calendar/exceptions/{exception_id}": Rule(
        DISPATCH, scoped=True
    ),
    "GET /providers/{provider_id}/service-areas": Rule(DISPATCH, scoped=True),
    "POST /providers/{provider_id}/service-areas": Rule(
        DISPATCH,
        scoped=True,
        body={"city_id": str(uuid.UUID(int=1)), "latitude": 30, "longitude": 120, "radius_km": 5},
    ),
    "DELETE /providers/{provider_id}/service-areas/{area_id}": Rule(DISPATCH, scoped=True),
    "GET /cities/{city_id}/dispatch": Rule(DISPATCH),
    "PUT /cities/{city_id}/dispatch": Rule(ONLY_ADMIN),
    "GET /jobs/{job_id}/dispatch": Rule(DISPATCH, scoped=True),
    "POST /jobs/{job_id}/dispatch": Rule(DISPATCH, scoped=True),
    "POST /jobs/{job_id}/dispatch/{choice_id}/accept": Rule(DISPATCH, scoped=True),
    "POST /jobs/{job_id}/dispatch/{choice_id}/decline": Rule(DISPATCH, scoped=True),
    "GET /dispatch/alerts": Rule(DISPATCH),
    "POST /dispatch/alerts/{alert_id}/acknowledge": Rule(DISPATCH, scoped=True),
    # signed by the SMS gateway's shared secret instead of a token
    "POST /sms/inbound": PUBLIC,
    "POST /sms/receipts": PUBLIC,
    "POST /call-records/inbound": PUBLIC,
    # the console: static pages, public; the board is the jobs API's scope in one call
    "GET /": PUBLIC,
    "GET /console": PUBLIC,
    "GET /console/{file_path}": PUBLIC,
    "HEAD /console/{file_path}": PUBLIC,
    "GET /board": Rule(STAFF),
    # phones
    "POST /sync/v1/devices": Rule(ONLY_TECH),
    "GET /sync/v1/pull": Rule(ONLY_TECH),
    "POST /sync/v1/push": Rule(ONLY_TECH),
    "GET /sync/v1/events": Rule(ONLY_TECH),
    "GET /sync/v1/packets/{job_id}": Rule(TECH_STAFF, scoped=True),
    # HEAD tells whether a blob exists, to anyone who can upload: a phone must learn
    # it to skip an upload, and it needs the SHA-256 of the content to ask.
    "HEAD /sync/v1/blobs/{sha256}": Rule(TECH_STAFF),
    "PATCH /sync/v1/blobs/{sha256}": Rule(ONLY_TECH),
    "GET /sync/v1/blobs/{sha256}": Rule(TECH_STAFF, scoped=True),
    "GET /sync/v1/blobs/{sha256}/thumbnail": Rule(TECH_STAFF, scoped=True),
    "GET /sync/v1/blobs/{sha256}/display": Rule(TECH_STAFF, scoped=True),
    # the customer's copy, behind a signed link
    "GET /service-reports/{token}": PUBLIC,
    "GET /service-reports/{token}/report.pdf": PUBLIC,
    "GET /service-reports/{token}/signature": PUBLIC,
    "GET /service-reports/{token}/photos/{sha256}": PUBLIC,
    # the customer's page, behind a signed link (its forms carry the page's form token)
    "GET /c/{token}": PUBLIC,
    "POST /c/{token}/reschedule": PUBLIC,
    "POST /c/{token}/not-home": PUBLIC,
    "POST /c/{token}/satisfaction": PUBLIC,
}

STREAMS = {"GET /sync/v1/events"}
"""Open-ended answers: checked only where they refuse (the stream has its own tests)."""

_PROBE_IDS = {
    "sha256": "0" * 64,
    "token": "not-a-link",
    "job_kind": "no_such_kind",
    "claim_type": "no_such_claim",
}


def _probe_path(route: RouteInfo) -> str:
    """The route aimed at objects that do not exist."""

    def one(m: re.Match[str]) -> str:
        return _PROBE_IDS.get(m.group(1), str(uuid.UUID(int=0xDEAD)))

    return re.sub(r"\{(\w+)\}", one, route.path)


def _aimed_path(route: RouteInfo, ids: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        return ids.get(m.group(1), _PROBE_IDS.get(m.group(1), str(uuid.UUID(int=0xDEAD))))

    return re.sub(r"\{(\w+)\}", one, route.path)


def _body(rule: Rule, method: str) -> dict[str, Any] | None:
    if method in {"GET", "HEAD", "DELETE"}:
        return None
    if rule.body == "window":  # type: ignore[comparison-overlap]
        from estate import _window

        return _window(48)
    return rule.body if rule.body is not None else {}


def _send(client: Any, estate: Estate, who: str, method: str, path: str, body: Any) -> Any:
    kwargs: dict[str, Any] = {"headers": estate.headers(who)}
    if body is not None:
        kwargs["json"] = body
    return client.request(method, path, **kwargs)


def _missing_rules(routes: list[RouteInfo]) -> list[str]:
    lines = []
    for r in routes:
        if r.key in RULES:
            continue
        roles = (
            "None  # public" if r.allowed_roles is None else f"frozenset({sorted(r.allowed_roles)})"
        )
        lines.append(f'    "{r.key}": Rule({roles}, scoped=...),  # handler {r.handler}')
    return lines


def test_every_route_has_a_rule(app: Any) -> None:
    routes = api_routes(app)
    missing = _missing_rules(routes)
    assert not missing, (
        "Routes without a permission rule. Add to RULES in tests/test_permissions.py "
        "(scoped=True when a provider's staff or a technician may see only their own "
        "objects of that kind):\n" + "\n".join(missing)
    )
    stale = sorted(set(RULES) - {r.key for r in routes})
    assert not stale, f"Rules for routes that no longer exist: {stale}"


def test_guards_match_the_declared_rules(app: Any) -> None:
    wrong = []
    for r in api_routes(app):
        rule = RULES.get(r.key)
        if rule is None:
            continue
        allowed = ANY if r.allowed_roles is None and not r.public else r.allowed_roles
        if rule.roles is None:
            if not r.public:
                wrong.append(f"{r.key}: declared public but needs a token")
        elif r.public or allowed != rule.roles:
            wrong.append(
                f"{r.key}: guard allows {sorted(allowed or [])}"
                f"{' (public)' if r.public else ''}, rule says {sorted(rule.roles)}"
            )
    assert not wrong, "\n".join(wrong)


def _leak_markers(estate: Estate) -> dict[str, str]:
    marks = {k: v for k, v in estate.theirs.items() if k != "city_id"}
    marks["phone"] = "13755550001"
    marks["phone (spaced)"] = "137 5555 0001"
    marks["address"] = "Zhongshan Road"
    return marks


def test_permission_matrix(client: Any, world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    estate = build_estate(client, world)
    routes = [r for r in api_routes(client.app) if r.key in RULES]
    assert not _missing_rules(api_routes(client.app)), "see test_every_route_has_a_rule"
    problems: list[str] = []
    checked = 0
    leaks = _leak_markers(estate)

    def expect(cond: bool, what: str, r: Any) -> None:
        if not cond:
            shown = r.text[:200] if r.headers.get("content-type", "").endswith("json") else "…"
            problems.append(f"{what}: {r.status_code} {shown}")

    # 1. Role gates, aimed at nothing that exists: nothing changes.
    for route in routes:
        rule = RULES[route.key]
        path = _probe_path(route)
        probe_body = None if route.method in {"GET", "HEAD", "DELETE"} else {"__probe__": 1}
        for who in [*ROLES, ANONYMOUS]:
            if route.key in STREAMS and who == "tech1":
                continue
            r = _send(client, estate, who, route.method, path, probe_body)
            checked += 1
            label = f"{route.key} as {who}"
            if rule.roles is None:
                expect(r.status_code not in (401, 403), f"{label}: public route refused", r)
            elif who == ANONYMOUS:
                expect(r.status_code == 401, f"{label}: expected 401", r)
            elif rule.brand_only and who in SCOPED_CALLERS and ROLE_OF[who] in rule.roles:
                expect(
                    r.status_code == 403 and r.json().get("code") == "brand_staff_only",
                    f"{label}: expected 403 brand_staff_only",
                    r,
                )
            elif ROLE_OF[who] in rule.roles:
                expect(r.status_code not in (401, 403), f"{label}: allowed role refused", r)
            else:
                expect(r.status_code == 403, f"{label}: expected 403", r)
            if r.status_code >= 400 and route.method != "HEAD":
                body = r.json()
                expect({"code", "message", "details"} <= set(body), f"{label}: error body", r)

    # 2. Reads aimed at our own and the other provider's objects; nothing leaks.
    for route in routes:
        rule = RULES[route.key]
        if route.method not in {"GET", "HEAD"} or route.key in STREAMS or rule.roles is None:
            continue
        for who in ROLES:
            if ROLE_OF[who] not in rule.roles:
                continue
            mine = _send(client, estate, who, route.method, _aimed_path(route, estate.mine), None)
            checked += 1
            if rule.scoped:
                theirs_path = _aimed_path(route, estate.theirs)
                r = _send(client, estate, who, route.method, theirs_path, None)
                checked += 1
                if who in SCOPED_CALLERS:
                    expect(r.status_code == 404, f"{route.key} as {who} on theirs: not hidden", r)
                else:  # the brand's staff read theirs as they read ours
                    expect(
                        r.status_code == mine.status_code,
                        f"{route.key} as {who} on theirs: answered unlike ours ({mine.status_code})",
                        r,
                    )
            if who in SCOPED_CALLERS and mine.status_code < 300:
                text = mine.text
                for what, marker in leaks.items():
                    expect(
                        marker not in text,
                        f"{route.key} as {who}: shows the other provider's {what}",
                        mine,
                    )

    # 3. Writes aimed at the other provider's objects: 404, and nothing changed.
    for route in routes:
        rule = RULES[route.key]
        if route.method in {"GET", "HEAD"} or not rule.scoped or rule.roles is None:
            continue
        for who in sorted(SCOPED_CALLERS):
            if ROLE_OF[who] not in rule.roles:
                continue
            body = _body(rule, route.method)
            r = _send(client, estate, who, route.method, _aimed_path(route, estate.theirs), body)
            checked += 1
            expect(r.status_code == 404, f"{route.key} as {who} on theirs: not hidden", r)

    # the other provider's job is untouched
    job = client.get(f"/jobs/{estate.theirs['job_id']}", headers=estate.headers("admin")).json()
    assert job["status"] == "assigned" and str(job["technician_id"]) == estate.theirs["user_id"]
    with capsys.disabled():
        print(f"\npermission matrix: {len(routes)} routes, {checked} checks")
    assert not problems, "\n".join(problems)
