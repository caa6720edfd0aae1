//! The runtime's guarantees, against the real broker and PostgreSQL, with a throwaway
//! handler. Each test has its own topic prefix and database.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{committed, high_watermark, probe, produce, start};
use shared_events::derive_id;
use testkit::{eventually, parse_assignment, ProbeHandler, TestBed};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_processed_once_and_its_event_published_under_a_derived_id() {
    let bed = TestBed::new().await;
    let commands = bed.topic("probe.commands", 3).await;
    let events = bed.topic("probe.events", 3).await;
    let consumer = start(&bed, "g", &commands, ProbeHandler::new("a", events.clone())).await;

    let command = probe(1);
    produce(&bed, &commands, "k1", &command.to_json()).await;

    eventually("the effect is stored", WAIT, || async {
        bed.effects().await.len() == 1
    })
    .await;
    let published = bed.read(&events, 1, WAIT, Duration::from_secs(2)).await;
    assert_eq!(published.len(), 1, "exactly one event");
    assert_eq!(
        published[0].id(),
        Some(derive_id(command.id, "test.probed"))
    );
    assert_eq!(
        published[0].headers.get("type").map(String::as_str),
        Some("test.probed")
    );
    assert!(published[0].headers.contains_key("traceparent"));
    assert_eq!(
        consumer
            .metrics
            .processed
            .with_label_values(&[&commands])
            .get(),
        1
    );
    let published = consumer
        .metrics
        .published
        .with_label_values(&[&events, "test.probed"]);
    assert_eq!(
        published.get(),
        1,
        "the event counted once it was acknowledged"
    );
    consumer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_message_delivered_twice_changes_state_once() {
    let bed = TestBed::new().await;
    let commands = bed.topic("probe.commands", 3).await;
    let events = bed.topic("probe.events", 3).await;
    let consumer = start(&bed, "g", &commands, ProbeHandler::new("a", events.clone())).await;

    let command = probe(7);
    produce(&bed, &commands, "k", &command.to_json()).await;
    produce(&bed, &commands, "k", &command.to_json()).await;

    let duplicates = consumer.metrics.duplicates.with_label_values(&[&commands]);
    eventually("the second copy is skipped", WAIT, || async {
        duplicates.get() == 1
    })
    .await;
    assert_eq!(bed.effects().await.len(), 1);
    assert_eq!(
        bed.read(&events, 1, WAIT, Duration::from_secs(2))
            .await
            .len(),
        1
    );
    let published = consumer
        .metrics
        .published
        .with_label_values(&[&events, "test.probed"]);
    assert_eq!(published.get(), 1, "a duplicate publishes nothing");
    consumer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transiently_failing_handler_is_retried_without_committing_its_offset() {
    let bed = TestBed::new().await;
    let commands = bed.topic("probe.commands", 1).await;
    let events = bed.topic("probe.events", 1).await;
    let handler = ProbeHandler::new("a", events.clone());
    let broken = handler.broken.clone();
    broken.store(true, Ordering::SeqCst);
    let consumer = start(&bed, "g", &commands, handler).await;

    let (partition, _) = produce(&bed, &commands, "k", &probe(1).to_json()).await;
    let retried = consumer.metrics.retried.with_label_values(&[&commands]);
    eventually("the handler is retried", WAIT, || async {
        retried.get() >= 3
    })
    .await;
    // Auto-commit runs every second: give it time to commit something it should not.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The group has never finished a message, so nothing may be committed.
    assert_eq!(committed(&bed, "g", &commands, partition).await, None);
    assert!(bed.effects().await.is_empty());

    broken.store(false, Ordering::SeqCst);
    eventually("the message is applied once repaired", WAIT, || async {
        bed.effects().await.len() == 1
    })
    .await;
    let end = high_watermark(&bed, &commands, partition).await;
    eventually("its offset is committed", WAIT, || async {
        committed(&bed, "g", &commands, partition).await == Some(end)
    })
    .await;
    consumer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_message_goes_to_the_dlq_with_its_reason_and_the_next_is_processed() {
    let bed = TestBed::new().await;
    let commands = bed.topic("probe.commands", 1).await;
    let events = bed.topic("probe.events", 1).await;
    let dlq = bed.topic("probe.dlq", 1).await;
    let replies = bed.topic("gateway.replies", 1).await;
    let consumer = start(&bed, "g", &commands, ProbeHandler::new("a", events)).await;

    let (_, bad_offset) = produce(&bed, &commands, "k", b"this is not json").await;
    let unknown = format!(
        r#"{{"id":"6f1b7c1e-8d7a-4a63-9a55-0d2b0c1f0a11","type":"test.nonsense","version":1,
        "occurredAt":"2026-11-22T10:00:00Z","correlationId":"6f1b7c1e-8d7a-4a63-9a55-0d2b0c1f0a12",
        "replyTo":"{replies}","data":{{}}}}"#
    );
    produce(&bed, &commands, "k", unknown.as_bytes()).await;
    produce(&bed, &commands, "k", &probe(2).to_json()).await;

    eventually("the good message is applied", WAIT, || async {
        bed.effects().await.len() == 1
    })
    .await;
    let dead = bed.read(&dlq, 2, WAIT, Duration::from_secs(1)).await;
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].payload, b"this is not json");
    assert!(dead[0].headers["dlq.reason"].starts_with("malformed envelope"));
    assert_eq!(dead[0].headers["dlq.source.topic"], commands);
    assert_eq!(dead[0].headers["dlq.source.partition"], "0");
    assert_eq!(dead[0].headers["dlq.source.offset"], bad_offset.to_string());
    assert!(dead[1].headers["dlq.reason"].contains("unknown message type"));
    let answered = bed
        .read(&replies, 1, WAIT, Duration::from_millis(500))
        .await;
    assert_eq!(
        answered.len(),
        1,
        "the sender waiting on replyTo hears of it"
    );
    let reply: serde_json::Value = serde_json::from_slice(&answered[0].payload).expect("JSON");
    assert_eq!(reply["data"]["ok"], false);
    assert_eq!(reply["data"]["error"]["code"], "rejected");
    assert_eq!(
        reply["data"]["correlationId"],
        "6f1b7c1e-8d7a-4a63-9a55-0d2b0c1f0a12"
    );
    assert!(reply["data"]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unknown message type"));
    assert_eq!(
        consumer
            .metrics
            .dead_lettered
            .with_label_values(&[&commands])
            .get(),
        2
    );
    consumer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_in_one_group_split_the_partitions_and_apply_every_message_once() {
    let bed = TestBed::new().await;
    let commands = bed.topic("probe.commands", 6).await;
    let events = bed.topic("probe.events", 6).await;
    let first = start(
        &bed,
        "g",
        &commands,
        ProbeHandler::new("first", events.clone()),
    )
    .await;
    let second = start(
        &bed,
        "g",
        &commands,
        ProbeHandler::new("second", events.clone()),
    )
    .await;

    // Keep sending until both members have applied something, so the group settled.
    let mut sent = 0;
    let both_busy = |effects: &[(uuid::Uuid, String, i32)]| {
        effects.iter().any(|e| e.1 == "first") && effects.iter().any(|e| e.1 == "second")
    };
    let deadline = std::time::Instant::now() + WAIT;
    while !both_busy(&bed.effects().await) {
        assert!(
            std::time::Instant::now() < deadline,
            "both members never got partitions"
        );
        for _ in 0..12 {
            sent += 1;
            produce(
                &bed,
                &commands,
                &format!("key-{sent}"),
                &probe(sent).to_json(),
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for _ in 0..24 {
        sent += 1;
        produce(
            &bed,
            &commands,
            &format!("key-{sent}"),
            &probe(sent).to_json(),
        )
        .await;
    }
    eventually("every message is applied", WAIT, || async {
        bed.effects().await.len() >= sent as usize
    })
    .await;
    // Each member shows what it holds (consumer_assigned_partitions): between them,
    // every partition once.
    let held = |consumer: &testkit::RunningConsumer| {
        let shown = parse_assignment(&consumer.metrics.render());
        let key = (format!("{}g", bed.kafka.topics.prefix()), commands.clone());
        shown.get(&key).cloned().unwrap_or_default()
    };
    eventually(
        "the members show a split of the six partitions",
        WAIT,
        || {
            let (a, b) = (held(&first), held(&second));
            async move {
                !a.is_empty()
                    && !b.is_empty()
                    && a.is_disjoint(&b)
                    && a.union(&b).copied().collect::<Vec<_>>() == (0..6).collect::<Vec<_>>()
            }
        },
    )
    .await;
    // Stopped, the members have finished every batch in hand and can apply nothing more:
    // a second application of any message would be in the table now.
    first.stop().await;
    second.stop().await;
    let effects = bed.effects().await;
    let numbers: Vec<i32> = effects.iter().map(|e| e.2).collect();
    assert_eq!(
        numbers,
        (1..=sent).collect::<Vec<_>>(),
        "each message applied exactly once"
    );
}
