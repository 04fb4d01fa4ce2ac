#!/usr/bin/env bash
# Benchmark: adding a shard under load (issue 13). Starts the distributed stack
# on deploy/local (two MariaDB shards) and a third MariaDB server, creates
# USERS users and CHATS groups through the API, seeds MESSAGES_PER_CHAT
# messages per chat straight into the shards (1,000 × 1,000 = 1M by default;
# the writers are stopped meanwhile and restarted after), then runs the load
# generator twice at RATE msgs/s for DURATION seconds, with the delivery
# checker on both times:
#
#   1. baseline: nothing else happens;
#   2. migration: MIGRATE_AFTER seconds in, `chat shards migrate --add
#      shard2=…` moves about a third of the keys onto the third server.
#
# Writes REPORT_DIR/report.md (default loadtest/reports/<date>-reshard): the
# migrator's figures (keys, rows copied, rows/s, longest write pause, total
# time) and latency with and without the migration, side by side. Not a
# pass/fail test.
#
# Settings (environment): USERS, CHATS, GROUP_SIZE, MESSAGES_PER_CHAT, RATE,
# DURATION, RAMP, MIGRATE_AFTER, STEP_KEYS, NEW_PORT (the third server's port,
# default 3309), REPORT_DIR, CARGO_TARGET_DIR, SKIP_BUILD=1, KEEP_RUN_DATA=1.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

USERS=${USERS:-1000}
CHATS=${CHATS:-1000}
GROUP_SIZE=${GROUP_SIZE:-10}
MESSAGES_PER_CHAT=${MESSAGES_PER_CHAT:-1000}
RATE=${RATE:-300}
DURATION=${DURATION:-90}
RAMP=${RAMP:-5}
MIGRATE_AFTER=${MIGRATE_AFTER:-10}
STEP_KEYS=${STEP_KEYS:-64}
NEW_PORT=${NEW_PORT:-3309}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${REPORT_DIR:-$HERE/reports/$(date +%F)-reshard}
RUN=rs$(date +%s)x$$
WORK=$(mktemp -d "/tmp/chat-reshard.XXXXXX")
mkdir -p "$OUT"

# shellcheck source=loadtest/lib.sh
source "$HERE/lib.sh"

# The third server: one more port for deploy/local.
THREE_PORTS="$(. deploy/local/lib.sh && echo "$CHAT_MYSQL_PORTS") $NEW_PORT"
NEW_SHARD=shard$(($(wc -w <<<"$THREE_PORTS") - 1))
NEW_URL="mysql://chat:chat@127.0.0.1:$NEW_PORT/$RUN"
extra_cleanup() {
  if [[ -z "${KEEP_RUN_DATA:-}" ]]; then
    MYSQL_PWD=chat mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$NEW_PORT" -u chat \
      -e "DROP DATABASE IF EXISTS \`$RUN\`" >/dev/null 2>&1 || true
  fi
  if ((STOP_SERVICES || STOP_NEW)); then
    CHAT_MYSQL_PORTS=$THREE_PORTS deploy/local/down.sh "$NEW_SHARD" >&2 || true
  fi
}

if [[ -z "${SKIP_BUILD:-}" ]]; then
  log "building chat (with the distributed roles) and loadtest, release"
  cargo build --release -p chat -p loadtest --features chat/distributed >&2
fi
CHAT=$TARGET_DIR/release/chat
LOADTEST=$TARGET_DIR/release/loadtest

if ! deploy/local/status.sh >/dev/null 2>&1; then
  STOP_SERVICES=1
fi
# The third server is stopped at the end if this script starts it.
STOP_NEW=0
if ! CHAT_MYSQL_PORTS=$THREE_PORTS deploy/local/status.sh "$NEW_SHARD" >/dev/null 2>&1; then
  STOP_NEW=1
fi
log "deploy/local services, and a third MariaDB server on port $NEW_PORT"
eval "$(deploy/local/up.sh)"
CHAT_MYSQL_PORTS=$THREE_PORTS deploy/local/up.sh "$NEW_SHARD" >/dev/null
shards=""
IFS=',' read -ra parts <<<"$CHAT_MYSQL_SHARDS"
for s in "${parts[@]}"; do shards+="${shards:+,}${s%/*}/${RUN}"; done
export CHAT_KAFKA_BROKERS CHAT_REDIS_URL
export CHAT_MYSQL_SHARDS=$shards
export CHAT_COMMANDS_TOPIC=$RUN.commands CHAT_EVENTS_TOPIC=$RUN.events CHAT_REDIS_PREFIX=$RUN:
DIST_DATA=1
CHAT_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export CHAT_JWT_SECRET
export RUST_LOG=${RUST_LOG:-warn}

log "starting two writers, fanout and two gateways (run $RUN)"
start_writers() {
  start "writer1-$1" writer --group "$RUN-writer"
  W1=$START_PID
  start "writer2-$1" writer --group "$RUN-writer"
  W2=$START_PID
}
start_writers a
start fanout fanout --group "$RUN-fanout"
start gw1 gateway --listen 127.0.0.1:0 --node-id 1 --instance-id "$RUN-gw1"
gw1=$START_URL
start gw2 gateway --listen 127.0.0.1:0 --node-id 2 --instance-id "$RUN-gw2"
gw2=$START_URL

population=(--users "$USERS" --chats "$CHATS" --direct-ratio 0 --group-size "$GROUP_SIZE"
  --setup-concurrency 16 --setup-file "$WORK/setup.json" --gateway "$gw1" --gateway "$gw2")
load() {
  "$LOADTEST" run "${population[@]}" --rate "$1" --duration "$2" --ramp-up "$RAMP" \
    --name-prefix "${RUN}u" --json "$3" >&2 || echo "(run reported a failure; see $3)" >&2
}
log "setup: $USERS users, $CHATS groups of $GROUP_SIZE (and a short warm-up)"
load 50 5 "$WORK/setup-run.json"

log "seeding $MESSAGES_PER_CHAT messages per chat into the shards (writers stopped)"
kill "$W1" "$W2"
wait "$W1" "$W2" 2>/dev/null || true
for s in "${parts[@]}"; do
  url=${s#*=}
  rest=${url#mysql://}
  hostport=${rest#*@}
  hostport=${hostport%%/*}
  MYSQL_PWD=chat mariadb --no-defaults --protocol=TCP -h "${hostport%:*}" -P "${hostport##*:}" -u chat "$RUN" <<SQL
INSERT INTO messages (chat_id, seq, id, sender_id, client_msg_id, text, created_at, deleted, pts)
SELECT c.id, c.last_seq + s.seq, s.seq, c.created_by, CONCAT('seed-', s.seq),
       'a seeded message of about the size of a short chat line', c.created_at, 0, c.last_pts + s.seq
FROM chats c JOIN seq_1_to_${MESSAGES_PER_CHAT} s;
UPDATE chats SET last_seq = last_seq + ${MESSAGES_PER_CHAT}, last_pts = last_pts + ${MESSAGES_PER_CHAT};
SQL
done
# Cached chat summaries predate the seed.
redis-cli -u "$CHAT_REDIS_URL" --scan --pattern "$RUN:*" | xargs -r -n 500 redis-cli -u "$CHAT_REDIS_URL" unlink >/dev/null
start_writers b
"$CHAT" shards status >"$OUT/status-before.txt"
cat "$OUT/status-before.txt" >&2

log "baseline: $RATE msgs/s for $DURATION s"
load "$RATE" "$DURATION" "$OUT/baseline.json"

log "migration: $RATE msgs/s for $DURATION s, adding $NEW_SHARD after $MIGRATE_AFTER s"
load "$RATE" "$DURATION" "$OUT/migration.json" &
LOAD=$!
sleep "$MIGRATE_AFTER"
"$CHAT" shards migrate --add "$NEW_SHARD=$NEW_URL" --step-keys "$STEP_KEYS" \
  >"$OUT/migrate.txt" 2>"$OUT/migrate.log"
cat "$OUT/migrate.txt" >&2
wait "$LOAD"
"$CHAT" shards status >"$OUT/status-after.txt"
cat "$OUT/status-after.txt" >&2

log "report"
python3 - "$OUT" "$RATE" "$DURATION" "$MIGRATE_AFTER" <<'PY'
import json, sys, pathlib
out, rate, duration, after = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
runs = {name: json.loads((out / f"{name}.json").read_text()) for name in ("baseline", "migration")}
def row(name, r):
    a, d = r["ack_latency"], r["delivery_latency"]
    c = r["correctness"]
    bad = sum(c[k] for k in ("missing", "duplicated", "out_of_order", "beyond_last", "unexpected"))
    bad += r["acked_not_stored"] + r["unverified_chats"]
    return (f"| {name} | {r['accepted_per_sec']:.0f} | "
            f"{a['p50_ms']:.1f} / {a['p99_ms']:.1f} / {a['max_ms']:.0f} | "
            f"{d['p50_ms']:.1f} / {d['p99_ms']:.1f} / {d['max_ms']:.0f} | "
            f"{sum(r['errors'].values())} | {bad} (expected {c['expected']}, received {c['received']}) |")
lines = [
    "# Adding a shard under load",
    "",
    f"`loadtest/reshard.sh`: {rate} msgs/s offered for {duration} s, twice; in the second run",
    f"`chat shards migrate --add` starts {after} s in. Latency in ms (p50 / p99 / max).",
    "",
    "| run | accepted msgs/s | send→ack | send→delivery | errors | checker failures |",
    "|---|---:|---|---|---:|---:|",
    row("baseline", runs["baseline"]),
    row("with the migration", runs["migration"]),
    "",
    "## The migrator",
    "",
    "```",
    (out / "migrate.txt").read_text().strip(),
    "```",
    "",
    "## Shards before and after",
    "",
    "```",
    (out / "status-before.txt").read_text().strip(),
    "```",
    "",
    "```",
    (out / "status-after.txt").read_text().strip(),
    "```",
]
(out / "report.md").write_text("\n".join(lines) + "\n")
PY
echo "$OUT/report.md"
