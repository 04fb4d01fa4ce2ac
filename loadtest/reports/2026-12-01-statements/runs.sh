#!/usr/bin/env bash
# runs.sh: the four runs of this report, alternating BEFORE and AFTER, each with
# sampler.sh (writer /metrics every 5 s) and stmt-status.sh (shard counters
# before and after the run). Output in /tmp/bench-out2/<variant>-<n>{,.log,.metrics,.stmt-start,.stmt-end}.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT=/tmp/bench-out2
mkdir -p "$OUT"
for run in before-1 after-1 before-2 after-2; do
  variant=${run%-*}
  log=$OUT/$run.log
  : >"$log"
  bash "$HERE/stmt-status.sh" >"$OUT/$run.stmt-start"
  bash "$HERE/sampler.sh" "$log" "$OUT/$run.metrics" &
  sp=$!
  (cd /work/main && CARGO_TARGET_DIR=/tmp/bench-$variant SKIP_BUILD=1 DIST_RATES="1000 500" DURATION=30 WARMUP=15 \
    MIXED_RATE=500 IDLE=200 REPORT_DIR=$OUT/$run bash loadtest/bench.sh distributed >"$log" 2>&1)
  echo "$run exit $?" >>"$OUT/runs.status"
  for _ in 1 2 3 4 5 6; do kill -0 "$sp" 2>/dev/null || break; sleep 5; done
  kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
  bash "$HERE/stmt-status.sh" >"$OUT/$run.stmt-end"
  ls -dt /tmp/chat-bench.* | head -1 >"$OUT/$run.workdir"
  echo "$run $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/runs.status"
done
echo done >>"$OUT/runs.status"
