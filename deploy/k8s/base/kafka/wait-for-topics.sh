#!/bin/sh
# Init container of every role (image apache/kafka): waits until the Job
# chat-kafka-topics has created both topics, so that no role creates them itself
# (a role creates missing topics at start-up with replication factor 1).
set -eu
for t in "$CHAT_COMMANDS_TOPIC" "$CHAT_EVENTS_TOPIC"; do
    until /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$CHAT_KAFKA_BROKERS" \
        --describe --topic "$t" >/dev/null 2>&1; do
        echo "waiting for Kafka topic $t (created by the Job chat-kafka-topics)"
        sleep 5
    done
    echo "topic $t exists"
done
