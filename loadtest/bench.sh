#!/usr/bin/env bash
# Benchmark: starts the system, runs the standard scenarios at several offered
# rates with the load generator, and writes loadtest/reports/<date>/report.md
# with a Markdown table and PNG plots. Not a pass/fail test.
#
#   loadtest/bench.sh                  standalone, then distributed
#   loadtest/bench.sh standalone       only standalone
#   loadtest/bench.sh distributed      only distributed (deploy/local services)
#
# Settings (environment): RATES (standalone offered msgs/s, space-separated),
# DIST_RATES (distributed), DURATION and RAMP (seconds per run), USERS, GROUP_SIZE
# (members per group), CHATS (default USERS), WARMUP (seconds of an unreported
# run at the first rate before the others, default 15: a freshly started Kafka
# broker's JIT is cold and showed several times the latency), MIXED_RATE (rate of the mixed
# scenario), IDLE (idle connections; ≤ ~18000 under the usual 20000-descriptor
# limit, which both the server and the generator need one of per connection),
# REPORT_DIR (default loadtest/reports/<date>), CARGO_TARGET_DIR, SKIP_BUILD=1.
#
# The distributed run uses the services of deploy/local: it starts them when
# they are not running (and then stops them at the end), and gives every run
# its own topics, consumer groups, Redis prefix and databases so runs never collide;
# it deletes them at the end (KEEP_RUN_DATA=1 keeps them for a look afterwards).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

MODES=("$@")
((${#MODES[@]})) || MODES=(standalone distributed)

RATES=${RATES:-"2000 5000 10000 20000"}
DIST_RATES=${DIST_RATES:-"1000 2500 5000"}
DURATION=${DURATION:-20}
RAMP=${RAMP:-5}
USERS=${USERS:-1000}
CHATS=${CHATS:-$USERS}
GROUP_SIZE=${GROUP_SIZE:-10}
MIXED_RATE=${MIXED_RATE:-2000}
WARMUP=${WARMUP:-15}
IDLE=${IDLE:-5000}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
DATE=$(date +%F)
OUT=${REPORT_DIR:-$HERE/reports/$DATE}
RUN=lt$(date +%s)x$$
WORK=$(mktemp -d "/tmp/chat-bench.XXXXXX")
mkdir -p "$OUT"

# shellcheck source=loadtest/lib.sh
source "$HERE/lib.sh"

if [[ -z "${SKIP_BUILD:-}" ]]; then
  log "building chat (with the distributed roles) and loadtest, release"
  cargo build --release -p chat -p loadtest --features chat/distributed >&2
fi
CHAT=$TARGET_DIR/release/chat
LOADTEST=$TARGET_DIR/release/loadtest

# run_load <mode> <scenario> <rate> <setup file> <gateways...> [-- extra loadtest flags]
run_load() {
  local mode=$1 scenario=$2 rate=$3 setup=$4
  shift 4
  local gw=() extra=()
  while (($#)); do
    if [[ $1 == -- ]]; then
      shift
      extra=("$@")
      break
    fi
    gw+=(--gateway "$1")
    shift
  done
  log "$mode / $scenario at $rate msgs/s"
  "$LOADTEST" run "${gw[@]}" --rate "$rate" --duration "$DURATION" --ramp-up "$RAMP" \
    --setup-file "$setup" --name-prefix "${RUN}${mode:0:1}${scenario:0:1}" \
    --json "${JSON_DIR:-$OUT}/$mode-$scenario-$rate.json" "${extra[@]}" >&2 ||
    echo "(run reported a failure; see ${JSON_DIR:-$OUT}/$mode-$scenario-$rate.json)" >&2
}

scenarios() {
  local mode=$1 rates=$2
  shift 2
  local g10=(--users "$USERS" --chats "$CHATS" --direct-ratio 0 --group-size "$GROUP_SIZE" --setup-concurrency 16)
  # shellcheck disable=SC2054 # 3,10,50 is one argument
  local mixed=(--users "$USERS" --chats "$CHATS" --direct-ratio 0.5 --group-size 3,10,50 --setup-concurrency 16)
  local r
  if ((WARMUP > 0)); then
    log "$mode / warm-up ($WARMUP s, not reported)"
    JSON_DIR=$WORK DURATION=$WARMUP run_load "$mode" groups "${rates%% *}" "$WORK/$mode-groups.json" "$@" -- "${g10[@]}"
  fi
  for r in $rates; do
    run_load "$mode" groups "$r" "$WORK/$mode-groups.json" "$@" -- "${g10[@]}"
  done
  run_load "$mode" mixed "$MIXED_RATE" "$WORK/$mode-mixed.json" "$@" -- "${mixed[@]}"
}

idle() {
  local mode=$1 pid=$2 url=$3
  log "$mode / $IDLE idle connections"
  "$LOADTEST" idle --gateway "$url" --connections "$IDLE" --server-pid "$pid" --hold 5 \
    --json "$OUT/$mode-idle-$IDLE.json" >&2 || echo "(idle run failed)" >&2
}

cat >"$OUT/meta.json" <<JSON
{"date": "$(date -Is)", "cpus": $(nproc), "load_average_at_start": "$(cut -d' ' -f1-3 /proc/loadavg)", "cpu": "$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)",
 "memory_gib": $(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo),
 "duration": $DURATION, "ramp": $RAMP, "users": $USERS, "chats": $CHATS, "group_size": $GROUP_SIZE,
 "fd_limit": $(ulimit -n)}
JSON

for mode in "${MODES[@]}"; do
  case $mode in
  standalone)
    log "starting chat standalone"
    start standalone standalone --listen 127.0.0.1:0 --data-dir "$WORK/standalone-data"
    pid=$START_PID url=$START_URL
    scenarios standalone "$RATES" "$url"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    # Idle memory on a fresh server: memory freed by the load runs would be
    # reused by the new connections and hide their cost.
    start standalone-idle standalone --listen 127.0.0.1:0 --data-dir "$WORK/standalone-idle-data"
    pid=$START_PID url=$START_URL
    idle standalone "$pid" "$url"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    ;;
  distributed)
    if ! deploy/local/status.sh >/dev/null 2>&1; then
      STOP_SERVICES=1
    fi
    log "deploy/local services"
    eval "$(deploy/local/up.sh)"
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
    log "starting writer, fanout and two gateways (run $RUN)"
    # Consumer groups of their own too: members of one group on other topics
    # (another deployment or test run on the same Kafka) would make it rebalance.
    start writer writer --group "$RUN-writer"
    start fanout fanout --group "$RUN-fanout"
    start gw1 gateway --listen 127.0.0.1:0 --node-id 1 --instance-id "$RUN-gw1"
    gw1=$START_URL
    start gw2 gateway --listen 127.0.0.1:0 --node-id 2 --instance-id "$RUN-gw2"
    gw2=$START_URL
    scenarios distributed "$DIST_RATES" "$gw1" "$gw2"
    # Idle memory on a fresh gateway (see above).
    start gw3 gateway --listen 127.0.0.1:0 --node-id 3 --instance-id "$RUN-gw3"
    idle distributed "$START_PID" "$START_URL"
    ;;
  *)
    echo "unknown mode $mode (standalone, distributed)" >&2
    exit 2
    ;;
  esac
done

log "report"
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/chat-loadtest/venv
PY=python3
if [[ ! -x $VENV/bin/python ]]; then
  python3 -m venv "$VENV" >&2 && "$VENV/bin/pip" install -q matplotlib >&2 || true
fi
[[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import matplotlib' 2>/dev/null && PY=$VENV/bin/python
"$PY" "$HERE/report.py" "$OUT"
echo "$OUT/report.md"
