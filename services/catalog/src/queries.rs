//! What the catalog answers on `catalog.queries`: one product, or a filtered page.
//! Anyone may read the catalog, so queries need no actor.

use kafka_runtime::query::QueryHandler;
use kafka_runtime::{HandlerError, Incoming};
use mongodb::bson::doc;
use mongodb::Collection;
use shared_events::messages::catalog::{GetProduct, ListProducts, ProductPage};
use shared_events::messages::reply::Reply;
use shared_events::Message;

use crate::domain;
use crate::store::{self, ProductDocument};

/// Answers the catalog's queries.
pub struct CatalogQueries {
    products: Collection<ProductDocument>,
}

impl CatalogQueries {
    /// Reads the products of `db`.
    pub fn new(db: &mongodb::Database) -> Self {
        Self {
            products: store::products(db),
        }
    }

    async fn get(&self, query: &Incoming) -> Result<Reply, HandlerError> {
        let wanted = query.data::<GetProduct>()?;
        let correlation_id = query.envelope.correlation_id;
        let found = self
            .products
            .find_one(doc! { "_id": wanted.product_id.to_string() })
            .await?;
        Ok(match found.as_ref().and_then(ProductDocument::view) {
            Some(product) => Reply::answer::<GetProduct>(correlation_id, &product),
            None => Reply::failure(correlation_id, "not_found", "no such product"),
        })
    }

    async fn list(&self, query: &Incoming) -> Result<Reply, HandlerError> {
        let wanted = query.data::<ListProducts>()?;
        let (page, page_size) = domain::paging(wanted.page, wanted.page_size);
        let filter = store::list_filter(&wanted);
        let total = self.products.count_documents(filter.clone()).await?;
        let mut cursor = self
            .products
            .find(filter)
            .sort(store::list_order())
            .skip(u64::from(page - 1) * u64::from(page_size))
            .limit(i64::from(page_size))
            .await?;
        let mut items = Vec::with_capacity(page_size as usize);
        while cursor.advance().await? {
            if let Some(product) = cursor.deserialize_current()?.view() {
                items.push(product);
            }
        }
        let answer = ProductPage {
            items,
            page,
            page_size,
            total,
        };
        Ok(Reply::answer::<ListProducts>(
            query.envelope.correlation_id,
            &answer,
        ))
    }
}

impl QueryHandler for CatalogQueries {
    async fn answer(&self, query: &Incoming) -> Result<Reply, HandlerError> {
        match query.envelope.kind.as_str() {
            GetProduct::TYPE => self.get(query).await,
            ListProducts::TYPE => self.list(query).await,
            _ => Err(query.unknown_type()),
        }
    }
}
