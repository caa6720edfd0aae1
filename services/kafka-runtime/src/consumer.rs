//! The consumer loop every service runs, and what its partition tasks share.
//!
//! One task polls Kafka and hands each record to a task per partition through a small
//! bounded queue, so partitions proceed in parallel, each stays in order, and the work
//! in flight is bounded. A partition whose queue is full is paused at the broker instead
//! of blocking the poll, so a stalled partition never stops the others. What a partition
//! task does with its records is one of two things: [`run`] applies them through a
//! [`crate::Processor`] (inbox, handler and outbox in one transaction per batch where the
//! store can, the batches several partitions have ready sharing one; `consumer/apply.rs`,
//! `consumer/group.rs`), and [`crate::query::run`] answers queries, with no
//! transaction at all. Either publishes what a record caused and only then stores its
//! offset; librdkafka commits stored offsets in the background, on rebalance and at
//! shutdown.

mod apply;
mod group;

pub use apply::run;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::{ClientContext, Message as _, Offset, TopicPartitionList};
use shared_events::messages::reply::{Reply, ReplyCode};
use shared_events::RawEnvelope;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::KafkaConfig;
use crate::dlq;
use crate::message::{reply_to, Incoming, Outgoing};
use crate::metrics::{InFlight, Metrics};
use crate::producer::Publisher;
use crate::retry::Backoff;
use crate::telemetry::TraceParent;

/// What one consumer reads and where its rejects go.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// The service name, for logs.
    pub service: &'static str,
    /// The consumer group; instances of a service share it to split the partitions.
    pub group: String,
    /// Full topic names to subscribe to.
    pub topics: Vec<String>,
    /// Full name of the service's DLQ topic.
    pub dlq_topic: String,
    /// Message types that travel on a topic (by full topic name) but that this consumer
    /// does not read: counted (`messages_skipped_total`) and finished without touching
    /// the store. Every other type goes to the processor, which applies it, or rejects a
    /// type nobody declared. `Service` fills it from `shared_events::topology`.
    pub skipped: HashMap<String, Vec<&'static str>>,
    /// Records queued per partition before polling waits (default 64).
    pub queue_per_partition: usize,
    /// Set once the group coordinator has handed this member its first assignment
    /// (possibly empty): until then the consumer has joined nothing and reads nothing,
    /// and `/readyz` says so.
    pub assigned: Arc<AtomicBool>,
}

/// Logs rebalances, commits stored offsets before partitions are taken away, so the
/// next owner starts where this one stopped, and shows the partitions this instance holds
/// in `/metrics` (`consumer_assigned_partitions`), which `./dev status` lists: only the
/// member knows its assignment on every broker.
struct RuntimeContext {
    group: String,
    assigned: Arc<AtomicBool>,
    metrics: Metrics,
}

impl ClientContext for RuntimeContext {}

impl ConsumerContext for RuntimeContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            tracing::info!(partitions = partitions.count(), "partitions revoked");
            self.metrics
                .release_partitions(&self.group, &topic_partitions(partitions));
            // The commit must land before the partitions go (the next owner starts from
            // it), so it waits; the callback runs inside the poll of an async task, so
            // the wait tells the runtime to move that worker's other tasks elsewhere.
            let committed =
                off_the_async_threads(|| consumer.commit_consumer_state(CommitMode::Sync));
            if let Err(err) = committed {
                tracing::debug!(error = %err, "nothing committed on revoke");
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = partitions.count(), "partitions assigned");
                self.metrics
                    .hold_partitions(&self.group, &topic_partitions(partitions));
                self.assigned.store(true, Ordering::SeqCst);
            }
            Rebalance::Error(err) => tracing::warn!(error = %err, "rebalance failed"),
            Rebalance::Revoke(_) => {}
        }
    }
}

fn topic_partitions(list: &TopicPartitionList) -> Vec<(String, i32)> {
    list.elements()
        .iter()
        .map(|element| (element.topic().to_string(), element.partition()))
        .collect()
}

type RuntimeConsumer = StreamConsumer<RuntimeContext>;

/// A record copied out of librdkafka's buffer.
pub(crate) struct Record {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    key: Option<Vec<u8>>,
    pub(crate) payload: Vec<u8>,
    /// All its headers, for the DLQ: a dead letter is the record as it was.
    headers: Option<OwnedHeaders>,
    traceparent: Option<TraceParent>,
    pub(crate) received: Instant,
}

impl Record {
    fn from_kafka(message: &BorrowedMessage<'_>) -> Self {
        let traceparent = message.headers().and_then(|headers| {
            headers
                .iter()
                .find(|h| h.key == "traceparent")
                .and_then(|h| h.value)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(TraceParent::parse)
        });
        Self {
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers: message.headers().map(|headers| headers.detach()),
            traceparent,
            received: Instant::now(),
        }
    }

    /// The record's envelope, or why it is not one.
    pub(crate) fn parse(&self) -> Result<Incoming, String> {
        let envelope = RawEnvelope::parse(&self.payload)
            .map_err(|err| format!("malformed envelope: {err}"))?;
        Ok(Incoming {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            key: self
                .key
                .as_deref()
                .and_then(|k| std::str::from_utf8(k).ok())
                .map(str::to_string),
            envelope,
            trace: self.traceparent.clone().unwrap_or_else(TraceParent::root),
        })
    }
}

/// What every partition task of one consumer shares, whatever it does with its records.
pub(crate) struct Lane {
    pub(crate) spec: ConsumerSpec,
    consumer: Arc<RuntimeConsumer>,
    pub(crate) publisher: Publisher,
    pub(crate) metrics: Metrics,
    pub(crate) retry_budget: Duration,
    pub(crate) shutdown: CancellationToken,
    leave_group_on_shutdown: bool,
}

impl Lane {
    /// Joins the group of `spec` and subscribes to its topics, with automatic offset
    /// storing off.
    pub(crate) fn subscribe(
        kafka: &KafkaConfig,
        spec: ConsumerSpec,
        publisher: Publisher,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Arc<Self>> {
        let mut settings = vec![
            ("group.id", spec.group.as_str()),
            ("client.id", spec.service),
            ("enable.auto.commit", "true"),
            ("auto.commit.interval.ms", "1000"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
        ];
        // Under KIP-848 the broker sets these (group.consumer.session.timeout.ms) and the
        // client refuses them.
        if !kafka.consumer_group_protocol() {
            settings.extend([
                ("session.timeout.ms", "10000"),
                ("heartbeat.interval.ms", "3000"),
            ]);
        }
        let consumer: RuntimeConsumer =
            kafka
                .client_config(&settings)
                .create_with_context(RuntimeContext {
                    group: spec.group.clone(),
                    assigned: spec.assigned.clone(),
                    metrics: metrics.clone(),
                })?;
        let topics: Vec<&str> = spec.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        tracing::info!(group = %spec.group, topics = ?spec.topics, "consumer started");
        Ok(Arc::new(Self {
            spec,
            consumer: Arc::new(consumer),
            publisher,
            metrics,
            retry_budget: kafka.retry_budget,
            shutdown,
            leave_group_on_shutdown: kafka.leave_group_on_shutdown,
        }))
    }

    /// The next record of a partition task's queue; `None` at shutdown or when the poll
    /// loop stopped.
    pub(crate) async fn next(&self, queue: &mut mpsc::Receiver<Record>) -> Option<Record> {
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => None,
            record = queue.recv() => record,
        }
    }

    /// Counts a record as consumed.
    pub(crate) fn consumed(&self, record: &Record) {
        self.metrics
            .consumed
            .with_label_values(&[&record.topic])
            .inc();
    }

    /// Stores the offset of a record that is finished with (what it caused is
    /// published), for librdkafka to commit, and records how long it took.
    pub(crate) fn finished(&self, record: &Record) {
        // librdkafka's offset_store takes the offset of the processed record and commits
        // that plus one.
        if let Err(err) = self
            .consumer
            .store_offset(&record.topic, record.partition, record.offset)
        {
            // The partition was revoked meanwhile; its next owner dedupes by id.
            tracing::debug!(error = %err, topic = %record.topic, partition = record.partition, "offset not stored");
        }
        self.metrics
            .handler_seconds
            .with_label_values(&[&record.topic])
            .observe(record.received.elapsed().as_secs_f64());
    }

    /// Waits before a record that failed transiently is tried again, counting and
    /// logging the retry; `false` when shutdown came first.
    pub(crate) async fn wait_to_retry(
        &self,
        record: &Record,
        err: &anyhow::Error,
        backoff: &mut Backoff,
    ) -> bool {
        self.metrics
            .retried
            .with_label_values(&[&record.topic])
            .inc();
        let delay = backoff.next_delay();
        tracing::warn!(
            error = format!("{err:#}"),
            attempt = backoff.attempts(),
            retry_in_ms = delay.as_millis() as u64,
            "transient failure, retrying"
        );
        sleep_unless_shutdown(delay, &self.shutdown).await
    }

    /// Parks a record that failed transiently past the retry budget in the DLQ, with
    /// `value` and the last error; the reason it was given, or `None` when shutdown
    /// interrupted it.
    pub(crate) async fn park(
        &self,
        record: &Record,
        kind: &str,
        err: &anyhow::Error,
        backoff: &Backoff,
        value: &[u8],
    ) -> Option<String> {
        let reason = format!(
            "parked after {} attempts over {} s of transient failures: {err:#}",
            backoff.attempts() + 1,
            self.retry_budget.as_secs()
        );
        tracing::error!(reason, topic = %record.topic, partition = record.partition, offset = record.offset, "message parked");
        if !self.dead_letter(record, Some(kind), &reason, value).await {
            return None;
        }
        self.metrics
            .parked
            .with_label_values(&[&record.topic])
            .inc();
        Some(reason)
    }

    /// Sends messages in order, retrying until the broker acknowledges all of them, and
    /// counts them as published; `false` when shutdown interrupted it.
    pub(crate) async fn send_all(&self, messages: &[Outgoing]) -> bool {
        if !send_all(&self.publisher, messages, &self.shutdown).await {
            return false;
        }
        for message in messages {
            let labels = [message.topic.as_str(), message.kind.as_str()];
            self.metrics.published.with_label_values(&labels).inc();
        }
        true
    }
    /// Sends the record to the DLQ with `value` (the record's own, for a re-drive; a
    /// query's without its `data`), its key and headers, and the reason and its origin
    /// added as `dlq.*` headers, which is what a re-drive needs (`dlq.rs`). `false` when
    /// shutdown interrupted it.
    pub(crate) async fn dead_letter(
        &self,
        record: &Record,
        kind: Option<&str>,
        reason: &str,
        value: &[u8],
    ) -> bool {
        tracing::warn!(reason, topic = %record.topic, partition = record.partition, offset = record.offset, "message sent to the DLQ");
        let partition = record.partition.to_string();
        let offset = record.offset.to_string();
        let mut backoff = Backoff::default();
        loop {
            let mut headers = OwnedHeaders::new_with_capacity(8);
            let mut typed = false;
            // A message re-produced by hand with the headers of a dead letter keeps
            // only one reason: this one.
            let original = record.headers.iter().flat_map(|h| h.iter());
            for header in original.filter(|h| !dlq::is_dlq_header(h.key)) {
                typed |= header.key == "type";
                headers = headers.insert(header);
            }
            headers = headers
                .insert(Header {
                    key: dlq::REASON,
                    value: Some(reason),
                })
                .insert(Header {
                    key: dlq::SOURCE_TOPIC,
                    value: Some(&record.topic),
                })
                .insert(Header {
                    key: dlq::SOURCE_PARTITION,
                    value: Some(&partition),
                })
                .insert(Header {
                    key: dlq::SOURCE_OFFSET,
                    value: Some(&offset),
                })
                .insert(Header {
                    key: dlq::SERVICE,
                    value: Some(self.spec.service),
                });
            if let (Some(kind), false) = (kind, typed) {
                headers = headers.insert(Header {
                    key: "type",
                    value: Some(kind),
                });
            }
            let key = record.key.as_deref().unwrap_or_default();
            match self
                .publisher
                .send_raw(&self.spec.dlq_topic, key, value, headers)
                .await
            {
                Ok(_) => {
                    self.metrics
                        .dead_lettered
                        .with_label_values(&[&record.topic])
                        .inc();
                    return true;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "DLQ publish failed, retrying");
                    if !sleep_unless_shutdown(backoff.next_delay(), &self.shutdown).await {
                        return false;
                    }
                }
            }
        }
    }
}

/// Polls `lane`'s consumer until shutdown, handing each partition's records, in order, to
/// a task of its own that `start` makes (given the partition's gauge of unfinished work);
/// then lets those tasks finish what they hold, commits the offsets they stored, and
/// closes the consumer.
pub(crate) async fn poll<F, T>(lane: Arc<Lane>, mut start: F)
where
    F: FnMut(mpsc::Receiver<Record>, Arc<InFlight>) -> T,
    T: Future<Output = ()> + Send + 'static,
{
    let (consumer, spec, metrics, shutdown) = (
        lane.consumer.clone(),
        &lane.spec,
        &lane.metrics,
        &lane.shutdown,
    );
    let lag = tokio::spawn(lag_loop(
        consumer.clone(),
        metrics.clone(),
        shutdown.clone(),
    ));
    let mut partitions: HashMap<(String, i32), PartitionQueue> = HashMap::new();
    let mut workers = JoinSet::new();
    let mut refill = tokio::time::interval(Duration::from_millis(10));
    'poll: loop {
        let paused = partitions.values().any(|queue| !queue.held.is_empty());
        let received = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = refill.tick(), if paused => {
                let held = partitions.values_mut().filter(|queue| !queue.held.is_empty());
                for queue in held {
                    match queue.refill() {
                        Refill::Open => resume(&consumer, queue),
                        Refill::Full => {}
                        Refill::Closed => break 'poll,
                    }
                }
                continue;
            }
            received = consumer.recv() => received,
        };
        let record = match received {
            Ok(message) => Record::from_kafka(&message),
            Err(err) => {
                // librdkafka reports the broker's absence as events and reconnects by
                // itself; nothing here can help it. The events queue up during an outage,
                // ahead of the rebalance that follows it, so they are read off without
                // waiting: a growing pause per event once kept a service from its new
                // assignment for minutes after the broker came back.
                tracing::warn!(error = %err, "consumer error");
                continue;
            }
        };
        let queue = partitions
            .entry((record.topic.clone(), record.partition))
            .or_insert_with_key(|(topic, partition)| {
                let (tx, rx) = mpsc::channel(spec.queue_per_partition.max(1));
                let in_flight = metrics.oldest_unfinished.partition(topic, *partition);
                workers.spawn(start(rx, in_flight));
                PartitionQueue::new(topic.clone(), *partition, tx)
            });
        match queue.offer(record) {
            Offer::Queued => {}
            Offer::Paused => pause(&consumer, queue),
            Offer::Closed => break,
        }
    }

    // Stop: let each partition finish the batch in hand, commit what is stored, close.
    drop(partitions);
    drop(start);
    while workers.join_next().await.is_some() {}
    lag.abort();
    let _ = lag.await;
    let (group, leave) = (spec.group.clone(), lane.leave_group_on_shutdown);
    drop(lane);
    let committing = consumer.clone();
    let committed =
        tokio::task::spawn_blocking(move || committing.commit_consumer_state(CommitMode::Sync))
            .await;
    if let Ok(Err(err)) = committed {
        tracing::debug!(error = %err, "nothing to commit at shutdown");
    }
    if leave {
        close(consumer).await;
    } else {
        // Not dropped: dropping sends LeaveGroup. The process is about to exit, which
        // ends the client; the broker expires the member after its session timeout.
        std::mem::forget(consumer);
    }
    tracing::info!(group = %group, left = leave, "consumer stopped");
}

/// The way from the poll loop to one partition's task. When the task falls behind and its
/// queue is full, the partition is paused at the broker and the records already fetched
/// for it wait here, so the poll loop goes on serving every other partition: one stalled
/// partition stops only itself.
struct PartitionQueue {
    topic: String,
    partition: i32,
    tx: mpsc::Sender<Record>,
    held: VecDeque<Record>,
    /// The offset after the last record taken, so that records fetched again after a
    /// resume are not queued twice.
    next_offset: i64,
}

enum Offer {
    Queued,
    /// The queue is full: the record is held and the partition must be paused.
    Paused,
    Closed,
}

enum Refill {
    /// Everything held is queued: the partition may be resumed.
    Open,
    Full,
    Closed,
}

impl PartitionQueue {
    fn new(topic: String, partition: i32, tx: mpsc::Sender<Record>) -> Self {
        Self {
            topic,
            partition,
            tx,
            held: VecDeque::new(),
            next_offset: i64::MIN,
        }
    }

    fn offer(&mut self, record: Record) -> Offer {
        if record.offset < self.next_offset {
            return Offer::Queued; // taken already, before a pause
        }
        self.next_offset = record.offset + 1;
        if !self.held.is_empty() {
            // Paused already (a rebalance may have resumed it): kept in order behind the
            // others, and paused again.
            self.held.push_back(record);
            return Offer::Paused;
        }
        match self.tx.try_send(record) {
            Ok(()) => Offer::Queued,
            Err(mpsc::error::TrySendError::Full(record)) => {
                self.held.push_back(record);
                Offer::Paused
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Closed,
        }
    }

    /// Moves held records into the queue while it has room.
    fn refill(&mut self) -> Refill {
        while let Some(record) = self.held.pop_front() {
            match self.tx.try_send(record) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(record)) => {
                    self.held.push_front(record);
                    return Refill::Full;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return Refill::Closed,
            }
        }
        Refill::Open
    }
}

fn partition_list(queue: &PartitionQueue) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    list.add_partition(&queue.topic, queue.partition);
    list
}

fn pause(consumer: &RuntimeConsumer, queue: &PartitionQueue) {
    let (topic, partition) = (&queue.topic, queue.partition);
    tracing::debug!(topic, partition, "partition queue full, pausing it");
    if let Err(err) = consumer.pause(&partition_list(queue)) {
        // Revoked meanwhile: nothing more comes from it anyway.
        tracing::debug!(error = %err, topic, partition, "pause refused");
    }
}

fn resume(consumer: &RuntimeConsumer, queue: &PartitionQueue) {
    let (topic, partition) = (&queue.topic, queue.partition);
    tracing::debug!(topic, partition, "partition queue has room, resuming it");
    if let Err(err) = consumer.resume(&partition_list(queue)) {
        tracing::debug!(error = %err, topic, partition, "resume refused");
    }
}

/// Runs a blocking librdkafka call from synchronous code that an async task called:
/// on a multi-threaded runtime the worker thread hands its other tasks over first
/// (`block_in_place`); elsewhere (a single-threaded test runtime) it just runs.
fn off_the_async_threads<T>(call: impl FnOnce() -> T) -> T {
    let multi_threaded = tokio::runtime::Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_threaded {
        tokio::task::block_in_place(call)
    } else {
        call()
    }
}

/// Closing a consumer that went through rebalances can block for a long time inside
/// librdkafka (rust-rdkafka #509, #453): do it off the async threads, with a timeout.
async fn close(consumer: Arc<RuntimeConsumer>) {
    let closing = tokio::task::spawn_blocking(move || {
        consumer.unsubscribe();
        drop(consumer);
    });
    if tokio::time::timeout(Duration::from_secs(10), closing)
        .await
        .is_err()
    {
        tracing::warn!("consumer close timed out; leaving it to the process exit");
    }
}

/// The outcome for whoever waits on a dead-lettered message (`replyTo`): it failed,
/// `rejected`, with the reason, so a client following it is not left waiting.
pub(crate) fn rejected_reply(incoming: &Incoming, reason: &str) -> Option<Outgoing> {
    let reply = Reply::failure(
        incoming.envelope.correlation_id,
        ReplyCode::Rejected,
        reason,
    );
    reply_to(&incoming.envelope, reply, &incoming.trace)
}

/// Sends messages in order, retrying until the broker acknowledges all of them; `false`
/// when shutdown interrupted it.
pub(crate) async fn send_all(
    publisher: &Publisher,
    messages: &[Outgoing],
    shutdown: &CancellationToken,
) -> bool {
    let mut backoff = Backoff::default();
    loop {
        // The sends are queued in order on one idempotent producer, which keeps that order.
        let sends = futures::future::try_join_all(messages.iter().map(|m| publisher.send(m)));
        match sends.await {
            Ok(_) => return true,
            Err(err) => {
                tracing::warn!(error = %err, "publish failed, retrying");
                if !sleep_unless_shutdown(backoff.next_delay(), shutdown).await {
                    return false;
                }
            }
        }
    }
}

/// Every ten seconds, records for each assigned partition its high watermark minus its
/// committed offset: what the group has not finished. (The read position would hide a
/// partition stuck on a record: it reads ahead of what it finishes.) A partition with
/// nothing committed yet counts from its low watermark.
async fn lag_loop(consumer: Arc<RuntimeConsumer>, metrics: Metrics, shutdown: CancellationToken) {
    while sleep_unless_shutdown(Duration::from_secs(10), &shutdown).await {
        let consumer = consumer.clone();
        let metrics = metrics.clone();
        let measured = tokio::task::spawn_blocking(move || {
            let committed = consumer.committed(Duration::from_secs(1))?;
            for element in committed.elements() {
                let (low, high) = consumer.fetch_watermarks(
                    element.topic(),
                    element.partition(),
                    Duration::from_secs(1),
                )?;
                let finished = match element.offset() {
                    Offset::Offset(offset) => offset,
                    _ => low,
                };
                metrics
                    .lag
                    .with_label_values(&[element.topic(), &element.partition().to_string()])
                    .set((high - finished).max(0));
            }
            Ok::<_, rdkafka::error::KafkaError>(())
        });
        if let Ok(Err(err)) = measured.await {
            tracing::debug!(error = %err, "lag not measured");
        }
    }
}

/// Sleeps unless shutdown comes first; `false` when it did.
pub(crate) async fn sleep_unless_shutdown(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}
