//! `schemas/` must be what the Rust types generate today.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

#[test]
fn the_committed_schemas_match_the_rust_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let expected: BTreeMap<String, String> =
        shared_events::schema::schema_files().into_iter().collect();
    let mut committed = BTreeMap::new();
    for entry in fs::read_dir(&dir).expect("schemas/ exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            committed.insert(name, fs::read_to_string(&path).expect("readable"));
        }
    }
    let stale: Vec<&String> = expected
        .keys()
        .chain(committed.keys())
        .filter(|name| expected.get(*name) != committed.get(*name))
        .collect();
    assert!(
        stale.is_empty(),
        "schemas/ is stale ({stale:?}): run `cargo run -p shared-events --bin gen-schemas`"
    );
}
