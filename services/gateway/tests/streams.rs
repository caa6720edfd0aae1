//! The order status stream end to end (`GET /api/orders/{id}/events`): it follows an
//! order to a terminal status, lives at most `STREAM_MAX_LIFETIME_SECS`, and at most
//! `STREAM_MAX_CONCURRENT` are open at once. The real gateway and services on the real
//! broker and stores.

mod common;

use std::time::Duration;

use common::sse::SseReader;
use common::Platform;
use serde_json::json;

/// A buyer's token and a placed order's id; payment is stopped first when `hold` is
/// set, so the order stays PENDING until it starts again.
async fn placed_order(platform: &mut Platform, hold: bool) -> (String, String) {
    let seller = platform.signed_in("seller@example.com", "seller").await;
    let product = json!({
        "sku": "STREAM-1", "name": "Streamed mug", "category": "kitchen",
        "priceCents": 1250, "currency": "EUR", "initialStock": 10
    });
    let product_id = platform.create_product(&seller, product).await;
    platform.await_stock(&product_id, 10).await;
    let buyer = platform.signed_in("buyer@example.com", "buyer").await;
    if hold {
        platform.stop_service("payment").await;
    }
    let body = json!({ "items": [{ "productId": product_id, "quantity": 1 }], "paymentToken": "tok_visa", "shippingAddress": common::address() });
    let answer = platform
        .call("POST", "/api/orders", Some(&buyer), Some(body))
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let order_id = answer.json()["orderId"].as_str().unwrap().to_string();
    (buyer, order_id)
}

/// Opens the order's stream and reads its first status, which must be `expected`.
async fn open(platform: &Platform, buyer: &str, order_id: &str, expected: &str) -> SseReader {
    let path = format!("/api/orders/{order_id}/events");
    let mut stream = SseReader::open(platform.gateway.port, &path, buyer).await;
    assert_eq!(stream.status(), 200);
    let first = stream
        .next_status(Duration::from_secs(20))
        .await
        .expect("the current status");
    assert_eq!(first["status"], expected, "{first}");
    stream
}

/// The next status on the stream.
async fn next_status(stream: &mut SseReader) -> serde_json::Value {
    stream
        .next_status(Duration::from_secs(30))
        .await
        .expect("the next change")
}

/// Places an order and waits until it is CONFIRMED; the buyer and the order.
async fn confirmed_order(platform: &mut Platform) -> (String, String) {
    let (buyer, order_id) = placed_order(platform, false).await;
    let path = format!("/api/orders/{order_id}");
    testkit::eventually("the order is confirmed", Duration::from_secs(30), || {
        let (platform, buyer, path) = (&*platform, &buyer, &path);
        async move {
            let answer = platform.call("GET", path, Some(buyer), None).await;
            answer.status == 200 && answer.json()["status"] == "CONFIRMED"
        }
    })
    .await;
    (buyer, order_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_stream_follows_an_order_from_pending_through_shipping_to_delivered_and_closes()
{
    let mut platform = Platform::commerce().await;
    let (buyer, order_id) = placed_order(&mut platform, true).await;
    let mut stream = open(&platform, &buyer, &order_id, "PENDING").await;
    assert!(stream.content_type().starts_with("text/event-stream"));
    platform.start_service("payment").await;
    assert_eq!(next_status(&mut stream).await["status"], "CONFIRMED");

    let admin = platform.admin().await;
    let advance = format!("/api/orders/{order_id}/status");
    for (status, streamed) in [("shipped", "SHIPPED"), ("delivered", "DELIVERED")] {
        platform
            .command(
                "POST",
                &advance,
                &admin,
                Some(json!({ "status": status })),
                "succeeded",
            )
            .await;
        let change = next_status(&mut stream).await;
        assert_eq!(
            (change["orderId"].as_str(), change["status"].as_str()),
            (Some(order_id.as_str()), Some(streamed))
        );
    }
    assert!(
        stream.closed(Duration::from_secs(5)).await,
        "the stream closes at DELIVERED"
    );
    // Opened on a delivered order, the stream says so and closes.
    let mut again = open(&platform, &buyer, &order_id, "DELIVERED").await;
    assert!(again.closed(Duration::from_secs(5)).await);
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_stream_closes_with_a_comment_saying_why_at_its_maximum_lifetime() {
    let mut platform =
        Platform::commerce_with(&[("gateway", "STREAM_MAX_LIFETIME_SECS", "2")]).await;
    let (buyer, order_id) = confirmed_order(&mut platform).await;
    let opened = std::time::Instant::now();
    let mut stream = open(&platform, &buyer, &order_id, "CONFIRMED").await;
    let rest = stream
        .rest_until_closed(Duration::from_secs(20))
        .await
        .expect("the stream closes at its lifetime");
    assert!(
        opened.elapsed() >= Duration::from_millis(1500),
        "closed after {:?}, before its lifetime",
        opened.elapsed()
    );
    assert!(
        rest.contains(": the stream reached its maximum lifetime; reconnect to go on"),
        "{rest:?}"
    );
    assert!(!rest.contains("event: status"), "no change came: {rest:?}");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_streams_past_the_cap_are_refused_with_503_and_retry_after_until_one_ends() {
    let mut platform = Platform::commerce_with(&[("gateway", "STREAM_MAX_CONCURRENT", "1")]).await;
    let (buyer, order_id) = confirmed_order(&mut platform).await;
    let mut first = open(&platform, &buyer, &order_id, "CONFIRMED").await;
    let path = format!("/api/orders/{order_id}/events");

    let refused = platform.call("GET", &path, Some(&buyer), None).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "too_many_streams");
    assert_eq!(refused.headers["retry-after"], "5");

    // The buyer cancels: the open stream reaches a terminal status and gives its slot
    // back before it closes.
    platform
        .command(
            "POST",
            &format!("/api/orders/{order_id}/cancel"),
            &buyer,
            None,
            "succeeded",
        )
        .await;
    let last = next_status(&mut first).await;
    assert_eq!(
        (last["status"].as_str(), last["cancelReason"].as_str()),
        (Some("CANCELLED"), Some("cancelled_by_user"))
    );
    assert!(first.closed(Duration::from_secs(5)).await);
    let mut next = open(&platform, &buyer, &order_id, "CANCELLED").await;
    assert!(next.closed(Duration::from_secs(5)).await);
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_status_stream_does_not_hold_up_the_gateways_shutdown() {
    let mut platform = Platform::commerce().await;
    let (buyer, order_id) = confirmed_order(&mut platform).await;
    // A CONFIRMED order's stream stays open (it goes on to SHIPPED), for up to
    // STREAM_MAX_LIFETIME_SECS (600 s by default).
    let mut stream = open(&platform, &buyer, &order_id, "CONFIRMED").await;
    // Stopping asserts every process exits cleanly within 20 s of SIGTERM.
    platform.stop().await;
    let rest = stream
        .rest_until_closed(Duration::from_secs(5))
        .await
        .expect("the stream is closed by the shutdown");
    assert!(
        rest.contains(": the gateway is stopping; reconnect to go on"),
        "{rest:?}"
    );
}
