//! The MongoDB store: the same guarantees as PostgreSQL, with `runtime_inbox` and
//! `runtime_outbox` collections written in the service's multi-document transaction.

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use mongodb::bson::{doc, spec::BinarySubtype, Binary, Bson, DateTime, Document};
use mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT;
use mongodb::{Client, ClientSession, Collection, Database};
use secrecy::{ExposeSecret, SecretString};
use shared_events::topics::Service as ServiceName;
use shared_events::Topics;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::error::{duplicate_key, HandlerError};
#[cfg(doc)]
use crate::handlers::Handlers;
use crate::handlers::{Handles, Reads, Table};
use crate::message::{Incoming, Outbox, Outgoing};
use crate::processor::{Applied, Processor, SentMarks};
use crate::retry::Backoff;

/// Connects to `service`'s database at `uri` (`MONGODB_URI`, a setting of the
/// service's own), waiting while the server is away (or until shutdown). A URI without a
/// database uses `commerce_<service>`.
pub async fn open(
    uri: &SecretString,
    service: ServiceName,
    shutdown: &CancellationToken,
) -> anyhow::Result<Database> {
    let default_database = format!("commerce_{}", service.name());
    connect(uri.expose_secret(), &default_database, shutdown).await
}

/// A service's reaction to one message, inside the transaction of `session`.
pub trait MongoHandler: Send + Sync + 'static {
    /// Changes state with `.session(session)` on every operation and queues the messages
    /// it causes in `outbox`.
    fn handle(
        &self,
        message: &Incoming,
        session: &mut ClientSession,
        outbox: &mut Outbox,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// For each of a batch's messages, whether a later one of the batch replaces it, so
    /// that it is recorded in the inbox without being handled ([`Handlers::on_latest`]).
    fn superseded(&self, messages: &[&Incoming]) -> Vec<bool> {
        vec![false; messages.len()]
    }

    /// The topics and types it handles. A service's handler is a [`Table`], which says;
    /// a bare handler (the runtime's own tests) reads whatever its consumer is given.
    fn reads(&self) -> Reads {
        Reads::default()
    }
}

/// A service's table on MongoDB.
impl<H: Handles<ClientSession>> MongoHandler for Table<H, ClientSession> {
    async fn handle(
        &self,
        message: &Incoming,
        session: &mut ClientSession,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        Table::handle(self, message, session, outbox).await
    }

    fn superseded(&self, messages: &[&Incoming]) -> Vec<bool> {
        Table::superseded(self, messages)
    }

    fn reads(&self) -> Reads {
        Table::reads(self).clone()
    }
}

/// Connects to MongoDB, waiting with backoff until it answers a ping, and returns the
/// database named in the URI (or `default_db`).
pub async fn connect(
    uri: &str,
    default_db: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<Database> {
    let client = Client::with_uri_str(uri).await?;
    let db = client
        .default_database()
        .unwrap_or_else(|| client.database(default_db));
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        match db.run_command(doc! { "ping": 1 }).await {
            Ok(_) => {
                db.collection::<Document>("runtime_outbox")
                    .create_index(
                        mongodb::IndexModel::builder()
                            .keys(doc! { "sent": 1, "created": 1, "ord": 1 })
                            .build(),
                    )
                    .await?;
                return Ok(db);
            }
            Err(err) => {
                tracing::warn!(error = %err, "MongoDB unavailable, retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => anyhow::bail!("shut down while waiting for MongoDB"),
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
        }
    }
}

/// Applies messages with a [`MongoHandler`] in MongoDB transactions.
pub struct MongoProcessor<H> {
    db: Database,
    topics: Topics,
    handler: H,
    sent: SentMarks,
}

impl<H: MongoHandler> MongoProcessor<H> {
    /// A processor over `db`.
    pub fn new(db: Database, topics: Topics, handler: H) -> Self {
        Self {
            db,
            topics,
            handler,
            sent: SentMarks::default(),
        }
    }

    fn inbox(&self) -> Collection<Document> {
        self.db.collection("runtime_inbox")
    }

    fn outbox(&self) -> Collection<Document> {
        self.db.collection("runtime_outbox")
    }
}

fn sent_filter(ids: &[Uuid]) -> Document {
    let ids: Vec<Bson> = ids.iter().copied().map(uuid_bson).collect();
    doc! { "_id": { "$in": ids } }
}

fn sent_update() -> Document {
    doc! { "$set": { "sent": true } }
}

/// The processor of a service's handler table `H` on MongoDB.
pub type ServiceProcessor<H> = MongoProcessor<Table<H, ClientSession>>;

impl<T: Handles<ClientSession>> MongoProcessor<Table<T, ClientSession>> {
    /// A processor over `db` applying the messages `handler`'s table lists.
    pub fn handling(db: Database, topics: Topics, handler: T) -> Self {
        let table = Table::new(handler, &topics);
        Self::new(db, topics, table)
    }
}

fn uuid_bson(id: Uuid) -> Bson {
    Bson::String(id.to_string())
}

fn outbox_document(m: &Outgoing, ord: usize) -> Document {
    doc! {
        "_id": uuid_bson(m.id),
        "topic": &m.topic,
        "key": &m.key,
        "kind": &m.kind,
        "payload": Binary { subtype: BinarySubtype::Generic, bytes: m.payload.clone() },
        "traceparent": m.traceparent.clone(),
        "created": DateTime::now(),
        "ord": ord as i32,
        "sent": false,
    }
}

fn outgoing_from(document: &Document) -> Option<Outgoing> {
    Some(Outgoing {
        id: document.get_str("_id").ok()?.parse().ok()?,
        topic: document.get_str("topic").ok()?.to_string(),
        key: document.get_str("key").ok()?.to_string(),
        kind: document.get_str("kind").ok()?.to_string(),
        payload: document.get_binary_generic("payload").ok()?.clone(),
        traceparent: document.get_str("traceparent").ok().map(str::to_string),
    })
}

/// How a transaction finds the messages its inbox has already seen.
enum Inbox {
    /// Writes every entry first, without reading: one operation fewer, and right unless
    /// a message is a redelivery, when the write finds its id taken.
    AssumeNew,
    /// Reads which ids are there before writing the others.
    ReadFirst,
}

impl<H: MongoHandler> MongoProcessor<H> {
    /// Writes the inbox entries of `messages` and runs the handler for each fresh one
    /// inside `session`'s transaction, then writes their outbox documents. A message the
    /// inbox already has, or one repeated within `messages`, is a duplicate. MongoDB
    /// aborts a transaction on any write error, so an inbox id found taken ends it with
    /// `Ok(None)`: with [`Inbox::AssumeNew`], to be run again with [`Inbox::ReadFirst`].
    async fn apply_in(
        &self,
        messages: &[&Incoming],
        session: &mut ClientSession,
        inbox: Inbox,
    ) -> Result<Option<Vec<Applied>>, HandlerError> {
        let mut seen = match inbox {
            Inbox::AssumeNew => HashSet::new(),
            Inbox::ReadFirst => self.seen_before(messages, session).await?,
        };
        let fresh: Vec<bool> = messages
            .iter()
            .map(|m| seen.insert(m.envelope.id.to_string()))
            .collect();
        let entries: Vec<Document> = messages
            .iter()
            .zip(&fresh)
            .filter(|(_, fresh)| **fresh)
            .map(|(m, _)| doc! { "_id": uuid_bson(m.envelope.id), "topic": &m.topic, "at": DateTime::now() })
            .collect();
        if !entries.is_empty() {
            let written = self
                .inbox()
                .insert_many(entries)
                .session(&mut *session)
                .await;
            match written {
                Ok(_) => {}
                Err(err) if duplicate_key(&err) => return Ok(None),
                Err(err) => return Err(err.into()),
            }
        }
        let superseded = self.handler.superseded(messages);
        let mut applied = Vec::with_capacity(messages.len());
        let mut outbox_documents = Vec::new();
        for ((message, fresh), superseded) in messages.iter().zip(fresh).zip(superseded) {
            if !fresh {
                applied.push(Applied::Duplicate);
                continue;
            }
            if superseded {
                applied.push(Applied::Fresh(Vec::new()));
                continue;
            }
            let mut outbox = Outbox::new(self.topics.clone(), message.trace.clone());
            self.handler
                .handle(message, session, &mut outbox)
                .instrument(message.span())
                .await?;
            let caused = outbox.into_messages();
            for m in &caused {
                // `ord` runs across the batch: the relay publishes in this order.
                outbox_documents.push(outbox_document(m, outbox_documents.len()));
            }
            applied.push(Applied::Fresh(caused));
        }
        if !outbox_documents.is_empty() {
            self.outbox()
                .insert_many(outbox_documents)
                .session(&mut *session)
                .await?;
        }
        Ok(Some(applied))
    }

    /// The ids of `messages` that the inbox has.
    async fn seen_before(
        &self,
        messages: &[&Incoming],
        session: &mut ClientSession,
    ) -> Result<HashSet<String>, HandlerError> {
        let ids: Vec<Bson> = messages.iter().map(|m| uuid_bson(m.envelope.id)).collect();
        let mut seen = HashSet::new();
        let mut known = self
            .inbox()
            .find(doc! { "_id": { "$in": ids } })
            .projection(doc! { "_id": 1 })
            .session(&mut *session)
            .await?;
        while known.advance(&mut *session).await? {
            if let Ok(id) = known.deserialize_current()?.get_str("_id") {
                seen.insert(id.to_string());
            }
        }
        Ok(seen)
    }

    /// One transaction for `messages`, with the marks of messages published since the
    /// last one: committed whole, or aborted on the first error (the marks kept for the
    /// next).
    async fn apply_in_transaction(
        &self,
        messages: &[&Incoming],
    ) -> Result<Vec<Applied>, HandlerError> {
        let marks = self.sent.take();
        let applied = self.transaction(messages, &marks).await;
        if applied.is_err() {
            self.sent.restore(marks);
        }
        applied
    }

    /// Assumes the messages are new, which they nearly always are; when one is not, runs
    /// again reading the inbox first.
    async fn transaction(
        &self,
        messages: &[&Incoming],
        marks: &[Uuid],
    ) -> Result<Vec<Applied>, HandlerError> {
        let mut session = self.db.client().start_session().await?;
        session.start_transaction().await?;
        let mut attempt = self
            .apply_in(messages, &mut session, Inbox::AssumeNew)
            .await;
        if let Ok(None) = attempt {
            tracing::debug!("a message of the batch was seen before; reading the inbox first");
            session.abort_transaction().await.ok();
            session.start_transaction().await?;
            attempt = self
                .apply_in(messages, &mut session, Inbox::ReadFirst)
                .await;
        }
        let applied = match attempt {
            Ok(Some(applied)) => applied,
            Ok(None) => {
                // Not there when read, there when written: another instance applied it
                // meanwhile. Once again, the read finds it.
                session.abort_transaction().await.ok();
                return Err(HandlerError::Transient(anyhow::anyhow!(
                    "another instance recorded one of these messages meanwhile"
                )));
            }
            Err(err) => {
                session.abort_transaction().await.ok();
                return Err(err);
            }
        };
        let nothing_new = applied.iter().all(|a| matches!(a, Applied::Duplicate));
        if nothing_new && marks.is_empty() {
            session.abort_transaction().await.ok();
            return Ok(applied);
        }
        if !marks.is_empty() {
            let marked = self
                .outbox()
                .update_many(sent_filter(marks), sent_update())
                .session(&mut session)
                .await;
            if let Err(err) = marked {
                session.abort_transaction().await.ok();
                return Err(err.into());
            }
        }
        loop {
            match session.commit_transaction().await {
                Ok(()) => return Ok(applied),
                Err(err) if err.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => continue,
                Err(err) => return Err(err.into()),
            }
        }
    }
}

impl<H: MongoHandler> Processor for MongoProcessor<H> {
    fn reads(&self) -> Reads {
        self.handler.reads()
    }

    async fn apply(&self, message: &Incoming) -> Result<Applied, HandlerError> {
        let mut applied = self.apply_in_transaction(&[message]).await?;
        Ok(applied.pop().expect("one result per message"))
    }

    /// Group commit, as on PostgreSQL: one transaction for the batch. Any error (a
    /// rejected message, a write conflict with another instance, the server going away)
    /// aborts all of it, and the consumer applies the messages one at a time instead.
    async fn apply_all(
        &self,
        messages: &[&Incoming],
    ) -> Option<Result<Vec<Applied>, HandlerError>> {
        Some(self.apply_in_transaction(messages).await)
    }

    fn published(&self, ids: &[Uuid]) {
        self.sent.add(ids);
    }

    async fn mark_sent(&self) -> Result<(), HandlerError> {
        let marks = self.sent.take();
        if marks.is_empty() {
            return Ok(());
        }
        let marked = self
            .outbox()
            .update_many(sent_filter(&marks), sent_update())
            .await;
        if let Err(err) = marked {
            self.sent.restore(marks);
            return Err(err.into());
        }
        Ok(())
    }

    async fn unsent(&self, min_age: Duration, limit: i64) -> Result<Vec<Outgoing>, HandlerError> {
        let cutoff =
            DateTime::from_millis(DateTime::now().timestamp_millis() - min_age.as_millis() as i64);
        let mut cursor = self
            .outbox()
            .find(doc! { "sent": false, "created": { "$lte": cutoff } })
            .sort(doc! { "created": 1, "ord": 1 })
            .limit(limit)
            .await?;
        let mut found = Vec::new();
        while cursor.advance().await? {
            let document = cursor.deserialize_current()?;
            match outgoing_from(&document) {
                Some(outgoing) => found.push(outgoing),
                None => tracing::error!(?document, "unreadable outbox document"),
            }
        }
        Ok(found)
    }

    async fn prune(&self, retention: Duration, limit: i64) -> Result<u64, HandlerError> {
        let cutoff = DateTime::from_millis(
            DateTime::now().timestamp_millis() - retention.as_millis() as i64,
        );
        let mut deleted = 0;
        for (collection, old) in [
            (self.inbox(), doc! { "at": { "$lt": cutoff } }),
            (
                self.outbox(),
                doc! { "sent": true, "created": { "$lt": cutoff } },
            ),
        ] {
            let mut ids = Vec::new();
            let mut cursor = collection
                .find(old)
                .projection(doc! { "_id": 1 })
                .limit(limit)
                .await?;
            while cursor.advance().await? {
                ids.extend(cursor.deserialize_current()?.get("_id").cloned());
            }
            if !ids.is_empty() {
                deleted += collection
                    .delete_many(doc! { "_id": { "$in": ids } })
                    .await?
                    .deleted_count;
            }
        }
        Ok(deleted)
    }

    async fn ping(&self) -> Result<(), String> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(|err| format!("MongoDB unreachable: {err}"))
    }
}
