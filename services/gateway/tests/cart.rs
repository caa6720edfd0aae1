//! A buyer's cart and its checkout end to end: the real gateway, auth, catalog,
//! inventory, order, payment and cart binaries on the real broker, PostgreSQL and
//! MongoDB-protocol server.

mod common;

use std::time::Duration;

use common::invariants::assert_at_rest;
use common::Platform;
use serde_json::{json, Value};

/// A seller's product with `stock` units, once the cart service knows it; its id.
async fn product(platform: &Platform, seller: &str, sku: &str, price_cents: i64) -> String {
    let body = json!({
        "sku": sku, "name": format!("Item {sku}"), "category": "kitchen",
        "priceCents": price_cents, "currency": "EUR", "initialStock": 20,
        "imageUrl": format!("https://images.example.com/{sku}.jpg")
    });
    let product_id = platform.create_product(seller, body).await;
    platform.await_stock(&product_id, 20).await;
    product_id
}

async fn cart(platform: &Platform, buyer: &str) -> Value {
    let answer = platform.call("GET", "/api/cart", Some(buyer), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// Sends a cart command and waits for its outcome; the outcome.
async fn change(
    platform: &Platform,
    buyer: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let answer = platform.call(method, path, Some(buyer), body).await;
    assert_eq!(answer.status, 202, "{method} {path}: {}", answer.body);
    let location = answer.headers["location"].clone();
    platform.outcome(&location, Some(buyer)).await
}

fn add(product_id: &str, quantity: i64) -> Option<Value> {
    Some(json!({ "productId": product_id, "quantity": quantity }))
}

fn checkout(token: &str) -> Value {
    json!({ "paymentToken": token, "shippingAddress": common::address() })
}

/// Waits until the cart reaches `version`; the cart.
async fn cart_at(platform: &Platform, buyer: &str, version: u64) -> Value {
    for _ in 0..300 {
        let current = cart(platform, buyer).await;
        if current["version"].as_u64() >= Some(version) {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the cart never reached version {version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_is_filled_priced_and_checked_out_once_even_when_checkout_is_sent_twice() {
    let platform = Platform::commerce().await;
    let seller = platform
        .signed_in("cart-seller@example.com", "seller")
        .await;
    let mug = product(&platform, &seller, "CART-MUG", 1250).await;
    let lamp = product(&platform, &seller, "CART-LAMP", 4000).await;
    let buyer = platform.signed_in("cart-buyer@example.com", "buyer").await;

    let empty = cart(&platform, &buyer).await;
    assert_eq!(
        (
            empty["version"].as_u64(),
            empty["lines"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );

    assert_eq!(
        change(&platform, &buyer, "POST", "/api/cart/items", add(&mug, 1)).await["status"],
        "succeeded"
    );
    change(&platform, &buyer, "POST", "/api/cart/items", add(&mug, 1)).await;
    change(&platform, &buyer, "POST", "/api/cart/items", add(&lamp, 3)).await;
    let lamp_line = format!("/api/cart/items/{lamp}");
    change(
        &platform,
        &buyer,
        "PATCH",
        &lamp_line,
        Some(json!({ "quantity": 1 })),
    )
    .await;
    let priced = cart(&platform, &buyer).await;
    assert_eq!(
        priced["lines"][0]["quantity"], 2,
        "adding twice adds up: {priced}"
    );
    assert_eq!(
        priced["lines"][0]["imageUrl"],
        "https://images.example.com/CART-MUG.jpg"
    );
    assert_eq!(
        (priced["totalCents"].as_i64(), priced["currency"].as_str()),
        (Some(6500), Some("EUR"))
    );

    // Refused: past 1,000 units, an unknown product, and a bad quantity (400 at once).
    let too_many = change(&platform, &buyer, "POST", "/api/cart/items", add(&mug, 999)).await;
    assert_eq!(
        (
            too_many["status"].as_str(),
            too_many["error"]["code"].as_str()
        ),
        (Some("failed"), Some("invalid_quantity")),
        "{too_many}"
    );
    let unknown = change(
        &platform,
        &buyer,
        "POST",
        "/api/cart/items",
        add(&uuid::Uuid::new_v4().to_string(), 1),
    )
    .await;
    assert_eq!(unknown["error"]["code"], "unknown_product", "{unknown}");
    let zero = platform
        .call("POST", "/api/cart/items", Some(&buyer), add(&mug, 0))
        .await;
    assert_eq!(zero.status, 400, "{}", zero.body);

    // Checkout twice from the same cart: one order.
    let mut placed = Vec::new();
    for _ in 0..2 {
        let answer = platform
            .call(
                "POST",
                "/api/cart/checkout",
                Some(&buyer),
                Some(checkout("tok_visa")),
            )
            .await;
        assert_eq!(answer.status, 202, "{}", answer.body);
        placed.push(answer.json()["orderId"].as_str().unwrap().to_string());
    }
    assert_eq!(placed[0], placed[1], "one cart version, one order");
    let order = platform.settled(&buyer, &placed[0]).await;
    assert_eq!(
        (order["status"].as_str(), order["totalCents"].as_i64()),
        (Some("CONFIRMED"), Some(6500)),
        "{order}"
    );
    assert_eq!(order["shippingAddress"], common::address());

    let emptied = cart_at(&platform, &buyer, priced["version"].as_u64().unwrap() + 1).await;
    assert_eq!(
        emptied["lines"],
        json!([]),
        "the cart empties once the order exists"
    );
    let again = platform
        .call(
            "POST",
            "/api/cart/checkout",
            Some(&buyer),
            Some(checkout("tok_visa")),
        )
        .await;
    assert_eq!(
        (again.status, again.json()["error"]["code"].as_str()),
        (409, Some("cart_empty")),
        "{}",
        again.body
    );
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(platform.db("order"))
        .await
        .unwrap();
    assert_eq!(orders, 1);
    assert_at_rest(&platform).await;
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_product_is_flagged_in_the_cart_and_blocks_checkout_until_removed() {
    let platform = Platform::commerce().await;
    let seller = platform
        .signed_in("flag-seller@example.com", "seller")
        .await;
    let kept = product(&platform, &seller, "FLAG-KEPT", 500).await;
    let gone = product(&platform, &seller, "FLAG-GONE", 700).await;
    let buyer = platform.signed_in("flag-buyer@example.com", "buyer").await;
    change(&platform, &buyer, "POST", "/api/cart/items", add(&kept, 1)).await;
    change(&platform, &buyer, "POST", "/api/cart/items", add(&gone, 1)).await;

    let path = format!("/api/products/{gone}");
    platform
        .command("DELETE", &path, &seller, None, "succeeded")
        .await;
    let mut flagged = Value::Null;
    for _ in 0..300 {
        flagged = cart(&platform, &buyer).await;
        if flagged["lines"][1]["active"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        flagged["lines"].as_array().map(Vec::len),
        Some(2),
        "never silently dropped: {flagged}"
    );
    assert_eq!(
        (
            flagged["lines"][1]["active"].as_bool(),
            flagged["totalCents"].as_i64()
        ),
        (Some(false), Some(500)),
        "{flagged}"
    );
    let blocked = platform
        .call(
            "POST",
            "/api/cart/checkout",
            Some(&buyer),
            Some(checkout("tok_visa")),
        )
        .await;
    assert_eq!(
        (blocked.status, blocked.json()["error"]["code"].as_str()),
        (409, Some("cart_has_inactive_products")),
        "{}",
        blocked.body
    );
    let readd = change(&platform, &buyer, "POST", "/api/cart/items", add(&gone, 1)).await;
    assert_eq!(readd["error"]["code"], "product_inactive", "{readd}");

    change(
        &platform,
        &buyer,
        "DELETE",
        &format!("/api/cart/items/{gone}"),
        None,
    )
    .await;
    let answer = platform
        .call(
            "POST",
            "/api/cart/checkout",
            Some(&buyer),
            Some(checkout("tok_chargeDeclined")),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let order_id = answer.json()["orderId"].as_str().unwrap().to_string();
    let order = platform.settled(&buyer, &order_id).await;
    assert_eq!(order["status"], "CANCELLED", "{order}");
    let emptied = cart(&platform, &buyer).await;
    assert_eq!(
        emptied["lines"],
        json!([]),
        "a placed order empties the cart, whatever its payment"
    );

    let someone = platform
        .signed_in("flag-seller2@example.com", "seller")
        .await;
    let refused = platform
        .call("GET", "/api/cart", Some(&someone), None)
        .await;
    assert_eq!(refused.status, 403, "sellers have no cart");
    assert_at_rest(&platform).await;
    platform.stop().await;
}
