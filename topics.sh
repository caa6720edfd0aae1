#!/usr/bin/env bash
# Creates every topic of the platform (docs/messages.md), idempotently, on Apache Kafka:
# the one ./dev runs, or any other (docker-compose.kafka.yml runs this with kafka-topics.sh).
#
#   KAFKA_BROKERS        bootstrap servers (default 127.0.0.1:9092)
#   KAFKA_TOPIC_PREFIX   prepended to every name (default empty)
#   TOPIC_PARTITIONS     partitions per topic (default 6)
#   TOPIC_REPLICATION    replication factor (default 1)
#   KAFKA_TOPICS         Apache Kafka's kafka-topics (kafka-topics.sh found on PATH if unset)
#   KAFKA_TOOL           otherwise, the project's kafka-tool (default: cargo run it), which
#                        ./dev uses: one process for all topics, not a JVM per topic
set -euo pipefail

BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
PREFIX="${KAFKA_TOPIC_PREFIX:-}"
PARTITIONS="${TOPIC_PARTITIONS:-6}"
REPLICATION="${TOPIC_REPLICATION:-1}"
# Commands, events, dead letters: kept for replay, forever.
LONG=-1
SHORT=3600000    # queries and replies: one hour
COMPACT=compact  # auth.keys: the latest public key per key id, forever

# name                retention
TOPICS="
auth.commands         $LONG
catalog.commands      $LONG
inventory.commands    $LONG
order.commands        $LONG
cart.commands         $LONG
auth.events           $LONG
catalog.events        $LONG
inventory.events      $LONG
order.events          $LONG
payment.events        $LONG
auth.queries          $SHORT
catalog.queries       $SHORT
inventory.queries     $SHORT
order.queries         $SHORT
payment.queries       $SHORT
cart.queries          $SHORT
gateway.replies       $SHORT
auth.keys             $COMPACT
gateway.dlq           $LONG
auth.dlq              $LONG
catalog.dlq           $LONG
order.dlq             $LONG
inventory.dlq         $LONG
payment.dlq           $LONG
cart.dlq              $LONG
"

KAFKA_TOPICS="${KAFKA_TOPICS:-$(command -v kafka-topics.sh || true)}"

create() {
  local name="$1" retention="$2" policy=delete
  if [[ "$retention" == "$COMPACT" ]]; then
    retention=$LONG
    policy=compact
  fi
  if [[ -n "$KAFKA_TOPICS" ]]; then
    "$KAFKA_TOPICS" --bootstrap-server "$BROKERS" --create --if-not-exists --topic "$name" \
      --partitions "$PARTITIONS" --replication-factor "$REPLICATION" \
      --config "retention.ms=$retention" --config "cleanup.policy=$policy"
  else
    local compact=()
    [[ "$policy" == compact ]] && compact=(--compact)
    # shellcheck disable=SC2086 # KAFKA_TOOL may be a command with arguments
    ${KAFKA_TOOL:-cargo run -q --release -p kafka-runtime --bin kafka-tool --} create-topic "$name" \
      --partitions "$PARTITIONS" --replication "$REPLICATION" --retention-ms "$retention" "${compact[@]}"
  fi
}

count=0
while read -r name retention; do
  [[ -z "$name" ]] && continue
  create "$PREFIX$name" "$retention"
  count=$((count + 1))
done <<<"$TOPICS"
echo "topics.sh: $count topics present (prefix '${PREFIX}', $PARTITIONS partitions)"
