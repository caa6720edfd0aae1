//! What payment answers on `payment.queries`: an order's payment, for its buyer or an
//! admin (anyone else is told there is none).

use kafka_runtime::query::QueryHandler;
use kafka_runtime::{HandlerError, Incoming};
use shared_events::access::{may_act_on, Owner};
use shared_events::messages::payment::{GetPayment, PaymentView};
use shared_events::messages::reply::Reply;
use shared_events::Message;
use sqlx::PgPool;

use crate::store;

/// Answers payment's queries.
pub struct PaymentQueries {
    pool: PgPool,
}

impl PaymentQueries {
    /// Reads the payments in `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    async fn get(&self, query: &Incoming) -> Result<Reply, HandlerError> {
        let order_id = query.data::<GetPayment>()?.order_id;
        let correlation_id = query.envelope.correlation_id;
        let actor = query.envelope.actor.as_ref();
        let visible = store::settled(&self.pool, order_id)
            .await?
            .filter(|payment| {
                let owner = payment.user_id.map_or(Owner::Platform, Owner::Buyer);
                may_act_on(actor, owner)
            });
        let Some(payment) = visible else {
            return Ok(Reply::failure(
                correlation_id,
                "not_found",
                "no payment for this order",
            ));
        };
        let answer = PaymentView {
            order_id,
            payment_id: payment.payment_id,
            status: payment.status,
            amount_cents: payment.amount_cents,
            currency: payment.currency,
            refunded_cents: payment.refunded_cents,
            failure_reason: payment.failure_reason,
        };
        Ok(Reply::answer::<GetPayment>(correlation_id, &answer))
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
