//! The one producer of a process: idempotent, acks=all, bounded delivery time.

use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;

use crate::config::KafkaConfig;
use crate::message::Outgoing;

/// Why a message was not acknowledged.
#[derive(Debug, thiserror::Error)]
// The cause is in the message, not a `source`: logs that print the chain would repeat it.
#[error("the broker did not acknowledge the message: {0}")]
pub struct PublishError(pub rdkafka::error::KafkaError);

impl From<rdkafka::error::KafkaError> for PublishError {
    fn from(err: rdkafka::error::KafkaError) -> Self {
        Self(err)
    }
}

/// Sends messages and waits for the broker's acknowledgement (acks=all, idempotent).
#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
    /// How long a send waits for its acknowledgement before it counts as not taken.
    deadline: Duration,
}

/// How much longer than `KAFKA_SEND_TIMEOUT_MS` a send may take before it counts as not
/// acknowledged. librdkafka does not always keep its message timeout: when a partition's
/// leader dies, a message waiting for the next one was seen failing only once leadership
/// had moved, 11 s after it was sent with a 4 s timeout.
const SEND_GRACE: Duration = Duration::from_secs(1);

impl Publisher {
    /// A producer for the configured brokers. Linger and batching may be tuned through
    /// `RDKAFKA_LINGER_MS` and friends.
    pub fn new(kafka: &KafkaConfig) -> Result<Self, PublishError> {
        let timeout = kafka.send_timeout.as_millis().to_string();
        let producer = kafka
            .producer_config(&[
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("linger.ms", "2"),
                // The Java client's partitioner: a key replayed with
                // kafka-console-producer lands on the partition the services chose.
                ("partitioner", "murmur2_random"),
                ("message.timeout.ms", &timeout),
                ("socket.timeout.ms", &timeout),
            ])
            .create()?;
        Ok(Self {
            producer,
            deadline: kafka.send_timeout + SEND_GRACE,
        })
    }

    /// Produces one outgoing message and waits until it is durable on the broker, at most
    /// `KAFKA_SEND_TIMEOUT_MS` and a second.
    pub async fn send(&self, message: &Outgoing) -> Result<(), PublishError> {
        let id = message.id.to_string();
        let mut headers = OwnedHeaders::new_with_capacity(3)
            .insert(Header {
                key: "type",
                value: Some(message.kind.as_bytes()),
            })
            .insert(Header {
                key: "id",
                value: Some(id.as_bytes()),
            });
        if let Some(trace) = &message.traceparent {
            headers = headers.insert(Header {
                key: "traceparent",
                value: Some(trace.as_bytes()),
            });
        }
        self.send_raw(
            &message.topic,
            message.key.as_bytes(),
            &message.payload,
            headers,
        )
        .await
        .map(|_| ())
    }

    /// Produces raw bytes with the given headers; returns the partition and offset.
    pub async fn send_raw(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: OwnedHeaders,
    ) -> Result<(i32, i64), PublishError> {
        let record = FutureRecord::to(topic)
            .key(key)
            .payload(payload)
            .headers(headers);
        self.deliver(record).await
    }

    /// Produces a tombstone (a null value) under `key`: on a compacted topic it deletes
    /// the key. Returns the partition and offset.
    pub async fn send_tombstone(
        &self,
        topic: &str,
        key: &[u8],
    ) -> Result<(i32, i64), PublishError> {
        self.deliver(FutureRecord::to(topic).key(key)).await
    }

    /// Sends a record and waits for its acknowledgement; its partition and offset.
    async fn deliver(
        &self,
        record: FutureRecord<'_, [u8], [u8]>,
    ) -> Result<(i32, i64), PublishError> {
        // The queue wait is bounded too: a full local queue means the broker is away.
        // Unacknowledged is not unwritten: a record the broker acknowledges after the
        // deadline is still read (its readers' inboxes drop a retried copy).
        let delivery = self
            .producer
            .send(record, Timeout::After(Duration::from_secs(5)));
        match tokio::time::timeout(self.deadline, delivery).await {
            Ok(delivered) => delivered
                .map(|d| (d.partition, d.offset))
                .map_err(|(err, _)| PublishError(err)),
            Err(_) => Err(PublishError(KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut,
            ))),
        }
    }

    /// Waits for every queued message to be delivered, up to `timeout`, on a blocking
    /// thread: librdkafka's flush blocks.
    pub async fn flush(&self, timeout: Duration) {
        let producer = self.producer.clone();
        let flushed = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
        if let Ok(Err(err)) = flushed {
            tracing::warn!(error = %err, "producer flush did not finish");
        }
    }

    /// Asks the broker for cluster metadata: the readiness check.
    pub async fn ping(&self) -> Result<(), String> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, Duration::from_secs(2))
                .map(|_| ())
                .map_err(|err| format!("broker unreachable: {err}"))
        })
        .await
        .map_err(|err| err.to_string())?
    }
}
