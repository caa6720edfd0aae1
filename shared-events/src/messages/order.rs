//! Orders and their saga (`order.commands`, `order.events`, `order.queries`).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{impl_message, impl_query};

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum OrderStatus {
    /// Placed, waiting for stock and payment.
    Pending,
    /// Reserved and paid.
    Confirmed,
    /// Handed to the carrier.
    Shipped,
    /// Received.
    Delivered,
    /// Cancelled, with a reason; stock released and any charge refunded.
    Cancelled,
    /// Refused at placement (unknown or inactive product, bad quantity).
    Rejected,
}

crate::text_enum!(OrderStatus {
    Pending => "PENDING",
    Confirmed => "CONFIRMED",
    Shipped => "SHIPPED",
    Delivered => "DELIVERED",
    Cancelled => "CANCELLED",
    Rejected => "REJECTED",
});

impl OrderStatus {
    /// Whether the order can change no more: DELIVERED, CANCELLED and REJECTED.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Delivered | Self::Cancelled | Self::Rejected)
    }

    /// Whether a buyer or an admin may still cancel it: PENDING or CONFIRMED.
    pub fn is_cancellable(self) -> bool {
        matches!(self, Self::Pending | Self::Confirmed)
    }
}

/// The statuses an admin may move a confirmed order to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FulfilmentStatus {
    /// CONFIRMED → SHIPPED.
    Shipped,
    /// SHIPPED → DELIVERED.
    Delivered,
}

/// A line as the buyer asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderLine {
    /// The product.
    pub product_id: Uuid,
    /// 1 to 1,000 units.
    pub quantity: u32,
}

/// Where an order goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShippingAddress {
    /// Who receives it; 1 to 200 characters.
    pub name: String,
    /// Street and number; 1 to 200 characters.
    pub line1: String,
    /// More of the address; up to 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    /// 1 to 100 characters.
    pub city: String,
    /// 1 to 20 letters, digits, spaces or hyphens.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 code in upper case, e.g. `DE`.
    pub country: String,
}

/// Command: place an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceOrder {
    /// The new order's id, chosen by the gateway.
    pub order_id: Uuid,
    /// The buyer.
    pub user_id: Uuid,
    /// 1 to 50 lines.
    pub items: Vec<OrderLine>,
    /// A payment provider token (never a card number).
    pub payment_token: String,
    /// Where it goes.
    pub shipping_address: ShippingAddress,
    /// Set when the order is a checkout of the buyer's cart: the cart version ordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart_version: Option<u64>,
}

/// Command: cancel an order while it is PENDING or CONFIRMED.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelOrder {
    /// The order.
    pub order_id: Uuid,
    /// Why, e.g. `cancelled_by_user`.
    pub reason: String,
}

/// Command: cancel an order, with reason `timeout`, because it is still PENDING after
/// the order service's deadline. Only the order service's own deadline scheduler
/// sends it, with an id derived from the order, so every instance's scan of the same
/// overdue order yields one command. One that arrives before the deadline is
/// dead-lettered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpireOrder {
    /// The order.
    pub order_id: Uuid,
}

/// Command (admin): move a confirmed order along fulfilment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdvanceStatus {
    /// The order.
    pub order_id: Uuid,
    /// The next status.
    pub status: FulfilmentStatus,
}

/// A priced line of a placed order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PricedLine {
    /// The product.
    pub product_id: Uuid,
    /// Its sku when the order was placed.
    pub sku: String,
    /// Its name when the order was placed.
    pub name: String,
    /// Units.
    pub quantity: u32,
    /// Unit price in minor units when the order was placed.
    pub unit_price_cents: i64,
    /// `quantity × unit_price_cents`.
    pub line_total_cents: i64,
}

/// Event: an order was accepted and priced; the saga starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderPlaced {
    /// The order.
    pub order_id: Uuid,
    /// The buyer.
    pub user_id: Uuid,
    /// The priced lines.
    pub items: Vec<PricedLine>,
    /// Sum of the line totals, in minor units.
    pub total_cents: i64,
    /// ISO 4217 code shared by every line.
    pub currency: String,
    /// The payment provider token.
    pub payment_token: String,
    /// When it is a checkout of the buyer's cart: the cart version ordered, so the cart
    /// service empties the cart now that the order exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart_version: Option<u64>,
}

/// Event: an order was refused at placement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderRejected {
    /// The order.
    pub order_id: Uuid,
    /// `unknown_product`, `product_inactive`, `invalid_quantity`, `mixed_currency` or
    /// `invalid_address`.
    pub reason: String,
}

/// Event: stock reserved and payment taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderConfirmed {
    /// The order.
    pub order_id: Uuid,
}

/// Event: an order was cancelled; compensations follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderCancelled {
    /// The order.
    pub order_id: Uuid,
    /// `out_of_stock`, `payment_declined`, `cancelled_by_user`, ...
    pub reason: String,
}

/// Event: an order moved from one status to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderStatusChanged {
    /// The order.
    pub order_id: Uuid,
    /// The status before.
    pub from: OrderStatus,
    /// The status after.
    pub to: OrderStatus,
}

/// Query: one order with its lines, totals and history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetOrder {
    /// The order.
    pub order_id: Uuid,
}

/// Query: a page of the asker's orders (an admin's: everyone's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListOrders {
    /// Only orders in this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OrderStatus>,
    /// 1-based page number.
    pub page: u32,
    /// Items per page, at most 100.
    pub page_size: u32,
}

/// One step of an order's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    /// The status before; none for the first step.
    pub from: Option<OrderStatus>,
    /// The status after.
    pub to: OrderStatus,
    /// Why: `placed`, `stock_reserved`, `payment_declined`, ...
    pub reason: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The answer to [`GetOrder`]: an order with its lines, totals and history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    /// The order.
    pub order_id: Uuid,
    /// The buyer.
    pub user_id: Uuid,
    /// Where it stands.
    pub status: OrderStatus,
    /// Why it was cancelled, once CANCELLED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// Why it was rejected, once REJECTED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_reason: Option<String>,
    /// The priced lines (none when it was rejected before pricing).
    pub items: Vec<PricedLine>,
    /// Sum of the line totals, in minor units.
    pub total_cents: i64,
    /// ISO 4217 code, once priced.
    pub currency: Option<String>,
    /// Where it goes (none for an order rejected because of its address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<ShippingAddress>,
    /// Every step, oldest first; empty in a list.
    pub history: Vec<StatusChange>,
    /// When inventory reserved its stock, once it has (the time of its
    /// `inventory.stock_reserved` event). Not a status: the order stays PENDING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_reserved_at: Option<DateTime<Utc>>,
    /// When payment charged it, once it has (the time of its
    /// `payment.payment_succeeded` event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<DateTime<Utc>>,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The answer to [`ListOrders`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderPage {
    /// The orders of this page, newest first, without their history.
    pub items: Vec<OrderView>,
    /// 1-based page number.
    pub page: u32,
    /// Items per page.
    pub page_size: u32,
    /// Orders matching the filter, over all pages.
    pub total: u64,
}

impl_message! {
    PlaceOrder => "order.place_order",
    CancelOrder => "order.cancel_order",
    ExpireOrder => "order.expire_order",
    AdvanceStatus => "order.advance_status",
    OrderPlaced => "order.order_placed",
    OrderRejected => "order.order_rejected",
    OrderConfirmed => "order.order_confirmed",
    OrderCancelled => "order.order_cancelled",
    OrderStatusChanged => "order.order_status_changed",
    GetOrder => "order.get_order",
    ListOrders => "order.list_orders",
}

impl_query! {
    GetOrder => OrderView,
    ListOrders => OrderPage,
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;

    #[test]
    fn only_delivered_cancelled_and_rejected_are_final() {
        for status in [Pending, Confirmed, Shipped] {
            assert!(!status.is_final(), "{status} may still change");
        }
        for status in [Delivered, Cancelled, Rejected] {
            assert!(status.is_final(), "{status} is final");
        }
    }

    #[test]
    fn only_pending_and_confirmed_orders_can_be_cancelled() {
        let cancellable: Vec<_> = super::OrderStatus::ALL
            .iter()
            .filter(|status| status.is_cancellable())
            .collect();
        assert_eq!(cancellable, [&Pending, &Confirmed]);
    }
}
