//! The inventory binary starts against the real broker and store, reports ready, and stops
//! cleanly on SIGTERM.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_service_starts_ready_and_stops_cleanly_on_sigterm() {
    testkit::assert_service_starts_ready_and_stops_cleanly(env!("CARGO_BIN_EXE_inventory")).await;
}
