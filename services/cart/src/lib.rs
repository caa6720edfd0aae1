//! The cart service: one cart per buyer, on MongoDB.
//!
//! It consumes `cart.commands` (add, set quantity, remove, clear; only the buyer or an
//! admin, checked again here from the envelope's actor), keeps a product view from
//! `catalog.events` to validate and price lines, and empties a cart when
//! `order.order_placed` says the order checked out from it exists. It answers
//! `cart.queries` with the cart priced. Health, readiness and metrics are on port 8086.

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
    /// `MONGODB_URI`, default `mongodb://127.0.0.1:27017/commerce_cart`.
    pub mongodb_uri: String,
}

impl Config {
    /// Reads the settings from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            mongodb_uri: setting(
                "MONGODB_URI",
                "mongodb://127.0.0.1:27017/commerce_cart".to_string(),
            )?,
        })
    }
}

/// Connects to MongoDB (waiting while it is away), then consumes its commands, the
/// catalog's product events and the order events until shutdown, and answers queries.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let shutdown = service.shutdown_token();
    let db = mongo::connect(&config.mongodb_uri, "commerce_cart", &shutdown).await?;
    let handler = handler::CartHandler::new(&db, service.topics());
    let processor = MongoProcessor::new(db.clone(), service.topics().clone(), handler);
    service.consume(
        &[
            Topic::CartCommands,
            Topic::CatalogEvents,
            Topic::OrderEvents,
        ],
        processor,
    );
    service.answer(&[Topic::CartQueries], queries::CartQueries::new(&db));
    service.run(Router::new()).await
}
