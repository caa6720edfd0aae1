//! Dead letters are listed with their reason and, once their cause is fixed, re-driven
//! to their source topic as they were: applied once, and never produced twice.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{high_watermark, probe, produce};
use kafka_runtime::dlq::{self, Listed, Status};
use kafka_runtime::postgres::{PgHandler, PgProcessor};
use kafka_runtime::telemetry::TraceParent;
use kafka_runtime::{HandlerError, Incoming, Outbox, Outgoing, Publisher};
use shared_events::Message;
use sqlx::PgConnection;
use testkit::{eventually, Probe, ProbeHandler, RunningConsumer, TestBed};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

/// The probe handler, except that it rejects the probes whose numbers are refused:
/// the bug a fix removes.
struct Refusing {
    inner: ProbeHandler,
    refused: Arc<Mutex<HashSet<i32>>>,
}

impl PgHandler for Refusing {
    async fn handle(
        &self,
        message: &Incoming,
        tx: &mut PgConnection,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        if message.envelope.kind == Probe::TYPE {
            let n = message.data::<Probe>()?.n;
            if self.refused.lock().expect("lock").contains(&n) {
                return Err(HandlerError::Rejected(format!(
                    "probe {n} refused on purpose"
                )));
            }
        }
        self.inner.handle(message, tx, outbox).await
    }
}

fn find(listed: &[Listed], id: Uuid) -> Vec<&Listed> {
    listed
        .iter()
        .filter(|l| l.dead_letter.id() == Some(id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_listed_with_its_reason_and_after_a_fix_redriven_and_applied_once() {
    let bed = TestBed::new().await;
    let commands = bed.topic("probe.commands", 2).await;
    let events = bed.topic("probe.events", 2).await;
    let dlq_topic = bed.topic("probe.dlq", 2).await;
    let refused = Arc::new(Mutex::new(HashSet::from([-1, -2])));
    let handler = Refusing {
        inner: ProbeHandler::new("a", events),
        refused: refused.clone(),
    };
    let processor = PgProcessor::new(bed.pool.clone(), bed.kafka.topics.clone(), handler);
    let consumer =
        RunningConsumer::start(&bed.kafka, "probe", "g", vec![commands.clone()], processor);
    let publisher = Publisher::new(&bed.kafka).expect("publisher");

    // Two probes the handler refuses, sent as services send (type, id, traceparent
    // headers); a value that is not an envelope; a probe that goes through.
    let (a, b) = (probe(-1), probe(-2));
    let trace = TraceParent::root();
    let sent_a = Outgoing::new(commands.clone(), "ka", &a).traced(&trace);
    publisher.send(&sent_a).await.expect("a sent");
    let sent_b = Outgoing::new(commands.clone(), "kb", &b).traced(&trace);
    publisher.send(&sent_b).await.expect("b sent");
    produce(&bed, &commands, "kc", b"not an envelope").await;
    produce(&bed, &commands, "kd", &probe(1).to_json()).await;

    let dead_lettered = consumer
        .metrics
        .dead_lettered
        .with_label_values(&[&commands]);
    eventually("three dead letters and one probe applied", WAIT, || async {
        dead_lettered.get() == 3 && bed.effects().await.len() == 1
    })
    .await;

    // Listed with the reason, the source, and the message as it was.
    let listed = dlq::list(&bed.kafka, &dlq_topic).await.expect("listed");
    assert_eq!(listed.len(), 3, "{listed:#?}");
    let [listed_a] = find(&listed, a.id)[..] else {
        panic!("one dead letter for a: {listed:#?}")
    };
    assert_eq!(listed_a.status, Status::Pending);
    let letter = &listed_a.dead_letter;
    assert_eq!(letter.reason, "probe -1 refused on purpose");
    assert_eq!(letter.source.as_ref().expect("source").topic, commands);
    assert_eq!(letter.record.payload, sent_a.payload);
    assert_eq!(letter.record.key.as_deref(), Some(&b"ka"[..]));
    let traceparent = letter
        .record
        .headers
        .iter()
        .find(|(k, _)| k == "traceparent")
        .and_then(|(_, v)| v.clone());
    assert_eq!(
        traceparent.as_deref(),
        sent_a.traceparent.as_deref().map(str::as_bytes)
    );
    let line = listed_a.to_string();
    assert!(
        line.contains(&format!(" pending id={} type=test.probe ", a.id)),
        "{line}"
    );
    assert!(
        line.ends_with("reason=probe -1 refused on purpose"),
        "{line}"
    );
    assert_eq!(
        listed
            .iter()
            .filter(|l| l.status == Status::NotEnvelope)
            .count(),
        1
    );

    // The fix for a; re-driving a alone applies it, under its own id.
    refused.lock().expect("lock").remove(&-1);
    let done = dlq::redrive(&bed.kafka, &publisher, &dlq_topic, Some(a.id))
        .await
        .expect("a re-driven");
    assert_eq!(done.sent.len(), 1);
    assert_eq!(done.sent[0].0, a.id);
    let to = done.sent[0].2.clone();
    assert_eq!(to.topic, commands);
    eventually("a is applied", WAIT, || async {
        bed.effects().await.iter().any(|(id, _, _)| *id == a.id)
    })
    .await;
    let again = bed
        .read(&commands, 5, WAIT, Duration::from_millis(500))
        .await;
    let redriven = again
        .iter()
        .find(|m| m.partition == to.slot.partition && m.offset == to.slot.offset)
        .expect("the re-driven record");
    assert_eq!(redriven.payload, sent_a.payload, "the message as it was");
    assert_eq!(redriven.key.as_deref(), Some("ka"));
    assert_eq!(
        redriven.headers.get("traceparent"),
        sent_a.traceparent.as_ref()
    );
    assert!(
        redriven.headers.keys().all(|k| !dlq::is_dlq_header(k)),
        "{:?}",
        redriven.headers
    );

    // b re-driven before its fix: dead-lettered again, as a new pending dead letter.
    let done = dlq::redrive(&bed.kafka, &publisher, &dlq_topic, None)
        .await
        .expect("re-driven");
    assert_eq!(
        (done.sent.len(), done.already, done.cannot),
        (1, 1, 1),
        "b sent; a skipped; the non-envelope kept"
    );
    assert_eq!(done.sent[0].0, b.id);
    eventually("b is dead-lettered again", WAIT, || async {
        dead_lettered.get() == 4
    })
    .await;
    let listed = dlq::list(&bed.kafka, &dlq_topic).await.expect("listed");
    let statuses: Vec<_> = find(&listed, b.id)
        .iter()
        .map(|l| l.status.word())
        .collect();
    assert_eq!(statuses, ["redriven", "pending"]);

    // The fix for b, and a re-drive of everything: b is applied.
    refused.lock().expect("lock").remove(&-2);
    let done = dlq::redrive(&bed.kafka, &publisher, &dlq_topic, None)
        .await
        .expect("re-driven");
    assert_eq!((done.sent.len(), done.already), (1, 2));
    eventually("b is applied", WAIT, || async {
        bed.effects().await.iter().any(|(id, _, _)| *id == b.id)
    })
    .await;

    // A second re-drive produces nothing.
    let marks = [
        high_watermark(&bed, &commands, 0).await,
        high_watermark(&bed, &commands, 1).await,
    ];
    let done = dlq::redrive(&bed.kafka, &publisher, &dlq_topic, None)
        .await
        .expect("re-driven");
    assert!(done.sent.is_empty(), "{:?}", done.sent);
    assert_eq!((done.already, done.cannot), (3, 1));
    assert_eq!(
        [
            high_watermark(&bed, &commands, 0).await,
            high_watermark(&bed, &commands, 1).await,
        ],
        marks,
        "nothing produced"
    );
    let listed = dlq::list(&bed.kafka, &dlq_topic).await.expect("listed");
    assert!(listed.iter().all(|l| l.status != Status::Pending));

    // Had a re-drive stopped before its marker, the message would go out twice: the
    // inbox drops the second.
    let duplicates = consumer.metrics.duplicates.with_label_values(&[&commands]);
    publisher.send(&sent_a).await.expect("a sent again");
    eventually("the copy is skipped as a duplicate", WAIT, || async {
        duplicates.get() == 1
    })
    .await;
    let mut applied: Vec<i32> = bed.effects().await.iter().map(|(_, _, n)| *n).collect();
    applied.sort_unstable();
    assert_eq!(applied, [-2, -1, 1], "each probe applied exactly once");
    assert!(
        dlq::redrive(&bed.kafka, &publisher, &dlq_topic, Some(Uuid::new_v4()))
            .await
            .is_err(),
        "an id with no dead letter is an error"
    );
    consumer.stop().await;
}
