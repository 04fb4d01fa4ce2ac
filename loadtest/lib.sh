# shellcheck shell=bash disable=SC2034  # START_PID, START_URL, WORK… are used by the sourcing scripts
# Shared by the benchmarks (bench.sh, reshard.sh): logging, starting roles of
# the chat binary, and deleting a distributed run's data on exit. Sourced, not
# run; the sourcing script sets RUN, WORK and CHAT (after building) and may
# set STOP_SERVICES=1 (stop deploy/local at the end) and DIST_DATA=1 (drop the
# run's topics, databases and Redis keys at the end).

# The generator is one client address with thousands of users and
# connections: the limits per address would refuse it (the per-user limits
# stay on and are part of what is measured).
export CHAT_RATE_LIMITS=${CHAT_RATE_LIMITS:-login_ip=off,login_name_ip=off,register_ip=off}
export CHAT_MAX_CONNECTIONS_PER_IP=${CHAT_MAX_CONNECTIONS_PER_IP:-0}
export CHAT_MAX_CONNECTIONS=${CHAT_MAX_CONNECTIONS:-50000}

log() { printf '\n==> %s\n' "$*" >&2; }

PIDS=()
STOP_SERVICES=${STOP_SERVICES:-0}
DIST_DATA=${DIST_DATA:-0}
# drop_run_data: deletes the distributed run's topics, databases and Redis keys
# (left behind, they pile up: a broker with thousands of stale partitions and
# shards with hundreds of databases are slower and skew later runs).
drop_run_data() {
  local s url rest cred hostport host port db
  deploy/local/kafka-tool.sh topics --delete --topic "$RUN\\..*" >/dev/null 2>&1 ||
    log "could not delete the topics $RUN.* (delete them with deploy/local/kafka-tool.sh)"
  IFS=',' read -ra parts <<<"${CHAT_MYSQL_SHARDS:-}"
  for s in "${parts[@]}"; do
    url=${s#*=}; rest=${url#mysql://}; cred=${rest%%@*}; hostport=${rest#*@}; hostport=${hostport%%/*}
    host=${hostport%:*}; port=${hostport##*:}; db=${rest##*/}
    [[ "$db" == "$RUN" ]] || continue
    MYSQL_PWD=${cred#*:} mariadb --no-defaults --protocol=TCP -h "$host" -P "$port" -u "${cred%%:*}" \
      -e "DROP DATABASE IF EXISTS \`$db\`" >/dev/null 2>&1 || log "could not drop database $db on $hostport"
  done
  redis-cli -u "$CHAT_REDIS_URL" --scan --pattern "$RUN:*" 2>/dev/null |
    xargs -r -n 500 redis-cli -u "$CHAT_REDIS_URL" unlink >/dev/null 2>&1 || true
}
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if declare -F extra_cleanup >/dev/null; then extra_cleanup || true; fi
  if ((DIST_DATA)) && [[ -z "${KEEP_RUN_DATA:-}" ]]; then
    log "deleting the run's topics, databases and Redis keys ($RUN)"
    drop_run_data
  fi
  if ((STOP_SERVICES)); then
    log "stopping deploy/local services (this script started them)"
    deploy/local/down.sh >&2 || true
  fi
}

# Starts a role of the chat binary with its stderr in $WORK/<name>.log; sets
# START_PID and START_URL (the address in its banner, its first stdout line).
start() {
  local name=$1
  shift
  local fifo=$WORK/$name.out
  mkfifo "$fifo"
  "$CHAT" "$@" >"$fifo" 2>"$WORK/$name.log" &
  local pid=$!
  PIDS+=("$pid")
  local banner
  exec {fd}<"$fifo"
  if ! IFS= read -r -t 120 banner <&"$fd"; then
    echo "$name did not start; log:" >&2
    tail -20 "$WORK/$name.log" >&2
    exit 1
  fi
  # Keep draining its stdout.
  cat <&"$fd" >/dev/null &
  exec {fd}<&-
  START_PID=$pid
  START_URL=$(sed -n 's|.*\(http://[^ ]*\).*|\1|p' <<<"$banner")
}

trap cleanup EXIT
