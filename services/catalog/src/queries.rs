//! What the catalog answers on `catalog.queries`: one product, or a filtered page.
//! Anyone may read the catalog, so queries need no actor.

use kafka_runtime::query::QueryHandler;
use kafka_runtime::{Answers, Incoming, QueryError};
use mongodb::bson::doc;
use mongodb::Collection;
use shared_events::messages::catalog::{GetProduct, ListProducts, ProductPage, ProductView};
use shared_events::messages::reply::ReplyCode;
use shared_events::Topic;

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

    async fn get(&self, _: &Incoming, wanted: GetProduct) -> Result<ProductView, QueryError> {
        let found = self
            .products
            .find_one(doc! { "_id": wanted.product_id.to_string() })
            .await?;
        found
            .as_ref()
            .and_then(ProductDocument::view)
            .ok_or_else(|| QueryError::refused(ReplyCode::NotFound, "no such product"))
    }

    async fn list(&self, _: &Incoming, wanted: ListProducts) -> Result<ProductPage, QueryError> {
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
        Ok(ProductPage {
            items,
            page,
            page_size,
            total,
        })
    }
}

impl QueryHandler for CatalogQueries {
    fn answers() -> Answers<Self> {
        Answers::new(Topic::CatalogQueries)
            .on(Self::get)
            .on(Self::list)
    }
}
