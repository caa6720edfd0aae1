//! Reading every partition of a topic without a consumer group, so that every process
//! sees every message: how gateways read replies and learn auth's public keys.
//!
//! No group means no rebalance can pause the reader, and no committed offsets: a reader
//! starts at the beginning of the topic, at its end, or at the first message of a
//! recent time, as its caller asks.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message as _, Offset, TopicPartitionList};
use shared_events::{Envelope, Message, RawEnvelope};
use tokio_util::sync::CancellationToken;

use crate::config::KafkaConfig;

/// Where a reader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The oldest message still kept: for state rebuilt from the topic.
    Beginning,
    /// The end as it is now: for messages produced after the reader started.
    End,
    /// The first message written this long ago or later (by the broker's timestamps):
    /// for recent history, such as the outcomes of the last hour.
    Since(Duration),
}

/// A reader running in the background until its shutdown token is cancelled. Await
/// [`Reader::finished`] (a [`Service`](crate::service::Service) does, once it is given
/// the reader with `adopt`) to know it has stopped and closed its consumer.
#[must_use = "a reader should be awaited at shutdown: give it to Service::adopt"]
pub struct Reader(tokio::task::JoinHandle<()>);

impl Reader {
    /// Resolves once the reader has stopped and closed its consumer.
    pub async fn finished(self) {
        if let Err(err) = self.0.await {
            tracing::warn!(error = %err, "a topic reader ended abnormally");
        }
    }
}

/// Assigns every partition of `topic` and hands each message whose envelope carries a
/// `T` (its `type` is `T::TYPE`) to `each`, until `shutdown`. Returns once the
/// partitions are assigned; messages that do not parse are logged and skipped, since
/// they are not this reader's to fix.
pub async fn follow<T, F>(
    kafka: &KafkaConfig,
    topic: &str,
    start: Start,
    shutdown: CancellationToken,
    mut each: F,
) -> anyhow::Result<Reader>
where
    T: Message,
    F: FnMut(Envelope<T>) + Send + 'static,
{
    follow_keyed(kafka, topic, start, shutdown, move |keyed| {
        if let Keyed::Message(envelope) = keyed {
            each(envelope)
        }
    })
    .await
}

/// What a compacted topic holds under a key: a message, or a tombstone (a null value)
/// that deletes the key.
#[derive(Debug)]
pub enum Keyed<T> {
    /// A message of the followed type.
    Message(Envelope<T>),
    /// A tombstone under this key (its bytes as UTF-8, lossily).
    Tombstone(String),
}

/// [`follow`] for a compacted topic, whose tombstones mean something: every message of
/// type `T` and every tombstone, in each partition's order.
pub async fn follow_keyed<T, F>(
    kafka: &KafkaConfig,
    topic: &str,
    start: Start,
    shutdown: CancellationToken,
    mut each: F,
) -> anyhow::Result<Reader>
where
    T: Message,
    F: FnMut(Keyed<T>) + Send + 'static,
{
    let name = topic.to_string();
    follow_records(kafka, topic, start, shutdown, move |key, envelope| {
        let Some(envelope) = envelope else {
            match key {
                Some(key) => each(Keyed::Tombstone(String::from_utf8_lossy(key).into_owned())),
                None => tracing::warn!(topic = %name, "tombstone without a key skipped"),
            }
            return;
        };
        // Other types share the topic; they are not this reader's business.
        if envelope.kind != T::TYPE {
            return;
        }
        match envelope.typed::<T>() {
            Ok(envelope) => each(Keyed::Message(envelope)),
            Err(err) => tracing::warn!(error = %err, topic = %name, "unreadable message skipped"),
        }
    })
    .await
}

/// [`follow`] for a reader of several types on one topic: every envelope, `data` still
/// raw, with one consumer. Tombstones are skipped.
pub async fn follow_envelopes<F>(
    kafka: &KafkaConfig,
    topic: &str,
    start: Start,
    shutdown: CancellationToken,
    mut each: F,
) -> anyhow::Result<Reader>
where
    F: FnMut(RawEnvelope) + Send + 'static,
{
    follow_records(kafka, topic, start, shutdown, move |_, envelope| {
        if let Some(envelope) = envelope {
            each(envelope)
        }
    })
    .await
}

/// Every record: its key, and its envelope or `None` for a tombstone. Records whose
/// value is not an envelope are logged and skipped.
async fn follow_records<F>(
    kafka: &KafkaConfig,
    topic: &str,
    start: Start,
    shutdown: CancellationToken,
    mut each: F,
) -> anyhow::Result<Reader>
where
    F: FnMut(Option<&[u8]>, Option<RawEnvelope>) + Send + 'static,
{
    let group = format!("{}follow-{}", kafka.topics.prefix(), uuid::Uuid::new_v4());
    let consumer: StreamConsumer = kafka
        .client_config(&[
            ("group.id", &group),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
        ])
        .create()?;
    let consumer = Arc::new(consumer);
    let assigning = {
        let (consumer, topic) = (consumer.clone(), topic.to_string());
        tokio::task::spawn_blocking(move || assign_all(&consumer, &topic, start))
    };
    assigning.await??;
    let cutoff = match start {
        Start::Since(ago) => Some(unix_millis(std::time::SystemTime::now() - ago)?),
        _ => None,
    };
    let topic = topic.to_string();
    let reading = tokio::spawn(async move {
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => break,
                received = consumer.recv() => received,
            };
            let message = match received {
                Ok(message) => message,
                Err(err) => {
                    // Outage events: librdkafka reconnects by itself (see consumer.rs).
                    tracing::warn!(error = %err, %topic, "reader error");
                    continue;
                }
            };
            let Some(payload) = message.payload() else {
                each(message.key(), None);
                continue;
            };
            let written = message.timestamp().to_millis();
            if cutoff.zip(written).is_some_and(|(cutoff, at)| at < cutoff) {
                continue;
            }
            match RawEnvelope::parse(payload) {
                Ok(envelope) => each(message.key(), Some(envelope)),
                Err(err) => {
                    tracing::warn!(error = %err, %topic, offset = message.offset(), "unreadable message skipped")
                }
            }
        }
        // Dropping a consumer blocks while librdkafka closes it.
        let _ = tokio::task::spawn_blocking(move || drop(consumer)).await;
    });
    Ok(Reader(reading))
}

/// Assigns every partition of `topic` to `consumer`, from `start`, without a group.
pub(crate) fn assign_all(
    consumer: &StreamConsumer,
    topic: &str,
    start: Start,
) -> anyhow::Result<()> {
    let timeout = Duration::from_secs(10);
    let metadata = while_leaderless(timeout, || consumer.fetch_metadata(Some(topic), timeout))?;
    let partitions = metadata
        .topics()
        .first()
        .map(|t| t.partitions().len() as i32)
        .filter(|n| *n > 0)
        .ok_or_else(|| anyhow::anyhow!("topic {topic} has no partitions; run topics.sh"))?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        let offset = match start {
            Start::Beginning => Offset::Beginning,
            Start::End | Start::Since(_) => {
                let (_, end) = while_leaderless(timeout, || {
                    consumer.fetch_watermarks(topic, partition, timeout)
                })?;
                Offset::Offset(end)
            }
        };
        assignment.add_partition_offset(topic, partition, offset)?;
    }
    if let Start::Since(ago) = start {
        assignment = since(consumer, assignment, ago, timeout)?;
    }
    consumer.assign(&assignment)?;
    Ok(())
}

/// Asks again, for up to `patience`, while the broker answers that a partition has no
/// leader yet: a topic created a moment ago, or leadership moving. Giving up at once made
/// a process that started right after its topics were created exit.
fn while_leaderless<T>(
    patience: Duration,
    mut ask: impl FnMut() -> KafkaResult<T>,
) -> KafkaResult<T> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        match ask() {
            Err(err) if leaderless(&err) && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            answer => return answer,
        }
    }
}

fn leaderless(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::UnknownTopicOrPartition
        )
    )
}

/// `ends` (each partition at its end) moved back to the first message written `ago` or
/// later, as the broker finds it. Some brokers answer offset 0 for a time past their
/// last message, so the reader also skips messages older than `ago`.
fn since(
    consumer: &StreamConsumer,
    ends: TopicPartitionList,
    ago: Duration,
    timeout: Duration,
) -> anyhow::Result<TopicPartitionList> {
    let millis = unix_millis(std::time::SystemTime::now() - ago)?;
    let mut query = TopicPartitionList::new();
    for element in ends.elements() {
        query.add_partition_offset(element.topic(), element.partition(), Offset::Offset(millis))?;
    }
    let found = consumer.offsets_for_times(query, timeout)?;
    let mut assignment = TopicPartitionList::new();
    for end in ends.elements() {
        let end_offset = match end.offset() {
            Offset::Offset(n) => n,
            _ => 0,
        };
        let offset = match found
            .find_partition(end.topic(), end.partition())
            .map(|f| f.offset())
        {
            Some(Offset::Offset(n)) if (0..end_offset).contains(&n) => n,
            _ => end_offset,
        };
        assignment.add_partition_offset(end.topic(), end.partition(), Offset::Offset(offset))?;
    }
    Ok(assignment)
}

fn unix_millis(at: std::time::SystemTime) -> anyhow::Result<i64> {
    Ok(i64::try_from(
        at.duration_since(std::time::UNIX_EPOCH)?.as_millis(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_without_a_leader_yet_is_asked_again_and_anything_else_is_not() {
        let no_leader = || KafkaError::MetadataFetch(RDKafkaErrorCode::NotLeaderForPartition);
        let mut asked = 0;
        let answer = while_leaderless(Duration::from_secs(5), || {
            asked += 1;
            if asked < 3 {
                Err(no_leader())
            } else {
                Ok(asked)
            }
        });
        assert_eq!(answer.ok(), Some(3));

        let mut asked = 0;
        let refused = while_leaderless(Duration::from_secs(5), || -> KafkaResult<()> {
            asked += 1;
            Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::TopicAuthorizationFailed,
            ))
        });
        assert!(refused.is_err());
        assert_eq!(asked, 1);

        let gave_up = while_leaderless(Duration::ZERO, || -> KafkaResult<()> { Err(no_leader()) });
        assert!(gave_up.is_err());
    }
}
