#!/usr/bin/env bash
# Everything CI needs for the web client, from a fresh clone: install (npm ci),
# the check that the wire types generated from the contracts are current, unit and
# component tests (Vitest), production build, the browser if missing, and the
# end-to-end tests against the real server binary.
#
# The server must be built already: CHAT_BIN, or $CARGO_TARGET_DIR/debug/chat, or
# ../target/debug/chat (relative to web/).
set -euo pipefail
cd "$(dirname "$0")"
start=$(date +%s)

if [ -z "${CHAT_BIN:-}" ]; then
  for candidate in "${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/debug/chat}" ../target/debug/chat; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then CHAT_BIN=$candidate; break; fi
  done
fi
if [ -z "${CHAT_BIN:-}" ] || [ ! -x "$CHAT_BIN" ]; then
  echo "web/test.sh: the server binary is missing (${CHAT_BIN:-../target/debug/chat})." >&2
  echo "  Build it first: cargo build -p chat   (or set CHAT_BIN=/path/to/chat)" >&2
  exit 1
fi
export CHAT_BIN=$(cd "$(dirname "$CHAT_BIN")" && pwd)/$(basename "$CHAT_BIN")
echo "== server binary: $CHAT_BIN"

echo "== lockfile"
node scripts/check-lock.mjs
echo "== npm ci"
npm ci --no-audit --no-fund
echo "== generated API types are current (gateway/src/openapi.json, docs/frames.schema.json)"
npm run check:api
echo "== unit and component tests"
npm test
echo "== build"
npm run build
echo "== browser"
bash e2e/install-browser.sh
echo "== end-to-end"
npm run e2e
echo "web/test.sh: all green in $(( $(date +%s) - start )) s"
