"""OpenAPI: the schema phone developers learn the API from, with an interactive page.

Litestar documents success bodies from the handlers' types; here every operation also
gets our error body for each 4xx/5xx it can answer, in place of the framework's own.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, License, SecurityScheme

from server.http_errors import ERROR_STATUSES
from server.openapi_doc import complete_document

__all__ = ["add_error_responses", "build_document", "install_schema", "openapi_config"]

_SCHEMA_CACHE: dict[str, dict[str, Any]] = {}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "details"],
    "properties": {
        "code": {
            "type": "string",
            "description": "Stable machine-readable code.",
            "examples": ["job_not_found"],
        },
        "message": {
            "type": "string",
            "description": "A sentence for people.",
            "examples": ["No job with that id."],
        },
        "details": {"type": "object", "additionalProperties": True},
    },
}


def openapi_config(version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Doorstep",
        version=version,
        description=(
            "Backend for appliance field technicians (offline phones), dispatchers and "
            "callback auditors. Authenticate with `POST /auth/login`, then send "
            "`Authorization: Bearer <access_token>`. Every error answers "
            "`{code, message, details}` with a stable `code`."
        ),
        path="/docs",
        render_plugins=[SwaggerRenderPlugin(path="/"), ScalarRenderPlugin(path="/scalar")],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
            }
        ),
        security=[{"bearer": []}],
        license=License(name="Apache-2.0", identifier="Apache-2.0"),
        use_handler_docstrings=True,
        # Only the examples written in the types (msgspec.Meta): generated ones were
        # random strings and dates that broke their own schemas.
        create_examples=False,
    )


def add_error_responses(schema: dict[str, Any], public_paths: set[str]) -> None:
    """Rewrite every operation's error responses to our ``Error`` body."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            for status in [s for s in responses if s.startswith(("4", "5"))]:
                del responses[status]
            # Public routes keep 401/403 too: login and refresh refuse with them.
            for status, description in ERROR_STATUSES.items():
                responses[str(status)] = {
                    "description": description,
                    "content": {"application/json": {"schema": ref}},
                }
            if path in public_paths:
                op["security"] = []
            _ = method


def document_raw_bodies(app: Litestar, schema: dict[str, Any]) -> None:
    """The request body of a route that reads its body itself (``RAW_BODY``): the
    framework does not decode it, so its schema comes from the documented Struct."""
    from server.input_rules import RAW_BODY

    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            doc = getattr(handler, "opt", {}).get(RAW_BODY)
            if doc is None:
                continue
            (ref,), defs = msgspec.json.schema_components(
                [doc], ref_template="#/components/schemas/{name}"
            )
            for name, body in defs.items():
                components.setdefault(name, body)
            for method in handler.http_methods:
                op = schema.get("paths", {}).get(route.path, {}).get(method.lower())
                if op is not None:
                    op["requestBody"] = {
                        "required": True,
                        "content": {"application/json": {"schema": ref}},
                    }


def install_schema(app: Litestar, public_paths: set[str]) -> None:
    """Build the schema once per process (about a second with examples for every
    type) and hand the same document to every app ``create_app`` makes: their routes are
    identical. Litestar keeps the served document in the plugin's ``_openapi_schema``."""
    plugin = app.plugins.get(OpenAPIPlugin)
    key = app.openapi_config.version if app.openapi_config else ""
    cached = _SCHEMA_CACHE.get(key)
    if cached is not None and hasattr(plugin, "_openapi_schema"):
        plugin._openapi_schema = cached
        return
    _SCHEMA_CACHE[key] = build_document(app, public_paths)


def document_error_codes(app: Litestar, schema: dict[str, Any], public_paths: set[str]) -> None:
    """Each operation's error responses: only the statuses it can answer, each listing
    its codes (``x-codes`` and the description), as ``server.openapi_errors`` reads
    them from the handler and what it calls."""
    from server.openapi_errors import by_status, handler_codes

    ref = {"$ref": "#/components/schemas/Error"}
    for route in app.routes:
        path = _PATH_PARAM.sub(r"{\1}", route.path)
        item = schema.get("paths", {}).get(path)
        if item is None:
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in handler.http_methods:
                op = item.get(method.lower())
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                codes = handler_codes(
                    handler,
                    public=path in public_paths,
                    has_input=bool(op.get("parameters") or op.get("requestBody")),
                    has_body="requestBody" in op,
                )
                responses = op["responses"]
                for status in [s for s in responses if s.startswith(("4", "5"))]:
                    del responses[status]
                for status, values in by_status(codes).items():
                    listed = ", ".join(f"`{c}`" for c in values)
                    responses[str(status)] = {
                        "description": f"{ERROR_STATUSES.get(status, 'Refused.')} Codes: {listed}.",
                        "x-codes": values,
                        "content": {"application/json": {"schema": ref}},
                    }


_PATH_PARAM = re.compile(r"\{(\w+):[^}]+\}")


def build_document(app: Litestar, public_paths: set[str]) -> dict[str, Any]:
    """The whole OpenAPI document, as served at ``/docs/openapi.json``."""
    plugin = app.plugins.get(OpenAPIPlugin)
    schema = plugin.provide_openapi_schema()
    add_error_responses(schema, public_paths)
    document_raw_bodies(app, schema)
    document_error_codes(app, schema, public_paths)
    complete_document(schema)
    return schema
