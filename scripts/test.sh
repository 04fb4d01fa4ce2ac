#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, unit and in-process tests,
# and the end-to-end suites. Installs what it needs on a fresh machine.
#
#   scripts/test.sh            everything
#   CHAT_SKIP_WEB=1 ...        skip the web client's tests
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

step() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null; then
    echo "cargo is required (https://rustup.rs)" >&2
    exit 1
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit and in-process end-to-end tests)"
cargo test --workspace --locked

step "cargo build (the binary used by the web end-to-end tests)"
cargo build -p chat --locked
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

if [[ -z "${CHAT_SKIP_WEB:-}" && -f web/test.sh ]]; then
    step "web client: unit, build and browser end-to-end tests"
    CHAT_BIN="$TARGET_DIR/debug/chat" bash web/test.sh
fi

step "all tests passed"
