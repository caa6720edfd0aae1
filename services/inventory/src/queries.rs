//! What inventory answers on `inventory.queries`: one product's stock (its seller or
//! an admin) and the products below their reorder point (admins).

use kafka_runtime::query::QueryHandler;
use kafka_runtime::{HandlerError, Incoming};
use shared_events::access::{is_admin, may_act_on, Owner};
use shared_events::messages::inventory::{GetStock, ListLowStock, LowStockList};
use shared_events::messages::reply::Reply;
use shared_events::Message;
use sqlx::PgPool;

use crate::domain;
use crate::store;

/// Answers inventory's queries.
pub struct InventoryQueries {
    pool: PgPool,
}

impl InventoryQueries {
    /// Reads the stock in `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    async fn get(&self, query: &Incoming) -> Result<Reply, HandlerError> {
        let wanted = query.data::<GetStock>()?;
        let correlation_id = query.envelope.correlation_id;
        let Some(found) = store::find(&self.pool, wanted.product_id).await? else {
            return Ok(Reply::failure(
                correlation_id,
                "not_found",
                "no stock for this product",
            ));
        };
        if !may_act_on(
            query.envelope.actor.as_ref(),
            Owner::Seller(found.seller_id),
        ) {
            return Ok(Reply::failure(
                correlation_id,
                "forbidden",
                "only the product's seller or an admin sees its stock",
            ));
        }
        Ok(Reply::answer::<GetStock>(
            correlation_id,
            &found.stock.level(),
        ))
    }

    async fn low(&self, query: &Incoming) -> Result<Reply, HandlerError> {
        query.data::<ListLowStock>()?;
        let correlation_id = query.envelope.correlation_id;
        if !is_admin(query.envelope.actor.as_ref()) {
            return Ok(Reply::failure(correlation_id, "forbidden", "admins only"));
        }
        let items = store::low(&self.pool)
            .await?
            .iter()
            .map(domain::Stock::level)
            .collect();
        let answer = LowStockList { items };
        Ok(Reply::answer::<ListLowStock>(correlation_id, &answer))
    }
}

impl QueryHandler for InventoryQueries {
    async fn answer(&self, query: &Incoming) -> Result<Reply, HandlerError> {
        match query.envelope.kind.as_str() {
            GetStock::TYPE => self.get(query).await,
            ListLowStock::TYPE => self.low(query).await,
            _ => Err(query.unknown_type()),
        }
    }
}
