//! What the cart service answers on `cart.queries`: a buyer's cart, priced with the
//! product view. Only the buyer (or an admin) may read it.

use std::collections::HashMap;

use kafka_runtime::query::QueryHandler;
use kafka_runtime::{HandlerError, Incoming};
use mongodb::bson::doc;
use mongodb::{Collection, Database};
use shared_events::access::{may_act_on, Owner};
use shared_events::messages::cart::GetCart;
use shared_events::messages::reply::Reply;
use shared_events::Message;
use uuid::Uuid;

use crate::store::{self, CartDocument, ProductDocument};

/// Answers the cart's queries.
pub struct CartQueries {
    carts: Collection<CartDocument>,
    products: Collection<ProductDocument>,
}

impl CartQueries {
    /// Reads the carts and products of `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            carts: store::carts(db),
            products: store::products(db),
        }
    }

    async fn get(&self, query: &Incoming) -> Result<Reply, HandlerError> {
        let wanted = query.data::<GetCart>()?;
        let correlation_id = query.envelope.correlation_id;
        if !may_act_on(query.envelope.actor.as_ref(), Owner::Buyer(wanted.user_id)) {
            return Ok(Reply::failure(
                correlation_id,
                "forbidden",
                "a cart is its buyer's",
            ));
        }
        let found = self
            .carts
            .find_one(doc! { "_id": wanted.user_id.to_string() })
            .await?;
        let cart = found.map(|cart| cart.cart()).unwrap_or_default();
        let ids: Vec<String> = cart
            .lines
            .iter()
            .map(|l| l.product_id.to_string())
            .collect();
        let mut cursor = self.products.find(doc! { "_id": { "$in": ids } }).await?;
        let mut products = HashMap::new();
        while cursor.advance().await? {
            let product = cursor.deserialize_current()?;
            if let Ok(id) = product.product_id.parse::<Uuid>() {
                products.insert(id, product.product());
            }
        }
        let answer = cart.view(wanted.user_id, &products);
        Ok(Reply::answer::<GetCart>(correlation_id, &answer))
    }
}

impl QueryHandler for CartQueries {
    async fn answer(&self, query: &Incoming) -> Result<Reply, HandlerError> {
        match query.envelope.kind.as_str() {
            GetCart::TYPE => self.get(query).await,
            _ => Err(query.unknown_type()),
        }
    }
}
