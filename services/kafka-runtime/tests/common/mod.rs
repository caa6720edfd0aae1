//! Shared pieces of the runtime's integration tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use kafka_runtime::postgres::PgProcessor;
use kafka_runtime::telemetry::TraceParent;
use kafka_runtime::Incoming;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use shared_events::{Envelope, RawEnvelope};
use testkit::{service_binary, Probe, ProbeHandler, RunningConsumer, TestBed};
use uuid::Uuid;

/// The offset the next message on a partition will get.
pub async fn high_watermark(bed: &TestBed, topic: &str, partition: i32) -> i64 {
    let consumer: StreamConsumer = bed
        .kafka
        .client_config(&[("group.id", "watermarks")])
        .create()
        .expect("consumer");
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let (_, high) = consumer
            .fetch_watermarks(&topic, partition, Duration::from_secs(5))
            .expect("watermarks");
        drop(consumer);
        high
    })
    .await
    .expect("blocking task")
}

pub type Running = RunningConsumer;

pub async fn start(bed: &TestBed, group: &str, topic: &str, handler: ProbeHandler) -> Running {
    start_skipping(bed, group, topic, &[], handler).await
}

/// [`start`], for a consumer that does not read the types `skipped` on `topic`.
pub async fn start_skipping(
    bed: &TestBed,
    group: &str,
    topic: &str,
    skipped: &[&'static str],
    handler: ProbeHandler,
) -> Running {
    ProbeHandler::prepare(&bed.pool).await;
    let processor = PgProcessor::new(bed.pool.clone(), bed.kafka.topics.clone(), handler);
    RunningConsumer::start_skipping(
        &bed.kafka,
        "probe",
        group,
        vec![topic.to_string()],
        HashMap::from([(topic.to_string(), skipped.to_vec())]),
        processor,
    )
}

/// A probe command in an envelope.
pub fn probe(n: i32) -> Envelope<Probe> {
    Envelope::new(Probe { n }, Uuid::new_v4(), None)
}

/// A record of `probe.commands` as the consumer hands it to a store.
pub fn incoming(payload: &[u8], offset: i64) -> Incoming {
    Incoming {
        topic: "probe.commands".into(),
        partition: 0,
        offset,
        key: None,
        envelope: RawEnvelope::parse(payload).expect("a valid envelope"),
        trace: TraceParent::root(),
    }
}

/// A well-formed envelope whose type no handler knows: rejected by the handler.
pub fn unknown_type() -> Vec<u8> {
    of_type("test.nonsense")
}

/// A well-formed envelope of type `kind`.
pub fn of_type(kind: &str) -> Vec<u8> {
    let mut envelope: serde_json::Value =
        serde_json::from_slice(&probe(0).to_json()).expect("JSON");
    envelope["type"] = kind.into();
    serde_json::to_vec(&envelope).expect("JSON")
}

/// Produces raw bytes; returns the partition and offset.
pub async fn produce(bed: &TestBed, topic: &str, key: &str, payload: &[u8]) -> (i32, i64) {
    bed.produce(topic, key, payload).await
}

/// The offset committed for a group on one partition, if any.
pub async fn committed(bed: &TestBed, group: &str, topic: &str, partition: i32) -> Option<i64> {
    let consumer: StreamConsumer = bed
        .kafka
        .client_config(&[("group.id", &format!("{}{group}", bed.kafka.topics.prefix()))])
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    let offsets = tokio::task::spawn_blocking(move || {
        let offsets = consumer
            .committed_offsets(tpl, Duration::from_secs(5))
            .expect("committed offsets");
        drop(consumer);
        offsets
    })
    .await
    .expect("blocking task");
    match offsets.elements()[0].offset() {
        Offset::Offset(offset) => Some(offset),
        _ => None,
    }
}

/// The fixture consumer as a child process whose stdout lines can be awaited.
pub struct Fixture {
    pub child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Fixture {
    pub fn spawn(
        bed: &TestBed,
        name: &str,
        group: &str,
        topic: &str,
        events: &str,
        pause_after_commit: bool,
        extra_env: &[(&str, &str)],
    ) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut command = tokio::process::Command::new(service_binary("fixture-consumer"));
        command
            .env("KAFKA_BROKERS", &bed.kafka.brokers)
            .env("KAFKA_TOPIC_PREFIX", bed.kafka.topics.prefix())
            .env("FIXTURE_DATABASE_URL", &bed.database_url)
            .env("FIXTURE_TOPIC", topic)
            .env("FIXTURE_EVENTS", events)
            .env(
                "FIXTURE_GROUP",
                format!("{}{group}", bed.kafka.topics.prefix()),
            )
            .env("FIXTURE_NAME", name)
            .env(
                "FIXTURE_PAUSE_AFTER_COMMIT",
                if pause_after_commit { "1" } else { "0" },
            )
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in extra_env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("fixture-consumer starts");
        let lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self { child, lines }
    }

    /// Waits for a stdout line starting with `prefix`; returns the rest of it.
    pub async fn expect_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let wait = async {
            while let Some(line) = self.lines.next_line().await.expect("fixture stdout") {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return rest.trim().to_string();
                }
            }
            panic!("fixture exited before printing {prefix}");
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or_else(|_| panic!("no {prefix} line in {timeout:?}"))
    }

    /// SIGKILL, and reap.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("SIGKILL");
    }

    /// SIGTERM: the graceful stop a deployment's restart sends.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success(), "SIGTERM to {pid}");
    }

    /// Waits for the process to exit by itself, successfully, within `timeout`.
    pub async fn wait_for_exit(mut self, timeout: Duration) {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .expect("exits in time")
            .expect("exit status");
        assert!(status.success(), "exited with {status}");
    }
}

/// Kafka's `Utils.murmur2`, which the Java client's default partitioner hashes keys
/// with: `partition = (murmur2(key) & 0x7fffffff) % partitions`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client's default partitioner chooses for `key`.
pub fn java_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// A key the Java partitioner sends to `partition`: `<prefix><n>` for the first n that fits.
pub fn key_for_partition(prefix: &str, partition: i32, partitions: i32) -> String {
    (0..)
        .map(|n| format!("{prefix}{n}"))
        .find(|key| java_partition(key.as_bytes(), partitions) == partition)
        .expect("some key fits")
}
