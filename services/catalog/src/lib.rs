//! The catalog service: products, owned by sellers, on MongoDB.
//!
//! It consumes `catalog.commands` (create, update, deactivate; only the owning seller
//! or an admin, checked again here from the envelope's actor) and emits
//! `catalog.events`; it keeps each product's `availableStock` from
//! `inventory.stock_changed`; it answers `catalog.queries` (one product, or a filtered
//! page). Health, readiness and metrics are on port 8082.

pub mod domain;
pub mod handler;
pub mod queries;
pub mod store;

use std::net::SocketAddr;

use axum::Router;
use kafka_runtime::mongo::{self, MongoProcessor};
use kafka_runtime::{KafkaConfig, Service};
use secrecy::SecretString;
use shared_events::topics::Service as Name;

/// Everything the catalog reads from its environment (`catalog --help` lists it).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "catalog", about)]
pub struct Config {
    /// Where it serves health, readiness and metrics.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8082")]
    pub http_addr: SocketAddr,
    /// Its MongoDB database (`commerce_catalog` when the URI names none).
    #[arg(
        long,
        env = "MONGODB_URI",
        default_value = "mongodb://127.0.0.1:27017/commerce_catalog",
        hide_env_values = true
    )]
    pub mongodb_uri: SecretString,
    /// The broker.
    #[command(flatten)]
    pub kafka: KafkaConfig,
}

/// Connects to MongoDB (waiting while it is away), creates the indexes, then consumes
/// its commands and inventory's stock events and answers queries until shutdown.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let shutdown = service.shutdown_token();
    let db = mongo::open(&config.mongodb_uri, Name::Catalog, &shutdown).await?;
    store::ensure_indexes(&db).await?;
    let handler = handler::CatalogHandler::new(&db);
    let topics = service.topics().clone();
    service.consume(MongoProcessor::handling(db.clone(), topics, handler))?;
    service.answer(queries::CatalogQueries::new(&db))?;
    service.run(Router::new()).await
}
