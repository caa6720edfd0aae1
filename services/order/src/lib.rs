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
use kafka_runtime::postgres::{self, PgProcessor, ServiceProcessor};
use kafka_runtime::settings::secs;
use kafka_runtime::{KafkaConfig, Service};
use secrecy::SecretString;
use shared_events::Topics;

/// Everything the order service reads from its environment (`order --help` lists it).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "order", about)]
pub struct Config {
    /// Where it serves health, readiness and metrics.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8083")]
    pub http_addr: SocketAddr,
    /// Its PostgreSQL database.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://commerce:commerce@127.0.0.1:5432/commerce_order",
        hide_env_values = true
    )]
    pub database_url: SecretString,
    /// Its pool.
    #[command(flatten)]
    pub postgres: postgres::Pool,
    /// The broker.
    #[command(flatten)]
    pub kafka: KafkaConfig,
    /// Seconds after which an order still PENDING since it was placed is cancelled with
    /// reason `timeout`.
    #[arg(long, env = "ORDER_DEADLINE_SECS", default_value = "120", value_parser = secs)]
    pub deadline: Duration,
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
) -> ServiceProcessor<handler::OrderHandler> {
    PgProcessor::handling(pool, topics, handler::OrderHandler::new(deadline))
}

/// Connects to the database (waiting while it is away), migrates it, then follows the
/// catalog and the saga, applies commands, expires overdue orders and answers queries
/// until shutdown.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let shutdown = service.shutdown_token();
    let pool = config
        .postgres
        .open(&config.database_url, &MIGRATIONS, &shutdown)
        .await?;
    let topics = service.topics().clone();
    service.consume(processor(pool.clone(), topics.clone(), config.deadline))?;
    service.spawn(deadline::run(
        pool.clone(),
        service.publisher().clone(),
        topics,
        config.deadline,
        shutdown.clone(),
    ));
    service.answer(queries::OrderQueries::new(pool))?;
    service.run(Router::new()).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kafka_runtime::settings::FromEnv;

    use super::Config;

    #[test]
    fn the_deadline_is_read_and_a_bad_one_is_refused_naming_its_variable() {
        let config = Config::from_vars([("ORDER_DEADLINE_SECS", "30")]).unwrap();
        assert_eq!(config.deadline, Duration::from_secs(30));
        assert_eq!(
            Config::from_vars([("A", "b")]).unwrap().deadline,
            Duration::from_secs(120)
        );
        let err = Config::from_vars([("ORDER_DEADLINE_SECS", "x")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"ORDER_DEADLINE_SECS="x" is not valid: expected whole seconds"#
        );
    }
}
