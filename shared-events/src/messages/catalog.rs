//! Products (`catalog.commands`, `catalog.events`, `catalog.queries`).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{impl_message, impl_query};

/// Command: list a new product, with its opening stock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProduct {
    /// The new product's id, chosen by the gateway.
    pub product_id: Uuid,
    /// The owning seller.
    pub seller_id: Uuid,
    /// Stock-keeping unit; unique across the catalog.
    pub sku: String,
    /// 1 to 200 characters.
    pub name: String,
    /// Up to 5,000 characters.
    #[serde(default)]
    pub description: String,
    /// Free-form category used for filtering.
    pub category: String,
    /// Unit price in minor units; greater than 0.
    pub price_cents: i64,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
    /// Units in stock at creation; 0 or more.
    pub initial_stock: u32,
    /// An https image of the product, up to 2,048 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

/// Command: change some fields of a product; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateProduct {
    /// The product to change.
    pub product_id: Uuid,
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// New unit price in minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_cents: Option<i64>,
    /// New currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// New https image; an empty string removes the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

/// Command: stop selling a product. It stays readable but is hidden from lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeactivateProduct {
    /// The product to deactivate.
    pub product_id: Uuid,
}

/// Event: a product exists, with everything other services keep a view of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductCreated {
    /// The product's id.
    pub product_id: Uuid,
    /// The owning seller.
    pub seller_id: Uuid,
    /// Stock-keeping unit.
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
    /// Units in stock at creation; inventory opens its stock record with it.
    pub initial_stock: u32,
    /// An https image of the product, up to 2,048 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

/// Event: some fields of a product changed; only those are present.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductUpdated {
    /// The product's id.
    pub product_id: Uuid,
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// New unit price in minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_cents: Option<i64>,
    /// New currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// New https image; an empty string removes the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

/// Event: a product is no longer sold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductDeactivated {
    /// The product's id.
    pub product_id: Uuid,
}

/// Query: one product with its available stock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetProduct {
    /// The product's id.
    pub product_id: Uuid,
}

/// Query: a page of products matching filters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListProducts {
    /// Text search over name, description and sku.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Exact category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Lowest unit price in minor units, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_price: Option<i64>,
    /// Highest unit price in minor units, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price: Option<i64>,
    /// Only products with available stock (true) or without (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_stock: Option<bool>,
    /// Only this seller's products.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<Uuid>,
    /// 1-based page number.
    pub page: u32,
    /// Items per page, at most 100.
    pub page_size: u32,
}

/// A product as queries answer it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductView {
    /// The product's id.
    pub product_id: Uuid,
    /// The owning seller.
    pub seller_id: Uuid,
    /// Stock-keeping unit.
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
    /// An https image of the product, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// False once deactivated.
    pub active: bool,
    /// Units available to order, as inventory last reported (`inventory.stock_changed`).
    pub available_stock: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The answer to [`ListProducts`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductPage {
    /// The products of this page, newest first.
    pub items: Vec<ProductView>,
    /// 1-based page number.
    pub page: u32,
    /// Items per page.
    pub page_size: u32,
    /// Products matching the filters, over all pages.
    pub total: u64,
}

impl_message! {
    CreateProduct => "catalog.create_product",
    UpdateProduct => "catalog.update_product",
    DeactivateProduct => "catalog.deactivate_product",
    ProductCreated => "catalog.product_created",
    ProductUpdated => "catalog.product_updated",
    ProductDeactivated => "catalog.product_deactivated",
    GetProduct => "catalog.get_product",
    ListProducts => "catalog.list_products",
}

impl_query! {
    GetProduct => ProductView,
    ListProducts => ProductPage,
}
