//! The inventory service: stock, reservations and the movement ledger.
//!
//! It keeps its state in its own PostgreSQL database. It opens a product's stock from
//! `catalog.product_created`, applies `inventory.commands` (adjustments and reorder
//! points, by the owning seller or an admin), reserves, commits and releases stock for
//! orders from `order.events` (`reservations`), sends `stock_changed` after every change
//! and `low_stock` once per crossing of the reorder point, records every move in a
//! ledger, and answers `inventory.queries`. Health, readiness and metrics are on port
//! 8084.

pub mod domain;
pub mod handler;
pub mod queries;
pub mod reservations;
pub mod store;

use std::net::SocketAddr;

use axum::Router;
use kafka_runtime::postgres::{self, PgProcessor, ServiceProcessor};
use kafka_runtime::{KafkaConfig, Service};
use secrecy::SecretString;
use shared_events::Topics;

/// Everything inventory reads from its environment (`inventory --help` lists it).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "inventory", about)]
pub struct Config {
    /// Where it serves health, readiness and metrics.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8084")]
    pub http_addr: SocketAddr,
    /// Its PostgreSQL database.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://commerce:commerce@127.0.0.1:5432/commerce_inventory",
        hide_env_values = true
    )]
    pub database_url: SecretString,
    /// Its pool.
    #[command(flatten)]
    pub postgres: postgres::Pool,
    /// The broker.
    #[command(flatten)]
    pub kafka: KafkaConfig,
}

/// Inventory's tables.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!();

/// Brings inventory's tables up to date.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATIONS.run(pool).await
}

/// Inventory's handler applying its messages in transactions on `pool`.
pub fn processor(
    pool: sqlx::PgPool,
    topics: Topics,
) -> ServiceProcessor<handler::InventoryHandler> {
    PgProcessor::handling(pool, topics, handler::InventoryHandler)
}

/// Connects to the database (waiting while it is away), migrates it, then consumes new
/// products and stock commands and answers queries until shutdown.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let pool = config
        .postgres
        .open(&config.database_url, &MIGRATIONS, &service.shutdown_token())
        .await?;
    let topics = service.topics().clone();
    service.consume(processor(pool.clone(), topics))?;
    service.answer(queries::InventoryQueries::new(pool))?;
    service.run(Router::new()).await
}
