//! The gateway: the platform's only HTTP entry for clients. It turns requests into
//! commands and queries on Kafka and answers with what comes back.
//!
//! Built so far: `POST /api/auth/register` (202 once the broker acknowledged the
//! command, 503 when it cannot) and `GET /api/commands/{id}?wait=` (the outcome, read
//! from `gateway.replies`). Bodies are JSON (415 otherwise) of at most 64 KiB (413).

pub mod error;
pub mod extract;
pub mod outcomes;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use kafka_runtime::request_reply::Requester;
use kafka_runtime::settings::setting;
use kafka_runtime::Service;
use tokio::sync::broadcast::error::RecvError;

use crate::outcomes::Outcomes;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The gateway's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `HTTP_ADDR`, default `127.0.0.1:8080`.
    pub http_addr: SocketAddr,
    /// `BCRYPT_COST`, default 12.
    pub bcrypt_cost: u32,
}

impl Config {
    /// Reads the settings from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            http_addr: setting("HTTP_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            bcrypt_cost: setting("BCRYPT_COST", 12)?,
        })
    }
}

/// What every route shares.
#[derive(Clone)]
pub struct AppState {
    /// Settings.
    pub config: Arc<Config>,
    /// Sends commands and queries.
    pub requester: Requester,
    /// Command outcomes.
    pub outcomes: Arc<Outcomes>,
}

/// The API routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/auth/register", post(routes::auth::register))
        .route("/api/commands/{id}", get(routes::commands::command_status))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Starts reading replies and serves HTTP until shutdown.
pub async fn run(config: Config, service: Service) -> anyhow::Result<()> {
    let requester = Requester::start(
        service.kafka(),
        service.publisher().clone(),
        service.shutdown_token(),
    )
    .await?;
    let outcomes = Arc::new(Outcomes::new(100_000));
    tokio::spawn(record_outcomes(requester.clone(), outcomes.clone()));
    let state = AppState {
        config: Arc::new(config.clone()),
        requester,
        outcomes,
    };
    service.run(config.http_addr, router(state)).await
}

/// Files every reply under the command that caused it.
async fn record_outcomes(requester: Requester, outcomes: Arc<Outcomes>) {
    let mut replies = requester.outcomes();
    loop {
        match replies.recv().await {
            Ok(reply) => {
                if let Some(command_id) = reply.causation_id {
                    outcomes.resolve(command_id, reply.data);
                }
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "outcomes fell behind the replies")
            }
            Err(RecvError::Closed) => return,
        }
    }
}
