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

use axum::Router;
use kafka_runtime::mongo::MongoProcessor;
use kafka_runtime::settings::setting;
use kafka_runtime::{mongo, Service};
use shared_events::Topic;

/// The service's settings, besides the runtime's (Kafka, `HTTP_ADDR`).
#[derive(Debug, Clone)]
pub struct Config {
    /// `MONGODB_URI`, default `mongodb://127.0.0.1:27017/commerce_catalog`.
    pub mongodb_uri: String,
}

impl Config {
    /// Reads the settings from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            mongodb_uri: setting(
                "MONGODB_URI",
                "mongodb://127.0.0.1:27017/commerce_catalog".to_string(),
            )?,
        })
    }
}

/// Connects to MongoDB (waiting while it is away), creates the indexes, then consumes
/// its commands and inventory's stock events and answers queries until shutdown.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let shutdown = service.shutdown_token();
    let db = mongo::connect(&config.mongodb_uri, "commerce_catalog", &shutdown).await?;
    store::ensure_indexes(&db).await?;
    let handler = handler::CatalogHandler::new(&db, service.topics());
    let processor = MongoProcessor::new(db.clone(), service.topics().clone(), handler);
    service.consume(&[Topic::CatalogCommands, Topic::InventoryEvents], processor);
    service.answer(&[Topic::CatalogQueries], queries::CatalogQueries::new(&db));
    service.run(Router::new()).await
}
