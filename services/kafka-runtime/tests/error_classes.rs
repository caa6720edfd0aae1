//! Which failures are the message's fault and which are the world's, decided by what the
//! real PostgreSQL and MongoDB-protocol server answer, and what the consumer does with a
//! failure that never clears.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{probe, produce};
use kafka_runtime::postgres::PgProcessor;
use kafka_runtime::{mongo, HandlerError, KafkaConfig};
use mongodb::bson::doc;
use testkit::{eventually, ProbeHandler, RunningConsumer, TestBed};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

fn rejected(err: HandlerError) -> String {
    match err {
        HandlerError::Rejected(reason) => reason,
        HandlerError::Transient(err) => panic!("classified transient: {err:#}"),
    }
}

#[tokio::test]
async fn postgresql_refusing_the_data_is_a_rejection_with_its_reason() {
    let bed = TestBed::new().await;
    // The product name that stalled the order service: PostgreSQL refuses NUL in text.
    let nul = sqlx::query("SELECT $1::text")
        .bind("Lamp\u{0}")
        .execute(&bed.pool)
        .await
        .expect_err("NUL refused");
    assert!(rejected(nul.into()).contains("0x00"));

    let out_of_range = sqlx::query("SELECT $1::int2")
        .bind(100_000_i32)
        .execute(&bed.pool)
        .await
        .expect_err("out of range");
    rejected(out_of_range.into());

    sqlx::query("CREATE TABLE once (id int PRIMARY KEY)")
        .execute(&bed.pool)
        .await
        .expect("table");
    let insert = || sqlx::query("INSERT INTO once VALUES (1)").execute(&bed.pool);
    insert().await.expect("first insert");
    let duplicate = insert().await.expect_err("unique violation");
    assert!(rejected(duplicate.into()).contains("duplicate key"));
}

#[tokio::test]
async fn postgresql_away_or_a_deadlock_is_transient() {
    // Nothing listens on port 1.
    let away = sqlx::PgPool::connect("postgres://commerce:commerce@127.0.0.1:1/none")
        .await
        .expect_err("no server");
    assert!(matches!(
        HandlerError::from(away),
        HandlerError::Transient(_)
    ));

    let bed = TestBed::new().await;
    let deadlock = sqlx::query(
        "DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = 'deadlock_detected'; END $$",
    )
    .execute(&bed.pool)
    .await
    .expect_err("raised");
    assert!(matches!(
        HandlerError::from(deadlock),
        HandlerError::Transient(_)
    ));
}

#[tokio::test]
async fn mongodb_refusing_the_document_is_a_rejection() {
    let uri = std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
    let name = format!("t_{}", &Uuid::new_v4().simple().to_string()[..12]);
    let db = mongo::connect(
        &format!("{}/{name}", uri.trim_end_matches('/')),
        &name,
        &CancellationToken::new(),
    )
    .await
    .expect("MongoDB reachable (run ./dev test)");
    let things = db.collection::<mongodb::bson::Document>("things");
    things
        .insert_one(doc! { "_id": 1 })
        .await
        .expect("first insert");
    let duplicate = things
        .insert_one(doc! { "_id": 1 })
        .await
        .expect_err("duplicate key");
    rejected(duplicate.into());
    db.drop().await.ok();
}

/// A handler that fails transiently on every attempt while its database answers is
/// parked in the DLQ once the retry budget is spent, so its partition moves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_failing_transiently_past_the_budget_is_parked_and_the_partition_moves_on() {
    let bed = TestBed::new().await;
    let commands = bed.topic("probe.commands", 1).await;
    let events = bed.topic("probe.events", 1).await;
    let dlq = bed.topic("probe.dlq", 1).await;
    let handler = ProbeHandler::new("a", events);
    let broken = handler.broken.clone();
    broken.store(true, Ordering::SeqCst);
    let kafka = KafkaConfig {
        retry_budget: Duration::from_secs(2),
        ..bed.kafka.clone()
    };
    let processor = PgProcessor::new(bed.pool.clone(), bed.kafka.topics.clone(), handler);
    let consumer = RunningConsumer::start(&kafka, "probe", "g", vec![commands.clone()], processor);

    let (_, stuck) = produce(&bed, &commands, "k", &probe(1).to_json()).await;
    let parked = consumer.metrics.parked.with_label_values(&[&commands]);
    eventually("the failing message is parked", WAIT, || async {
        parked.get() == 1
    })
    .await;
    broken.store(false, Ordering::SeqCst);
    produce(&bed, &commands, "k", &probe(2).to_json()).await;
    eventually("the next message is applied", WAIT, || async {
        bed.effects().await.len() == 1
    })
    .await;

    let dead = bed.read(&dlq, 1, WAIT, Duration::from_secs(1)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].headers["dlq.source.offset"], stuck.to_string());
    let reason = &dead[0].headers["dlq.reason"];
    assert!(reason.starts_with("parked after"), "{reason}");
    assert!(reason.contains("broken on purpose"), "{reason}");
    assert_eq!(bed.effects().await[0].2, 2, "only the second probe applied");
    consumer.stop().await;
}
