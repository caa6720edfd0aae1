//! Support for the platform's integration tests, against the real broker, PostgreSQL
//! and MongoDB-protocol server: a private topic prefix and database per test, a
//! throwaway handler, service processes, an HTTP client, and Kafka clusters of a test's
//! own. Test code only: the test
//! suites take it as a dev-dependency, `bench` as a tool's dependency, and no service
//! depends on it.
//!
//! Settings come from the environment `./dev test` prepares: `KAFKA_BROKERS`,
//! `RDKAFKA_*`, `TEST_DATABASE_URL` (a database the test user may create others from)
//! and `MONGODB_URI`.

use std::time::{Duration, Instant};

pub mod bed;
pub mod cluster;
pub mod consumer;
pub mod http;
pub mod probe;
pub mod process;

pub use bed::{ReadMessage, TestBed};
pub use cluster::{cluster_replication, KafkaCluster};
pub use consumer::RunningConsumer;
pub use http::{
    assignment, http_call, http_request, http_status, parse_assignment, HttpAnswer, HttpStream,
    StreamRead,
};
pub use probe::{Probe, ProbeHandler, Probed};
pub use process::{
    assert_service_starts_ready_and_stops_cleanly, free_port, service_binary, ServiceProcess,
};

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

/// The shipping address every test order goes to (the gateway tests send it as JSON).
pub fn shipping_address() -> shared_events::messages::order::ShippingAddress {
    shared_events::messages::order::ShippingAddress {
        name: "Ada Lovelace".into(),
        line1: "1 Main Street".into(),
        line2: None,
        city: "Berlin".into(),
        postal_code: "10115".into(),
        country: "DE".into(),
    }
}
