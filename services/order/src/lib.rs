//! The order service: orders and their saga state.
//!
//! It consumes its topics through the shared runtime and keeps its state in its own
//! PostgreSQL database. Its features arrive with later issues; today it starts, connects
//! to the broker and its database, answers `/healthz`, `/readyz` and `/metrics` on
//! port 8083, and stops cleanly on SIGTERM.

use std::net::SocketAddr;

use axum::Router;
use kafka_runtime::http::ReadinessCheck;
use kafka_runtime::settings::setting;
use kafka_runtime::{postgres, Service};

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`, default `postgres://commerce:commerce@127.0.0.1:5432/commerce_order`.
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS`, default 10.
    pub max_connections: u32,
    /// `HTTP_ADDR` for health and metrics, default `127.0.0.1:8083`.
    pub http_addr: SocketAddr,
}

impl Config {
    /// Reads the settings from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            database_url: setting(
                "DATABASE_URL",
                "postgres://commerce:commerce@127.0.0.1:5432/commerce_order".to_string(),
            )?,
            max_connections: setting("DATABASE_MAX_CONNECTIONS", 10)?,
            http_addr: setting("HTTP_ADDR", SocketAddr::from(([127, 0, 0, 1], 8083)))?,
        })
    }
}

/// Connects to the database (waiting while it is away) and runs until shutdown.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let shutdown = service.shutdown_token();
    let pool = postgres::connect(&config.database_url, config.max_connections, &shutdown).await?;
    service.check_ready(ReadinessCheck::postgres(pool));
    service.run(config.http_addr, Router::new()).await
}
