//! Login queries against the real broker and PostgreSQL: a query that cannot be read is
//! dead-lettered with its reason, and without the password it carried, since the DLQ
//! is kept for months.

use std::sync::Arc;
use std::time::Duration;

use auth::keys::SigningKey;
use auth::queries::AuthQueries;
use kafka_runtime::admin::create_platform_topics;
use kafka_runtime::KafkaConfig;
use shared_events::{Service, Topic};
use testkit::{free_port, TestBed};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_login_is_dead_lettered_with_its_reason_and_without_its_password() {
    let bed = TestBed::new().await;
    create_platform_topics(&bed.kafka, 1).await.expect("topics");
    auth::migrate(&bed.pool).await.expect("migrations");
    let (key, _) = SigningKey::generate().expect("a key");
    let queries = AuthQueries::new(bed.pool.clone(), Arc::new(key), Duration::from_secs(60))
        .await
        .expect("queries");
    // The test process lives on after the service stops: its members leave the groups.
    let kafka = KafkaConfig {
        leave_group_on_shutdown: true,
        ..bed.kafka.clone()
    };
    let shutdown = CancellationToken::new();
    let address = ([127, 0, 0, 1], free_port()).into();
    let mut service = kafka_runtime::Service::new(Service::Auth, kafka, address, shutdown.clone())
        .expect("a service");
    service
        .answer(queries)
        .expect("the table agrees with the topology");
    let running = tokio::spawn(service.run(axum::Router::new()));
    let topic = bed.kafka.topics.name(Topic::AuthQueries);

    let replies = bed.kafka.topics.name(Topic::GatewayReplies);
    let login = serde_json::json!({
        "id": uuid::Uuid::new_v4(), "type": "auth.login", "version": 1,
        "occurredAt": chrono::Utc::now(), "correlationId": uuid::Uuid::new_v4(),
        "replyTo": replies,
        "data": { "email": 5, "password": "hunter2 correct horse" }
    });
    bed.produce(&topic, "k", login.to_string().as_bytes()).await;

    let dlq = bed.kafka.topics.name(Topic::Dlq(Service::Auth));
    let dead = bed
        .read(&dlq, 1, Duration::from_secs(60), Duration::from_millis(500))
        .await;
    assert_eq!(dead.len(), 1, "one dead letter");
    let value = String::from_utf8_lossy(&dead[0].payload);
    assert!(
        !value.contains("hunter2"),
        "the password reached the DLQ: {value}"
    );
    assert!(value.contains(r#""type":"auth.login""#), "{value}");
    assert!(
        dead[0].headers["dlq.reason"].contains("invalid auth.login data"),
        "{:?}",
        dead[0].headers
    );
    shutdown.cancel();
    running
        .await
        .expect("service task")
        .expect("service stopped cleanly");
}
