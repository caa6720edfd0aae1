#!/usr/bin/env bash
# Creates every topic of the platform (docs/messages.md), idempotently, on Apache Kafka:
# the one ./dev runs, or any other (docker-compose.kafka.yml runs this with kafka-topics.sh).
#
#   KAFKA_BROKERS        bootstrap servers (default 127.0.0.1:9092)
#   KAFKA_TOPIC_PREFIX   prepended to every name (default empty)
#   TOPIC_PARTITIONS     partitions per topic (default 6)
#   TOPIC_REPLICATION_FACTOR   copies of each partition (default 1; a cluster of three: 3)
#   TOPIC_MIN_INSYNC_REPLICAS  copies that must have a record before it is acknowledged
#                        (min.insync.replicas; default: the broker's; a cluster of three: 2)
#   KAFKA_TOPICS         Apache Kafka's kafka-topics (kafka-topics.sh found on PATH if unset)
#   KAFKA_TOOL           otherwise, the project's kafka-tool (default: cargo run it), which
#                        ./dev uses: one process for all topics, not a JVM per topic
set -euo pipefail

BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
PREFIX="${KAFKA_TOPIC_PREFIX:-}"
PARTITIONS="${TOPIC_PARTITIONS:-6}"
REPLICATION="${TOPIC_REPLICATION_FACTOR:-1}"
MIN_INSYNC="${TOPIC_MIN_INSYNC_REPLICAS:-}"
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
    local min_insync=()
    [[ -n "$MIN_INSYNC" ]] && min_insync=(--config "min.insync.replicas=$MIN_INSYNC")
    "$KAFKA_TOPICS" --bootstrap-server "$BROKERS" --create --if-not-exists --topic "$name" \
      --partitions "$PARTITIONS" --replication-factor "$REPLICATION" \
      --config "retention.ms=$retention" --config "cleanup.policy=$policy" "${min_insync[@]}"
  else
    local args=()
    [[ "$policy" == compact ]] && args+=(--compact)
    [[ -n "$MIN_INSYNC" ]] && args+=(--min-insync-replicas "$MIN_INSYNC")
    # shellcheck disable=SC2086 # KAFKA_TOOL may be a command with arguments
    ${KAFKA_TOOL:-cargo run -q --release -p kafka-runtime --bin kafka-tool --} create-topic "$name" \
      --partitions "$PARTITIONS" --replication "$REPLICATION" --retention-ms "$retention" "${args[@]}"
  fi
}

count=0
while read -r name retention; do
  [[ -z "$name" ]] && continue
  # A cluster's brokers register one by one as they start: until as many as the
  # replication factor have, creating a topic fails. The first topic waits for them.
  attempt=1
  until create "$PREFIX$name" "$retention"; do
    ((count == 0 && attempt < 30)) || exit 1
    echo "topics.sh: $name not created (fewer than $REPLICATION brokers yet?); again in 2 s"
    attempt=$((attempt + 1))
    sleep 2
  done
  count=$((count + 1))
done <<<"$TOPICS"
echo "topics.sh: $count topics present (prefix '${PREFIX}', $PARTITIONS partitions, $REPLICATION copies each, min.insync.replicas ${MIN_INSYNC:-as the broker sets it})"
