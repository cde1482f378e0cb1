"""The rules every text, time and number a phone or a desk sends obeys — in one place.

Shared by the server's edge (``server/input_rules.py``: every request's parsed
parameters and body), the push pipeline (each mutation on its own, ``check_mutation``)
and the reference client (``client_sdk``: it refuses to queue what the server would
reject). No web framework and no database here.

Why these rules: each of them was a value that got past the types and failed deep
inside a database driver, where the error is no longer about the caller's input —

- a NUL character: PostgreSQL's text cannot hold it (SQLite can, so both backends are
  held to PostgreSQL's rule and behave alike);
- a time without a UTC offset (the server cannot guess the phone's zone) or far from
  now: ``0001-01-01T00:00:00+05:00`` overflows when converted to UTC;
- an integer beyond 64 bits: no database column holds it;
- JSON nested deeper than ``MAX_DEPTH``: the decoder recurses once per level.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_DEPTH",
    "SUPPORTED_SCHEMA_VERSIONS",
    "Violation",
    "check_schema_version",
    "check_time",
    "check_value",
    "decode_args",
    "json_too_deep",
    "raw_has_nul",
]

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Every time and date sent must lie in [EARLIEST, LATEST)."""
MAX_DEPTH = 64
"""The deepest JSON nesting accepted (a request body; a mutation's arguments)."""
SUPPORTED_SCHEMA_VERSIONS = (1,)
"""The push ``schema_version`` values this code understands."""
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_MAX_OFFSET = timedelta(hours=24)


@dataclass(frozen=True)
class Violation(Exception):
    """A value that breaks a rule: ``code`` is stable, ``field`` names where it is."""

    code: str
    message: str
    field: str = ""
    details: Mapping[str, Any] | None = None

    def __str__(self) -> str:
        return self.message


def check_text(value: str, field: str) -> None:
    if "\x00" in value:
        raise Violation(
            "invalid_text", f"{field or 'A text'} contains a NUL character (\\u0000).", field
        )


def check_time(value: datetime | date, field: str) -> None:
    """A time must carry a UTC offset and lie in [EARLIEST, LATEST); a date too.

    Compared without converting to UTC: that conversion is what overflows."""
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is None:
            raise Violation(
                "timestamp_without_offset",
                f"{field or 'A time'} has no UTC offset: send it as e.g. "
                "2026-11-20T09:30:00+08:00 or 2026-11-20T01:30:00Z.",
                field,
            )
        naive = value.replace(tzinfo=None)
        low = EARLIEST.replace(tzinfo=None) + min(offset, _MAX_OFFSET)
        high = LATEST.replace(tzinfo=None) + max(offset, -_MAX_OFFSET)
        inside = low <= naive < high
    else:
        inside = EARLIEST.date() <= value < LATEST.date()
    if not inside:
        raise Violation(
            "timestamp_out_of_range",
            f"{field or 'A time'} must lie between {EARLIEST.year} and {LATEST.year}.",
            field,
            {"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()},
        )


def check_value(value: Any, field: str = "", depth: int = 0) -> None:
    """Walk a decoded value (Structs, dicts, lists, scalars) and raise the first
    ``Violation``: NUL in a text (keys too), a naive or out-of-range time, an integer
    beyond 64 bits, nesting deeper than ``MAX_DEPTH``."""
    if depth > MAX_DEPTH:
        raise Violation("too_deeply_nested", f"Nested deeper than {MAX_DEPTH} levels.", field)
    if isinstance(value, str):
        check_text(value, field)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise Violation(
                "number_out_of_range", f"{field or 'A number'} is beyond 64-bit integers.", field
            )
    elif isinstance(value, datetime | date):
        check_time(value, field)
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            check_value(getattr(value, name), _join(field, name), depth + 1)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                check_text(key, _join(field, "(key)"))
            check_value(item, _join(field, str(key)), depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            check_value(item, f"{field}[{i}]", depth + 1)


def _join(field: str, name: str) -> str:
    return f"{field}.{name}" if field else name


def decode_args(raw: bytes, args_type: type[msgspec.Struct], name: str) -> Any:
    """A mutation's ``args``, decoded strictly (its Struct forbids unknown fields) and
    checked — the value rules here, then the Struct's own ``check()`` when it has one —
    : the ``Violation`` codes a phone gets back in a rejected outcome."""
    if json_too_deep(raw):
        raise Violation(
            "too_deeply_nested", f"The arguments of {name} nest deeper than {MAX_DEPTH}.", "args"
        )
    try:
        args = msgspec.json.decode(raw, type=args_type)
    except msgspec.ValidationError as exc:
        text = str(exc)
        where = _field_of(text)
        if text.startswith("Object contains unknown field"):
            raise Violation(
                "unknown_argument", f"{name} has no argument {where or text}.", where
            ) from exc
        raise Violation(
            "invalid_arguments", f"The arguments of {name} are not valid: {text}", where
        ) from exc
    except msgspec.DecodeError as exc:
        raise Violation(
            "invalid_arguments", f"The arguments of {name} are not valid: {exc}", "args"
        ) from exc
    check_value(args, "args")
    check = getattr(args, "check", None)
    if callable(check):  # the mutation's own rules (e.g. a location trace's columns)
        check()
    return args


_AT = re.compile(r"`\$\.?([^`]*)`")
_UNKNOWN = re.compile(r"unknown field `([^`]*)`")


def _field_of(message: str) -> str:
    """``args.x`` from msgspec's "... - at `$.x`" or "unknown field `x`"."""
    unknown = _UNKNOWN.search(message)
    at = _AT.search(message)
    path = at.group(1) if at else ""
    if unknown:
        path = _join(path, unknown.group(1))
    return _join("args", path) if path else "args"


def check_schema_version(version: int) -> None:
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        raise Violation(
            "unsupported_schema_version",
            f"Schema version {version} is not supported; this server speaks {supported}.",
            "schema_version",
            {"supported": list(SUPPORTED_SCHEMA_VERSIONS)},
        )


# --- raw JSON, before decoding ----------------------------------------------------------

_TOKENS = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\Z)|[\[\]{}]', re.S)
"""A string (to skip its brackets; an unterminated one runs to the end, so no input
makes this scan more than once) or a bracket."""
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def json_too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether ``raw`` nests arrays and objects deeper than ``limit`` — found without
    decoding (the decoder would recurse once per level)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for m in _TOKENS.finditer(raw):
        c = m.group()
        if c in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif c in (b"]", b"}"):
            depth -= 1
    return False


def raw_has_nul(raw: bytes) -> bool:
    """Whether the JSON text ``raw`` holds an escaped NUL (``\\u0000``, not ``\\\\u0000``)."""
    return b"\\u0000" in raw and _NUL.search(raw) is not None
