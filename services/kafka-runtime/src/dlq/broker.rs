//! The half of the DLQ tools that talks to the broker: read a DLQ to its end, produce
//! dead letters again and write their markers.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::{Message as _, Offset, TopicPartitionList};
use uuid::Uuid;

use super::{
    listing, marker_value, plan, DlqRecord, Entry, Listed, Position, Slot, REDRIVEN_OFFSET,
    REDRIVEN_PARTITION, REDRIVEN_TO,
};
use crate::config::KafkaConfig;
use crate::producer::Publisher;

/// Reads every record of `topic` up to the high watermark each partition had when the
/// read began, so it ends even while records are being added; gives up after `timeout`.
pub async fn read_all(
    kafka: &KafkaConfig,
    topic: &str,
    timeout: Duration,
) -> anyhow::Result<Vec<DlqRecord>> {
    let (kafka, topic) = (kafka.clone(), topic.to_string());
    tokio::task::spawn_blocking(move || read_all_blocking(&kafka, &topic, timeout)).await?
}

fn read_all_blocking(
    kafka: &KafkaConfig,
    topic: &str,
    timeout: Duration,
) -> anyhow::Result<Vec<DlqRecord>> {
    let deadline = Instant::now() + timeout;
    // Partitions are assigned, not subscribed: no group is joined and nothing committed.
    let consumer: BaseConsumer = kafka
        .client_config(&[
            ("group.id", "kafka-tool-dlq"),
            ("enable.auto.commit", "false"),
        ])
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        bail!("the broker does not know the topic {topic}");
    };
    if let Some(err) = found.error() {
        bail!(
            "the topic {topic}: {}",
            rdkafka::error::RDKafkaErrorCode::from(err)
        );
    }
    let mut assignment = TopicPartitionList::new();
    let mut ends: HashMap<i32, i64> = HashMap::new();
    for partition in found.partitions() {
        let (low, high) = consumer.fetch_watermarks(topic, partition.id(), timeout)?;
        if high > low {
            assignment.add_partition_offset(topic, partition.id(), Offset::Offset(low))?;
            ends.insert(partition.id(), high);
        }
    }
    let mut records = Vec::new();
    if ends.is_empty() {
        return Ok(records);
    }
    consumer.assign(&assignment)?;
    let mut unfinished: HashSet<i32> = ends.keys().copied().collect();
    let mut last_error = None;
    while !unfinished.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let cause = last_error.map(|err| format!(" (last error: {err})"));
            bail!(
                "read {} records of {topic} in {timeout:?} without reaching the end of partitions {unfinished:?}{}",
                records.len(),
                cause.unwrap_or_default()
            );
        }
        let message = match consumer.poll(left.min(Duration::from_millis(500))) {
            None => continue,
            Some(Err(err)) => {
                tracing::debug!(error = %err, "DLQ read error; reading on");
                last_error = Some(err);
                continue;
            }
            Some(Ok(message)) => message,
        };
        let partition = message.partition();
        if message.offset() + 1 >= ends.get(&partition).copied().unwrap_or(0) {
            unfinished.remove(&partition);
        }
        if message.offset() >= ends.get(&partition).copied().unwrap_or(0) {
            continue; // written after the read began
        }
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        records.push(DlqRecord {
            slot: Slot {
                partition,
                offset: message.offset(),
            },
            timestamp_ms: message.timestamp().to_millis(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers,
        });
    }
    records.sort_by_key(|r| (r.timestamp_ms, r.slot));
    Ok(records)
}

/// How long reading a DLQ may take before the tools give up.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Every dead letter of the DLQ `topic`, oldest first, with its status.
pub async fn list(kafka: &KafkaConfig, topic: &str) -> anyhow::Result<Vec<Listed>> {
    let records = read_all(kafka, topic, READ_TIMEOUT).await?;
    Ok(listing(records.into_iter().map(Entry::parse).collect()))
}

/// What a re-drive did.
#[derive(Debug, Default)]
pub struct Redrive {
    /// Each message produced again: its envelope id, `type`, and where it went.
    pub sent: Vec<(Uuid, String, Position)>,
    /// Selected dead letters skipped because they were re-driven before.
    pub already: usize,
    /// Selected dead letters that cannot be re-driven (not an envelope, or no source).
    pub cannot: usize,
}

/// Produces the pending dead letters of the DLQ `topic` (all, or those with the envelope
/// id `only`) again to their source topics, each as it was, then marks each re-driven
/// in the DLQ. Fails when `only` names no dead letter at all.
pub async fn redrive(
    kafka: &KafkaConfig,
    publisher: &Publisher,
    topic: &str,
    only: Option<Uuid>,
) -> anyhow::Result<Redrive> {
    let listed = list(kafka, topic).await?;
    if let Some(id) = only {
        if !listed.iter().any(|l| l.dead_letter.id() == Some(id)) {
            bail!("no dead letter in {topic} has the envelope id {id}");
        }
    }
    let plan = plan(&listed, only);
    let mut done = Redrive {
        already: plan.already.len(),
        cannot: plan.cannot.len(),
        ..Redrive::default()
    };
    for (letter, slots) in plan.send {
        let (Some((id, kind)), Some(source)) = (&letter.envelope, &letter.source) else {
            continue; // pending means both are known
        };
        let key = letter.record.key.as_deref().unwrap_or_default();
        let (partition, offset) = publisher
            .send_raw(
                &source.topic,
                key,
                &letter.record.payload,
                letter.original_headers(),
            )
            .await
            .with_context(|| format!("re-driving {id} to {}", source.topic))?;
        let to = Position {
            topic: source.topic.clone(),
            slot: Slot { partition, offset },
        };
        let to_text = to.to_string();
        for slot in slots {
            let (partition, offset) = (slot.partition.to_string(), slot.offset.to_string());
            let headers = OwnedHeaders::new_with_capacity(3)
                .insert(Header {
                    key: REDRIVEN_PARTITION,
                    value: Some(&partition),
                })
                .insert(Header {
                    key: REDRIVEN_OFFSET,
                    value: Some(&offset),
                })
                .insert(Header {
                    key: REDRIVEN_TO,
                    value: Some(&to_text),
                });
            publisher
                .send_raw(topic, key, &marker_value(*id, slot, &to_text), headers)
                .await
                .with_context(|| format!("marking {id} re-driven in {topic}"))?;
        }
        done.sent.push((*id, kind.clone(), to));
    }
    Ok(done)
}
