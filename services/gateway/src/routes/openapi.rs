//! `GET /api/openapi.json`: the API described for tools, generated from the route table
//! in [`super::table`] and the schemas of the types the handlers take and answer (the
//! request bodies of the routes, the answers of `shared-events`). `docs/api.md` says the same in
//! prose. `services/gateway/api/openapi.json` is the generated document, committed for
//! readers; a test fails when it is stale, and
//! `UPDATE_OPENAPI=1 cargo test -p gateway --lib openapi` rewrites it.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use super::operation::Problem;
use super::table;

/// The document as served, generated once.
static DOCUMENT: LazyLock<String> = LazyLock::new(render);

/// Serves the document.
pub async fn document() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

/// The OpenAPI 3.1 document.
pub fn generate() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.definitions_path = "/components/schemas".into();
            settings.meta_schema = None;
        })
        .into_generator();
    let mut paths = Map::new();
    for operation in table::all() {
        let item = paths.entry(operation.path).or_insert_with(|| json!({}));
        item[operation.method.name()] = operation.to_json(&mut generator);
    }
    let responses: Map<String, Value> = Problem::ALL
        .iter()
        .map(|problem| (problem.name(), problem.response(&mut generator)))
        .collect();
    let tags: Vec<Value> = table::TAGS
        .iter()
        .map(|(name, description)| json!({ "name": name, "description": description }))
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Commerce gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The platform's only HTTP entry. Writes answer 202 once their \
                command is durably on Kafka, with a Location to follow; reads and login are \
                request-reply over Kafka. docs/api.md is the prose reference.",
        },
        "servers": [{ "url": "http://127.0.0.1:8080" }],
        "tags": tags,
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT (EdDSA)" }
            },
            "responses": responses,
            "schemas": generator.take_definitions(true),
        },
    })
}

/// The document as the committed file holds it: keys sorted, so the text is the same
/// whichever features the build enabled in serde_json.
pub fn render() -> String {
    let mut text = serde_json::to_string_pretty(&shared_events::schema::sorted(&generate()))
        .expect("the document serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_committed_document_is_what_the_code_generates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("api/openapi.json");
        let generated = super::render();
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).expect("api/openapi.json is writable");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "services/gateway/api/openapi.json is stale: run \
             `UPDATE_OPENAPI=1 cargo test -p gateway --lib openapi`"
        );
    }
}
