//! What the machine allows at most, measured in the same run so the platform's numbers
//! read as ratios: the runtime's producer alone, one trip through the broker,
//! PostgreSQL's single-row commits, and the runtime's store applying messages one
//! transaction each against group commit.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_runtime::admin::{create_topics, Replication, TopicSpec};
use kafka_runtime::follow::{follow, Start};
use kafka_runtime::postgres::{ensure_schema, PgProcessor};
use kafka_runtime::{Incoming, KafkaConfig, Outgoing, Processor, Publisher};
use shared_events::messages::payment::GetPayment;
use shared_events::Envelope;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::Connection;
use testkit::{Probe, ProbeHandler};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::load::{histogram, percentiles, record};
use crate::procs::{CpuMeter, Process};

/// The limits of this machine.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Messages a second the runtime's producer gets acknowledged (acks=all).
    pub produce_per_sec: f64,
    /// The same, one message at a time (each waits for its ack): one request each.
    pub produce_one_at_a_time_per_sec: f64,
    /// The broker's CPU per acknowledged message, in ms: in bulk, then one at a time.
    pub broker_cpu_ms_per_message: (f64, f64),
    /// One message produced and read back, p50 and p99 in ms.
    pub round_trip_ms: (f64, f64),
    /// Single-row INSERT commits a second on one connection.
    pub pg_commits_per_sec: f64,
    /// The same on 8 connections at once.
    pub pg_commits_per_sec_8: f64,
    /// Messages a second through the runtime's PostgreSQL store (inbox, a handler's
    /// insert, outbox), one transaction each, then in batches of [`GROUP`].
    pub store_per_sec: (f64, f64),
}

/// The batch size of the group-commit measurement: the consumer's largest batch.
pub const GROUP: usize = 64;

/// A message the size of a placed order's command.
fn payload(size: usize) -> Vec<u8> {
    let mut bytes = Envelope::new(
        GetPayment {
            order_id: Uuid::new_v4(),
        },
        Uuid::new_v4(),
        None,
    )
    .to_json();
    bytes.resize(size.max(bytes.len()), b' ');
    bytes
}

/// Measures the producer and the broker round trip on a topic of their own.
pub async fn kafka(
    kafka: &KafkaConfig,
    messages: usize,
    size: usize,
    seconds: f64,
    broker: &[Process],
) -> anyhow::Result<Limits> {
    let topic = format!(
        "{}bench.raw.{}",
        kafka.topics.prefix(),
        Uuid::new_v4().simple()
    );
    let spec = TopicSpec {
        name: topic.clone(),
        partitions: 6,
        replication: Replication::SINGLE,
        retention_ms: 600_000,
        compact: false,
    };
    create_topics(kafka, &[spec]).await?;
    let publisher = Publisher::new(kafka)?;
    let body = payload(size);
    let outgoing = |n: usize| Outgoing {
        id: Uuid::new_v4(),
        topic: topic.clone(),
        key: n.to_string(),
        kind: "bench.raw".into(),
        payload: body.clone(),
        traceparent: None,
    };
    let meter = CpuMeter::start(broker);
    let start = Instant::now();
    let sends = (0..messages).map(|n| {
        let outgoing = outgoing(n);
        let publisher = publisher.clone();
        async move { publisher.send(&outgoing).await }
    });
    // Messages the broker could not take in time are not counted.
    let acknowledged = futures::future::join_all(sends)
        .await
        .iter()
        .filter(|sent| sent.is_ok())
        .count();
    let produce_per_sec = acknowledged as f64 / start.elapsed().as_secs_f64();
    let bulk_cpu = cpu_ms_per(&meter, acknowledged);

    // One at a time: every message is a produce request of its own, as in a quiet saga.
    let meter = CpuMeter::start(broker);
    let start = Instant::now();
    let mut one_by_one = 0;
    while start.elapsed().as_secs_f64() < seconds {
        publisher.send(&outgoing(one_by_one)).await?;
        one_by_one += 1;
    }
    let produce_one_at_a_time_per_sec = one_by_one as f64 / start.elapsed().as_secs_f64();
    let single_cpu = cpu_ms_per(&meter, one_by_one);

    let arrivals: Arc<Mutex<Vec<(Uuid, Instant)>>> = Arc::default();
    let seen = arrivals.clone();
    let stop = CancellationToken::new();
    let reader = follow(
        kafka,
        &topic,
        Start::End,
        stop.clone(),
        move |probe: Envelope<GetPayment>| {
            seen.lock()
                .expect("not poisoned")
                .push((probe.data.order_id, Instant::now()));
        },
    )
    .await?;
    let mut trips = histogram();
    for _ in 0..200 {
        let id = Uuid::new_v4();
        let probe = Envelope::new(GetPayment { order_id: id }, Uuid::new_v4(), None);
        let sent = Instant::now();
        publisher
            .send(&Outgoing::new(topic.clone(), id, &probe))
            .await?;
        let deadline = sent + Duration::from_secs(5);
        loop {
            let arrived = arrivals
                .lock()
                .expect("not poisoned")
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, at)| *at);
            if let Some(at) = arrived {
                record(&mut trips, at - sent);
                break;
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    stop.cancel();
    reader.finished().await;
    let (p50, p99, _) = percentiles(&trips);
    Ok(Limits {
        produce_per_sec,
        produce_one_at_a_time_per_sec,
        broker_cpu_ms_per_message: (bulk_cpu, single_cpu),
        round_trip_ms: (p50, p99),
        ..Limits::default()
    })
}

/// CPU of the measured process (the broker) in ms per message since `meter` started;
/// NaN when the broker's pid is unknown.
fn cpu_ms_per(meter: &CpuMeter, messages: usize) -> f64 {
    let seconds = meter.elapsed_seconds();
    meter.stop().first().map_or(f64::NAN, |usage| {
        usage.cpu_percent / 100.0 * seconds * 1000.0 / messages.max(1) as f64
    })
}

/// Single-row commits a second, on 1 and on 8 connections, in a table of its own.
pub async fn postgres(database_url: &str, seconds: f64) -> anyhow::Result<(f64, f64)> {
    let mut setup = sqlx::PgConnection::connect(database_url).await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS bench_commits (id uuid PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
        .execute(&mut setup)
        .await?;
    let one = commits(database_url, 1, seconds).await?;
    let eight = commits(database_url, 8, seconds).await?;
    sqlx::query("DROP TABLE bench_commits")
        .execute(&mut setup)
        .await?;
    Ok((one, eight))
}

async fn commits(database_url: &str, connections: usize, seconds: f64) -> anyhow::Result<f64> {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let workers = (0..connections).map(|_| async move {
        let mut connection = sqlx::PgConnection::connect(database_url).await?;
        let mut done = 0_u64;
        while Instant::now() < until {
            sqlx::query("INSERT INTO bench_commits (id) VALUES ($1)")
                .bind(Uuid::new_v4())
                .execute(&mut connection)
                .await?;
            done += 1;
        }
        anyhow::Ok(done)
    });
    let start = Instant::now();
    let total: u64 = futures::future::try_join_all(workers)
        .await?
        .into_iter()
        .sum();
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// The runtime's store on its own, without Kafka: the test probe handler (one row, one
/// event) applied one transaction per message, then [`GROUP`] messages per transaction,
/// in a throwaway database, on one connection like a partition task.
pub async fn store(
    admin_url: &str,
    kafka: &KafkaConfig,
    seconds: f64,
) -> anyhow::Result<(f64, f64)> {
    const DATABASE: &str = "bench_runtime_store";
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
        .execute(&mut admin)
        .await?;
    let options: PgConnectOptions = admin_url.parse::<PgConnectOptions>()?.database(DATABASE);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    ensure_schema(&pool).await?;
    ProbeHandler::prepare(&pool).await;
    let handler = ProbeHandler::new("bench", format!("{}bench.events", kafka.topics.prefix()));
    let processor = PgProcessor::new(pool.clone(), kafka.topics.clone(), handler);

    let one_each = apply_for(&processor, seconds, false).await?;
    let grouped = apply_for(&processor, seconds, true).await?;

    pool.close().await;
    // FORCE: the closed connection's backend may still be on its way out.
    sqlx::query(&format!("DROP DATABASE {DATABASE} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    Ok((one_each, grouped))
}

async fn apply_for(
    processor: &PgProcessor<ProbeHandler>,
    seconds: f64,
    grouped: bool,
) -> anyhow::Result<f64> {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut done = 0;
    let mut offset = 0;
    while Instant::now() < until {
        let batch: Vec<Incoming> = (0..GROUP)
            .map(|_| {
                offset += 1;
                let probe = Envelope::new(Probe { n: offset as i32 }, Uuid::new_v4(), None);
                Incoming {
                    offset,
                    ..Incoming::of("bench.store", &probe)
                }
            })
            .collect();
        if grouped {
            let applied = processor
                .apply_all(&batch.iter().collect::<Vec<_>>())
                .await
                .expect("PostgreSQL commits batches")?;
            anyhow::ensure!(applied.len() == batch.len(), "every message applied");
        } else {
            for message in &batch {
                processor.apply(message).await?;
            }
        }
        done += batch.len();
    }
    Ok(done as f64 / start.elapsed().as_secs_f64())
}
