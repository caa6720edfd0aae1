//! `/healthz`, `/readyz` and `/metrics`, the only HTTP a service other than the
//! gateway exposes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// One dependency `/readyz` checks: a name and a probe.
#[derive(Clone)]
pub struct ReadinessCheck {
    name: &'static str,
    probe: Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>,
}

impl ReadinessCheck {
    /// A named probe; it should answer within a couple of seconds.
    pub fn new<F>(name: &'static str, probe: F) -> Self
    where
        F: Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
    {
        Self {
            name,
            probe: Arc::new(probe),
        }
    }
}

#[derive(Clone)]
struct HealthState {
    metrics: Metrics,
    checks: Arc<Vec<ReadinessCheck>>,
}

/// The health and metrics routes, to serve alone or merge into a larger router.
pub fn health_routes<S>(metrics: Metrics, checks: Vec<ReadinessCheck>) -> Router<S> {
    let state = HealthState {
        metrics,
        checks: Arc::new(checks),
    };
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

async fn readyz(State(state): State<HealthState>) -> impl IntoResponse {
    let results = futures::future::join_all(state.checks.iter().map(|check| (check.probe)())).await;
    let mut failures = serde_json::Map::new();
    for (check, result) in state.checks.iter().zip(results) {
        if let Err(reason) = result {
            failures.insert(check.name.to_string(), reason.into());
        }
    }
    // Parked messages do not make a service unready (it is working), but an operator
    // looking here should see them: they wait in the DLQ with their reason.
    let parked = state.metrics.parked_total();
    if failures.is_empty() {
        (
            StatusCode::OK,
            Json(json!({ "status": "ready", "parked": parked })),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "failing": failures, "parked": parked })),
        )
    }
}

async fn metrics_text(State(state): State<HealthState>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// Serves a router on `addr` until `shutdown`, then drains open requests.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "HTTP listening");
    // The peer address is available to handlers as `ConnectInfo<SocketAddr>`.
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}
