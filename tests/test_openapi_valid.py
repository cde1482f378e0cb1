"""The OpenAPI document is valid and complete, for every route (new ones included).

Generated exactly as served (``server.openapi.build_document``), then: valid OpenAPI 3.1
for ``openapi-spec-validator``; every ``$ref`` resolves; every example obeys its own
schema; the sync protocol's unions are there (mutations by ``name``, pull ops by
document ``type``); the blob upload declares its body and its 204. CI also runs
Redocly's recommended lint and openapi-typescript on it (``.ci/run``).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from server.app import PUBLIC_PATHS, create_app
from server.openapi import build_document
from server.openapi_doc import REF, _absolute, _walk
from server.settings import Settings
from sync.evidence_wire import EVIDENCE_ARGS
from sync.wire import MUTATION_ARGS


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import json

    from litestar.serialization import encode_json

    data = tmp_path_factory.mktemp("openapi")
    app = create_app(Settings(data_dir=data))
    doc: dict[str, Any] = json.loads(encode_json(build_document(app, PUBLIC_PATHS)))
    return doc


def test_the_document_is_valid_openapi(document):
    validate(document)  # raises on the first error


def test_every_reference_resolves(document):
    text = repr(document)
    refs = set(re.findall(r"'\$ref': '#/components/schemas/([^']+)'", text))
    assert refs, "no references at all?"
    assert refs <= set(document["components"]["schemas"]), refs - set(
        document["components"]["schemas"]
    )


def test_every_example_obeys_its_schema(document):
    registry: Registry[Any] = Registry().with_resource(
        "urn:doc", Resource.from_contents(document, default_specification=DRAFT202012)
    )
    checked, bad = 0, []

    def visit(node: Any) -> None:
        nonlocal checked
        if not isinstance(node, dict) or not isinstance(node.get("examples"), list):
            return
        if not ("type" in node or "$ref" in node or "oneOf" in node):
            return
        schema = _absolute({k: v for k, v in node.items() if k != "examples"})
        validator = Draft202012Validator(
            schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        for example in node["examples"]:
            checked += 1
            errors = list(validator.iter_errors(example))
            if errors:
                bad.append((example, errors[0].message))

    _walk(document, visit)
    assert checked > 50 and not bad, bad[:5]


def test_every_operation_documents_its_errors_and_success(document):
    """Each operation lists only the error statuses it can answer, each with its codes
    (``x-codes`` and the description) and the ``Error`` body."""
    for path, item in document["paths"].items():
        for method, op in item.items():
            responses = op["responses"]
            assert any(c.startswith("2") for c in responses), (method, path)
            assert "503" in responses, (method, path)
            if op.get("security") != []:
                assert {"401", "403"} <= set(responses), (method, path)
            for status, answer in responses.items():
                if status[0] not in "45":
                    continue
                assert answer["x-codes"] == sorted(set(answer["x-codes"])), (method, path)
                assert answer["x-codes"], (method, path, status)
                assert all(f"`{c}`" in answer["description"] for c in answer["x-codes"])
                error = answer["content"]["application/json"]["schema"]
                assert error == {"$ref": REF + "Error"}


def _codes(document: dict[str, Any], method: str, path: str) -> dict[str, set[str]]:
    responses = document["paths"][path][method]["responses"]
    return {s: set(r["x-codes"]) for s, r in responses.items() if "x-codes" in r}


def test_error_codes_are_read_from_the_handlers(document):
    """The codes come from what each handler and the functions it calls raise, plus
    what every route of its kind can answer (token, guards, input rules, body)."""
    push = _codes(document, "post", "/sync/v1/push")
    assert {"mids_not_consecutive", "unsupported_schema_version"} <= push["422"]
    assert "device_mismatch" in push["403"] and "rate_limited" in push["429"]
    assert {"malformed_json", "unknown_field"} <= push["400"]
    assert {"not_authenticated", "token_expired"} <= push["401"]
    pull = _codes(document, "get", "/sync/v1/pull")
    assert {"cursor_invalid", "cursor_foreign"} <= pull["422"]
    assert "job_not_found" in _codes(document, "get", "/jobs/{job_id}")["404"]
    login = _codes(document, "post", "/auth/login")
    assert "invalid_credentials" in login["401"] and "login_throttled" in login["429"]
    assert "not_authenticated" not in login.get("401", set())  # public: no token check
    customer = _codes(document, "post", "/customers")
    assert {"invalid_phone", "unknown_city"} <= customer["422"]
    assert "role_forbidden" in customer["403"]
    blob = _codes(document, "patch", "/sync/v1/blobs/{sha256}")
    assert {"offset_mismatch"} <= blob["409"] and "unsupported_type" in blob["415"]
    assert _codes(document, "get", "/health") == {"503": {"retry_later"}}


def test_push_mutations_are_a_union_on_name_with_each_args_schema(document):
    schemas = document["components"]["schemas"]
    push = document["paths"]["/sync/v1/push"]["post"]["requestBody"]["content"]
    body = push["application/json"]["schema"]
    assert body == {"$ref": REF + "PushRequestDoc"}
    assert schemas["PushRequestDoc"]["properties"]["mutations"]["items"] == {
        "$ref": REF + "Mutation"
    }
    union = schemas["Mutation"]
    assert union["discriminator"]["propertyName"] == "name"
    mapping = union["discriminator"]["mapping"]
    assert set(mapping) == set(MUTATION_ARGS) | set(EVIDENCE_ARGS)
    for name, ref in mapping.items():
        variant = schemas[ref.removeprefix(REF)]
        assert variant["properties"]["name"]["const"] == name
        args = variant["properties"]["args"]["$ref"].removeprefix(REF)
        assert args in schemas
    call = schemas[mapping["job.call_attempt"].removeprefix(REF)]
    args = schemas[call["properties"]["args"]["$ref"].removeprefix(REF)]
    assert set(args["properties"]["outcome"]["enum"]) == {
        "answered",
        "no_answer",
        "busy",
        "unreachable_number",
    }
    unable = schemas[mapping["job.unable_to_complete"].removeprefix(REF)]
    reason = schemas[unable["properties"]["args"]["$ref"].removeprefix(REF)]["properties"]
    assert "customer_not_home" in repr(reason["reason"]) or "UnableReason" in repr(reason)
    assert "JCS" in call["properties"]["signature"]["description"]


def test_pull_ops_are_a_union_on_document_type(document):
    schemas = document["components"]["schemas"]
    op = schemas["Op"]
    assert op["discriminator"]["propertyName"] == "type"
    mapping = op["discriminator"]["mapping"]
    assert set(mapping) == {"job_packet", "kb_article", "calendar"}
    kb = schemas[mapping["kb_article"].removeprefix(REF)]
    target = kb["properties"]["doc"]["oneOf"][0]["$ref"].removeprefix(REF)
    assert set(schemas[target]["properties"]) >= {"id", "title", "body", "version"}


def test_blob_upload_declares_its_body_and_204(document):
    patch = document["paths"]["/sync/v1/blobs/{sha256}"]["patch"]
    assert "image/jpeg" in patch["requestBody"]["content"]
    assert "Upload-Offset" in patch["responses"]["204"]["headers"]
    for item in document["paths"].values():
        for op in item.values():
            for response in op["responses"].values():
                for header in (response.get("headers") or {}).values():
                    assert "schema" in header


def test_fields_carry_their_struct_docstrings(document):
    schemas = document["components"]["schemas"]
    pull = schemas["PullResponse"]["properties"]
    assert "reset" in pull and "drop every document" in pull["reset"]["description"]
    assert "description" in schemas["EnrollRequest"]["properties"]["public_key"]


def test_the_document_is_the_same_whatever_the_hash_seed(tmp_path: Any) -> None:
    """The committed TypeScript types are generated from this document: a set's order
    (PYTHONHASHSEED) must never change a byte of it."""
    import os
    import subprocess
    import sys

    outputs = []
    for seed in ("1", "3"):
        out = tmp_path / f"openapi-{seed}.json"
        env = {**os.environ, "PYTHONHASHSEED": seed, "DOORSTEP_DATA_DIR": str(tmp_path / seed)}
        subprocess.run(
            [sys.executable, "-m", "server.cli", "openapi", "-o", str(out)],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
