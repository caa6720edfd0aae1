//! What the project needs from its Kafka-protocol broker, so a change of broker is a
//! one-line decision backed by tests (docs/broker.md): an idle consumer does not spin and
//! a fetch is answered when data arrives; a killed member is expired and the survivor
//! processes everything exactly once; a group forms again after restarts of every kind;
//! records kept "forever" and acknowledged records outlive the broker's maintenance and a
//! SIGKILL; committed offsets and replay behave; keys land where the Java client puts them.
//!
//! Every case runs against the broker `./dev` starts, Apache Kafka, and must pass: there
//! is no list of exceptions.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{java_partition, key_for_partition, murmur2, probe, produce, start, Fixture};
use kafka_runtime::admin::{create_topics, Replication, TopicSpec, KEEP_FOREVER_MS};
use kafka_runtime::{tools, KafkaConfig, Publisher};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::OwnedHeaders;
use rdkafka::{ClientContext, Message, Statistics};
use testkit::{eventually, free_port, ProbeHandler, TestBed};

/// The session settings the group tests give their members: a killed member is expired
/// after six seconds.
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
const FAST_SESSION: [(&str, &str); 2] = [
    ("RDKAFKA_SESSION_TIMEOUT_MS", "6000"),
    ("RDKAFKA_HEARTBEAT_INTERVAL_MS", "1000"),
];

/// Counts the fetch requests librdkafka reports.
#[derive(Default, Clone)]
struct FetchCounter(Arc<AtomicI64>);

impl ClientContext for FetchCounter {
    fn stats(&self, statistics: Statistics) {
        let fetches: i64 = statistics
            .brokers
            .values()
            .filter(|b| b.nodeid >= 0)
            .map(|b| b.req.get("Fetch").copied().unwrap_or(0))
            .sum();
        self.0.store(fetches, Ordering::SeqCst);
    }
}

impl ConsumerContext for FetchCounter {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_consumer_does_not_spin() {
    let bed = TestBed::new().await;
    let topic = bed.topic("idle", 1).await;
    let counter = FetchCounter::default();
    let consumer: BaseConsumer<FetchCounter> = bed
        .kafka
        .client_config(&[
            ("group.id", &format!("{}idle", bed.kafka.topics.prefix())),
            ("statistics.interval.ms", "1000"),
        ])
        .create_with_context(counter.clone())
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let fetch_wait_ms: f64 = bed
        .kafka
        .overrides
        .iter()
        .find(|(k, _)| k == "fetch.wait.max.ms")
        .map(|(_, v)| v.parse().expect("number"))
        .unwrap_or(500.0);
    let poll = |seconds: u64| {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        while Instant::now() < deadline {
            assert!(
                consumer.poll(Duration::from_millis(100)).is_none(),
                "the topic is empty"
            );
        }
    };
    // Join the group (seconds on a fresh group: the coordinator waits for other members),
    // then settle.
    let joined = Instant::now() + Duration::from_secs(60);
    while consumer.assignment().map(|a| a.count()).unwrap_or(0) == 0 {
        assert!(
            Instant::now() < joined,
            "the consumer never got its partition"
        );
        poll(1);
    }
    poll(2);
    let (before, started) = (counter.0.load(Ordering::SeqCst), Instant::now());
    poll(5);
    let per_second =
        (counter.0.load(Ordering::SeqCst) - before) as f64 / started.elapsed().as_secs_f64();
    // A broker that honours fetch.wait.max.ms answers an empty fetch after that wait,
    // so a consumer sends at most about 1000/wait fetches a second. One that ignores
    // it is asked thousands of times a second.
    let ceiling = 2.0 * 1000.0 / fetch_wait_ms + 5.0;
    eprintln!("idle consumer: {per_second:.1} fetches/s (ceiling {ceiling:.0}, fetch.wait.max.ms {fetch_wait_ms})");
    assert!(per_second > 0.0, "statistics reported no fetches at all");
    assert!(
        per_second <= ceiling,
        "idle consumer spins: {per_second:.0} fetches/s"
    );
    tokio::task::spawn_blocking(move || drop(consumer))
        .await
        .ok();
}

/// A consumer waiting in a fetch of up to 500 ms gets a record produced meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_is_answered_when_data_arrives() {
    let bed = TestBed::new().await;
    let topic = bed.topic("arrivals", 1).await;
    let wait_ms = 500;
    let consumer: BaseConsumer = bed
        .kafka
        .clone()
        .with("fetch.wait.max.ms", &wait_ms.to_string())
        .client_config(&[
            (
                "group.id",
                &format!("{}arrivals", bed.kafka.topics.prefix()),
            ),
            ("auto.offset.reset", "earliest"),
        ])
        .create()
        .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let consumer = Arc::new(consumer);
    let publisher = Publisher::new(&bed.kafka).expect("publisher");
    // Round 0 waits for the group to form; the rounds after it are measured.
    let mut latencies = Vec::new();
    for round in 0..21 {
        let reader = consumer.clone();
        let received = tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Some(Ok(m)) = reader.poll(Duration::from_millis(50)) {
                    return Some((Instant::now(), m.payload().map(<[u8]>::to_vec)));
                }
            }
            None
        });
        // Let the consumer settle into a waiting fetch before producing.
        tokio::time::sleep(Duration::from_millis(if round == 0 { 3000 } else { 150 })).await;
        let sent = Instant::now();
        let value = format!("r{round}");
        publisher
            .send_raw(&topic, b"k", value.as_bytes(), OwnedHeaders::new())
            .await
            .expect("produced");
        let (at, payload) = received
            .await
            .expect("reader")
            .expect("the record arrives within 30 s");
        assert_eq!(payload.as_deref(), Some(value.as_bytes()));
        if round > 0 {
            latencies.push(at.saturating_duration_since(sent));
        }
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    eprintln!(
        "produce-to-consume median {median:?}, max {:?} (fetch.wait.max.ms {wait_ms})",
        latencies.last()
    );
    let half = Duration::from_millis(wait_ms / 2);
    assert!(
        median < half,
        "fetches waited for the timeout: median {median:?}"
    );
    tokio::task::spawn_blocking(move || drop(consumer))
        .await
        .ok();
}

/// Two members share six partitions; one is killed with SIGKILL. The survivor takes every
/// partition within the session timeout plus a rebalance and applies every record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_killed_with_sigkill_is_expired_and_the_survivor_applies_everything_once() {
    let bed = TestBed::new().await;
    let partitions = 6;
    let commands = bed.topic("probe.commands", partitions).await;
    let events = bed.topic("probe.events", partitions).await;
    let mut survivor = Fixture::spawn(
        &bed,
        "survivor",
        "g",
        &commands,
        &events,
        false,
        &FAST_SESSION,
    );
    survivor.expect_line("READY", Duration::from_secs(30)).await;
    let mut victim = Fixture::spawn(
        &bed,
        "victim",
        "g",
        &commands,
        &events,
        false,
        &FAST_SESSION,
    );
    victim.expect_line("READY", Duration::from_secs(30)).await;

    // One record per partition until both members have applied some.
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let effects = bed.effects().await;
        let by = |who: &str| effects.iter().any(|e| e.1 == who);
        if by("survivor") && by("victim") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the two members never shared the work"
        );
        for p in 0..partitions {
            n += 1;
            let key = key_for_partition("k", p, partitions);
            produce(&bed, &commands, &key, &probe(n).to_json()).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    victim.kill().await;
    let killed_at = Instant::now();
    let before = n;
    for p in 0..partitions {
        for _ in 0..3 {
            n += 1;
            let key = key_for_partition("after", p, partitions);
            produce(&bed, &commands, &key, &probe(n).to_json()).await;
        }
    }
    let limit = SESSION_TIMEOUT * 2 + Duration::from_secs(10);
    let mut recovered = None;
    while killed_at.elapsed() < limit {
        let effects = bed.effects().await;
        if (before + 1..=n).all(|k| effects.iter().any(|e| e.2 == k)) {
            recovered = Some(killed_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("every partition served again {recovered:?} after SIGKILL (session timeout {SESSION_TIMEOUT:?})");
    assert!(
        recovered.is_some(),
        "the survivor did not take over within {limit:?}"
    );
    let effects = bed.effects().await;
    let mut applied: Vec<i32> = effects.iter().map(|e| e.2).collect();
    applied.dedup();
    assert_eq!(applied, (1..=n).collect::<Vec<_>>(), "every record once");
    assert_eq!(effects.len(), n as usize, "no record applied twice");
    survivor.kill().await;
}

/// Twenty rounds of graceful restarts of a two-member group: both together, then one by
/// one with the second stopped while the group is still rebalancing after the first (so
/// the group's leader goes mid-rebalance in some rounds). Every round, every partition is
/// served again within 30 s, and no record is applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_forms_again_within_30_s_after_each_of_twenty_graceful_restarts() {
    let bed = TestBed::new().await;
    let partitions = 6;
    let commands = bed.topic("probe.commands", partitions).await;
    let events = bed.topic("probe.events", partitions).await;
    let spawn =
        |name: String| Fixture::spawn(&bed, &name, "g", &commands, &events, false, &FAST_SESSION);
    let mut members = vec![spawn("m0-0".into()), spawn("m1-0".into())];
    let mut n = 0;
    let mut worst = Duration::ZERO;
    for round in 0..=20 {
        if round > 0 {
            if round % 2 == 1 {
                for member in &members {
                    member.terminate();
                }
                for member in members.drain(..) {
                    member.wait_for_exit(Duration::from_secs(20)).await;
                }
                members = vec![spawn(format!("m0-{round}")), spawn(format!("m1-{round}"))];
            } else {
                for (i, member) in members.iter_mut().enumerate() {
                    let old = std::mem::replace(member, spawn(format!("m{i}-{round}")));
                    old.terminate();
                    old.wait_for_exit(Duration::from_secs(20)).await;
                }
            }
        }
        let restarted = Instant::now();
        let first = n + 1;
        for p in 0..partitions {
            n += 1;
            let key = key_for_partition("r", p, partitions);
            produce(&bed, &commands, &key, &probe(n).to_json()).await;
        }
        let served = || async {
            let effects = bed.effects().await;
            (first..=n).all(|k| effects.iter().any(|e| e.2 == k))
        };
        eventually(
            &format!("round {round}: every partition served again"),
            Duration::from_secs(30),
            served,
        )
        .await;
        worst = worst.max(restarted.elapsed());
        eprintln!(
            "round {round}: served again after {:?}",
            restarted.elapsed()
        );
    }
    eprintln!("20 restarts, slowest {worst:?}");
    let effects = bed.effects().await;
    assert_eq!(effects.len(), n as usize, "no record applied twice");
    for member in members {
        member.terminate();
        member.wait_for_exit(Duration::from_secs(20)).await;
    }
}

/// A broker of the kind `./dev` runs, on its own port and data directory (`./dev
/// broker-run`), so a test can kill it without disturbing the others. Its retention check
/// runs every second, so records that it would wrongly expire are gone by the time they
/// are read.
struct OwnBroker {
    ports: (u16, u16),
    dir: PathBuf,
    child: tokio::process::Child,
}

impl OwnBroker {
    async fn start(dir: PathBuf, ports: (u16, u16)) -> Self {
        let script = std::env::var("DEV_SCRIPT")
            .expect("DEV_SCRIPT: run the conformance tests through ./dev test");
        let (port, controller) = (ports.0.to_string(), ports.1.to_string());
        let child = tokio::process::Command::new(script)
            .args(["broker-run", &port, &dir.to_string_lossy(), &controller])
            .env("BROKER_PROPERTIES", "log.retention.check.interval.ms=1000")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("./dev broker-run");
        let broker = Self { ports, dir, child };
        let kafka = broker.kafka();
        eventually("the broker answers", Duration::from_secs(60), || {
            let kafka = kafka.clone();
            async move {
                tokio::task::spawn_blocking(move || tools::ping(&kafka, Duration::from_secs(2)))
                    .await
                    .expect("ping")
                    .is_ok()
            }
        })
        .await;
        broker
    }

    fn kafka(&self) -> KafkaConfig {
        KafkaConfig {
            brokers: format!("127.0.0.1:{}", self.ports.0),
            ..KafkaConfig::local("conformance.")
        }
    }

    /// SIGKILL, then the same command on the same data.
    async fn kill_and_restart(mut self) -> Self {
        self.child.kill().await.expect("SIGKILL");
        Self::start(self.dir, self.ports).await
    }
}

/// Records in topics kept "forever" (-1, what the platform's long topics use) and for 100
/// years, the last
/// one acknowledged just before the broker was killed with SIGKILL, are all readable
/// once it has started again on the same data and its retention check has run over them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_kept_forever_survive_the_retention_check_and_a_broker_killed_with_sigkill() {
    let dir = std::env::temp_dir().join(format!("conformance-broker-{}", uuid::Uuid::new_v4()));
    let own = OwnBroker::start(dir.clone(), (free_port(), free_port())).await;
    let kafka = own.kafka();
    let topics = [
        ("kept-forever", KEEP_FOREVER_MS),
        ("kept-100y", 36_525 * 24 * 3_600 * 1_000),
    ];
    let specs: Vec<TopicSpec> = topics
        .iter()
        .map(|(name, retention_ms)| TopicSpec {
            name: name.to_string(),
            partitions: 1,
            replication: Replication::SINGLE,
            retention_ms: *retention_ms,
            compact: false,
        })
        .collect();
    create_topics(&kafka, &specs).await.expect("topics");
    let publisher = Publisher::new(&kafka).expect("publisher");
    for (name, _) in &topics {
        for i in 0..10 {
            publisher
                .send_raw(
                    name,
                    b"k",
                    format!("{name}-{i}").as_bytes(),
                    OwnedHeaders::new(),
                )
                .await
                .expect("acknowledged");
        }
    }
    drop(publisher);

    let own = own.kill_and_restart().await;
    // Three of its retention checks.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let bed = TestBed {
        kafka: own.kafka(),
        ..TestBed::new().await
    };
    for (topic, retention_ms) in &topics {
        let read = bed
            .read(topic, 10, Duration::from_secs(15), Duration::from_secs(1))
            .await;
        eprintln!(
            "{topic} (retention.ms {retention_ms}): {} of 10 records after SIGKILL and restart",
            read.len()
        );
        let values: Vec<String> = read
            .iter()
            .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
            .collect();
        assert_eq!(
            values,
            (0..10).map(|i| format!("{topic}-{i}")).collect::<Vec<_>>()
        );
    }
    drop(own);
    std::fs::remove_dir_all(&dir).ok();
}

/// Kafka's own test vectors for murmur2 (`UtilsTest.testMurmur2`).
#[test]
fn murmur2_matches_kafkas_known_values() {
    let cases: [(&[u8], i32); 6] = [
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (
            b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
        ),
        (b"abc", 479_470_107),
    ];
    for (key, hash) in cases {
        assert_eq!(murmur2(key), hash, "{}", String::from_utf8_lossy(key));
    }
}

/// The runtime's producer (services, `./dev replay`) puts a key on the partition the
/// Java client (kafka-console-producer) would, so a replayed command stays in order with
/// the rest of its aggregate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_land_on_the_partition_the_java_client_chooses() {
    let bed = TestBed::new().await;
    let partitions = 6;
    let topic = bed.topic("placement", partitions).await;
    for i in 0..60 {
        let key = uuid::Uuid::new_v4().to_string();
        let (partition, _) = produce(&bed, &topic, &key, format!("{i}").as_bytes()).await;
        assert_eq!(
            partition,
            java_partition(key.as_bytes(), partitions),
            "key {key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_a_restart_and_a_replay_is_deduplicated() {
    let bed = TestBed::new().await;
    let commands = bed.topic("probe.commands", 2).await;
    let events = bed.topic("probe.events", 2).await;

    let first = start(
        &bed,
        "g",
        &commands,
        ProbeHandler::new("first", events.clone()),
    )
    .await;
    let replayed = probe(1);
    produce(&bed, &commands, "a", &replayed.to_json()).await;
    for n in 2..=5 {
        produce(&bed, &commands, &format!("k{n}"), &probe(n).to_json()).await;
    }
    eventually("five applied", Duration::from_secs(60), || async {
        bed.effects().await.len() == 5
    })
    .await;
    first.stop().await;

    for n in 6..=8 {
        produce(&bed, &commands, &format!("k{n}"), &probe(n).to_json()).await;
    }
    // Replay the first command with kafka-console-producer, same key and id.
    let line = format!(
        "a\t{}\n",
        String::from_utf8(replayed.to_json()).expect("utf8")
    );
    bed.console_produce(&commands, &line).await;

    let second = start(
        &bed,
        "g",
        &commands,
        ProbeHandler::new("second", events.clone()),
    )
    .await;
    let duplicates = second.metrics.duplicates.with_label_values(&[&commands]);
    eventually("the replay is seen", Duration::from_secs(60), || async {
        duplicates.get() == 1
    })
    .await;
    eventually("eight applied", Duration::from_secs(60), || async {
        bed.effects().await.len() == 8
    })
    .await;
    // The restarted member resumed at the committed offsets: it consumed only the 3 new
    // messages and the replay, not the 5 already applied.
    assert_eq!(
        second
            .metrics
            .consumed
            .with_label_values(&[&commands])
            .get(),
        4
    );
    let effects = bed.effects().await;
    assert_eq!(
        effects.iter().map(|e| e.2).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    second.stop().await;

    // A new group reads the whole history again: the topic keeps it.
    let history = bed
        .read(
            &commands,
            9,
            Duration::from_secs(60),
            Duration::from_secs(1),
        )
        .await;
    assert_eq!(history.len(), 9);
}
