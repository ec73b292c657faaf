//! What the integration tests share.

use std::path::{Path, PathBuf};

/// The committed mainnet fixtures (`fixtures/mainnet`), in name order.
pub(crate) fn mainnet_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mainnet");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}
