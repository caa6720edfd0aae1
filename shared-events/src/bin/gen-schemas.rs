//! Regenerates `schemas/` from the Rust message types.
//!
//! `cargo run -p shared-events --bin gen-schemas [DIR]`

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas")));
    shared_events::schema::write_schemas(&dir)?;
    println!("wrote {}", dir.display());
    Ok(())
}
