//! Sellers list products and manage stock; anyone browses. The real gateway, auth,
//! catalog and inventory binaries on the real broker, PostgreSQL and MongoDB-protocol
//! server.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::Platform;
use serde_json::{json, Value};
use shared_events::messages::catalog::UpdateProduct;
use shared_events::{Actor, Envelope, Role, Topic};
use uuid::Uuid;

fn product(sku: &str, stock: i64) -> Value {
    json!({
        "sku": sku, "name": format!("Mug {sku}"), "description": "Stoneware, 350 ml",
        "category": "kitchen", "priceCents": 1299, "currency": "EUR", "initialStock": stock
    })
}

async fn movements(platform: &Platform, product_id: &str) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT kind, on_hand_delta FROM stock_movements WHERE product_id = $1 ORDER BY movement_id",
    )
    .bind(Uuid::parse_str(product_id).unwrap())
    .fetch_all(platform.db("inventory"))
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sellers_new_product_shows_its_stock_and_follows_adjustments() {
    let platform = Platform::commerce().await;
    let seller = platform.signed_in("seller@example.com", "seller").await;

    let answer = platform
        .call(
            "POST",
            "/api/products",
            Some(&seller),
            Some(product("MUG-1", 10)),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let product_id = answer.json()["productId"].as_str().unwrap().to_string();
    assert_eq!(
        answer.headers["location"],
        format!("/api/products/{product_id}")
    );
    platform.await_stock(&product_id, 10).await;
    let shown = platform
        .call("GET", &format!("/api/products/{product_id}"), None, None)
        .await;
    assert_eq!(shown.status, 200);
    let shown = shown.json();
    assert_eq!(
        (shown["sku"].as_str(), shown["priceCents"].as_i64()),
        (Some("MUG-1"), Some(1299))
    );
    assert_eq!(shown["active"], true);

    let adjust = format!("/api/inventory/{product_id}/adjustments");
    let delivery = json!({ "delta": 5, "reason": "delivery" });
    platform
        .command("POST", &adjust, &seller, Some(delivery), "succeeded")
        .await;
    platform.await_stock(&product_id, 15).await;
    let stock = platform
        .call(
            "GET",
            &format!("/api/inventory/{product_id}"),
            Some(&seller),
            None,
        )
        .await;
    assert_eq!(stock.status, 200, "{}", stock.body);
    let stock = stock.json();
    assert_eq!(
        (
            stock["onHand"].as_i64(),
            stock["reserved"].as_i64(),
            stock["available"].as_i64(),
            stock["reorderPoint"].as_i64()
        ),
        (Some(15), Some(0), Some(15), Some(10))
    );

    let too_many = json!({ "delta": -16, "reason": "count" });
    let refused = platform
        .command("POST", &adjust, &seller, Some(too_many), "failed")
        .await;
    let outcome = platform
        .outcome(
            &format!("/api/commands/{}", refused["commandId"].as_str().unwrap()),
            Some(&seller),
        )
        .await;
    assert_eq!(outcome["error"]["code"], "insufficient_stock");
    let stock = platform
        .call(
            "GET",
            &format!("/api/inventory/{product_id}"),
            Some(&seller),
            None,
        )
        .await;
    assert_eq!(
        stock.json()["onHand"],
        15,
        "a refused adjustment changes nothing"
    );
    assert_eq!(
        movements(&platform, &product_id).await,
        [("initial".to_string(), 10), ("adjustment".to_string(), 5)]
    );
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_image_is_https_only_and_can_be_replaced_and_removed() {
    let platform = Platform::commerce().await;
    let seller = platform.signed_in("pics@example.com", "seller").await;
    let mut insecure = product("PIC-0", 1);
    insecure["imageUrl"] = json!("http://images.example.com/mug.jpg");
    let refused = platform
        .call("POST", "/api/products", Some(&seller), Some(insecure))
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.json()["error"]["details"]["imageUrl"].is_string(),
        "{}",
        refused.body
    );

    let mut pictured = product("PIC-1", 1);
    pictured["imageUrl"] = json!("https://images.example.com/mug.jpg");
    let created = platform
        .call("POST", "/api/products", Some(&seller), Some(pictured))
        .await;
    assert_eq!(created.status, 202, "{}", created.body);
    let path = created.headers["location"].clone();
    platform
        .await_stock(created.json()["productId"].as_str().unwrap(), 1)
        .await;
    let image = |answer: Value| answer["imageUrl"].as_str().map(str::to_string);
    let shown = platform.call("GET", &path, None, None).await.json();
    assert_eq!(
        image(shown).as_deref(),
        Some("https://images.example.com/mug.jpg")
    );

    let replace = json!({ "imageUrl": "https://images.example.com/mug-2.jpg" });
    platform
        .command("PATCH", &path, &seller, Some(replace), "succeeded")
        .await;
    let shown = platform.call("GET", &path, None, None).await.json();
    assert_eq!(
        image(shown).as_deref(),
        Some("https://images.example.com/mug-2.jpg")
    );

    let remove = json!({ "imageUrl": "" });
    platform
        .command("PATCH", &path, &seller, Some(remove), "succeeded")
        .await;
    let shown = platform.call("GET", &path, None, None).await.json();
    assert_eq!(shown.get("imageUrl"), None, "{shown}");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_and_other_sellers_may_not_change_a_sellers_product() {
    let platform = Platform::commerce().await;
    let seller = platform.signed_in("owner@example.com", "seller").await;
    let other = platform.signed_in("other@example.com", "seller").await;
    let buyer = platform.signed_in("buyer@example.com", "buyer").await;
    let product_id = platform.create_product(&seller, product("OWN-1", 3)).await;
    platform.await_stock(&product_id, 3).await;

    let as_buyer = platform
        .call(
            "POST",
            "/api/products",
            Some(&buyer),
            Some(product("B-1", 1)),
        )
        .await;
    assert_eq!(as_buyer.status, 403, "{}", as_buyer.body);
    let path = format!("/api/products/{product_id}");
    let rename = json!({ "name": "Mine now" });
    let patched = platform
        .call("PATCH", &path, Some(&other), Some(rename.clone()))
        .await;
    assert_eq!(patched.status, 403, "{}", patched.body);
    assert_eq!(
        platform
            .call("DELETE", &path, Some(&other), None)
            .await
            .status,
        403
    );
    let adjust = format!("/api/inventory/{product_id}/adjustments");
    let theft = json!({ "delta": -3, "reason": "mine" });
    assert_eq!(
        platform
            .call("POST", &adjust, Some(&other), Some(theft))
            .await
            .status,
        403
    );
    let stock = format!("/api/inventory/{product_id}");
    assert_eq!(
        platform
            .call("GET", &stock, Some(&other), None)
            .await
            .status,
        403
    );
    assert_eq!(
        platform
            .call("GET", &stock, Some(&buyer), None)
            .await
            .status,
        403
    );
    assert_eq!(platform.call("GET", &stock, None, None).await.status, 401);
    let unknown = format!("/api/products/{}", Uuid::new_v4());
    assert_eq!(
        platform
            .call("PATCH", &unknown, Some(&seller), Some(rename))
            .await
            .status,
        404
    );

    // The catalog checks again: a command sent around the gateway, acting as another
    // seller, fails and changes nothing.
    let other_id = platform.user_id(&other).await;
    let replies = platform.bed.kafka.topics.name(Topic::GatewayReplies);
    let sneaky = UpdateProduct {
        product_id: product_id.parse().unwrap(),
        name: Some("Sneaky".into()),
        ..UpdateProduct::default()
    };
    let actor = Actor {
        user_id: other_id,
        role: Role::Seller,
    };
    let envelope =
        Envelope::new(sneaky, Uuid::new_v4(), Some(actor)).with_reply_to(replies.clone());
    let commands = platform.bed.kafka.topics.name(Topic::CatalogCommands);
    platform
        .bed
        .produce(&commands, &product_id, &envelope.to_json())
        .await;
    let refusal = platform.reply_to(envelope.id).await;
    assert_eq!(refusal["data"]["error"]["code"], "forbidden", "{refusal}");
    let shown = platform.call("GET", &path, None, None).await.json();
    assert_eq!(shown["name"], "Mug OWN-1");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_sku_is_a_failed_outcome_and_a_deactivated_product_is_no_longer_listed() {
    let platform = Platform::commerce().await;
    let seller = platform.signed_in("dup@example.com", "seller").await;
    let first = platform.create_product(&seller, product("SAME-1", 1)).await;
    let again = platform
        .command(
            "POST",
            "/api/products",
            &seller,
            Some(product("SAME-1", 1)),
            "failed",
        )
        .await;
    let outcome = platform
        .outcome(
            &format!("/api/commands/{}", again["commandId"].as_str().unwrap()),
            Some(&seller),
        )
        .await;
    assert_eq!(outcome["error"]["code"], "sku_taken", "{outcome}");
    let missing = platform
        .call(
            "GET",
            &format!("/api/products/{}", again["productId"].as_str().unwrap()),
            None,
            None,
        )
        .await;
    assert_eq!(missing.status, 404);

    let listed = platform
        .call("GET", "/api/products?q=same", None, None)
        .await
        .json();
    assert_eq!(listed["total"], 1, "{listed}");
    platform
        .command(
            "DELETE",
            &format!("/api/products/{first}"),
            &seller,
            None,
            "succeeded",
        )
        .await;
    let listed = platform
        .call("GET", "/api/products?q=same", None, None)
        .await
        .json();
    assert_eq!(
        (
            listed["total"].as_u64(),
            listed["items"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    let shown = platform
        .call("GET", &format!("/api/products/{first}"), None, None)
        .await
        .json();
    assert_eq!(
        shown["active"], false,
        "still readable by id, marked inactive"
    );
    platform.stop().await;
}

/// One listed product as the test made it, to compute what each filter must answer.
struct Made {
    id: String,
    category: &'static str,
    price: i64,
    stock: i64,
    color: &'static str,
    seller: uuid::Uuid,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_filter_and_paging_combination_over_fifty_products_answers_the_right_items_and_total()
{
    let platform = Platform::commerce().await;
    let shop = platform.signed_in("shop@example.com", "seller").await;
    let other = platform.signed_in("other-shop@example.com", "seller").await;
    let (shop_id, other_id) = (
        platform.user_id(&shop).await,
        platform.user_id(&other).await,
    );
    let categories = ["kitchen", "garden", "office", "toys", "books"];
    let colors = ["blue", "red", "green"];
    let mut accepted = Vec::new();
    for n in 0..50_usize {
        let (category, color) = (categories[n % 5], colors[n % 3]);
        let (price, stock) = (100 * (n as i64 + 1), if n % 4 == 0 { 0 } else { n as i64 });
        let body = json!({
            "sku": format!("SKU-{n:03}"), "name": format!("{color} thing {n}"),
            "description": format!("A {category} item"), "category": category,
            "priceCents": price, "currency": "EUR", "initialStock": stock
        });
        // Every seventh product is the other seller's.
        let (seller, seller_id) = if n % 7 == 3 {
            (&other, other_id)
        } else {
            (&shop, shop_id)
        };
        let answer = platform
            .call("POST", "/api/products", Some(seller), Some(body))
            .await;
        assert_eq!(answer.status, 202, "{}", answer.body);
        let id = answer.json()["productId"].as_str().unwrap().to_string();
        accepted.push(Made {
            id,
            category,
            price,
            stock,
            color,
            seller: seller_id,
        });
    }
    for made in &accepted {
        platform.await_stock(&made.id, made.stock).await;
    }

    let check = |path: String, expect: Box<dyn Fn(&Made) -> bool>| {
        let wanted: BTreeSet<String> = accepted
            .iter()
            .filter(|m| expect(m))
            .map(|m| m.id.clone())
            .collect();
        let platform = &platform;
        async move {
            let mut seen = BTreeSet::new();
            let mut page = 1;
            loop {
                let url = format!("{path}&page={page}&pageSize=7");
                let answer = platform.call("GET", &url, None, None).await;
                assert_eq!(answer.status, 200, "{url}: {}", answer.body);
                let body = answer.json();
                assert_eq!(body["total"], wanted.len(), "{url}");
                assert_eq!(
                    (body["page"].as_u64(), body["pageSize"].as_u64()),
                    (Some(page), Some(7))
                );
                let items = body["items"].as_array().unwrap();
                // Compared as instants: RFC 3339 text with a varying number of fraction
                // digits ("…:01Z" against "…:01.500Z") does not sort as text.
                let created: Vec<chrono::DateTime<chrono::FixedOffset>> = items
                    .iter()
                    .map(|i| {
                        chrono::DateTime::parse_from_rfc3339(i["createdAt"].as_str().unwrap())
                            .expect("createdAt is RFC 3339")
                    })
                    .collect();
                assert!(
                    created.windows(2).all(|w| w[0] >= w[1]),
                    "newest first: {url}"
                );
                for item in items {
                    assert!(
                        seen.insert(item["productId"].as_str().unwrap().to_string()),
                        "pages overlap: {url}"
                    );
                }
                if items.len() < 7 {
                    break;
                }
                page += 1;
            }
            assert_eq!(seen, wanted, "{path}");
        }
    };
    check("/api/products?".into(), Box::new(|_| true)).await;
    check(
        "/api/products?category=garden".into(),
        Box::new(|m| m.category == "garden"),
    )
    .await;
    check(
        "/api/products?minPrice=1000".into(),
        Box::new(|m| m.price >= 1000),
    )
    .await;
    check(
        "/api/products?maxPrice=2500".into(),
        Box::new(|m| m.price <= 2500),
    )
    .await;
    check(
        "/api/products?minPrice=1500&maxPrice=3000".into(),
        Box::new(|m| (1500..=3000).contains(&m.price)),
    )
    .await;
    check(
        "/api/products?inStock=true".into(),
        Box::new(|m| m.stock > 0),
    )
    .await;
    check(
        "/api/products?inStock=false".into(),
        Box::new(|m| m.stock == 0),
    )
    .await;
    check(
        "/api/products?q=BLUE".into(),
        Box::new(|m| m.color == "blue"),
    )
    .await;
    check(
        "/api/products?q=gard".into(),
        Box::new(|m| m.category == "garden"),
    )
    .await;
    check(
        "/api/products?q=sku-007".into(),
        Box::new(|m| m.price == 800),
    )
    .await;
    check(
        "/api/products?q=red%20thing&category=office&minPrice=500&inStock=true".into(),
        Box::new(|m| m.color == "red" && m.category == "office" && m.price >= 500 && m.stock > 0),
    )
    .await;
    check(
        format!("/api/products?sellerId={other_id}"),
        Box::new(move |m| m.seller == other_id),
    )
    .await;
    check(
        format!("/api/products?sellerId={shop_id}&category=kitchen"),
        Box::new(move |m| m.seller == shop_id && m.category == "kitchen"),
    )
    .await;
    check(
        format!("/api/products?sellerId={}", uuid::Uuid::new_v4()),
        Box::new(|_| false),
    )
    .await;
    check(
        "/api/products?q=nothing-like-it".into(),
        Box::new(|_| false),
    )
    .await;

    let everything = platform
        .call("GET", "/api/products?pageSize=100", None, None)
        .await
        .json();
    assert_eq!(everything["items"].as_array().unwrap().len(), 50);
    let beyond = platform
        .call("GET", "/api/products?page=9&pageSize=10", None, None)
        .await
        .json();
    assert_eq!(
        (
            beyond["total"].as_u64(),
            beyond["items"].as_array().map(Vec::len)
        ),
        (Some(50), Some(0))
    );
    let too_big = platform
        .call("GET", "/api/products?pageSize=101", None, None)
        .await;
    assert_eq!(too_big.status, 400);
    assert!(too_big.json()["error"]["details"]["pageSize"].is_string());
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_stock_is_emitted_once_per_crossing_of_the_reorder_point() {
    let platform = Platform::commerce().await;
    let seller = platform.signed_in("low@example.com", "seller").await;
    let product_id = platform.create_product(&seller, product("LOW-1", 10)).await;
    platform.await_stock(&product_id, 10).await; // inventory opened it
    let adjust = format!("/api/inventory/{product_id}/adjustments");
    // 10 → 9 (crosses) → 8 → 13 (recovers) → 9 (crosses again)
    for delta in [-1, -1, 5, -4] {
        let body = json!({ "delta": delta, "reason": "count" });
        platform
            .command("POST", &adjust, &seller, Some(body), "succeeded")
            .await;
    }
    platform.await_stock(&product_id, 9).await;
    let events = platform
        .bed
        .read(
            &platform.bed.kafka.topics.name(Topic::InventoryEvents),
            7,
            Duration::from_secs(30),
            Duration::from_secs(1),
        )
        .await;
    let kinds: Vec<String> = events
        .iter()
        .filter(|m| m.key.as_deref() == Some(product_id.as_str()))
        .map(|m| {
            serde_json::from_slice::<Value>(&m.payload).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let low = kinds.iter().filter(|k| *k == "inventory.low_stock").count();
    let changed = kinds
        .iter()
        .filter(|k| *k == "inventory.stock_changed")
        .count();
    assert_eq!((low, changed), (2, 5), "{kinds:?}");

    let admin = platform.admin().await;
    let listed = platform
        .call("GET", "/api/inventory/low-stock", Some(&admin), None)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let items = listed.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (
            items[0]["productId"].as_str(),
            items[0]["available"].as_i64()
        ),
        (Some(product_id.as_str()), Some(9))
    );
    assert_eq!(
        platform
            .call("GET", "/api/inventory/low-stock", Some(&seller), None)
            .await
            .status,
        403
    );
    platform.stop().await;
}
