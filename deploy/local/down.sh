#!/usr/bin/env bash
# Stop the local services started by up.sh (clean shutdown: SIGTERM, then SIGKILL
# after CHAT_LOCAL_STOP_SECS). Idempotent: stopping what is stopped is a no-op.
#
#   down.sh [--purge] [SERVICE...]   SERVICE: kafka shard0 shard1 mysql redis all (default: all)
#   --purge  also delete the data of those services (Kafka log, MariaDB data
#            directories, Redis dir); the downloaded Kafka jars are kept.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

PURGE=0
ARGS=()
for a in "$@"; do
  case "$a" in
    --purge) PURGE=1 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) ARGS+=("$a") ;;
  esac
done
parse_services "${ARGS[@]}"

take_lock

# Stop in the reverse order of up.sh: clients of the log last.
for ((k = ${#SERVICES[@]} - 1; k >= 0; k--)); do
  s="${SERVICES[$k]}"
  if pid=$(service_pid "$s"); then
    log "$s: stopping (pid $pid)"
    stop_pid "$s" "$pid"
    log "$s: stopped"
  else
    log "$s: not running"
  fi
  rm -f "$(service_pidfile "$s")"
  case "$s" in shard*) rm -f "$LOCAL_RUN/$s.sock" "$LOCAL_RUN/$s.sock.lock" ;; esac
  if ((PURGE)); then
    case "$s" in
      kafka) rm -rf "$KAFKA_DATA" "$KAFKA_HOME/cluster-id" ;;
      shard*) rm -rf "${MYSQL_HOME:?}/$s" ;;
      redis) rm -rf "$REDIS_HOME" ;;
    esac
    log "$s: data deleted"
  fi
done
