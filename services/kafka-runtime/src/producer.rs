//! The one producer of a process: idempotent, acks=all, bounded delivery time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use tokio::sync::oneshot;

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
    producer: Arc<BaseProducer<Acks>>,
    /// How long a send waits for its acknowledgement before it counts as not taken.
    deadline: Duration,
}

/// Where one acknowledgement (partition and offset) or failure goes.
type Ack = oneshot::Sender<Result<(i32, i64), KafkaError>>;

/// Hands each delivery report to the send waiting for it.
struct Acks;

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = Box<Ack>;

    fn delivery(&self, result: &DeliveryResult<'_>, waiting: Box<Ack>) {
        let acked = match result {
            Ok(message) => Ok((message.partition(), message.offset())),
            Err((err, _)) => Err(err.clone()),
        };
        // The send may have stopped waiting (its deadline passed): nobody to tell.
        let _ = waiting.send(acked);
    }
}

/// How long each wait of the polling thread is. rdkafka's `poll` loops until its
/// deadline, and in the last millisecond before it polls librdkafka with a timeout
/// truncated to 0 ms, in a tight loop: about a millisecond of spinning per call. Its
/// `FutureProducer` polls every 100 ms, which cost 1 % of a core per process at rest.
/// Once a second keeps that to 0.1 %; a report is still handed over as it arrives,
/// since the poll blocks on the queue until then.
const POLL: Duration = Duration::from_secs(1);

/// How long a send waits for room in librdkafka's local queue.
const QUEUE_WAIT: Duration = Duration::from_secs(5);

/// Starts the thread that hands delivery reports to the waiting sends. It holds the
/// producer only while it polls, so it ends within [`POLL`] of the last `Publisher`
/// being dropped, and closes the producer there, off the async runtime.
fn poll_while_used(producer: &Arc<BaseProducer<Acks>>) -> std::io::Result<()> {
    let used = Arc::downgrade(producer);
    std::thread::Builder::new()
        .name("producer acks".into())
        .spawn(move || {
            while let Some(producer) = used.upgrade() {
                producer.poll(POLL);
            }
        })?;
    Ok(())
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
        let producer: BaseProducer<Acks> = kafka
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
            .create_with_context(Acks)?;
        let producer = Arc::new(producer);
        poll_while_used(&producer).map_err(|err| {
            PublishError(KafkaError::ClientCreation(format!(
                "cannot start the producer's polling thread: {err}"
            )))
        })?;
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
        self.deliver(topic, key, Some(payload), Some(headers)).await
    }

    /// Produces a tombstone (a null value) under `key`: on a compacted topic it deletes
    /// the key. Returns the partition and offset.
    pub async fn send_tombstone(
        &self,
        topic: &str,
        key: &[u8],
    ) -> Result<(i32, i64), PublishError> {
        self.deliver(topic, key, None, None).await
    }

    /// Sends a record and waits for its acknowledgement; its partition and offset. The
    /// record waits up to [`QUEUE_WAIT`] for room in librdkafka's queue (a full queue means
    /// the broker is away), and the whole send up to the deadline.
    async fn deliver(
        &self,
        topic: &str,
        key: &[u8],
        payload: Option<&[u8]>,
        headers: Option<OwnedHeaders>,
    ) -> Result<(i32, i64), PublishError> {
        let (ack, acked) = oneshot::channel();
        let mut record =
            BaseRecord::<[u8], [u8], Box<Ack>>::with_opaque_to(topic, Box::new(ack)).key(key);
        record.payload = payload;
        record.headers = headers;
        let delivered = async {
            let queued_by = Instant::now() + QUEUE_WAIT;
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if Instant::now() < queued_by =>
                    {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err((err, _)) => return Err(err),
                }
            }
            acked.await.unwrap_or(Err(KafkaError::Canceled))
        };
        // Unacknowledged is not unwritten: a record the broker acknowledges after the
        // deadline is still read (its readers' inboxes drop a retried copy).
        match tokio::time::timeout(self.deadline, delivered).await {
            Ok(delivered) => delivered.map_err(PublishError),
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
