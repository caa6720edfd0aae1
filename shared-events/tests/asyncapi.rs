//! `schemas/asyncapi.json` holds together: every topic is a channel, and every `$ref`
//! leads somewhere, inside the document or to a schema file beside it.
//! (`schemas_fresh.rs` checks that it is what the Rust types generate.)

use std::path::Path;

use serde_json::Value;
use shared_events::asyncapi::document;
use shared_events::{Topic, Topics};

/// Every `$ref` in `value`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target.clone());
            }
            map.values().for_each(|v| references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

#[test]
fn every_topic_is_a_channel_at_its_prefixed_name() {
    let document = document();
    for (name, _) in Topics::new("{prefix}").all() {
        let base = name.trim_start_matches("{prefix}");
        assert_eq!(
            document["channels"][base]["address"], name,
            "{base} is not a channel"
        );
    }
    let channels = document["channels"].as_object().unwrap().len();
    assert_eq!(channels, Topic::all().count());
}

#[test]
fn every_reference_leads_to_a_part_of_the_document_or_a_schema_file() {
    let document = document();
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let mut found = Vec::new();
    references(&document, &mut found);
    assert!(!found.is_empty());
    for target in found {
        match target.strip_prefix('#') {
            Some(pointer) => assert!(
                document.pointer(pointer).is_some(),
                "{target} is not in the document"
            ),
            None => assert!(schemas.join(&target).is_file(), "no schemas/{target}"),
        }
    }
}

#[test]
fn an_operation_names_only_messages_of_its_own_channel() {
    let document = document();
    for (id, operation) in document["operations"].as_object().unwrap() {
        let channel = operation["channel"]["$ref"].as_str().unwrap();
        for message in operation["messages"].as_array().unwrap() {
            let target = message["$ref"].as_str().unwrap();
            assert!(
                target.starts_with(&format!("{channel}/messages/")),
                "{id} names {target}"
            );
        }
    }
}
