//! What the cart service answers on `cart.queries`: a buyer's cart, priced with the
//! product view. Only the buyer (or an admin) may read it.

use std::collections::HashMap;

use kafka_runtime::query::QueryHandler;
use kafka_runtime::{Answers, Incoming, QueryError};
use mongodb::bson::doc;
use mongodb::{Collection, Database};
use shared_events::access::{may_act_on, Owner};
use shared_events::messages::cart::{CartView, GetCart};
use shared_events::messages::reply::ReplyCode;
use shared_events::Topic;
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

    async fn get(&self, query: &Incoming, wanted: GetCart) -> Result<CartView, QueryError> {
        if !may_act_on(query.envelope.actor.as_ref(), Owner::Buyer(wanted.user_id)) {
            let text = "a cart is its buyer's";
            return Err(QueryError::refused(ReplyCode::Forbidden, text));
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
        Ok(cart.view(wanted.user_id, &products))
    }
}

impl QueryHandler for CartQueries {
    fn answers() -> Answers<Self> {
        Answers::new(Topic::CartQueries).on(Self::get)
    }
}
