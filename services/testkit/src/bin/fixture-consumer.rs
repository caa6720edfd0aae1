//! A consumer process for the runtime's own tests: it runs the probe handler so a test
//! can kill it with SIGKILL at chosen moments. Not part of any service.

use std::sync::Arc;
use std::time::Duration;

use kafka_runtime::consumer::{self, ConsumerSpec};
use kafka_runtime::metrics::Metrics;
use kafka_runtime::postgres::{self, PgProcessor};
use kafka_runtime::settings::{boolean, FromEnv};
use kafka_runtime::{KafkaConfig, Publisher};
use secrecy::{ExposeSecret, SecretString};
use testkit::ProbeHandler;
use tokio_util::sync::CancellationToken;

/// What the crash tests tell the fixture, besides the broker.
#[derive(clap::Parser)]
#[command(name = "fixture-consumer")]
struct Config {
    #[command(flatten)]
    kafka: KafkaConfig,
    /// The test's database.
    #[arg(long, env = "FIXTURE_DATABASE_URL", hide_env_values = true)]
    database_url: SecretString,
    /// The topic it consumes.
    #[arg(long, env = "FIXTURE_TOPIC")]
    topic: String,
    /// The topic its probe handler sends events to.
    #[arg(long, env = "FIXTURE_EVENTS")]
    events: String,
    /// Its consumer group.
    #[arg(long, env = "FIXTURE_GROUP")]
    group: String,
    /// The probe handler's name in its effects.
    #[arg(long, env = "FIXTURE_NAME")]
    name: String,
    /// Stops dead between a commit and its publish.
    #[arg(
        long,
        env = "FIXTURE_PAUSE_AFTER_COMMIT",
        default_value = "false",
        action = clap::ArgAction::Set,
        value_parser = boolean
    )]
    pause_after_commit: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Config {
        kafka,
        database_url,
        topic,
        events,
        group,
        name,
        pause_after_commit,
    } = Config::from_env_or_help()?;
    let shutdown = CancellationToken::new();
    let pool = postgres::connect(database_url.expose_secret(), 5, &shutdown).await?;
    ProbeHandler::prepare(&pool).await;
    let mut handler = ProbeHandler::new(&name, events);
    handler.announce = true;
    let mut processor = PgProcessor::new(pool, kafka.topics.clone(), handler);
    if pause_after_commit {
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
        group,
        topics: vec![topic],
        dlq_topic: format!("{}fixture.dlq", kafka.topics.prefix()),
        skipped: Default::default(),
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
