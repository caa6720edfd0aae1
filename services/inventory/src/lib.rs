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
use std::time::Duration;

use axum::Router;
use kafka_runtime::postgres::PgProcessor;
use kafka_runtime::settings::setting;
use kafka_runtime::{postgres, Service};
use shared_events::{Topic, Topics};

/// How long a query may wait on `inventory.queries` before nobody is waiting for it.
pub const QUERY_MAX_AGE: Duration = Duration::from_secs(30);

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`, default `postgres://commerce:commerce@127.0.0.1:5432/commerce_inventory`.
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS`, default 10.
    pub max_connections: u32,
    /// `HTTP_ADDR` for health and metrics, default `127.0.0.1:8084`.
    pub http_addr: SocketAddr,
}

impl Config {
    /// Reads the settings from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            database_url: setting(
                "DATABASE_URL",
                "postgres://commerce:commerce@127.0.0.1:5432/commerce_inventory".to_string(),
            )?,
            max_connections: setting("DATABASE_MAX_CONNECTIONS", 10)?,
            http_addr: setting("HTTP_ADDR", SocketAddr::from(([127, 0, 0, 1], 8084)))?,
        })
    }
}

/// Brings inventory's tables up to date.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!().run(pool).await
}

/// Inventory's handler applying its messages in transactions on `pool`.
pub fn processor(pool: sqlx::PgPool, topics: Topics) -> PgProcessor<handler::InventoryHandler> {
    let handler = handler::InventoryHandler::new(&topics);
    PgProcessor::new(pool, topics, handler)
}

/// Connects to the database (waiting while it is away), migrates it, then consumes new
/// products and stock commands and answers queries until shutdown.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let shutdown = service.shutdown_token();
    let pool = postgres::connect(&config.database_url, config.max_connections, &shutdown).await?;
    migrate(&pool).await?;
    let topics = service.topics().clone();
    service.consume(
        &[
            Topic::InventoryCommands,
            Topic::CatalogEvents,
            Topic::OrderEvents,
        ],
        processor(pool.clone(), topics),
    );
    let queries = queries::InventoryQueries::new(pool);
    service.answer(&[Topic::InventoryQueries], queries, QUERY_MAX_AGE);
    service.run(config.http_addr, Router::new()).await
}
