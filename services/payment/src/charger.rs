//! The charger: calls the provider for orders the handler decided to charge, outside
//! any transaction, and records each answer in a transaction of its own.
//!
//! An order is CHARGING from the handler's commit until its answer is recorded. The
//! charger claims due orders for a lease (`next_attempt_at` pushed ahead), calls the
//! provider with a key derived from the order, then locks the row and records the
//! answer with its event. A crash between the call and that commit leaves the order
//! CHARGING: once the lease runs out the provider is called again with the same key
//! and answers what it answered the first time, charging nothing more. An unavailable
//! provider is called again later, while the partitions go on. A cancellation that
//! arrived meanwhile is honoured once the answer is in: the charge is refunded.

use std::time::Duration;

use futures::StreamExt;
use kafka_runtime::postgres::Local;
use kafka_runtime::{HandlerError, Publisher};
use shared_events::messages::payment::{PaymentFailed, PaymentSucceeded};
use shared_events::{derive_id, Topic, Topics};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::domain::{self, AfterCall};
use crate::handler::{event, settle};
use crate::provider::SimulatedProvider;
use crate::store::{self, Answer, Due};

/// How long a claim keeps other instances (and this one) from calling again.
pub const LEASE: Duration = Duration::from_secs(10);
/// Orders claimed at once.
const CLAIM: i64 = 32;
/// Calls in flight at once.
const CONCURRENCY: usize = 8;
/// How often the charger looks for due orders without being told.
const TICK: Duration = Duration::from_millis(500);

/// Calls the provider for the orders being charged.
#[derive(Clone)]
pub struct Charger {
    /// Payment's database.
    pub pool: PgPool,
    /// The provider.
    pub provider: SimulatedProvider,
    /// Where events go once recorded.
    pub publisher: Publisher,
    /// Topic names.
    pub topics: Topics,
    /// Calls at the provider before an unavailable one becomes `processing_error`.
    pub attempts: u32,
}

impl Charger {
    /// Charges due orders until shutdown: as soon as a decision to charge commits (a
    /// PostgreSQL notification), and every half second for retries and for claims a
    /// crash left behind. Failures are logged and tried again; they never stop it.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut listener = None;
        loop {
            if listener.is_none() {
                listener = self.listen().await;
            }
            loop {
                match self.sweep().await {
                    Ok(claimed) if claimed < CLAIM as usize => break,
                    Ok(_) => continue,
                    Err(err) => {
                        tracing::warn!(error = %err, "charging failed; trying again shortly");
                        break;
                    }
                }
            }
            let notified = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(TICK) => {}
                received = notified => {
                    if let Err(err) = received {
                        tracing::warn!(error = %err, "lost the charging notifications; listening again");
                        listener = None;
                    }
                }
            }
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        let listening = async {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener.listen(store::CHARGING).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        listening
            .await
            .inspect_err(|err| tracing::warn!(error = %err, "cannot listen for charges yet"))
            .ok()
    }

    /// Claims the orders due now and charges them; how many were claimed.
    pub async fn sweep(&self) -> Result<usize, HandlerError> {
        let due = store::claim_due(&self.pool, LEASE, CLAIM).await?;
        let claimed = due.len();
        let results: Vec<Result<(), HandlerError>> = futures::stream::iter(due)
            .map(|due| self.charge(due))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), _>>()?;
        Ok(claimed)
    }

    /// One call at the provider for `due`, and its answer recorded.
    async fn charge(&self, due: Due) -> Result<(), HandlerError> {
        let order_id = due.order_id;
        let key = derive_id(order_id, "provider.charge");
        let answer = self
            .provider
            .charge(key, &due.payment_token, due.amount_cents, &due.currency)
            .await?;
        let mut local = Local::begin(&self.pool, self.topics.clone()).await?;
        let (tx, outbox) = local.parts();
        match domain::after_call(&answer, self.attempts) {
            AfterCall::Charged => {
                let payment_id = derive_id(order_id, "payment");
                let charged = Answer::Charged { payment_id };
                let Some(row) = store::record_answer(tx, order_id, charged).await? else {
                    return Ok(()); // recorded already, by another claim that ran out
                };
                let paid = PaymentSucceeded {
                    order_id,
                    payment_id,
                    amount_cents: due.amount_cents,
                    currency: due.currency,
                };
                let paid = event(order_id, row.correlation_id, paid);
                outbox.send(Topic::PaymentEvents, order_id, &paid);
                // Cancelled while the provider was being called: refunded at once.
                settle(tx, outbox, order_id, row).await?;
            }
            AfterCall::Failed(reason) => {
                let failed = Answer::Failed { reason: &reason };
                let Some(row) = store::record_answer(tx, order_id, failed).await? else {
                    return Ok(());
                };
                let failed = event(
                    order_id,
                    row.correlation_id,
                    PaymentFailed { order_id, reason },
                );
                outbox.send(Topic::PaymentEvents, order_id, &failed);
            }
            AfterCall::Retry(delay) => {
                if !store::retry_after(tx, order_id, delay).await? {
                    return Ok(());
                }
                tracing::warn!(%order_id, ?delay, "payment provider unavailable, calling again later");
            }
        }
        local.commit(&self.publisher).await
    }
}
