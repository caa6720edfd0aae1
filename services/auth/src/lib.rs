//! The auth service: users, passwords and tokens.
//!
//! It consumes `auth.commands` through the shared runtime and keeps users in its own
//! PostgreSQL database: `register_user` stores a user (email unique, compared
//! case-insensitively) and emits `auth.user_registered`, or answers `email_taken`.
//! Health, readiness and metrics are on port 8081. Login, tokens and the first admin
//! arrive with the gateway-and-auth issue.

pub mod domain;
pub mod handler;

use std::net::SocketAddr;

use axum::Router;
use kafka_runtime::http::ReadinessCheck;
use kafka_runtime::postgres::PgProcessor;
use kafka_runtime::settings::setting;
use kafka_runtime::{postgres, Service};
use shared_events::{Topic, Topics};

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`, default `postgres://commerce:commerce@127.0.0.1:5432/commerce_auth`.
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS`, default 10.
    pub max_connections: u32,
    /// `HTTP_ADDR` for health and metrics, default `127.0.0.1:8081`.
    pub http_addr: SocketAddr,
}

impl Config {
    /// Reads the settings from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            database_url: setting(
                "DATABASE_URL",
                "postgres://commerce:commerce@127.0.0.1:5432/commerce_auth".to_string(),
            )?,
            max_connections: setting("DATABASE_MAX_CONNECTIONS", 10)?,
            http_addr: setting("HTTP_ADDR", SocketAddr::from(([127, 0, 0, 1], 8081)))?,
        })
    }
}

/// Brings auth's tables up to date.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!().run(pool).await
}

/// Auth's handler applying `auth.commands` in transactions on `pool`.
pub fn processor(pool: sqlx::PgPool, topics: Topics) -> PgProcessor<handler::AuthHandler> {
    PgProcessor::new(pool, topics, handler::AuthHandler)
}

/// Connects to the database (waiting while it is away), migrates it, and consumes
/// `auth.commands` until shutdown.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let shutdown = service.shutdown_token();
    let pool = postgres::connect(&config.database_url, config.max_connections, &shutdown).await?;
    migrate(&pool).await?;
    service.check_ready(ReadinessCheck::postgres(pool.clone()));
    service.consume(
        &[Topic::AuthCommands],
        processor(pool, service.topics().clone()),
    );
    service.run(config.http_addr, Router::new()).await
}
