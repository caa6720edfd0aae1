//! The MongoDB store: the same guarantees as PostgreSQL, with `runtime_inbox` and
//! `runtime_outbox` collections written in the service's multi-document transaction.

use std::future::Future;
use std::time::Duration;

use mongodb::bson::{doc, spec::BinarySubtype, Binary, Bson, DateTime, Document};
use mongodb::error::{Error, ErrorKind, WriteFailure, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::{Client, ClientSession, Collection, Database};
use shared_events::Topics;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::HandlerError;
use crate::message::{Incoming, Outbox, Outgoing};
use crate::processor::{Applied, Processor};
use crate::retry::Backoff;

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

/// Whether an error is a unique-index violation (E11000).
pub fn is_duplicate_key(err: &Error) -> bool {
    match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == 11000,
        ErrorKind::Command(e) => e.code == 11000,
        _ => false,
    }
}

/// Applies messages with a [`MongoHandler`] in MongoDB transactions.
pub struct MongoProcessor<H> {
    db: Database,
    topics: Topics,
    handler: H,
}

impl<H: MongoHandler> MongoProcessor<H> {
    /// A processor over `db`.
    pub fn new(db: Database, topics: Topics, handler: H) -> Self {
        Self {
            db,
            topics,
            handler,
        }
    }

    fn inbox(&self) -> Collection<Document> {
        self.db.collection("runtime_inbox")
    }

    fn outbox(&self) -> Collection<Document> {
        self.db.collection("runtime_outbox")
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

impl<H: MongoHandler> Processor for MongoProcessor<H> {
    async fn apply(&self, message: &Incoming) -> Result<Applied, HandlerError> {
        let mut session = self.db.client().start_session().await?;
        session.start_transaction().await?;
        let inbox_entry = doc! { "_id": uuid_bson(message.envelope.id), "topic": &message.topic, "at": DateTime::now() };
        match self
            .inbox()
            .insert_one(inbox_entry)
            .session(&mut session)
            .await
        {
            Ok(_) => {}
            Err(err) if is_duplicate_key(&err) => {
                session.abort_transaction().await.ok();
                return Ok(Applied::Duplicate);
            }
            Err(err) => return Err(err.into()),
        }
        let mut outbox = Outbox::new(self.topics.clone(), message.trace.clone());
        if let Err(err) = self
            .handler
            .handle(message, &mut session, &mut outbox)
            .await
        {
            session.abort_transaction().await.ok();
            return Err(err);
        }
        let messages = outbox.into_messages();
        if !messages.is_empty() {
            let documents: Vec<Document> = messages
                .iter()
                .enumerate()
                .map(|(i, m)| outbox_document(m, i))
                .collect();
            self.outbox()
                .insert_many(documents)
                .session(&mut session)
                .await?;
        }
        loop {
            match session.commit_transaction().await {
                Ok(()) => break,
                Err(err) if err.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Ok(Applied::Fresh(messages))
    }

    async fn mark_sent(&self, ids: &[Uuid]) -> Result<(), HandlerError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<Bson> = ids.iter().copied().map(uuid_bson).collect();
        self.outbox()
            .update_many(
                doc! { "_id": { "$in": ids } },
                doc! { "$set": { "sent": true } },
            )
            .await?;
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

    async fn ping(&self) -> Result<(), String> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(|err| format!("MongoDB unreachable: {err}"))
    }
}
