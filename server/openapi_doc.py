"""Completing the generated OpenAPI document so that it is valid and says everything.

Litestar builds the document from the handlers' types; this module then, for every
route (so new routes are covered without anyone remembering):

- resolves references Litestar names but does not emit (a module-qualified name for
  a struct it registered under its short name, or a struct it skipped) from the msgspec
  Structs themselves;
- gives every field the docstring written under it in its Struct;
- gives header objects without a schema a string schema;
- folds single-member ``oneOf``s into their parent (lint: illogical composition);
- writes a fixed tuple's ``items: false`` as ``maxItems``, and gives two Structs of one
  name the titles of their components (openapi-python-client reads neither);
- drops every example that breaks its own schema (they are hand-written ``Meta``
  examples; a test keeps them valid), after giving date-times without an offset ``Z``;

and, for the sync protocol, writes what the types cannot say: the push body's mutations
as a ``oneOf`` discriminated by ``name`` with each ``args`` schema, the pull's ops as a
``oneOf`` discriminated by document ``type`` (``job_packet``, ``kb_article``,
``calendar``), and the
blob upload's raw request body and 204 answer.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import itertools
import re
import sys
import textwrap
from typing import Any

import msgspec

__all__ = ["complete_document"]

REF = "#/components/schemas/"
_NAIVE_DT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$")


def complete_document(doc: dict[str, Any]) -> None:
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    before = set(schemas)
    _sync_protocol(doc, schemas)
    _resolve_missing_refs(doc, schemas)
    used = _reachable(doc, schemas)
    for name in (set(schemas) - before) - used:  # added only for parts Litestar had
        del schemas[name]
    _field_descriptions(schemas)
    _walk(doc, _fix_node)
    _headers(doc)
    _drop_invalid_examples(doc)
    _unique_titles(schemas)


def _unique_titles(schemas: dict[str, Any]) -> None:
    """Two Structs of one name in different modules keep the title msgspec gives them
    (their class name) under two component names: a generator naming its models by
    title (openapi-python-client) would make both one model and drop what uses them.
    Such schemas take their component's name as title."""
    titles: dict[str, list[str]] = {}
    for name, schema in schemas.items():
        if isinstance(schema, dict) and isinstance(schema.get("title"), str):
            titles.setdefault(schema["title"], []).append(name)
    for names in titles.values():
        if len(names) > 1:
            for name in names:
                schemas[name]["title"] = name


# --- the sync protocol -----------------------------------------------------------------


def _add_struct_schemas(schemas: dict[str, Any], types: list[Any]) -> list[str]:
    """Add msgspec's schemas of ``types`` (and what they refer to); their names."""
    out, components = msgspec.json.schema_components(types, ref_template=REF + "{name}")
    for name, schema in components.items():
        schemas.setdefault(name, schema)
    return [o["$ref"].removeprefix(REF) for o in out]


def _sync_protocol(doc: dict[str, Any], schemas: dict[str, Any]) -> None:
    from sync.evidence_wire import EVIDENCE_ARGS
    from sync.packet_types import CalendarDoc, JobPacket, KbArticleDoc
    from sync.wire import MUTATION_ARGS, MutationDoc

    every = {**MUTATION_ARGS, **EVIDENCE_ARGS}
    arg_names = _add_struct_schemas(schemas, list(every.values()))
    (envelope_name,) = _add_struct_schemas(schemas, [MutationDoc])
    envelope = schemas.pop(envelope_name)
    _describe(envelope, MutationDoc)
    mapping: dict[str, str] = {}
    for (name, _), args_ref in zip(every.items(), arg_names, strict=True):
        component = "Mutation_" + name.replace(".", "_")
        props = dict(envelope["properties"])
        props["name"] = {"type": "string", "const": name, "description": "The mutation."}
        props["args"] = {"$ref": REF + args_ref}
        props["job_id"] = {**props["job_id"], "description": "The job it is about (required)."}
        schemas[component] = {
            "type": "object",
            "title": component,
            "description": f"A ``{name}`` mutation (docs/protocol.md §7).",
            "properties": props,
            "required": ["mid", "id", "name", "job_id", "args"],
        }
        mapping[name] = REF + component
    mutation = {
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "name", "mapping": mapping},
        "description": "One mutation; ``args`` per ``name``. Signed: docs/protocol.md §6.",
    }
    schemas["Mutation"] = mutation
    push = schemas.get("PushRequestDoc")
    if push is not None:
        push["properties"]["mutations"]["items"] = {"$ref": REF + "Mutation"}

    packet, kb, calendar = _add_struct_schemas(schemas, [JobPacket, KbArticleDoc, CalendarDoc])
    op = schemas.get("Op")
    if op is None:
        return
    base = {k: v for k, v in op["properties"].items() if k not in ("type", "doc")}
    op_map: dict[str, str] = {}
    for type_name, target in (
        ("job_packet", packet),
        ("kb_article", kb),
        ("calendar", calendar),
    ):
        component = "Op_" + type_name
        schemas[component] = {
            "type": "object",
            "title": component,
            "description": f"An operation on a ``{type_name}`` document.",
            "properties": {
                **base,
                "type": {"type": "string", "const": type_name},
                "doc": {
                    "oneOf": [{"$ref": REF + target}, {"type": "null"}],
                    "description": "The whole document for a ``put``; absent for a ``remove``.",
                },
            },
            "required": op.get("required", ["id", "op", "type", "version"]),
        }
        op_map[type_name] = REF + component
    schemas["Op"] = {
        "oneOf": [{"$ref": ref} for ref in op_map.values()],
        "discriminator": {"propertyName": "type", "mapping": op_map},
        "description": "One operation of a pull, by document type. Ignore unknown types.",
    }


# --- references and descriptions --------------------------------------------------------


def _struct_for(qualified: str) -> type[msgspec.Struct] | None:
    """The Struct a name like ``server_admin_evidence_rules_Rule`` stands for."""
    parts = qualified.split("_")
    cls_name, modparts = parts[-1], parts[:-1]
    if not modparts:
        return None
    for seps in itertools.product("._", repeat=len(modparts) - 1):
        module = modparts[0] + "".join(s + p for s, p in zip(seps, modparts[1:], strict=True))
        mod = sys.modules.get(module)
        if mod is None:
            try:
                mod = importlib.import_module(module)
            except ImportError:
                continue
        found = getattr(mod, cls_name, None)
        if isinstance(found, type) and issubclass(found, msgspec.Struct):
            return found
    return None


def _refs(node: Any) -> set[str]:
    found: set[str] = set()

    def visit(n: Any) -> None:
        ref = n.get("$ref") if isinstance(n, dict) else None
        if isinstance(ref, str) and ref.startswith(REF):
            found.add(ref.removeprefix(REF))

    _walk(node, visit)
    return found


def _rename(node: Any, renames: dict[str, str]) -> None:
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target = node["$ref"].removeprefix(REF)
        if target in renames:
            node["$ref"] = REF + renames[target]


def _reachable(doc: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    """Components reachable from the paths (and the other sections), transitively."""
    seen: set[str] = set()
    todo = _refs({k: v for k, v in doc.items() if k != "components"})
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo |= _refs(schemas.get(name, {})) - seen
    return seen


def _resolve_missing_refs(doc: dict[str, Any], schemas: dict[str, Any]) -> None:
    for _ in range(5):  # what an added schema refers to may be missing too
        missing = _refs(doc) - set(schemas)
        if not missing:
            return
        renames: dict[str, str] = {}
        for name in sorted(missing):
            struct = _struct_for(name)
            short = name.split("_")[-1]
            existing = schemas.get(short)
            if existing is not None and struct is not None and existing.get("title") == short:
                renames[name] = short
            elif struct is not None:
                (added,) = _add_struct_schemas(schemas, [struct])
                renames[name] = added
        if not renames:
            return

        _walk(doc, lambda n, renames=renames: _rename(n, renames))


def _field_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` from the string literals written under a class's fields."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, msgspec.Struct) or not issubclass(klass, msgspec.Struct):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for field, doc in itertools.pairwise(body):
            if (
                isinstance(field, ast.AnnAssign)
                and isinstance(field.target, ast.Name)
                and isinstance(doc, ast.Expr)
                and isinstance(doc.value, ast.Constant)
                and isinstance(doc.value.value, str)
            ):
                out[field.target.id] = inspect.cleandoc(doc.value.value)
    return out


def _all_structs() -> dict[str, list[type]]:
    by_name: dict[str, list[type]] = {}
    todo = list(msgspec.Struct.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in ("server", "sync"):
            by_name.setdefault(cls.__name__, []).append(cls)
    return by_name


def _describe(schema: dict[str, Any], cls: type) -> None:
    docs = _field_docs(cls)
    for field, prop in schema.get("properties", {}).items():
        if field in docs and isinstance(prop, dict) and "description" not in prop:
            prop["description"] = docs[field]


def _field_descriptions(schemas: dict[str, Any]) -> None:
    structs = _all_structs()
    for name, schema in schemas.items():
        if not isinstance(schema, dict) or "properties" not in schema:
            continue
        candidates = structs.get(str(schema.get("title") or name), [])
        qualified = _struct_for(name)
        cls = qualified or (candidates[0] if len(candidates) == 1 else None)
        if cls is not None:
            _describe(schema, cls)


# --- generic repairs --------------------------------------------------------------------


def _walk(node: Any, fn: Any) -> None:
    fn(node)
    if isinstance(node, dict):
        for value in list(node.values()):
            _walk(value, fn)
    elif isinstance(node, list):
        for value in node:
            _walk(value, fn)


def _fix_node(node: Any) -> None:
    if not isinstance(node, dict):
        return
    one = node.get("oneOf")
    if isinstance(one, list) and len(one) == 1 and isinstance(one[0], dict):
        (only,) = node.pop("oneOf")
        if "$ref" in only:
            node["allOf"] = [only]
        else:
            for key, value in only.items():
                node.setdefault(key, value)
    if node.get("items") is False and isinstance(node.get("prefixItems"), list):
        # msgspec's fixed tuple: ``items: false`` says nothing ``maxItems`` does not,
        # and openapi-python-client cannot read a boolean schema there.
        del node["items"]
        node.setdefault("maxItems", len(node["prefixItems"]))
    for key in ("examples", "example"):
        if key in node:
            node[key] = _offsets(node[key])


def _offsets(value: Any) -> Any:
    if isinstance(value, str) and _NAIVE_DT.match(value):
        return value + "Z"
    if isinstance(value, list):
        return [_offsets(v) for v in value]
    if isinstance(value, dict):
        return {k: _offsets(v) for k, v in value.items()}
    return value


def _headers(doc: dict[str, Any]) -> None:
    for item in doc.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for response in op.get("responses", {}).values():
                headers = response.get("headers") or {}
                for header in headers.values():
                    if "schema" not in header and "content" not in header:
                        header["schema"] = {"type": "string"}
                if headers:
                    # Litestar collects a route's headers in a set: sort them, so the
                    # document (and the TypeScript types made from it) is the same on
                    # every run whatever PYTHONHASHSEED is.
                    response["headers"] = dict(sorted(headers.items()))
    blob = doc.get("paths", {}).get("/sync/v1/blobs/{sha256}", {}).get("patch")
    if blob is not None:
        blob["requestBody"] = {
            "required": True,
            "description": "The chunk's raw bytes (at most 8 MiB), from ``Upload-Offset``.",
            "content": {
                t: {"schema": {"type": "string", "contentMediaType": t}}
                for t in ("image/jpeg", "image/png", "image/webp")
            },
        }
        blob["responses"]["204"] = {
            "description": "Chunk stored; the blob is not complete yet.",
            "headers": {
                "Upload-Offset": {
                    "description": "Bytes the server holds: send the next chunk from here.",
                    "schema": {"type": "integer", "minimum": 0},
                }
            },
        }


# --- examples -------------------------------------------------------------------------


def _drop_invalid_examples(doc: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    root = Resource.from_contents(doc, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:doc", root)
    checker = Draft202012Validator.FORMAT_CHECKER

    def ok(schema: dict[str, Any], value: Any) -> bool:
        bare = {k: v for k, v in schema.items() if k not in ("examples", "example")}
        bare = _absolute(bare)
        validator = Draft202012Validator(bare, registry=registry, format_checker=checker)
        try:
            return not any(True for _ in validator.iter_errors(value))
        except Exception:  # an unresolvable schema: keep nothing we cannot check
            return False

    def visit(node: Any) -> None:
        if not isinstance(node, dict):
            return
        examples = node.get("examples")
        if isinstance(examples, list) and ("type" in node or "$ref" in node or "oneOf" in node):
            kept = [e for e in examples if ok(node, e)]
            if kept:
                node["examples"] = kept
            else:
                del node["examples"]
        schema = node.get("schema")
        if "example" in node and isinstance(schema, dict) and not ok(schema, node["example"]):
            del node["example"]

    _walk(doc, visit)


def _absolute(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _absolute(v) for k, v in schema.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            out["$ref"] = "urn:doc" + ref
        return out
    if isinstance(schema, list):
        return [_absolute(v) for v in schema]
    return schema
