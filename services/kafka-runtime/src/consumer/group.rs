//! Group commit across partitions. Every partition task of a consumer hands its batch to
//! one committer, which applies whatever batches are waiting at that moment in a single
//! transaction: one commit (one WAL flush) for the records that several partitions
//! received together, instead of one per partition. Under load the batches that queue
//! up while a transaction runs go into the next one; at rest a batch waits for nobody.
//!
//! Each partition hands over its next batch only once the last one is settled, so every
//! partition stays in order, and records of one key share a partition. When the
//! transaction rolls back, every batch in it is told so, and its partition applies it
//! again on its own (`consumer/apply.rs`), down to one record at a time, where a record
//! is retried, rejected or dead-lettered as it always was. A record that fails holds up
//! only its own partition.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::message::Incoming;
use crate::metrics::Metrics;
use crate::processor::{Applied, Processor};

/// Records in one transaction at most: four partitions' full batches.
const MOST: usize = 256;

/// The way to the committer of one consumer.
pub(super) struct Committer {
    requests: mpsc::Sender<Request>,
}

/// One partition's batch, waiting for the committer.
struct Request {
    messages: Vec<Arc<Incoming>>,
    settled: oneshot::Sender<Settled>,
}

/// What became of a batch handed to the committer.
pub(super) enum Settled {
    /// Committed: what applying each of its messages did, in their order.
    Applied(Vec<Applied>),
    /// Rolled back, with nothing of it kept. `alone` when the transaction held only this
    /// batch, so applying the batch whole once more would fail the same way.
    RolledBack { alone: bool },
}

impl Committer {
    /// Starts the committer of a consumer whose store is `processor`. It runs until every
    /// `Committer` is dropped.
    pub(super) fn start<P: Processor>(
        processor: Arc<P>,
        metrics: Metrics,
    ) -> (Self, JoinHandle<()>) {
        let (requests, queue) = mpsc::channel(MOST);
        let task = tokio::spawn(commit(processor, metrics, queue));
        (Self { requests }, task)
    }

    /// Applies `messages` (of one partition, in order, at least one) in the next
    /// transaction.
    pub(super) async fn apply(&self, messages: Vec<Arc<Incoming>>) -> Settled {
        let (settled, outcome) = oneshot::channel();
        let request = Request { messages, settled };
        if self.requests.send(request).await.is_err() {
            return Settled::RolledBack { alone: false };
        }
        outcome
            .await
            .unwrap_or(Settled::RolledBack { alone: false })
    }
}

/// Takes the batches waiting, applies them in one transaction and tells each what became
/// of it; then the next ones.
async fn commit<P: Processor>(
    processor: Arc<P>,
    metrics: Metrics,
    mut queue: mpsc::Receiver<Request>,
) {
    while let Some(first) = queue.recv().await {
        let mut count = first.messages.len();
        let mut group = vec![first];
        while count < MOST {
            match queue.try_recv() {
                Ok(request) => {
                    count += request.messages.len();
                    group.push(request);
                }
                Err(_) => break,
            }
        }
        let messages: Vec<&Incoming> = group
            .iter()
            .flat_map(|request| request.messages.iter().map(Arc::as_ref))
            .collect();
        let outcome = match messages.as_slice() {
            [one] => Some(processor.apply(one).await.map(|applied| vec![applied])),
            all => processor.apply_all(all).await,
        };
        match outcome {
            Some(Ok(applied)) => {
                // Labelled with the topic of the transaction's first record.
                metrics
                    .transaction_messages
                    .with_label_values(&[&messages[0].topic])
                    .observe(count as f64);
                let mut applied = applied.into_iter();
                for request in group {
                    let part = applied.by_ref().take(request.messages.len()).collect();
                    let _ = request.settled.send(Settled::Applied(part));
                }
            }
            failed => {
                if let Some(Err(err)) = failed {
                    tracing::info!(error = %err, records = count, batches = group.len(), "group commit rolled back, each partition applies its own");
                }
                let alone = group.len() == 1;
                for request in group {
                    let _ = request.settled.send(Settled::RolledBack { alone });
                }
            }
        }
    }
}
