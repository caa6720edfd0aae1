//! The catalog service: products, owned by sellers, on MongoDB.
//!
//! Its features arrive with a later issue; today it starts, connects to the broker and
//! MongoDB, answers `/healthz`, `/readyz` and `/metrics` on port 8082, and stops cleanly
//! on SIGTERM.

use std::net::SocketAddr;

use axum::Router;
use kafka_runtime::http::ReadinessCheck;
use kafka_runtime::settings::setting;
use kafka_runtime::{mongo, Service};

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `MONGODB_URI`, default `mongodb://127.0.0.1:27017/commerce_catalog`.
    pub mongodb_uri: String,
    /// `HTTP_ADDR` for health and metrics, default `127.0.0.1:8082`.
    pub http_addr: SocketAddr,
}

impl Config {
    /// Reads the settings from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            mongodb_uri: setting(
                "MONGODB_URI",
                "mongodb://127.0.0.1:27017/commerce_catalog".to_string(),
            )?,
            http_addr: setting("HTTP_ADDR", SocketAddr::from(([127, 0, 0, 1], 8082)))?,
        })
    }
}

/// Connects to MongoDB (waiting while it is away) and runs until shutdown.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let shutdown = service.shutdown_token();
    let db = mongo::connect(&config.mongodb_uri, "commerce_catalog", &shutdown).await?;
    service.check_ready(ReadinessCheck::mongo(db));
    service.run(config.http_addr, Router::new()).await
}
