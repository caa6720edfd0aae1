//! Request-reply reads: a query is answered, not applied.
//!
//! A query changes nothing, so it needs neither inbox nor outbox: answering it twice
//! answers twice, which is harmless, and nothing about it is written to a database
//! (login queries carry a password, and their answers a token). Its partition task reads
//! a query, runs the handler, publishes the reply straight to the topic the query named
//! in `replyTo`, and only then stores the query's offset. A query older than [`MAX_AGE`] is
//! skipped: whoever asked has stopped waiting, and answering a backlog after an outage
//! would only delay the questions still being waited for.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::KafkaConfig;
use crate::consumer::{self, rejected_reply, ConsumerSpec, Lane, Record};
use crate::error::HandlerError;
use crate::handlers::Answers;
use crate::message::{reply_to, Incoming, Outgoing};
use crate::metrics::{InFlight, Metrics};
use crate::producer::Publisher;
use crate::retry::Backoff;

/// How long a query may wait on its topic before nobody is waiting for its answer: the
/// gateway gives up on a query well before (`REQUEST_TIMEOUT_MS`, 5 s by default).
pub const MAX_AGE: Duration = Duration::from_secs(30);

/// A service's answers to its queries, declared by its table.
pub trait QueryHandler: Sized + Send + Sync + 'static {
    /// The table: each query type it answers and the function answering it. A function
    /// failing with `Rejected` dead-letters the query; `Transient` retries it until it is
    /// older than [`MAX_AGE`] (then it is skipped) or fails past the retry budget (then it
    /// is parked in the DLQ).
    fn answers() -> Answers<Self>;
}

/// Answers the queries on `spec`'s topics with `handler`'s table `answers` until
/// `shutdown`, skipping those older than [`MAX_AGE`]; then commits and closes.
pub async fn run<H: QueryHandler>(
    kafka: &KafkaConfig,
    spec: ConsumerSpec,
    handler: H,
    answers: Answers<H>,
    publisher: Publisher,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let lane = Lane::subscribe(kafka, spec, publisher, metrics, shutdown)?;
    let answerer = Arc::new(Answerer {
        lane: lane.clone(),
        answers,
        handler,
    });
    consumer::poll(lane, move |queue, in_flight| {
        answerer.clone().run_partition(queue, in_flight)
    })
    .await;
    Ok(())
}

/// What became of one query.
enum Outcome {
    /// Its reply, to publish.
    Reply(Outgoing),
    /// Nothing to publish: skipped as too old, or dead-lettered with nobody to tell.
    Silent,
    /// Shutdown came first: its offset stays unstored.
    Interrupted,
}

/// A partition task's view of the query consumer.
struct Answerer<H> {
    lane: Arc<Lane>,
    answers: Answers<H>,
    handler: H,
}

impl<H: QueryHandler> Answerer<H> {
    /// Answers a partition's queries one at a time: answer, publish the reply, store
    /// the offset. `in_flight` tells `/metrics` since when the query in hand has waited.
    async fn run_partition(
        self: Arc<Self>,
        mut queue: mpsc::Receiver<Record>,
        in_flight: Arc<InFlight>,
    ) {
        while let Some(record) = self.lane.next(&mut queue).await {
            in_flight.start(record.received);
            self.lane.consumed(&record);
            let outcome = match record.parse() {
                Ok(query) => self.answer(&record, &query).instrument(query.span()).await,
                Err(reason) => self.dead_letter(&record, None, &reason).await,
            };
            match outcome {
                Outcome::Reply(reply) => {
                    if !self.lane.send_all(std::slice::from_ref(&reply)).await {
                        return;
                    }
                }
                Outcome::Silent => {}
                Outcome::Interrupted => return,
            }
            self.lane.finished(&record);
            in_flight.finish();
        }
    }

    /// Runs the handler, retrying transient failures while someone may still wait.
    async fn answer(&self, record: &Record, query: &Incoming) -> Outcome {
        if query.envelope.reply_to.is_none() {
            let reason = "a query needs replyTo: nobody would read the answer";
            return self.dead_letter(record, Some(query), reason).await;
        }
        let mut backoff = Backoff::default();
        let failing_since = Instant::now();
        loop {
            let age = chrono::Utc::now() - query.envelope.occurred_at;
            if age.to_std().is_ok_and(|age| age > MAX_AGE) {
                tracing::info!(
                    age_ms = age.num_milliseconds(),
                    "query skipped: older than anyone waits"
                );
                self.processed(record);
                return Outcome::Silent;
            }
            let err = match self.answers.answer(&self.handler, query).await {
                Ok(reply) => {
                    self.processed(record);
                    tracing::debug!("query answered");
                    let reply = reply_to(&query.envelope, reply, &query.trace);
                    return reply.map_or(Outcome::Silent, Outcome::Reply);
                }
                Err(HandlerError::Rejected(reason)) => {
                    return self.dead_letter(record, Some(query), &reason).await;
                }
                Err(HandlerError::Transient(err)) => err,
            };
            if failing_since.elapsed() >= self.lane.retry_budget {
                let kind = &query.envelope.kind;
                let value = without_data(&record.payload);
                return match self.lane.park(record, kind, &err, &backoff, &value).await {
                    Some(reason) => self.rejected(query, &reason),
                    None => Outcome::Interrupted,
                };
            }
            if !self.lane.wait_to_retry(record, &err, &mut backoff).await {
                return Outcome::Interrupted;
            }
        }
    }

    fn processed(&self, record: &Record) {
        let processed = self
            .lane
            .metrics
            .processed
            .with_label_values(&[&record.topic]);
        processed.inc();
    }

    /// Sends the query to the DLQ without its `data`, which may hold a secret (a login's
    /// password) while a DLQ is kept for months; nobody re-drives a query anyway. Whoever
    /// waits is answered `rejected`.
    async fn dead_letter(
        &self,
        record: &Record,
        query: Option<&Incoming>,
        reason: &str,
    ) -> Outcome {
        let kind = query.map(|query| query.envelope.kind.as_str());
        let value = without_data(&record.payload);
        if !self.lane.dead_letter(record, kind, reason, &value).await {
            return Outcome::Interrupted;
        }
        match query {
            Some(query) => self.rejected(query, reason),
            None => Outcome::Silent,
        }
    }

    /// Tells whoever asked, if anyone, that their query failed.
    fn rejected(&self, query: &Incoming, reason: &str) -> Outcome {
        rejected_reply(query, reason).map_or(Outcome::Silent, Outcome::Reply)
    }
}

/// The envelope with `data` set to null, or nothing when the value is not a JSON object.
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
