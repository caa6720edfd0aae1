//! The parts of the testkit that other tests trust without checking: how it reads a
//! service's partitions from `/metrics`, and the fixture consumer's binary.

use std::collections::{BTreeMap, BTreeSet};

use kafka_runtime::metrics::Metrics;
use testkit::parse_assignment;

#[test]
fn held_partitions_are_read_from_the_metrics_until_released() {
    let metrics = Metrics::new("test");
    let held = |topic: &str, partitions: &[i32]| -> Vec<(String, i32)> {
        partitions.iter().map(|p| (topic.to_string(), *p)).collect()
    };
    metrics.hold_partitions("g", &held("t.commands", &[0, 1, 2]));
    metrics.hold_partitions("g-queries", &held("t.queries", &[5]));
    metrics.release_partitions("g", &held("t.commands", &[1, 4]));

    let shown = parse_assignment(&metrics.render());
    let key = |group: &str, topic: &str| (group.to_string(), topic.to_string());
    assert_eq!(
        shown,
        BTreeMap::from([
            (key("g", "t.commands"), BTreeSet::from([0, 2])),
            (key("g-queries", "t.queries"), BTreeSet::from([5])),
        ])
    );
}

/// The runtime's crash tests start this binary by path (`testkit::service_binary`); a
/// test here also makes `cargo test --workspace` build it.
#[test]
fn the_fixture_consumer_stops_at_once_naming_a_missing_setting() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fixture-consumer"))
        .env_remove("FIXTURE_DATABASE_URL")
        .output()
        .expect("fixture-consumer runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("FIXTURE_DATABASE_URL is not set"),
        "{stderr}"
    );
}
