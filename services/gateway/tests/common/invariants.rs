//! The invariants of docs/saga.md, read from every service's store at rest:
//! - stock: `onHand` is the sum of its ledger (initial + adjustments − sales +
//!   restocks), `reserved` is the sum of open reservations, `available ≥ 0`;
//! - at most one successful charge per order, and a cancelled order is never left
//!   charged; a confirmed order is charged exactly its total;
//! - every accepted order ends CONFIRMED (or later), CANCELLED or REJECTED, and its
//!   reservation agrees;
//! - no cart holds the lines of an order placed from it: the cart was emptied for every
//!   order checked out from it that exists (was not rejected);
//! - the order knows when its saga's middle steps happened: a confirmed order has a
//!   stock reservation time and a payment time, and nothing was paid before its stock
//!   was reserved.

use std::collections::HashMap;
use std::time::Duration;

use uuid::Uuid;

use super::Platform;

/// Waits until no stored order is PENDING and inventory and payment caught up (the saga
/// is at rest), then asserts every invariant. Call it once the scenario's orders were
/// seen by the order service (an accepted command may not be stored yet).
pub async fn assert_at_rest(platform: &Platform) {
    let orders = platform.db("order");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'PENDING'")
                .fetch_one(orders)
                .await
                .unwrap();
        let behind = carts_behind(platform).await;
        let settled = pending == 0
            && behind.is_empty()
            && compensations_done(platform).await
            && steps_recorded(platform).await;
        if settled {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the saga never came to rest ({pending} orders PENDING; carts not emptied for \
             orders {behind:?}; or inventory or payment behind, or a confirmed order \
             without the time its stock was reserved)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_stock(platform).await;
    assert_steps(platform).await;
    assert_payments(platform).await;
    assert_reservations(platform).await;
}

/// The orders checked out from a cart, and not rejected, whose cart has not been
/// emptied for them.
async fn carts_behind(platform: &Platform) -> Vec<Uuid> {
    use mongodb::bson::{doc, Document};
    let Some(carts) = &platform.carts else {
        return Vec::new();
    };
    let checked_out: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT order_id, user_id FROM orders
         WHERE cart_version IS NOT NULL AND status <> 'REJECTED'",
    )
    .fetch_all(platform.db("order"))
    .await
    .unwrap();
    let mut behind = Vec::new();
    for (order_id, user_id) in checked_out {
        let cart = carts
            .collection::<Document>("carts")
            .find_one(doc! { "_id": user_id.to_string() })
            .await
            .expect("carts readable");
        let emptied = cart
            .as_ref()
            .and_then(|cart| cart.get_array("orders").ok())
            .is_some_and(|orders| {
                orders
                    .iter()
                    .any(|o| o.as_str() == Some(&order_id.to_string()))
            });
        if !emptied {
            behind.push(order_id);
        }
    }
    behind
}

/// Whether the order service has read every confirmed order's `stock_reserved`, which
/// comes on another topic than the `payment_succeeded` that confirmed it.
async fn steps_recorded(platform: &Platform) -> bool {
    let missing: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM orders
         WHERE status IN ('CONFIRMED', 'SHIPPED', 'DELIVERED') AND stock_reserved_at IS NULL",
    )
    .fetch_one(platform.db("order"))
    .await
    .unwrap();
    missing == 0
}

async fn assert_steps(platform: &Platform) {
    let wrong: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT order_id, status FROM orders
         WHERE (status IN ('CONFIRMED', 'SHIPPED', 'DELIVERED') AND paid_at IS NULL)
            OR (paid_at IS NOT NULL AND NOT stock_reserved_at <= paid_at)
            OR (stock_reserved_at IS NOT NULL AND stock_reserved_at < created_at)",
    )
    .fetch_all(platform.db("order"))
    .await
    .unwrap();
    assert!(
        wrong.is_empty(),
        "orders whose saga steps are missing or out of order: {wrong:?}"
    );
}

async fn order_statuses(platform: &Platform) -> HashMap<Uuid, (String, i64)> {
    let rows: Vec<(Uuid, String, i64)> =
        sqlx::query_as("SELECT order_id, status, total_cents FROM orders")
            .fetch_all(platform.db("order"))
            .await
            .unwrap();
    rows.into_iter()
        .map(|(id, status, total)| (id, (status, total)))
        .collect()
}

/// `order_id → status` from a service's table of per-order rows.
async fn statuses(platform: &Platform, service: &str, table: &str) -> HashMap<Uuid, String> {
    let rows: Vec<(Uuid, String)> =
        sqlx::query_as(&format!("SELECT order_id, status FROM {table}"))
            .fetch_all(platform.db(service))
            .await
            .unwrap();
    rows.into_iter().collect()
}

/// Whether inventory and payment have caught up with every order's outcome.
async fn compensations_done(platform: &Platform) -> bool {
    let orders = order_statuses(platform).await;
    let reservations = statuses(platform, "inventory", "reservations").await;
    let payments = statuses(platform, "payment", "payments").await;
    let reservations_done =
        reservations
            .iter()
            .all(|(id, status)| match orders.get(id).map(|o| o.0.as_str()) {
                Some("CANCELLED") => status == "released" || status == "failed",
                Some("CONFIRMED" | "SHIPPED" | "DELIVERED") => status == "committed",
                _ => true,
            });
    let payments_done =
        payments
            .iter()
            .all(|(id, status)| match orders.get(id).map(|o| o.0.as_str()) {
                Some("CANCELLED") => matches!(status.as_str(), "refunded" | "failed" | "voided"),
                Some("CONFIRMED" | "SHIPPED" | "DELIVERED") => status == "succeeded",
                _ => true,
            });
    reservations_done && payments_done
}

async fn assert_stock(platform: &Platform) {
    let db = platform.db("inventory");
    let rows: Vec<(Uuid, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT s.product_id, s.on_hand, s.reserved,
                COALESCE((SELECT sum(on_hand_delta) FROM stock_movements m WHERE m.product_id = s.product_id), 0)::bigint,
                COALESCE((SELECT sum((item->>'quantity')::bigint) FROM reservations r,
                          jsonb_array_elements(r.items) item
                          WHERE r.status = 'reserved' AND (item->>'productId')::uuid = s.product_id), 0)::bigint
         FROM stock s",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (product, on_hand, reserved, ledger, open) in rows {
        assert_eq!(
            on_hand, ledger,
            "product {product}: onHand is not the sum of its ledger"
        );
        assert_eq!(
            reserved, open,
            "product {product}: reserved is not the sum of open reservations"
        );
        assert!(
            on_hand - reserved >= 0,
            "product {product}: available below 0"
        );
    }
}

async fn assert_payments(platform: &Platform) {
    let orders = order_statuses(platform).await;
    let charges: Vec<(Uuid, i64, i64)> = sqlx::query_as(
        "SELECT c.order_id, c.amount_cents, (SELECT count(*) FROM refunds f WHERE f.payment_id = c.payment_id)
         FROM charges c",
    )
    .fetch_all(platform.db("payment"))
    .await
    .unwrap();
    let mut per_order: HashMap<Uuid, usize> = HashMap::new();
    for (order, amount, refunds) in &charges {
        *per_order.entry(*order).or_default() += 1;
        let (status, total) = orders.get(order).expect("a charge for a known order");
        match status.as_str() {
            "CANCELLED" => assert_eq!(*refunds, 1, "order {order} is cancelled but left charged"),
            "CONFIRMED" | "SHIPPED" | "DELIVERED" => {
                assert_eq!(*refunds, 0, "order {order} is confirmed but refunded");
                assert_eq!(amount, total, "order {order} charged a different amount");
            }
            other => panic!("order {order} is {other} but charged"),
        }
    }
    assert!(
        per_order.values().all(|n| *n == 1),
        "an order charged twice"
    );
    for (order, (status, _)) in &orders {
        if matches!(status.as_str(), "CONFIRMED" | "SHIPPED" | "DELIVERED") {
            assert!(
                per_order.contains_key(order),
                "order {order} is {status} without a charge"
            );
        }
        assert_ne!(status, "PENDING", "order {order} never finished");
    }
}

async fn assert_reservations(platform: &Platform) {
    let orders = order_statuses(platform).await;
    let by_order = statuses(platform, "inventory", "reservations").await;
    for (order, (status, _)) in &orders {
        let held = by_order.get(order).map(String::as_str);
        match status.as_str() {
            "CONFIRMED" | "SHIPPED" | "DELIVERED" => {
                assert_eq!(held, Some("committed"), "order {order}")
            }
            "CANCELLED" => assert!(
                matches!(held, Some("released" | "failed")),
                "order {order}: reservation {held:?}"
            ),
            "REJECTED" => assert_eq!(held, None, "order {order} was rejected but reserved"),
            _ => {}
        }
    }
}
