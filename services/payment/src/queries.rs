//! What payment answers on `payment.queries`: an order's payment, for its buyer or an
//! admin (anyone else is told there is none).

use kafka_runtime::query::QueryHandler;
use kafka_runtime::{Answers, Incoming, QueryError};
use shared_events::access::{may_act_on, Owner};
use shared_events::messages::payment::{GetPayment, PaymentView};
use shared_events::messages::reply::ReplyCode;
use shared_events::Topic;
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

    async fn get(&self, query: &Incoming, wanted: GetPayment) -> Result<PaymentView, QueryError> {
        let order_id = wanted.order_id;
        let actor = query.envelope.actor.as_ref();
        let visible = store::settled(&self.pool, order_id)
            .await?
            .filter(|payment| {
                let owner = payment.user_id.map_or(Owner::Platform, Owner::Buyer);
                may_act_on(actor, owner)
            });
        let Some(payment) = visible else {
            let text = "no payment for this order";
            return Err(QueryError::refused(ReplyCode::NotFound, text));
        };
        Ok(PaymentView {
            order_id,
            payment_id: payment.payment_id,
            status: payment.status,
            amount_cents: payment.amount_cents,
            currency: payment.currency,
            refunded_cents: payment.refunded_cents,
            failure_reason: payment.failure_reason,
        })
    }
}

impl QueryHandler for PaymentQueries {
    fn answers() -> Answers<Self> {
        Answers::new(Topic::PaymentQueries).on(Self::get)
    }
}
