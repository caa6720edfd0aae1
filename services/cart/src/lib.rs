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

use std::net::SocketAddr;

use axum::Router;
use kafka_runtime::mongo::{self, MongoProcessor};
use kafka_runtime::{KafkaConfig, Service};
use secrecy::SecretString;
use shared_events::topics::Service as Name;

/// Everything the cart reads from its environment (`cart --help` lists it).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "cart", about)]
pub struct Config {
    /// Where it serves health, readiness and metrics.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8086")]
    pub http_addr: SocketAddr,
    /// Its MongoDB database (`commerce_cart` when the URI names none).
    #[arg(
        long,
        env = "MONGODB_URI",
        default_value = "mongodb://127.0.0.1:27017/commerce_cart",
        hide_env_values = true
    )]
    pub mongodb_uri: SecretString,
    /// The broker.
    #[command(flatten)]
    pub kafka: KafkaConfig,
}

/// Connects to MongoDB (waiting while it is away), then consumes its commands, the
/// catalog's product events and the order events until shutdown, and answers queries.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let shutdown = service.shutdown_token();
    let db = mongo::open(&config.mongodb_uri, Name::Cart, &shutdown).await?;
    let handler = handler::CartHandler::new(&db);
    let topics = service.topics().clone();
    service.consume(MongoProcessor::handling(db.clone(), topics, handler))?;
    service.answer(queries::CartQueries::new(&db))?;
    service.run(Router::new()).await
}
