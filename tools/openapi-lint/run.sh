#!/usr/bin/env bash
# Lints the generated OpenAPI document with Redocly's recommended rules and generates
# TypeScript types from it with openapi-typescript; fails on any error. The npm tools
# are installed from the committed lockfile into a temporary folder, removed after.
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
echo "openapi: Redocly lint passed, openapi-typescript generated $(wc -l < "$tmp/schema.d.ts") lines"
