//! What the order service answers on `order.queries`: one order (its buyer or an
//! admin; anyone else is told it does not exist) and a page of orders (a buyer's own;
//! an admin's: everyone's).

use kafka_runtime::query::QueryHandler;
use kafka_runtime::{Answers, Incoming, QueryError};
use shared_events::access::{is_admin, may_act_on, Owner};
use shared_events::messages::order::{GetOrder, ListOrders, OrderPage, OrderView};
use shared_events::messages::reply::ReplyCode;
use shared_events::Topic;
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
}

impl QueryHandler for OrderQueries {
    fn answers() -> Answers<Self> {
        Answers::new(Topic::OrderQueries).on(get).on(list)
    }
}

async fn get(
    queries: &OrderQueries,
    query: &Incoming,
    wanted: GetOrder,
) -> Result<OrderView, QueryError> {
    let actor = query.envelope.actor.as_ref();
    store::find(&queries.pool, wanted.order_id)
        .await?
        .filter(|order| may_act_on(actor, Owner::Buyer(order.user_id)))
        .ok_or_else(|| QueryError::refused(ReplyCode::NotFound, "no such order"))
}

async fn list(
    queries: &OrderQueries,
    query: &Incoming,
    wanted: ListOrders,
) -> Result<OrderPage, QueryError> {
    let Some(actor) = query.envelope.actor.as_ref() else {
        return Err(QueryError::refused(
            ReplyCode::Forbidden,
            "sign in to list orders",
        ));
    };
    let user = (!is_admin(Some(actor))).then_some(actor.user_id);
    let (page, page_size) = (wanted.page.max(1), wanted.page_size.clamp(1, 100));
    let (items, total) = store::list(&queries.pool, user, wanted.status, page, page_size).await?;
    Ok(OrderPage {
        items,
        page,
        page_size,
        total,
    })
}
