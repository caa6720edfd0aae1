//! A test's own topic prefix and databases, and a reader for what reached a topic.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kafka_runtime::admin::{create_topics, Replication, TopicSpec, KEEP_FOREVER_MS};
use kafka_runtime::config::KafkaConfig;
use kafka_runtime::postgres;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::Message as _;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::probe::ProbeHandler;

/// A test's own topic prefix and database.
pub struct TestBed {
    /// Kafka settings with the test's prefix.
    pub kafka: KafkaConfig,
    /// The test database's URL.
    pub database_url: String,
    /// A pool on the test database, with the runtime's tables.
    pub pool: PgPool,
    /// The producer of `produce`, made at its first use: an idempotent producer's first
    /// record waits about half a second for its producer id, once per producer.
    pub publisher: OnceLock<kafka_runtime::Publisher>,
}

impl TestBed {
    /// A new prefix `t<id>.` and a new database `t_<id>`.
    pub async fn new() -> Self {
        let id = Uuid::new_v4().simple().to_string()[..12].to_string();
        let kafka = KafkaConfig::from_env().expect("the Kafka settings");
        let kafka = KafkaConfig {
            topics: shared_events::Topics::new(format!("t{id}.")),
            ..kafka
        };
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://commerce:commerce@127.0.0.1:5432/postgres".into());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("TEST_DATABASE_URL reachable (run ./dev test)");
        sqlx::query(&format!("CREATE DATABASE t_{id}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        admin.close().await.ok();
        let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
        let database_url = format!("{base}/t_{id}");
        let never = tokio_util::sync::CancellationToken::new();
        let pool = postgres::connect(&database_url, 10, &never)
            .await
            .expect("test database");
        // The probe handler's table, so `effects()` can be read before any consumer ran.
        ProbeHandler::prepare(&pool).await;
        Self {
            kafka,
            database_url,
            pool,
            publisher: OnceLock::new(),
        }
    }

    /// [`TestBed::new`] on `brokers` (a cluster of the test's own, [`crate::KafkaCluster`])
    /// instead of the shared broker; the services it starts are given them too.
    pub async fn on_brokers(brokers: &str) -> Self {
        let mut bed = Self::new().await;
        bed.kafka.brokers = brokers.to_string();
        bed
    }

    /// Another database for this test, `t_<id>_<name>`, for a service that must not
    /// share one with the others (each service migrates its own); its URL and a pool.
    pub async fn database(&self, name: &str) -> (String, PgPool) {
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://commerce:commerce@127.0.0.1:5432/postgres".into());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("TEST_DATABASE_URL reachable");
        let database = format!(
            "{}_{name}",
            self.database_url.rsplit('/').next().expect("name")
        );
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        admin.close().await.ok();
        let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
        let url = format!("{base}/{database}");
        let never = tokio_util::sync::CancellationToken::new();
        let pool = postgres::connect(&url, 5, &never)
            .await
            .expect("test database");
        (url, pool)
    }

    /// Creates a topic under the test's prefix and returns its full name.
    pub async fn topic(&self, base: &str, partitions: i32) -> String {
        let name = format!("{}{base}", self.kafka.topics.prefix());
        let spec = TopicSpec {
            name: name.clone(),
            partitions,
            replication: Replication::SINGLE,
            retention_ms: KEEP_FOREVER_MS,
            compact: false,
        };
        create_topics(&self.kafka, &[spec])
            .await
            .expect("create topic");
        name
    }

    /// Produces raw bytes without headers, as a console producer would; returns the
    /// partition and offset.
    pub async fn produce(&self, topic: &str, key: &str, payload: &[u8]) -> (i32, i64) {
        self.publisher
            .get_or_init(|| kafka_runtime::Publisher::new(&self.kafka).expect("publisher"))
            .send_raw(
                topic,
                key.as_bytes(),
                payload,
                rdkafka::message::OwnedHeaders::new(),
            )
            .await
            .expect("produced")
    }

    /// Types `KEY<TAB>VALUE` lines into Apache Kafka's own `kafka-console-producer`, as
    /// an operator replays commands (`./dev replay`): the JVM tool, its partitioner and
    /// no headers. `KAFKA_BIN` names the directory `./dev` installs it in.
    pub async fn console_produce(&self, topic: &str, lines: &str) {
        use tokio::io::AsyncWriteExt;
        let bin = std::env::var("KAFKA_BIN").expect(
            "KAFKA_BIN: run this test through ./dev test, which installs the console tools",
        );
        let mut producer = tokio::process::Command::new(format!("{bin}/kafka-console-producer"))
            .args(["--bootstrap-server", &self.kafka.brokers, "--topic", topic])
            .args(["--reader-property", "parse.key=true"])
            .stdin(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("kafka-console-producer starts");
        let mut stdin = producer.stdin.take().expect("stdin");
        stdin
            .write_all(lines.as_bytes())
            .await
            .expect("lines written");
        drop(stdin);
        let status = tokio::time::timeout(Duration::from_secs(60), producer.wait())
            .await
            .expect("kafka-console-producer ends within 60 s")
            .expect("kafka-console-producer ran");
        assert!(status.success(), "kafka-console-producer failed: {status}");
    }

    /// Reads `topic` from the beginning with a fresh group until `count` messages came or
    /// `timeout` passed, then keeps reading for `settle` to catch extras.
    pub async fn read(
        &self,
        topic: &str,
        count: usize,
        timeout: Duration,
        settle: Duration,
    ) -> Vec<ReadMessage> {
        // Every partition assigned from the start, without a group: joining a new group
        // costs seconds on some brokers (the coordinator waits for other members).
        let consumer: StreamConsumer = self
            .kafka
            .client_config(&[("group.id", "reader"), ("enable.auto.commit", "false")])
            .create()
            .expect("reader");
        let name = topic.to_string();
        let consumer = tokio::task::spawn_blocking(move || {
            let metadata = consumer
                .fetch_metadata(Some(&name), Duration::from_secs(10))
                .expect("topic metadata");
            let mut assignment = rdkafka::TopicPartitionList::new();
            for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
                assignment
                    .add_partition_offset(&name, partition.id(), rdkafka::Offset::Beginning)
                    .expect("offset");
            }
            consumer.assign(&assignment).expect("assign");
            consumer
        })
        .await
        .expect("blocking task");
        let mut found = Vec::new();
        let start = Instant::now();
        let mut deadline = start + timeout;
        let mut settling = false;
        while let Ok(received) = tokio::time::timeout_at(deadline.into(), consumer.recv()).await {
            let Ok(m) = received else { continue };
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_string(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            found.push(ReadMessage {
                key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                payload: m.payload().unwrap_or_default().to_vec(),
                partition: m.partition(),
                offset: m.offset(),
                headers,
            });
            if found.len() >= count && !settling {
                settling = true;
                deadline = Instant::now() + settle;
            }
        }
        tokio::task::spawn_blocking(move || drop(consumer))
            .await
            .ok();
        found
    }

    /// What a service process needs to run against this test's brokers, topics and
    /// database (the other broker settings are inherited from the test's environment).
    /// MongoDB gets a database named like the PostgreSQL one.
    pub fn service_env(&self) -> Vec<(&'static str, String)> {
        let mongo =
            std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
        let database = self.database_url.rsplit('/').next().expect("database name");
        vec![
            ("KAFKA_BROKERS", self.kafka.brokers.clone()),
            ("KAFKA_TOPIC_PREFIX", self.kafka.topics.prefix().to_string()),
            ("DATABASE_URL", self.database_url.clone()),
            (
                "MONGODB_URI",
                format!("{}/{database}", mongo.trim_end_matches('/')),
            ),
        ]
    }

    /// Rows in the probe handler's effects table.
    pub async fn effects(&self) -> Vec<(Uuid, String, i32)> {
        sqlx::query_as("SELECT message_id, consumer, n FROM probe_effects ORDER BY n")
            .fetch_all(&self.pool)
            .await
            .expect("probe_effects readable")
    }
}

/// A message read back by [`TestBed::read`].
#[derive(Debug, Clone)]
pub struct ReadMessage {
    /// Record key.
    pub key: Option<String>,
    /// Record value.
    pub payload: Vec<u8>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Headers as text.
    pub headers: HashMap<String, String>,
}

impl ReadMessage {
    /// The envelope id, when the value is an envelope.
    pub fn id(&self) -> Option<Uuid> {
        shared_events::RawEnvelope::parse(&self.payload)
            .ok()
            .map(|e| e.id)
    }
}
