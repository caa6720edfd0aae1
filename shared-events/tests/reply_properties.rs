//! Every reply a service can send reads back as itself: outcomes by their `kind`,
//! refusals by their code, whatever the values.

use proptest::prelude::*;
use shared_events::messages::inventory::StockLevel;
use shared_events::messages::order::OrderStatus;
use shared_events::messages::reply::{CommandOutcome, Reply, ReplyCode};
use uuid::Uuid;

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

fn status() -> impl Strategy<Value = OrderStatus> {
    prop_oneof![
        Just(OrderStatus::Pending),
        Just(OrderStatus::Confirmed),
        Just(OrderStatus::Shipped),
        Just(OrderStatus::Delivered),
        Just(OrderStatus::Cancelled),
        Just(OrderStatus::Rejected),
    ]
}

fn outcome() -> impl Strategy<Value = CommandOutcome> {
    prop_oneof![
        (
            uuid(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            any::<u32>()
        )
            .prop_map(
                |(product_id, on_hand, reserved, available, reorder_point)| {
                    CommandOutcome::Stock(StockLevel {
                        product_id,
                        on_hand,
                        reserved,
                        available,
                        reorder_point,
                    })
                }
            ),
        (uuid(), status())
            .prop_map(|(order_id, status)| CommandOutcome::Order { order_id, status }),
        uuid().prop_map(|product_id| CommandOutcome::Product { product_id }),
        (uuid(), any::<u64>())
            .prop_map(|(user_id, version)| CommandOutcome::Cart { user_id, version }),
        uuid().prop_map(|user_id| CommandOutcome::User { user_id }),
    ]
}

/// Every code, as its schema lists them: a code added later is covered without a word
/// here.
fn code() -> impl Strategy<Value = ReplyCode> {
    let schema = serde_json::to_value(schemars::schema_for!(ReplyCode)).expect("a schema");
    let codes: Vec<ReplyCode> = schema["oneOf"]
        .as_array()
        .expect("ReplyCode's schema lists its values")
        .iter()
        .map(|value| serde_json::from_value(value["const"].clone()).expect("a listed code"))
        .collect();
    assert!(codes.len() > 10, "{codes:?}");
    proptest::sample::select(codes)
}

/// Through the wire and back, as the gateway reads what a service sent.
fn through_the_wire(reply: &Reply) -> Reply {
    let bytes = serde_json::to_vec(reply).expect("a reply serializes");
    serde_json::from_slice(&bytes).expect("a reply parses")
}

proptest! {
    #[test]
    fn a_command_outcome_reads_back_as_the_same_variant(id in uuid(), outcome in outcome()) {
        let read = through_the_wire(&Reply::done(id, &outcome));
        prop_assert!(read.ok);
        prop_assert_eq!(read.outcome().expect("an outcome"), outcome);
    }

    #[test]
    fn a_refusal_reads_back_with_its_code_and_message(
        id in uuid(), code in code(), message in any::<String>()
    ) {
        let read = through_the_wire(&Reply::failure(id, code, message.clone()));
        prop_assert!(!read.ok);
        let error = read.error.expect("an error");
        prop_assert_eq!((error.code, error.message), (code, message));
        prop_assert_eq!(serde_json::to_value(code).expect("a code"), code.to_string());
    }
}
