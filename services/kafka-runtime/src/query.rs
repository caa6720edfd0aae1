//! Request-reply reads: a query is answered, not applied.
//!
//! A query changes nothing, so it needs neither inbox nor outbox: answering it twice
//! answers twice, which is harmless, and nothing about it is written to a database
//! (login queries carry a password, and their answers a token). The reply goes straight
//! to the topic the query named in `replyTo`. A query older than `max_age` is skipped:
//! whoever asked has stopped waiting, and answering a backlog after an outage would
//! only delay the questions still being waited for.

use std::future::Future;
use std::time::Duration;

use shared_events::messages::reply::Reply;
use shared_events::Topics;
use uuid::Uuid;

use crate::error::HandlerError;
use crate::message::{Incoming, Outbox, Outgoing};
use crate::processor::{Applied, Processor};

/// A service's answers to its queries.
pub trait QueryHandler: Send + Sync + 'static {
    /// Answers one query. `Rejected` dead-letters it; `Transient` retries it (until it
    /// is older than the processor's `max_age`).
    fn answer(&self, query: &Incoming) -> impl Future<Output = Result<Reply, HandlerError>> + Send;
}

/// Runs a [`QueryHandler`] behind the consumer loop, replying without a transaction.
pub struct QueryProcessor<H> {
    topics: Topics,
    handler: H,
    max_age: Duration,
}

impl<H: QueryHandler> QueryProcessor<H> {
    /// Answers queries no older than `max_age`.
    pub fn new(topics: Topics, handler: H, max_age: Duration) -> Self {
        Self {
            topics,
            handler,
            max_age,
        }
    }
}

impl<H: QueryHandler> Processor for QueryProcessor<H> {
    async fn apply(&self, query: &Incoming) -> Result<Applied, HandlerError> {
        if query.envelope.reply_to.is_none() {
            return Err(HandlerError::Rejected(
                "a query needs replyTo: nobody would read the answer".into(),
            ));
        }
        let age = chrono::Utc::now() - query.envelope.occurred_at;
        if age.to_std().is_ok_and(|age| age > self.max_age) {
            tracing::info!(
                age_ms = age.num_milliseconds(),
                "query skipped: older than anyone waits"
            );
            return Ok(Applied::Fresh(Vec::new()));
        }
        let reply = self.handler.answer(query).await?;
        let mut outbox = Outbox::new(self.topics.clone(), query.trace.clone());
        outbox.reply(&query.envelope, reply);
        Ok(Applied::Fresh(outbox.into_messages()))
    }

    async fn mark_sent(&self, _ids: &[Uuid]) -> Result<(), HandlerError> {
        Ok(())
    }

    async fn unsent(&self, _min_age: Duration, _limit: i64) -> Result<Vec<Outgoing>, HandlerError> {
        Ok(Vec::new())
    }

    async fn prune(&self, _retention: Duration, _limit: i64) -> Result<u64, HandlerError> {
        Ok(0) // queries keep neither inbox nor outbox
    }

    async fn ping(&self) -> Result<(), String> {
        Ok(())
    }
}
