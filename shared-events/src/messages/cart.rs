//! Buyers' carts (`cart.commands`, `cart.queries`). A buyer has one cart, keyed by
//! their user id. Checkout is not a cart command: the gateway places an order
//! (`order.place_order`) from the cart's lines with the cart's `version`, and the cart
//! service empties the cart when `order.order_placed` says that order exists.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{impl_message, impl_query};

/// Command: put `quantity` more units of a product in the buyer's cart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddCartItem {
    /// The buyer, whose cart it is.
    pub user_id: Uuid,
    /// The product: known to the cart and active.
    pub product_id: Uuid,
    /// 1 to 1,000; the line's new quantity may not pass 1,000 either.
    pub quantity: u32,
}

/// Command: set the quantity of a line already in the cart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetCartQuantity {
    /// The buyer.
    pub user_id: Uuid,
    /// The product of the line.
    pub product_id: Uuid,
    /// 1 to 1,000.
    pub quantity: u32,
}

/// Command: take a product's line out of the cart (nothing happens when it is not in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoveCartItem {
    /// The buyer.
    pub user_id: Uuid,
    /// The product of the line.
    pub product_id: Uuid,
}

/// Command: empty the cart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClearCart {
    /// The buyer.
    pub user_id: Uuid,
}

/// Query: the buyer's cart, priced from the cart service's product view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetCart {
    /// The buyer.
    pub user_id: Uuid,
}

/// A line of a cart as queries answer it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    /// The product.
    pub product_id: Uuid,
    /// Its sku.
    pub sku: String,
    /// Its name.
    pub name: String,
    /// Its image, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Units.
    pub quantity: u32,
    /// Today's unit price in minor units.
    pub unit_price_cents: i64,
    /// `quantity × unit_price_cents`.
    pub line_total_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// False once the seller deactivated the product: the line stays, flagged, and
    /// checkout is refused until it is removed.
    pub active: bool,
}

/// The answer to [`GetCart`]: every line, with totals. An unknown buyer has an empty
/// cart at version 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartView {
    /// The buyer.
    pub user_id: Uuid,
    /// Goes up by one with every change; checkout names the version it ordered.
    pub version: u64,
    /// The lines, in the order they were first added.
    pub lines: Vec<CartLine>,
    /// Sum of the active lines, in minor units.
    pub total_cents: i64,
    /// The lines' currency, when they share one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

impl_message!(
    AddCartItem => "cart.add_item",
    SetCartQuantity => "cart.set_quantity",
    RemoveCartItem => "cart.remove_item",
    ClearCart => "cart.clear",
    GetCart => "cart.get_cart",
);

impl_query!(GetCart => CartView);
