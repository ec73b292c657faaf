//! What the integration tests share.

use std::path::{Path, PathBuf};

/// The committed mainnet blocks (`fixtures/mainnet/*.json.gz`), in name order.
pub(crate) fn mainnet_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mainnet");
    let block = |p: &PathBuf| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".json.gz"));
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(block).collect();
    files.sort();
    files
}
