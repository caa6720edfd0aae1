//! The platform on a replicated Apache Kafka cluster of its own: three nodes, each a
//! broker and a controller, every topic with three copies and `min.insync.replicas=2`
//! (deploy/kafka/cluster.env), as `./dev up --brokers 3` and docker-compose.kafka.yml's
//! cluster profile run it.
//!
//! - Losing a broker under load: orders flow; the broker leading most partitions of
//!   `order.commands` is killed with SIGKILL and started again 20 s later. Every order
//!   answered 202 finishes CONFIRMED or CANCELLED with a reason, none twice, stock and
//!   charges are exact, the cluster accepted orders while the broker was down, and the
//!   broker's copies are back in sync. It prints the longest time without a 202 and the
//!   longest POST-to-CONFIRMED while leadership moved.
//! - Losing two of three: no partition can have two copies in sync, so the gateway
//!   answers 503 with `Retry-After`, never 202, within seconds; once one broker is back
//!   it accepts again; every order accepted before, during the recovery and after
//!   finishes, and nothing is dead-lettered.
//!
//! Each starts three broker processes beside the platform, so `./dev test` runs them
//! alone, after the rest of the suite (their names start with `cluster_of_three_`).

mod common;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::invariants::assert_at_rest;
use common::{address, Platform};
use kafka_runtime::admin::create_replicated_platform_topics;
use serde_json::json;
use shared_events::{derive_id, Topic};
use testkit::{cluster_replication, http_call, KafkaCluster, TestBed};
use tokio::time::Instant;
use uuid::Uuid;

/// Partitions per topic: one led by each broker, as the cluster places them.
const PARTITIONS: i32 = 3;
/// Orders per second while a broker is lost.
const RATE: u64 = 5;
const STOCK: i64 = 100_000;
/// Every POST is answered within this: 202 once acknowledged, else 503 after the 4 s
/// send timeout and its second of grace, with room for two busy cores.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);

/// One `POST /api/orders`: when it was sent (monotonic, and as Unix time to compare
/// with the order service's clock) and answered, and the answer.
#[derive(Debug)]
struct Attempt {
    sent: Instant,
    sent_unix: f64,
    answered: Instant,
    status: u16,
    retry_after: Option<String>,
    order_id: Option<Uuid>,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// Orders one unit of `product` with `tok_visa` through the gateway on `port`.
async fn attempt(port: u16, buyer: String, product: String) -> Attempt {
    let body = json!({
        "items": [{ "productId": product, "quantity": 1 }],
        "paymentToken": "tok_visa",
        "shippingAddress": address(),
    })
    .to_string();
    let bearer = format!("Bearer {buyer}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let (sent, sent_unix) = (Instant::now(), unix_now());
    let answer = http_call(port, "POST", "/api/orders", &headers, body.as_bytes()).await;
    let order_id = (answer.status == 202)
        .then(|| answer.json()["orderId"].as_str().map(str::parse))
        .flatten()
        .map(|id| id.expect("a UUID"));
    Attempt {
        sent,
        sent_unix,
        answered: Instant::now(),
        status: answer.status,
        retry_after: answer.headers.get("retry-after").cloned(),
        order_id,
    }
}

/// The platform on a cluster of three, with a product of plenty of stock and four
/// signed-in buyers.
struct OnCluster {
    cluster: KafkaCluster,
    platform: Platform,
    product: String,
    buyers: Vec<String>,
}

impl OnCluster {
    async fn start() -> Self {
        let replication = cluster_replication();
        let cluster = KafkaCluster::start(3, replication).await;
        let bed = TestBed::on_brokers(&cluster.brokers()).await;
        create_replicated_platform_topics(&bed.kafka, PARTITIONS, replication)
            .await
            .expect("replicated topics");
        let platform = Platform::commerce_on_bed(bed, PARTITIONS, &[]).await;
        let (product, buyers) = platform.plenty_for_buyers(STOCK, 4).await;
        Self {
            cluster,
            platform,
            product,
            buyers,
        }
    }

    /// Sends an order in a task of its own, from the buyers in turn.
    fn order(&self, n: usize) -> tokio::task::JoinHandle<Attempt> {
        let buyer = self.buyers[n % self.buyers.len()].clone();
        tokio::spawn(attempt(
            self.platform.gateway.port,
            buyer,
            self.product.clone(),
        ))
    }

    /// The platform's topics with the test's prefix, and the committed offsets'.
    fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = (self.platform.bed.kafka.topics.all())
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        topics.push("__consumer_offsets".into());
        topics
    }

    /// The node leading most partitions of `order.commands`.
    async fn leader_of_most_order_commands(&self) -> i32 {
        let topic = self.platform.bed.kafka.topics.name(Topic::OrderCommands);
        let replicas = self
            .cluster
            .replicas(std::slice::from_ref(&topic))
            .await
            .expect("metadata");
        let mut led: HashMap<i32, usize> = HashMap::new();
        for partition in replicas.partitions(&topic) {
            *led.entry(partition.leader).or_default() += 1;
        }
        eprintln!("cluster: leaders of {topic}: {led:?}");
        let (leader, _) = led
            .into_iter()
            .filter(|(leader, _)| *leader >= 0)
            .max_by_key(|(leader, count)| (*count, -leader))
            .expect("order.commands has leaders");
        leader
    }

    /// Waits until `check` holds for the metadata of every topic; how long after
    /// `since` that was. Fails after `limit`, with the metadata.
    async fn await_replicas(
        &self,
        what: &str,
        since: Instant,
        limit: Duration,
        check: impl Fn(&kafka_runtime::admin::PartitionReplicas) -> bool,
    ) -> Duration {
        let topics = self.topics();
        loop {
            let replicas = self.cluster.replicas(&topics).await;
            if let Ok(replicas) = &replicas {
                let all = replicas
                    .topics
                    .iter()
                    .all(|(_, partitions)| !partitions.is_empty() && partitions.iter().all(&check));
                if all {
                    return since.elapsed();
                }
            }
            assert!(
                since.elapsed() < limit,
                "{what} not within {limit:?}: {replicas:?}\n{}",
                self.cluster.log_tails(10)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until every accepted order has left PENDING and the saga is at rest, then
    /// asserts that each ended CONFIRMED or CANCELLED with a reason, that no order is
    /// stored that was not sent, and that stock and charges are exact. When each order
    /// was confirmed, in Unix seconds.
    async fn assert_every_accepted_order_finished_once(
        &self,
        attempts: &[Attempt],
    ) -> HashMap<Uuid, f64> {
        let accepted: Vec<Uuid> = attempts.iter().filter_map(|a| a.order_id).collect();
        let db = self.platform.db("order");
        let waiting = Instant::now();
        loop {
            let finished: Vec<Uuid> =
                sqlx::query_scalar("SELECT order_id FROM orders WHERE status <> 'PENDING'")
                    .fetch_all(db)
                    .await
                    .unwrap();
            let missing = accepted.iter().filter(|id| !finished.contains(id)).count();
            if missing == 0 {
                break;
            }
            assert!(
                waiting.elapsed() < Duration::from_secs(180),
                "{missing} of {} accepted orders never finished",
                accepted.len()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert_at_rest(&self.platform).await;

        let rows: Vec<(Uuid, String, Option<String>, i64)> =
            sqlx::query_as("SELECT order_id, status, reason, total_cents FROM orders")
                .fetch_all(db)
                .await
                .unwrap();
        assert!(
            rows.len() <= attempts.len(),
            "{} orders stored for {} sent",
            rows.len(),
            attempts.len()
        );
        let stored: HashMap<Uuid, (String, Option<String>, i64)> = rows
            .into_iter()
            .map(|(id, status, reason, total)| (id, (status, reason, total)))
            .collect();
        let mut outcomes: HashMap<String, usize> = HashMap::new();
        for id in &accepted {
            let (status, reason, _) = &stored[id];
            let finished = status == "CONFIRMED" || (status == "CANCELLED" && reason.is_some());
            assert!(finished, "accepted order {id} ended {status} {reason:?}");
            let label = format!("{status} {}", reason.as_deref().unwrap_or_default());
            *outcomes.entry(label.trim().to_string()).or_default() += 1;
        }
        let unanswered = stored.keys().filter(|id| !accepted.contains(id)).count();
        eprintln!(
            "cluster: {} orders accepted: {outcomes:?}; {unanswered} stored of those answered 503",
            accepted.len()
        );

        // Stock: every confirmed order took one unit, nothing is left reserved.
        let confirmed = stored.values().filter(|(s, ..)| s == "CONFIRMED").count() as i64;
        let (on_hand, reserved): (i64, i64) =
            sqlx::query_as("SELECT on_hand, reserved FROM stock WHERE product_id = $1::uuid")
                .bind(&self.product)
                .fetch_one(self.platform.db("inventory"))
                .await
                .unwrap();
        assert_eq!((on_hand, reserved), (STOCK - confirmed, 0));

        // At the provider: one approved charge of its total per confirmed order.
        let ledger: Vec<(Uuid, i64, Option<String>)> =
            sqlx::query_as("SELECT idempotency_key, amount_cents, answer FROM provider_ledger")
                .fetch_all(self.platform.db("payment"))
                .await
                .unwrap();
        let ledger: HashMap<Uuid, (i64, Option<String>)> = ledger
            .into_iter()
            .map(|(key, amount, answer)| (key, (amount, answer)))
            .collect();
        for (id, (status, _, total)) in &stored {
            if status == "CONFIRMED" {
                let charge = ledger.get(&derive_id(*id, "provider.charge"));
                assert_eq!(charge, Some(&(*total, Some("approved".into()))), "{id}");
            }
        }

        let confirmed_at: Vec<(Uuid, f64)> = sqlx::query_as(
            "SELECT order_id, EXTRACT(EPOCH FROM at)::float8 FROM order_history
             WHERE to_status = 'CONFIRMED'",
        )
        .fetch_all(db)
        .await
        .unwrap();
        confirmed_at.into_iter().collect()
    }

    /// Messages the services dead-lettered, as their metrics count them.
    async fn dead_lettered(&mut self) -> f64 {
        let mut total = 0.0;
        for service in ["auth", "catalog", "order", "inventory", "payment", "cart"] {
            let port = self.platform.port_of(service);
            let metrics = http_call(port, "GET", "/metrics", &[], b"").await.body;
            total += metrics
                .lines()
                .filter(|line| line.starts_with("messages_dead_lettered_total"))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>();
        }
        total
    }
}

/// The longest any POST waited for its answer, which must stay within `ANSWER_LIMIT`.
fn slowest_answer(attempts: &[Attempt]) -> Duration {
    let slowest = attempts
        .iter()
        .map(|a| a.answered - a.sent)
        .max()
        .unwrap_or_default();
    assert!(
        slowest < ANSWER_LIMIT,
        "an order was answered after {slowest:?}"
    );
    slowest
}

/// The longest stretch between two 202s, by when they were answered.
fn longest_without_a_202(attempts: &[Attempt]) -> Duration {
    let mut answered: Vec<Instant> = attempts
        .iter()
        .filter(|a| a.status == 202)
        .map(|a| a.answered)
        .collect();
    answered.sort();
    answered
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

/// The longest time from POST to CONFIRMED among `attempts`.
fn longest_to_confirmed<'a>(
    attempts: impl Iterator<Item = &'a Attempt>,
    confirmed_at: &HashMap<Uuid, f64>,
) -> Duration {
    attempts
        .filter_map(|a| Some(confirmed_at.get(&a.order_id?)? - a.sent_unix))
        .map(|seconds| Duration::from_secs_f64(seconds.max(0.0)))
        .max()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_of_three_loses_no_accepted_order_when_the_leader_of_order_commands_is_killed() {
    const STREAM: Duration = Duration::from_secs(45);
    const KILL_AT: Duration = Duration::from_secs(12);
    const DOWN_FOR: Duration = Duration::from_secs(20);
    /// Kafka fences a broker that stopped heartbeating after `broker.session.timeout.ms`
    /// (9 s): leadership moves after that, then the metadata says so.
    const MOVE_LIMIT: Duration = Duration::from_secs(45);
    let test_started = Instant::now();
    let mut on = OnCluster::start().await;
    eprintln!("cluster: platform ready in {:?}", test_started.elapsed());

    // The load: one order every 1/RATE s, each in its own task, whatever the cluster does.
    let started = Instant::now();
    let (port, buyers, product) = (
        on.platform.gateway.port,
        on.buyers.clone(),
        on.product.clone(),
    );
    let load = async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / RATE));
        let mut sending = Vec::new();
        for n in 0..(STREAM.as_secs() * RATE) as usize {
            tick.tick().await;
            let buyer = buyers[n % buyers.len()].clone();
            sending.push(tokio::spawn(attempt(port, buyer, product.clone())));
        }
        futures::future::try_join_all(sending).await
    };
    let chaos = async {
        tokio::time::sleep(KILL_AT).await;
        let victim = on.leader_of_most_order_commands().await;
        eprintln!("cluster: SIGKILL node {victim} at {:?}", started.elapsed());
        on.cluster.kill(victim).await;
        let killed = Instant::now();
        // No partition led by the lost node, none without a leader.
        let moved = on
            .await_replicas("leadership off the lost node", killed, MOVE_LIMIT, |p| {
                p.leader >= 0 && p.leader != victim
            })
            .await;
        eprintln!("cluster: leadership moved off node {victim} in {moved:.1?}");
        // Down for DOWN_FOR, and for some seconds after leadership moved at least.
        let down_for = DOWN_FOR.max(moved + Duration::from_secs(5));
        tokio::time::sleep(down_for.saturating_sub(killed.elapsed())).await;
        eprintln!(
            "cluster: node {victim} started again at {:?}",
            started.elapsed()
        );
        on.cluster.restart(victim);
        (victim, killed, killed + moved, Instant::now())
    };
    let (attempts, (victim, killed, moved, restarted)) = tokio::join!(load, chaos);
    let attempts: Vec<Attempt> = attempts.expect("every order was sent");
    // The cluster went on accepting with one broker of three down.
    let accepted_while_down = attempts
        .iter()
        .filter(|a| a.status == 202 && a.sent > moved && a.sent < restarted)
        .count();
    assert!(
        accepted_while_down > 0,
        "nothing accepted while node {victim} was down"
    );
    for refused in attempts.iter().filter(|a| a.status != 202) {
        assert_eq!(refused.status, 503, "{refused:?}");
        assert!(refused.retry_after.is_some(), "503 without Retry-After");
    }
    let slowest = slowest_answer(&attempts);

    // The lost broker's copies are back in sync.
    on.cluster.await_node(victim).await;
    let rejoined = on
        .await_replicas(
            "every copy in sync again",
            restarted,
            Duration::from_secs(90),
            |p| p.leader >= 0 && p.in_sync() && p.isr.contains(&victim),
        )
        .await;
    let rejoined_at = restarted + rejoined;

    let confirmed_at = on
        .assert_every_accepted_order_finished_once(&attempts)
        .await;
    let gap = longest_without_a_202(&attempts);
    let during = longest_to_confirmed(
        attempts
            .iter()
            .filter(|a| a.sent >= killed && a.sent <= rejoined_at),
        &confirmed_at,
    );
    let overall = longest_to_confirmed(attempts.iter(), &confirmed_at);
    let refused = attempts.iter().filter(|a| a.status == 503).count();
    eprintln!(
        "cluster: one broker lost: {} orders sent, {refused} answered 503, {accepted_while_down} \
         accepted while it was down; longest without a 202 {gap:.1?}; leadership moved in \
         {:.1?}; copies in sync {rejoined:.1?} after the restart; longest POST-to-CONFIRMED \
         {during:.1?} for orders sent from the kill until the copies were in sync, {overall:.1?} \
         of all; slowest answer {slowest:.1?}; the whole test {:.0?}",
        attempts.len(),
        moved - killed,
        test_started.elapsed()
    );
    assert!(gap < Duration::from_secs(60), "no 202 for {gap:?}");
    assert!(
        overall < Duration::from_secs(90),
        "an order took {overall:?} to confirm"
    );
    on.platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_of_three_answers_503_with_two_brokers_lost_and_accepts_again_when_one_returns() {
    const DOWN_FOR: Duration = Duration::from_secs(15);
    let test_started = Instant::now();
    let mut on = OnCluster::start().await;
    let mut attempts = Vec::new();

    // Orders in flight when the brokers go.
    let mut sending: Vec<_> = (0..10).map(|n| on.order(n)).collect();
    for handle in sending.drain(..) {
        let sent = handle.await.expect("sent");
        assert_eq!(sent.status, 202, "{sent:?}");
        attempts.push(sent);
    }
    let first = on.leader_of_most_order_commands().await;
    let second = (1..=3).find(|node| *node != first).expect("another node");
    on.cluster.kill(first).await;
    on.cluster.kill(second).await;
    eprintln!("cluster: SIGKILL nodes {first} and {second}");

    // Nothing can be on two brokers: every answer is a quick 503 with Retry-After.
    let killed = Instant::now();
    let mut n = 10;
    while killed.elapsed() < DOWN_FOR {
        sending.push(on.order(n));
        n += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for handle in sending.drain(..) {
        let refused = handle.await.expect("sent");
        assert_eq!(
            refused.status, 503,
            "answered with two brokers of three down: {refused:?}"
        );
        let retry_after: u64 = refused
            .retry_after
            .as_deref()
            .and_then(|s| s.parse().ok())
            .expect("503 with Retry-After in seconds");
        assert!(retry_after >= 1);
        let took = refused.answered - refused.sent;
        assert!(took < ANSWER_LIMIT, "a 503 took {took:?}");
        attempts.push(refused);
    }

    // One broker back: two copies can be in sync again, and orders are accepted.
    on.cluster.restart(first);
    let restarted = Instant::now();
    let accepting = loop {
        let answer = on.order(n).await.expect("sent");
        n += 1;
        let accepted = answer.status == 202;
        if !accepted {
            assert_eq!(answer.status, 503, "{answer:?}");
        }
        attempts.push(answer);
        if accepted {
            break restarted.elapsed();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(120),
            "no order accepted within 120 s of node {first}'s restart\n{}",
            on.cluster.log_tails(15)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut after: Vec<_> = (0..10).map(|k| on.order(n + k)).collect();
    for handle in after.drain(..) {
        attempts.push(handle.await.expect("sent"));
    }

    // The second back too: every copy in sync.
    on.cluster.restart(second);
    let second_back = Instant::now();
    on.cluster.await_node(second).await;
    let rejoined = on
        .await_replicas(
            "every copy in sync again",
            second_back,
            Duration::from_secs(90),
            |p| p.leader >= 0 && p.in_sync(),
        )
        .await;

    on.assert_every_accepted_order_finished_once(&attempts)
        .await;
    assert_eq!(on.dead_lettered().await, 0.0, "a message was dead-lettered");
    let accepted = attempts.iter().filter(|a| a.status == 202).count();
    let slowest = slowest_answer(&attempts);
    eprintln!(
        "cluster: two brokers lost for {DOWN_FOR:?}: every order 503 meanwhile; the first 202 \
         {accepting:.1?} after one came back; {accepted} of {} orders accepted in all; every \
         copy in sync {rejoined:.1?} after the second came back; slowest answer {slowest:.1?}; \
         the whole test {:.0?}",
        attempts.len(),
        test_started.elapsed()
    );
    on.platform.stop().await;
}
