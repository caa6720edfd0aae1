//! The gateway: the platform's only HTTP entry for clients. It turns requests into
//! commands and queries on Kafka and answers with what comes back.
//!
//! Commands are answered 202 once the broker acknowledged them (503 when it cannot),
//! with a `Location` to follow; queries are answered with the owning service's reply
//! (504 when none comes in time). Tokens are verified here, with the public keys auth
//! publishes on `auth.keys`. Bodies are JSON (415 otherwise) of at most 64 KiB (413).
//! `docs/api.md` is the reference; `/api/openapi.json` describes the same routes: the
//! router and the document are both built from the route table in `routes/table.rs`.

pub mod dispatch;
pub mod error;
pub mod extract;
pub mod limits;
pub mod outcomes;
pub mod routes;
pub mod storefront;
pub mod tokens;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRef, Request};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::Router;
use kafka_runtime::follow::{follow, Start};
use kafka_runtime::http::ReadinessCheck;
use kafka_runtime::request_reply::Requester;
use kafka_runtime::settings::{millis, secs};
use kafka_runtime::{KafkaConfig, Service};
use shared_events::messages::order::OrderStatusChanged;
use shared_events::{Envelope, Topic};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::limits::Limiter;
use crate::outcomes::Outcomes;
use crate::tokens::Verifier;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How far back a starting gateway reads `gateway.replies`, which keeps an hour: it
/// then knows the outcome of every command the topic still holds, whichever instance
/// sent it, and from before a restart.
pub const OUTCOMES_KEPT: Duration = Duration::from_secs(3600);

/// Everything the gateway reads from its environment (`gateway --help` lists it).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "gateway", about)]
pub struct Config {
    /// Where it serves the API, health, readiness and metrics.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// The broker.
    #[command(flatten)]
    pub kafka: KafkaConfig,
    /// The bcrypt cost of a registration's password hash.
    #[arg(long, env = "BCRYPT_COST", default_value_t = 12)]
    pub bcrypt_cost: u32,
    /// Origins allowed cross-origin access, comma-separated; none by default.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = origin)]
    pub cors_allowed_origins: Vec<HeaderValue>,
    /// How long a query waits for its answer before 504, in milliseconds.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value = "5000", value_parser = millis)]
    pub request_timeout: Duration,
    /// Login attempts per client address and minute.
    #[arg(long, env = "LOGIN_ATTEMPTS_PER_MINUTE", default_value_t = 300)]
    pub login_attempts_per_minute: u32,
    /// Failed logins per email and minute.
    #[arg(long, env = "LOGIN_FAILURES_PER_MINUTE", default_value_t = 5)]
    pub login_failures_per_minute: u32,
    /// Registrations per client address and minute. Each costs a bcrypt hash; a load
    /// generator registering from one address needs it raised (`./dev bench` does).
    #[arg(long, env = "REGISTRATION_ATTEMPTS_PER_MINUTE", default_value_t = 20)]
    pub registration_attempts_per_minute: u32,
    /// Registrations hashed at once; by default the number of cores.
    #[arg(
        long,
        env = "HASHING_CONCURRENCY",
        default_value_t = std::thread::available_parallelism().map_or(2, |n| n.get())
    )]
    pub hashing_concurrency: usize,
    /// How long a registration may wait for a hashing slot before 503 `busy` with
    /// `Retry-After`, in milliseconds.
    #[arg(long, env = "HASHING_QUEUE_MS", default_value = "1000", value_parser = millis)]
    pub hashing_queue: Duration,
    /// How long an order status stream stays open before the gateway closes it (the
    /// client reconnects), in seconds.
    #[arg(long, env = "STREAM_MAX_LIFETIME_SECS", default_value = "600", value_parser = secs)]
    pub stream_lifetime: Duration,
    /// Order status streams open at once; past it 503 `too_many_streams` with
    /// `Retry-After`.
    #[arg(long, env = "STREAM_MAX_CONCURRENT", default_value_t = 1000)]
    pub max_streams: usize,
    /// The longest a request may take until its response starts (a stream's body is not
    /// counted), waiting for a slot included; past it 503. In seconds, at least 31, so
    /// the longest long-poll (30 s) fits.
    #[arg(
        long,
        env = "HTTP_REQUEST_TIMEOUT_SECS",
        default_value = "40",
        value_parser = http_timeout
    )]
    pub http_timeout: Duration,
    /// Requests handled at once; more wait for a slot until `HTTP_REQUEST_TIMEOUT_SECS`.
    #[arg(long, env = "HTTP_MAX_CONCURRENT_REQUESTS", default_value = "2000")]
    pub max_concurrent_requests: NonZeroUsize,
}

/// An allowed origin, as the `Origin` header names it.
fn origin(value: &str) -> Result<HeaderValue, String> {
    match value.trim() {
        "*" => Err("list the origins: * is not supported".into()),
        origin => origin
            .parse()
            .map_err(|_| format!("{origin:?} is not an origin")),
    }
}

/// The request timeout, refused when a long-poll could not finish within it.
fn http_timeout(value: &str) -> Result<Duration, String> {
    let shortest = routes::commands::MAX_WAIT_SECS + 1;
    match value.parse::<u64>() {
        Ok(secs) if secs >= shortest => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "expected whole seconds, at least {shortest}: a long-poll waits up to {} s",
            shortest - 1
        )),
    }
}

/// Bounds what the gateway takes on: at most `max_concurrent` requests are handled at
/// once, the others wait for a slot, and a request whose response has not started
/// within `timeout` (its wait included) is answered 503. Streams hold a slot only
/// until their response starts; `STREAM_MAX_CONCURRENT` bounds them.
pub fn with_limits<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    timeout: Duration,
    max_concurrent: usize,
) -> Router<S> {
    router
        .layer(GlobalConcurrencyLimitLayer::new(max_concurrent))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
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
    /// Verifies bearer tokens.
    pub verifier: Verifier,
    /// Login rate limits.
    pub login_limits: Arc<LoginLimits>,
    /// Registration attempts per client address.
    pub registrations_per_address: Arc<Limiter<IpAddr>>,
    /// Every order status change on `order.events`, for the status streams.
    pub order_changes: broadcast::Sender<OrderStatusChanged>,
    /// Slots for bcrypt hashing: registrations beyond them wait briefly, then get 503.
    pub hashing: Arc<tokio::sync::Semaphore>,
    /// Slots for order status streams: one held by each open stream.
    pub streams: Arc<tokio::sync::Semaphore>,
    /// Cancelled when the gateway stops: open streams end then.
    pub shutdown: CancellationToken,
}

impl FromRef<AppState> for Verifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// The two login limits of the contract.
pub struct LoginLimits {
    /// All attempts, per client address.
    pub per_address: Limiter<IpAddr>,
    /// Failed attempts, per email.
    pub failures_per_email: Limiter<String>,
}

impl LoginLimits {
    /// Per-minute limits from the settings.
    pub fn new(config: &Config) -> Self {
        Self {
            per_address: Limiter::per_minute(config.login_attempts_per_minute),
            failures_per_email: Limiter::per_minute(config.login_failures_per_minute),
        }
    }
}

/// The API routes, with body limit, CORS and a request id on every request: taken from
/// `x-request-id` or made up, returned in the response, and on every log line of the
/// request.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID);
    let cors = cors(&state.config.cors_allowed_origins);
    let (timeout, max_concurrent) = (
        state.config.http_timeout,
        state.config.max_concurrent_requests.get(),
    );
    let routes = routes::table::router().fallback(storefront::serve);
    with_limits(routes, timeout, max_concurrent)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id, correlation_id = tracing::field::Empty)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

fn cors(origins: &[HeaderValue]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([header::LOCATION, HeaderName::from_static(REQUEST_ID)])
}

/// Starts reading replies and public keys, and serves HTTP until shutdown. The gateway
/// is ready once it knows a key to verify tokens with.
pub async fn run(config: Config, mut service: Service) -> anyhow::Result<()> {
    let outcomes = Arc::new(Outcomes::new(100_000));
    let recorder = outcomes.clone();
    let (requester, replies) = Requester::start(
        service.kafka(),
        service.publisher().clone(),
        Start::Since(OUTCOMES_KEPT),
        move |reply| recorder.record(reply),
        service.shutdown_token(),
    )
    .await?;
    service.adopt(replies);
    let (verifier, keys) = Verifier::start(service.kafka(), service.shutdown_token()).await?;
    service.adopt(keys);
    let probe = verifier.clone();
    service.check_ready(ReadinessCheck::new("token keys", move || {
        let known = probe.known_keys();
        Box::pin(async move {
            if known > 0 {
                Ok(())
            } else {
                Err("no public key from auth yet (auth.keys)".to_string())
            }
        })
    }));
    let order_changes = broadcast::channel(4096).0;
    let changes = order_changes.clone();
    let order_events = follow(
        service.kafka(),
        &service.topics().name(Topic::OrderEvents),
        Start::End,
        service.shutdown_token(),
        move |change: Envelope<OrderStatusChanged>| drop(changes.send(change.data)),
    )
    .await?;
    service.adopt(order_events);
    let state = AppState {
        login_limits: Arc::new(LoginLimits::new(&config)),
        registrations_per_address: Arc::new(Limiter::per_minute(
            config.registration_attempts_per_minute,
        )),
        config: Arc::new(config.clone()),
        requester,
        outcomes,
        verifier,
        order_changes,
        hashing: Arc::new(tokio::sync::Semaphore::new(
            config.hashing_concurrency.max(1),
        )),
        streams: Arc::new(tokio::sync::Semaphore::new(config.max_streams)),
        shutdown: service.shutdown_token(),
    };
    service.run(router(state)).await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use axum::Router;
    use kafka_runtime::settings::FromEnv;
    use tower::ServiceExt;

    /// A router whose one route takes `busy` and counts how many run at once.
    fn slow(busy: Duration, running: Arc<AtomicUsize>, most: Arc<AtomicUsize>) -> Router {
        Router::new().route(
            "/",
            get(move || async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(busy).await;
                running.fetch_sub(1, Ordering::SeqCst);
            }),
        )
    }

    async fn status(router: Router) -> StatusCode {
        let request = Request::get("/").body(Body::empty()).unwrap();
        router.oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn requests_beyond_the_limit_wait_for_a_slot_and_are_all_served() {
        let (running, most) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
        let router = super::with_limits(
            slow(Duration::from_millis(50), running, most.clone()),
            Duration::from_secs(10),
            2,
        );
        let requests = (0..6).map(|_| status(router.clone()));
        let statuses = futures::future::join_all(requests).await;
        assert!(
            statuses.iter().all(|s| *s == StatusCode::OK),
            "{statuses:?}"
        );
        assert_eq!(
            most.load(Ordering::SeqCst),
            2,
            "never more than the limit at once"
        );
    }

    #[tokio::test]
    async fn a_request_that_takes_longer_than_the_timeout_is_answered_503() {
        let router = super::with_limits(
            slow(Duration::from_secs(30), Arc::default(), Arc::default()),
            Duration::from_millis(100),
            10,
        );
        assert_eq!(status(router).await, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn a_timeout_too_short_for_a_long_poll_refuses_to_start() {
        assert!(super::http_timeout("30").is_err());
        assert_eq!(super::http_timeout("31").unwrap(), Duration::from_secs(31));
        let err = read(&[("HTTP_REQUEST_TIMEOUT_SECS", "30")]).unwrap_err();
        assert!(
            err.to_string().starts_with("HTTP_REQUEST_TIMEOUT_SECS="),
            "{err}"
        );
    }

    fn read(vars: &[(&str, &str)]) -> anyhow::Result<super::Config> {
        super::Config::from_vars(vars.iter().copied())
    }

    #[test]
    fn every_setting_has_its_default_and_a_bad_value_is_refused_naming_its_variable() {
        let config = read(&[]).unwrap();
        assert_eq!(config.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.max_concurrent_requests.get(), 2000);
        assert!(config.cors_allowed_origins.is_empty());
        for (name, value) in [
            ("BCRYPT_COST", "twelve"),
            ("HTTP_MAX_CONCURRENT_REQUESTS", "0"),
            ("CORS_ALLOWED_ORIGINS", "*"),
            ("STREAM_MAX_LIFETIME_SECS", "10m"),
        ] {
            let err = read(&[(name, value)]).unwrap_err();
            assert!(err.to_string().starts_with(&format!("{name}=")), "{err}");
        }
    }

    #[test]
    fn allowed_origins_are_a_comma_separated_list() {
        let config = read(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://shop.example, http://127.0.0.1:5173",
        )])
        .unwrap();
        assert_eq!(
            config.cors_allowed_origins,
            ["https://shop.example", "http://127.0.0.1:5173"]
        );
    }
}
