//! Carts and the product view as MongoDB documents: `carts` (one per buyer, keyed by
//! user id) and `products` (from `catalog.events`). Ids are UUID strings, so they read
//! the same in the shell.

use mongodb::bson::{doc, DateTime, Document};
use mongodb::{ClientSession, Collection, Database};
use serde::{Deserialize, Serialize};
use shared_events::messages::catalog::{ProductCreated, ProductUpdated};
use uuid::Uuid;

use crate::domain::{Cart, Line, Product};

/// A cart as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartDocument {
    /// The buyer's user id.
    #[serde(rename = "_id")]
    pub user_id: String,
    /// Goes up by one with every change.
    pub version: i64,
    /// The lines, in the order first added.
    pub lines: Vec<LineDocument>,
    /// The orders checked out from this cart that it has been emptied for.
    #[serde(default)]
    pub orders: Vec<String>,
    /// When it last changed.
    pub updated_at: DateTime,
}

/// A line as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineDocument {
    /// The product id.
    pub product_id: String,
    /// Units.
    pub quantity: i64,
}

impl CartDocument {
    /// The cart to decide with; a line or order id that does not parse is left out
    /// (every one was written by [`CartDocument::new`]).
    pub fn cart(&self) -> Cart {
        Cart {
            version: u64::try_from(self.version).unwrap_or_default(),
            lines: self
                .lines
                .iter()
                .filter_map(|line| {
                    Some(Line {
                        product_id: line.product_id.parse().ok()?,
                        quantity: u32::try_from(line.quantity).ok()?,
                    })
                })
                .collect(),
            orders: self
                .orders
                .iter()
                .filter_map(|id| id.parse().ok())
                .collect(),
        }
    }

    /// The document that stores `cart`.
    pub fn new(user_id: Uuid, cart: &Cart) -> Self {
        Self {
            user_id: user_id.to_string(),
            version: i64::try_from(cart.version).unwrap_or(i64::MAX),
            lines: cart
                .lines
                .iter()
                .map(|line| LineDocument {
                    product_id: line.product_id.to_string(),
                    quantity: i64::from(line.quantity),
                })
                .collect(),
            orders: cart.orders.iter().map(Uuid::to_string).collect(),
            updated_at: DateTime::now(),
        }
    }
}

/// A product of the view as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductDocument {
    /// The product id.
    #[serde(rename = "_id")]
    pub product_id: String,
    /// Stock-keeping unit.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Its image, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Unit price in minor units.
    pub price_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// False once deactivated.
    pub active: bool,
}

impl ProductDocument {
    /// A product as `product_created` announces it.
    pub fn created(product: &ProductCreated) -> Self {
        Self {
            product_id: product.product_id.to_string(),
            sku: product.sku.clone(),
            name: product.name.clone(),
            image_url: product.image_url.clone(),
            price_cents: product.price_cents,
            currency: product.currency.clone(),
            active: true,
        }
    }

    /// The product to decide and price with.
    pub fn product(&self) -> Product {
        Product {
            sku: self.sku.clone(),
            name: self.name.clone(),
            image_url: self.image_url.clone(),
            price_cents: self.price_cents,
            currency: self.currency.clone(),
            active: self.active,
        }
    }
}

/// The update that applies `product_updated`: the fields it names, the image removed
/// when it names an empty one.
pub fn product_changes(changed: &ProductUpdated) -> Document {
    let mut set = Document::new();
    if let Some(name) = &changed.name {
        set.insert("name", name);
    }
    if let Some(price_cents) = changed.price_cents {
        set.insert("priceCents", price_cents);
    }
    if let Some(currency) = &changed.currency {
        set.insert("currency", currency);
    }
    let mut update = Document::new();
    match changed.image_url.as_deref() {
        Some("") => {
            update.insert("$unset", doc! { "imageUrl": "" });
        }
        Some(url) => {
            set.insert("imageUrl", url);
        }
        None => {}
    }
    if !set.is_empty() {
        update.insert("$set", set);
    }
    update
}

/// The carts collection.
pub fn carts(db: &Database) -> Collection<CartDocument> {
    db.collection("carts")
}

/// The product view collection.
pub fn products(db: &Database) -> Collection<ProductDocument> {
    db.collection("products")
}

/// The buyer's cart in the transaction of `session`: empty at version 0 when they have
/// none yet.
pub async fn load(
    carts: &Collection<CartDocument>,
    user_id: Uuid,
    session: &mut ClientSession,
) -> mongodb::error::Result<Cart> {
    let found = carts
        .find_one(doc! { "_id": user_id.to_string() })
        .session(session)
        .await?;
    Ok(found.map(|cart| cart.cart()).unwrap_or_default())
}

/// Stores the buyer's cart in the transaction of `session`.
pub async fn save(
    carts: &Collection<CartDocument>,
    user_id: Uuid,
    cart: &Cart,
    session: &mut ClientSession,
) -> mongodb::error::Result<()> {
    carts
        .replace_one(
            doc! { "_id": user_id.to_string() },
            CartDocument::new(user_id, cart),
        )
        .upsert(true)
        .session(session)
        .await?;
    Ok(())
}
