"""Canonical JSON: RFC 8785, the JSON Canonicalization Scheme (JCS).

Two hashes and signatures of the protocol are over JSON that a phone in any language
must be able to reproduce byte for byte: the signing input of a mutation
(``sync.signing``) and a completion report's ``report_sha256``. Both use JCS:

- object members sorted by their names' UTF-16 code units, at every level;
- no whitespace; strings with only ``"``, ``\\`` and the control characters U+0000 to
  U+001F escaped (as ``\\b \\f \\n \\r \\t`` or ``\\u00xx`` in lowercase hex), every
  other character (客户不在家, U+2028, ``/``) as its raw UTF-8;
- numbers as ECMAScript's ``Number.prototype.toString`` writes the IEEE 754 double
  (``31.189206``, ``0.0000099``, ``1e+21``, ``-0`` as ``0``, ``1.0`` as ``1``);
  integers beyond ±(2^53 - 1) cannot be represented and are refused.

In JavaScript, ``JSON.stringify`` of a value with its keys sorted gives the same bytes
for every value a mutation carries. The conformance vectors in
``docs/protocol/vectors/`` pin the exact bytes.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
import rfc8785

__all__ = ["REPORT_FIELDS", "CanonicalError", "canonical_json", "report_sha256"]

CanonicalError = rfc8785.CanonicalizationError
"""Raised for a value JCS cannot write (NaN, infinities, a too large integer, a
string that is not valid Unicode)."""

REPORT_FIELDS = ("work_done", "parts", "charges", "checklist", "photos")
"""What ``report_sha256`` covers: a ``job.report``'s args without ``report_id``."""


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 bytes of ``value`` (JSON values: dict, list, str, int, float, bool,
    None). Raises ``CanonicalError`` (a ``ValueError``) when it has no JCS form."""
    return rfc8785.dumps(value)


def report_sha256(report: msgspec.Struct | dict[str, Any]) -> str:
    """Lowercase hex SHA-256 of the JCS form of a report's content: the ``job.report``
    args (a ``ReportArgs``, or its JSON dict with every field present) without
    ``report_id``. The customer's ``job.sign_off`` names this hash."""
    built = msgspec.to_builtins(report) if isinstance(report, msgspec.Struct) else report
    assert isinstance(built, dict)
    content = {k: built[k] for k in REPORT_FIELDS}
    return hashlib.sha256(canonical_json(content)).hexdigest()
