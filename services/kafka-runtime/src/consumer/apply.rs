//! The partition task that applies records: through a [`Processor`], inbox, handler and
//! outbox in one transaction per batch where the store can, then publishes what they
//! caused and marks it sent; plus the relay of what a crash left unsent and the pruning
//! of old inbox and outbox entries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::group::{Committer, Settled};
use super::{poll, rejected_reply, send_all, sleep_unless_shutdown, ConsumerSpec, Lane, Record};
use crate::config::KafkaConfig;
use crate::error::HandlerError;
use crate::message::{Incoming, Outgoing};
use crate::metrics::{InFlight, Metrics};
use crate::processor::{Applied, Processor};
use crate::producer::Publisher;
use crate::retry::Backoff;

/// Runs a consumer until `shutdown`: publishes what a crash left in the outbox,
/// subscribes, applies each record through `processor`, then commits and closes.
pub async fn run<P: Processor>(
    kafka: &KafkaConfig,
    spec: ConsumerSpec,
    processor: Arc<P>,
    publisher: Publisher,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    relay_unsent(&*processor, &publisher, Duration::ZERO, &shutdown).await;
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
    let (committer, committing) = Committer::start(processor.clone(), metrics.clone());
    let lane = Lane::subscribe(kafka, spec, publisher, metrics, shutdown)?;
    let worker = Arc::new(Worker {
        lane: lane.clone(),
        processor: processor.clone(),
        committer,
    });
    poll(lane, move |queue, in_flight| {
        worker.clone().run_partition(queue, in_flight)
    })
    .await;
    // The partition tasks are done, and with them the last way to the committer.
    let _ = committing.await;
    background.shutdown().await;
    write_marks(&*processor).await;
    Ok(())
}

/// What a partition task does with one record of its batch.
enum Step {
    /// Applies it through the processor (shared with the committer while it does).
    Apply(Arc<Incoming>),
    /// A type on its topic that this consumer does not read.
    Skip,
    /// Not a message at all: to the DLQ, with the reason.
    Malformed(String),
}

/// Everything a partition task applying records needs.
struct Worker<P> {
    lane: Arc<Lane>,
    processor: Arc<P>,
    /// Applies the batches of several partitions in one transaction.
    committer: Committer,
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
        let most = self.lane.spec.queue_per_partition.max(1);
        while let Some(first) = self.lane.next(&mut queue).await {
            in_flight.start(first.received);
            let mut batch = vec![first];
            while batch.len() < most {
                match queue.try_recv() {
                    Ok(record) => batch.push(record),
                    Err(_) => break,
                }
            }
            let (caused, finished) = self.apply_batch(&batch).await;
            if !self.publish(&caused).await {
                return;
            }
            for record in &batch[..finished] {
                self.lane.finished(record);
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
            self.lane.consumed(record);
        }
        let steps: Vec<Step> = batch.iter().map(|record| self.step(record)).collect();
        if let Some(caused) = self.apply_together(batch, &steps).await {
            return (caused, batch.len());
        }
        let mut caused = Vec::new();
        for (finished, (record, step)) in batch.iter().zip(&steps).enumerate() {
            let messages = match step {
                Step::Apply(incoming) => {
                    self.apply(record, incoming)
                        .instrument(incoming.span())
                        .await
                }
                Step::Skip => Some(Vec::new()),
                Step::Malformed(reason) => self
                    .lane
                    .dead_letter(record, None, reason, &record.payload)
                    .await
                    .then(Vec::new),
            };
            match messages {
                Some(messages) => caused.extend(messages),
                None => return (caused, finished),
            }
        }
        (caused, batch.len())
    }

    /// What to do with a record: a type on its topic that this consumer does not read is
    /// skipped here, so that it costs no transaction.
    fn step(&self, record: &Record) -> Step {
        let incoming = match record.parse() {
            Ok(incoming) => incoming,
            Err(reason) => return Step::Malformed(reason),
        };
        let kind = incoming.envelope.kind.as_str();
        let not_read = self.lane.spec.skipped.get(&record.topic);
        if not_read.is_some_and(|kinds| kinds.contains(&kind)) {
            self.lane
                .metrics
                .skipped
                .with_label_values(&[&record.topic])
                .inc();
            tracing::trace!(kind, topic = %record.topic, "not read by this service, skipped");
            return Step::Skip;
        }
        Step::Apply(Arc::new(incoming))
    }

    /// Group commit of the batch's records to apply, the skipped ones left out: through
    /// the committer, in one transaction with whatever other partitions have ready, and
    /// if that rolls back, in one of the batch's own. A batch with nothing to apply costs
    /// no transaction. `None` when it has to go one record at a time (a malformed record,
    /// or the batch failed on its own: the one-at-a-time path then retries, rejects or
    /// dead-letters each).
    async fn apply_together(&self, batch: &[Record], steps: &[Step]) -> Option<Vec<Outgoing>> {
        let mut records = Vec::with_capacity(batch.len());
        let mut incoming = Vec::with_capacity(batch.len());
        for (record, step) in batch.iter().zip(steps) {
            match step {
                Step::Apply(message) => {
                    records.push(record);
                    incoming.push(message.clone());
                }
                Step::Skip => {}
                Step::Malformed(_) => return None,
            }
        }
        if incoming.is_empty() {
            return Some(Vec::new());
        }
        let applied = match self.committer.apply(incoming.clone()).await {
            Settled::Applied(applied) => applied,
            Settled::RolledBack { alone: true } => return None,
            Settled::RolledBack { alone: false } => self.apply_alone(&incoming).await?,
        };
        let mut caused = Vec::new();
        for ((record, incoming), applied) in records.into_iter().zip(&incoming).zip(applied) {
            caused.extend(incoming.span().in_scope(|| self.applied(record, applied)));
        }
        Some(caused)
    }

    /// The batch's records to apply in one transaction of their own, after one shared
    /// with other partitions rolled back; `None` when that fails too, or they are one.
    async fn apply_alone(&self, incoming: &[Arc<Incoming>]) -> Option<Vec<Applied>> {
        if incoming.len() < 2 {
            return None;
        }
        let messages: Vec<&Incoming> = incoming.iter().map(Arc::as_ref).collect();
        match self.processor.apply_all(&messages).await? {
            Ok(applied) => {
                self.lane
                    .metrics
                    .transaction_messages
                    .with_label_values(&[&messages[0].topic])
                    .observe(messages.len() as f64);
                Some(applied)
            }
            Err(err) => {
                tracing::info!(error = %err, records = messages.len(), "group commit rolled back, applying one at a time");
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
                    self.lane
                        .metrics
                        .transaction_messages
                        .with_label_values(&[&record.topic])
                        .observe(1.0);
                    return Some(self.applied(record, applied));
                }
                Err(HandlerError::Rejected(reason)) => {
                    if !self
                        .lane
                        .dead_letter(
                            record,
                            Some(&incoming.envelope.kind),
                            &reason,
                            &record.payload,
                        )
                        .await
                    {
                        return None;
                    }
                    return Some(rejected_reply(incoming, &reason).into_iter().collect());
                }
                Err(HandlerError::Transient(err)) => {
                    if failing_since.elapsed() >= self.lane.retry_budget {
                        match self.processor.ping().await {
                            Ok(()) => return self.park(record, incoming, &err, &backoff).await,
                            // The store is away: waiting for it is not this record's fault.
                            Err(_) => failing_since = Instant::now(),
                        }
                    }
                    if !self.lane.wait_to_retry(record, &err, &mut backoff).await {
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
        let kind = &incoming.envelope.kind;
        let reason = self
            .lane
            .park(record, kind, err, backoff, &record.payload)
            .await?;
        Some(rejected_reply(incoming, &reason).into_iter().collect())
    }

    /// Counts what applying a record did; the messages it caused.
    fn applied(&self, record: &Record, applied: Applied) -> Vec<Outgoing> {
        match applied {
            Applied::Fresh(messages) => {
                self.lane
                    .metrics
                    .processed
                    .with_label_values(&[&record.topic])
                    .inc();
                tracing::debug!(caused = messages.len(), "message processed");
                messages
            }
            Applied::Duplicate => {
                self.lane
                    .metrics
                    .duplicates
                    .with_label_values(&[&record.topic])
                    .inc();
                tracing::info!("duplicate message skipped");
                Vec::new()
            }
        }
    }

    /// Publishes what a batch caused, and notes it published for the outbox (the next
    /// transaction writes the mark); `false` when shutdown interrupted it (the outbox
    /// keeps it unsent).
    async fn publish(&self, caused: &[Outgoing]) -> bool {
        if !self.lane.send_all(caused).await {
            return false;
        }
        published(&*self.processor, caused);
        true
    }
}

fn published<P: Processor>(processor: &P, messages: &[Outgoing]) {
    if !messages.is_empty() {
        let ids: Vec<_> = messages.iter().map(|m| m.id).collect();
        processor.published(&ids);
    }
}

/// Writes the marks of published messages that no transaction has carried.
async fn write_marks<P: Processor>(processor: &P) {
    if let Err(err) = processor.mark_sent().await {
        // They were published; the relay may publish them again later, under the same
        // ids, which their readers' inboxes drop.
        tracing::warn!(error = %err, "could not mark outbox messages sent");
    }
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
        if !send_all(publisher, &batch, shutdown).await {
            return;
        }
        published(processor, &batch);
        write_marks(processor).await;
    }
}

/// Every second, writes the marks that no transaction carried (the platform at rest);
/// every five, publishes what an interrupted publish left behind.
async fn relay_loop<P: Processor>(
    processor: Arc<P>,
    publisher: Publisher,
    shutdown: CancellationToken,
) {
    let mut ticks = 0u64;
    while sleep_unless_shutdown(Duration::from_secs(1), &shutdown).await {
        write_marks(&*processor).await;
        ticks += 1;
        if ticks.is_multiple_of(5) {
            relay_unsent(&*processor, &publisher, Duration::from_secs(30), &shutdown).await;
        }
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
