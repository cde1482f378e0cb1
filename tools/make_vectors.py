"""Writes the protocol's conformance vectors (docs/protocol/vectors/*.json).

Run from the repository root: ``.venv/bin/python tools/make_vectors.py``. The expected
canonical bytes below are written out by hand from RFC 8785 (not produced by our code);
this script checks our implementation against them before writing anything, and
``tests/test_vectors.py`` checks that the committed files are what it writes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sync.canonical import canonical_json, report_sha256  # noqa: E402
from sync.cursor import Cursor, CursorCodec  # noqa: E402
from sync.signing import canonical_bytes, sign  # noqa: E402

OUT = ROOT / "docs" / "protocol" / "vectors"

# (name, input JSON text, expected canonical text)
CANONICAL: list[tuple[str, str, str]] = [
    ("non_ascii_text", '{"note":"\\u5ba2\\u6237\\u4e0d\\u5728\\u5bb6"}', '{"note":"客户不在家"}'),
    ("raw_utf8_stays_raw", '{"note":"客户不在家"}', '{"note":"客户不在家"}'),
    (
        "escapes",
        '"q\\"b\\\\s\\/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\\u00e9"',
        '"q\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7fé"',
    ),
    ("line_separators_raw", '"a\\u2028b\\u2029c"', '"a\u2028b\u2029c"'),
    ("astral_plane_raw", '"\\ud83d\\ude00"', '"\U0001f600"'),
    ("float_gps", "31.189206", "31.189206"),
    ("float_gps_negative", "-121.47373", "-121.47373"),
    ("float_small", "0.0000099", "0.0000099"),
    ("float_small_exponent_input", "9.9e-6", "0.0000099"),
    ("float_below_1e-6", "1e-7", "1e-7"),
    ("float_large", "1e21", "1e+21"),
    ("float_below_1e21", "1e20", "100000000000000000000"),
    ("float_negative_zero", "-0", "0"),
    ("float_negative_zero_decimal", "-0.0", "0"),
    ("float_integral", "5.0", "5"),
    ("float_integral_exponent", "1e2", "100"),
    ("float_tenth", "0.1", "0.1"),
    ("float_max", "1.7976931348623157e308", "1.7976931348623157e+308"),
    ("float_min_subnormal", "5e-324", "5e-324"),
    ("float_rounding", "1.2345678901234568e20", "123456789012345680000"),
    (
        "integers",
        "[0,-1,1,17,86400,9007199254740991,-9007199254740991]",
        "[0,-1,1,17,86400,9007199254740991,-9007199254740991]",
    ),
    ("literals", "[true, false, null]", "[true,false,null]"),
    ("whitespace_removed", ' { "b" : [ 1 , 2 ] ,\n "a" : { } } ', '{"a":{},"b":[1,2]}'),
    (
        "nested_objects_sorted",
        '{"b":{"z":1,"a":[{"y":true,"x":null}]},"a":"1"}',
        '{"a":"1","b":{"a":[{"x":null,"y":true}],"z":1}}',
    ),
    (
        "keys_sorted_by_utf16_code_units",
        '{"\\ufb33":1,"\\ud83d\\ude00":2,"\\u20ac":3,"\\u00f6":4,"b":5,"a":6,"\\r":7,"10":8,"1":9}',
        '{"\\r":7,"1":9,"10":8,"a":6,"b":5,"ö":4,"€":3,"\U0001f600":2,"\ufb33":1}',
    ),
    ("arrays_keep_order", '[3,1,2,"b","a"]', '[3,1,2,"b","a"]'),
]

NOT_CANONICAL: list[tuple[str, str, str]] = [
    ("integer_beyond_2_53", "9007199254740993", "cannot be represented exactly as a double"),
]

# RFC 8032, section 7.1, TEST 1: a published key, so any Ed25519 library can check it.
SEED_HEX = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"

MUTATION: dict[str, Any] = {
    "mid": 17,
    "id": "0b0e7a1e-64c9-4f55-9a55-3c1f0f6a2c11",
    "name": "job.unable_to_complete",
    "job_id": "5f2b8c74-2d8e-4a7c-b1d6-7e0d6f3a9b42",
    "args": {"reason": "customer_not_home", "note": "客户不在家, 敲门两次 / no answer"},
    "device_time": "2026-03-02T09:15:00.123+08:00",
    "base_version": 4,
}
CHECK_IN: dict[str, Any] = {
    "mid": 18,
    "id": "7d4a1c2e-9f0b-4e3d-8a6c-5b2f1e0d9c8a",
    "name": "job.check_in",
    "job_id": "5f2b8c74-2d8e-4a7c-b1d6-7e0d6f3a9b42",
    "args": {
        "checkin_id": "c3f1e2d4-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
        "latitude": 31.189206,
        "longitude": 121.47373,
        "accuracy_m": 5.0,
        "fix_time": "2026-03-02T09:14:58Z",
        "location_provider": "fused",
        "mock_location": False,
    },
    "device_time": "2026-03-02T09:15:01Z",
    "base_version": 4,
}

REPORT_ARGS: dict[str, Any] = {
    "report_id": "e1d2c3b4-a596-4877-8899-aabbccddeeff",
    "work_done": "换了点火器 (igniter replaced)",
    "parts": [{"name": "点火器 Igniter", "quantity": 1, "code": "IG-2", "unit_price": 0}],
    "charges": [
        {"code": "visit_fee", "amount": 3000, "label": ""},
        {"code": "labour", "amount": 5000, "label": "人工"},
    ],
    "checklist": {"shoe_covers": True, "test_run": True},
    "photos": {"after": ["0f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f"]},
}


def canonicalisation() -> dict[str, Any]:
    cases = []
    for name, text, expected in CANONICAL:
        got = canonical_json(json.loads(text))
        assert got == expected.encode(), (name, got, expected)
        cases.append(
            {"name": name, "input": text, "canonical": expected, "canonical_hex": got.hex()}
        )
    bad = []
    for name, text, why in NOT_CANONICAL:
        try:
            canonical_json(json.loads(text))
        except ValueError:
            bad.append({"name": name, "input": text, "why": why})
        else:
            raise AssertionError(name)
    return {
        "about": "RFC 8785 (JCS). Parse `input` (JSON text) with your JSON parser into "
        "IEEE 754 doubles and strings, canonicalise, and compare with `canonical` (its "
        "UTF-8 bytes in `canonical_hex`). `not_canonical`: values a phone must never "
        "sign (the server can only answer bad_signature).",
        "cases": cases,
        "not_canonical": bad,
    }


def signatures() -> dict[str, Any]:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEED_HEX))
    public = key.public_key().public_bytes_raw()
    cases = []
    for name, m in (("unable_to_complete", MUTATION), ("check_in_with_floats", CHECK_IN)):
        signing_input = canonical_bytes(m)
        signature = sign(key, m)
        signed = {**m, "signature": signature}
        cases.append(
            {
                "name": name,
                "mutation": m,
                "signing_input": signing_input.decode(),
                "signing_input_sha256": hashlib.sha256(signing_input).hexdigest(),
                "signature": signature,
                "sent": json.dumps(signed, ensure_ascii=False),
            }
        )
    return {
        "about": "Ed25519 (RFC 8032, deterministic) over the JCS bytes of the mutation "
        "without `signature`. `seed_hex` is the 32-byte private key (RFC 8032 7.1 TEST 1); "
        "`public_key` is what the phone sends at enrolment (base64 of the raw 32 bytes). "
        "Sign `mutation`: you must get `signing_input` and then exactly `signature` "
        "(standard base64, padded). `sent` is one valid way to send it: member order "
        "and spacing are free, the server canonicalises what it receives.",
        "algorithm": "ed25519-jcs",
        "seed_hex": SEED_HEX,
        "public_key": base64.b64encode(public).decode(),
        "cases": cases,
    }


def reports() -> dict[str, Any]:
    content = {k: REPORT_ARGS[k] for k in ("work_done", "parts", "charges", "checklist", "photos")}
    return {
        "about": "report_sha256 = lowercase hex SHA-256 of the JCS bytes of a job.report's "
        "args without report_id, with every field present (defaults included: parts' code "
        "'' and unit_price 0, charges' label ''). The job.sign_off names it.",
        "cases": [
            {
                "name": "report_with_parts_and_charges",
                "args": REPORT_ARGS,
                "canonical": canonical_json(content).decode(),
                "report_sha256": report_sha256(content),
            },
            {
                "name": "empty_report",
                "args": {
                    "report_id": "00000000-0000-4000-8000-000000000001",
                    "work_done": "",
                    "parts": [],
                    "charges": [],
                    "checklist": {},
                    "photos": {},
                },
                "canonical": '{"charges":[],"checklist":{},"parts":[],"photos":{},"work_done":""}',
                "report_sha256": hashlib.sha256(
                    b'{"charges":[],"checklist":{},"parts":[],"photos":{},"work_done":""}'
                ).hexdigest(),
            },
        ],
    }


CURSOR_KEY = "vector-signing-key"
TECH = uuid.UUID("11111111-2222-4333-8444-555555555555")


def cursors() -> dict[str, Any]:
    codec = CursorCodec(CURSOR_KEY)
    good = codec.encode(Cursor(TECH, 1, "i", 42))
    body, _, mac = good.partition(".")
    flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
    return {
        "about": "A cursor is an opaque string (at most 512 characters, URL-safe): store "
        "it exactly as received with the page's documents, send it back unchanged as the "
        "`cursor` query parameter, never parse, build or compare it. The server signs "
        "it; anything else is refused. `server_key` and `cursor` let the server's own "
        "suite check its codec; a phone only needs `answers`.",
        "server_key": CURSOR_KEY,
        "technician_id": str(TECH),
        "cursor": good,
        "answers": [
            {"send": good, "as": "the same technician", "status": 200},
            {"send": good, "as": "another technician", "status": 400, "code": "cursor_foreign"},
            {
                "send": f"{flipped}.{mac}",
                "as": "the same technician",
                "status": 400,
                "code": "cursor_invalid",
            },
            {
                "send": "not-a-cursor",
                "as": "the same technician",
                "status": 400,
                "code": "cursor_invalid",
            },
        ],
        "after_reset": "A page with reset=true: push what is pending, drop every stored "
        "document and cursor, pull again without a cursor.",
    }


FILES = {
    "canonicalization.json": canonicalisation,
    "signatures.json": signatures,
    "report_sha256.json": reports,
    "cursor.json": cursors,
}


def render(build: Any) -> str:
    return json.dumps(build(), ensure_ascii=False, indent=2) + "\n"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, build in FILES.items():
        (OUT / name).write_text(render(build), encoding="utf-8")
        print(f"wrote {OUT.relative_to(ROOT) / name}")


if __name__ == "__main__":
    main()
