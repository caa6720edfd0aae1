//! Every command, event, query and reply of the platform.
//!
//! One module per area. Commands are imperative (`PlaceOrder`) and reject unknown
//! fields, so a typo in a replayed command is dead-lettered instead of half-applied;
//! events are past tense (`OrderPlaced`) and queries are reads answered with a
//! [`reply::Reply`] on `gateway.replies`. Money is integer minor units plus an ISO
//! currency code; quantities are `u32`.

use schemars::{JsonSchema, Schema};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub mod auth;
pub mod cart;
pub mod catalog;
pub mod inventory;
pub mod order;
pub mod payment;
pub mod reply;

/// A message type: what goes into an [`Envelope`](crate::Envelope)'s `data`.
pub trait Message: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// The envelope `type`, e.g. "order.place_order".
    const TYPE: &'static str;
    /// Schema version carried in the envelope.
    const VERSION: u32 = 1;
}

/// A query: a message answered on `gateway.replies`, whose successful reply carries an
/// [`Answer`](Query::Answer) in its `data`. The service builds the reply with
/// [`Reply::answer`](reply::Reply::answer) and the asker reads it with
/// [`Reply::answer_to`](reply::Reply::answer_to), so both sides name the same type.
pub trait Query: Message {
    /// What a successful reply's `data` holds.
    type Answer: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static;
}

/// Implements [`Query`] for each `Query => Answer` pair.
macro_rules! impl_query {
    ($($ty:ty => $answer:ty),+ $(,)?) => {
        $(impl $crate::messages::Query for $ty {
            type Answer = $answer;
        })+
    };
}
pub(crate) use impl_query;

/// Implements [`Message`] for each `Type => "wire.type"` pair.
macro_rules! impl_message {
    ($($ty:ty => $name:literal),+ $(,)?) => {
        $(impl $crate::messages::Message for $ty {
            const TYPE: &'static str = $name;
        })+
    };
}
pub(crate) use impl_message;

/// Calls `$callback!` with every message type, so each list below names them once.
macro_rules! with_every_message {
    ($callback:ident) => {
        $callback!(
            auth::RegisterUser,
            auth::UserRegistered,
            auth::Login,
            auth::GetUser,
            auth::SigningKeyPublished,
            catalog::CreateProduct,
            catalog::UpdateProduct,
            catalog::DeactivateProduct,
            catalog::ProductCreated,
            catalog::ProductUpdated,
            catalog::ProductDeactivated,
            catalog::GetProduct,
            catalog::ListProducts,
            inventory::AdjustStock,
            inventory::SetReorderPoint,
            inventory::StockChanged,
            inventory::StockReserved,
            inventory::StockReservationFailed,
            inventory::StockReleased,
            inventory::StockCommitted,
            inventory::LowStock,
            inventory::GetStock,
            inventory::ListLowStock,
            order::PlaceOrder,
            order::CancelOrder,
            order::ExpireOrder,
            order::AdvanceStatus,
            order::OrderPlaced,
            order::OrderRejected,
            order::OrderConfirmed,
            order::OrderCancelled,
            order::OrderStatusChanged,
            order::GetOrder,
            order::ListOrders,
            payment::PaymentSucceeded,
            payment::PaymentFailed,
            payment::PaymentRefunded,
            payment::GetPayment,
            cart::AddCartItem,
            cart::SetCartQuantity,
            cart::RemoveCartItem,
            cart::ClearCart,
            cart::GetCart,
            reply::Reply,
        )
    };
}

/// Calls `$callback!` with every query type.
macro_rules! with_every_query {
    ($callback:ident) => {
        $callback!(
            auth::Login,
            auth::GetUser,
            catalog::GetProduct,
            catalog::ListProducts,
            inventory::GetStock,
            inventory::ListLowStock,
            order::GetOrder,
            order::ListOrders,
            payment::GetPayment,
            cart::GetCart,
        )
    };
}

/// `TYPE` of every query and the JSON Schema of its answer, in declaration order.
pub fn all_answer_schemas() -> Vec<(&'static str, Schema)> {
    macro_rules! answers {
        ($($ty:ty),+ $(,)?) => {
            vec![$((<$ty as Message>::TYPE, schemars::schema_for!(<$ty as Query>::Answer))),+]
        };
    }
    with_every_query!(answers)
}

/// `(TYPE, VERSION)` of every message type, in declaration order.
pub fn all_message_types() -> Vec<(&'static str, u32)> {
    macro_rules! types {
        ($($ty:ty),+ $(,)?) => { vec![$((<$ty as Message>::TYPE, <$ty as Message>::VERSION)),+] };
    }
    with_every_message!(types)
}

/// `TYPE` and the JSON Schema of `data` for every message type, in declaration order.
pub fn all_message_schemas() -> Vec<(&'static str, Schema)> {
    macro_rules! schemas {
        ($($ty:ty),+ $(,)?) => { vec![$((<$ty as Message>::TYPE, schemars::schema_for!($ty))),+] };
    }
    with_every_message!(schemas)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn no_two_message_types_share_a_name() {
        let types = all_message_types();
        let unique: BTreeSet<_> = types.iter().map(|(name, _)| name).collect();
        assert_eq!(unique.len(), types.len());
    }

    #[test]
    fn every_type_name_is_an_area_and_a_snake_case_name() {
        let areas = [
            "auth",
            "catalog",
            "inventory",
            "order",
            "payment",
            "cart",
            "gateway",
        ];
        for (name, _) in all_message_types() {
            let (area, rest) = name.split_once('.').expect("type has an area");
            assert!(areas.contains(&area), "{name}: unknown area");
            assert!(
                !rest.is_empty() && rest.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}: not snake_case"
            );
        }
    }
}
