//! Group commit in inventory against real PostgreSQL: batches of different partitions
//! that share products queue behind each other instead of deadlocking.

use std::sync::Arc;
use std::time::Duration;

use kafka_runtime::processor::Processor;
use kafka_runtime::Incoming;
use shared_events::messages::catalog::ProductCreated;
use shared_events::messages::order::{OrderPlaced, PricedLine};
use shared_events::{Envelope, Topic};
use testkit::{eventually, TestBed};
use uuid::Uuid;

fn product_created(product_id: Uuid) -> Envelope<ProductCreated> {
    let created = ProductCreated {
        product_id,
        seller_id: Uuid::new_v4(),
        sku: format!("SKU-{}", &product_id.simple().to_string()[..8]),
        name: "Lamp".into(),
        description: String::new(),
        category: "home".into(),
        price_cents: 1_000,
        currency: "EUR".into(),
        initial_stock: 100,
        image_url: None,
    };
    Envelope::new(created, Uuid::new_v4(), None)
}

fn order_placed(product_id: Uuid) -> Envelope<OrderPlaced> {
    let line = PricedLine {
        product_id,
        sku: "SKU".into(),
        name: "Lamp".into(),
        quantity: 1,
        unit_price_cents: 1_000,
        line_total_cents: 1_000,
    };
    let placed = OrderPlaced {
        order_id: Uuid::new_v4(),
        user_id: Uuid::new_v4(),
        items: vec![line],
        total_cents: 1_000,
        currency: "EUR".into(),
        payment_token: "tok_visa".into(),
        cart_version: None,
    };
    Envelope::new(placed, Uuid::new_v4(), None)
}

/// Two batches lock two products in opposite orders, and are released together. Taken
/// message by message, each would hold one product and wait for the other: a deadlock,
/// which rolls one batch back after PostgreSQL's `deadlock_timeout`. Both must commit.
#[tokio::test]
async fn batches_sharing_products_in_opposite_orders_both_commit() {
    let bed = TestBed::new().await;
    inventory::migrate(&bed.pool).await.expect("migrations");
    let topics = bed.kafka.topics.clone();
    let processor = Arc::new(inventory::processor(bed.pool.clone(), topics.clone()));
    let catalog = topics.name(Topic::CatalogEvents);
    let orders = topics.name(Topic::OrderEvents);

    let (mut low, mut high) = (Uuid::new_v4(), Uuid::new_v4());
    if high < low {
        std::mem::swap(&mut low, &mut high);
    }
    for product in [low, high] {
        let created = Incoming::of(&catalog, &product_created(product));
        processor.apply(&created).await.expect("stock opened");
    }

    // Another transaction holds both products, so both batches start waiting.
    let mut holder = bed.pool.begin().await.expect("transaction");
    sqlx::query("SELECT 1 FROM stock WHERE product_id = ANY($1) FOR UPDATE")
        .bind([low, high])
        .execute(&mut *holder)
        .await
        .expect("locked");

    let batch = |first: Uuid, second: Uuid| {
        let processor = processor.clone();
        let messages = [
            Incoming::of(&orders, &order_placed(first)),
            Incoming::of(&orders, &order_placed(second)),
        ];
        tokio::spawn(async move {
            let messages: Vec<&Incoming> = messages.iter().collect();
            processor
                .apply_all(&messages)
                .await
                .expect("PostgreSQL groups")
        })
    };
    let one = batch(high, low);
    let other = batch(low, high);
    let pool = bed.pool.clone();
    eventually(
        "both batches wait for the held products",
        Duration::from_secs(10),
        || {
            let pool = pool.clone();
            async move {
                let waiting: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .fetch_one(&pool)
                .await
                .expect("pg_stat_activity");
                waiting == 2
            }
        },
    )
    .await;
    holder.commit().await.expect("released");

    for (name, batch) in [("one", one), ("other", other)] {
        let applied = batch.await.expect("batch task");
        assert!(
            applied.is_ok(),
            "batch {name} rolled back: {:?}",
            applied.err()
        );
    }
    let reserved: i64 = sqlx::query_scalar("SELECT sum(reserved)::bigint FROM stock")
        .fetch_one(&bed.pool)
        .await
        .expect("stock");
    assert_eq!(reserved, 4, "every order's unit is reserved once");
}
