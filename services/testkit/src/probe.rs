//! The throwaway command the runtime's tests send, and the handler that applies it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kafka_runtime::error::HandlerError;
use kafka_runtime::message::{Incoming, Outbox};
use kafka_runtime::postgres::PgHandler;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use shared_events::messages::reply::Reply;
use shared_events::{Envelope, Message};
use sqlx::{PgConnection, PgPool};

/// The throwaway command the runtime's tests send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probe {
    /// A number to recognise it by.
    pub n: i32,
}

impl Message for Probe {
    const TYPE: &'static str = "test.probe";
}

/// The event a [`Probe`] causes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Probed {
    /// The probe's number.
    pub n: i32,
    /// Which consumer applied it.
    pub consumer: String,
}

impl Message for Probed {
    const TYPE: &'static str = "test.probed";
}

/// Records each probe in `probe_effects`, emits `test.probed` to `events`, and replies
/// `{n, consumer}` when the probe asked for a reply.
#[derive(Clone)]
pub struct ProbeHandler {
    /// Which consumer this is, stored with each effect.
    pub consumer: String,
    /// Where `test.probed` goes.
    pub events: String,
    /// While set, every message fails transiently.
    pub broken: Arc<AtomicBool>,
    /// Prints `PROCESSED <n>` for a parent process to read.
    pub announce: bool,
}

impl ProbeHandler {
    /// A working handler.
    pub fn new(consumer: &str, events: String) -> Self {
        Self {
            consumer: consumer.into(),
            events,
            broken: Arc::default(),
            announce: false,
        }
    }

    /// Creates the effects table; each effect keeps the id of the transaction that wrote it.
    pub async fn prepare(pool: &PgPool) {
        sqlx::query("CREATE TABLE IF NOT EXISTS probe_effects (message_id uuid NOT NULL, consumer text NOT NULL, n int NOT NULL, xact bigint NOT NULL DEFAULT txid_current())")
            .execute(pool)
            .await
            .expect("probe table");
    }
}

impl PgHandler for ProbeHandler {
    async fn handle(
        &self,
        message: &Incoming,
        tx: &mut PgConnection,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(HandlerError::transient(anyhow::anyhow!(
                "the probe handler is broken on purpose"
            )));
        }
        let probe: Probe = match message.envelope.kind.as_str() {
            Probe::TYPE => message.data()?,
            _ => return Err(message.unknown_type()),
        };
        sqlx::query("INSERT INTO probe_effects (message_id, consumer, n) VALUES ($1, $2, $3)")
            .bind(message.envelope.id)
            .bind(&self.consumer)
            .bind(probe.n)
            .execute(&mut *tx)
            .await?;
        let event = Envelope::caused_by(
            &message.envelope,
            Probed {
                n: probe.n,
                consumer: self.consumer.clone(),
            },
        );
        outbox.send_to(self.events.clone(), probe.n, &event);
        let answer = serde_json::json!({ "n": probe.n, "consumer": self.consumer });
        outbox.reply(
            &message.envelope,
            Reply::success(message.envelope.correlation_id, answer),
        );
        if self.announce {
            println!("PROCESSED {}", probe.n);
        }
        Ok(())
    }
}
