"""Asserts that the client openapi-python-client generated from the OpenAPI document has
the operations a phone and the desk cannot do without, and that the generator dropped no
schema and no operation it was not known to drop.

Usage: check_python_client.py GENERATED_DIR GENERATOR_LOG

Known and accepted: the generator reads only JSON and ``application/octet-stream``
bodies, so the blob chunk upload (``PATCH /sync/v1/blobs/{sha256}``, a raw body typed
``image/jpeg``, ``image/png`` or ``image/webp``: the Content-Type the server checks the
bytes against) is not generated, and the image and PDF answers are generated without a
parsed body (the raw bytes are in the response's ``content``). Phones upload with the
protocol's own client code (docs/protocol.md, "Blobs").
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REQUIRED = [("post", "/sync/v1/push"), ("post", "/customers"), ("get", "/sync/v1/pull")]
MAY_SKIP = {"PATCH /sync/v1/blobs/{sha256}"}
_CALL = re.compile(r'"method":\s*"(\w+)",\s*"url":\s*(?:f?)"([^"]+)"', re.S)
_SKIPPED = re.compile(r"WARNING parsing (\w+) (\S+) within .*Endpoint will not be generated")
_DROPPED = ("Unable to parse schema", "Unable to process schema", "Failure to process schema")


def main(folder: str, log: str) -> int:
    generated: set[tuple[str, str]] = set()
    for path in Path(folder).rglob("*.py"):
        for method, url in _CALL.findall(path.read_text(encoding="utf-8")):
            generated.add((method.lower(), url))
    text = Path(log).read_text(encoding="utf-8")
    skipped = {f"{m} {p}" for m, p in _SKIPPED.findall(text)}
    dropped = [line.strip() for line in text.splitlines() if line.startswith(_DROPPED)]
    problems = [f"schema dropped: {line}" for line in dropped]
    problems += [f"operation not generated: {op}" for op in sorted(skipped - MAY_SKIP)]
    problems += [
        f"no {m.upper()} {u} in the client" for m, u in REQUIRED if (m, u) not in generated
    ]
    for problem in problems:
        print(f"openapi-python-client: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(
        f"openapi-python-client: {len(generated)} operations generated "
        f"(push and POST /customers among them), skipped only {sorted(skipped) or 'none'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))
