//! A consumer process for the runtime's own tests: it runs the probe handler so a test
//! can kill it with SIGKILL at chosen moments. Not part of any service.
//!
//! Environment: the usual `KAFKA_*`/`RDKAFKA_*`, plus `FIXTURE_DATABASE_URL`,
//! `FIXTURE_TOPIC`, `FIXTURE_EVENTS`, `FIXTURE_GROUP`, `FIXTURE_NAME`, and
//! `FIXTURE_PAUSE_AFTER_COMMIT=1` to stop dead between a commit and its publish.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kafka_runtime::consumer::{self, ConsumerSpec};
use kafka_runtime::metrics::Metrics;
use kafka_runtime::postgres::{self, PgProcessor};
use kafka_runtime::{KafkaConfig, Publisher};
use testkit::ProbeHandler;
use tokio_util::sync::CancellationToken;

fn var(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let kafka = KafkaConfig::from_env()?;
    let shutdown = CancellationToken::new();
    let pool = postgres::connect(&var("FIXTURE_DATABASE_URL")?, 5, &shutdown).await?;
    ProbeHandler::prepare(&pool).await;
    let mut handler = ProbeHandler::new(&var("FIXTURE_NAME")?, var("FIXTURE_EVENTS")?);
    handler.announce = true;
    let mut processor = PgProcessor::new(pool, kafka.topics.clone(), handler);
    if std::env::var("FIXTURE_PAUSE_AFTER_COMMIT").as_deref() == Ok("1") {
        processor = processor.with_after_commit(Arc::new(|messages| {
            for m in messages {
                println!("COMMITTED {}", m.id);
            }
            // Hold here until the test kills the process.
            std::thread::sleep(Duration::from_secs(3600));
        }));
    }
    let spec = ConsumerSpec {
        service: "fixture",
        group: var("FIXTURE_GROUP")?,
        topics: vec![var("FIXTURE_TOPIC")?],
        dlq_topic: format!("{}fixture.dlq", kafka.topics.prefix()),
        queue_per_partition: 16,
        assigned: Default::default(),
    };
    let publisher = Publisher::new(&kafka)?;
    println!("READY");
    let stop = shutdown.clone();
    tokio::spawn(async move {
        kafka_runtime::service::shutdown_signal().await;
        stop.cancel();
    });
    consumer::run(
        &kafka,
        spec,
        Arc::new(processor),
        publisher,
        Metrics::new("fixture"),
        shutdown,
    )
    .await
}
