//! Group commit: the records queued for a partition are applied in one PostgreSQL
//! transaction, all or none, and a batch that fails is applied one record at a time.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::{
    committed, incoming, of_type, probe, produce, start, start_skipping, unknown_type, Running,
};
use kafka_runtime::postgres::PgProcessor;
use kafka_runtime::{Applied, HandlerError, Processor};
use shared_events::derive_id;
use testkit::{eventually, ProbeHandler, TestBed};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

async fn inbox_size(bed: &TestBed) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM runtime_inbox")
        .fetch_one(&bed.pool)
        .await
        .expect("inbox")
}

async fn processor(bed: &TestBed) -> PgProcessor<ProbeHandler> {
    ProbeHandler::prepare(&bed.pool).await;
    let handler = ProbeHandler::new("a", format!("{}probe.events", bed.kafka.topics.prefix()));
    PgProcessor::new(bed.pool.clone(), bed.kafka.topics.clone(), handler)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_commits_together_and_a_repeat_inside_it_is_a_duplicate() {
    let bed = TestBed::new().await;
    let processor = processor(&bed).await;
    let (one, two) = (probe(1), probe(2));
    let batch = [
        incoming(&one.to_json(), 0),
        incoming(&two.to_json(), 1),
        incoming(&one.to_json(), 2),
    ];

    let applied = processor
        .apply_all(&batch.each_ref())
        .await
        .expect("PostgreSQL commits batches")
        .expect("the batch applies");

    assert!(
        matches!(&applied[..], [Applied::Fresh(a), Applied::Fresh(b), Applied::Duplicate] if a.len() == 1 && b.len() == 1)
    );
    let numbers: Vec<i32> = bed.effects().await.iter().map(|e| e.2).collect();
    assert_eq!(numbers, [1, 2]);
    let unsent: Vec<_> = processor
        .unsent(Duration::ZERO, 10)
        .await
        .expect("outbox")
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        unsent,
        [
            derive_id(one.id, "test.probed"),
            derive_id(two.id, "test.probed")
        ],
        "the events wait in the outbox in order"
    );
    assert_eq!(inbox_size(&bed).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_message_rolls_back_its_whole_batch_and_alone_is_rejected_again() {
    let bed = TestBed::new().await;
    let processor = processor(&bed).await;
    let batch = [
        incoming(&probe(1).to_json(), 0),
        incoming(&unknown_type(), 1),
        incoming(&probe(2).to_json(), 2),
    ];

    let failed = processor
        .apply_all(&batch.each_ref())
        .await
        .expect("PostgreSQL commits batches");
    assert!(
        matches!(failed, Err(HandlerError::Rejected(ref reason)) if reason.contains("unknown message type"))
    );
    assert!(bed.effects().await.is_empty(), "nothing of the batch stays");
    assert_eq!(inbox_size(&bed).await, 0);
    assert!(processor
        .unsent(Duration::ZERO, 10)
        .await
        .expect("outbox")
        .is_empty());

    // What the consumer does next: one transaction per message.
    assert!(matches!(
        processor.apply(&batch[0]).await,
        Ok(Applied::Fresh(_))
    ));
    assert!(matches!(
        processor.apply(&batch[1]).await,
        Err(HandlerError::Rejected(_))
    ));
    assert!(matches!(
        processor.apply(&batch[2]).await,
        Ok(Applied::Fresh(_))
    ));
    let numbers: Vec<i32> = bed.effects().await.iter().map(|e| e.2).collect();
    assert_eq!(numbers, [1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_with_a_bad_message_in_it_is_applied_once_each_and_the_bad_one_dead_lettered() {
    let bed = TestBed::new().await;
    let commands = bed.topic("probe.commands", 1).await;
    let events = bed.topic("probe.events", 1).await;
    let dlq = bed.topic("probe.dlq", 1).await;
    // The backlog is there before the consumer starts, so its records queue up together.
    for n in 1..=40 {
        produce(&bed, &commands, "k", &probe(n).to_json()).await;
        if n == 20 {
            produce(&bed, &commands, "k", &unknown_type()).await;
        }
    }
    let consumer = start(&bed, "g", &commands, ProbeHandler::new("a", events.clone())).await;

    each_applied_once_and_the_bad_one_dead_lettered(&bed, &consumer, &commands, &dlq, 1..=40).await;
    let published = bed.read(&events, 40, WAIT, Duration::from_secs(2)).await;
    assert_eq!(published.len(), 40, "one event per good message");
    // Group commit happened: fewer transactions than records, so some carried several.
    let batches = consumer
        .metrics
        .transaction_messages
        .with_label_values(&[&commands]);
    let (transactions, records) = (batches.get_sample_count(), batches.get_sample_sum());
    assert!(
        transactions < 40 && records > transactions as f64,
        "{records} records in {transactions} transactions: no batch held more than one"
    );
    consumer.stop().await;
}

/// Batches that several partitions have ready together go into one transaction; a bad
/// record in one of them rolls that transaction back, and then each partition applies
/// its own: every good record once, the bad one dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_several_partitions_commit_together_and_a_bad_one_spoils_none_of_the_others() {
    let bed = TestBed::new().await;
    let commands = bed.topic("probe.commands", 4).await;
    let events = bed.topic("probe.events", 4).await;
    let dlq = bed.topic("probe.dlq", 1).await;
    // A key for each partition, then a backlog on every partition before the consumer
    // starts, so that the partition tasks have batches ready at once.
    let mut keys: Vec<String> = Vec::new();
    let mut partition_of: HashMap<i32, i32> = HashMap::new();
    let mut n = 0;
    while keys.len() < 4 {
        let key = format!("k{n}");
        let (partition, _) = produce(&bed, &commands, &key, &probe(n).to_json()).await;
        if !partition_of.values().any(|p| *p == partition) {
            keys.push(key);
        }
        partition_of.insert(n, partition);
        n += 1;
    }
    for round in 0..150 {
        for key in &keys {
            let (partition, _) = produce(&bed, &commands, key, &probe(n).to_json()).await;
            partition_of.insert(n, partition);
            n += 1;
        }
        if round == 100 {
            produce(&bed, &commands, &keys[2], &unknown_type()).await;
        }
    }
    let consumer = start(&bed, "g", &commands, ProbeHandler::new("a", events)).await;

    each_applied_once_and_the_bad_one_dead_lettered(&bed, &consumer, &commands, &dlq, 0..n).await;
    let written: Vec<(i32, i64)> = sqlx::query_as("SELECT n, xact FROM probe_effects")
        .fetch_all(&bed.pool)
        .await
        .expect("effects");
    let mut partitions_of_transaction: HashMap<i64, HashSet<i32>> = HashMap::new();
    for (n, xact) in written {
        partitions_of_transaction
            .entry(xact)
            .or_default()
            .insert(partition_of[&n]);
    }
    let widest = partitions_of_transaction.values().map(HashSet::len).max();
    assert!(
        widest > Some(1),
        "no transaction held records of more than one partition ({} transactions)",
        partitions_of_transaction.len()
    );
    consumer.stop().await;
}

/// Waits until the probes numbered `good` are applied, then checks that each was applied
/// exactly once, in order, and that the one unknown type alone went to `dlq`.
async fn each_applied_once_and_the_bad_one_dead_lettered(
    bed: &TestBed,
    consumer: &Running,
    commands: &str,
    dlq: &str,
    good: impl Iterator<Item = i32>,
) {
    let good: Vec<i32> = good.collect();
    eventually("every good message is applied", WAIT, || async {
        bed.effects().await.len() >= good.len()
    })
    .await;
    let dead = bed.read(dlq, 1, WAIT, Duration::from_secs(1)).await;
    assert_eq!(dead.len(), 1, "only the bad message is dead-lettered");
    assert!(dead[0].headers["dlq.reason"].contains("unknown message type"));
    let numbers: Vec<i32> = bed.effects().await.iter().map(|e| e.2).collect();
    assert_eq!(numbers, good, "each applied exactly once");
    let processed = consumer.metrics.processed.with_label_values(&[commands]);
    assert_eq!(processed.get(), good.len() as u64);
}

/// Inbox entries and published outbox messages older than the retention are deleted;
/// recent ones and unpublished ones are kept.
#[tokio::test]
async fn pruning_deletes_old_inbox_entries_and_old_published_messages_only() {
    let bed = TestBed::new().await;
    let processor = processor(&bed).await;
    let old = "now() - interval '8 days'";
    for (id, received) in [(Uuid::new_v4(), old), (Uuid::new_v4(), "now()")] {
        sqlx::query(&format!(
            "INSERT INTO runtime_inbox (message_id, topic, received_at) VALUES ($1, 't', {received})"
        ))
        .bind(id)
        .execute(&bed.pool)
        .await
        .expect("inbox row");
    }
    for (created, sent) in [(old, Some(old)), (old, None), ("now()", Some("now()"))] {
        sqlx::query(&format!(
            "INSERT INTO runtime_outbox (message_id, topic, key, kind, payload, created_at, sent_at)
             VALUES ($1, 't', 'k', 'test.probed', '\\x00', {created}, {})",
            sent.unwrap_or("NULL")
        ))
        .bind(Uuid::new_v4())
        .execute(&bed.pool)
        .await
        .expect("outbox row");
    }
    let week = Duration::from_secs(7 * 24 * 3600);
    assert_eq!(processor.prune(week, 1000).await.expect("pruned"), 2);
    assert_eq!(processor.prune(week, 1000).await.expect("pruned"), 0);
    assert_eq!(inbox_size(&bed).await, 1, "the recent entry stays");
    let (unsent, sent): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE sent_at IS NULL), count(*) FILTER (WHERE sent_at IS NOT NULL) FROM runtime_outbox",
    )
    .fetch_one(&bed.pool)
    .await
    .expect("outbox");
    assert_eq!(
        (unsent, sent),
        (1, 1),
        "the unpublished and the recent stay"
    );
}

/// Types on its topic that a consumer does not read cost it no transaction: they never
/// reach the store or its inbox, yet their offsets move on, and a type nobody declared
/// still reaches the handler, which dead-letters it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_a_consumer_does_not_read_are_skipped_before_the_store() {
    let bed = TestBed::new().await;
    let commands = bed.topic("probe.commands", 1).await;
    let events = bed.topic("probe.events", 1).await;
    let dlq = bed.topic("probe.dlq", 1).await;
    let elsewhere = || of_type("test.elsewhere");
    let records = [
        probe(1).to_json(),
        elsewhere(),
        elsewhere(),
        probe(2).to_json(),
        unknown_type(),
        elsewhere(),
    ];
    for payload in &records {
        produce(&bed, &commands, "k", payload).await;
    }
    let handler = ProbeHandler::new("a", events.clone());
    let consumer = start_skipping(&bed, "g", &commands, &["test.elsewhere"], handler).await;

    eventually("every record is finished", WAIT, || async {
        committed(&bed, "g", &commands, 0).await == Some(records.len() as i64)
    })
    .await;
    let numbers: Vec<i32> = bed.effects().await.iter().map(|e| e.2).collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(
        inbox_size(&bed).await,
        2,
        "the skipped never reach the inbox"
    );
    let skipped = consumer.metrics.skipped.with_label_values(&[&commands]);
    assert_eq!(skipped.get(), 3);
    let dead = bed.read(&dlq, 1, WAIT, Duration::from_secs(1)).await;
    assert_eq!(dead.len(), 1, "only the undeclared type is dead-lettered");
    assert!(dead[0].headers["dlq.reason"].contains("unknown message type"));
    consumer.stop().await;
}
