#!/usr/bin/env bash
# The chaos suite: ROUNDS rounds of faults injected into the distributed stack
# under steady traffic (chat/tests/chaos.rs: SIGKILL of each role, a writer
# stopped past its session timeout, Kafka, shard and Redis restarts, a Redis
# flush and a Redis refusing writes), printing per round what was sent, acked,
# lost, duplicated, out of order and leaked, and the time to recover from each
# fault. Starts the local services when they are not running (and stops them
# afterwards); exits non-zero when a round broke a promise.
#
#   deploy/local/chaos.sh [ROUNDS]     (default 5; one round takes 3-5 minutes)
#
# The full output goes to $CHAT_LOCAL_LOGS/chaos.log (default
# ~/.cache/chat-local/logs).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: deploy/local/chaos.sh [ROUNDS]" >&2
    exit 2
fi
logs=${CHAT_LOCAL_LOGS:-$HOME/.cache/chat-local/logs}
mkdir -p "$logs"
log=$logs/chaos.log
if ! deploy/local/status.sh kafka shard0 shard1 redis >/dev/null 2>&1; then
    trap 'deploy/local/down.sh kafka shard0 shard1 redis || true' EXIT
fi
eval "$(deploy/local/up.sh kafka shard0 shard1 redis)"
export CHAT_KAFKA_BROKERS CHAT_MYSQL_SHARDS CHAT_REDIS_URL
echo "chaos: $rounds rounds; full output in $log" >&2
status=0
CHAT_CHAOS_ROUNDS=$rounds cargo test --locked -p chat --features distributed \
    --test chaos -- --nocapture >"$log" 2>&1 || status=$?
grep -E '^chaos round|rounds that broke|test result' "$log" || true
exit "$status"
