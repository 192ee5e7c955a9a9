//! End-to-end scenarios and architecture checks for the Samtale workspace.
//! The scenarios (real server, real `samtale` binaries) live in `tests/`;
//! this library holds what they share.

use std::path::PathBuf;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}
