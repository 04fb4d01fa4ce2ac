#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, unit and in-process tests,
# the distributed tests against real Kafka, MariaDB shards and Redis (started
# here with deploy/local and stopped afterwards), and the web client's tests.
# Installs what it needs on a fresh Debian machine.
#
#   scripts/test.sh                  everything
#   CHAT_SKIP_DISTRIBUTED=1 ...      skip the services and the distributed tests
#   CHAT_SKIP_WEB=1 ...              skip the web client's tests
#   CHAT_SKIP_DEPLOY=1 ...           skip validating the deployment files
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$(date +%s)

step() { printf '\n==> %s (%ss)\n' "$*" "$(($(date +%s) - START))"; }

if ! command -v cargo >/dev/null; then
    echo "cargo is required (https://rustup.rs)" >&2
    exit 1
fi

FEATURES=()
if [[ -z "${CHAT_SKIP_DISTRIBUTED:-}" ]]; then
    step "build dependencies (librdkafka is compiled from source)"
    scripts/install-build-deps.sh
    FEATURES=(--all-features)
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked "${FEATURES[@]}" -- -D warnings

if [[ -z "${CHAT_SKIP_DEPLOY:-}" ]]; then
    step "deployment files: kustomize render, Kubernetes schemas, compose, Dockerfile and shell lint, docs"
    deploy/validate.sh
fi

if [[ -z "${CHAT_SKIP_DISTRIBUTED:-}" ]]; then
    step "local services: Kafka (KRaft), two MariaDB shards, Redis, a 3-node Redis Cluster"
    # Stop only what this run started.
    if deploy/local/status.sh >/dev/null 2>&1; then
        echo "services already running; leaving them running afterwards"
    else
        trap 'step "stopping local services"; deploy/local/redis-cluster.sh down || true; deploy/local/down.sh || true' EXIT
    fi
    eval "$(deploy/local/up.sh)"
    eval "$(deploy/local/redis-cluster.sh up)"
    export CHAT_KAFKA_BROKERS CHAT_MYSQL_SHARDS CHAT_REDIS_URL CHAT_REDIS_CLUSTER_URL \
        CHAT_LOCAL_KAFKA_SASL_BROKERS CHAT_LOCAL_REDIS_TLS_URL CHAT_LOCAL_TLS_CA
fi

step "cargo test (unit, in-process end-to-end, and distributed tests)"
cargo test --workspace --locked "${FEATURES[@]}"

# `cargo test` built the binary the end-to-end tests ran; the web tests use it too.
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

if [[ -z "${CHAT_SKIP_WEB:-}" && -f web/test.sh ]]; then
    step "web client: unit, build and browser end-to-end tests"
    CHAT_BIN="$TARGET_DIR/debug/chat" bash web/test.sh
fi

step "all tests passed"
