//! Writes `schemas/`: one JSON Schema per message type, one per query's answer
//! (`<type>.answer.json`), the envelope, a command's outcome, an index, and the
//! AsyncAPI document that ties them to topics (`asyncapi.json`).

use std::fs;
use std::io;
use std::path::Path;

use serde_json::json;

use crate::envelope::Envelope;
use crate::messages::reply::CommandOutcome;
use crate::messages::{all_answer_schemas, all_message_schemas, all_message_types};

/// The files `schemas/` should hold, as (file name, contents), sorted by name.
pub fn schema_files() -> Vec<(String, String)> {
    let pretty = |value: &serde_json::Value| {
        let mut text = serde_json::to_string_pretty(&sorted(value)).expect("schemas serialize");
        text.push('\n');
        text
    };
    let mut files: Vec<(String, String)> = all_message_schemas()
        .into_iter()
        .map(|(kind, schema)| (format!("{kind}.json"), pretty(&schema.to_value())))
        .collect();
    let answers = all_answer_schemas();
    files.extend(
        answers
            .iter()
            .map(|(kind, schema)| (format!("{kind}.answer.json"), pretty(schema.as_value()))),
    );
    let envelope = schemars::schema_for!(Envelope<serde_json::Value>);
    files.push(("envelope.json".into(), pretty(&envelope.to_value())));
    let outcome = schemars::schema_for!(CommandOutcome);
    files.push(("command-outcome.json".into(), pretty(&outcome.to_value())));
    let mut index: Vec<_> = all_message_types()
        .into_iter()
        .map(|(kind, version)| {
            let mut entry =
                json!({ "type": kind, "version": version, "file": format!("{kind}.json") });
            if answers.iter().any(|(query, _)| *query == kind) {
                entry["answer"] = json!(format!("{kind}.answer.json"));
            }
            entry
        })
        .collect();
    index.sort_by(|a, b| a["type"].as_str().cmp(&b["type"].as_str()));
    files.push((
        "index.json".into(),
        pretty(&json!({
            "envelope": "envelope.json",
            "commandOutcome": "command-outcome.json",
            "messages": index,
        })),
    ));
    files.push(("asyncapi.json".into(), pretty(&crate::asyncapi::document())));
    files.sort();
    files
}

/// The value with every object's keys in sorted order. serde_json keeps insertion order
/// when some crate in the build enables its `preserve_order` feature, and a workspace
/// build does: sorting makes the files the same whichever way they were generated.
pub fn sorted(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            keys.into_iter()
                .map(|k| (k.clone(), sorted(&map[k])))
                .collect()
        }
        serde_json::Value::Array(items) => items.iter().map(sorted).collect(),
        other => other.clone(),
    }
}

/// Replaces the JSON files of `dir` with freshly generated ones.
pub fn write_schemas(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            fs::remove_file(path)?;
        }
    }
    for (name, contents) in schema_files() {
        fs::write(dir.join(name), contents)?;
    }
    Ok(())
}
