//! Request-reply as the gateway uses it: a reply comes back by correlation id to whoever
//! waits for it, other replies are handed over as outcomes, a requester started later
//! reads the recent outcomes, and a request nobody answers times out.

mod common;

use std::time::Duration;

use common::start;
use kafka_runtime::follow::Start;
use kafka_runtime::request_reply::{RequestError, Requester};
use kafka_runtime::telemetry::TraceParent;
use kafka_runtime::Publisher;
use shared_events::{Envelope, Topic};
use testkit::{Probe, ProbeHandler, TestBed};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_gets_the_reply_with_its_correlation_id_and_a_silent_one_times_out() {
    let bed = TestBed::new().await;
    let queries = bed.topic("auth.queries", 3).await;
    bed.topic("gateway.replies", 3).await;
    bed.topic("payment.queries", 1).await; // nobody consumes it
    let events = bed.topic("probe.events", 1).await;
    let responder = start(
        &bed,
        "responder",
        &queries,
        ProbeHandler::new("responder", events),
    )
    .await;

    let shutdown = CancellationToken::new();
    let publisher = Publisher::new(&bed.kafka).expect("publisher");
    let (outcome, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    let (requester, reader) = Requester::start(
        &bed.kafka,
        publisher.clone(),
        Start::End,
        move |reply| drop(outcome.send(reply)),
        shutdown.clone(),
    )
    .await
    .expect("requester");

    let correlation = Uuid::new_v4();
    let request = Envelope::new(Probe { n: 5 }, correlation, None);
    let command_id = request.id;
    let reply = requester
        .request(
            Topic::AuthQueries,
            "k",
            request,
            &TraceParent::root(),
            Duration::from_secs(30),
        )
        .await
        .expect("a reply");
    assert!(reply.data.ok);
    assert_eq!(reply.data.correlation_id, correlation);
    assert_eq!(reply.causation_id, Some(command_id));
    assert_eq!(
        reply.data.data,
        Some(serde_json::json!({ "n": 5, "consumer": "responder" }))
    );

    // A reply nobody here waits for is a command's outcome: it is broadcast. The answer
    // to the request above was not.
    let command = Envelope::new(Probe { n: 7 }, Uuid::new_v4(), None)
        .with_reply_to(requester.replies_topic().to_string());
    requester
        .send(Topic::AuthQueries, "k", &command, &TraceParent::root())
        .await
        .expect("sent");
    let seen = tokio::time::timeout(Duration::from_secs(30), outcomes.recv())
        .await
        .expect("the outcome arrives")
        .expect("the outcome is handed over");
    assert_eq!(seen.data.correlation_id, command.correlation_id);

    // A requester started now (a gateway restarted) reads the last hour's outcomes:
    // the command's, and not the answer to the request, which is an outcome to nobody
    // but is handed over too since this one did not ask it.
    let (outcome, mut late) = tokio::sync::mpsc::unbounded_channel();
    let (_restarted, restarted_reader) = Requester::start(
        &bed.kafka,
        publisher,
        Start::Since(Duration::from_secs(3600)),
        move |reply| drop(outcome.send(reply)),
        shutdown.clone(),
    )
    .await
    .expect("a second requester");
    let mut causes = Vec::new();
    while causes.len() < 2 {
        let reply = tokio::time::timeout(Duration::from_secs(30), late.recv())
            .await
            .expect("the recent replies are read again")
            .expect("handed over");
        causes.push(reply.causation_id);
    }
    assert!(causes.contains(&Some(command.id)), "{causes:?}");
    assert!(causes.contains(&Some(command_id)), "{causes:?}");

    let silent = Envelope::new(Probe { n: 6 }, Uuid::new_v4(), None);
    let waited = requester
        .request(
            Topic::PaymentQueries,
            "k",
            silent,
            &TraceParent::root(),
            Duration::from_millis(1500),
        )
        .await;
    assert!(
        matches!(waited, Err(RequestError::Timeout(_))),
        "{waited:?}"
    );

    shutdown.cancel();
    // Both readers stop with the token and close their consumers.
    tokio::time::timeout(Duration::from_secs(20), async {
        reader.finished().await;
        restarted_reader.finished().await;
    })
    .await
    .expect("the readers stop at shutdown");
    responder.stop().await;
}
