//! The PostgreSQL store: inbox and outbox tables beside the service's own, one
//! transaction per message.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use shared_events::Topics;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::error::HandlerError;
#[cfg(doc)]
use crate::handlers::Handlers;
use crate::handlers::{Handles, Reads, Table};
use crate::message::{Incoming, Outbox, Outgoing};
use crate::processor::{Applied, Processor, SentMarks};
use crate::retry::Backoff;

/// The PostgreSQL setting every service with a PostgreSQL store shares. Its database's
/// URL, `DATABASE_URL`, is a setting of the service's own, since its default names the
/// service's database.
#[derive(Debug, Clone, clap::Args)]
pub struct Pool {
    /// Connections the service's pool may hold.
    #[arg(
        long = "database-max-connections",
        env = "DATABASE_MAX_CONNECTIONS",
        default_value_t = 10
    )]
    pub max_connections: u32,
}

impl Pool {
    /// Connects to `url` (waiting while the server is away, or until shutdown) and brings
    /// the service's tables up to date with `migrations`.
    pub async fn open(
        &self,
        url: &SecretString,
        migrations: &Migrator,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<PgPool> {
        let pool = connect(url.expose_secret(), self.max_connections, shutdown).await?;
        migrations.run(&pool).await?;
        Ok(pool)
    }
}

/// A service's reaction to one message, inside the transaction the runtime opened.
pub trait PgHandler: Send + Sync + 'static {
    /// Changes state through `tx` and queues the messages it causes in `outbox`.
    fn handle(
        &self,
        message: &Incoming,
        tx: &mut PgConnection,
        outbox: &mut Outbox,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Runs once at the start of a group commit, before any message of the batch
    /// (see [`Handles::lock_batch`]).
    fn lock_batch(
        &self,
        _messages: &[&Incoming],
        _tx: &mut PgConnection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async { Ok(()) }
    }

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

/// A service's table on PostgreSQL.
impl<H: Handles<PgConnection>> PgHandler for Table<H, PgConnection> {
    async fn handle(
        &self,
        message: &Incoming,
        tx: &mut PgConnection,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        Table::handle(self, message, tx, outbox).await
    }

    async fn lock_batch(
        &self,
        messages: &[&Incoming],
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        Table::lock_batch(self, messages, tx).await
    }

    fn superseded(&self, messages: &[&Incoming]) -> Vec<bool> {
        Table::superseded(self, messages)
    }

    fn reads(&self) -> Reads {
        Table::reads(self).clone()
    }
}

/// Connects to PostgreSQL, waiting with backoff while it is away (or until shutdown),
/// and creates the runtime's inbox and outbox tables.
pub async fn connect(
    url: &str,
    max_connections: u32,
    shutdown: &CancellationToken,
) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url.parse()?;
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        let attempt = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await;
        match attempt {
            Ok(pool) => {
                ensure_schema(&pool).await?;
                return Ok(pool);
            }
            Err(err) => {
                tracing::warn!(error = %err, database = options.get_database(), "PostgreSQL unavailable, retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => anyhow::bail!("shut down while waiting for PostgreSQL"),
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
        }
    }
}

/// Creates the inbox and outbox tables if they are missing. Instances starting together
/// serialize on an advisory lock, since concurrent `CREATE TABLE IF NOT EXISTS` can race.
pub async fn ensure_schema(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(7216354)")
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS runtime_inbox (
             message_id  uuid PRIMARY KEY,
             topic       text NOT NULL,
             received_at timestamptz NOT NULL DEFAULT now()
         );
         CREATE TABLE IF NOT EXISTS runtime_outbox (
             seq         bigserial PRIMARY KEY,
             message_id  uuid NOT NULL UNIQUE,
             topic       text NOT NULL,
             key         text NOT NULL,
             kind        text NOT NULL,
             payload     bytea NOT NULL,
             traceparent text,
             created_at  timestamptz NOT NULL DEFAULT now(),
             sent_at     timestamptz
         );
         CREATE INDEX IF NOT EXISTS runtime_outbox_unsent ON runtime_outbox (seq) WHERE sent_at IS NULL;
         CREATE INDEX IF NOT EXISTS runtime_outbox_sent ON runtime_outbox (sent_at) WHERE sent_at IS NOT NULL;
         CREATE INDEX IF NOT EXISTS runtime_inbox_received ON runtime_inbox (received_at);",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Writes messages to the outbox inside `tx`, in one statement, in their order; the
/// consumer's relay publishes them once they are older than its grace period. For state
/// changes made outside a handler (a bootstrap at start) that must still announce
/// themselves exactly once.
pub async fn enqueue(tx: &mut PgConnection, messages: &[Outgoing]) -> Result<(), sqlx::Error> {
    if messages.is_empty() {
        return Ok(());
    }
    let column = |field: fn(&Outgoing) -> &str| messages.iter().map(field).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO runtime_outbox (message_id, topic, key, kind, payload, traceparent)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[])
         ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(messages.iter().map(|m| m.id).collect::<Vec<_>>())
    .bind(column(|m| &m.topic))
    .bind(column(|m| &m.key))
    .bind(column(|m| &m.kind))
    .bind(messages.iter().map(|m| m.payload.as_slice()).collect::<Vec<_>>())
    .bind(messages.iter().map(|m| m.traceparent.as_deref()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A transaction with an outbox for a change that no consumed message causes: a
/// scheduler's, or the answer of a call made outside any transaction. Its messages are
/// written to the outbox with the change and published as soon as it commits; a crash
/// in between leaves them to the consumer's relay, as a handler's would be. Event ids
/// must be deterministic (derived from the aggregate), since there is no inbox entry
/// to make a re-run a duplicate.
pub struct Local {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    outbox: Outbox,
    marks: SentMarks,
}

impl Local {
    /// Opens the transaction. `marks` are the store's processor's
    /// ([`PgProcessor::sent_marks`]): the transaction carries the marks waiting there, and
    /// leaves its own for the processor's next transaction or its relay to write, rather
    /// than committing them on their own.
    pub async fn begin(
        pool: &PgPool,
        topics: Topics,
        marks: SentMarks,
    ) -> Result<Self, sqlx::Error> {
        Ok(Self {
            tx: pool.begin().await?,
            outbox: Outbox::new(topics, crate::telemetry::TraceParent::root()),
            marks,
        })
    }

    /// The connection to change state through, and the outbox to queue messages in.
    pub fn parts(&mut self) -> (&mut PgConnection, &mut Outbox) {
        (&mut self.tx, &mut self.outbox)
    }

    /// Commits the change with its messages, then publishes them and notes them sent.
    /// A publish that fails is left to the relay: the change is committed either way.
    pub async fn commit(self, publisher: &crate::Publisher) -> Result<(), HandlerError> {
        let Self {
            mut tx,
            outbox,
            marks,
        } = self;
        let messages = outbox.into_messages();
        let carried = marks.take();
        let committed = async {
            enqueue(&mut tx, &messages).await?;
            mark_sent(&mut *tx, &carried).await?;
            tx.commit().await
        }
        .await;
        if let Err(err) = committed {
            marks.restore(carried);
            return Err(err.into());
        }
        let mut sent = Vec::with_capacity(messages.len());
        for message in &messages {
            if let Err(err) = publisher.send(message).await {
                tracing::warn!(error = %err, "publish after commit failed; the relay will send it");
                break;
            }
            sent.push(message.id);
        }
        marks.add(&sent);
        Ok(())
    }
}

async fn mark_sent<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    ids: &[Uuid],
) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE runtime_outbox SET sent_at = now() WHERE message_id = ANY($1) AND sent_at IS NULL",
    )
    .bind(ids)
    .execute(executor)
    .await?;
    Ok(())
}

/// An outbox row as read back for publishing.
#[derive(sqlx::FromRow)]
struct OutboxRow {
    message_id: Uuid,
    topic: String,
    key: String,
    kind: String,
    payload: Vec<u8>,
    traceparent: Option<String>,
}

impl From<OutboxRow> for Outgoing {
    fn from(row: OutboxRow) -> Self {
        Self {
            id: row.message_id,
            topic: row.topic,
            key: row.key,
            kind: row.kind,
            payload: row.payload,
            traceparent: row.traceparent,
        }
    }
}

/// Applies messages with a [`PgHandler`] in PostgreSQL transactions.
pub struct PgProcessor<H> {
    pool: PgPool,
    topics: Topics,
    handler: H,
    sent: SentMarks,
    after_commit: Option<AfterCommit>,
}

/// The processor of a service's handler table `H` on PostgreSQL.
pub type ServiceProcessor<H> = PgProcessor<Table<H, PgConnection>>;

/// Called right after a transaction committed and before its messages are published.
/// Tests use it to kill a process in exactly that gap.
pub type AfterCommit = Arc<dyn Fn(&[Outgoing]) + Send + Sync>;

impl<H: PgHandler> PgProcessor<H> {
    /// A processor over `pool` (whose schema [`connect`] prepared).
    pub fn new(pool: PgPool, topics: Topics, handler: H) -> Self {
        Self {
            pool,
            topics,
            handler,
            sent: SentMarks::default(),
            after_commit: None,
        }
    }

    /// The marks of its published messages still to write, shared with the [`Local`]
    /// transactions of the same store.
    pub fn sent_marks(&self) -> SentMarks {
        self.sent.clone()
    }

    /// Installs a hook run between commit and publish.
    pub fn with_after_commit(mut self, hook: AfterCommit) -> Self {
        self.after_commit = Some(hook);
        self
    }
}

impl<T: Handles<PgConnection>> PgProcessor<Table<T, PgConnection>> {
    /// A processor over `pool` applying the messages `handler`'s table lists.
    pub fn handling(pool: PgPool, topics: Topics, handler: T) -> Self {
        let table = Table::new(handler, &topics);
        Self::new(pool, topics, table)
    }
}

impl<H: PgHandler> PgProcessor<H> {
    /// One transaction for `messages`, in their order: their inbox entries in one
    /// statement, the handler for each that is new (`lock_batch` first, for a group
    /// commit), the outbox rows they caused in one statement, and the marks of
    /// messages published since the last transaction; committed whole or not at all.
    async fn transaction(
        &self,
        messages: &[&Incoming],
        group: bool,
    ) -> Result<Vec<Applied>, HandlerError> {
        let marks = self.sent.take();
        let applied = async {
            let mut tx = self.pool.begin().await?;
            if group {
                self.handler.lock_batch(messages, &mut tx).await?;
            }
            let mut fresh = record_in_inbox(&mut tx, messages).await?;
            let superseded = self.handler.superseded(messages);
            let mut applied = Vec::with_capacity(messages.len());
            let mut caused = Vec::new();
            for (message, superseded) in messages.iter().zip(superseded) {
                // A repeat within the batch finds its id taken by the first.
                if !fresh.remove(&message.envelope.id) {
                    applied.push(Applied::Duplicate);
                    continue;
                }
                if superseded {
                    applied.push(Applied::Fresh(Vec::new()));
                    continue;
                }
                let mut outbox = Outbox::new(self.topics.clone(), message.trace.clone());
                self.handler
                    .handle(message, &mut tx, &mut outbox)
                    .instrument(message.span())
                    .await?;
                let messages = outbox.into_messages();
                caused.extend_from_slice(&messages);
                applied.push(Applied::Fresh(messages));
            }
            enqueue(&mut tx, &caused).await?;
            mark_sent(&mut *tx, &marks).await?;
            tx.commit().await?;
            Ok::<_, HandlerError>(applied)
        }
        .await;
        match applied {
            Ok(applied) => {
                self.committed(&applied);
                Ok(applied)
            }
            Err(err) => {
                self.sent.restore(marks);
                Err(err)
            }
        }
    }

    fn committed(&self, applied: &[Applied]) {
        if let Some(hook) = &self.after_commit {
            for applied in applied {
                if let Applied::Fresh(messages) = applied {
                    hook(messages);
                }
            }
        }
    }
}

/// Records `messages` in the inbox in one statement; the ids that were not there yet.
async fn record_in_inbox(
    tx: &mut PgConnection,
    messages: &[&Incoming],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let ids: Vec<Uuid> = messages.iter().map(|m| m.envelope.id).collect();
    let topics: Vec<&str> = messages.iter().map(|m| m.topic.as_str()).collect();
    let fresh: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO runtime_inbox (message_id, topic)
         SELECT * FROM unnest($1::uuid[], $2::text[])
         ON CONFLICT DO NOTHING RETURNING message_id",
    )
    .bind(ids)
    .bind(topics)
    .fetch_all(&mut *tx)
    .await?;
    Ok(fresh.into_iter().collect())
}

impl<H: PgHandler> Processor for PgProcessor<H> {
    fn reads(&self) -> Reads {
        self.handler.reads()
    }

    async fn apply(&self, message: &Incoming) -> Result<Applied, HandlerError> {
        let mut applied = self.transaction(&[message], false).await?;
        Ok(applied.pop().expect("one result per message"))
    }

    /// One transaction, one commit, for the whole batch. Any error (a rejected message,
    /// a deadlock between partitions' batches, the database going away) rolls all of it
    /// back, and the consumer applies the messages one at a time instead.
    async fn apply_all(
        &self,
        messages: &[&Incoming],
    ) -> Option<Result<Vec<Applied>, HandlerError>> {
        Some(self.transaction(messages, true).await)
    }

    fn published(&self, ids: &[Uuid]) {
        self.sent.add(ids);
    }

    async fn mark_sent(&self) -> Result<(), HandlerError> {
        let marks = self.sent.take();
        match mark_sent(&self.pool, &marks).await {
            Ok(()) => Ok(()),
            Err(err) => {
                self.sent.restore(marks);
                Err(err.into())
            }
        }
    }

    async fn unsent(&self, min_age: Duration, limit: i64) -> Result<Vec<Outgoing>, HandlerError> {
        let rows: Vec<OutboxRow> = sqlx::query_as(
            "SELECT message_id, topic, key, kind, payload, traceparent FROM runtime_outbox
             WHERE sent_at IS NULL AND created_at <= now() - make_interval(secs => $1)
             ORDER BY seq LIMIT $2",
        )
        .bind(min_age.as_secs_f64())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Outgoing::from).collect())
    }

    async fn prune(&self, retention: Duration, limit: i64) -> Result<u64, HandlerError> {
        let inbox = sqlx::query(
            "DELETE FROM runtime_inbox WHERE message_id IN (
                 SELECT message_id FROM runtime_inbox
                 WHERE received_at < now() - make_interval(secs => $1) LIMIT $2)",
        )
        .bind(retention.as_secs_f64())
        .bind(limit)
        .execute(&self.pool)
        .await?;
        let outbox = sqlx::query(
            "DELETE FROM runtime_outbox WHERE seq IN (
                 SELECT seq FROM runtime_outbox
                 WHERE sent_at IS NOT NULL AND sent_at < now() - make_interval(secs => $1) LIMIT $2)",
        )
        .bind(retention.as_secs_f64())
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(inbox.rows_affected() + outbox.rows_affected())
    }

    async fn ping(&self) -> Result<(), String> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|err| format!("PostgreSQL unreachable: {err}"))
    }
}
