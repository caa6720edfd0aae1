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

/// How long a query may wait on its topic before nobody is waiting for its answer: the
/// gateway gives up on a query well before (`REQUEST_TIMEOUT_MS`, 5 s by default).
pub const MAX_AGE: Duration = Duration::from_secs(30);

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

    /// A query's `data` may hold a secret (a login's password), and a DLQ is kept for
    /// months: the dead letter keeps the envelope with `data` set to null, or nothing
    /// when the value is not a JSON object. Nobody re-drives a query anyway.
    fn dead_letter_value(&self, value: &[u8]) -> Vec<u8> {
        without_data(value)
    }
}

fn without_data(value: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(mut envelope)) => {
            if envelope.contains_key("data") {
                envelope.insert("data".into(), serde_json::Value::Null);
            }
            serde_json::to_vec(&envelope).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_lettered_query_keeps_its_envelope_but_not_its_data() {
        let login = br#"{"id":"x","type":"auth.login","data":{"email":"a@b.io","password":"hunter2 secret"}}"#;
        let kept = String::from_utf8(without_data(login)).unwrap();
        assert!(!kept.contains("hunter2"), "{kept}");
        assert!(kept.contains(r#""type":"auth.login""#) && kept.contains(r#""data":null"#));
        assert!(without_data(b"password=hunter2").is_empty());
        assert!(without_data(br#"["hunter2"]"#).is_empty());
    }
}
