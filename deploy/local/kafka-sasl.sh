#!/usr/bin/env bash
# Users and ACLs on the local broker's SASL/SCRAM listener (127.0.0.1:$CHAT_KAFKA_SASL_PORT,
# 9094 by default), where the broker enforces ACLs: each role gets only what it needs.
#
#   kafka-sasl.sh users
#       SCRAM-SHA-512 credentials for chat-gateway, chat-writer and chat-fanout
#       (passwords: CHAT_KAFKA_SASL_PASSWORD_GATEWAY / _WRITER / _FANOUT, default
#       gateway-secret, writer-secret, fanout-secret).
#   kafka-sasl.sh grant COMMANDS_TOPIC EVENTS_TOPIC
#       the ACLs of one deployment's topics:
#         chat-gateway  write COMMANDS
#         chat-writer   read COMMANDS (groups writer.*), write EVENTS and COMMANDS.dead
#         chat-fanout   read EVENTS (groups fanout.*), write EVENTS.dead
#       so only gateways produce commands and only writers produce events.
#   kafka-sasl.sh acls
#       lists every ACL.
#
# Idempotent. The PLAINTEXT listener (9092) stays open to everything: its clients
# are the ANONYMOUS super user (development, tests, this script).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

(($#)) && [[ "$1" != -h && "$1" != --help ]] || { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ -f "$KAFKA_LIB/.complete" ]] || die "Kafka $CHAT_KAFKA_VERSION jars not found in $KAFKA_LIB: run deploy/local/up.sh kafka first"
BOOTSTRAP="127.0.0.1:$CHAT_KAFKA_PORT"
export KAFKA_TOOL_TIMEOUT="${KAFKA_TOOL_TIMEOUT:-60}"

# user NAME PASSWORD: creates or replaces NAME's SCRAM-SHA-512 credential.
user() {
  kafka_java kafka.admin.ConfigCommand --bootstrap-server "$BOOTSTRAP" --alter \
    --entity-type users --entity-name "$1" \
    --add-config "SCRAM-SHA-512=[iterations=4096,password=$2]" >/dev/null
}

# allow PRINCIPAL ACL-ARGS...: adds ACLs for User:PRINCIPAL.
allow() {
  local who="$1"; shift
  kafka_java org.apache.kafka.tools.AclCommand --bootstrap-server "$BOOTSTRAP" --add \
    --allow-principal "User:$who" "$@" >/dev/null
}

# Background jobs started since the last `joined`; `joined` waits for them and
# fails when any failed.
jobs_started=()
started() { jobs_started+=("$!"); }
joined() {
  local p
  for p in "${jobs_started[@]}"; do wait "$p"; done
  jobs_started=()
}

case "$1" in
  users)
    # Two JVMs at a time: each tool run is mostly start-up.
    user chat-gateway "${CHAT_KAFKA_SASL_PASSWORD_GATEWAY:-gateway-secret}" & started
    user chat-writer "${CHAT_KAFKA_SASL_PASSWORD_WRITER:-writer-secret}" & started
    joined
    user chat-fanout "${CHAT_KAFKA_SASL_PASSWORD_FANOUT:-fanout-secret}"
    log "kafka: SCRAM-SHA-512 users chat-gateway, chat-writer, chat-fanout on 127.0.0.1:$CHAT_KAFKA_SASL_PORT"
    ;;
  grant)
    (($# == 3)) || die "usage: kafka-sasl.sh grant COMMANDS_TOPIC EVENTS_TOPIC"
    commands="$2" events="$3"
    allow chat-gateway --producer --topic "$commands" & started
    allow chat-writer --operation Read --operation Describe --topic "$commands" & started
    joined
    allow chat-writer --operation Read --group writer. --resource-pattern-type prefixed & started
    allow chat-writer --producer --topic "$events" --topic "$commands.dead" & started
    joined
    allow chat-fanout --operation Read --operation Describe --topic "$events" & started
    allow chat-fanout --operation Read --group fanout. --resource-pattern-type prefixed & started
    joined
    allow chat-fanout --producer --topic "$events.dead"
    log "kafka: ACLs granted on $commands and $events"
    ;;
  acls)
    kafka_java org.apache.kafka.tools.AclCommand --bootstrap-server "$BOOTSTRAP" --list
    ;;
  *) die "unknown command '$1' (see --help)" ;;
esac
