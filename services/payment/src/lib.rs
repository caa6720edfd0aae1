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

use std::time::Duration;

use axum::Router;
use kafka_runtime::postgres::{Database, PgProcessor};
use kafka_runtime::settings::setting;
use kafka_runtime::Service;
use provider::SimulatedProvider;
use shared_events::topics::Service as Name;
use shared_events::{Topic, Topics};

/// The service's settings, besides the runtime's (Kafka, `HTTP_ADDR`).
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL` (default the `commerce_payment` database on this machine) and
    /// `DATABASE_MAX_CONNECTIONS`.
    pub database: Database,
    /// `PAYMENT_ATTEMPTS`: calls at the provider before an unavailable one becomes
    /// `processing_error`, default 3, spaced 200 ms and doubling.
    pub attempts: u32,
    /// `PROVIDER_LATENCY_MS`: how long the simulated provider's answer takes to come
    /// back after it charged, default 0.
    pub provider_latency: Duration,
}

impl Config {
    /// Reads the settings from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            database: Database::from_env(Name::Payment)?,
            attempts: setting("PAYMENT_ATTEMPTS", 3)?,
            provider_latency: Duration::from_millis(setting("PROVIDER_LATENCY_MS", 0)?),
        })
    }
}

/// Payment's tables.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!();

/// Brings payment's tables up to date.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATIONS.run(pool).await
}

/// Payment's handler applying the saga's events in transactions on `pool`.
pub fn processor(pool: sqlx::PgPool, topics: Topics) -> PgProcessor<handler::PaymentHandler> {
    PgProcessor::new(pool, topics, handler::PaymentHandler)
}

/// Connections the simulated provider keeps for itself, apart from payment's pool, so
/// that a transaction waiting on the provider never waits for its own pool.
pub const PROVIDER_CONNECTIONS: u32 = 4;

/// Connects to the database (waiting while it is away), migrates it, then follows the
/// saga, charges what it decided to charge and answers queries until shutdown.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let shutdown = service.shutdown_token();
    let pool = config.database.open(&MIGRATIONS, &shutdown).await?;
    // The same server, already waited for and migrated: only the connections differ.
    let provider_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(PROVIDER_CONNECTIONS)
        .connect_lazy_with((*pool.connect_options()).clone());
    let provider = SimulatedProvider::new(provider_pool).with_latency(config.provider_latency);
    let processor = processor(pool.clone(), service.topics().clone());
    service.consume(&[Topic::OrderEvents, Topic::InventoryEvents], processor);
    let charger = charger::Charger {
        pool: pool.clone(),
        provider,
        publisher: service.publisher().clone(),
        topics: service.topics().clone(),
        attempts: config.attempts,
    };
    service.spawn(charger.run(shutdown.clone()));
    service.answer(&[Topic::PaymentQueries], queries::PaymentQueries::new(pool));
    service.run(Router::new()).await
}
