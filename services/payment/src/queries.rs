//! What payment answers on `payment.queries`: an order's payment, for its buyer or an
//! admin (anyone else is told there is none).

use kafka_runtime::query::QueryHandler;
use kafka_runtime::{HandlerError, Incoming};
use serde_json::json;
use shared_events::messages::payment::GetPayment;
use shared_events::messages::reply::Reply;
use shared_events::{Message, Role};
use sqlx::PgPool;
use uuid::Uuid;

/// Answers payment's queries.
pub struct PaymentQueries {
    pool: PgPool,
}

type PaymentRow = (
    Option<Uuid>,
    String,
    Option<Uuid>,
    Option<i64>,
    Option<String>,
    i64,
    Option<String>,
);

impl PaymentQueries {
    /// Reads the payments in `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    async fn get(&self, query: &Incoming) -> Result<Reply, HandlerError> {
        let order_id = query.data::<GetPayment>()?.order_id;
        let correlation_id = query.envelope.correlation_id;
        let row: Option<PaymentRow> = sqlx::query_as(
            "SELECT user_id, status, payment_id, amount_cents, currency, refunded_cents, failure_reason
             FROM payments WHERE order_id = $1 AND status IN ('succeeded', 'failed', 'refunded')",
        )
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await?;
        let actor = query.envelope.actor.as_ref();
        let visible = row.filter(|(user, ..)| {
            actor.is_some_and(|a| a.role == Role::Admin || Some(a.user_id) == *user)
        });
        let Some((_, status, payment_id, amount_cents, currency, refunded_cents, failure_reason)) =
            visible
        else {
            return Ok(Reply::failure(
                correlation_id,
                "not_found",
                "no payment for this order",
            ));
        };
        let mut answer = json!({
            "orderId": order_id, "paymentId": payment_id, "status": status,
            "amountCents": amount_cents, "currency": currency, "refundedCents": refunded_cents,
        });
        if let Some(reason) = failure_reason {
            answer["failureReason"] = json!(reason);
        }
        Ok(Reply::success(correlation_id, answer))
    }
}

impl QueryHandler for PaymentQueries {
    async fn answer(&self, query: &Incoming) -> Result<Reply, HandlerError> {
        match query.envelope.kind.as_str() {
            GetPayment::TYPE => self.get(query).await,
            _ => Err(query.unknown_type()),
        }
    }
}
