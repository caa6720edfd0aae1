//! The charger: calls the provider for orders the handler decided to charge, outside
//! any transaction, and records the answers of each sweep in one transaction.
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
use kafka_runtime::{HandlerError, Outbox, Publisher, SentMarks};
use shared_events::messages::payment::{PaymentFailed, PaymentSucceeded};
use shared_events::{derive_id, Topic, Topics};
use sqlx::postgres::PgListener;
use sqlx::PgConnection;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::domain::{self, AfterCall};
use crate::handler::{event, settle};
use crate::provider::{Charge, SimulatedProvider};
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
    /// The processor's outbox marks, which the charger's transactions share.
    pub marks: SentMarks,
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

    /// Claims the orders due now, calls the provider for each, and records their
    /// answers in one transaction; how many were claimed. A failed call leaves its order
    /// claimed until the lease runs out, and is reported once the others are recorded.
    pub async fn sweep(&self) -> Result<usize, HandlerError> {
        let due = store::claim_due(&self.pool, LEASE, CLAIM).await?;
        let claimed = due.len();
        if claimed == 0 {
            return Ok(0);
        }
        let calls: Vec<(Due, Result<Charge, sqlx::Error>)> = futures::stream::iter(due)
            .map(|due| async move {
                let answer = self.call(&due).await;
                (due, answer)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut answers = Vec::with_capacity(calls.len());
        let mut failed = None;
        for (due, answer) in calls {
            match answer {
                Ok(answer) => answers.push((due, answer)),
                Err(err) => failed = Some(err),
            }
        }
        self.record(answers).await?;
        match failed {
            Some(err) => Err(err.into()),
            None => Ok(claimed),
        }
    }

    /// One call at the provider for `due`, with a key derived from the order.
    async fn call(&self, due: &Due) -> Result<Charge, sqlx::Error> {
        let key = derive_id(due.order_id, "provider.charge");
        let (token, currency) = (&due.payment_token, &due.currency);
        self.provider
            .charge(key, token, due.amount_cents, currency)
            .await
    }

    /// Records the provider's answers, each with its event, in one transaction.
    async fn record(&self, answers: Vec<(Due, Charge)>) -> Result<(), HandlerError> {
        if answers.is_empty() {
            return Ok(());
        }
        let mut local = Local::begin(&self.pool, self.topics.clone(), self.marks.clone()).await?;
        let (tx, outbox) = local.parts();
        for (due, answer) in answers {
            self.record_one(tx, outbox, due, &answer).await?;
        }
        local.commit(&self.publisher).await
    }

    /// Records one answer for an order still CHARGING (one whose answer another claim
    /// recorded already is left alone).
    async fn record_one(
        &self,
        tx: &mut PgConnection,
        outbox: &mut Outbox,
        due: Due,
        answer: &Charge,
    ) -> Result<(), HandlerError> {
        let order_id = due.order_id;
        match domain::after_call(answer, self.attempts) {
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
                if store::retry_after(tx, order_id, delay).await? {
                    tracing::warn!(%order_id, ?delay, "payment provider unavailable, calling again later");
                }
            }
        }
        Ok(())
    }
}
