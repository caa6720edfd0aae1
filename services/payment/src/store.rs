//! Payment's rows in PostgreSQL: what it knows of each order, its charges and refunds.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::Status;

/// The PostgreSQL channel a committed decision to charge is announced on, so the
/// charger starts at once instead of at its next tick.
pub const CHARGING: &str = "payment_charging";

/// An order's payment row as the decisions read it.
#[derive(Debug, sqlx::FromRow)]
pub struct Row {
    /// From `order_placed`.
    pub amount_cents: Option<i64>,
    /// From `order_placed`.
    pub currency: Option<String>,
    /// From `order_placed`; cleared once the payment is decided.
    pub payment_token: Option<String>,
    /// `stock_reserved` arrived.
    pub stock_reserved: bool,
    /// `order_cancelled` arrived.
    pub cancelled: bool,
    /// Where the payment stands.
    #[sqlx(try_from = "String")]
    pub status: Status,
    /// The charge, once made.
    pub payment_id: Option<Uuid>,
    /// The saga's correlation, for the events payment sends.
    pub correlation_id: Option<Uuid>,
}

/// The columns of [`Row`], as the statements below return them.
const ROW: &str = "amount_cents, currency, payment_token, stock_reserved, cancelled, status,
                   payment_id, correlation_id";

/// Records the amount, currency and token of `order_placed` (once) on the order's
/// row, made if missing (facts arrive in any order), and returns the row, locked until
/// the transaction ends.
pub async fn record_placed(
    tx: &mut PgConnection,
    correlation_id: Uuid,
    placed: &shared_events::messages::order::OrderPlaced,
) -> Result<Row, sqlx::Error> {
    let once = |column: &str| {
        format!(
            "{column} = CASE WHEN payments.amount_cents IS NULL
                 THEN EXCLUDED.{column} ELSE payments.{column} END"
        )
    };
    sqlx::query_as(&format!(
        "INSERT INTO payments (order_id, status, correlation_id, user_id, amount_cents, currency,
                               payment_token)
         VALUES ($1, 'waiting', $2, $3, $4, $5, $6)
         ON CONFLICT (order_id) DO UPDATE SET {}, {}, {}, {}, updated_at = now()
         RETURNING {ROW}",
        once("user_id"),
        once("payment_token"),
        once("currency"),
        once("amount_cents"),
    ))
    .bind(placed.order_id)
    .bind(correlation_id)
    .bind(placed.user_id)
    .bind(placed.total_cents)
    .bind(&placed.currency)
    .bind(&placed.payment_token)
    .fetch_one(tx)
    .await
}

/// Which fact arrived.
#[derive(Debug, Clone, Copy)]
pub enum Fact {
    /// `stock_reserved`.
    StockReserved,
    /// `order_cancelled`.
    Cancelled,
}

/// Records a fact on the order's row, made if missing (remembering the saga's
/// correlation), and returns the row, locked until the transaction ends.
pub async fn record_fact(
    tx: &mut PgConnection,
    order_id: Uuid,
    correlation_id: Uuid,
    fact: Fact,
) -> Result<Row, sqlx::Error> {
    let column = match fact {
        Fact::StockReserved => "stock_reserved",
        Fact::Cancelled => "cancelled",
    };
    sqlx::query_as(&format!(
        "INSERT INTO payments (order_id, status, correlation_id, {column})
         VALUES ($1, 'waiting', $2, true)
         ON CONFLICT (order_id) DO UPDATE SET {column} = true, updated_at = now()
         RETURNING {ROW}"
    ))
    .bind(order_id)
    .bind(correlation_id)
    .fetch_one(tx)
    .await
}

/// Voids the order: it will never be charged, and its token is no longer kept.
pub async fn void(tx: &mut PgConnection, order_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET status = 'voided', payment_token = NULL, next_attempt_at = NULL,
         updated_at = now() WHERE order_id = $1",
    )
    .bind(order_id)
    .execute(tx)
    .await?;
    Ok(())
}

/// Hands the order to the charger: CHARGING, due now, announced on [`CHARGING`] once
/// the transaction commits.
pub async fn start_charging(tx: &mut PgConnection, order_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH charging AS (
             UPDATE payments SET status = 'charging', next_attempt_at = now(), updated_at = now()
             WHERE order_id = $1 RETURNING order_id)
         SELECT pg_notify($2, '') FROM charging",
    )
    .bind(order_id)
    .bind(CHARGING)
    .execute(tx)
    .await?;
    Ok(())
}

/// Leaves the order CHARGING, to be called again after `delay`; false when its answer
/// was recorded already (by another claim that ran out).
pub async fn retry_after(
    tx: &mut PgConnection,
    order_id: Uuid,
    delay: Duration,
) -> Result<bool, sqlx::Error> {
    let retried = sqlx::query(
        "UPDATE payments SET next_attempt_at = now() + make_interval(secs => $2), updated_at = now()
         WHERE order_id = $1 AND status = 'charging'",
    )
    .bind(order_id)
    .bind(delay.as_secs_f64())
    .execute(tx)
    .await?;
    Ok(retried.rows_affected() == 1)
}

/// An order the charger is to call the provider for.
#[derive(Debug, sqlx::FromRow)]
pub struct Due {
    /// The order.
    pub order_id: Uuid,
    /// Its provider token.
    pub payment_token: String,
    /// Its total.
    pub amount_cents: i64,
    /// Its currency.
    pub currency: String,
}

/// Claims up to `limit` orders due for a call, pushing their next attempt `lease`
/// ahead: another instance leaves them alone meanwhile, and if this one dies, the
/// claim runs out and the call is made again (with the same idempotency key).
pub async fn claim_due(
    pool: &PgPool,
    lease: Duration,
    limit: i64,
) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE payments SET next_attempt_at = now() + make_interval(secs => $1)
         WHERE order_id IN (
             SELECT order_id FROM payments
             WHERE status = 'charging' AND next_attempt_at <= now()
             ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING order_id, payment_token, amount_cents, currency",
    )
    .bind(lease.as_secs_f64())
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The provider's final answer to a charge.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    /// Charged, as the payment `payment_id`.
    Charged {
        /// The charge.
        payment_id: Uuid,
    },
    /// Refused for good.
    Failed {
        /// Why.
        reason: &'a str,
    },
}

/// Records the provider's answer for an order still CHARGING: SUCCEEDED with its one
/// charge, or FAILED with the reason. Returns the row after, locked until the
/// transaction ends; `None` when the answer was recorded already (by another claim that
/// ran out).
pub async fn record_answer(
    tx: &mut PgConnection,
    order_id: Uuid,
    answer: Answer<'_>,
) -> Result<Option<Row>, sqlx::Error> {
    let (status, payment_id, failure_reason) = match answer {
        Answer::Charged { payment_id } => (Status::Succeeded, Some(payment_id), None),
        Answer::Failed { reason } => (Status::Failed, None, Some(reason)),
    };
    sqlx::query_as(&format!(
        "WITH answered AS (
             UPDATE payments SET status = $2, payment_id = $3, failure_reason = $4,
                 payment_token = NULL, next_attempt_at = NULL, updated_at = now()
             WHERE order_id = $1 AND status = 'charging'
             RETURNING order_id, {ROW}),
         charged AS (
             INSERT INTO charges (payment_id, order_id, amount_cents, currency)
             SELECT payment_id, order_id, amount_cents, currency FROM answered
             WHERE payment_id IS NOT NULL)
         SELECT {ROW} FROM answered"
    ))
    .bind(order_id)
    .bind(status.as_str())
    .bind(payment_id)
    .bind(failure_reason)
    .fetch_optional(tx)
    .await
}

/// Refunds the order's charge in full: REFUNDED, with its refund row.
pub async fn record_refund(
    tx: &mut PgConnection,
    order_id: Uuid,
    payment_id: Uuid,
    amount_cents: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH refunded AS (
             UPDATE payments SET status = 'refunded', refunded_cents = $3, payment_token = NULL,
                 next_attempt_at = NULL, updated_at = now()
             WHERE order_id = $1)
         INSERT INTO refunds (payment_id, amount_cents) VALUES ($2, $3)",
    )
    .bind(order_id)
    .bind(payment_id)
    .bind(amount_cents)
    .execute(tx)
    .await?;
    Ok(())
}

/// An order's settled payment as its query answers it, with the buyer it belongs to.
#[derive(Debug, sqlx::FromRow)]
pub struct Settled {
    /// The buyer.
    pub user_id: Option<Uuid>,
    /// Succeeded, failed or refunded.
    #[sqlx(try_from = "String")]
    pub status: Status,
    /// The charge.
    pub payment_id: Option<Uuid>,
    /// Charged, in minor units.
    pub amount_cents: Option<i64>,
    /// ISO 4217 code.
    pub currency: Option<String>,
    /// Given back, in minor units.
    pub refunded_cents: i64,
    /// Why the charge failed.
    pub failure_reason: Option<String>,
}

/// The order's payment once it has an outcome (succeeded, failed or refunded).
pub async fn settled(db: &PgPool, order_id: Uuid) -> Result<Option<Settled>, sqlx::Error> {
    let found: Option<Settled> = sqlx::query_as(
        "SELECT user_id, status, payment_id, amount_cents, currency, refunded_cents, failure_reason
         FROM payments WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_optional(db)
    .await?;
    Ok(found.filter(|payment| payment.status.is_settled()))
}
