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

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::routing::{get, post};
use axum::Router;
use kafka_runtime::request_reply::Requester;
use kafka_runtime::settings::setting;
use kafka_runtime::Service;
use tokio::sync::broadcast::error::RecvError;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

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
    /// `CORS_ALLOWED_ORIGINS`, comma-separated; default none (no cross-origin access).
    pub cors_allowed_origins: Vec<String>,
}

impl Config {
    /// Reads the settings from the environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            http_addr: setting("HTTP_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            bcrypt_cost: setting("BCRYPT_COST", 12)?,
            cors_allowed_origins: setting("CORS_ALLOWED_ORIGINS", String::new())?
                .split(',')
                .map(str::trim)
                .filter(|origin| !origin.is_empty())
                .map(String::from)
                .collect(),
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

/// The API routes, with body limit, CORS and a request id on every request: taken from
/// `x-request-id` or made up, returned in the response, and on every log line of the
/// request.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID);
    let cors = cors(&state.config.cors_allowed_origins);
    Router::new()
        .route("/api/auth/register", post(routes::auth::register))
        .route("/api/commands/{id}", get(routes::commands::command_status))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([header::LOCATION, HeaderName::from_static(REQUEST_ID)])
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
