//! Every message survives the trip through an envelope and JSON, and the wire format is
//! what docs/messages.md shows.

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde_json::json;
use shared_events::messages::{
    all_message_types, auth, cart, catalog, inventory, order, payment, reply,
};
use shared_events::{Actor, Envelope, Message, RawEnvelope, Retention, Role, Topic, Topics};
use uuid::Uuid;

/// The commands: the only types that must reject unknown fields.
const COMMANDS: [&str; 14] = [
    "auth.register_user",
    "catalog.create_product",
    "catalog.update_product",
    "catalog.deactivate_product",
    "inventory.adjust_stock",
    "inventory.set_reorder_point",
    "order.place_order",
    "order.cancel_order",
    "order.expire_order",
    "order.advance_status",
    "cart.add_item",
    "cart.set_quantity",
    "cart.remove_item",
    "cart.clear",
];

thread_local! {
    /// Types `round_trip` has seen, so the test can check none was forgotten.
    static SEEN: RefCell<BTreeSet<&'static str>> = const { RefCell::new(BTreeSet::new()) };
}

/// Envelope → JSON → RawEnvelope → data equals the original; and an unknown field in
/// `data` is rejected exactly when the type is a command.
fn round_trip<T: Message + PartialEq + std::fmt::Debug + Clone>(data: T) {
    SEEN.with(|seen| seen.borrow_mut().insert(T::TYPE));
    let actor = Some(Actor {
        user_id: Uuid::new_v4(),
        role: Role::Seller,
    });
    let envelope = Envelope::new(data.clone(), Uuid::new_v4(), actor);
    let raw = RawEnvelope::parse(&envelope.to_json()).expect("parses");
    assert_eq!(raw.kind, T::TYPE);
    assert_eq!(raw.id, envelope.id);
    assert_eq!(raw.actor, envelope.actor);
    assert_eq!(
        raw.data_as::<T>().expect("data parses"),
        data,
        "{}",
        T::TYPE
    );

    let mut with_typo = serde_json::to_value(&data).expect("serializes");
    with_typo
        .as_object_mut()
        .expect("data is an object")
        .insert("unexpectedFieldTypo".into(), json!(1));
    let parsed = serde_json::from_value::<T>(with_typo);
    assert_eq!(
        parsed.is_err(),
        COMMANDS.contains(&T::TYPE),
        "{}: unknown field accepted or rejected against the contract",
        T::TYPE
    );
}

#[test]
fn every_message_type_round_trips_through_an_envelope() {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    round_trip(auth::RegisterUser {
        user_id: a,
        email: "a@b.c".into(),
        name: "A".into(),
        role: Role::Buyer,
        password_hash: "$2b$12$x".into(),
    });
    round_trip(auth::UserRegistered {
        user_id: a,
        email: "a@b.c".into(),
        name: "A".into(),
        role: Role::Seller,
    });
    round_trip(auth::Login {
        email: "a@b.c".into(),
        password: "pw".into(),
    });
    round_trip(auth::GetUser { user_id: a });
    round_trip(auth::SigningKeyPublished {
        kid: a.to_string(),
        algorithm: "EdDSA".into(),
        public_key: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
        created_at: "2026-11-23T07:00:00Z".parse().expect("a time"),
    });
    round_trip(catalog::CreateProduct {
        product_id: a,
        seller_id: b,
        sku: "SKU-1".into(),
        name: "Mug".into(),
        description: "Blue".into(),
        category: "kitchen".into(),
        price_cents: 1299,
        currency: "EUR".into(),
        initial_stock: 10,
        image_url: Some("https://images.example.com/mug.jpg".into()),
    });
    round_trip(catalog::UpdateProduct {
        product_id: a,
        price_cents: Some(999),
        ..Default::default()
    });
    round_trip(catalog::DeactivateProduct { product_id: a });
    round_trip(catalog::ProductCreated {
        product_id: a,
        seller_id: b,
        sku: "S".into(),
        name: "N".into(),
        description: String::new(),
        category: "c".into(),
        price_cents: 1,
        currency: "USD".into(),
        initial_stock: 0,
        image_url: None,
    });
    round_trip(catalog::ProductUpdated {
        product_id: a,
        name: Some("New".into()),
        ..Default::default()
    });
    round_trip(catalog::ProductDeactivated { product_id: a });
    round_trip(catalog::GetProduct { product_id: a });
    round_trip(catalog::ListProducts {
        q: Some("mug".into()),
        in_stock: Some(true),
        page: 1,
        page_size: 20,
        ..Default::default()
    });
    round_trip(inventory::AdjustStock {
        product_id: a,
        delta: -3,
        reason: "breakage".into(),
    });
    round_trip(inventory::SetReorderPoint {
        product_id: a,
        reorder_point: 5,
    });
    round_trip(inventory::StockChanged {
        product_id: a,
        on_hand: 10,
        reserved: 2,
        available: 8,
    });
    round_trip(inventory::StockReserved {
        order_id: a,
        items: vec![inventory::ReservedItem {
            product_id: b,
            quantity: 2,
        }],
    });
    round_trip(inventory::StockReservationFailed {
        order_id: a,
        shortages: vec![inventory::Shortage {
            product_id: b,
            requested: 5,
            available: 1,
        }],
    });
    round_trip(inventory::StockReleased {
        order_id: a,
        reason: "out_of_stock".into(),
    });
    round_trip(inventory::StockCommitted { order_id: a });
    round_trip(inventory::LowStock {
        product_id: a,
        available: 3,
        reorder_point: 10,
    });
    round_trip(inventory::GetStock { product_id: a });
    round_trip(inventory::ListLowStock {});
    round_trip(order::PlaceOrder {
        order_id: a,
        user_id: b,
        items: vec![order::OrderLine {
            product_id: a,
            quantity: 2,
        }],
        payment_token: "tok_visa".into(),
        shipping_address: order::ShippingAddress {
            name: "Ada Lovelace".into(),
            line1: "1 Main Street".into(),
            line2: Some("Flat 2".into()),
            city: "Berlin".into(),
            postal_code: "10115".into(),
            country: "DE".into(),
        },
        cart_version: None,
    });
    round_trip(order::CancelOrder {
        order_id: a,
        reason: "cancelled_by_user".into(),
    });
    round_trip(order::ExpireOrder { order_id: a });
    round_trip(order::AdvanceStatus {
        order_id: a,
        status: order::FulfilmentStatus::Shipped,
    });
    round_trip(order::OrderPlaced {
        order_id: a,
        user_id: b,
        items: vec![order::PricedLine {
            product_id: a,
            sku: "S".into(),
            name: "N".into(),
            quantity: 2,
            unit_price_cents: 500,
            line_total_cents: 1000,
        }],
        total_cents: 1000,
        currency: "EUR".into(),
        payment_token: "tok_visa".into(),
        cart_version: None,
    });
    round_trip(order::OrderRejected {
        order_id: a,
        reason: "unknown_product".into(),
    });
    round_trip(order::OrderConfirmed { order_id: a });
    round_trip(order::OrderCancelled {
        order_id: a,
        reason: "payment_declined".into(),
    });
    round_trip(order::OrderStatusChanged {
        order_id: a,
        from: order::OrderStatus::Pending,
        to: order::OrderStatus::Confirmed,
    });
    round_trip(order::GetOrder { order_id: a });
    round_trip(order::ListOrders {
        status: Some(order::OrderStatus::Cancelled),
        page: 2,
        page_size: 10,
    });
    round_trip(payment::PaymentSucceeded {
        order_id: a,
        payment_id: b,
        amount_cents: 1000,
        currency: "EUR".into(),
    });
    round_trip(payment::PaymentFailed {
        order_id: a,
        reason: "card_declined".into(),
    });
    round_trip(payment::PaymentRefunded {
        order_id: a,
        payment_id: b,
        amount_cents: 1000,
    });
    round_trip(payment::GetPayment { order_id: a });
    round_trip(cart::AddCartItem {
        user_id: a,
        product_id: b,
        quantity: 2,
    });
    round_trip(cart::SetCartQuantity {
        user_id: a,
        product_id: b,
        quantity: 3,
    });
    round_trip(cart::RemoveCartItem {
        user_id: a,
        product_id: b,
    });
    round_trip(cart::ClearCart { user_id: a });
    round_trip(cart::GetCart { user_id: a });
    round_trip(reply::Reply::done(
        a,
        &reply::CommandOutcome::User { user_id: b },
    ));
    round_trip(reply::Reply::failure(
        a,
        reply::ReplyCode::EmailTaken,
        "that email is registered",
    ));

    let every_type: BTreeSet<&str> = all_message_types().into_iter().map(|(t, _)| t).collect();
    let seen = SEEN.with(|seen| seen.borrow().clone());
    assert_eq!(seen, every_type, "every message type needs an example here");
}

#[test]
fn the_envelope_is_camel_case_with_a_type_key() {
    let envelope = Envelope::new(
        order::OrderConfirmed {
            order_id: Uuid::nil(),
        },
        Uuid::nil(),
        None,
    );
    let value: serde_json::Value = serde_json::from_slice(&envelope.to_json()).expect("json");
    for key in [
        "id",
        "type",
        "version",
        "occurredAt",
        "correlationId",
        "causationId",
        "actor",
        "replyTo",
        "data",
    ] {
        assert!(value.get(key).is_some(), "missing {key}");
    }
    assert_eq!(value["type"], "order.order_confirmed");
    assert_eq!(value["data"]["orderId"], Uuid::nil().to_string());
}

#[test]
fn a_line_typed_into_a_console_producer_is_a_complete_message() {
    let line = r#"{"id":"0b5a3e4e-2a8f-4c61-8d2f-3f1f6f0a9c11","type":"order.place_order","version":1,"occurredAt":"2026-11-22T10:00:00Z","correlationId":"0b5a3e4e-2a8f-4c61-8d2f-3f1f6f0a9c12","causationId":null,"actor":{"userId":"0b5a3e4e-2a8f-4c61-8d2f-3f1f6f0a9c13","role":"buyer"},"replyTo":null,"data":{"orderId":"0b5a3e4e-2a8f-4c61-8d2f-3f1f6f0a9c14","userId":"0b5a3e4e-2a8f-4c61-8d2f-3f1f6f0a9c13","items":[{"productId":"0b5a3e4e-2a8f-4c61-8d2f-3f1f6f0a9c15","quantity":2}],"paymentToken":"tok_visa","shippingAddress":{"name":"Ada Lovelace","line1":"1 Main Street","city":"Berlin","postalCode":"10115","country":"DE"}}}"#;
    let raw = RawEnvelope::parse(line.as_bytes()).expect("parses");
    assert_eq!(raw.causation_id, None);
    assert_eq!(raw.actor.as_ref().map(|a| &a.role), Some(&Role::Buyer));
    let place: order::PlaceOrder = raw.data_as().expect("data parses");
    assert_eq!(place.items[0].quantity, 2);
}

#[test]
fn commands_reject_unknown_fields() {
    let data = json!({ "productId": Uuid::nil(), "delta": 1, "reason": "x", "deltta": 2 });
    assert!(serde_json::from_value::<inventory::AdjustStock>(data).is_err());
}

#[test]
fn an_event_caused_by_a_command_gets_the_same_id_every_time() {
    let command = Envelope::new(
        order::CancelOrder {
            order_id: Uuid::nil(),
            reason: "r".into(),
        },
        Uuid::new_v4(),
        None,
    );
    let first = Envelope::caused_by(
        &command,
        order::OrderConfirmed {
            order_id: Uuid::nil(),
        },
    );
    let again = Envelope::caused_by(
        &command,
        order::OrderConfirmed {
            order_id: Uuid::nil(),
        },
    );
    assert_eq!(first.id, again.id);
    assert_eq!(first.causation_id, Some(command.id));
    assert_eq!(first.correlation_id, command.correlation_id);
    let labeled = Envelope::caused_by_labeled(
        &command,
        "p1",
        order::OrderConfirmed {
            order_id: Uuid::nil(),
        },
    );
    assert_ne!(labeled.id, first.id);
}

#[test]
fn topic_names_take_the_prefix_and_the_contract_retention() {
    let topics = Topics::new("t1.");
    assert_eq!(topics.name(Topic::OrderCommands), "t1.order.commands");
    assert_eq!(
        Topics::default().name(Topic::GatewayReplies),
        "gateway.replies"
    );

    let short = [
        "auth.queries",
        "catalog.queries",
        "inventory.queries",
        "order.queries",
        "payment.queries",
        "cart.queries",
        "gateway.replies",
    ];
    let long = [
        "auth.commands",
        "catalog.commands",
        "inventory.commands",
        "order.commands",
        "cart.commands",
        "auth.events",
        "catalog.events",
        "inventory.events",
        "order.events",
        "payment.events",
        "gateway.dlq",
        "auth.dlq",
        "catalog.dlq",
        "order.dlq",
        "inventory.dlq",
        "payment.dlq",
        "cart.dlq",
    ];
    let mut expected: Vec<(String, Retention)> = short
        .iter()
        .map(|name| (format!("t1.{name}"), Retention::Short))
        .chain(
            long.iter()
                .map(|name| (format!("t1.{name}"), Retention::Long)),
        )
        .chain([("t1.auth.keys".to_string(), Retention::Compacted)])
        .collect();
    let mut all = topics.all();
    assert_eq!(all.len(), 25, "18 streams and 7 dead-letter topics");
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    all.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(all, expected);
}
