//! The outcome of a command or the answer to a query, on `gateway.replies`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::inventory::StockLevel;
use super::order::OrderStatus;
use super::{impl_message, Query};

/// `{correlationId, ok: true, data}` or `{correlationId, ok: false, error}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    /// The correlation id of the request this answers.
    pub correlation_id: Uuid,
    /// Whether the request succeeded.
    pub ok: bool,
    /// The answer, when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// Why it failed, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ReplyError>,
}

/// A failure a client may see: a stable code and a human sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplyError {
    /// Machine-readable, e.g. `email_taken`.
    pub code: ReplyCode,
    /// For people.
    pub message: String,
}

/// Why a service refused a command or a query: every code a reply can carry, one
/// name each, the same on both sides of `gateway.replies` (snake_case on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyCode {
    /// The message can never be applied: it breaks the contract's rules or names a type
    /// nobody handles. The runtime answers it when it dead-letters a command.
    Rejected,
    /// No such thing, or not one the asker may see.
    NotFound,
    /// The asker's role or identity may not do this.
    Forbidden,
    /// The email or password at login is wrong.
    InvalidCredentials,
    /// Another user has this email.
    EmailTaken,
    /// Another product has this sku.
    SkuTaken,
    /// Another product has this id.
    ProductIdTaken,
    /// Another order has this id.
    OrderIdTaken,
    /// Not possible in the order's current status.
    InvalidStatus,
    /// Fewer units are available than the adjustment takes.
    InsufficientStock,
    /// An order's shipping address is incomplete or malformed.
    InvalidAddress,
    /// A quantity is zero, too large, or the order has no lines.
    InvalidQuantity,
    /// A product the catalog does not list.
    UnknownProduct,
    /// A product no longer sold.
    ProductInactive,
    /// An order's lines are priced in different currencies.
    MixedCurrency,
    /// A cart may hold only so many lines.
    TooManyLines,
    /// The cart has no line for this product.
    NotInCart,
}

impl std::fmt::Display for ReplyCode {
    /// The code as it stands on the wire, e.g. `sku_taken`: serde's name is its one home.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.serialize(f)
    }
}

/// The `data` of a command's successful reply: what it made or changed, so that a
/// client can be shown where to read it. On the wire, the variant's fields beside a
/// `kind` naming the variant: `{"kind": "order", "orderId": …, "status": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum CommandOutcome {
    /// A stock command: the new stock level.
    Stock(StockLevel),
    /// An order command: the order and its status after the command.
    Order {
        /// The order.
        order_id: Uuid,
        /// Its status after the command.
        status: OrderStatus,
    },
    /// A product command: the product it created or changed.
    Product {
        /// The product.
        product_id: Uuid,
    },
    /// A cart command: the cart's version after it.
    Cart {
        /// The buyer.
        user_id: Uuid,
        /// The cart's version after the command.
        version: u64,
    },
    /// A registration: the new user.
    User {
        /// The user.
        user_id: Uuid,
    },
}

impl Reply {
    /// A command's success, with what it made.
    pub fn done(correlation_id: Uuid, outcome: &CommandOutcome) -> Self {
        Self::success_with(correlation_id, outcome)
    }

    /// Reads a command's successful reply: what it made.
    pub fn outcome(&self) -> Result<CommandOutcome, serde_json::Error> {
        self.data_as()
    }

    /// The answer to a query of type `Q`.
    pub fn answer<Q: Query>(correlation_id: Uuid, answer: &Q::Answer) -> Self {
        Self::success_with(correlation_id, answer)
    }

    /// Reads a successful reply's data as the answer to a query of type `Q`.
    pub fn answer_to<Q: Query>(&self) -> Result<Q::Answer, serde_json::Error> {
        self.data_as()
    }

    /// A success carrying `data`.
    pub fn success(correlation_id: Uuid, data: serde_json::Value) -> Self {
        Self {
            correlation_id,
            ok: true,
            data: Some(data),
            error: None,
        }
    }

    fn success_with(correlation_id: Uuid, data: &impl Serialize) -> Self {
        // Outcomes and answers are plain structs with string keys: serializing cannot fail.
        let data = serde_json::to_value(data).expect("outcomes and answers serialize");
        Self::success(correlation_id, data)
    }

    fn data_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(self.data.as_ref().unwrap_or(&serde_json::Value::Null))
    }

    /// A failure with a code and message.
    pub fn failure(correlation_id: Uuid, code: ReplyCode, message: impl Into<String>) -> Self {
        Self::refused(
            correlation_id,
            ReplyError {
                code,
                message: message.into(),
            },
        )
    }

    /// A failure saying `error`.
    pub fn refused(correlation_id: Uuid, error: ReplyError) -> Self {
        Self {
            correlation_id,
            ok: false,
            data: None,
            error: Some(error),
        }
    }
}

impl_message! {
    Reply => "gateway.reply",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stock_outcome_is_the_stock_level_beside_its_kind_on_the_wire() {
        let level = StockLevel {
            product_id: Uuid::nil(),
            on_hand: 5,
            reserved: 2,
            available: 3,
            reorder_point: 1,
        };
        let reply = Reply::done(Uuid::nil(), &CommandOutcome::Stock(level.clone()));
        let mut expected = serde_json::to_value(&level).unwrap();
        expected["kind"] = "stock".into();
        assert_eq!(reply.data.as_ref().unwrap(), &expected);
        assert_eq!(reply.outcome().unwrap(), CommandOutcome::Stock(level));
    }

    #[test]
    fn an_order_outcome_names_the_order_and_its_status() {
        let id = Uuid::new_v4();
        let outcome = CommandOutcome::Order {
            order_id: id,
            status: OrderStatus::Pending,
        };
        let reply = Reply::done(id, &outcome);
        let expected = serde_json::json!({ "kind": "order", "orderId": id, "status": "PENDING" });
        assert_eq!(reply.data.as_ref().unwrap(), &expected);
        assert_eq!(reply.outcome().unwrap(), outcome);
    }

    #[test]
    fn an_outcome_without_its_kind_is_not_read_as_another() {
        let id = Uuid::new_v4();
        let untagged = Reply::success(id, serde_json::json!({ "userId": id, "version": 3 }));
        assert!(untagged.outcome().is_err());
    }

    #[test]
    fn reply_codes_are_their_snake_case_names_on_the_wire() {
        for (code, name) in [
            (ReplyCode::Rejected, "rejected"),
            (ReplyCode::ProductIdTaken, "product_id_taken"),
        ] {
            let wire = serde_json::to_value(code).unwrap();
            assert_eq!((&wire, code.to_string().as_str()), (&name.into(), name));
            assert_eq!(serde_json::from_value::<ReplyCode>(wire).unwrap(), code);
        }
    }
}
