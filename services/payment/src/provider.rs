//! The simulated payment provider, kept apart from payment's own tables and
//! transactions, as a real one would be: called by the charger with an idempotency key,
//! on its own connections, once per attempt, never inside a transaction of payment's. Its ledger (`provider_ledger`) is the proof of what was charged.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{self, ProviderAnswer};

/// What one call at the provider came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charge {
    /// Charged, now or by an earlier call with the same key.
    Approved,
    /// Refused for good, with the reason.
    Declined(String),
    /// The provider failed; another call may work.
    Unavailable {
        /// How many calls there were with this key, this one included.
        calls: u32,
    },
}

/// The provider's client.
#[derive(Clone)]
pub struct SimulatedProvider {
    pool: PgPool,
    latency: Duration,
}

impl SimulatedProvider {
    /// A provider keeping its ledger through `pool`, a pool of its own, answering at once.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            latency: Duration::ZERO,
        }
    }

    /// The same provider with its answers taking `latency` to come back after the charge
    /// was made, as a real one's over the network (`PROVIDER_LATENCY_MS`).
    pub fn with_latency(self, latency: Duration) -> Self {
        Self { latency, ..self }
    }

    /// Charges `amount_cents` to `token` under `key`. The first answer for a key is the
    /// answer for good: a repeated call returns it and charges nothing more.
    pub async fn charge(
        &self,
        key: Uuid,
        token: &str,
        amount_cents: i64,
        currency: &str,
    ) -> Result<Charge, sqlx::Error> {
        let answer = match domain::provider(token) {
            ProviderAnswer::Approved => Some("approved"),
            ProviderAnswer::Declined(reason) => Some(reason),
            ProviderAnswer::Unavailable => None,
        };
        let (calls, answer): (i32, Option<String>) = sqlx::query_as(
            "INSERT INTO provider_ledger (idempotency_key, amount_cents, currency, answer, calls, answered_at)
             VALUES ($1, $2, $3, $4, 1, CASE WHEN $4 IS NULL THEN NULL ELSE now() END)
             ON CONFLICT (idempotency_key) DO UPDATE SET
                 calls = provider_ledger.calls + 1,
                 answer = COALESCE(provider_ledger.answer, EXCLUDED.answer),
                 answered_at = COALESCE(provider_ledger.answered_at, EXCLUDED.answered_at)
             RETURNING calls, answer",
        )
        .bind(key)
        .bind(amount_cents)
        .bind(currency)
        .bind(answer)
        .fetch_one(&self.pool)
        .await?;
        tokio::time::sleep(self.latency).await;
        Ok(match answer.as_deref() {
            Some("approved") => Charge::Approved,
            Some(reason) => Charge::Declined(reason.to_string()),
            None => Charge::Unavailable {
                calls: calls.max(0) as u32,
            },
        })
    }
}
