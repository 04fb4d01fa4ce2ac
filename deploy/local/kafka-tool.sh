#!/usr/bin/env bash
# Run a Kafka command-line tool from the jars that up.sh fetched, against the
# local broker (--bootstrap-server 127.0.0.1:$CHAT_KAFKA_PORT is added when absent).
#
#   kafka-tool.sh topics --list
#   kafka-tool.sh topics --create --topic t --partitions 3 --replication-factor 1
#   kafka-tool.sh topics --describe --topic t
#   kafka-tool.sh consumer-groups --describe --all-groups
#   kafka-tool.sh console-producer --topic t
#   kafka-tool.sh console-consumer --topic t --from-beginning --max-messages 1
#   kafka-tool.sh metadata-quorum describe --status
#   kafka-tool.sh get-offsets --topic t
#   kafka-tool.sh some.fully.qualified.MainClass ARGS...
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

(($#)) && [[ "$1" != -h && "$1" != --help ]] || { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ -f "$KAFKA_LIB/.complete" ]] || die "Kafka $CHAT_KAFKA_VERSION jars not found in $KAFKA_LIB: run deploy/local/up.sh kafka first"

tool="$1"; shift
bootstrap=1
case "$tool" in
  topics) cls=org.apache.kafka.tools.TopicCommand ;;
  consumer-groups) cls=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
  console-producer) cls=org.apache.kafka.tools.ConsoleProducer ;;
  console-consumer) cls=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
  metadata-quorum) cls=org.apache.kafka.tools.MetadataQuorumCommand ;;
  get-offsets) cls=org.apache.kafka.tools.GetOffsetShell ;;
  delete-records) cls=org.apache.kafka.tools.DeleteRecordsCommand ;;
  storage) cls=kafka.tools.StorageTool; bootstrap=0 ;;
  *.*) cls="$tool"; bootstrap=0 ;;
  *) die "unknown tool '$tool' (see --help)" ;;
esac
if ((bootstrap)) && [[ " $* " != *" --bootstrap-server "* && " $* " != *" --bootstrap-controller "* ]]; then
  set -- --bootstrap-server "127.0.0.1:$CHAT_KAFKA_PORT" "$@"
fi
kafka_java "$cls" "$@"
