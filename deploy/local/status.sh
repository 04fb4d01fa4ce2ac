#!/usr/bin/env bash
# One line per local service: running/stopped, address, pid.
# Exit status: 0 when every listed service runs, 3 otherwise.
#
#   status.sh [SERVICE...]   SERVICE: kafka shard0 shard1 mysql redis all (default: all)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

case "${1:-}" in
  -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
parse_services "$@"

rc=0
for s in "${SERVICES[@]}"; do
  port=$(service_port "$s")
  case "$s" in
    kafka) what="Kafka $CHAT_KAFKA_VERSION (controller 127.0.0.1:$CHAT_KAFKA_CONTROLLER_PORT)" ;;
    shard*) what="MariaDB" ;;
    redis) what="Redis" ;;
  esac
  if pid=$(service_pid "$s"); then
    if port_open "$port"; then state=running; else state=starting; rc=3; fi
    printf '%-7s %-8s 127.0.0.1:%-5s pid %-7s %s\n' "$s" "$state" "$port" "$pid" "$what"
  else
    rc=3
    note=""
    port_open "$port" && note=" (port in use by another process)"
    printf '%-7s %-8s 127.0.0.1:%-5s %-11s %s%s\n' "$s" stopped "$port" "" "$what" "$note"
  fi
done
exit "$rc"
