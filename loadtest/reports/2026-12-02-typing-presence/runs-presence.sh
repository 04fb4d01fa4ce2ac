#!/usr/bin/env bash
# runs-presence.sh: the send benchmark on a build without presence (OLD,
# f41a173, the commit before it) and with it (NEW), alternating, on copies of
# one data directory: 1,000 users each on one connection, 100 groups of 10,
# open-loop sends, the delivery checker on. Each run starts its server, and
# server CPU (utime + stime from /proc/<pid>/stat) is read when the run ends.
#   runs-presence.sh OUTDIR OLD_CHAT NEW_CHAT LOADTEST [RATE] [DURATION] [PAIRS]
set -euo pipefail
OUT=$1 OLD=$2 NEW=$3 LT=$4 RATE=${5:-2000} DURATION=${6:-30} PAIRS=${7:-3}
mkdir -p "$OUT"
export CHAT_RATE_LIMITS=login_ip=off,login_name_ip=off,register_ip=off
export CHAT_MAX_CONNECTIONS_PER_IP=0 CHAT_MAX_CONNECTIONS=50000
W=$(mktemp -d /tmp/pr-bench.XXXXXX)
PID= URL=
serve() { # serve BINARY DATA LOG
  "$1" standalone --listen 127.0.0.1:0 --data-dir "$2" >"$3" 2>&1 &
  PID=$!
  URL=
  for _ in $(seq 200); do
    URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$3" | head -1 || true)
    [[ -n $URL ]] && return 0
    sleep 0.1
  done
  echo "server did not start: $3" >&2
  return 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; }
load() { # load NAME RATE DURATION
  "$LT" run --gateway "$URL" --users 1000 --chats 100 --direct-ratio 0 --group-size 10 \
    --rate "$2" --duration "$3" --ramp-up 5 --setup-file "$W/setup.json" \
    --setup-concurrency 16 --json "$OUT/$1.json" >"$OUT/$1.log" 2>&1 || true
}
# Users and groups once, by the old build (the new one migrates its copy).
serve "$OLD" "$W/old" "$OUT/setup-server.log"
load setup 100 10
stop
cp -r "$W/old" "$W/new"
for i in $(seq "$PAIRS"); do
  for v in old new; do
    bin=$OLD
    [[ $v == new ]] && bin=$NEW
    serve "$bin" "$W/$v" "$OUT/$v-$i-server.log"
    load "$v-$i" "$RATE" "$DURATION"
    ticks=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    echo "$v-$i cpu_ticks $ticks clk_tck $(getconf CLK_TCK) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/cpu.txt"
    stop
  done
done
