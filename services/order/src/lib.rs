//! The order service: orders and their saga state.
//!
//! It keeps its own PostgreSQL database: the orders with their history, and a view of
//! the products built from `catalog.events` that it prices with (it never asks the
//! catalog). It applies `order.commands` (place, cancel, advance), follows the saga on
//! `inventory.events` and `payment.events`, announces every change on `order.events`,
//! and answers `order.queries`. Health, readiness and metrics are on port 8083. The
//! saga is in `docs/saga.md`.

pub mod deadline;
pub mod domain;
pub mod handler;
pub mod queries;
pub mod store;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use kafka_runtime::postgres::PgProcessor;
use kafka_runtime::settings::setting;
use kafka_runtime::{postgres, Service};
use shared_events::{Topic, Topics};

/// How long a query may wait on `order.queries` before nobody is waiting for it.
pub const QUERY_MAX_AGE: Duration = Duration::from_secs(30);

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`, default `postgres://commerce:commerce@127.0.0.1:5432/commerce_order`.
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS`, default 10.
    pub max_connections: u32,
    /// `HTTP_ADDR` for health and metrics, default `127.0.0.1:8083`.
    pub http_addr: SocketAddr,
    /// `ORDER_DEADLINE_SECS`, default 120: an order still PENDING this long after it
    /// was placed is cancelled with reason `timeout`.
    pub deadline: Duration,
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
            deadline: Duration::from_secs(setting("ORDER_DEADLINE_SECS", 120)?),
        })
    }
}

/// Brings the order service's tables up to date.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!().run(pool).await
}

/// The order handler applying its messages in transactions on `pool`, with orders
/// expiring `deadline` after they were placed.
pub fn processor(
    pool: sqlx::PgPool,
    topics: Topics,
    deadline: Duration,
) -> PgProcessor<handler::OrderHandler> {
    let handler = handler::OrderHandler::new(&topics, deadline);
    PgProcessor::new(pool, topics, handler)
}

/// Connects to the database (waiting while it is away), migrates it, then follows the
/// catalog and the saga, applies commands, expires overdue orders and answers queries
/// until shutdown.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let shutdown = service.shutdown_token();
    let pool = postgres::connect(&config.database_url, config.max_connections, &shutdown).await?;
    migrate(&pool).await?;
    let consumed = [
        Topic::OrderCommands,
        Topic::CatalogEvents,
        Topic::InventoryEvents,
        Topic::PaymentEvents,
    ];
    let topics = service.topics().clone();
    service.consume(
        &consumed,
        processor(pool.clone(), topics.clone(), config.deadline),
    );
    service.spawn(deadline::run(
        pool.clone(),
        service.publisher().clone(),
        topics,
        config.deadline,
        shutdown.clone(),
    ));
    let queries = queries::OrderQueries::new(pool);
    service.answer(&[Topic::OrderQueries], queries, QUERY_MAX_AGE);
    service.run(config.http_addr, Router::new()).await
}
