//! The payment service: charges and refunds with a simulated provider.
//!
//! It keeps its own PostgreSQL database. From `order.events` it learns each order's
//! amount and token (`order_placed`) and its cancellation; from `inventory.events` that
//! its stock is reserved. It charges once when both are known and the order is not
//! cancelled, refunds a charge whose order was cancelled, and never charges an order it
//! knows is cancelled, whatever order the events come in (`domain::decide`). The
//! provider is called by the charger, outside every transaction (`charger.rs`). At most one
//! successful charge per order is a unique index. It answers `payment.queries`.
//! Health, readiness and metrics are on port 8085.

pub mod charger;
pub mod domain;
pub mod handler;
pub mod provider;
pub mod queries;
pub mod store;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use kafka_runtime::postgres::{self, PgProcessor, ServiceProcessor};
use kafka_runtime::settings::millis;
use kafka_runtime::{KafkaConfig, Service};
use provider::SimulatedProvider;
use secrecy::SecretString;
use shared_events::Topics;

/// Everything payment reads from its environment (`payment --help` lists it).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "payment", about)]
pub struct Config {
    /// Where it serves health, readiness and metrics.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8085")]
    pub http_addr: SocketAddr,
    /// Its PostgreSQL database.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://commerce:commerce@127.0.0.1:5432/commerce_payment",
        hide_env_values = true
    )]
    pub database_url: SecretString,
    /// Its pool.
    #[command(flatten)]
    pub postgres: postgres::Pool,
    /// The broker.
    #[command(flatten)]
    pub kafka: KafkaConfig,
    /// Calls at the provider before an unavailable one becomes `processing_error`, spaced
    /// 200 ms and doubling.
    #[arg(long, env = "PAYMENT_ATTEMPTS", default_value_t = 3)]
    pub attempts: u32,
    /// How long the simulated provider's answer takes to come back after it charged, in
    /// milliseconds.
    #[arg(long, env = "PROVIDER_LATENCY_MS", default_value = "0", value_parser = millis)]
    pub provider_latency: Duration,
}

/// Payment's tables.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!();

/// Brings payment's tables up to date.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATIONS.run(pool).await
}

/// Payment's handler applying the saga's events in transactions on `pool`.
pub fn processor(pool: sqlx::PgPool, topics: Topics) -> ServiceProcessor<handler::PaymentHandler> {
    PgProcessor::handling(pool, topics, handler::PaymentHandler)
}

/// Connections the simulated provider keeps for itself, apart from payment's pool, so
/// that a transaction waiting on the provider never waits for its own pool.
pub const PROVIDER_CONNECTIONS: u32 = 4;

/// Connects to the database (waiting while it is away), migrates it, then follows the
/// saga, charges what it decided to charge and answers queries until shutdown.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let shutdown = service.shutdown_token();
    let pool = config
        .postgres
        .open(&config.database_url, &MIGRATIONS, &shutdown)
        .await?;
    // The same server, already waited for and migrated: only the connections differ.
    let provider_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(PROVIDER_CONNECTIONS)
        .connect_lazy_with((*pool.connect_options()).clone());
    let provider = SimulatedProvider::new(provider_pool).with_latency(config.provider_latency);
    let processor = processor(pool.clone(), service.topics().clone());
    let marks = processor.sent_marks();
    service.consume(processor)?;
    let charger = charger::Charger {
        pool: pool.clone(),
        provider,
        publisher: service.publisher().clone(),
        topics: service.topics().clone(),
        attempts: config.attempts,
        marks,
    };
    service.spawn(charger.run(shutdown.clone()));
    service.answer(queries::PaymentQueries::new(pool))?;
    service.run(Router::new()).await
}
