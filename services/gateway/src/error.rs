//! The gateway's one error type: one `match` decides the status; internal causes are
//! logged once and never reach the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kafka_runtime::request_reply::RequestError;
use schemars::JsonSchema;
use serde::Serialize;
use shared_events::messages::reply::{ReplyCode, ReplyError};
use shared_events::rules::Problems;

/// `Retry-After` for a status stream refused at the cap: streams end at a terminal
/// status or their lifetime, not within a second.
pub const STREAMS_RETRY_AFTER_SECS: u64 = 5;

/// `Retry-After` when the broker did not take a command: a lost broker's partitions
/// move to another in seconds (docs/operations.md, "Running on a Kafka cluster").
pub const BROKER_RETRY_AFTER_SECS: u64 = 2;

/// The body of every error answer: `{"error": {"code", "message", "details"?}}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`) and for people (`message`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorDetail {
    /// Machine-readable, e.g. `invalid_body` or `order_not_cancellable`.
    pub code: String,
    /// For people.
    pub message: String,
    /// With a 400: each bad field (or `body`) and what is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<std::collections::BTreeMap<String, String>>")]
    pub details: Option<Problems>,
}

/// Everything a route can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not what the route takes; `details` names the fields.
    #[error("{message}")]
    Invalid {
        /// Machine-readable code.
        code: &'static str,
        /// For people.
        message: String,
        /// Field → problem.
        details: Option<Problems>,
    },
    /// 401: no token, or one that does not verify. Also wrong credentials at login.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: signed in, but the role may not do this.
    #[error("your role may not do this")]
    Forbidden,
    /// 404.
    #[error("not found")]
    NotFound,
    /// 409: the request conflicts with what exists.
    #[error("{message}")]
    Conflict {
        /// Machine-readable code, as the owning service answered it.
        code: String,
        /// For people.
        message: String,
    },
    /// 413: over the body limit.
    #[error("request body too large")]
    TooLarge,
    /// 415: not `application/json`.
    #[error("expected a JSON body with Content-Type: application/json")]
    NotJson,
    /// 429: too many attempts; try again after this many seconds.
    #[error("too many attempts; try again later")]
    RateLimited {
        /// Seconds until the next attempt may succeed.
        retry_after: u64,
    },
    /// 503: the gateway is at capacity for this kind of work (password hashing); try
    /// again after a second.
    #[error("the gateway is busy; try again shortly")]
    Busy,
    /// 503: as many order status streams are open as the gateway allows; try again
    /// after a few seconds.
    #[error("too many status streams are open; try again shortly")]
    TooManyStreams,
    /// 503: the broker did not take the command in time.
    #[error("the message broker is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 504: the service did not answer in time.
    #[error("the service did not answer in time")]
    Timeout,
    /// 500: a bug or an unexpected failure; logged, not shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A 400 naming every field of the body that breaks the contract's rules.
    pub fn problems(problems: Problems) -> Self {
        Self::Invalid {
            code: "invalid_body",
            message: "the request body has invalid fields".into(),
            details: Some(problems),
        }
    }

    /// A 400 naming every query parameter that is not what the route takes.
    pub fn query_problems(problems: Problems) -> Self {
        Self::Invalid {
            code: "invalid_query",
            message: "the query parameters are invalid".into(),
            details: Some(problems),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(err: RequestError) -> Self {
        match err {
            RequestError::Unavailable(cause) => Self::Unavailable(cause.into()),
            RequestError::Timeout(_) => Self::Timeout,
        }
    }
}

impl From<ReplyError> for ApiError {
    /// A service's refusal, as the contract's status: the codes are the services'.
    fn from(error: ReplyError) -> Self {
        use ReplyCode::*;
        match error.code {
            NotFound => Self::NotFound,
            Forbidden => Self::Forbidden,
            InvalidCredentials => Self::Unauthorized("the email or password is wrong"),
            EmailTaken | SkuTaken | ProductIdTaken | OrderIdTaken => Self::Conflict {
                code: error.code.to_string(),
                message: error.message,
            },
            Rejected | InvalidStatus | InsufficientStock | InvalidAddress | InvalidQuantity
            | UnknownProduct | ProductInactive | MixedCurrency | TooManyLines | NotInCart => {
                Self::Invalid {
                    code: "invalid_request",
                    message: error.message,
                    details: None,
                }
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::Invalid { code, .. } => (StatusCode::BAD_REQUEST, *code),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, code.as_str()),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::NotJson => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "broker_unavailable"),
            Self::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::TooManyStreams => (StatusCode::SERVICE_UNAVAILABLE, "too_many_streams"),
            Self::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        match &self {
            Self::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "broker unavailable")
            }
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error")
            }
            Self::Timeout => tracing::warn!("no reply in time"),
            _ => {}
        }
        let details = match &self {
            Self::Invalid { details, .. } => details.clone(),
            _ => None,
        };
        let error = ErrorDetail {
            code: code.to_string(),
            message: self.to_string(),
            details,
        };
        let mut response = (status, Json(ErrorBody { error })).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RateLimited { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Self::Busy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            Self::Unavailable(_) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(BROKER_RETRY_AFTER_SECS),
                );
            }
            Self::TooManyStreams => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(STREAMS_RETRY_AFTER_SECS),
                );
            }
            _ => {}
        }
        response
    }
}
