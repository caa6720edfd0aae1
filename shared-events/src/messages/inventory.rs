//! Stock and reservations (`inventory.commands`, `inventory.events`, `inventory.queries`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{impl_message, impl_query};

/// Command: add or remove units by hand (a delivery, a count, breakage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdjustStock {
    /// The product.
    pub product_id: Uuid,
    /// Units to add (positive) or remove (negative).
    pub delta: i64,
    /// Why, kept in the movement ledger.
    pub reason: String,
}

/// Command: set the level below which `low_stock` is emitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetReorderPoint {
    /// The product.
    pub product_id: Uuid,
    /// The new reorder point.
    pub reorder_point: u32,
}

/// Event: a product's stock changed; sent after every change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockChanged {
    /// The product.
    pub product_id: Uuid,
    /// Units physically held.
    pub on_hand: i64,
    /// Units held for open orders.
    pub reserved: i64,
    /// `on_hand - reserved`, never below 0.
    pub available: i64,
}

/// One line of a reservation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservedItem {
    /// The product.
    pub product_id: Uuid,
    /// Units reserved.
    pub quantity: u32,
}

/// Event: every line of an order is reserved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockReserved {
    /// The order.
    pub order_id: Uuid,
    /// What was reserved.
    pub items: Vec<ReservedItem>,
}

/// A line that could not be reserved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Shortage {
    /// The product.
    pub product_id: Uuid,
    /// Units the order asked for.
    pub requested: u32,
    /// Units that were available.
    pub available: i64,
}

/// Event: the order could not be reserved; nothing was reserved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockReservationFailed {
    /// The order.
    pub order_id: Uuid,
    /// The lines short of stock.
    pub shortages: Vec<Shortage>,
}

/// Event: an order's reservation was given back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockReleased {
    /// The order.
    pub order_id: Uuid,
    /// Why (the order's cancel reason).
    pub reason: String,
}

/// Event: an order's reservation became a sale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockCommitted {
    /// The order.
    pub order_id: Uuid,
}

/// Event: available stock crossed below the reorder point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LowStock {
    /// The product.
    pub product_id: Uuid,
    /// Units available now.
    pub available: i64,
    /// The reorder point it crossed.
    pub reorder_point: u32,
}

/// Query: one product's stock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetStock {
    /// The product.
    pub product_id: Uuid,
}

/// Query: every product below its reorder point.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListLowStock {}

/// The stock of one product as queries answer it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockLevel {
    /// The product.
    pub product_id: Uuid,
    /// Units in the warehouse.
    pub on_hand: i64,
    /// Units held for orders not yet confirmed or cancelled.
    pub reserved: i64,
    /// `onHand − reserved`: what can still be ordered.
    pub available: i64,
    /// Below this, the product is low on stock.
    pub reorder_point: u32,
}

impl_message! {
    AdjustStock => "inventory.adjust_stock",
    SetReorderPoint => "inventory.set_reorder_point",
    StockChanged => "inventory.stock_changed",
    StockReserved => "inventory.stock_reserved",
    StockReservationFailed => "inventory.stock_reservation_failed",
    StockReleased => "inventory.stock_released",
    StockCommitted => "inventory.stock_committed",
    LowStock => "inventory.low_stock",
    GetStock => "inventory.get_stock",
    ListLowStock => "inventory.list_low_stock",
}

/// The answer to [`ListLowStock`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LowStockList {
    /// Every product below its reorder point.
    pub items: Vec<StockLevel>,
}

impl_query! {
    GetStock => StockLevel,
    ListLowStock => LowStockList,
}
