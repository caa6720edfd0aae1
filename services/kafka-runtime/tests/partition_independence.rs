//! A partition whose handler cannot finish stops only itself: the others go on, and
//! `/metrics` shows which partition is stuck and for how long.

mod common;

use std::time::Duration;

use common::{key_for_partition, probe, produce};
use kafka_runtime::postgres::{PgHandler, PgProcessor};
use kafka_runtime::{HandlerError, Incoming, Outbox};
use shared_events::Message;
use sqlx::PgConnection;
use testkit::{eventually, Probe, ProbeHandler, RunningConsumer, TestBed};

/// The probe handler, except that a probe with a negative number fails transiently on
/// every attempt: its partition is stuck behind it.
struct StuckOnNegative(ProbeHandler);

impl PgHandler for StuckOnNegative {
    async fn handle(
        &self,
        message: &Incoming,
        tx: &mut PgConnection,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        if message.envelope.kind == Probe::TYPE && message.data::<Probe>()?.n < 0 {
            return Err(HandlerError::transient(anyhow::anyhow!("stuck on purpose")));
        }
        self.0.handle(message, tx, outbox).await
    }
}

/// A consumer of a 3-partition topic whose partition 0 is stuck on its first record:
/// the partition count, the consumer (each partition queues at most 16 records), the
/// topic, and a key of partition 0.
async fn stuck_on_partition_zero(bed: &TestBed) -> (i32, RunningConsumer, String, String) {
    let partitions = 3;
    let commands = bed.topic("probe.commands", partitions).await;
    let events = bed.topic("probe.events", partitions).await;
    let handler = StuckOnNegative(ProbeHandler::new("a", events));
    let processor = PgProcessor::new(bed.pool.clone(), bed.kafka.topics.clone(), handler);
    let consumer =
        RunningConsumer::start(&bed.kafka, "probe", "g", vec![commands.clone()], processor);
    let stuck = key_for_partition("stuck", 0, partitions);
    produce(bed, &commands, &stuck, &probe(-1).to_json()).await;
    (partitions, consumer, commands, stuck)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_partition_with_a_full_queue_does_not_stop_the_others_and_shows_its_lag() {
    let bed = TestBed::new().await;
    let (partitions, consumer, commands, stuck) = stuck_on_partition_zero(&bed).await;
    for n in 1..=40 {
        produce(&bed, &commands, &stuck, &probe(n).to_json()).await;
    }
    let retried = consumer.metrics.retried.with_label_values(&[&commands]);
    eventually(
        "the stuck partition is retrying",
        Duration::from_secs(60),
        || async { retried.get() >= 2 },
    )
    .await;
    // Give the poll loop time to fill the stuck partition's queue before the others get
    // anything: a loop that waits on a full queue stops here.
    tokio::time::sleep(Duration::from_secs(2)).await;

    for partition in 1..partitions {
        let key = key_for_partition("free", partition, partitions);
        for n in 0..10 {
            produce(
                &bed,
                &commands,
                &key,
                &probe(1000 * partition + n).to_json(),
            )
            .await;
        }
    }
    eventually(
        "the other partitions apply all of theirs",
        Duration::from_secs(30),
        || async { bed.effects().await.len() == 20 },
    )
    .await;
    assert!(
        bed.effects().await.iter().all(|(_, _, n)| *n >= 1000),
        "nothing behind the stuck record was applied"
    );
    // The stuck partition shows as lagging: 41 records not finished.
    let lag = consumer.metrics.lag.with_label_values(&[&commands, "0"]);
    eventually(
        "the stuck partition's lag is seen",
        Duration::from_secs(30),
        || async { lag.get() == 41 },
    )
    .await;
    consumer.stop().await;
}

/// The value `/metrics` shows for `consumer_oldest_unfinished_seconds` on one partition.
fn oldest_unfinished(consumer: &RunningConsumer, topic: &str, partition: i32) -> Option<f64> {
    let labels = [
        format!("partition=\"{partition}\""),
        format!("topic=\"{topic}\""),
    ];
    consumer
        .metrics
        .render()
        .lines()
        .filter(|line| line.starts_with("consumer_oldest_unfinished_seconds{"))
        .find(|line| labels.iter().all(|label| line.contains(label.as_str())))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_retrying_a_record_shows_its_age_growing_while_the_others_show_zero() {
    let bed = TestBed::new().await;
    let (partitions, consumer, commands, _) = stuck_on_partition_zero(&bed).await;
    for partition in 1..partitions {
        let key = key_for_partition("free", partition, partitions);
        produce(&bed, &commands, &key, &probe(partition).to_json()).await;
    }
    let retried = consumer.metrics.retried.with_label_values(&[&commands]);
    eventually(
        "the stuck partition retries and the others apply theirs",
        Duration::from_secs(60),
        || async { retried.get() >= 1 && bed.effects().await.len() == 2 },
    )
    .await;

    let first = oldest_unfinished(&consumer, &commands, 0).expect("partition 0 is shown");
    assert!(first > 0.0, "the stuck record's age: {first}");
    eventually(
        "the stuck record's age grows",
        Duration::from_secs(30),
        || async {
            oldest_unfinished(&consumer, &commands, 0).is_some_and(|age| age >= first + 1.0)
        },
    )
    .await;
    // Their records are applied; once their offsets are stored, nothing is in flight.
    eventually(
        "the other partitions show 0",
        Duration::from_secs(30),
        || async {
            (1..partitions).all(|p| oldest_unfinished(&consumer, &commands, p) == Some(0.0))
        },
    )
    .await;
    let still = oldest_unfinished(&consumer, &commands, 0).expect("partition 0 is shown");
    assert!(
        still >= first + 1.0,
        "the stuck record is still unfinished: {still}"
    );
    consumer.stop().await;
}
