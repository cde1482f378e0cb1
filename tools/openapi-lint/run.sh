#!/usr/bin/env bash
# Lints the generated OpenAPI document with Redocly's recommended rules, generates
# TypeScript types from it with openapi-typescript and a Python client with
# openapi-python-client; fails on any error, or when a client lacks the signed push (or
# POST /customers). The npm tools are installed from the committed lockfile, and
# openapi-python-client (pinned below) into a virtual environment, both in a temporary
# folder removed after. Redocly's one warning is expected: operation-4xx-response on
# GET /health, which answers no 4xx (the error responses list only what each operation
# can really answer: server/openapi_errors.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp tools/openapi-lint/package.json tools/openapi-lint/package-lock.json "$tmp/"
npm ci --prefix "$tmp" --no-audit --no-fund --loglevel=error
DOORSTEP_DATA_DIR="$tmp/data" .venv/bin/doorstep openapi -o "$tmp/openapi.json"
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
"$tmp/node_modules/.bin/redocly" lint --extends=recommended --format=summary "$tmp/openapi.json"
"$tmp/node_modules/.bin/openapi-typescript" "$tmp/openapi.json" -o "$tmp/schema.d.ts"
grep -q '"job.sign_off"' "$tmp/schema.d.ts" || { echo "openapi-typescript: no mutation union" >&2; exit 1; }

OPENAPI_PYTHON_CLIENT="openapi-python-client==0.29.1"
python3 -m venv "$tmp/opc"
"$tmp/opc/bin/python" -m pip install --quiet --disable-pip-version-check "$OPENAPI_PYTHON_CLIENT" \
    > "$tmp/pip.log" 2>&1 || { cat "$tmp/pip.log" >&2; exit 1; }
(cd "$tmp" && "$tmp/opc/bin/openapi-python-client" generate --path "$tmp/openapi.json" \
    --output-path "$tmp/pyclient" --overwrite) > "$tmp/opc.log" 2>&1 \
    || { cat "$tmp/opc.log" >&2; echo "openapi-python-client: generation failed" >&2; exit 1; }
"$tmp/opc/bin/python" tools/openapi-lint/check_python_client.py "$tmp/pyclient" "$tmp/opc.log"
echo "openapi: Redocly lint passed, openapi-typescript generated $(wc -l < "$tmp/schema.d.ts") lines"
