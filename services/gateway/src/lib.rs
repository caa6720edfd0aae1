//! The gateway: the platform's only HTTP entry for clients. It turns requests into
//! commands and queries on Kafka and answers with what comes back.
//!
//! Its routes arrive with later issues; today it starts, reads the replies topic,
//! answers `/healthz`, `/readyz` and `/metrics` on port 8080, and stops cleanly.

use std::net::SocketAddr;

use axum::Router;
use kafka_runtime::request_reply::Requester;
use kafka_runtime::settings::setting;
use kafka_runtime::Service;

/// The gateway's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `HTTP_ADDR`, default `127.0.0.1:8080`.
    pub http_addr: SocketAddr,
}

impl Config {
    /// Reads the settings from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            http_addr: setting("HTTP_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
        })
    }
}

/// Starts reading replies and serves HTTP until shutdown.
pub async fn run(config: Config, service: Service) -> anyhow::Result<()> {
    let _requester = Requester::start(
        service.kafka(),
        service.publisher().clone(),
        service.shutdown_token(),
    )
    .await?;
    service.run(config.http_addr, Router::new()).await
}
