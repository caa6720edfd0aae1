//! The gateway's one error type: one `match` decides the status; internal causes are
//! logged once and never reach the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

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
        details: Option<Value>,
    },
    /// 404.
    #[error("not found")]
    NotFound,
    /// 413: over the body limit.
    #[error("request body too large")]
    TooLarge,
    /// 415: not `application/json`.
    #[error("expected a JSON body with Content-Type: application/json")]
    NotJson,
    /// 503: the broker did not take the command in time.
    #[error("the message broker is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 500: a bug or an unexpected failure; logged, not shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A 400 with field details.
    pub fn invalid(details: Value) -> Self {
        Self::Invalid {
            code: "invalid_body",
            message: "the request body has invalid fields".into(),
            details: Some(details),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::Invalid { code, .. } => (StatusCode::BAD_REQUEST, *code),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::NotJson => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "broker_unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        match &self {
            Self::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "broker unavailable")
            }
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error")
            }
            _ => {}
        }
        let mut error = json!({ "code": code, "message": self.to_string() });
        if let Self::Invalid {
            details: Some(details),
            ..
        } = &self
        {
            error["details"] = details.clone();
        }
        (status, Json(json!({ "error": error }))).into_response()
    }
}
