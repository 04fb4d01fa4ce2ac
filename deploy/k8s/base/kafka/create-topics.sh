#!/bin/sh
# The Job chat-kafka-topics (image apache/kafka): creates the commands and events
# topics and their dead-letter topics (CHAT_COMMANDS_TOPIC.dead, where the writer
# parks poison commands; CHAT_EVENTS_TOPIC.dead, where fanout puts cache updates
# it gave up on) with CHAT_PARTITIONS partitions, TOPIC_REPLICATION_FACTOR replicas and
# min.insync.replicas=TOPIC_MIN_INSYNC_REPLICAS (acks=all then means that many
# copies), then checks that existing topics have the configured partition count.
# Idempotent: run it again at any time.
set -eu
kt=/opt/kafka/bin/kafka-topics.sh
for t in "$CHAT_COMMANDS_TOPIC" "$CHAT_COMMANDS_TOPIC.dead" "$CHAT_EVENTS_TOPIC" "$CHAT_EVENTS_TOPIC.dead"; do
    "$kt" --bootstrap-server "$CHAT_KAFKA_BROKERS" --create --if-not-exists \
        --topic "$t" --partitions "$CHAT_PARTITIONS" \
        --replication-factor "$TOPIC_REPLICATION_FACTOR" \
        --config min.insync.replicas="$TOPIC_MIN_INSYNC_REPLICAS"
    n=$("$kt" --bootstrap-server "$CHAT_KAFKA_BROKERS" --describe --topic "$t" |
        sed -n 's/.*PartitionCount: *\([0-9][0-9]*\).*/\1/p' | head -n 1)
    if [ "$n" != "$CHAT_PARTITIONS" ]; then
        echo "topic $t has ${n:-no} partitions but CHAT_PARTITIONS is $CHAT_PARTITIONS." >&2
        echo "A chat's partition is FNV-1a(chat id) mod the count: changing it moves chats" >&2
        echo "between writers. See docs/operations.md, 'Partitions', before changing either." >&2
        exit 1
    fi
    echo "topic $t: $n partitions"
done
