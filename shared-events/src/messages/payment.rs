//! Charges and refunds (`payment.events`, `payment.queries`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::impl_message;

/// Event: the order was charged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentSucceeded {
    /// The order.
    pub order_id: Uuid,
    /// The charge.
    pub payment_id: Uuid,
    /// Amount charged in minor units.
    pub amount_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// Event: the charge failed for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentFailed {
    /// The order.
    pub order_id: Uuid,
    /// `card_declined`, `insufficient_funds` or `processing_error`.
    pub reason: String,
}

/// Event: a charge was given back after the order was cancelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRefunded {
    /// The order.
    pub order_id: Uuid,
    /// The refunded charge.
    pub payment_id: Uuid,
    /// Amount refunded in minor units.
    pub amount_cents: i64,
}

/// Query: the payment of one order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetPayment {
    /// The order.
    pub order_id: Uuid,
}

impl_message! {
    PaymentSucceeded => "payment.payment_succeeded",
    PaymentFailed => "payment.payment_failed",
    PaymentRefunded => "payment.payment_refunded",
    GetPayment => "payment.get_payment",
}
