#!/usr/bin/env bash
# runs.sh: the send benchmark with and without typing notices, alternating,
# against one standalone release server: 1,000 users each on one connection,
# 100 groups of 10, open-loop sends, the delivery checker on. Server CPU is
# read from /proc/<pid>/stat (utime + stime) around each run.
#   runs.sh OUTDIR [RATE] [DURATION] [TYPING_EVERY] [PAIRS]
set -euo pipefail
OUT=$1 RATE=${2:-2000} DURATION=${3:-30} EVERY=${4:-3} PAIRS=${5:-3}
T=${CARGO_TARGET_DIR:-$HOME/.cache/chat-target-main}/release
mkdir -p "$OUT"
# As loadtest/lib.sh: one address registers and logs in a thousand users.
export CHAT_RATE_LIMITS=login_ip=off,login_name_ip=off,register_ip=off
export CHAT_MAX_CONNECTIONS_PER_IP=0 CHAT_MAX_CONNECTIONS=50000
DATA=$(mktemp -d /tmp/tp-bench.XXXXXX)
"$T/chat" standalone --listen 127.0.0.1:0 --data-dir "$DATA/data" >"$OUT/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$OUT/server.log" | head -1 || true)
  [[ -n $URL ]] && break
  sleep 0.2
done
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
run() {
  local name=$1 rate=$2 duration=$3
  shift 3
  local before after
  before=$(ticks)
  "$T/loadtest" run --gateway "$URL" --users 1000 --chats 100 --direct-ratio 0 --group-size 10 \
    --rate "$rate" --duration "$duration" --ramp-up 5 --setup-file "$DATA/setup.json" \
    --setup-concurrency 16 --json "$OUT/$name.json" "$@" >"$OUT/$name.log" 2>&1 || true
  after=$(ticks)
  echo "$name cpu_ticks $((after - before)) clk_tck $(getconf CLK_TCK) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/cpu.txt"
}
# Registrations and groups once (not measured), then the runs.
run setup 100 10
for i in $(seq "$PAIRS"); do
  run "send-$i" "$RATE" "$DURATION"
  run "typing-$i" "$RATE" "$DURATION" --typing-every "$EVERY"
done
