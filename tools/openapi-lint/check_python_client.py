"""Asserts that the client openapi-python-client generated has the operations a phone
and the desk cannot do without; prints the endpoints it skipped (its warnings).

Usage: check_python_client.py GENERATED_DIR GENERATOR_LOG
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REQUIRED = [("post", "/sync/v1/push"), ("post", "/customers")]
_CALL = re.compile(r'"method":\s*"(\w+)",\s*"url":\s*(?:f?)"([^"]+)"', re.S)


def main(folder: str, log: str) -> int:
    generated: set[tuple[str, str]] = set()
    for path in Path(folder).rglob("*.py"):
        for method, url in _CALL.findall(path.read_text(encoding="utf-8")):
            generated.add((method.lower(), re.sub(r"\{[^}]*\}", "{}", url)))
    skipped = [line for line in Path(log).read_text().splitlines() if "will not be generated" in line]
    for line in skipped:
        print(f"openapi-python-client: {line.strip()}", file=sys.stderr)
    missing = [f"{m.upper()} {u}" for m, u in REQUIRED if (m, u) not in generated]
    if missing:
        print(f"openapi-python-client: no {', '.join(missing)} in the client", file=sys.stderr)
        return 1
    print(f"openapi-python-client: {len(generated)} operations generated, {len(skipped)} skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))
