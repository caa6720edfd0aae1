//! The seam between the consumer loop and a store: apply a message exactly once,
//! together with the messages it causes, and hand those out for publishing.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uuid::Uuid;

use crate::error::HandlerError;
use crate::handlers::Reads;
use crate::message::{Incoming, Outgoing};

/// What applying a message did.
#[derive(Debug)]
pub enum Applied {
    /// The message was new: its state change and these messages committed together.
    Fresh(Vec<Outgoing>),
    /// The inbox already had its id: nothing changed.
    Duplicate,
}

/// A store that applies messages transactionally with an inbox and an outbox.
/// `PgProcessor` and `MongoProcessor` are the two there are.
pub trait Processor: Send + Sync + 'static {
    /// The topics and types its handler's table lists: what the service subscribes to.
    fn reads(&self) -> Reads;

    /// Records the message id in the inbox, runs the handler and writes the outbox, all
    /// in one transaction.
    fn apply(
        &self,
        message: &Incoming,
    ) -> impl Future<Output = Result<Applied, HandlerError>> + Send;

    /// Group commit: applies consecutive messages of one partition in a single
    /// transaction, all of them or none. `None` when the store cannot; after `None` or an
    /// error the caller applies them one at a time, which also finds the one at fault.
    fn apply_all(
        &self,
        _messages: &[&Incoming],
    ) -> impl Future<Output = Option<Result<Vec<Applied>, HandlerError>>> + Send {
        async { None }
    }

    /// Notes outbox messages as published. The note is written with the store's next
    /// transaction, or by [`Processor::mark_sent`]; a crash before that publishes them
    /// again, under the same ids, which their readers' inboxes drop.
    fn published(&self, ids: &[Uuid]);

    /// Writes the notes of [`Processor::published`] that no transaction has carried yet.
    fn mark_sent(&self) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Outbox messages committed at least `min_age` ago and never marked sent, oldest
    /// first: what a crash between commit and publish left behind.
    fn unsent(
        &self,
        min_age: Duration,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Outgoing>, HandlerError>> + Send;

    /// Deletes up to `limit` inbox entries received, and up to `limit` outbox messages
    /// published, longer than `retention` ago; how many went. Unsent outbox messages are
    /// never deleted.
    fn prune(
        &self,
        retention: Duration,
        limit: i64,
    ) -> impl Future<Output = Result<u64, HandlerError>> + Send;

    /// Whether the store answers, for `/readyz`.
    fn ping(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// Outbox messages published and not yet marked sent in the store. Marking them is not
/// worth a commit (a WAL flush) of its own after every publish: the next transaction of
/// the same store carries the mark, and a timer writes what is left when none comes.
/// Clones share one list, so a service's own transactions outside its consumers (a
/// PostgreSQL `Local`) note their marks in the processor's and carry its marks too.
#[derive(Debug, Default, Clone)]
pub struct SentMarks(Arc<Mutex<Vec<Uuid>>>);

impl SentMarks {
    /// Adds published messages.
    pub fn add(&self, ids: &[Uuid]) {
        self.lock().extend_from_slice(ids);
    }

    /// Takes the marks for a transaction to write; it gives them back if it fails.
    pub fn take(&self) -> Vec<Uuid> {
        std::mem::take(&mut *self.lock())
    }

    /// Gives back marks whose transaction did not commit.
    pub fn restore(&self, ids: Vec<Uuid>) {
        if !ids.is_empty() {
            self.lock().extend(ids);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Uuid>> {
        // A panic while holding it cannot leave the list half-changed.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
