//! What operators do to a running platform: replay commands from the shell, lose the
//! broker.

mod common;

use std::time::{Duration, Instant};

use common::Platform;
use serde_json::json;
use shared_events::messages::auth::RegisterUser;
use shared_events::messages::catalog::{CreateProduct, UpdateProduct};
use shared_events::{Actor, Envelope, Role, Topic};
use testkit::{eventually, http_request};
use uuid::Uuid;

fn register_line(email: &str) -> (Uuid, Vec<u8>) {
    let user_id = Uuid::new_v4();
    let command = RegisterUser {
        user_id,
        email: email.into(),
        name: "Replayed".into(),
        role: Role::Buyer,
        password_hash: bcrypt::hash("correct horse battery", 4).unwrap(),
    };
    (
        user_id,
        Envelope::new(command, Uuid::new_v4(), None).to_json(),
    )
}

/// What `kcat -P` or `kafka-console-producer` does with a line: the value as typed, no
/// headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commands_outcome_is_known_to_a_gateway_started_after_it_and_to_one_restarted() {
    let platform = Platform::start(&[]).await;
    let body =
        json!({ "email": "later@example.com", "password": "long enough secret", "name": "Later" });
    let accepted = platform.post("/api/auth/register", body).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let location = accepted.headers["location"].clone();
    let outcome = platform.outcome(&location, None).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");

    // A second instance, started after the outcome: it never saw the command sent.
    let second = Platform::gateway_on(&platform.bed, &[]).await;
    let waited = format!("{location}?wait=10");
    let answer = http_request(second.port, "GET", &waited, None, b"").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["status"], "succeeded", "{}", answer.body);

    // The first instance, restarted: its memory is gone, the replies topic is not.
    let Platform {
        bed, auth, gateway, ..
    } = platform;
    gateway.stop().await;
    let restarted = Platform::gateway_on(&bed, &[]).await;
    let answer = http_request(restarted.port, "GET", &waited, None, b"").await;
    assert_eq!(answer.json()["status"], "succeeded", "{}", answer.body);

    let unknown = format!("/api/commands/{}?wait=1", Uuid::new_v4());
    let answer = http_request(restarted.port, "GET", &unknown, None, b"").await;
    assert_eq!(
        (answer.status, answer.json()["status"].as_str()),
        (200, Some("pending")),
        "{}",
        answer.body
    );
    restarted.stop().await;
    second.stop().await;
    auth.expect("auth runs").stop().await;
}

/// The README's replay line, as an operator runs it: `printf … | kafka-console-producer
/// …`, with the topic and bootstrap server of this test.
fn readme_replay_command(topic: &str, brokers: &str) -> String {
    let readme = include_str!("../../../README.md");
    let line = readme
        .lines()
        .find(|line| line.contains("| kafka-console-producer "))
        .expect("README has a replay example");
    assert!(line.contains("--topic auth.commands"), "{line}");
    line.replace("--topic auth.commands", &format!("--topic {topic}"))
        .replace("127.0.0.1:9092", brokers)
}

/// An operator replays, with Apache Kafka's `kafka-console-producer`, a command the
/// gateway sent, and the README's example twice: each replay lands on the partition the
/// first copy went to, and none makes a second user or a second event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_replayed_with_kafka_console_producer_land_on_their_partition_and_change_nothing()
{
    let platform = Platform::start(&[]).await;
    let accepted = platform
        .post(
            "/api/auth/register",
            json!({ "email": "twice@example.com", "password": "long enough secret", "name": "Twice" }),
        )
        .await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let outcome = platform.outcome(&accepted.headers["location"], None).await;
    assert_eq!(outcome["status"], "succeeded", "{outcome}");
    let commands = platform.bed.kafka.topics.name(Topic::AuthCommands);
    let read_commands = |count| {
        let settle = Duration::from_secs(1);
        platform
            .bed
            .read(&commands, count, Duration::from_secs(30), settle)
    };
    let sent = read_commands(1).await;
    assert_eq!(sent.len(), 1, "the gateway sent one command");
    let original = &sent[0];
    let key = original.key.clone().expect("keyed by the user id");

    // The captured command again, then a new user on the same key, so that once the new
    // user exists the replay before it was handled.
    let (_, marker) = register_line("after@example.com");
    let lines = format!(
        "{key}\t{}\n{key}\t{}\n",
        String::from_utf8_lossy(&original.payload),
        String::from_utf8_lossy(&marker)
    );
    platform.bed.console_produce(&commands, &lines).await;
    // The README's line, twice, as typed.
    let bin = std::env::var("KAFKA_BIN").expect("KAFKA_BIN: run this test through ./dev test");
    let readme = readme_replay_command(&commands, &platform.bed.kafka.brokers);
    for _ in 0..2 {
        let status = tokio::process::Command::new("bash")
            .args(["-c", &readme])
            .env(
                "PATH",
                format!("{bin}:{}", std::env::var("PATH").unwrap_or_default()),
            )
            .status()
            .await
            .expect("bash runs");
        assert!(
            status.success(),
            "the README's replay line failed: {readme}"
        );
    }

    let pool = platform.bed.pool.clone();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    eventually(
        "the user after the replay, and the README's user, exist",
        Duration::from_secs(60),
        || async {
            count("SELECT count(*) FROM users WHERE lower(email) IN ('after@example.com', 'replay@example.com')").await == 2
        },
    )
    .await;
    assert_eq!(
        count("SELECT count(*) FROM users WHERE lower(email) = 'twice@example.com'").await,
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM users WHERE lower(email) = 'replay@example.com'").await,
        1
    );

    // Every copy of a command sits on its first copy's partition.
    let all = read_commands(5).await;
    assert_eq!(
        all.len(),
        5,
        "the command, its replay, the marker, the README's line twice"
    );
    let copies = |payload: &[u8]| {
        all.iter()
            .filter(|m| m.payload == payload)
            .map(|m| m.partition)
            .collect::<Vec<_>>()
    };
    assert_eq!(copies(&original.payload), vec![original.partition; 2]);
    let readme_copies: Vec<i32> = all
        .iter()
        .filter(|m| String::from_utf8_lossy(&m.payload).contains("replay@example.com"))
        .map(|m| m.partition)
        .collect();
    assert_eq!(readme_copies.len(), 2);
    assert_eq!(readme_copies[0], readme_copies[1]);

    // One event per user: none for a replay.
    let events = platform
        .bed
        .read(
            &platform.bed.kafka.topics.name(Topic::AuthEvents),
            3,
            Duration::from_secs(30),
            Duration::from_secs(2),
        )
        .await;
    assert_eq!(events.len(), 3, "twice, after, replay: one event each");
    let registered_for = |key: &str| {
        events
            .iter()
            .filter(|m| m.key.as_deref() == Some(key))
            .count()
    };
    assert_eq!(registered_for(&key), 1);
    platform.stop().await;
}

/// A `create_product` typed twice into a console producer, and once more under a new
/// message id for the same product: one product, one `product_created`, stock opened
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_create_product_makes_no_second_product_and_no_doubled_stock() {
    let platform = Platform::commerce().await;
    let seller = platform.signed_in("replay@example.com", "seller").await;
    let seller_id = platform.user_id(&seller).await;
    let product_id = Uuid::new_v4();
    let command = CreateProduct {
        product_id,
        seller_id,
        sku: "REPLAY-1".into(),
        name: "Replayed mug".into(),
        description: String::new(),
        category: "kitchen".into(),
        price_cents: 900,
        currency: "EUR".into(),
        initial_stock: 7,
        image_url: None,
    };
    let actor = Some(Actor {
        user_id: seller_id,
        role: Role::Seller,
    });
    let line = Envelope::new(command.clone(), Uuid::new_v4(), actor.clone()).to_json();
    let retyped = Envelope::new(command, Uuid::new_v4(), actor).to_json();
    let commands = platform.bed.kafka.topics.name(Topic::CatalogCommands);
    let key = product_id.to_string();
    for payload in [&line, &line, &retyped] {
        platform.bed.produce(&commands, &key, payload).await;
    }
    // Same key, same partition: once this rename shows, the replays were handled.
    let rename = UpdateProduct {
        product_id,
        name: Some("Renamed mug".into()),
        ..UpdateProduct::default()
    };
    let actor = Some(Actor {
        user_id: seller_id,
        role: Role::Seller,
    });
    let rename = Envelope::new(rename, Uuid::new_v4(), actor).to_json();
    platform.bed.produce(&commands, &key, &rename).await;
    let path = format!("/api/products/{key}");
    eventually(
        "the command after the replays is applied",
        Duration::from_secs(60),
        || async { platform.call("GET", &path, None, None).await.json()["name"] == "Renamed mug" },
    )
    .await;
    platform.await_stock(&key, 7).await;

    let found = platform
        .call("GET", "/api/products?q=replay-1", None, None)
        .await
        .json();
    assert_eq!(found["total"], 1, "{found}");
    let created = platform
        .bed
        .read(
            &platform.bed.kafka.topics.name(Topic::CatalogEvents),
            2,
            Duration::from_secs(30),
            Duration::from_secs(2),
        )
        .await;
    let kinds: Vec<String> = created
        .iter()
        .filter(|m| m.key.as_deref() == Some(key.as_str()))
        .map(|m| m.headers["type"].clone())
        .collect();
    assert_eq!(
        kinds,
        ["catalog.product_created", "catalog.product_updated"],
        "one product_created, then the rename"
    );
    let (on_hand, movements): (i64, i64) = sqlx::query_as(
        "SELECT on_hand, (SELECT count(*) FROM stock_movements m WHERE m.product_id = s.product_id)
         FROM stock s WHERE product_id = $1",
    )
    .bind(product_id)
    .fetch_one(platform.db("inventory"))
    .await
    .unwrap();
    assert_eq!((on_hand, movements), (7, 1));
    platform.stop().await;
}

/// Resumes the broker however the test ends.
struct Resume(String);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0])
            .status();
    }
}

/// Pauses the shared broker, so `./dev test` runs it alone, after the rest of the suite
/// (see `cmd_test` in `dev`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_broker_stopped_register_answers_503_within_5_s() {
    let pid_file = std::env::var("BROKER_PID_FILE")
        .expect("BROKER_PID_FILE: run this test through ./dev test, which runs it alone");
    let broker = std::fs::read_to_string(&pid_file)
        .expect("the broker's pid file")
        .trim()
        .to_string();
    let platform = Platform::start(&[]).await;
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &broker])
        .status()
        .expect("kill");
    assert!(stopped.success());
    let resume = Resume(broker);
    let started = Instant::now();
    let answer = platform
        .post(
            "/api/auth/register",
            json!({ "email": "late@example.com", "password": "correct horse battery", "name": "Late" }),
        )
        .await;
    let took = started.elapsed();
    drop(resume);
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.json()["error"]["code"], "broker_unavailable");
    assert!(
        answer.headers.contains_key("retry-after"),
        "{:?}",
        answer.headers
    );
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    platform.stop().await;
}
