//! What inventory answers on `inventory.queries`: one product's stock (its seller or
//! an admin) and the products below their reorder point (admins).

use kafka_runtime::query::QueryHandler;
use kafka_runtime::{Answers, Incoming, QueryError};
use shared_events::access::{is_admin, may_act_on, Owner};
use shared_events::messages::inventory::{GetStock, ListLowStock, LowStockList, StockLevel};
use shared_events::messages::reply::ReplyCode;
use shared_events::Topic;
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

    async fn get(&self, query: &Incoming, wanted: GetStock) -> Result<StockLevel, QueryError> {
        let Some(found) = store::find(&self.pool, wanted.product_id).await? else {
            let text = "no stock for this product";
            return Err(QueryError::refused(ReplyCode::NotFound, text));
        };
        if !may_act_on(
            query.envelope.actor.as_ref(),
            Owner::Seller(found.seller_id),
        ) {
            let text = "only the product's seller or an admin sees its stock";
            return Err(QueryError::refused(ReplyCode::Forbidden, text));
        }
        Ok(found.stock.level())
    }

    async fn low(&self, query: &Incoming, _: ListLowStock) -> Result<LowStockList, QueryError> {
        if !is_admin(query.envelope.actor.as_ref()) {
            return Err(QueryError::refused(ReplyCode::Forbidden, "admins only"));
        }
        let items = store::low(&self.pool)
            .await?
            .iter()
            .map(domain::Stock::level)
            .collect();
        Ok(LowStockList { items })
    }
}

impl QueryHandler for InventoryQueries {
    fn answers() -> Answers<Self> {
        Answers::new(Topic::InventoryQueries)
            .on(Self::get)
            .on(Self::low)
    }
}
