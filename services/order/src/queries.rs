//! What the order service answers on `order.queries`: one order (its buyer or an
//! admin; anyone else is told it does not exist) and a page of orders (a buyer's own;
//! an admin's: everyone's).

use kafka_runtime::query::QueryHandler;
use kafka_runtime::{HandlerError, Incoming};
use shared_events::access::{is_admin, may_act_on, Owner};
use shared_events::messages::order::{GetOrder, ListOrders, OrderPage};
use shared_events::messages::reply::Reply;
use shared_events::Message;
use sqlx::PgPool;

use crate::store;

/// Answers the order service's queries.
pub struct OrderQueries {
    pool: PgPool,
}

impl OrderQueries {
    /// Reads the orders in `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    async fn get(&self, query: &Incoming) -> Result<Reply, HandlerError> {
        let wanted = query.data::<GetOrder>()?;
        let correlation_id = query.envelope.correlation_id;
        let actor = query.envelope.actor.as_ref();
        let order = store::find(&self.pool, wanted.order_id)
            .await?
            .filter(|order| may_act_on(actor, Owner::Buyer(order.user_id)));
        Ok(match order {
            Some(order) => Reply::answer::<GetOrder>(correlation_id, &order),
            None => Reply::failure(correlation_id, "not_found", "no such order"),
        })
    }

    async fn list(&self, query: &Incoming) -> Result<Reply, HandlerError> {
        let wanted = query.data::<ListOrders>()?;
        let correlation_id = query.envelope.correlation_id;
        let Some(actor) = query.envelope.actor.as_ref() else {
            return Ok(Reply::failure(
                correlation_id,
                "forbidden",
                "sign in to list orders",
            ));
        };
        let user = (!is_admin(Some(actor))).then_some(actor.user_id);
        let (page, page_size) = (wanted.page.max(1), wanted.page_size.clamp(1, 100));
        let (items, total) = store::list(&self.pool, user, wanted.status, page, page_size).await?;
        let answer = OrderPage {
            items,
            page,
            page_size,
            total,
        };
        Ok(Reply::answer::<ListOrders>(correlation_id, &answer))
    }
}

impl QueryHandler for OrderQueries {
    async fn answer(&self, query: &Incoming) -> Result<Reply, HandlerError> {
        match query.envelope.kind.as_str() {
            GetOrder::TYPE => self.get(query).await,
            ListOrders::TYPE => self.list(query).await,
            _ => Err(query.unknown_type()),
        }
    }
}
