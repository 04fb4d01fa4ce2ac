#!/usr/bin/env bash
# Server CPU per message at a fixed offered rate, two release builds
# alternately: BASE_TARGET and NEW_TARGET are their cargo target directories
# (each with release/chat and release/loadtest built).
set -u
RATE=${RATE:-4000}
: "${BASE_TARGET:?set BASE_TARGET}" "${NEW_TARGET:?set NEW_TARGET}"
for round in 1 2 3; do
  for which in base new; do
    if [[ $which == base ]]; then td=$BASE_TARGET; else td=$NEW_TARGET; fi
    dir=$(mktemp -d /tmp/cpu.XXXX)
    "$td/release/chat" standalone --listen 127.0.0.1:18123 --data-dir "$dir/data" > "$dir/out" 2> "$dir/err" &
    pid=$!
    sleep 2
    # setup + 5 s warm-up at the rate (not measured)
    "$td/release/loadtest" run --gateway http://127.0.0.1:18123 --users 1000 --chats 1000 --direct-ratio 0 --group-size 10 \
       --setup-concurrency 16 --rate "$RATE" --duration 5 --ramp-up 1 --setup-file "$dir/setup.json" --json "$dir/warm.json" > /dev/null 2>&1
    t0=$(awk '{print $14+$15}' /proc/$pid/stat)
    "$td/release/loadtest" run --gateway http://127.0.0.1:18123 --users 1000 --chats 1000 --direct-ratio 0 --group-size 10 \
       --setup-concurrency 16 --rate "$RATE" --duration 20 --ramp-up 2 --setup-file "$dir/setup.json" --json "$dir/run.json" > /dev/null 2>&1
    t1=$(awk '{print $14+$15}' /proc/$pid/stat)
    kill $pid; wait $pid 2>/dev/null
    python3 - "$which" "$round" "$t0" "$t1" "$dir/run.json" <<'PY'
import json,sys,os
which,rnd,t0,t1,f=sys.argv[1:]
hz=os.sysconf('SC_CLK_TCK')
j=json.load(open(f)); d=j['delivery_latency']; c=j['correctness']
cpu=(int(t1)-int(t0))/hz
print(f"{which} r{rnd}: sent {j['sent']} accepted {j['accepted_per_sec']:.0f}/s cpu {cpu:.1f}s = {cpu/j['sent']*1e6:.0f} us/msg; p50 {d['p50_ms']:.1f} p99 {d['p99_ms']:.1f} ms; missing {c['missing']} dup {c['duplicated']} ooo {c['out_of_order']}", flush=True)
PY
    rm -rf "$dir"
  done
done
