//! A consumer killed with SIGKILL between its database commit and its publish publishes
//! the event exactly once after restart, under the same id.

mod common;

use std::time::Duration;

use common::{probe, produce, Fixture};
use shared_events::derive_id;
use testkit::TestBed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_between_commit_and_publish_publishes_exactly_once_after_restart() {
    let bed = TestBed::new().await;
    let commands = bed.topic("probe.commands", 1).await;
    let events = bed.topic("probe.events", 1).await;

    let mut doomed = Fixture::spawn(&bed, "doomed", "g", &commands, &events, true, &[]);
    doomed.expect_line("READY", Duration::from_secs(30)).await;
    let command = probe(42);
    produce(&bed, &commands, "k", &command.to_json()).await;
    let committed_id = doomed
        .expect_line("COMMITTED", Duration::from_secs(60))
        .await;
    let event_id = derive_id(command.id, "test.probed");
    assert_eq!(committed_id, event_id.to_string());
    doomed.kill().await;

    // Committed but never published.
    let (unsent,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM runtime_outbox WHERE sent_at IS NULL")
            .fetch_one(&bed.pool)
            .await
            .expect("outbox");
    assert_eq!(unsent, 1);
    assert!(bed
        .read(&events, 1, Duration::from_secs(3), Duration::ZERO)
        .await
        .is_empty());

    let mut revived = Fixture::spawn(&bed, "revived", "g", &commands, &events, false, &[]);
    revived.expect_line("READY", Duration::from_secs(30)).await;
    let published = bed
        .read(&events, 1, Duration::from_secs(60), Duration::from_secs(5))
        .await;
    let ids: Vec<_> = published.iter().filter_map(|m| m.id()).collect();
    assert_eq!(ids, vec![event_id], "the event, once");
    assert_eq!(
        bed.effects().await.len(),
        1,
        "the redelivered command was a duplicate"
    );
    revived.kill().await;
}
