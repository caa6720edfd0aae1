//! Support for integration tests against the real broker and PostgreSQL: a private
//! topic prefix and database per test, a throwaway handler, and a topic reader.
//!
//! Settings come from the environment `./dev test` prepares: `KAFKA_BROKERS`,
//! `RDKAFKA_*`, and `TEST_DATABASE_URL` (a database the test user may create others from).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::Message as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use shared_events::messages::reply::Reply;
use shared_events::{Envelope, Message};
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::admin::{create_topics, TopicSpec};
use crate::config::KafkaConfig;
use crate::error::HandlerError;
use crate::message::{Incoming, Outbox};
use crate::postgres::{self, PgHandler};

/// A test's own topic prefix and database.
pub struct TestBed {
    /// Kafka settings with the test's prefix.
    pub kafka: KafkaConfig,
    /// The test database's URL.
    pub database_url: String,
    /// A pool on the test database, with the runtime's tables.
    pub pool: PgPool,
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
        }
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
            replication: 1,
            retention_ms: crate::admin::KEEP_FOREVER_MS,
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
        let publisher = crate::Publisher::new(&self.kafka).expect("publisher");
        publisher
            .send_raw(
                topic,
                key.as_bytes(),
                payload,
                rdkafka::message::OwnedHeaders::new(),
            )
            .await
            .expect("produced")
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

/// The throwaway command the runtime's tests send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Probe {
    /// A number to recognise it by.
    pub n: i32,
}

impl Message for Probe {
    const TYPE: &'static str = "test.probe";
}

/// The event a [`Probe`] causes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Probed {
    /// The probe's number.
    pub n: i32,
    /// Which consumer applied it.
    pub consumer: String,
}

impl Message for Probed {
    const TYPE: &'static str = "test.probed";
}

/// Records each probe in `probe_effects`, emits `test.probed` to `events`, and replies
/// `{n, consumer}` when the probe asked for a reply.
#[derive(Clone)]
pub struct ProbeHandler {
    /// Which consumer this is, stored with each effect.
    pub consumer: String,
    /// Where `test.probed` goes.
    pub events: String,
    /// While set, every message fails transiently.
    pub broken: Arc<AtomicBool>,
    /// Prints `PROCESSED <n>` for a parent process to read.
    pub announce: bool,
}

impl ProbeHandler {
    /// A working handler.
    pub fn new(consumer: &str, events: String) -> Self {
        Self {
            consumer: consumer.into(),
            events,
            broken: Arc::default(),
            announce: false,
        }
    }

    /// Creates the effects table.
    pub async fn prepare(pool: &PgPool) {
        sqlx::query("CREATE TABLE IF NOT EXISTS probe_effects (message_id uuid NOT NULL, consumer text NOT NULL, n int NOT NULL)")
            .execute(pool)
            .await
            .expect("probe table");
    }
}

impl PgHandler for ProbeHandler {
    async fn handle(
        &self,
        message: &Incoming,
        tx: &mut PgConnection,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(HandlerError::transient(anyhow::anyhow!(
                "the probe handler is broken on purpose"
            )));
        }
        let probe: Probe = match message.envelope.kind.as_str() {
            Probe::TYPE => message.data()?,
            _ => return Err(message.unknown_type()),
        };
        sqlx::query("INSERT INTO probe_effects (message_id, consumer, n) VALUES ($1, $2, $3)")
            .bind(message.envelope.id)
            .bind(&self.consumer)
            .bind(probe.n)
            .execute(&mut *tx)
            .await?;
        let event = Envelope::caused_by(
            &message.envelope,
            Probed {
                n: probe.n,
                consumer: self.consumer.clone(),
            },
        );
        outbox.send_to(self.events.clone(), probe.n, &event);
        let answer = serde_json::json!({ "n": probe.n, "consumer": self.consumer });
        outbox.reply(
            &message.envelope,
            Reply::success(message.envelope.correlation_id, answer),
        );
        if self.announce {
            println!("PROCESSED {}", probe.n);
        }
        Ok(())
    }
}

/// Waits until `check` holds, polling every 50 ms; panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts a service binary against the test's prefix and database, waits until its
/// `/readyz` answers 200, sends SIGTERM, and asserts that it exits with status 0 within
/// 20 seconds: the life cycle every service must have.
pub async fn assert_service_starts_ready_and_stops_cleanly(binary: &str) {
    let bed = TestBed::new().await;
    crate::admin::create_platform_topics(&bed.kafka, 1)
        .await
        .expect("platform topics");
    let service = ServiceProcess::start(binary, &bed.service_env()).await;
    assert_eq!(http_status(service.port, "/healthz").await, Some(200));
    service.stop().await;
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("addr")
        .port()
}

/// The path of a binary of this workspace. `cargo test --workspace` (what `./dev test`
/// runs) builds every service binary beside the test executables.
pub fn service_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("tests run from target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo test --workspace` (./dev test)",
        path.display()
    );
    path
}

impl TestBed {
    /// What a service process needs to run against this test's topics and database
    /// (the broker settings are inherited from the test's environment). MongoDB gets a
    /// database named like the PostgreSQL one.
    pub fn service_env(&self) -> Vec<(&'static str, String)> {
        let mongo =
            std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
        let database = self.database_url.rsplit('/').next().expect("database name");
        vec![
            ("KAFKA_TOPIC_PREFIX", self.kafka.topics.prefix().to_string()),
            ("DATABASE_URL", self.database_url.clone()),
            (
                "MONGODB_URI",
                format!("{}/{database}", mongo.trim_end_matches('/')),
            ),
        ]
    }
}

/// A service process started for a test, on its own port; killed if dropped running.
pub struct ServiceProcess {
    /// Its HTTP port.
    pub port: u16,
    child: tokio::process::Child,
}

impl ServiceProcess {
    /// Starts `binary` with `env` (plus `HTTP_ADDR` and, unless given, `RUST_LOG=warn`)
    /// and waits up to a minute for its `/readyz` to answer 200.
    pub async fn start(
        binary: impl AsRef<std::ffi::OsStr>,
        env: &[(&'static str, String)],
    ) -> Self {
        let service = Self::launch(binary, env);
        service.ready().await;
        service
    }

    /// Like [`ServiceProcess::start`], without waiting for it to be ready.
    pub fn launch(binary: impl AsRef<std::ffi::OsStr>, env: &[(&'static str, String)]) -> Self {
        let port = free_port();
        let mut command = tokio::process::Command::new(binary);
        command
            .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("service starts");
        Self { port, child }
    }

    /// Waits up to a minute for its `/readyz` to answer 200.
    pub async fn ready(&self) {
        let port = self.port;
        let ready = || async move { http_status(port, "/readyz").await == Some(200) };
        eventually("the service is ready", Duration::from_secs(60), ready).await;
    }

    /// Sends SIGTERM and asserts a clean exit within 20 seconds.
    pub async fn stop(mut self) {
        let pid = self.child.id().expect("running").to_string();
        let signalled = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(signalled.success());
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the service stops within 20 s of SIGTERM")
            .expect("exit status");
        assert!(status.success(), "the service exited with {status}");
    }

    /// Kills it with SIGKILL, as a crash would.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("killed");
    }
}

/// The partitions the service on `port` holds, by consumer group and topic, as its
/// `/metrics` shows them (`consumer_assigned_partitions`).
pub async fn assignment(port: u16) -> BTreeMap<(String, String), BTreeSet<i32>> {
    let answer = http_call(port, "GET", "/metrics", &[], b"").await;
    assert_eq!(
        answer.status, 200,
        "GET /metrics on {port}: {}",
        answer.body
    );
    crate::metrics::parse_assignment(&answer.body)
}

/// The status code of `GET path` on 127.0.0.1:`port`, or `None` when nothing answers.
pub async fn http_status(port: u16, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .ok()?
        .ok()?;
    let head = String::from_utf8_lossy(&response);
    head.split_whitespace().nth(1)?.parse().ok()
}

/// A consumer running inside the test process.
pub struct RunningConsumer {
    /// Its metrics, to wait on counts.
    pub metrics: crate::metrics::Metrics,
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningConsumer {
    /// Starts `processor` on `topics` (full names) in the group `<prefix><group>`, with
    /// rejects going to `<prefix><service>.dlq`.
    pub fn start<P: crate::processor::Processor>(
        kafka: &KafkaConfig,
        service: &'static str,
        group: &str,
        topics: Vec<String>,
        processor: P,
    ) -> Self {
        let prefix = kafka.topics.prefix();
        let spec = crate::consumer::ConsumerSpec {
            service,
            group: format!("{prefix}{group}"),
            topics,
            dlq_topic: format!("{prefix}{service}.dlq"),
            queue_per_partition: 16,
            assigned: Default::default(),
        };
        let metrics = crate::metrics::Metrics::new(service);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let publisher = crate::Publisher::new(kafka).expect("publisher");
        // The test process lives on after the consumer stops: a member left behind would
        // go on heartbeating and holding its partitions.
        let kafka = KafkaConfig {
            leave_group_on_shutdown: true,
            ..kafka.clone()
        };
        let (running_metrics, stop) = (metrics.clone(), shutdown.clone());
        let task = tokio::spawn(async move {
            crate::consumer::run(
                &kafka,
                spec,
                Arc::new(processor),
                publisher,
                running_metrics,
                stop,
            )
            .await
        });
        Self {
            metrics,
            shutdown,
            task,
        }
    }

    /// Stops it the way SIGTERM would, and checks it stopped cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("consumer task")
            .expect("consumer stopped cleanly");
    }
}

/// An HTTP answer read by [`http_request`].
#[derive(Debug)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: HashMap<String, String>,
    /// Body as text.
    pub body: String,
}

impl HttpAnswer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

/// A plain HTTP/1.0 request to 127.0.0.1:`port`, for end-to-end tests.
pub async fn http_request(
    port: u16,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> HttpAnswer {
    let headers: Vec<(&str, &str)> = content_type
        .map(|value| ("Content-Type", value))
        .into_iter()
        .collect();
    http_call(port, method, path, &headers, body).await
}

/// [`http_request`] with any headers.
pub async fn http_call(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpAnswer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.ok();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(40), stream.read_to_end(&mut response))
        .await
        .expect("answer in time")
        .ok();
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    HttpAnswer {
        status,
        headers,
        body: body.to_string(),
    }
}
