//! Products as MongoDB documents in the `products` collection, the indexes behind every
//! list filter, and the filter a list query becomes.

use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use shared_events::messages::catalog::{CreateProduct, ListProducts, ProductView};
use uuid::Uuid;

use crate::domain::{self, Editable};

/// A product as stored. Ids are UUID strings, so they read the same in the shell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductDocument {
    /// The product id.
    #[serde(rename = "_id")]
    pub product_id: String,
    /// The owning seller's user id.
    pub seller_id: String,
    /// Unique across the catalog (unique index `sku`).
    pub sku: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category: String,
    /// Unit price in minor units.
    pub price_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// An https image, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// False once deactivated; lists show active products only.
    pub active: bool,
    /// Available units as inventory last reported them (`inventory.stock_changed`).
    pub available_stock: i64,
    /// Lower-case words of name, description and sku, for text search.
    pub terms: Vec<String>,
    /// When it was created.
    pub created_at: DateTime,
    /// When a seller last changed it.
    pub updated_at: DateTime,
}

impl ProductDocument {
    /// A new, active product. Its available stock stays 0 until inventory reports it:
    /// the catalog shows what inventory holds, not what the seller asked for.
    pub fn new(product: &CreateProduct) -> Self {
        let now = DateTime::now();
        let (name, sku) = (product.name.trim(), product.sku.trim());
        Self {
            product_id: product.product_id.to_string(),
            seller_id: product.seller_id.to_string(),
            sku: sku.to_string(),
            name: name.to_string(),
            description: product.description.clone(),
            category: product.category.trim().to_string(),
            price_cents: product.price_cents,
            currency: product.currency.clone(),
            image_url: product.image_url.clone(),
            active: true,
            available_stock: 0,
            terms: domain::search_terms(name, &product.description, sku),
            created_at: now,
            updated_at: now,
        }
    }

    /// The owning seller.
    pub fn seller(&self) -> Option<Uuid> {
        self.seller_id.parse().ok()
    }

    /// The fields an update may change.
    pub fn editable(&self) -> Editable {
        Editable {
            name: self.name.clone(),
            description: self.description.clone(),
            category: self.category.clone(),
            price_cents: self.price_cents,
            currency: self.currency.clone(),
            image_url: self.image_url.clone(),
        }
    }

    /// The `$set` that stores edited fields, with their search terms.
    pub fn edit(&self, edited: &Editable) -> Document {
        doc! {
            "name": &edited.name,
            "description": &edited.description,
            "category": &edited.category,
            "priceCents": edited.price_cents,
            "currency": &edited.currency,
            "imageUrl": edited.image_url.as_deref().map_or(Bson::Null, Bson::from),
            "terms": domain::search_terms(&edited.name, &edited.description, &self.sku),
            "updatedAt": DateTime::now(),
        }
    }

    /// The product as queries answer it.
    pub fn view(&self) -> Option<ProductView> {
        let time = |t: DateTime| chrono::DateTime::from_timestamp_millis(t.timestamp_millis());
        Some(ProductView {
            product_id: self.product_id.parse().ok()?,
            seller_id: self.seller()?,
            sku: self.sku.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            category: self.category.clone(),
            price_cents: self.price_cents,
            currency: self.currency.clone(),
            image_url: self.image_url.clone(),
            active: self.active,
            available_stock: self.available_stock,
            created_at: time(self.created_at)?,
            updated_at: time(self.updated_at)?,
        })
    }
}

/// The products collection.
pub fn products(db: &Database) -> Collection<ProductDocument> {
    db.collection("products")
}

/// The order lists are answered in: newest first, ties by id so pages never overlap.
pub fn list_order() -> Document {
    doc! { "createdAt": -1, "_id": 1 }
}

/// Creates the unique sku index and one index per list filter (each led by `active`,
/// since lists show active products only). Creating an existing index is a no-op.
pub async fn ensure_indexes(db: &Database) -> mongodb::error::Result<()> {
    let unique = IndexOptions::builder().unique(true).build();
    let indexes = [
        IndexModel::builder()
            .keys(doc! { "sku": 1 })
            .options(unique)
            .build(),
        IndexModel::builder()
            .keys(doc! { "active": 1, "createdAt": -1, "_id": 1 })
            .build(),
        IndexModel::builder()
            .keys(doc! { "active": 1, "category": 1, "createdAt": -1 })
            .build(),
        IndexModel::builder()
            .keys(doc! { "active": 1, "sellerId": 1, "createdAt": -1 })
            .build(),
        IndexModel::builder()
            .keys(doc! { "active": 1, "priceCents": 1 })
            .build(),
        IndexModel::builder()
            .keys(doc! { "active": 1, "availableStock": 1 })
            .build(),
        IndexModel::builder().keys(doc! { "terms": 1 }).build(),
    ];
    products(db).create_indexes(indexes).await?;
    Ok(())
}

/// The filter of a list query: active products only, every given filter applied.
pub fn list_filter(query: &ListProducts) -> Document {
    let mut filter = doc! { "active": true };
    let words = query
        .q
        .as_deref()
        .map(domain::query_words)
        .unwrap_or_default();
    if !words.is_empty() {
        let each: Vec<Bson> = words
            .iter()
            .map(|word| Bson::Document(doc! { "terms": { "$regex": format!("^{word}") } }))
            .collect();
        filter.insert("$and", each);
    }
    if let Some(category) = query.category.as_deref().map(str::trim) {
        filter.insert("category", category);
    }
    if let Some(seller) = query.seller_id {
        filter.insert("sellerId", seller.to_string());
    }
    let mut price = Document::new();
    if let Some(min) = query.min_price {
        price.insert("$gte", min);
    }
    if let Some(max) = query.max_price {
        price.insert("$lte", max);
    }
    if !price.is_empty() {
        filter.insert("priceCents", price);
    }
    match query.in_stock {
        Some(true) => filter.insert("availableStock", doc! { "$gt": 0_i64 }),
        Some(false) => filter.insert("availableStock", doc! { "$lte": 0_i64 }),
        None => None,
    };
    filter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_query_lists_active_products() {
        assert_eq!(
            list_filter(&ListProducts::default()),
            doc! { "active": true }
        );
    }

    #[test]
    fn every_filter_becomes_a_condition() {
        let query = ListProducts {
            q: Some("Blue mu".into()),
            category: Some("kitchen".into()),
            min_price: Some(100),
            max_price: Some(2000),
            in_stock: Some(true),
            seller_id: Some(Uuid::nil()),
            page: 1,
            page_size: 10,
        };
        assert_eq!(
            list_filter(&query),
            doc! {
                "active": true,
                "$and": [ { "terms": { "$regex": "^blue" } }, { "terms": { "$regex": "^mu" } } ],
                "category": "kitchen",
                "sellerId": "00000000-0000-0000-0000-000000000000",
                "priceCents": { "$gte": 100_i64, "$lte": 2000_i64 },
                "availableStock": { "$gt": 0_i64 },
            }
        );
    }
}
