//! Scaling by consumer group. Inventory and payment run two instances each on topics of
//! six partitions, so each instance holds half of every topic its groups read. A steady
//! stream of orders flows through them; mid-stream the first instance of each is killed
//! with SIGKILL. The survivor must hold all six partitions of every topic within the
//! session timeout plus a rebalance (read from its own `/metrics`), and every order must
//! still be confirmed, charged once for its total, with the stock conserved.
//!
//! It prints the failover gap (from the kill until the survivor holds every partition)
//! and the longest time an order waited from being stored to being confirmed.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use common::invariants::assert_at_rest;
use common::{place_order, Platform};
use serde_json::Value;
use shared_events::derive_id;
use testkit::{assignment, http_call};
use tokio::time::Instant;
use uuid::Uuid;

const PARTITIONS: i32 = 6;
const ORDERS_PER_SECOND: u64 = 5;
const STREAM: Duration = Duration::from_secs(40);
/// When, into the stream, the first instances are killed.
const KILL_AT: Duration = Duration::from_secs(12);
const STOCK: i64 = 100_000;
/// What a rebalance may take on top of the session timeout: the survivor hears of it at
/// its next heartbeat, then the group joins and syncs again.
const REBALANCE: Duration = Duration::from_secs(15);

/// The consumers' `session.timeout.ms`: the runtime's 10 s unless the environment
/// overrides it (`RDKAFKA_SESSION_TIMEOUT_MS`, as the services would read it).
fn session_timeout() -> Duration {
    let ms = std::env::var("RDKAFKA_SESSION_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    Duration::from_millis(ms)
}

type Held = BTreeMap<(String, String), BTreeSet<i32>>;

/// Waits until the two instances on `ports` split every topic of their groups between
/// them: every partition held by exactly one, both holding some. The topics, by group.
async fn split_between(service: &str, ports: [u16; 2]) -> BTreeSet<(String, String)> {
    let all: BTreeSet<i32> = (0..PARTITIONS).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (first, second) = (assignment(ports[0]).await, assignment(ports[1]).await);
        let topics: BTreeSet<(String, String)> =
            first.keys().chain(second.keys()).cloned().collect();
        let split = !first.is_empty()
            && !second.is_empty()
            && topics.iter().all(|topic| {
                let (a, b) = (held(&first, topic), held(&second, topic));
                a.is_disjoint(&b) && a.union(&b).copied().collect::<BTreeSet<_>>() == all
            });
        if split {
            eprintln!("scaling: {service} split: {first:?} | {second:?}");
            return topics;
        }
        assert!(
            Instant::now() < deadline,
            "{service}'s two instances never split the partitions: {first:?} | {second:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn held(assigned: &Held, topic: &(String, String)) -> BTreeSet<i32> {
    assigned.get(topic).cloned().unwrap_or_default()
}

/// Waits until the instance on `port` holds every partition of every topic in `topics`;
/// how long after `killed_at` that was. Fails after `limit`.
async fn taken_over(
    service: &str,
    port: u16,
    topics: &BTreeSet<(String, String)>,
    killed_at: Instant,
    limit: Duration,
) -> Duration {
    let all: BTreeSet<i32> = (0..PARTITIONS).collect();
    loop {
        let assigned = assignment(port).await;
        if topics.iter().all(|topic| held(&assigned, topic) == all) {
            return killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < limit,
            "{service}'s survivor did not hold every partition within {limit:?} of the kill: {assigned:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Messages of `order.events` the instance on `port` has applied.
async fn order_events_applied(port: u16) -> f64 {
    let answer = http_call(port, "GET", "/metrics", &[], b"").await;
    answer
        .body
        .lines()
        .filter(|line| line.starts_with("messages_processed_total{"))
        .filter(|line| line.contains("order.events\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Places one order of `quantity` units through the gateway on `port`; its id when
/// accepted with 202.
async fn place(port: u16, buyer: String, product: String, quantity: i64) -> Option<Uuid> {
    place_order(port, &buyer, &[(product, quantity)])
        .await?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_of_inventory_and_payment_hand_over_partitions_after_a_sigkill_and_every_order_confirms(
) {
    let mut platform = Platform::commerce_on(PARTITIONS, &[]).await;
    let (product, buyers) = platform.plenty_for_buyers(STOCK, 4).await;

    // A second instance of each, in the same groups: the two split every topic.
    let mut pairs = Vec::new();
    for service in ["inventory", "payment"] {
        let first = platform.port_of(service);
        let second = platform.start_instance(service).await;
        let topics = split_between(service, [first, second]).await;
        pairs.push((service, first, second, topics));
    }

    // The stream: one order every 1/rate s, each in its own task, 1 to 3 units.
    let port = platform.gateway.port;
    let count = STREAM.as_secs() * ORDERS_PER_SECOND;
    let stream_started = Instant::now();
    let load = {
        let (buyers, product) = (buyers.clone(), product.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1000 / ORDERS_PER_SECOND));
            let mut placing = Vec::new();
            for n in 0..count {
                tick.tick().await;
                let buyer = buyers[n as usize % buyers.len()].clone();
                let quantity = (n % 3 + 1) as i64;
                let order = place(port, buyer, product.clone(), quantity);
                placing.push(tokio::spawn(order));
            }
            futures::future::try_join_all(placing).await
        })
    };

    // Mid-stream, once the first instances have applied some of it: SIGKILL both.
    tokio::time::sleep_until(stream_started + KILL_AT).await;
    for (service, first, ..) in &pairs {
        assert!(
            order_events_applied(*first).await > 0.0,
            "{service}'s first instance applied no order event before the kill"
        );
    }
    for (service, ..) in &pairs {
        platform.kill_service(service).await;
    }
    let killed_at = Instant::now();
    eprintln!(
        "scaling: SIGKILL inventory and payment (first instances) {:?} into the stream",
        killed_at - stream_started
    );

    // The survivors take every partition within the session timeout plus a rebalance.
    let limit = session_timeout() + REBALANCE;
    let mut gaps = Vec::new();
    let watching = pairs.iter().map(|(service, _, survivor, topics)| {
        taken_over(service, *survivor, topics, killed_at, limit)
    });
    for ((service, ..), gap) in pairs.iter().zip(futures::future::join_all(watching).await) {
        eprintln!("scaling: {service}'s survivor held all {PARTITIONS} partitions of every topic {gap:?} after the kill (session timeout {:?})", session_timeout());
        gaps.push((service.to_string(), gap));
    }

    let placed = load
        .await
        .expect("the load ran")
        .expect("every order was sent");
    let accepted: HashSet<Uuid> = placed.iter().flatten().copied().collect();
    eprintln!("scaling: {} of {count} orders accepted", accepted.len());
    assert_eq!(accepted.len() as u64, count, "the gateway took every order");

    // Every order confirms (the stock is ample and every card is good).
    let db = platform.db("order");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let statuses: Vec<(Uuid, String)> = sqlx::query_as("SELECT order_id, status FROM orders")
            .fetch_all(db)
            .await
            .unwrap();
        let finished: HashMap<Uuid, String> = statuses
            .into_iter()
            .filter(|(id, status)| accepted.contains(id) && status != "PENDING")
            .collect();
        if finished.len() == accepted.len() {
            let unconfirmed: Vec<_> = finished.iter().filter(|(_, s)| *s != "CONFIRMED").collect();
            assert!(
                unconfirmed.is_empty(),
                "orders not confirmed: {unconfirmed:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} orders still PENDING a minute after the stream",
            accepted.len() - finished.len(),
            accepted.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_at_rest(&platform).await;

    // Charged once, for its total, at the provider: no order twice, none forgotten.
    let totals: Vec<(Uuid, i64, Value)> =
        sqlx::query_as("SELECT order_id, total_cents, items FROM orders")
            .fetch_all(db)
            .await
            .unwrap();
    let ledger: Vec<(Uuid, i64, Option<String>)> =
        sqlx::query_as("SELECT idempotency_key, amount_cents, answer FROM provider_ledger")
            .fetch_all(platform.db("payment"))
            .await
            .unwrap();
    assert_eq!(
        ledger.len(),
        totals.len(),
        "one provider charge (idempotency key) per order"
    );
    let ledger: HashMap<Uuid, (i64, Option<String>)> = ledger
        .into_iter()
        .map(|(key, amount, answer)| (key, (amount, answer)))
        .collect();
    let mut sold = 0;
    for (order_id, total, items) in &totals {
        let charge = ledger.get(&derive_id(*order_id, "provider.charge"));
        assert_eq!(
            charge,
            Some(&(*total, Some("approved".to_string()))),
            "order {order_id}"
        );
        sold += items[0]["quantity"].as_i64().unwrap();
    }

    // Stock: what was there, minus what was sold, nothing left reserved.
    let (on_hand, reserved): (i64, i64) =
        sqlx::query_as("SELECT on_hand, reserved FROM stock WHERE product_id = $1::uuid")
            .bind(&product)
            .fetch_one(platform.db("inventory"))
            .await
            .unwrap();
    assert_eq!((on_hand, reserved), (STOCK - sold, 0));

    // How long orders waited, from stored to confirmed, the failover included.
    let (longest, p50): (f64, f64) = sqlx::query_as(
        "SELECT max(extract(epoch FROM h.at - o.created_at))::float8,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM h.at - o.created_at))::float8
         FROM orders o JOIN order_history h ON h.order_id = o.order_id AND h.to_status = 'CONFIRMED'",
    )
    .fetch_one(db)
    .await
    .unwrap();
    eprintln!(
        "scaling: failover gaps {gaps:?} (limit {limit:?}); orders waited {p50:.2} s at the median, {longest:.2} s at the longest"
    );
    platform.stop().await;
}
