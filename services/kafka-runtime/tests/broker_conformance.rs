//! What the project needs from its Kafka-protocol broker, so a change of broker is a
//! one-line decision backed by a test: an idle consumer does not spin, a group recovers
//! within its session timeout after a member is killed with SIGKILL, and committed
//! offsets and replay behave.

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{probe, produce, start, Fixture};
use kafka_runtime::testkit::{eventually, ProbeHandler, TestBed};
use kafka_runtime::tools;
use kafka_runtime::Publisher;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{ClientContext, Statistics};

/// Local brokers measured not to expire a member killed without leaving its group
/// (docs/broker.md). Apache Kafka does; a broker not listed here must.
const KNOWN_NOT_TO_EXPIRE_KILLED_MEMBERS: [&str; 2] = ["tansu", "noida"];

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
    poll(4); // join the group and settle
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_killed_with_sigkill_is_expired_within_its_session_timeout_on_conforming_brokers()
{
    let bed = TestBed::new().await;
    let commands = bed.topic("probe.commands", 4).await;
    let events = bed.topic("probe.events", 4).await;
    let session_timeout = Duration::from_secs(6);
    let session_ms = session_timeout.as_millis().to_string();
    let survivor_bed = TestBed {
        kafka: bed
            .kafka
            .clone()
            .with("session.timeout.ms", &session_ms)
            .with("heartbeat.interval.ms", "1000")
            .with("max.poll.interval.ms", "8000"),
        database_url: bed.database_url.clone(),
        pool: bed.pool.clone(),
    };
    let survivor = start(
        &survivor_bed,
        "g",
        &commands,
        ProbeHandler::new("survivor", events.clone()),
    )
    .await;
    produce(&bed, &commands, "warm-up", &probe(0).to_json()).await;
    eventually("the survivor works", Duration::from_secs(60), || async {
        !bed.effects().await.is_empty()
    })
    .await;

    // A second member joins and takes some partitions; then it is killed without leaving.
    let extra = [
        ("RDKAFKA_SESSION_TIMEOUT_MS", session_ms.as_str()),
        ("RDKAFKA_HEARTBEAT_INTERVAL_MS", "1000"),
        ("RDKAFKA_MAX_POLL_INTERVAL_MS", "8000"),
    ];
    let mut victim = Fixture::spawn(&bed, "victim", "g", &commands, &events, false, &extra);
    victim.expect_line("READY", Duration::from_secs(30)).await;
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !bed.effects().await.iter().any(|e| e.1 == "victim") {
        assert!(
            Instant::now() < deadline,
            "the second member never got a partition"
        );
        n += 1;
        produce(&bed, &commands, &format!("k{n}"), &probe(n).to_json()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    victim.kill().await;
    let killed_at = Instant::now();
    let before = bed.effects().await.len();
    for i in 0..16 {
        n += 1;
        produce(&bed, &commands, &format!("after-{i}"), &probe(n).to_json()).await;
    }
    let took_over = || async { bed.effects().await.len() >= before + 16 };
    // Expiry takes the session timeout, then one join round: twice the timeout and a
    // margin is generous.
    let limit = session_timeout * 2 + Duration::from_secs(10);
    let mut recovered = None;
    while killed_at.elapsed() < limit {
        if took_over().await {
            recovered = Some(killed_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let broker = std::env::var("DEV_BROKER").unwrap_or_default();
    eprintln!("broker {broker:?}: group recovered after SIGKILL in {recovered:?} (session timeout {session_timeout:?})");
    if KNOWN_NOT_TO_EXPIRE_KILLED_MEMBERS.contains(&broker.as_str()) {
        // Measured and recorded in docs/broker.md. Should the broker start expiring
        // killed members, this fails: update the list and the docs.
        assert_eq!(
            recovered, None,
            "{broker} now expires killed members: update docs/broker.md"
        );
    } else {
        assert!(
            recovered.is_some(),
            "the group did not recover within {limit:?}"
        );
    }
    survivor.stop().await;
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
    // Replay the first command from the shell's line format, same id.
    let line = format!(
        "a\t{}",
        String::from_utf8(replayed.to_json()).expect("utf8")
    );
    let (key, value) = tools::parse_replay_line(&line).expect("line");
    tools::replay_one(
        &Publisher::new(&bed.kafka).expect("publisher"),
        &commands,
        key,
        value,
    )
    .await
    .expect("replayed");

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
