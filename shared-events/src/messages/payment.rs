//! Charges and refunds (`payment.events`, `payment.queries`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{impl_message, impl_query};

/// Where an order's payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    /// Not charged yet (never answered: the query says there is no payment).
    Waiting,
    /// The provider is being called (never answered, as `Waiting`).
    Charging,
    /// Charged.
    Succeeded,
    /// The charge failed for good.
    Failed,
    /// Charged, then given back.
    Refunded,
    /// Cancelled before any charge (never answered, as `Waiting`).
    Voided,
}

crate::text_enum!(PaymentStatus {
    Waiting => "waiting",
    Charging => "charging",
    Succeeded => "succeeded",
    Failed => "failed",
    Refunded => "refunded",
    Voided => "voided",
});

impl PaymentStatus {
    /// Whether the payment has an outcome a buyer may read: succeeded, failed or
    /// refunded.
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Refunded)
    }
}

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

/// The answer to [`GetPayment`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    /// The order.
    pub order_id: Uuid,
    /// The charge, once charged.
    pub payment_id: Option<Uuid>,
    /// `succeeded`, `failed` or `refunded`.
    pub status: PaymentStatus,
    /// Amount charged in minor units, once charged.
    pub amount_cents: Option<i64>,
    /// ISO 4217 code.
    pub currency: Option<String>,
    /// Amount given back in minor units.
    pub refunded_cents: i64,
    /// Why the charge failed: `card_declined`, `insufficient_funds`, `processing_error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

impl_query! {
    GetPayment => PaymentView,
}
