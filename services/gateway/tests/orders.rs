//! The order saga end to end: the real gateway, auth, catalog, inventory, order and
//! payment binaries on the real broker and stores. Every scenario checks state in the
//! stores and ends with the invariant checker.

mod common;

use std::time::Duration;

use common::invariants::assert_at_rest;
use common::Platform;
use serde_json::{json, Value};
use shared_events::messages::order::{OrderLine, PlaceOrder, ShippingAddress};
use shared_events::{Actor, Envelope, Role, Topic};
use uuid::Uuid;

/// A seller's product with `stock` units at 12.50 EUR; the seller's token and its id.
async fn stocked(platform: &Platform, sku: &str, stock: i64) -> (String, String) {
    let seller = platform
        .signed_in(&format!("seller-{sku}@example.com"), "seller")
        .await;
    let body = json!({
        "sku": sku, "name": format!("Item {sku}"), "category": "kitchen",
        "priceCents": 1250, "currency": "EUR", "initialStock": stock
    });
    let product_id = platform.create_product(&seller, body).await;
    platform.await_stock(&product_id, stock).await;
    (seller, product_id)
}

/// Places an order; its id.
async fn place(
    platform: &Platform,
    buyer: &str,
    product_id: &str,
    quantity: i64,
    token: &str,
) -> String {
    let body = json!({ "items": [{ "productId": product_id, "quantity": quantity }], "paymentToken": token, "shippingAddress": common::address() });
    let answer = platform
        .call("POST", "/api/orders", Some(buyer), Some(body))
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let order_id = answer.json()["orderId"].as_str().unwrap().to_string();
    assert_eq!(
        answer.headers["location"],
        format!("/api/orders/{order_id}")
    );
    order_id
}

async fn stock(platform: &Platform, seller: &str, product_id: &str) -> Value {
    let answer = platform
        .call(
            "GET",
            &format!("/api/inventory/{product_id}"),
            Some(seller),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

fn units(stock: &Value) -> (i64, i64, i64) {
    (
        stock["onHand"].as_i64().unwrap(),
        stock["reserved"].as_i64().unwrap(),
        stock["available"].as_i64().unwrap(),
    )
}

async fn payment(platform: &Platform, token: &str, order_id: &str) -> (u16, Value) {
    let answer = platform
        .call(
            "GET",
            &format!("/api/payments/{order_id}"),
            Some(token),
            None,
        )
        .await;
    (answer.status, answer.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_is_confirmed_for_its_total_with_its_stock_sold() {
    let platform = Platform::commerce().await;
    let (seller, product_id) = stocked(&platform, "HAPPY-1", 10).await;
    let buyer = platform.signed_in("buyer@example.com", "buyer").await;
    let order_id = place(&platform, &buyer, &product_id, 2, "tok_visa").await;

    let order = platform.settled(&buyer, &order_id).await;
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    let lines: i64 = order["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["lineTotalCents"].as_i64().unwrap())
        .sum();
    assert_eq!((order["totalCents"].as_i64(), lines), (Some(2500), 2500));
    assert_eq!(order["items"][0]["unitPriceCents"], 1250);
    assert_eq!(order["shippingAddress"], common::address());
    let history: Vec<&str> = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["to"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["PENDING", "CONFIRMED"]);
    assert_at_rest(&platform).await;
    let order = platform.settled(&buyer, &order_id).await;
    let time = |value: &Value| {
        chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a time")).expect("RFC 3339")
    };
    let steps = [
        time(&order["history"][0]["at"]),
        time(&order["stockReservedAt"]),
        time(&order["paidAt"]),
        time(&order["history"][1]["at"]),
    ];
    assert!(
        steps.windows(2).all(|pair| pair[0] <= pair[1]),
        "placed, stock reserved, paid, confirmed in that order: {order}"
    );
    assert_eq!(
        units(&stock(&platform, &seller, &product_id).await),
        (8, 0, 8)
    );
    platform.await_stock(&product_id, 8).await;
    let (status, paid) = payment(&platform, &buyer, &order_id).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(
        (
            paid["status"].as_str(),
            paid["amountCents"].as_i64(),
            paid["currency"].as_str()
        ),
        (Some("succeeded"), Some(2500), Some("EUR"))
    );

    let listed = platform
        .call("GET", "/api/orders?status=confirmed", Some(&buyer), None)
        .await
        .json();
    assert_eq!(listed["total"], 1, "{listed}");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_for_more_than_the_stock_is_cancelled_out_of_stock_and_not_charged() {
    let platform = Platform::commerce().await;
    let (seller, product_id) = stocked(&platform, "SHORT-1", 10).await;
    let buyer = platform.signed_in("buyer@example.com", "buyer").await;
    let order_id = place(&platform, &buyer, &product_id, 11, "tok_visa").await;

    let order = platform.settled(&buyer, &order_id).await;
    assert_eq!(
        (order["status"].as_str(), order["cancelReason"].as_str()),
        (Some("CANCELLED"), Some("out_of_stock"))
    );
    assert!(order.get("stockReservedAt").is_none(), "{order}");
    assert_at_rest(&platform).await;
    assert_eq!(
        units(&stock(&platform, &seller, &product_id).await),
        (10, 0, 10)
    );
    assert_eq!(
        payment(&platform, &buyer, &order_id).await.0,
        404,
        "no charge, no payment"
    );
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_payment_cancels_the_order_with_its_reason_and_restores_the_stock() {
    let platform = Platform::commerce().await;
    let (seller, product_id) = stocked(&platform, "DECLINE-1", 10).await;
    let buyer = platform.signed_in("buyer@example.com", "buyer").await;
    for (token, reason) in [
        ("tok_chargeDeclined", "card_declined"),
        ("tok_insufficientFunds", "insufficient_funds"),
        ("tok_processingError", "processing_error"),
    ] {
        let order_id = place(&platform, &buyer, &product_id, 3, token).await;
        let order = platform.settled(&buyer, &order_id).await;
        assert_eq!(
            (order["status"].as_str(), order["cancelReason"].as_str()),
            (Some("CANCELLED"), Some("payment_declined")),
            "{token}"
        );
        let last = order["history"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["reason"], format!("payment_declined: {reason}"));
        assert!(order.get("paidAt").is_none(), "{order}");
        let (status, failed) = payment(&platform, &buyer, &order_id).await;
        assert_eq!(status, 200);
        assert_eq!(
            (failed["status"].as_str(), failed["failureReason"].as_str()),
            (Some("failed"), Some(reason))
        );
        assert_at_rest(&platform).await;
        assert_eq!(
            units(&stock(&platform, &seller, &product_id).await),
            (10, 0, 10),
            "{token}"
        );
    }
    let retries: i64 = sqlx::query_scalar("SELECT count(*) FROM charges")
        .fetch_one(platform.db("payment"))
        .await
        .unwrap();
    assert_eq!(retries, 0, "nothing was charged");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_confirmed_order_refunds_and_restocks_but_not_after_shipping() {
    let mut platform = Platform::commerce().await;
    let (seller, product_id) = stocked(&platform, "CANCEL-1", 10).await;
    let buyer = platform.signed_in("buyer@example.com", "buyer").await;
    let order_id = place(&platform, &buyer, &product_id, 4, "tok_mastercard").await;
    assert_eq!(
        platform.settled(&buyer, &order_id).await["status"],
        "CONFIRMED"
    );

    platform
        .command(
            "POST",
            &format!("/api/orders/{order_id}/cancel"),
            &buyer,
            None,
            "succeeded",
        )
        .await;
    assert_at_rest(&platform).await;
    let order = platform
        .call(
            "GET",
            &format!("/api/orders/{order_id}"),
            Some(&buyer),
            None,
        )
        .await
        .json();
    assert_eq!(
        (order["status"].as_str(), order["cancelReason"].as_str()),
        (Some("CANCELLED"), Some("cancelled_by_user"))
    );
    let (_, refunded) = payment(&platform, &buyer, &order_id).await;
    assert_eq!(
        (
            refunded["status"].as_str(),
            refunded["refundedCents"].as_i64()
        ),
        (Some("refunded"), Some(5000))
    );
    assert_eq!(
        units(&stock(&platform, &seller, &product_id).await),
        (10, 0, 10)
    );

    let admin = platform.admin().await;
    let shipped = place(&platform, &buyer, &product_id, 1, "tok_visa").await;
    assert_eq!(
        platform.settled(&buyer, &shipped).await["status"],
        "CONFIRMED"
    );
    let ship = json!({ "status": "shipped" });
    platform
        .command(
            "POST",
            &format!("/api/orders/{shipped}/status"),
            &admin,
            Some(ship),
            "succeeded",
        )
        .await;
    let refused = platform
        .call(
            "POST",
            &format!("/api/orders/{shipped}/cancel"),
            Some(&buyer),
            None,
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "order_not_cancellable");
    let as_buyer = platform
        .call(
            "POST",
            &format!("/api/orders/{shipped}/status"),
            Some(&buyer),
            Some(json!({ "status": "delivered" })),
        )
        .await;
    assert_eq!(as_buyer.status, 403);
    assert_at_rest(&platform).await;
    assert_eq!(
        units(&stock(&platform, &seller, &product_id).await),
        (9, 0, 9)
    );

    // While payment is away, the order waits PENDING with its stock held; a cancel then
    // releases the stock. Payment, back, reads the cancellation and the reservation from
    // two topics in either order: it never charges, or charges and refunds at once. The
    // order is never left charged either way.
    platform.stop_service("payment").await;
    let waiting = place(&platform, &buyer, &product_id, 2, "tok_visa").await;
    let reserved = || async { units(&stock(&platform, &seller, &product_id).await) == (9, 2, 7) };
    testkit::eventually("the stock is held", Duration::from_secs(30), reserved).await;
    platform
        .command(
            "POST",
            &format!("/api/orders/{waiting}/cancel"),
            &buyer,
            None,
            "succeeded",
        )
        .await;
    platform.start_service("payment").await;
    assert_at_rest(&platform).await;
    let (status, paid) = payment(&platform, &buyer, &waiting).await;
    match status {
        404 => {}
        200 => assert_eq!(
            (paid["status"].as_str(), paid["refundedCents"].as_i64()),
            (Some("refunded"), paid["amountCents"].as_i64()),
            "{paid}"
        ),
        other => panic!("payment answered {other}: {paid}"),
    }
    assert_eq!(
        units(&stock(&platform, &seller, &product_id).await),
        (9, 0, 9)
    );
    platform.stop().await;
}

/// A payment that was never made, or was refunded in full.
async fn assert_never_left_charged(platform: &Platform, token: &str, order_id: &str) {
    let (status, paid) = payment(platform, token, order_id).await;
    match (status, paid["status"].as_str()) {
        (404, _) | (200, Some("voided")) => {}
        (200, Some("refunded")) => {
            assert_eq!(paid["refundedCents"], paid["amountCents"], "{paid}")
        }
        other => panic!("payment answered {other:?}: {paid}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_still_pending_at_its_deadline_is_cancelled_for_timeout_and_its_stock_and_charge_undone(
) {
    let settings = [("order", "ORDER_DEADLINE_SECS", "3")];
    let mut platform = Platform::commerce_with(&settings).await;
    let (seller, product_id) = stocked(&platform, "LATE-1", 10).await;
    let buyer = platform.signed_in("buyer@example.com", "buyer").await;

    // Payment away: the order waits with its stock held until the deadline cancels it.
    // Payment, back, reads the reservation and the cancellation in either order.
    platform.stop_service("payment").await;
    let away = place(&platform, &buyer, &product_id, 2, "tok_visa").await;
    let order = platform.settled(&buyer, &away).await;
    assert_eq!(
        (order["status"].as_str(), order["cancelReason"].as_str()),
        (Some("CANCELLED"), Some("timeout")),
        "{order}"
    );
    let history = order["history"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["reason"], "timeout", "{order}");
    platform.start_service("payment").await;

    // An order the saga finishes in time is left alone once its deadline has passed.
    let paid = place(&platform, &buyer, &product_id, 1, "tok_visa").await;
    let order = platform.settled(&buyer, &paid).await;
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    tokio::time::sleep(Duration::from_secs(4)).await;

    assert_at_rest(&platform).await;
    assert_never_left_charged(&platform, &buyer, &away).await;
    let path = format!("/api/orders/{paid}");
    let order = platform.call("GET", &path, Some(&buyer), None).await.json();
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    assert_eq!(
        units(&stock(&platform, &seller, &product_id).await),
        (9, 0, 9)
    );
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_buyers_for_twenty_units_buy_exactly_twenty() {
    let platform = Platform::commerce().await;
    let (seller, product_id) = stocked(&platform, "RACE-1", 20).await;
    let buyers = futures::future::join_all((0..50).map(|n| {
        let platform = &platform;
        async move {
            platform
                .signed_in(&format!("racer{n}@example.com"), "buyer")
                .await
        }
    }))
    .await;
    let orders = futures::future::join_all(
        buyers
            .iter()
            .map(|buyer| place(&platform, buyer, &product_id, 1, "tok_visa")),
    )
    .await;
    let mut confirmed = 0;
    for (buyer, order_id) in buyers.iter().zip(&orders) {
        let order = platform.settled(buyer, order_id).await;
        match (order["status"].as_str(), order["cancelReason"].as_str()) {
            (Some("CONFIRMED"), _) => confirmed += 1,
            (Some("CANCELLED"), Some("out_of_stock")) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(confirmed, 20);
    assert_eq!(
        units(&stock(&platform, &seller, &product_id).await),
        (0, 0, 0)
    );
    assert_at_rest(&platform).await;
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_needs_a_sound_shipping_address_even_when_sent_around_the_gateway() {
    let platform = Platform::commerce().await;
    let (_seller, product_id) = stocked(&platform, "ADDR-1", 10).await;
    let buyer = platform.signed_in("addr@example.com", "buyer").await;
    let lines = json!([{ "productId": product_id, "quantity": 1 }]);

    let missing = json!({ "items": lines, "paymentToken": "tok_visa" });
    let answer = platform
        .call("POST", "/api/orders", Some(&buyer), Some(missing))
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("shippingAddress"), "{}", answer.body);

    let mut address = common::address();
    address["country"] = json!("Germany");
    address["postalCode"] = json!("");
    let broken = json!({ "items": lines, "paymentToken": "tok_visa", "shippingAddress": address });
    let answer = platform
        .call("POST", "/api/orders", Some(&buyer), Some(broken))
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    let details = &answer.json()["error"]["details"];
    assert!(details["shippingAddress.country"].is_string(), "{details}");
    assert!(
        details["shippingAddress.postalCode"].is_string(),
        "{details}"
    );

    // A command written straight to Kafka skips the gateway's 400: the order service
    // rejects it, and a NUL, which PostgreSQL cannot store, never reaches the database.
    let user_id = platform.user_id(&buyer).await;
    let order_id = Uuid::new_v4();
    let command = PlaceOrder {
        order_id,
        user_id,
        items: vec![OrderLine {
            product_id: product_id.parse().unwrap(),
            quantity: 1,
        }],
        payment_token: "tok_visa".into(),
        shipping_address: ShippingAddress {
            name: "Ada\u{0}Lovelace".into(),
            ..testkit::shipping_address()
        },
        cart_version: None,
    };
    let actor = Some(Actor {
        user_id,
        role: Role::Buyer,
    });
    let commands = platform.bed.kafka.topics.name(Topic::OrderCommands);
    let line = Envelope::new(command, Uuid::new_v4(), actor).to_json();
    platform
        .bed
        .produce(&commands, &order_id.to_string(), &line)
        .await;
    let order = platform.settled(&buyer, &order_id.to_string()).await;
    assert_eq!(
        (order["status"].as_str(), order["rejectReason"].as_str()),
        (Some("REJECTED"), Some("invalid_address")),
        "{order}"
    );
    assert_eq!(order.get("shippingAddress"), None, "{order}");
    assert_at_rest(&platform).await;
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_place_order_and_a_repeated_idempotency_key_make_one_order() {
    let platform = Platform::commerce().await;
    let (seller, product_id) = stocked(&platform, "REPLAY-1", 10).await;
    let buyer = platform.signed_in("buyer@example.com", "buyer").await;
    let user_id = platform.user_id(&buyer).await;

    let order_id = Uuid::new_v4();
    let command = PlaceOrder {
        order_id,
        user_id,
        items: vec![OrderLine {
            product_id: product_id.parse().unwrap(),
            quantity: 1,
        }],
        payment_token: "tok_visa".into(),
        shipping_address: testkit::shipping_address(),
        cart_version: None,
    };
    let actor = Some(Actor {
        user_id,
        role: Role::Buyer,
    });
    let line = Envelope::new(command.clone(), Uuid::new_v4(), actor.clone()).to_json();
    let again = Envelope::new(command, Uuid::new_v4(), actor).to_json();
    let commands = platform.bed.kafka.topics.name(Topic::OrderCommands);
    for payload in [&line, &line, &again] {
        platform
            .bed
            .produce(&commands, &order_id.to_string(), payload)
            .await;
    }
    assert_eq!(
        platform.settled(&buyer, &order_id.to_string()).await["status"],
        "CONFIRMED"
    );

    let body = json!({ "items": [{ "productId": product_id, "quantity": 1 }], "paymentToken": "tok_visa", "shippingAddress": common::address() });
    let mut placed = Vec::new();
    for _ in 0..2 {
        let answer = platform
            .call_with(
                "POST",
                "/api/orders",
                &buyer,
                &[("Idempotency-Key", "checkout-42")],
                Some(body.clone()),
            )
            .await;
        assert_eq!(answer.status, 202, "{}", answer.body);
        placed.push(answer.json()["orderId"].as_str().unwrap().to_string());
    }
    assert_eq!(placed[0], placed[1], "the same key names the same order");
    assert_eq!(
        platform.settled(&buyer, &placed[0]).await["status"],
        "CONFIRMED"
    );
    assert_at_rest(&platform).await;

    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(platform.db("order"))
        .await
        .unwrap();
    assert_eq!(orders, 2, "one replayed order and one keyed order");
    let events = platform
        .bed
        .read(
            &platform.bed.kafka.topics.name(Topic::OrderEvents),
            2,
            Duration::from_secs(10),
            Duration::from_secs(1),
        )
        .await;
    let placed_events = events
        .iter()
        .filter(|m| m.headers.get("type").map(String::as_str) == Some("order.order_placed"))
        .count();
    assert_eq!(placed_events, 2);
    assert_eq!(
        units(&stock(&platform, &seller, &product_id).await),
        (8, 0, 8)
    );
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_order_and_payment_do_not_exist_for_them() {
    let platform = Platform::commerce().await;
    let (seller, product_id) = stocked(&platform, "MINE-1", 10).await;
    let buyer = platform.signed_in("buyer@example.com", "buyer").await;
    let other = platform.signed_in("other@example.com", "buyer").await;
    let order_id = place(&platform, &buyer, &product_id, 1, "tok_visa").await;
    assert_eq!(
        platform.settled(&buyer, &order_id).await["status"],
        "CONFIRMED"
    );

    for path in [
        format!("/api/orders/{order_id}"),
        format!("/api/payments/{order_id}"),
    ] {
        assert_eq!(
            platform.call("GET", &path, Some(&other), None).await.status,
            404,
            "{path}"
        );
    }
    let cancel = platform
        .call(
            "POST",
            &format!("/api/orders/{order_id}/cancel"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(cancel.status, 404);
    let listed = platform
        .call("GET", "/api/orders", Some(&other), None)
        .await
        .json();
    assert_eq!(listed["total"], 0);
    let as_seller = json!({ "items": [{ "productId": product_id, "quantity": 1 }], "paymentToken": "tok_visa", "shippingAddress": common::address() });
    assert_eq!(
        platform
            .call("POST", "/api/orders", Some(&seller), Some(as_seller))
            .await
            .status,
        403
    );
    let admin = platform.admin().await;
    assert_eq!(
        platform
            .call(
                "GET",
                &format!("/api/orders/{order_id}"),
                Some(&admin),
                None
            )
            .await
            .status,
        200
    );
    assert_at_rest(&platform).await;
    platform.stop().await;
}
