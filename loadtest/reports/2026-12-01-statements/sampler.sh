#!/usr/bin/env bash
# sampler.sh LOG OUTDIR: while bench.sh writes LOG, scrape the writer's /metrics
# every 5 s, labelled with the bench phase (last "==>" line of LOG).
log=$1 out=$2; mkdir -p "$out"; i=0
while true; do
  sleep 5
  pid=$(pgrep -f -x '.*/release/chat writer --group lt.*' | head -1)
  if [[ -z $pid ]]; then
    grep -q 'report\.md$' "$log" 2>/dev/null && break
    continue
  fi
  port=$(ss -ltnpH 2>/dev/null | grep "pid=$pid," | awk '{print $4}' | sed 's/.*://' | head -1)
  [[ -z $port ]] && continue
  phase=$(grep '^==>' "$log" | tail -1)
  i=$((i+1))
  { echo "# $(date +%T) $phase"; curl -s --max-time 2 "http://127.0.0.1:$port/metrics" | grep -E '^(writer_batch_commands|writer_batch_seconds|store_shard_apply_seconds|writer_retries_total|store_errors_total)' ; } > "$out/$(printf %03d $i).txt"
done
