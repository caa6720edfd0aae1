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

use std::time::Duration;

use axum::Router;
use kafka_runtime::postgres::{Database, PgProcessor};
use kafka_runtime::settings::setting;
use kafka_runtime::Service;
use shared_events::topics::Service as Name;
use shared_events::{Topic, Topics};

/// The service's settings, besides the runtime's (Kafka, `HTTP_ADDR`).
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL` (default the `commerce_order` database on this machine) and
    /// `DATABASE_MAX_CONNECTIONS`.
    pub database: Database,
    /// `ORDER_DEADLINE_SECS`, default 120: an order still PENDING this long after it
    /// was placed is cancelled with reason `timeout`.
    pub deadline: Duration,
}

impl Config {
    /// Reads the settings from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            database: Database::from_env(Name::Order)?,
            deadline: Duration::from_secs(setting("ORDER_DEADLINE_SECS", 120)?),
        })
    }
}

/// The order service's tables.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!();

/// Brings the order service's tables up to date.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATIONS.run(pool).await
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
    let pool = config.database.open(&MIGRATIONS, &shutdown).await?;
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
    service.answer(&[Topic::OrderQueries], queries);
    service.run(Router::new()).await
}
