//! Request-reply over Kafka for the gateway: send a message with `replyTo`, wait for the
//! reply with the same correlation id on `gateway.replies`.
//!
//! Every gateway instance reads every partition of the replies topic without a consumer
//! group: replies are addressed by correlation id, so each instance keeps the ones it
//! waits for, hands every other one to its caller as a command's outcome, and no
//! rebalance can delay them. It starts where its caller says: a gateway reads the last
//! hour, so that it knows the outcomes of commands sent before it started, or by
//! another instance.

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shared_events::messages::reply::Reply;
use shared_events::{Envelope, Message, Topic};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::KafkaConfig;
use crate::follow::{follow, Reader, Start};
use crate::message::Outgoing;
use crate::producer::{PublishError, Publisher};
use crate::telemetry::TraceParent;

/// Why a request got no reply.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The broker did not take the request (answer 503).
    #[error(transparent)]
    Unavailable(#[from] PublishError),
    /// No reply came in time (answer 504).
    #[error("no reply within {0:?}")]
    Timeout(Duration),
}

type Waiting = Arc<Mutex<HashMap<Uuid, oneshot::Sender<Envelope<Reply>>>>>;

/// Sends commands and queries, and hands replies to whoever waits for them.
#[derive(Clone)]
pub struct Requester {
    kafka: KafkaConfig,
    publisher: Publisher,
    replies_topic: String,
    waiting: Waiting,
}

impl Requester {
    /// Starts reading the replies topic from `start`; returns once every partition is
    /// assigned, with the reader to await at shutdown. Every reply that is not the answer to one of this instance's queries
    /// (the outcome of a command, sent by this instance or another) goes to `outcome`,
    /// in the order of its partition.
    pub async fn start(
        kafka: &KafkaConfig,
        publisher: Publisher,
        start: Start,
        mut outcome: impl FnMut(Envelope<Reply>) + Send + 'static,
        shutdown: CancellationToken,
    ) -> anyhow::Result<(Self, Reader)> {
        let requester = Self {
            kafka: kafka.clone(),
            publisher,
            replies_topic: kafka.topics.name(Topic::GatewayReplies),
            waiting: Arc::default(),
        };
        let waiting = requester.waiting.clone();
        let reader = follow(
            kafka,
            &requester.replies_topic,
            start,
            shutdown,
            move |reply: Envelope<Reply>| {
                let waiter = waiting
                    .lock()
                    .expect("not poisoned")
                    .remove(&reply.data.correlation_id);
                match waiter {
                    // An answer to a query this instance asked: not a command's outcome.
                    Some(waiter) => drop(waiter.send(reply)),
                    None => outcome(reply),
                }
            },
        )
        .await?;
        Ok((requester, reader))
    }

    /// The full name of the replies topic, for `replyTo`.
    pub fn replies_topic(&self) -> &str {
        &self.replies_topic
    }

    /// Produces a message to a platform topic and waits for the broker's acknowledgement,
    /// at most `KAFKA_SEND_TIMEOUT_MS` and a second. Unacknowledged is not unwritten: a
    /// record the broker acknowledges later is still read.
    pub async fn send<T: Message>(
        &self,
        topic: Topic,
        key: impl Display,
        envelope: &Envelope<T>,
        trace: &TraceParent,
    ) -> Result<(), PublishError> {
        let outgoing = Outgoing::new(self.kafka.topics.name(topic), key, envelope).traced(trace);
        self.publisher.send(&outgoing).await
    }

    /// Sends `envelope` with `replyTo` set and waits up to `timeout` for its reply.
    pub async fn request<T: Message>(
        &self,
        topic: Topic,
        key: impl Display,
        envelope: Envelope<T>,
        trace: &TraceParent,
        timeout: Duration,
    ) -> Result<Envelope<Reply>, RequestError> {
        let envelope = envelope.with_reply_to(self.replies_topic.clone());
        let correlation_id = envelope.correlation_id;
        let (tx, rx) = oneshot::channel();
        self.waiting
            .lock()
            .expect("not poisoned")
            .insert(correlation_id, tx);
        let _forget = Forget {
            waiting: &self.waiting,
            correlation_id,
        };
        self.send(topic, key, &envelope, trace).await?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            _ => Err(RequestError::Timeout(timeout)),
        }
    }
}

/// Removes a waiter however its request ended.
struct Forget<'a> {
    waiting: &'a Waiting,
    correlation_id: Uuid,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.waiting
            .lock()
            .expect("not poisoned")
            .remove(&self.correlation_id);
    }
}
