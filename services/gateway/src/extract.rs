//! A JSON body extractor whose failures are the contract's errors: 415 when the body is
//! not declared JSON, 413 over the limit, 400 (with the parser's reason) otherwise.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use shared_events::rules::Problems;

use crate::error::ApiError;

/// `Json<T>` with the platform's error answers.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(reject(rejection)),
        }
    }
}

fn reject(rejection: JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::NotJson,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
        _ => match rejection {
            JsonRejection::JsonSyntaxError(_) => ApiError::Invalid {
                code: "malformed_json",
                message: "the request body is not valid JSON".into(),
                details: None,
            },
            other => ApiError::Invalid {
                code: "invalid_body",
                message: "the request body does not have the expected fields".into(),
                details: Some(Problems::from([("body", other.body_text())])),
            },
        },
    }
}

/// A resource id from the path; anything that is not a UUID names nothing, so 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(pub uuid::Uuid);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound)?;
        raw.parse().map(Self).map_err(|_| ApiError::NotFound)
    }
}
