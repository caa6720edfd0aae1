//! Chaos under load. A steady stream of orders from several buyers, for a product with
//! plenty of stock, one with little, and both, while a random service among auth,
//! catalog, order, inventory and payment is killed with SIGKILL and restarted every
//! ~10 s, PostgreSQL is restarted once, the MongoDB-protocol server is stopped for 20 s
//! once and the broker is killed with SIGKILL once and started again on its data.
//! Afterwards every accepted order has finished, none is doubled, stock is
//! the initial stock minus what was confirmed, every confirmed order was charged once
//! at the provider for its total, and the invariant checker passes.
//!
//! It restarts the shared stores and the broker, so `./dev test` runs it alone, after the rest (its
//! name says `chaos`). `CHAOS_ORDERS` (default 300) and `CHAOS_RATE` (orders per
//! second, default 5) size it; `./dev chaos --orders 2000` runs a long one.
//!
//! On a cluster (`./dev chaos --brokers 3`, which sets `CHAOS_BROKERS`), a random node
//! is killed with SIGKILL instead, every sixth of the run once the last one is back,
//! and started again on its data after 10 s: the others keep two copies in sync.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::invariants::assert_at_rest;
use common::{place_order, Platform};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use shared_events::derive_id;
use tokio::time::Instant;
use uuid::Uuid;

const SERVICES: [&str; 5] = ["auth", "catalog", "order", "inventory", "payment"];
const PLENTY: i64 = 100_000;
const LITTLE: i64 = 40;
const KILL_EVERY: Duration = Duration::from_secs(10);
const MONGO_DOWN: Duration = Duration::from_secs(20);
/// How long a node of a cluster stays down each time it is killed.
const NODE_DOWN: Duration = Duration::from_secs(10);

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a number"))
        })
        .unwrap_or(default)
}

/// Runs `./dev store-restart <store> <seconds down>` (the broker: SIGKILL, then started
/// again on the same data).
async fn restart_store(store: &str, down: Duration) {
    let dev = std::env::var("DEV_SCRIPT").expect("DEV_SCRIPT: run this test through ./dev test");
    let status = tokio::process::Command::new(dev)
        .args(["store-restart", store, &down.as_secs().to_string()])
        .status()
        .await
        .expect("./dev runs");
    assert!(status.success(), "./dev store-restart {store} failed");
}

/// What one order asked for: product → units.
type Lines = Vec<(String, i64)>;

/// An order's lines: most for the plentiful product, some for the scarce one, some for
/// both.
fn lines(rng: &mut impl Rng, plenty: &str, little: &str) -> Lines {
    match rng.random_range(0..20) {
        0..12 => vec![(plenty.to_string(), rng.random_range(1..=3))],
        12..17 => vec![(little.to_string(), rng.random_range(1..=2))],
        _ => vec![(plenty.to_string(), 1), (little.to_string(), 1)],
    }
}

/// Places one order through the gateway on `port`: its id when accepted, and its lines.
async fn place(port: u16, buyer: String, lines: Lines) -> (Option<String>, Lines) {
    (place_order(port, &buyer, &lines).await, lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_every_accepted_order_finishes_once_while_services_are_killed_and_stores_restart() {
    let orders = setting("CHAOS_ORDERS", 300);
    let rate = setting("CHAOS_RATE", 5).max(1);
    let brokers = setting("CHAOS_BROKERS", 1);
    let seed: u64 = setting("CHAOS_SEED", rand::random());
    eprintln!("chaos: {orders} orders at {rate}/s, seed {seed} (CHAOS_SEED)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let mut platform = Platform::commerce().await;
    let seller = platform.signed_in("seller@example.com", "seller").await;
    let mut products = Vec::new();
    for (sku, stock) in [("PLENTY-1", PLENTY), ("LITTLE-1", LITTLE)] {
        let body = json!({
            "sku": sku, "name": sku, "category": "kitchen",
            "priceCents": 500, "currency": "EUR", "initialStock": stock
        });
        let product_id = platform.create_product(&seller, body).await;
        platform.await_stock(&product_id, stock).await;
        products.push(product_id);
    }
    let initial = HashMap::from([(products[0].clone(), PLENTY), (products[1].clone(), LITTLE)]);
    let mut buyers = Vec::new();
    for n in 0..4 {
        let email = format!("buyer{n}@example.com");
        buyers.push(platform.signed_in(&email, "buyer").await);
    }

    // The load: one order every 1/rate s, each in its own task, whatever the chaos does.
    let plan: Vec<(String, Lines)> = (0..orders)
        .map(|n| {
            let buyer = buyers[n as usize % buyers.len()].clone();
            (buyer, lines(&mut rng, &products[0], &products[1]))
        })
        .collect();
    let port = platform.gateway.port;
    let load = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / rate));
        let mut placing = Vec::new();
        for (buyer, lines) in plan {
            tick.tick().await;
            placing.push(tokio::spawn(place(port, buyer, lines)));
        }
        futures::future::try_join_all(placing).await
    });

    // The chaos, until the load has been sent: a kill every ~10 s, PostgreSQL restarted
    // at a third of the run, MongoDB stopped for 20 s from half of it, the broker killed
    // at two thirds.
    let run_for = Duration::from_millis(orders * 1000 / rate);
    let started = Instant::now();
    let mut kills = Vec::new();
    let (mut pg_restarted, mut mongo_outage, mut broker_killed) = (false, None, false);
    let (mut node_outage, mut next_node_kill) = (None::<tokio::task::JoinHandle<()>>, run_for / 6);
    let mut next_kill = KILL_EVERY / 2;
    while started.elapsed() < run_for {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = started.elapsed();
        if !pg_restarted && now >= run_for / 3 {
            pg_restarted = true;
            eprintln!("chaos: restarting PostgreSQL at {now:?}");
            restart_store("postgres", Duration::ZERO).await;
        }
        if mongo_outage.is_none() && now >= run_for / 2 {
            eprintln!("chaos: stopping MongoDB for {MONGO_DOWN:?} at {now:?}");
            mongo_outage = Some(tokio::spawn(restart_store("mongo", MONGO_DOWN)));
        }
        let node_back = node_outage
            .as_ref()
            .is_none_or(|outage| outage.is_finished());
        if brokers > 1 && node_back && now >= next_node_kill {
            let node = format!("broker-{}", rng.random_range(1..=brokers));
            eprintln!("chaos: SIGKILL {node} at {now:?}, down for {NODE_DOWN:?}");
            kills.push("a broker");
            node_outage = Some(tokio::spawn(async move {
                restart_store(&node, NODE_DOWN).await;
            }));
            next_node_kill = now + run_for / 6;
        }
        if brokers == 1 && !broker_killed && now >= run_for * 2 / 3 {
            broker_killed = true;
            eprintln!("chaos: SIGKILL the broker at {now:?}");
            restart_store("broker", Duration::ZERO).await;
            eprintln!("chaos: the broker answers again at {:?}", started.elapsed());
        }
        if now >= next_kill {
            let victim = SERVICES[rng.random_range(0..SERVICES.len())];
            eprintln!("chaos: SIGKILL {victim} at {now:?}");
            platform.crash_and_restart(victim).await;
            kills.push(victim);
            let jitter = rng.random_range(0..=4000);
            next_kill = started.elapsed() + KILL_EVERY - Duration::from_millis(2000)
                + Duration::from_millis(jitter);
        }
    }
    mongo_outage
        .expect("the run was long enough for a MongoDB outage")
        .await
        .expect("the MongoDB outage ends");
    if let Some(outage) = node_outage {
        outage.await.expect("the last broker node is back");
    }
    platform.all_ready().await;
    eprintln!(
        "chaos: every service ready again at {:?}",
        started.elapsed()
    );
    let placed = load
        .await
        .expect("the load ran")
        .expect("every order was sent");

    let accepted: Vec<&String> = placed.iter().filter_map(|(id, _)| id.as_ref()).collect();
    eprintln!(
        "chaos: {} of {orders} orders accepted; kills: {kills:?}",
        accepted.len()
    );
    assert!(!accepted.is_empty(), "no order was accepted");

    // Every accepted order is stored, and ends.
    let db = platform.db("order");
    let wanted: HashSet<Uuid> = accepted.iter().map(|id| id.parse().unwrap()).collect();
    let waiting_since = Instant::now();
    loop {
        let stored: Vec<Uuid> =
            sqlx::query_scalar("SELECT order_id FROM orders WHERE status <> 'PENDING'")
                .fetch_all(db)
                .await
                .unwrap();
        let finished = stored.iter().filter(|id| wanted.contains(id)).count();
        if finished == wanted.len() {
            break;
        }
        assert!(
            waiting_since.elapsed() < Duration::from_secs(240),
            "{} of {} accepted orders never finished",
            wanted.len() - finished,
            wanted.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_at_rest(&platform).await;

    // None doubled: the order service holds nothing the buyers did not send.
    let rows: Vec<(Uuid, String, Option<String>, i64, Value)> =
        sqlx::query_as("SELECT order_id, status, reason, total_cents, items FROM orders")
            .fetch_all(db)
            .await
            .unwrap();
    assert!(
        rows.len() <= placed.len(),
        "{} orders stored for {} sent",
        rows.len(),
        placed.len()
    );

    // Stock: the initial stock minus what was confirmed, nothing held, never negative.
    let mut sold: HashMap<String, i64> = HashMap::new();
    let mut outcome: HashMap<String, usize> = HashMap::new();
    for (_, status, reason, _, items) in &rows {
        let label = format!("{status} {}", reason.as_deref().unwrap_or(""));
        *outcome.entry(label.trim().to_string()).or_default() += 1;
        if status == "CONFIRMED" {
            for item in items.as_array().unwrap() {
                let product = item["productId"].as_str().unwrap().to_string();
                *sold.entry(product).or_default() += item["quantity"].as_i64().unwrap();
            }
        }
    }
    eprintln!("chaos: outcomes {outcome:?}, sold {sold:?}");
    for (product, stock) in &initial {
        let (on_hand, reserved): (i64, i64) =
            sqlx::query_as("SELECT on_hand, reserved FROM stock WHERE product_id = $1::uuid")
                .bind(product)
                .fetch_one(platform.db("inventory"))
                .await
                .unwrap();
        let confirmed = sold.get(product).copied().unwrap_or(0);
        assert_eq!(
            (on_hand, reserved),
            (stock - confirmed, 0),
            "product {product}"
        );
        assert!(on_hand >= 0);
    }

    // At the provider: one approved charge of its total per confirmed order, and none
    // kept for a cancelled one (the invariant checker saw its refund).
    let ledger: Vec<(Uuid, i64, Option<String>)> =
        sqlx::query_as("SELECT idempotency_key, amount_cents, answer FROM provider_ledger")
            .fetch_all(platform.db("payment"))
            .await
            .unwrap();
    let ledger: HashMap<Uuid, (i64, Option<String>)> = ledger
        .into_iter()
        .map(|(key, amount, answer)| (key, (amount, answer)))
        .collect();
    for (order_id, status, _, total, _) in &rows {
        let charge = ledger.get(&derive_id(*order_id, "provider.charge"));
        if status == "CONFIRMED" {
            assert_eq!(
                charge,
                Some(&(*total, Some("approved".to_string()))),
                "order {order_id}"
            );
        }
    }
    platform.stop().await;
}
