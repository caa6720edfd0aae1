//! What a handler receives and what it sends.

use std::fmt::Display;

use shared_events::messages::reply::{CommandOutcome, Reply, ReplyCode};
use shared_events::{Envelope, Message, RawEnvelope, Topic, Topics};
use uuid::Uuid;

use crate::error::HandlerError;
use crate::telemetry::TraceParent;

/// A consumed message whose envelope parsed; `data` is parsed by the handler once it
/// has matched the `type`.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The topic it was read from (with prefix).
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// The record key, when it is UTF-8.
    pub key: Option<String>,
    /// The envelope, `data` still raw.
    pub envelope: RawEnvelope,
    /// The W3C trace context it carried, or a new root when it carried none.
    pub trace: TraceParent,
}

impl Incoming {
    /// `envelope` as if it had been read from `topic` (partition 0, offset 0, no key):
    /// for applying a message through a store without a broker, in tests and benchmarks.
    pub fn of<T: Message>(topic: impl Into<String>, envelope: &Envelope<T>) -> Self {
        Self {
            topic: topic.into(),
            partition: 0,
            offset: 0,
            key: None,
            envelope: RawEnvelope::parse(&envelope.to_json()).expect("an envelope serializes"),
            trace: TraceParent::root(),
        }
    }

    /// Parses `data` as `T`; a payload that does not fit is a message that can never
    /// succeed, so it is rejected (and dead-lettered) with the parser's reason.
    pub fn data<T: Message>(&self) -> Result<T, HandlerError> {
        self.envelope
            .data_as::<T>()
            .map_err(|err| HandlerError::Rejected(format!("invalid {} data: {err}", T::TYPE)))
    }

    /// The span its handling runs in, so every log line names the message.
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "message",
            message_id = %self.envelope.id,
            correlation_id = %self.envelope.correlation_id,
            kind = %self.envelope.kind,
            topic = %self.topic,
            partition = self.partition,
            offset = self.offset,
            trace_id = %self.trace.trace_id(),
        )
    }

    /// Rejects the message because no handler knows its `type`.
    pub fn unknown_type(&self) -> HandlerError {
        HandlerError::Rejected(format!("unknown message type {:?}", self.envelope.kind))
    }
}

/// A message ready to be produced: already serialized, with its id and type for headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The envelope id; the outbox is keyed by it.
    pub id: Uuid,
    /// Full topic name (with prefix).
    pub topic: String,
    /// Record key: the aggregate id.
    pub key: String,
    /// The envelope `type`, mirrored in a header.
    pub kind: String,
    /// The serialized envelope.
    pub payload: Vec<u8>,
    /// W3C `traceparent` header value.
    pub traceparent: Option<String>,
}

impl Outgoing {
    /// Serializes an envelope for a topic.
    pub fn new<T: Message>(topic: String, key: impl Display, envelope: &Envelope<T>) -> Self {
        Self {
            id: envelope.id,
            topic,
            key: key.to_string(),
            kind: envelope.kind.clone(),
            payload: envelope.to_json(),
            traceparent: None,
        }
    }

    /// Attaches a trace context.
    pub fn traced(mut self, trace: &TraceParent) -> Self {
        self.traceparent = Some(trace.to_string());
        self
    }
}

/// The messages a handler's transaction sends. They are written to the outbox in the
/// same transaction as the state change and published after it commits.
#[derive(Debug)]
pub struct Outbox {
    topics: Topics,
    trace: TraceParent,
    messages: Vec<Outgoing>,
}

impl Outbox {
    /// An empty outbox whose messages continue the given trace.
    pub fn new(topics: Topics, trace: TraceParent) -> Self {
        Self {
            topics,
            trace,
            messages: Vec::new(),
        }
    }

    /// Queues a message for a platform topic, keyed by its aggregate id.
    pub fn send<T: Message>(&mut self, topic: Topic, key: impl Display, envelope: &Envelope<T>) {
        let topic = self.topics.name(topic);
        self.messages
            .push(Outgoing::new(topic, key, envelope).traced(&self.trace.child()));
    }

    /// Queues a message for a topic given by its full name (tests, tools).
    pub fn send_to<T: Message>(
        &mut self,
        topic: String,
        key: impl Display,
        envelope: &Envelope<T>,
    ) {
        self.messages
            .push(Outgoing::new(topic, key, envelope).traced(&self.trace.child()));
    }

    /// Queues the outcome of `request` for whoever asked, when it asked (`replyTo`).
    pub fn reply(&mut self, request: &RawEnvelope, reply: Reply) {
        self.messages.extend(reply_to(request, reply, &self.trace));
    }

    /// Queues a command's success for whoever sent it: what it made or changed.
    pub fn done(&mut self, command: &RawEnvelope, outcome: CommandOutcome) {
        self.reply(command, Reply::done(command.correlation_id, &outcome));
    }

    /// Queues a command's refusal for whoever sent it: why, for programs and people.
    pub fn refuse(&mut self, command: &RawEnvelope, code: ReplyCode, message: impl Into<String>) {
        self.reply(
            command,
            Reply::failure(command.correlation_id, code, message),
        );
    }

    /// The queued messages, in the order they were sent.
    pub fn messages(&self) -> &[Outgoing] {
        &self.messages
    }

    /// Takes the queued messages.
    pub fn into_messages(self) -> Vec<Outgoing> {
        self.messages
    }
}

/// The outcome of `request` addressed to whoever asked (`replyTo`), keyed by its
/// correlation id and traced as a child of `trace`; `None` when nobody asked.
pub fn reply_to(request: &RawEnvelope, reply: Reply, trace: &TraceParent) -> Option<Outgoing> {
    let reply_to = request.reply_to.clone()?;
    let key = reply.correlation_id;
    let envelope = Envelope::caused_by(request, reply);
    Some(Outgoing::new(reply_to, key, &envelope).traced(&trace.child()))
}
