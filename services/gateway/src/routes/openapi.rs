//! `GET /api/openapi.json`: the API described for tools. `docs/api.md` says the same in
//! prose; a test checks that every route the router serves is described here.

use axum::http::header;
use axum::response::IntoResponse;

/// The OpenAPI 3.1 document.
pub const DOCUMENT: &str = include_str!("../../api/openapi.json");

/// Serves [`DOCUMENT`].
pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
