//! What a service does with each message it reads, said once: a table of (topic,
//! message type, function). The runtime subscribes to the table's topics, checks the
//! table against [`shared_events::topology`] when the service starts, decodes each
//! message's `data` as the type its entry names, and calls the entry's function.
//!
//! A message whose type the table does not list takes one of two ways, decided here
//! and nowhere else: a type the topology lists on its topic for other readers is
//! skipped before the store (somebody else's business); any other type is dead-lettered
//! as unknown, on a command topic and an event topic alike.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use shared_events::messages::reply::{Reply, ReplyCode, ReplyError};
use shared_events::topics::Service as ServiceName;
use shared_events::{topology, Message, Query, Topic, Topics};

use crate::error::HandlerError;
use crate::message::{Incoming, Outbox};

/// The future a table entry returns.
pub type Handled<'a, T = ()> = Pin<Box<dyn Future<Output = Result<T, HandlerError>> + Send + 'a>>;

/// An async function taking the service's handler `H`, the message, its decoded `data`
/// of type `M`, the store's transaction `S` and the outbox: what a table entry holds.
/// Any `async fn(&H, &Incoming, M, &mut S, &mut Outbox) -> Result<(), HandlerError>`
/// is one.
pub trait HandleFn<'a, H: 'a, M, S: 'a>: Send + Sync + 'static {
    /// The future the function returns.
    type Future: Future<Output = Result<(), HandlerError>> + Send + 'a;
    /// Calls it.
    fn call(
        &self,
        handler: &'a H,
        message: &'a Incoming,
        data: M,
        store: &'a mut S,
        outbox: &'a mut Outbox,
    ) -> Self::Future;
}

impl<'a, H: 'a, M, S: 'a, F, Fut> HandleFn<'a, H, M, S> for F
where
    F: Fn(&'a H, &'a Incoming, M, &'a mut S, &'a mut Outbox) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'a,
{
    type Future = Fut;
    fn call(
        &self,
        handler: &'a H,
        message: &'a Incoming,
        data: M,
        store: &'a mut S,
        outbox: &'a mut Outbox,
    ) -> Fut {
        self(handler, message, data, store, outbox)
    }
}

type Erased<H, S> = Box<
    dyn for<'a> Fn(&'a H, &'a Incoming, &'a mut S, &'a mut Outbox) -> Handled<'a> + Send + Sync,
>;

fn erase<H, S, F>(handle: F) -> Erased<H, S>
where
    F: for<'a> Fn(&'a H, &'a Incoming, &'a mut S, &'a mut Outbox) -> Handled<'a>
        + Send
        + Sync
        + 'static,
{
    Box::new(handle)
}

/// A service's table of what it handles, with `H` its handler and `S` its store's
/// transaction (`PgConnection`, `ClientSession`).
pub struct Handlers<H, S> {
    entries: Vec<(Topic, &'static str, Erased<H, S>)>,
    /// The (topic, type) entries whose messages are snapshots of their key's state.
    latest: Vec<(Topic, &'static str)>,
}

impl<H: Send + Sync + 'static, S: Send + 'static> Default for Handlers<H, S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H: Send + Sync + 'static, S: Send + 'static> Handlers<H, S> {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
            latest: Vec::new(),
        }
    }

    /// Handles messages of type `M` (named by `handle`'s third parameter) on `topic`
    /// with `handle`. The runtime parses `data` as `M` first: data that does not fit
    /// is rejected before `handle` runs. A (topic, type) listed twice is a mistake in the
    /// code and stops the service as it builds its table.
    pub fn on<M: Message, F>(mut self, topic: Topic, handle: F) -> Self
    where
        F: for<'a> HandleFn<'a, H, M, S>,
    {
        let listed = self
            .entries
            .iter()
            .any(|(t, kind, _)| (*t, *kind) == (topic, M::TYPE));
        assert!(
            !listed,
            "{} on {} is in the table twice",
            M::TYPE,
            topic.base_name()
        );
        let erased = erase(
            move |handler, message, store, outbox| match message.data::<M>() {
                Ok(data) => Box::pin(handle.call(handler, message, data, store, outbox)),
                Err(err) => Box::pin(std::future::ready(Err(err))),
            },
        );
        self.entries.push((topic, M::TYPE, erased));
        self
    }

    /// Handles `M` on `topic` as [`Handlers::on`] does, for a type that is a snapshot of
    /// its record key's state: a later one replaces an earlier one whole (`available`
    /// stock, say). In a batch, only the last of a key is handled; the earlier ones are
    /// recorded in the inbox like any message and change nothing, since the last writes
    /// what they would have overwritten. A record of this type must have a key (the
    /// topology keys it); one without is handled alone.
    pub fn on_latest<M: Message, F>(mut self, topic: Topic, handle: F) -> Self
    where
        F: for<'a> HandleFn<'a, H, M, S>,
    {
        self.latest.push((topic, M::TYPE));
        self.on(topic, handle)
    }

    /// Each topic of the table with the types handled there, in the table's order.
    pub fn reads(&self) -> Reads {
        Reads::of(self.entries.iter().map(|(topic, kind, _)| (*topic, *kind)))
    }

    /// The table looked up by full topic name (with `topics`' prefix) and type.
    pub fn resolve(self, topics: &Topics) -> Dispatch<H, S> {
        let reads = self.reads();
        let mut by_topic: HashMap<String, HashMap<&'static str, Erased<H, S>>> = HashMap::new();
        for (topic, kind, handle) in self.entries {
            by_topic
                .entry(topics.name(topic))
                .or_default()
                .insert(kind, handle);
        }
        let mut latest: HashMap<String, HashSet<&'static str>> = HashMap::new();
        for (topic, kind) in self.latest {
            latest.entry(topics.name(topic)).or_default().insert(kind);
        }
        Dispatch {
            reads,
            by_topic,
            latest,
        }
    }
}

/// A service's handler, declared by its table: what `H::handlers()` lists, with the
/// store transaction `S` its functions work in.
pub trait Handles<S>: Sized + Send + Sync + 'static {
    /// The table: every (topic, type) the service handles and the function for it.
    fn handlers() -> Handlers<Self, S>;

    /// Runs once at the start of a group commit, before any message of the batch. A
    /// handler whose messages lock rows that other partitions' messages lock too takes
    /// all of the batch's locks here, in one order, so that concurrent batches queue
    /// behind each other instead of deadlocking (which PostgreSQL notices only after
    /// `deadlock_timeout`, a second, and then rolls a batch back).
    fn lock_batch(
        &self,
        _messages: &[&Incoming],
        _store: &mut S,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async { Ok(()) }
    }
}

/// A handler with its table resolved for a deployment's topic names: what a store's
/// processor runs.
pub struct Table<H, S> {
    handler: H,
    dispatch: Dispatch<H, S>,
}

impl<H: Handles<S>, S: Send + 'static> Table<H, S> {
    /// `handler` with its table, for the topics named by `topics`.
    pub fn new(handler: H, topics: &Topics) -> Self {
        Self {
            dispatch: H::handlers().resolve(topics),
            handler,
        }
    }

    /// What the table reads.
    pub fn reads(&self) -> &Reads {
        self.dispatch.reads()
    }

    /// Runs the entry for `message`, or rejects it as unknown.
    pub fn handle<'a>(
        &'a self,
        message: &'a Incoming,
        store: &'a mut S,
        outbox: &'a mut Outbox,
    ) -> Handled<'a> {
        self.dispatch.handle(&self.handler, message, store, outbox)
    }

    /// Which of a batch's messages a later one replaces ([`Dispatch::superseded`]).
    pub fn superseded(&self, messages: &[&Incoming]) -> Vec<bool> {
        self.dispatch.superseded(messages)
    }

    /// The handler's [`Handles::lock_batch`].
    pub fn lock_batch<'a>(
        &'a self,
        messages: &'a [&'a Incoming],
        store: &'a mut S,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a {
        self.handler.lock_batch(messages, store)
    }
}

/// A table ready to dispatch: what a processor holds.
pub struct Dispatch<H, S> {
    reads: Reads,
    by_topic: HashMap<String, HashMap<&'static str, Erased<H, S>>>,
    /// The snapshot types ([`Handlers::on_latest`]) by full topic name.
    latest: HashMap<String, HashSet<&'static str>>,
}

impl<H, S> Dispatch<H, S> {
    /// What the table reads.
    pub fn reads(&self) -> &Reads {
        &self.reads
    }

    /// For each of a batch's messages, in order, whether a later one of the batch
    /// replaces it: a snapshot type ([`Handlers::on_latest`]) with the same topic, type
    /// and key.
    pub fn superseded(&self, messages: &[&Incoming]) -> Vec<bool> {
        let snapshot = |m| snapshot_of(&self.latest, m);
        let mut last = HashMap::new();
        for (index, message) in messages.iter().enumerate() {
            if let Some(id) = snapshot(message) {
                last.insert(id, index);
            }
        }
        messages
            .iter()
            .enumerate()
            .map(|(index, m)| snapshot(m).is_some_and(|id| last[&id] != index))
            .collect()
    }

    /// Runs the entry for `message`'s topic and type, or rejects it as unknown.
    pub fn handle<'a>(
        &'a self,
        handler: &'a H,
        message: &'a Incoming,
        store: &'a mut S,
        outbox: &'a mut Outbox,
    ) -> Handled<'a> {
        let entry = self
            .by_topic
            .get(&message.topic)
            .and_then(|kinds| kinds.get(message.envelope.kind.as_str()));
        match entry {
            Some(handle) => handle(handler, message, store, outbox),
            None => Box::pin(std::future::ready(Err(message.unknown_type()))),
        }
    }
}

/// A snapshot message's topic, type and key, which a later one with the same replaces.
fn snapshot_of<'m>(
    latest: &HashMap<String, HashSet<&'static str>>,
    message: &'m Incoming,
) -> Option<(&'m str, &'m str, &'m str)> {
    let kind = message.envelope.kind.as_str();
    let snapshot = latest.get(&message.topic)?.contains(kind);
    snapshot.then_some((message.topic.as_str(), kind, message.key.as_deref()?))
}

/// The topics a consumer reads, each with the types handled there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reads(Vec<(Topic, Vec<&'static str>)>);

impl Reads {
    fn of(pairs: impl IntoIterator<Item = (Topic, &'static str)>) -> Self {
        let mut reads: Vec<(Topic, Vec<&'static str>)> = Vec::new();
        for (topic, kind) in pairs {
            match reads.iter_mut().find(|(t, _)| *t == topic) {
                Some((_, kinds)) => kinds.push(kind),
                None => reads.push((topic, vec![kind])),
            }
        }
        Self(reads)
    }

    /// The topics, in the table's order.
    pub fn topics(&self) -> Vec<Topic> {
        self.0.iter().map(|(topic, _)| *topic).collect()
    }

    /// Whether `service`'s entries in the topology say the same: on each of these
    /// topics it reads exactly these types. The error names every difference.
    pub fn check_against_topology(&self, service: ServiceName) -> Result<(), String> {
        let mut differences = Vec::new();
        for (topic, kinds) in &self.0 {
            let listed = topology::read_by(service, *topic).unwrap_or_default();
            let mut handled = kinds.clone();
            handled.sort_unstable();
            let mut expected = listed.clone();
            expected.sort_unstable();
            if handled != expected {
                differences.push(format!(
                    "on {} it handles {handled:?}, the topology says it reads {expected:?}",
                    topic.base_name()
                ));
            }
        }
        if differences.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}'s handler table does not match shared_events::topology: {}",
                service.name(),
                differences.join("; ")
            ))
        }
    }
}

/// Why a query got no answer: refused (the asker is told why) or failed (retried or
/// dead-lettered as a [`HandlerError`] says).
#[derive(Debug)]
pub enum QueryError {
    /// The asker gets this refusal as the reply.
    Refused(ReplyError),
    /// Answering failed.
    Failed(HandlerError),
}

impl QueryError {
    /// A refusal with `code` and a sentence for people.
    pub fn refused(code: ReplyCode, message: impl Into<String>) -> Self {
        Self::Refused(ReplyError {
            code,
            message: message.into(),
        })
    }
}

impl<E> From<E> for QueryError
where
    HandlerError: From<E>,
{
    fn from(err: E) -> Self {
        Self::Failed(err.into())
    }
}

/// An async function answering queries of type `Q` for a service's query handler `H`:
/// any `async fn(&H, &Incoming, Q) -> Result<Q::Answer, QueryError>`.
pub trait AnswerFn<'a, H: 'a, Q: Query>: Send + Sync + 'static {
    /// The future the function returns.
    type Future: Future<Output = Result<Q::Answer, QueryError>> + Send + 'a;
    /// Calls it.
    fn call(&self, handler: &'a H, query: &'a Incoming, data: Q) -> Self::Future;
}

impl<'a, H: 'a, Q: Query, F, Fut> AnswerFn<'a, H, Q> for F
where
    F: Fn(&'a H, &'a Incoming, Q) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Q::Answer, QueryError>> + Send + 'a,
{
    type Future = Fut;
    fn call(&self, handler: &'a H, query: &'a Incoming, data: Q) -> Fut {
        self(handler, query, data)
    }
}

type ErasedAnswer<H> = Box<dyn for<'a> Fn(&'a H, &'a Incoming) -> Handled<'a, Reply> + Send + Sync>;

fn erase_answer<H, F>(answer: F) -> ErasedAnswer<H>
where
    F: for<'a> Fn(&'a H, &'a Incoming) -> Handled<'a, Reply> + Send + Sync + 'static,
{
    Box::new(answer)
}

/// A service's table of the queries it answers, on its one query topic.
pub struct Answers<H> {
    topic: Topic,
    entries: Vec<(&'static str, ErasedAnswer<H>)>,
}

impl<H: Send + Sync + 'static> Answers<H> {
    /// An empty table for the queries on `topic`.
    pub fn new(topic: Topic) -> Self {
        Self {
            topic,
            entries: Vec::new(),
        }
    }

    /// Answers queries of type `Q` (named by `answer`'s third parameter) with `answer`:
    /// its answer is the reply's data, its refusal the reply's error.
    pub fn on<Q: Query, F>(mut self, answer: F) -> Self
    where
        F: for<'a> AnswerFn<'a, H, Q>,
    {
        let listed = self.entries.iter().any(|(kind, _)| *kind == Q::TYPE);
        assert!(!listed, "{} is in the table twice", Q::TYPE);
        let erased = erase_answer(move |handler, query| {
            let data = match query.data::<Q>() {
                Ok(data) => data,
                Err(err) => return Box::pin(std::future::ready(Err(err))),
            };
            let answering = answer.call(handler, query, data);
            let correlation_id = query.envelope.correlation_id;
            Box::pin(async move {
                match answering.await {
                    Ok(answer) => Ok(Reply::answer::<Q>(correlation_id, &answer)),
                    Err(QueryError::Refused(error)) => Ok(Reply::refused(correlation_id, error)),
                    Err(QueryError::Failed(err)) => Err(err),
                }
            })
        });
        self.entries.push((Q::TYPE, erased));
        self
    }

    /// The topic and the types answered there.
    pub fn reads(&self) -> Reads {
        Reads::of(self.entries.iter().map(|(kind, _)| (self.topic, *kind)))
    }

    /// Answers `query` with its entry, or rejects it as unknown.
    pub fn answer<'a>(&'a self, handler: &'a H, query: &'a Incoming) -> Handled<'a, Reply> {
        let entry = self
            .entries
            .iter()
            .find(|(kind, _)| *kind == query.envelope.kind);
        match entry {
            Some((_, answer)) => answer(handler, query),
            None => Box::pin(std::future::ready(Err(query.unknown_type()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use shared_events::messages::auth::RegisterUser;
    use shared_events::messages::order::{CancelOrder, OrderCancelled, PlaceOrder};
    use shared_events::{Envelope, RawEnvelope};

    use super::*;
    use crate::telemetry::TraceParent;

    /// Counts what it was given, in place of a store's transaction.
    type Seen = Vec<String>;

    async fn cancel(
        _: &(),
        _: &Incoming,
        command: CancelOrder,
        seen: &mut Seen,
        _: &mut Outbox,
    ) -> Result<(), HandlerError> {
        seen.push(format!("cancel {}", command.reason));
        Ok(())
    }

    async fn cancelled(
        _: &(),
        _: &Incoming,
        event: OrderCancelled,
        seen: &mut Seen,
        _: &mut Outbox,
    ) -> Result<(), HandlerError> {
        seen.push(format!("cancelled {}", event.reason));
        Ok(())
    }

    fn table() -> Handlers<(), Seen> {
        Handlers::new()
            .on(Topic::OrderCommands, cancel)
            .on(Topic::OrderEvents, cancelled)
    }

    fn incoming(topic: &str, kind: &str, data: serde_json::Value) -> Incoming {
        let command = CancelOrder {
            order_id: uuid::Uuid::nil(),
            reason: "x".into(),
        };
        let envelope = Envelope::new(command, uuid::Uuid::new_v4(), None);
        let mut raw: serde_json::Value = serde_json::from_slice(&envelope.to_json()).unwrap();
        raw["type"] = kind.into();
        raw["data"] = data;
        Incoming {
            topic: topic.into(),
            partition: 0,
            offset: 0,
            key: None,
            envelope: RawEnvelope::parse(raw.to_string().as_bytes()).unwrap(),
            trace: TraceParent::root(),
        }
    }

    async fn run(dispatch: &Dispatch<(), Seen>, message: &Incoming) -> Result<Seen, HandlerError> {
        let mut seen = Seen::new();
        let mut outbox = Outbox::new(Topics::new("p."), TraceParent::root());
        dispatch
            .handle(&(), message, &mut seen, &mut outbox)
            .await?;
        Ok(seen)
    }

    #[tokio::test]
    async fn a_message_goes_to_the_entry_of_its_topic_and_type_with_its_data_decoded() {
        let dispatch = table().resolve(&Topics::new("p."));
        let data = serde_json::json!({ "orderId": uuid::Uuid::nil(), "reason": "changed_mind" });
        let command = incoming("p.order.commands", CancelOrder::TYPE, data.clone());
        assert_eq!(
            run(&dispatch, &command).await.unwrap(),
            ["cancel changed_mind"]
        );
        let event = incoming("p.order.events", OrderCancelled::TYPE, data);
        assert_eq!(
            run(&dispatch, &event).await.unwrap(),
            ["cancelled changed_mind"]
        );
    }

    #[tokio::test]
    async fn a_type_the_table_does_not_list_on_that_topic_or_data_that_does_not_fit_is_rejected() {
        let dispatch = table().resolve(&Topics::new("p."));
        let data = serde_json::json!({ "orderId": uuid::Uuid::nil(), "reason": "r" });
        let elsewhere = incoming("p.order.events", CancelOrder::TYPE, data.clone());
        let unknown = incoming("p.order.commands", "order.teleport", data);
        let misfit = incoming("p.order.commands", CancelOrder::TYPE, serde_json::json!({}));
        for message in [elsewhere, unknown, misfit] {
            let refused = run(&dispatch, &message).await.unwrap_err();
            assert!(matches!(refused, HandlerError::Rejected(_)), "{refused}");
        }
    }

    #[test]
    fn a_table_is_checked_against_the_topology_naming_every_difference() {
        let reads = Handlers::<(), Seen>::new()
            .on(Topic::OrderCommands, cancel)
            .reads();
        assert_eq!(reads.topics(), [Topic::OrderCommands]);
        let problem = reads
            .check_against_topology(ServiceName::Order)
            .unwrap_err();
        assert!(problem.contains(PlaceOrder::TYPE), "{problem}");
        let wrong_reader = reads.check_against_topology(ServiceName::Auth).unwrap_err();
        assert!(wrong_reader.contains("order.commands"), "{wrong_reader}");
        let auth = Handlers::<(), Seen>::new().on(Topic::AuthCommands, register);
        assert_eq!(
            auth.reads().check_against_topology(ServiceName::Auth),
            Ok(())
        );
    }

    async fn register(
        _: &(),
        _: &Incoming,
        _: RegisterUser,
        _: &mut Seen,
        _: &mut Outbox,
    ) -> Result<(), HandlerError> {
        Ok(())
    }

    #[test]
    fn in_a_batch_only_the_last_snapshot_of_a_key_is_handled() {
        let dispatch = Handlers::<(), Seen>::new()
            .on(Topic::OrderCommands, cancel)
            .on_latest(Topic::OrderEvents, cancelled)
            .resolve(&Topics::new("p."));
        let data = serde_json::json!({ "orderId": uuid::Uuid::nil(), "reason": "r" });
        let keyed = |topic: &str, kind: &str, key: Option<&str>| {
            let mut message = incoming(topic, kind, data.clone());
            message.key = key.map(str::to_string);
            message
        };
        let batch = [
            keyed("p.order.events", OrderCancelled::TYPE, Some("a")),
            keyed("p.order.events", OrderCancelled::TYPE, Some("b")),
            keyed("p.order.commands", CancelOrder::TYPE, Some("a")),
            keyed("p.order.events", OrderCancelled::TYPE, Some("a")),
            keyed("p.order.events", OrderCancelled::TYPE, None),
            keyed("p.order.events", OrderCancelled::TYPE, None),
        ];
        let batch: Vec<&Incoming> = batch.iter().collect();
        assert_eq!(
            dispatch.superseded(&batch),
            [true, false, false, false, false, false],
            "the first 'a' gives way to the later one; commands and keyless ones never do"
        );
    }

    #[test]
    #[should_panic(expected = "in the table twice")]
    fn a_type_listed_twice_on_a_topic_stops_the_table() {
        let _ = table().on(Topic::OrderCommands, cancel);
    }
}
