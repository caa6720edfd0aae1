//! What payment does with the saga's events: it learns the amount from
//! `order_placed`, charges once `stock_reserved` arrives, and refunds or voids on
//! `order_cancelled`. Each event records its fact on the order's row and then lets
//! [`domain::decide`] say what to do, under the row's lock.

use kafka_runtime::postgres::PgHandler;
use kafka_runtime::{HandlerError, Incoming, Outbox};
use shared_events::messages::inventory::StockReserved;
use shared_events::messages::order::{OrderCancelled, OrderPlaced};
use shared_events::messages::payment::{PaymentFailed, PaymentRefunded, PaymentSucceeded};
use shared_events::{derive_id, Envelope, Message, Topic};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{self, Action, Facts, Status};
use crate::provider::{Charge, SimulatedProvider};

/// Applies the saga's events to payments.
pub struct PaymentHandler {
    /// Calls at the provider before a transient failure becomes `processing_error`.
    pub attempts: u32,
    /// The provider, on connections of its own.
    pub provider: SimulatedProvider,
}

impl PgHandler for PaymentHandler {
    async fn handle(
        &self,
        message: &Incoming,
        tx: &mut PgConnection,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        let order_id = match message.envelope.kind.as_str() {
            OrderPlaced::TYPE => {
                let placed = message.data::<OrderPlaced>()?;
                ensure_row(tx, placed.order_id).await?;
                sqlx::query(
                    "UPDATE payments SET user_id = $2, amount_cents = $3, currency = $4, payment_token = $5,
                     updated_at = now() WHERE order_id = $1 AND amount_cents IS NULL",
                )
                .bind(placed.order_id)
                .bind(placed.user_id)
                .bind(placed.total_cents)
                .bind(&placed.currency)
                .bind(&placed.payment_token)
                .execute(&mut *tx)
                .await?;
                placed.order_id
            }
            StockReserved::TYPE => {
                let order_id = message.data::<StockReserved>()?.order_id;
                record_fact(tx, order_id, "stock_reserved").await?;
                order_id
            }
            OrderCancelled::TYPE => {
                let order_id = message.data::<OrderCancelled>()?.order_id;
                record_fact(tx, order_id, "cancelled").await?;
                order_id
            }
            // Every other event on the topics payment reads is not its business.
            _ => return Ok(()),
        };
        self.settle(message, tx, outbox, order_id).await
    }
}

async fn ensure_row(tx: &mut PgConnection, order_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payments (order_id, status) VALUES ($1, 'waiting') ON CONFLICT DO NOTHING",
    )
    .bind(order_id)
    .execute(tx)
    .await?;
    Ok(())
}

async fn record_fact(
    tx: &mut PgConnection,
    order_id: Uuid,
    column: &'static str,
) -> Result<(), sqlx::Error> {
    ensure_row(tx, order_id).await?;
    sqlx::query(&format!(
        "UPDATE payments SET {column} = true, updated_at = now() WHERE order_id = $1"
    ))
    .bind(order_id)
    .execute(tx)
    .await?;
    Ok(())
}

/// The row as [`settle`](PaymentHandler::settle) reads it.
#[derive(sqlx::FromRow)]
struct Row {
    amount_cents: Option<i64>,
    currency: Option<String>,
    payment_token: Option<String>,
    stock_reserved: bool,
    cancelled: bool,
    status: String,
    payment_id: Option<Uuid>,
}

impl PaymentHandler {
    async fn settle(
        &self,
        message: &Incoming,
        tx: &mut PgConnection,
        outbox: &mut Outbox,
        order_id: Uuid,
    ) -> Result<(), HandlerError> {
        let row: Row = sqlx::query_as(
            "SELECT amount_cents, currency, payment_token, stock_reserved, cancelled, status, payment_id
             FROM payments WHERE order_id = $1 FOR UPDATE",
        )
        .bind(order_id)
        .fetch_one(&mut *tx)
        .await?;
        let status = Status::parse(&row.status).ok_or_else(|| {
            HandlerError::transient(anyhow::anyhow!("unknown payment status {}", row.status))
        })?;
        let facts = Facts {
            placed: row.amount_cents.is_some(),
            stock_reserved: row.stock_reserved,
            cancelled: row.cancelled,
            status,
        };
        let cause = &message.envelope;
        match domain::decide(facts) {
            Action::Wait => Ok(()),
            Action::Void => set_status(tx, order_id, Status::Voided, None).await,
            Action::Refund => {
                let (payment_id, amount_cents) = (
                    row.payment_id.unwrap_or_default(),
                    row.amount_cents.unwrap_or_default(),
                );
                sqlx::query("INSERT INTO refunds (payment_id, amount_cents) VALUES ($1, $2)")
                    .bind(payment_id)
                    .bind(amount_cents)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE payments SET refunded_cents = $2 WHERE order_id = $1")
                    .bind(order_id)
                    .bind(amount_cents)
                    .execute(&mut *tx)
                    .await?;
                set_status(tx, order_id, Status::Refunded, None).await?;
                let refunded = PaymentRefunded {
                    order_id,
                    payment_id,
                    amount_cents,
                };
                outbox.send(
                    Topic::PaymentEvents,
                    order_id,
                    &Envelope::caused_by(cause, refunded),
                );
                Ok(())
            }
            Action::Charge => {
                let token = row.payment_token.unwrap_or_default();
                let (amount_cents, currency) = (
                    row.amount_cents.unwrap_or_default(),
                    row.currency.unwrap_or_default(),
                );
                match self
                    .charge(order_id, &token, amount_cents, &currency)
                    .await?
                {
                    Ok(()) => {
                        let payment_id = derive_id(order_id, "payment");
                        sqlx::query(
                            "INSERT INTO charges (payment_id, order_id, amount_cents, currency) VALUES ($1, $2, $3, $4)",
                        )
                        .bind(payment_id)
                        .bind(order_id)
                        .bind(amount_cents)
                        .bind(&currency)
                        .execute(&mut *tx)
                        .await?;
                        sqlx::query("UPDATE payments SET payment_id = $2 WHERE order_id = $1")
                            .bind(order_id)
                            .bind(payment_id)
                            .execute(&mut *tx)
                            .await?;
                        set_status(tx, order_id, Status::Succeeded, None).await?;
                        let paid = PaymentSucceeded {
                            order_id,
                            payment_id,
                            amount_cents,
                            currency,
                        };
                        outbox.send(
                            Topic::PaymentEvents,
                            order_id,
                            &Envelope::caused_by(cause, paid),
                        );
                    }
                    Err(reason) => {
                        set_status(tx, order_id, Status::Failed, Some(&reason)).await?;
                        let failed = PaymentFailed { order_id, reason };
                        outbox.send(
                            Topic::PaymentEvents,
                            order_id,
                            &Envelope::caused_by(cause, failed),
                        );
                    }
                }
                Ok(())
            }
        }
    }

    /// One call at the provider, keyed by the order, so that a call repeated after a
    /// rollback or a crash finds the first answer instead of charging again. A provider
    /// that is unavailable fails the message transiently: the transaction rolls back
    /// and the runtime retries it with backoff, outside any transaction, until the
    /// provider has been called `attempts` times for this order; then the answer is
    /// `processing_error`. `Ok(Err(reason))` is a decline.
    async fn charge(
        &self,
        order_id: Uuid,
        token: &str,
        amount_cents: i64,
        currency: &str,
    ) -> Result<Result<(), String>, HandlerError> {
        let key = derive_id(order_id, "provider.charge");
        let answer = self
            .provider
            .charge(key, token, amount_cents, currency)
            .await
            .map_err(HandlerError::transient)?;
        match answer {
            Charge::Approved => Ok(Ok(())),
            Charge::Declined(reason) => Ok(Err(reason)),
            Charge::Unavailable { calls } if calls < self.attempts => {
                tracing::warn!(%order_id, calls, "payment provider unavailable, retrying");
                Err(HandlerError::transient(anyhow::anyhow!(
                    "payment provider unavailable (call {calls} of {})",
                    self.attempts
                )))
            }
            Charge::Unavailable { .. } => Ok(Err("processing_error".into())),
        }
    }
}

/// Sets the status; once decided, the token is no longer kept.
async fn set_status(
    tx: &mut PgConnection,
    order_id: Uuid,
    status: Status,
    failure_reason: Option<&str>,
) -> Result<(), HandlerError> {
    sqlx::query(
        "UPDATE payments SET status = $2, failure_reason = COALESCE($3, failure_reason), payment_token = NULL,
         updated_at = now() WHERE order_id = $1",
    )
    .bind(order_id)
    .bind(status.name())
    .bind(failure_reason)
    .execute(tx)
    .await?;
    Ok(())
}
