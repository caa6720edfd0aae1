//! The gateway starts, becomes ready once it knows auth's public key, and exits cleanly
//! on SIGTERM (checked by `Platform::stop`).

mod common;

use common::Platform;
use testkit::http_status;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_starts_ready_and_stops_cleanly() {
    let platform = Platform::start(&[]).await;
    assert_eq!(
        http_status(platform.gateway.port, "/healthz").await,
        Some(200)
    );
    assert_eq!(
        http_status(platform.gateway.port, "/readyz").await,
        Some(200)
    );
    platform.stop().await;
}
