//! The consumer loop every service runs.
//!
//! One task polls Kafka and hands each record to a task per partition through a small
//! bounded queue, so partitions proceed in parallel, each stays in order, and the work
//! in flight is bounded. A partition whose queue is full is paused at the broker instead
//! of blocking the poll, so a stalled partition never stops the others. A partition task
//! applies the records queued for it through its [`Processor`] (inbox, handler, outbox in one transaction per batch where the store
//! can), publishes what they caused, and only then stores their offsets; librdkafka
//! commits stored offsets in the background, on rebalance and at shutdown.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::{ClientContext, Message as _, Offset, TopicPartitionList};
use shared_events::messages::reply::Reply;
use shared_events::{Envelope, RawEnvelope};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::KafkaConfig;
use crate::dlq;
use crate::error::HandlerError;
use crate::message::{Incoming, Outgoing};
use crate::metrics::{InFlight, Metrics};
use crate::processor::{Applied, Processor};
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
struct Record {
    topic: String,
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    /// All its headers, for the DLQ: a dead letter is the record as it was.
    headers: Option<OwnedHeaders>,
    traceparent: Option<TraceParent>,
    received: Instant,
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

    fn parse(&self) -> Result<Incoming, String> {
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

/// Everything a partition task needs.
struct Worker<P> {
    spec: ConsumerSpec,
    consumer: Arc<RuntimeConsumer>,
    processor: Arc<P>,
    publisher: Publisher,
    metrics: Metrics,
    retry_budget: Duration,
    shutdown: CancellationToken,
}

/// Runs a consumer until `shutdown`: publishes what a crash left in the outbox,
/// subscribes, processes, then commits and closes.
pub async fn run<P: Processor>(
    kafka: &KafkaConfig,
    spec: ConsumerSpec,
    processor: Arc<P>,
    publisher: Publisher,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    relay_unsent(&*processor, &publisher, Duration::ZERO, &shutdown).await;

    let consumer: Arc<RuntimeConsumer> = Arc::new(
        kafka
            .client_config(&[
                ("group.id", &spec.group),
                ("client.id", spec.service),
                ("enable.auto.commit", "true"),
                ("auto.commit.interval.ms", "1000"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", "earliest"),
                ("session.timeout.ms", "10000"),
                ("heartbeat.interval.ms", "3000"),
            ])
            .create_with_context(RuntimeContext {
                group: spec.group.clone(),
                assigned: spec.assigned.clone(),
                metrics: metrics.clone(),
            })?,
    );
    let topics: Vec<&str> = spec.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    tracing::info!(group = %spec.group, topics = ?spec.topics, "consumer started");

    let worker = Arc::new(Worker {
        spec: spec.clone(),
        consumer: consumer.clone(),
        processor: processor.clone(),
        publisher: publisher.clone(),
        metrics: metrics.clone(),
        retry_budget: kafka.retry_budget,
        shutdown: shutdown.clone(),
    });
    let mut background = JoinSet::new();
    background.spawn(relay_loop(
        processor.clone(),
        publisher.clone(),
        shutdown.clone(),
    ));
    background.spawn(prune_loop(
        processor.clone(),
        kafka.runtime_retention,
        shutdown.clone(),
    ));
    background.spawn(lag_loop(
        consumer.clone(),
        metrics.clone(),
        shutdown.clone(),
    ));

    let mut partitions: HashMap<(String, i32), PartitionQueue> = HashMap::new();
    let mut workers = JoinSet::new();
    let mut errors = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
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
                tracing::warn!(error = %err, "consumer error");
                tokio::time::sleep(errors.next_delay()).await;
                continue;
            }
        };
        errors = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let queue = partitions
            .entry((record.topic.clone(), record.partition))
            .or_insert_with_key(|(topic, partition)| {
                let (tx, rx) = mpsc::channel(spec.queue_per_partition.max(1));
                let in_flight = metrics.oldest_unfinished.partition(topic, *partition);
                workers.spawn(worker.clone().run_partition(rx, in_flight));
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
    while workers.join_next().await.is_some() {}
    background.shutdown().await;
    drop(worker);
    let committing = consumer.clone();
    let committed =
        tokio::task::spawn_blocking(move || committing.commit_consumer_state(CommitMode::Sync))
            .await;
    if let Ok(Err(err)) = committed {
        tracing::debug!(error = %err, "nothing to commit at shutdown");
    }
    if kafka.leave_group_on_shutdown {
        close(consumer).await;
    } else {
        // Not dropped: dropping sends LeaveGroup. The process is about to exit, which
        // ends the client; the broker expires the member after its session timeout.
        std::mem::forget(consumer);
    }
    tracing::info!(group = %spec.group, left = kafka.leave_group_on_shutdown, "consumer stopped");
    Ok(())
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

impl<P: Processor> Worker<P> {
    /// Applies a partition's records in order. Whatever has queued up is taken as one
    /// batch and applied in one transaction when the store can (group commit), else one
    /// record per transaction; then the messages they caused are published together (one
    /// wait for the broker instead of one per record, in the same order), and only then
    /// are the offsets stored. A crash in between leaves committed, unpublished outbox
    /// rows, published at restart. `in_flight` tells `/metrics` since when the batch in
    /// hand has waited.
    async fn run_partition(
        self: Arc<Self>,
        mut queue: mpsc::Receiver<Record>,
        in_flight: Arc<InFlight>,
    ) {
        let most = self.spec.queue_per_partition.max(1);
        loop {
            let first = tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return,
                record = queue.recv() => match record { Some(r) => r, None => return },
            };
            in_flight.start(first.received);
            let mut batch = vec![first];
            while batch.len() < most {
                match queue.try_recv() {
                    Ok(record) => batch.push(record),
                    Err(_) => break,
                }
            }
            let (caused, finished) = self.apply_batch(&batch).await;
            if !publish(&*self.processor, &self.publisher, &caused, &self.shutdown).await {
                return;
            }
            for message in &caused {
                let labels = [message.topic.as_str(), message.kind.as_str()];
                self.metrics.published.with_label_values(&labels).inc();
            }
            for record in &batch[..finished] {
                // librdkafka's offset_store takes the offset of the processed record and
                // commits that plus one.
                if let Err(err) =
                    self.consumer
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
            if finished < batch.len() {
                return; // shutting down mid-retry: the rest stays uncommitted
            }
            in_flight.finish();
        }
    }

    /// The messages a batch caused, still to publish, and how many of its records were
    /// finished: all of them unless shutdown interrupted a retry.
    async fn apply_batch(&self, batch: &[Record]) -> (Vec<Outgoing>, usize) {
        for record in batch {
            self.metrics
                .consumed
                .with_label_values(&[&record.topic])
                .inc();
        }
        let parsed: Vec<Result<Incoming, String>> = batch.iter().map(Record::parse).collect();
        if let Some(caused) = self.apply_together(batch, &parsed).await {
            return (caused, batch.len());
        }
        let mut caused = Vec::new();
        for (finished, (record, parsed)) in batch.iter().zip(&parsed).enumerate() {
            let messages = match parsed {
                Ok(incoming) => {
                    self.apply(record, incoming)
                        .instrument(incoming.span())
                        .await
                }
                Err(reason) => self.dead_letter(record, None, reason).await.then(Vec::new),
            };
            match messages {
                Some(messages) => caused.extend(messages),
                None => return (caused, finished),
            }
        }
        (caused, batch.len())
    }

    /// Group commit of a batch of several well-formed records; `None` when it has to go
    /// one record at a time (the store cannot, or something in it failed and rolled it
    /// all back: the one-at-a-time path then retries, rejects or dead-letters each).
    async fn apply_together(
        &self,
        batch: &[Record],
        parsed: &[Result<Incoming, String>],
    ) -> Option<Vec<Outgoing>> {
        if batch.len() < 2 {
            return None;
        }
        let incoming: Vec<&Incoming> = parsed
            .iter()
            .map(|parsed| parsed.as_ref().ok())
            .collect::<Option<_>>()?;
        match self.processor.apply_all(&incoming).await? {
            Ok(applied) => {
                self.metrics
                    .transaction_messages
                    .with_label_values(&[&batch[0].topic])
                    .observe(batch.len() as f64);
                let mut caused = Vec::new();
                for ((record, incoming), applied) in batch.iter().zip(incoming).zip(applied) {
                    caused.extend(incoming.span().in_scope(|| self.applied(record, applied)));
                }
                Some(caused)
            }
            Err(err) => {
                tracing::info!(error = %err, records = batch.len(), "group commit rolled back, applying one at a time");
                None
            }
        }
    }

    /// Applies one record, retrying transient failures; the messages it caused, still
    /// to publish, or `None` when shutdown interrupted it. A record that keeps failing
    /// past the retry budget while the store answers is parked in the DLQ: whatever
    /// fails it is not an outage, and it must not hold its partition forever.
    async fn apply(&self, record: &Record, incoming: &Incoming) -> Option<Vec<Outgoing>> {
        let mut backoff = Backoff::default();
        let mut failing_since = Instant::now();
        loop {
            match self.processor.apply(incoming).await {
                Ok(applied) => {
                    self.metrics
                        .transaction_messages
                        .with_label_values(&[&record.topic])
                        .observe(1.0);
                    return Some(self.applied(record, applied));
                }
                Err(HandlerError::Rejected(reason)) => {
                    if !self
                        .dead_letter(record, Some(&incoming.envelope.kind), &reason)
                        .await
                    {
                        return None;
                    }
                    return Some(rejected_reply(incoming, &reason).into_iter().collect());
                }
                Err(HandlerError::Transient(err)) => {
                    if failing_since.elapsed() >= self.retry_budget {
                        match self.processor.ping().await {
                            Ok(()) => return self.park(record, incoming, &err, &backoff).await,
                            // The store is away: waiting for it is not this record's fault.
                            Err(_) => failing_since = Instant::now(),
                        }
                    }
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
                    if !sleep_unless_shutdown(delay, &self.shutdown).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Sends a record that failed transiently past the retry budget to the DLQ, with the
    /// last error, and answers whoever waits on it as for a rejection.
    async fn park(
        &self,
        record: &Record,
        incoming: &Incoming,
        err: &anyhow::Error,
        backoff: &Backoff,
    ) -> Option<Vec<Outgoing>> {
        let reason = format!(
            "parked after {} attempts over {} s of transient failures: {err:#}",
            backoff.attempts() + 1,
            self.retry_budget.as_secs()
        );
        tracing::error!(reason, topic = %record.topic, partition = record.partition, offset = record.offset, "message parked");
        if !self
            .dead_letter(record, Some(&incoming.envelope.kind), &reason)
            .await
        {
            return None;
        }
        self.metrics
            .parked
            .with_label_values(&[&record.topic])
            .inc();
        Some(rejected_reply(incoming, &reason).into_iter().collect())
    }

    /// Counts what applying a record did; the messages it caused.
    fn applied(&self, record: &Record, applied: Applied) -> Vec<Outgoing> {
        match applied {
            Applied::Fresh(messages) => {
                self.metrics
                    .processed
                    .with_label_values(&[&record.topic])
                    .inc();
                tracing::debug!(caused = messages.len(), "message processed");
                messages
            }
            Applied::Duplicate => {
                self.metrics
                    .duplicates
                    .with_label_values(&[&record.topic])
                    .inc();
                tracing::info!("duplicate message skipped");
                Vec::new()
            }
        }
    }

    /// Sends the record to the DLQ as it was (key, value, headers) with the reason and
    /// its origin added as `dlq.*` headers, which is what a re-drive needs (`dlq.rs`);
    /// a query's value loses its `data` ([`Processor::dead_letter_value`]).
    async fn dead_letter(&self, record: &Record, kind: Option<&str>, reason: &str) -> bool {
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
            let value = self.processor.dead_letter_value(&record.payload);
            match self
                .publisher
                .send_raw(&self.spec.dlq_topic, key, &value, headers)
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

/// The outcome for whoever waits on a dead-lettered message (`replyTo`): it failed,
/// `rejected`, with the reason, so a client following it is not left waiting.
fn rejected_reply(incoming: &Incoming, reason: &str) -> Option<Outgoing> {
    let reply_to = incoming.envelope.reply_to.clone()?;
    let correlation_id = incoming.envelope.correlation_id;
    let reply = Reply::failure(correlation_id, "rejected", reason);
    let envelope = Envelope::caused_by(&incoming.envelope, reply);
    Some(Outgoing::new(reply_to, correlation_id, &envelope).traced(&incoming.trace.child()))
}

/// Publishes messages in order, retrying until the broker acknowledges all of them, then
/// marks them sent. `false` when shutdown interrupted it (the outbox keeps them).
async fn publish<P: Processor>(
    processor: &P,
    publisher: &Publisher,
    messages: &[Outgoing],
    shutdown: &CancellationToken,
) -> bool {
    if messages.is_empty() {
        return true;
    }
    let mut backoff = Backoff::default();
    loop {
        // The sends are queued in order on one idempotent producer, which keeps that order.
        let sends = futures::future::try_join_all(messages.iter().map(|m| publisher.send(m)));
        match sends.await {
            Ok(_) => break,
            Err(err) => {
                tracing::warn!(error = %err, "publish failed, retrying");
                if !sleep_unless_shutdown(backoff.next_delay(), shutdown).await {
                    return false;
                }
            }
        }
    }
    let ids: Vec<_> = messages.iter().map(|m| m.id).collect();
    if let Err(err) = processor.mark_sent(&ids).await {
        // They were published; the relay may publish them again later, under the same ids.
        tracing::warn!(error = %err, "could not mark outbox messages sent");
    }
    true
}

/// Publishes outbox messages older than `min_age` that were never marked sent.
async fn relay_unsent<P: Processor>(
    processor: &P,
    publisher: &Publisher,
    min_age: Duration,
    shutdown: &CancellationToken,
) {
    loop {
        let batch = match processor.unsent(min_age, 500).await {
            Ok(batch) => batch,
            Err(err) => {
                tracing::warn!(error = %err, "could not read the outbox");
                return;
            }
        };
        if batch.is_empty() {
            return;
        }
        tracing::info!(
            count = batch.len(),
            "publishing outbox messages left unsent"
        );
        if !publish(processor, publisher, &batch, shutdown).await {
            return;
        }
    }
}

/// Every few seconds, publishes what an interrupted publish left behind.
async fn relay_loop<P: Processor>(
    processor: Arc<P>,
    publisher: Publisher,
    shutdown: CancellationToken,
) {
    while sleep_unless_shutdown(Duration::from_secs(5), &shutdown).await {
        relay_unsent(&*processor, &publisher, Duration::from_secs(30), &shutdown).await;
    }
}

/// A minute after start and every hour after, deletes inbox entries and published
/// outbox messages older than `retention`, a thousand at a time so that no statement
/// holds the tables for long.
async fn prune_loop<P: Processor>(
    processor: Arc<P>,
    retention: Duration,
    shutdown: CancellationToken,
) {
    let mut delay = Duration::from_secs(60);
    while sleep_unless_shutdown(delay, &shutdown).await {
        delay = Duration::from_secs(3600);
        let mut pruned = 0;
        loop {
            match processor.prune(retention, 1000).await {
                Ok(0) => break,
                Ok(count) => pruned += count,
                Err(err) => {
                    tracing::warn!(error = %err, "inbox and outbox not pruned");
                    break;
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
        if pruned > 0 {
            tracing::info!(
                pruned,
                retention_secs = retention.as_secs(),
                "inbox and outbox pruned"
            );
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
