"""The conformance vectors (docs/protocol/vectors/) hold for the server and client_sdk.

Phones in other languages check themselves against the same files (the TypeScript
client does in its own suite); here: the files are what tools/make_vectors.py writes,
the server's canonical form, signature check and report hash agree with them, and a
real push of the vector's bytes verifies.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update
from world import login, run_db

import client_sdk
from client_sdk import phone as client_phone
from server.db.models import DeviceSyncState
from server.errors import Invalid
from sync.canonical import canonical_json, report_sha256
from sync.cursor import CursorCodec
from sync.signing import canonical_bytes, sign, verify_signature

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "docs" / "protocol" / "vectors"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


def test_the_committed_vectors_are_what_the_generator_writes():
    spec = importlib.util.spec_from_file_location("make_vectors", ROOT / "tools/make_vectors.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for name, build in gen.FILES.items():
        assert (VECTORS / name).read_text(encoding="utf-8") == gen.render(build), name


def test_canonicalisation_as_the_server_decodes():
    data = load("canonicalization.json")
    assert len(data["cases"]) >= 20
    for case in data["cases"]:
        value = msgspec.json.decode(case["input"].encode())  # as the push decodes a mutation
        out = canonical_json(value)
        assert out == case["canonical"].encode(), case["name"]
        assert out.hex() == case["canonical_hex"], case["name"]
    for case in data["not_canonical"]:
        with pytest.raises(ValueError):
            canonical_json(msgspec.json.decode(case["input"].encode()))


def _vector_key(data: dict[str, Any]) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(data["seed_hex"]))
    assert base64.b64encode(key.public_key().public_bytes_raw()).decode() == data["public_key"]
    return key


def test_signatures_server_and_client_sdk():
    data = load("signatures.json")
    key = _vector_key(data)
    public = base64.b64decode(data["public_key"])
    assert client_phone.sign is sign  # what client_sdk's outbox signs with
    for case in data["cases"]:
        assert canonical_bytes(case["mutation"]) == case["signing_input"].encode()
        assert sign(key, case["mutation"]) == case["signature"], case["name"]
        assert verify_signature(public, case["sent"].encode()) == "valid"
        # the bytes client_sdk's outbox sends (sorted, msgspec) verify just the same
        stored = msgspec.json.encode({**case["mutation"], "signature": case["signature"]})
        assert verify_signature(public, stored) == "valid"
        edited = json.loads(case["sent"])
        edited["mid"] += 1
        assert verify_signature(public, json.dumps(edited).encode()) == "invalid"


def test_report_sha256_server_and_client_sdk():
    from sync.evidence_wire import ReportArgs
    from sync.field_evidence import report_content

    for case in load("report_sha256.json")["cases"]:
        args = msgspec.convert(case["args"], ReportArgs)
        assert canonical_json(report_content(args)) == case["canonical"].encode()
        assert report_sha256(args) == case["report_sha256"] == client_sdk.report_sha256(args)


def test_cursor_handling():
    data = load("cursor.json")
    codec = CursorCodec(data["server_key"])
    tech = uuid.UUID(data["technician_id"])
    assert codec.decode(data["cursor"], tech).version == 42
    for answer in data["answers"]:
        who = tech if answer["as"] == "the same technician" else uuid.uuid4()
        if answer["status"] == 200:
            codec.decode(answer["send"], who)
            continue
        with pytest.raises(Invalid) as caught:
            codec.decode(answer["send"], who)
        assert caught.value.code == answer["code"]


def test_a_push_of_the_vector_bytes_verifies_on_the_server(client, world, database_url):
    """Enrolled with the vector's public key and at the vector's mid, the server takes
    the vector's exact bytes as validly signed (the job does not exist here, so it is
    rejected as ``job_not_found``, signature ``valid``), and its unsigned twin as
    ``signature_required``."""
    data = load("signatures.json")
    headers = login(client, "tech1")
    r = client.post("/sync/v1/devices", json={"public_key": data["public_key"]}, headers=headers)
    device = r.json()["device_id"]
    first = data["cases"][0]
    start = first["mutation"]["mid"] - 1
    run_db(
        database_url,
        lambda s: s.execute(
            update(DeviceSyncState)
            .where(DeviceSyncState.device_id == uuid.UUID(device))
            .values(last_mid=start)
        ),
    )
    unsigned = {**data["cases"][1]["mutation"]}
    mutations = ",".join([first["sent"], json.dumps(unsigned, ensure_ascii=False)])
    head = f'{{"device_id":"{device}","schema_version":1,"device_time":null,"mutations":['
    body = (head + mutations + "]}").encode()
    r = client.post(
        "/sync/v1/push", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text
    assert [(o["status"], o["code"]) for o in r.json()["outcomes"]] == [
        ("rejected", "job_not_found"),
        ("rejected", "signature_required"),
    ]
    rows = client.get(
        "/audit/ledger", params={"device_id": device}, headers=login(client, "auditor")
    ).json()
    assert [x["signature_status"] for x in rows] == ["valid", "absent"]
