//! The MongoDB variant of the store keeps the PostgreSQL guarantees: the inbox entry,
//! the handler's writes and the outbox commit in one transaction; a duplicate changes
//! nothing; a failed handler leaves nothing behind.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{incoming, probe, produce, unknown_type};
use kafka_runtime::mongo::{self, MongoHandler, MongoProcessor};
use kafka_runtime::processor::Processor;
use kafka_runtime::{Applied, HandlerError, Incoming, Outbox};
use mongodb::bson::{doc, Document};
use mongodb::{ClientSession, Database};
use shared_events::{derive_id, Envelope, Message};
use testkit::{eventually, Probe, Probed, RunningConsumer, TestBed};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Stores each probe in `probe_effects` and emits `test.probed`.
struct MongoProbe {
    db: Database,
    events: String,
    broken: Arc<AtomicBool>,
}

impl MongoHandler for MongoProbe {
    async fn handle(
        &self,
        message: &Incoming,
        session: &mut ClientSession,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        let probe: Probe = match message.envelope.kind.as_str() {
            Probe::TYPE => message.data()?,
            _ => return Err(message.unknown_type()),
        };
        let effect = doc! { "messageId": message.envelope.id.to_string(), "n": probe.n };
        self.db
            .collection::<Document>("probe_effects")
            .insert_one(effect)
            .session(&mut *session)
            .await?;
        // A running total, upserted: within one transaction the second message must see
        // what the first wrote, or the upsert inserts twice.
        self.db
            .collection::<Document>("probe_total")
            .update_one(doc! { "_id": "total" }, doc! { "$inc": { "n": probe.n } })
            .upsert(true)
            .session(&mut *session)
            .await?;
        if self.broken.load(Ordering::SeqCst) {
            return Err(HandlerError::transient(anyhow::anyhow!(
                "broken on purpose, after writing"
            )));
        }
        let event = Envelope::caused_by(
            &message.envelope,
            Probed {
                n: probe.n,
                consumer: "mongo".into(),
            },
        );
        outbox.send_to(self.events.clone(), probe.n, &event);
        Ok(())
    }
}

async fn database() -> Database {
    let uri = std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
    let name = format!("t_{}", &Uuid::new_v4().simple().to_string()[..12]);
    let uri = format!("{}/{name}", uri.trim_end_matches('/'));
    mongo::connect(&uri, &name, &CancellationToken::new())
        .await
        .expect("MongoDB reachable (run ./dev test)")
}

async fn effects(db: &Database) -> u64 {
    db.collection::<Document>("probe_effects")
        .count_documents(doc! {})
        .await
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_applied_once_with_its_event_and_a_duplicate_changes_nothing() {
    let bed = TestBed::new().await;
    let commands = bed.topic("probe.commands", 2).await;
    let events = bed.topic("probe.events", 2).await;
    let db = database().await;
    let handler = MongoProbe {
        db: db.clone(),
        events: events.clone(),
        broken: Arc::default(),
    };
    let processor = MongoProcessor::new(db.clone(), bed.kafka.topics.clone(), handler);
    let consumer = RunningConsumer::start(
        &bed.kafka,
        "catalog",
        "g",
        vec![commands.clone()],
        processor,
    );

    let command = probe(3);
    produce(&bed, &commands, "k", &command.to_json()).await;
    produce(&bed, &commands, "k", &command.to_json()).await;

    let duplicates = consumer.metrics.duplicates.with_label_values(&[&commands]);
    eventually("the copy is skipped", Duration::from_secs(60), || async {
        duplicates.get() == 1
    })
    .await;
    assert_eq!(effects(&db).await, 1);
    let published = bed
        .read(&events, 1, Duration::from_secs(60), Duration::from_secs(2))
        .await;
    assert_eq!(
        published.iter().filter_map(|m| m.id()).collect::<Vec<_>>(),
        vec![derive_id(command.id, "test.probed")]
    );
    // The mark rides on the next transaction, or on the relay's tick when none comes.
    eventually(
        "published rows are marked sent",
        Duration::from_secs(10),
        || async {
            db.collection::<Document>("runtime_outbox")
                .count_documents(doc! { "sent": false })
                .await
                .unwrap()
                == 0
        },
    )
    .await;
    consumer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_leaves_no_write_no_inbox_entry_and_no_outbox_row() {
    let bed = TestBed::new().await;
    let db = database().await;
    let broken = Arc::new(AtomicBool::new(true));
    let handler = MongoProbe {
        db: db.clone(),
        events: "unused".into(),
        broken: broken.clone(),
    };
    let processor = MongoProcessor::new(db.clone(), bed.kafka.topics.clone(), handler);
    let envelope = probe(9);
    let incoming = incoming(&envelope.to_json(), 0);

    assert!(matches!(
        processor.apply(&incoming).await,
        Err(HandlerError::Transient(_))
    ));
    assert_eq!(effects(&db).await, 0, "the handler's write was rolled back");
    assert_eq!(
        db.collection::<Document>("runtime_inbox")
            .count_documents(doc! {})
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        db.collection::<Document>("runtime_outbox")
            .count_documents(doc! {})
            .await
            .unwrap(),
        0
    );

    broken.store(false, Ordering::SeqCst);
    let applied = processor
        .apply(&incoming)
        .await
        .expect("applies once repaired");
    assert!(matches!(applied, kafka_runtime::Applied::Fresh(ref m) if m.len() == 1));
    assert_eq!(effects(&db).await, 1);
    let unsent = processor.unsent(Duration::ZERO, 10).await.expect("outbox");
    assert_eq!(
        unsent.len(),
        1,
        "committed but not yet published: what a crash would leave"
    );
    assert_eq!(unsent[0].id, derive_id(envelope.id, "test.probed"));
    assert!(matches!(
        processor.apply(&incoming).await,
        Ok(kafka_runtime::Applied::Duplicate)
    ));
}

async fn count(db: &Database, collection: &str) -> u64 {
    db.collection::<Document>(collection)
        .count_documents(doc! {})
        .await
        .expect("count")
}

async fn total(db: &Database) -> Option<i32> {
    db.collection::<Document>("probe_total")
        .find_one(doc! { "_id": "total" })
        .await
        .expect("total")
        .map(|d| d.get_i32("n").expect("n"))
}

fn processor(db: &Database) -> MongoProcessor<MongoProbe> {
    let handler = MongoProbe {
        db: db.clone(),
        events: "probe.events".into(),
        broken: Arc::default(),
    };
    MongoProcessor::new(db.clone(), shared_events::Topics::new(""), handler)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_commits_in_one_transaction_and_repeats_are_duplicates() {
    let db = database().await;
    let processor = processor(&db);
    let (before, one, two) = (probe(1), probe(2), probe(4));
    processor
        .apply(&incoming(&before.to_json(), 0))
        .await
        .expect("applies");
    let batch = [
        incoming(&one.to_json(), 1),
        incoming(&before.to_json(), 2),
        incoming(&two.to_json(), 3),
        incoming(&one.to_json(), 4),
    ];

    let applied = processor
        .apply_all(&batch.each_ref())
        .await
        .expect("MongoDB commits batches")
        .expect("the batch applies");

    assert!(
        matches!(&applied[..], [Applied::Fresh(a), Applied::Duplicate, Applied::Fresh(b), Applied::Duplicate] if a.len() == 1 && b.len() == 1),
        "{applied:?}"
    );
    assert_eq!(count(&db, "probe_effects").await, 3);
    assert_eq!(
        total(&db).await,
        Some(1 + 2 + 4),
        "each saw the writes before it"
    );
    assert_eq!(count(&db, "runtime_inbox").await, 3);
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
            derive_id(before.id, "test.probed"),
            derive_id(one.id, "test.probed"),
            derive_id(two.id, "test.probed")
        ],
        "the events wait in the outbox in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_message_aborts_its_whole_batch_and_alone_is_rejected_again() {
    let db = database().await;
    let processor = processor(&db);
    let batch = [
        incoming(&probe(1).to_json(), 0),
        incoming(&unknown_type(), 1),
        incoming(&probe(2).to_json(), 2),
    ];

    let failed = processor
        .apply_all(&batch.each_ref())
        .await
        .expect("MongoDB commits batches");
    assert!(
        matches!(failed, Err(HandlerError::Rejected(_))),
        "{failed:?}"
    );
    assert_eq!(
        count(&db, "probe_effects").await,
        0,
        "nothing of the batch stays"
    );
    assert_eq!(total(&db).await, None);
    assert_eq!(count(&db, "runtime_inbox").await, 0);
    assert_eq!(count(&db, "runtime_outbox").await, 0);

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
    assert_eq!(count(&db, "probe_effects").await, 2);
    assert_eq!(total(&db).await, Some(3));
}

/// Inbox entries and published outbox documents older than the retention are deleted;
/// recent and unpublished ones are kept.
#[tokio::test]
async fn pruning_deletes_old_inbox_entries_and_old_published_documents_only() {
    let db = database().await;
    let processor = processor(&db);
    let now = mongodb::bson::DateTime::now().timestamp_millis();
    let old = mongodb::bson::DateTime::from_millis(now - 8 * 24 * 3600 * 1000);
    let recent = mongodb::bson::DateTime::from_millis(now);
    db.collection::<Document>("runtime_inbox")
        .insert_many([
            doc! { "_id": "a", "topic": "t", "at": old },
            doc! { "_id": "b", "topic": "t", "at": recent },
        ])
        .await
        .expect("inbox");
    db.collection::<Document>("runtime_outbox")
        .insert_many([
            doc! { "_id": "c", "created": old, "sent": true },
            doc! { "_id": "d", "created": old, "sent": false },
            doc! { "_id": "e", "created": recent, "sent": true },
        ])
        .await
        .expect("outbox");
    let week = Duration::from_secs(7 * 24 * 3600);
    assert_eq!(processor.prune(week, 1000).await.expect("pruned"), 2);
    assert_eq!(count(&db, "runtime_inbox").await, 1);
    assert_eq!(count(&db, "runtime_outbox").await, 2);
    db.drop().await.ok();
}
