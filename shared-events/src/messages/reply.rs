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
    pub code: String,
    /// For people.
    pub message: String,
}

/// The `data` of a command's successful reply: what it made or changed, so that a
/// client can be shown where to read it. On the wire it is the variant's fields alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, rename_all_fields = "camelCase")]
pub enum CommandOutcome {
    /// A stock command: the new stock level. First, because it names a product too.
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
    /// A cart command: the cart's version after it. Before `User`, which it would
    /// otherwise be read as.
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
    pub fn failure(
        correlation_id: Uuid,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let error = ReplyError {
            code: code.into(),
            message: message.into(),
        };
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
    fn a_stock_outcome_is_the_stock_level_itself_on_the_wire() {
        let level = StockLevel {
            product_id: Uuid::nil(),
            on_hand: 5,
            reserved: 2,
            available: 3,
            reorder_point: 1,
        };
        let reply = Reply::done(Uuid::nil(), &CommandOutcome::Stock(level.clone()));
        assert_eq!(
            reply.data.as_ref().unwrap(),
            &serde_json::to_value(&level).unwrap()
        );
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
        let expected = serde_json::json!({ "orderId": id, "status": "PENDING" });
        assert_eq!(reply.data.as_ref().unwrap(), &expected);
        assert_eq!(reply.outcome().unwrap(), outcome);
        let product = Reply::success(id, serde_json::json!({ "productId": id }));
        assert_eq!(
            product.outcome().unwrap(),
            CommandOutcome::Product { product_id: id }
        );
    }
}
