"""No input gets a 5xx (issue 13): every reproduction of a 500 or a 503 caused by what a
caller sent answers 4xx with a stable code, the same on SQLite and PostgreSQL, before
anything reaches the database — one place at the edge (``server/input_rules.py``)
applying ``sync/validation.py``."""

from __future__ import annotations

import json

import pytest
from test_sync_api import make_job
from world import assert_error, login

from sync.validation import json_too_deep, raw_has_nul

EARLY = "0001-01-01T00:00:00+00:01"
LATE = "9999-12-31T23:59:59-00:01"


@pytest.fixture
def desk(client, world):
    return login(client, "dispatcher")


@pytest.mark.parametrize(
    ("url", "field"),
    [
        (f"/jobs?window_from={EARLY.replace('+', '%2B')}", "window_from"),
        (f"/jobs?window_to={LATE}", "window_to"),
        (f"/board?day_start={EARLY.replace('+', '%2B')}", "day_start"),
        ("/board?day_start=2026-11-20T00:00:00", "day_start"),
    ],
)
def test_times_in_query_parameters(client, world, desk, url, field):
    r = client.get(url, headers=desk)
    assert r.status_code == 422, r.text
    assert r.json()["code"] in ("timestamp_out_of_range", "timestamp_without_offset")
    assert r.json()["details"]["field"] == field


def test_times_in_bodies(client, world, desk):
    job = make_job(client, desk, world)
    base = {"customer_id": str(world["customer1"]), "kind": "repair"}
    body = {**base, "appliance_id": str(world["appliance1"])}
    window = {"window_start": EARLY, "window_end": LATE}
    cases = [
        ("POST", "/jobs", {**body, **window}, "window_start"),
        ("PUT", f"/jobs/{job['id']}/appointment", window, "window_start"),
        ("POST", f"/jobs/{job['id']}/reschedule", window, "window_start"),
        ("POST", f"/jobs/{job['id']}/contacted", {"at": LATE}, "at"),
    ]
    for method, url, payload, field in cases:
        r = client.request(method, url, json=payload, headers=desk)
        err = assert_error(r, 422, "timestamp_out_of_range")
        assert err["details"]["field"] == field, (url, err)


def test_nul_is_invalid_text_before_any_database(client, world, desk):
    r = client.post("/auth/login", json={"username": "dis\u0000patcher", "password": "x"})
    assert_error(r, 422, "invalid_text")
    customer = {
        "name": "Li\u0000 Wei",
        "phones": ["13800000000"],
        "address": "1 Road",
        "city_id": str(world["hangzhou"]),
    }
    assert_error(client.post("/customers", json=customer, headers=desk), 422, "invalid_text")
    r = client.get("/customers/lookup", params={"name": "li\u0000"}, headers=desk)
    err = assert_error(r, 422, "invalid_text")
    assert err["details"]["field"] == "name"


@pytest.mark.parametrize("url", ["/auth/login", "/customers", "/sync/v1/push"])
def test_deep_nesting_is_refused_before_decoding(client, world, desk, url):
    if url.startswith("/sync"):
        desk = login(client, "tech1")
    body = b"[" * 1000 + b"]" * 1000
    headers = {**desk, "Content-Type": "application/json"}
    assert_error(client.post(url, content=body, headers=headers), 400, "too_deeply_nested")
    nested = {"username": "dispatcher", "password": json.loads("[" * 80 + "]" * 80)}
    r = client.post(url, json=nested, headers=desk)
    assert_error(r, 400, "too_deeply_nested")


def test_raw_scanners() -> None:
    assert not json_too_deep(
        b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}'
    )
    assert json_too_deep(b"[" * 65 + b"]" * 65)
    assert not json_too_deep(b"[" * 64 + b"]" * 64)
    assert json_too_deep(b'["\\"", ' + b"[" * 70)  # an escaped quote does not end the string
    assert not json_too_deep(b'["\\"' + b"[" * 70)  # so these brackets are in a string
    assert not json_too_deep(b'"' + b"\\" * 10_000 + b"[" * 70)  # unterminated: all string
    assert raw_has_nul(b'{"a": "x\\u0000"}')
    assert not raw_has_nul(b'{"a": "x\\\\u0000"}')  # a backslash, then the text u0000
    assert raw_has_nul(b'{"a": "x\\\\\\u0000"}')
