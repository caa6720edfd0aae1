//! The payment binary killed with SIGKILL between the provider's charge and the commit
//! that records it: after a restart each order is charged once in the provider's
//! ledger (called twice, with one key), recorded once, and announced once.

use std::time::Duration;

use kafka_runtime::admin::create_platform_topics;
use kafka_runtime::{Outgoing, Publisher};
use shared_events::messages::inventory::{ReservedItem, StockReserved};
use shared_events::messages::order::OrderPlaced;
use shared_events::messages::payment::PaymentSucceeded;
use shared_events::{derive_id, Envelope, Message, Topic};
use testkit::{eventually, service_binary, ServiceProcess, TestBed};
use uuid::Uuid;

const ORDERS: usize = 3;

async fn count(bed: &TestBed, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&bed.pool)
        .await
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_killed_between_the_providers_charge_and_its_commit_charges_each_order_once() {
    let bed = TestBed::new().await;
    create_platform_topics(&bed.kafka, 2).await.expect("topics");
    let mut env = bed.service_env();
    env.push(("PROVIDER_LATENCY_MS", "4000".into()));
    let payment = ServiceProcess::start(service_binary("payment"), &env).await;

    let publisher = Publisher::new(&bed.kafka).expect("publisher");
    let topics = &bed.kafka.topics;
    let order_ids: Vec<Uuid> = (0..ORDERS).map(|_| Uuid::new_v4()).collect();
    for &order_id in &order_ids {
        let placed = OrderPlaced {
            order_id,
            user_id: Uuid::new_v4(),
            items: Vec::new(),
            total_cents: 1_250,
            currency: "EUR".into(),
            payment_token: "tok_visa".into(),
            cart_version: None,
        };
        let reserved = StockReserved {
            order_id,
            items: vec![ReservedItem {
                product_id: Uuid::new_v4(),
                quantity: 1,
            }],
        };
        let placed = Envelope::new(placed, Uuid::new_v4(), None);
        let reserved = Envelope::new(reserved, Uuid::new_v4(), None);
        let sends = [
            Outgoing::new(topics.name(Topic::OrderEvents), order_id, &placed),
            Outgoing::new(topics.name(Topic::InventoryEvents), order_id, &reserved),
        ];
        for message in &sends {
            publisher.send(message).await.expect("sent");
        }
    }

    // A charge made at the provider, its answer not back yet: kill it there.
    let charged = || async { count(&bed, "SELECT count(*) FROM provider_ledger").await > 0 };
    eventually("the provider charged", Duration::from_secs(60), charged).await;
    payment.kill().await;
    let in_flight: Vec<Uuid> = sqlx::query_scalar("SELECT idempotency_key FROM provider_ledger")
        .fetch_all(&bed.pool)
        .await
        .expect("ledger");
    let recorded = count(&bed, "SELECT count(*) FROM charges").await;
    assert!(
        !in_flight.is_empty() && recorded == 0,
        "killed with {} charge(s) made and not recorded, {recorded} recorded",
        in_flight.len()
    );

    let mut env = bed.service_env();
    env.push(("PROVIDER_LATENCY_MS", "0".into()));
    let payment = ServiceProcess::start(service_binary("payment"), &env).await;
    let all_recorded = || async {
        count(
            &bed,
            "SELECT count(*) FROM payments WHERE status = 'succeeded'",
        )
        .await
            == ORDERS as i64
    };
    eventually(
        "the charges are recorded",
        Duration::from_secs(60),
        all_recorded,
    )
    .await;

    let ledger: Vec<(Uuid, i32, Option<String>)> =
        sqlx::query_as("SELECT idempotency_key, calls, answer FROM provider_ledger")
            .fetch_all(&bed.pool)
            .await
            .expect("ledger");
    assert_eq!(ledger.len(), ORDERS, "one charge per order at the provider");
    for &order_id in &order_ids {
        let key = derive_id(order_id, "provider.charge");
        let (_, calls, answer) = ledger.iter().find(|(k, ..)| *k == key).expect("charged");
        let expected_calls = if in_flight.contains(&key) { 2 } else { 1 };
        assert_eq!(
            (*calls, answer.as_deref()),
            (expected_calls, Some("approved")),
            "an order in flight at the crash is called again and answered as the first time"
        );
    }
    assert_eq!(
        count(&bed, "SELECT count(*) FROM charges").await,
        ORDERS as i64
    );

    let events = topics.name(Topic::PaymentEvents);
    let read = bed
        .read(
            &events,
            ORDERS,
            Duration::from_secs(30),
            Duration::from_secs(2),
        )
        .await;
    let ids: std::collections::HashSet<Uuid> = read
        .iter()
        .filter(|m| m.headers.get("type").map(String::as_str) == Some(PaymentSucceeded::TYPE))
        .filter_map(|m| m.id())
        .collect();
    assert_eq!(ids.len(), ORDERS, "one payment_succeeded per order");
    assert_eq!(read.len(), ORDERS, "and nothing more: {read:?}");
    payment.stop().await;
}
